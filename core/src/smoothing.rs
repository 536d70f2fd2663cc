//! Smoothing of ensemble probabilities over time, and the level gate.
use crate::labels::NUM_GENRES;

/// One-pole exponential smoothing of a probability vector with a time constant in seconds.
/// Each update is one prediction `dt` seconds after the previous one. `N` classes: the genres, or
/// the genres and the out-of-set class (every class is smoothed on its own, the same way).
#[derive(Clone, Debug)]
pub struct ProbabilitySmoother<const N: usize = NUM_GENRES> {
    state: [f32; N],
    primed: bool,
}

impl<const N: usize> Default for ProbabilitySmoother<N> {
    fn default() -> Self {
        Self { state: [0.0; N], primed: false }
    }
}

impl<const N: usize> ProbabilitySmoother<N> {
    /// Blends `probs` in; `tau <= 0` means no smoothing. The first update after a reset is
    /// taken as is, so the meters do not crawl up from zero.
    pub fn update(&mut self, probs: &[f32; N], dt: f32, tau: f32) -> [f32; N] {
        let alpha = if !self.primed || tau <= 0.0 { 1.0 } else { 1.0 - (-dt / tau).exp() };
        for (s, p) in self.state.iter_mut().zip(probs) {
            *s += alpha * (p - *s);
        }
        self.primed = true;
        self.state
    }

    /// Decays towards zero (used while the gate is closed).
    pub fn decay(&mut self, dt: f32, tau: f32) -> [f32; N] {
        let k = if tau <= 0.0 { 0.0 } else { (-dt / tau).exp() };
        self.state.iter_mut().for_each(|s| *s *= k);
        self.primed = false;
        self.state
    }

    pub fn reset(&mut self) {
        *self = Self::default();
    }

    pub fn state(&self) -> &[f32; N] {
        &self.state
    }
}

/// Linear amplitude to dBFS with a floor, for level gating.
pub fn to_dbfs(rms: f32) -> f32 {
    20.0 * rms.max(1e-10).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_update_is_immediate_then_exponential() {
        let mut s = ProbabilitySmoother::default();
        let mut a = [0.0; NUM_GENRES];
        a[2] = 1.0;
        assert_eq!(s.update(&a, 0.5, 2.0)[2], 1.0);
        let b = [0.0; NUM_GENRES];
        let after = s.update(&b, 0.5, 2.0)[2];
        assert!((after - (-0.25f32).exp()).abs() < 1e-6, "{after}");
        // tau = 0: no smoothing at all.
        assert_eq!(s.update(&a, 0.5, 0.0)[2], 1.0);
    }

    #[test]
    fn decay_goes_to_zero_and_reprimes() {
        let mut s = ProbabilitySmoother::default();
        let mut a = [0.0; NUM_GENRES];
        a[0] = 0.8;
        s.update(&a, 0.5, 1.0);
        for _ in 0..100 {
            s.decay(0.5, 1.0);
        }
        assert!(s.state()[0] < 1e-6);
        assert_eq!(s.update(&a, 0.5, 1.0)[0], 0.8);
    }

    #[test]
    fn dbfs() {
        assert!((to_dbfs(1.0)).abs() < 1e-6 && (to_dbfs(0.1) + 20.0).abs() < 1e-4);
        assert_eq!(to_dbfs(0.0), -200.0);
    }
}
