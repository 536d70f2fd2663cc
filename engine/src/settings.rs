//! Every user-facing analysis setting, defined once: the plugin's parameters, the shared state's
//! initial values, the analysis thread's clamps and the CLI's checks all read these.

/// A setting's allowed range and default.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Setting {
    pub min: f32,
    pub max: f32,
    pub default: f32,
}

impl Setting {
    /// Clamped into range; NaN/inf become the default.
    pub fn clamp(&self, v: f32) -> f32 {
        if v.is_finite() {
            v.clamp(self.min, self.max)
        } else {
            self.default
        }
    }

    pub fn contains(&self, v: f32) -> bool {
        v.is_finite() && (self.min..=self.max).contains(&v)
    }
}

/// Seconds between predictions (each looks at the model's whole window, ~3 s).
pub const HOP_S: Setting = Setting { min: 0.1, max: 10.0, default: 0.5 };
/// Time constant of the probability smoothing, seconds (0 = none).
pub const SMOOTHING_S: Setting = Setting { min: 0.0, max: 20.0, default: 2.0 };
/// Below this mean input level (dBFS) over a window, no genre is claimed.
pub const GATE_DB: Setting = Setting { min: -90.0, max: -10.0, default: -50.0 };
/// MIDI channel, 1-based as hosts show it.
pub const MIDI_CHANNEL: (i32, i32, i32) = (1, 16, 1);
/// First CC number; `base .. base + 10` carry the genres, `base + 10` the top genre.
pub const CC_BASE: (i32, i32, i32) = (0, 127 - NUM_CCS as i32, 20);
/// CCs used: one per genre plus the top-genre index.
pub const NUM_CCS: usize = genrescope_core::labels::NUM_GENRES + 1;
/// Seconds the top genre must stay changed before a MIDI program change is sent.
pub const PROGRAM_HOLD_S: Setting = Setting { min: 0.0, max: 30.0, default: 4.0 };

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_lie_in_their_ranges() {
        for s in [HOP_S, SMOOTHING_S, GATE_DB, PROGRAM_HOLD_S] {
            assert!(s.contains(s.default), "{s:?}");
            assert_eq!(s.clamp(f32::NAN), s.default);
            assert_eq!(s.clamp(s.max + 1.0), s.max);
        }
        for (min, max, default) in [MIDI_CHANNEL, CC_BASE] {
            assert!(min <= default && default <= max);
        }
        assert_eq!(CC_BASE.1 + NUM_CCS as i32, 127);
    }
}
