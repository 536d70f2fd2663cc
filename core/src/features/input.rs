//! What every path into the front end does to the samples first (plugin audio thread, offline
//! driver, decoded files, trainer): channels to mono, then sanitizing.

/// Largest magnitude passed on; anything beyond (+24 dBFS) is treated as a fault.
pub const SAMPLE_CLAMP: f32 = 16.0;
/// Magnitudes below this (-300 dBFS) become 0 so no denormal reaches the resampler.
pub const SAMPLE_FLUSH: f32 = 1e-15;

/// Input sanitizing applied on every path (offline, streaming, pipeline), so they agree:
/// NaN and ±Inf -> 0 (a broken sample carries no information; 0 is what silence gives),
/// finite values clamped to ±[`SAMPLE_CLAMP`], |x| < [`SAMPLE_FLUSH`] (incl. denormals) -> 0.
#[inline]
pub fn sanitize_sample(x: f32) -> f32 {
    if !x.is_finite() || x.abs() < SAMPLE_FLUSH {
        0.0
    } else {
        x.clamp(-SAMPLE_CLAMP, SAMPLE_CLAMP)
    }
}

/// The one downmix: `out[i]` = mean over the channels of sample `start + i` (a channel shorter
/// than that contributes 0). No allocation: the audio thread calls it on every block.
pub fn downmix<C: AsRef<[f32]>>(channels: &[C], start: usize, out: &mut [f32]) {
    let gain = 1.0 / channels.len().max(1) as f32;
    out.fill(0.0);
    for ch in channels {
        let ch = ch.as_ref();
        let end = (start + out.len()).min(ch.len());
        for (m, &x) in out.iter_mut().zip(&ch[start.min(end)..end]) {
            *m += x * gain;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_of_channels_from_an_offset() {
        let l = [1.0f32, 2.0, 3.0, 4.0];
        let r = [-1.0f32, 0.0, 1.0];
        let mut out = [9.0f32; 3];
        downmix(&[&l[..], &r[..]], 1, &mut out);
        // Sample 3 exists only in the left channel: the right one adds nothing.
        assert_eq!(out, [1.0, 2.0, 2.0]);
        let mut past_end = [9.0f32; 2];
        downmix(&[&l[..]], 10, &mut past_end);
        assert_eq!(past_end, [0.0, 0.0]);
        let none: [&[f32]; 0] = [];
        downmix(&none, 0, &mut out);
        assert_eq!(out, [0.0; 3]);
    }
}
