//! The coarse per-window timeline stored with each track, compact enough for big libraries:
//! a version byte (1), then 25 bytes per window: end time in seconds (f32 LE), the engine's top
//! genre index (u8, 255 = no genre claimed: gated, or "other / unsure") and the 10 raw window
//! probabilities as u16 LE (p × 65535). A window's out-of-set probability is 1 − their sum (0 for
//! a model without the class); a gated window's are all 0.
use genrescope_core::labels::{Probs, NUM_GENRES};
use genrescope_engine::Prediction;

const VERSION: u8 = 1;
const RECORD: usize = 4 + 1 + 2 * NUM_GENRES;
const GATED: u8 = 255;

#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub time_s: f32,
    /// The genre claimed (the top of the smoothed probabilities); `None` while gated or "other".
    pub top: Option<usize>,
    /// Raw (unsmoothed) ensemble probabilities, to within 1/65535.
    pub raw: Probs,
}

pub fn encode(predictions: &[Prediction]) -> Vec<u8> {
    let mut b = Vec::with_capacity(1 + RECORD * predictions.len());
    b.push(VERSION);
    for p in predictions {
        b.extend_from_slice(&(p.time_s as f32).to_le_bytes());
        b.push(p.top.map_or(GATED, |t| t as u8));
        for &v in &p.raw {
            b.extend_from_slice(&quantize(v).to_le_bytes());
        }
    }
    b
}

/// The blob of points as [`decode`] gives them (a row read back from JSON): the same bytes as
/// [`encode`] of the predictions they came from.
pub fn encode_points(points: &[Point]) -> Vec<u8> {
    let mut b = Vec::with_capacity(1 + RECORD * points.len());
    b.push(VERSION);
    for p in points {
        b.extend_from_slice(&p.time_s.to_le_bytes());
        b.push(p.top.map_or(GATED, |t| t as u8));
        for &v in &p.raw {
            b.extend_from_slice(&quantize(v).to_le_bytes());
        }
    }
    b
}

/// `None` for a blob this version does not know.
pub fn decode(b: &[u8]) -> Option<Vec<Point>> {
    let (&version, body) = b.split_first()?;
    if version != VERSION || body.len() % RECORD != 0 {
        return None;
    }
    let points = body
        .chunks_exact(RECORD)
        .map(|r| {
            let mut raw = [0.0; NUM_GENRES];
            for (g, v) in raw.iter_mut().enumerate() {
                *v = u16::from_le_bytes([r[5 + 2 * g], r[6 + 2 * g]]) as f32 / u16::MAX as f32;
            }
            let top = (r[4] != GATED).then_some(r[4] as usize);
            Point { time_s: f32::from_le_bytes([r[0], r[1], r[2], r[3]]), top, raw }
        })
        .collect();
    Some(points)
}

pub(crate) fn quantize(p: f32) -> u16 {
    (p.clamp(0.0, 1.0) * u16::MAX as f32).round() as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_to_within_a_quantum() {
        let mut raw = [0.0; NUM_GENRES];
        raw[3] = 0.7;
        raw[9] = 0.3;
        let p = |time_s, top: Option<usize>| Prediction {
            time_s,
            frame: 0,
            block_start: 0,
            raw,
            other: 0.0,
            gated: top.is_none(),
            smoothed: raw,
            smoothed_other: 0.0,
            out_of_set: false,
            top,
            level_db: -20.0,
            embedding: None,
            tags: None,
        };
        let b = encode(&[p(2.992, Some(3)), p(5.984, None)]);
        assert_eq!(b.len(), 1 + 2 * RECORD);
        let back = decode(&b).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!((back[0].time_s, back[0].top, back[1].top), (2.992, Some(3), None));
        for (a, b) in back[0].raw.iter().zip(&raw) {
            assert!((a - b).abs() <= 0.5 / 65535.0 + 1e-7);
        }
        assert_eq!(decode(&[2]), None);
        assert_eq!(decode(&b[..b.len() - 1]), None);
        assert_eq!(decode(&[VERSION]), Some(vec![]));
        assert_eq!(encode_points(&back), b, "decoded points encode to the same bytes");
    }
}
