//! MIDI CC output: the automation route out of the plugin.
//!
//! Mapping (documented in the README): on the configured channel, CC `base + i` carries genre
//! `i`'s smoothed probability scaled to 0–127 (GENRES order), and CC `base + 10` carries the top
//! genre's index (0–9), or 127 when no genre is claimed (silence, no model).
//! Values are sent when they change. Nothing is sent until a genre has been detected; when the
//! input falls silent the CCs drop to 0 / 127 once and then stay quiet.
use genrescope_core::labels::NUM_GENRES;

use crate::shared::SharedState;

/// CCs used: one per genre plus the top-genre index.
pub const NUM_CCS: usize = NUM_GENRES + 1;
/// Top-genre CC value meaning "no genre".
pub const NO_GENRE: u8 = 127;

#[derive(Default)]
pub struct MidiCcOut {
    last: [Option<u8>; NUM_CCS],
    mapping: Option<(u8, u8)>,
    active: bool,
}

impl MidiCcOut {
    /// CC values for the current shared state.
    pub fn values(shared: &SharedState) -> [u8; NUM_CCS] {
        let mut v = [0u8; NUM_CCS];
        match shared.top() {
            Some(top) => {
                let probs = shared.probs();
                for (out, p) in v.iter_mut().zip(probs) {
                    *out = (p.clamp(0.0, 1.0) * 127.0).round() as u8;
                }
                v[NUM_GENRES] = top.min(NUM_GENRES - 1) as u8;
            }
            None => v[NUM_GENRES] = NO_GENRE,
        }
        v
    }

    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Calls `send(channel 0..16, cc, value 0..=127)` for each CC that changed. Real-time safe.
    pub fn emit(&mut self, shared: &SharedState, channel: u8, cc_base: u8, mut send: impl FnMut(u8, u8, u8)) {
        let channel = channel.min(15);
        let cc_base = cc_base.min(127 - NUM_CCS as u8);
        if self.mapping != Some((channel, cc_base)) {
            // New channel or CCs: resend everything on the new mapping.
            self.mapping = Some((channel, cc_base));
            self.last = [None; NUM_CCS];
        }
        let values = Self::values(shared);
        if values[NUM_GENRES] != NO_GENRE {
            self.active = true;
        }
        if !self.active {
            return;
        }
        for (i, (&v, last)) in values.iter().zip(self.last.iter_mut()).enumerate() {
            if *last != Some(v) {
                *last = Some(v);
                send(channel, cc_base + i as u8, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::HistoryPoint;

    fn collect(out: &mut MidiCcOut, shared: &SharedState, ch: u8, base: u8) -> Vec<(u8, u8, u8)> {
        let mut v = Vec::new();
        out.emit(shared, ch, base, |c, cc, val| v.push((c, cc, val)));
        v
    }

    #[test]
    fn silent_until_detection_then_changes_only() {
        let shared = SharedState::default();
        let mut out = MidiCcOut::default();
        assert!(collect(&mut out, &shared, 0, 20).is_empty());
        let mut probs = [0.0; NUM_GENRES];
        probs[6] = 0.9;
        probs[9] = 0.1;
        shared.publish(HistoryPoint { time_s: 3.0, probs, top: Some(6) }, -10.0);
        let first = collect(&mut out, &shared, 0, 20);
        assert_eq!(first.len(), NUM_CCS);
        assert!(first.contains(&(0, 26, 114)) && first.contains(&(0, 29, 13)) && first.contains(&(0, 30, 6)));
        assert!(collect(&mut out, &shared, 0, 20).is_empty(), "unchanged values are not resent");
        // Silence: genre CCs drop to 0 and the top CC says "none", once.
        shared.publish(HistoryPoint { time_s: 4.0, probs: [0.0; NUM_GENRES], top: None }, -90.0);
        let silent = collect(&mut out, &shared, 0, 20);
        assert!(silent.contains(&(0, 30, NO_GENRE)) && silent.contains(&(0, 26, 0)));
        assert!(collect(&mut out, &shared, 0, 20).is_empty());
        // A new mapping resends everything.
        let moved = collect(&mut out, &shared, 3, 40);
        assert_eq!(moved.len(), NUM_CCS);
        assert!(moved.iter().all(|&(c, cc, _)| c == 3 && (40..51).contains(&cc)));
    }
}
