//! MIDI output: the automation route out of the plugin.
//!
//! CCs (documented in the README): on the configured channel, CC `base + i` carries genre `i`'s
//! smoothed probability scaled to 0–127 (GENRES order), and CC `base + 10` carries the top
//! genre's index (0–9), [`OTHER`] (10) while "other / unsure" is claimed, or 127 when nothing is
//! claimed (silence, no model). For a model with the out-of-set class, CC `base + 11` carries the
//! smoothed out-of-set probability (0–127); for a model without it, that CC is never sent. Values
//! are sent when they change. Nothing is sent until a genre or "other" has been detected; when the
//! input falls silent the CCs drop to 0 / 127 once and then stay quiet.
//!
//! Program change (optional): program = the top genre's index, sent when the top genre changed
//! and has stayed the same for the hold time, so plugins and hosts that switch presets on
//! program change follow the music without flickering. Silence and "other" change nothing (the
//! program held stays).
use genrescope_core::labels::NUM_GENRES;
use genrescope_engine::settings::{self, NUM_CCS};
use genrescope_engine::{Claim, SharedState};
use nice_plug::prelude::NoteEvent;

use crate::params::GenrescopeParams;

/// Top-genre CC value meaning "no genre" (silence, no model).
pub const NO_GENRE: u8 = 127;
/// Top-genre CC value meaning "other / unsure": the out-of-set class, whose index follows the ten
/// genres'.
pub const OTHER: u8 = NUM_GENRES as u8;
/// Offset from the CC base of the top-genre CC, and of the out-of-set probability's CC.
const TOP_CC: usize = NUM_GENRES;
const OTHER_CC: usize = NUM_GENRES + 1;

/// The MIDI settings of one `process` call, as the user set them. The accessors clamp them, each
/// through its setting's one clamp; nothing else here needs to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MidiConfig {
    /// 1-based, as hosts show it.
    pub channel: i32,
    pub cc_base: i32,
    pub cc: bool,
    pub program_change: bool,
    pub hold_s: f32,
}

impl Default for MidiConfig {
    fn default() -> Self {
        Self {
            channel: settings::MIDI_CHANNEL.default,
            cc_base: settings::CC_BASE.default,
            cc: settings::CC_OUTPUT.default,
            program_change: settings::PROGRAM_CHANGE.default,
            hold_s: settings::PROGRAM_HOLD_S.default,
        }
    }
}

impl MidiConfig {
    pub fn from_params(p: &GenrescopeParams) -> Self {
        Self {
            channel: p.midi_channel.value(),
            cc_base: p.cc_base.value(),
            cc: p.midi_out.value(),
            program_change: p.program_change.value(),
            hold_s: p.program_hold.value(),
        }
    }

    /// The channel as MIDI numbers it, 0..16.
    pub fn channel_index(&self) -> u8 {
        (settings::MIDI_CHANNEL.clamp(self.channel) - 1) as u8
    }

    /// The CC of genre 0; the genres, the top genre and the out-of-set probability follow it up
    /// to `cc_base + 11`.
    pub fn cc_base(&self) -> u8 {
        settings::CC_BASE.clamp(self.cc_base) as u8
    }

    fn hold_samples(&self, sample_rate: f32) -> u64 {
        (settings::PROGRAM_HOLD_S.clamp(self.hold_s) * sample_rate.max(1.0)) as u64
    }
}

/// CC state: what was sent last on which mapping.
#[derive(Default)]
struct CcOut {
    last: [Option<u8>; NUM_CCS],
    mapping: Option<(u8, u8)>,
    active: bool,
}

/// Program-change state: the program sent last, and the top genre waiting out the hold time.
#[derive(Default)]
struct ProgramOut {
    sent: Option<u8>,
    candidate: Option<u8>,
    held_samples: u64,
}

#[derive(Default)]
pub struct MidiOut {
    cc: CcOut,
    program: ProgramOut,
}

/// CC values for the current shared state (`[base + 11]`, the out-of-set probability, is 0 for
/// a model without the class and is not sent for one).
pub fn cc_values(shared: &SharedState) -> [u8; NUM_CCS] {
    let mut v = [0u8; NUM_CCS];
    let scaled = |p: f32| (p.clamp(0.0, 1.0) * 127.0).round() as u8;
    let top = match shared.claim() {
        Claim::Genre(top) => top.min(NUM_GENRES - 1) as u8,
        Claim::Other => OTHER,
        Claim::Nothing => {
            v[TOP_CC] = NO_GENRE;
            return v;
        }
    };
    for (out, p) in v.iter_mut().zip(shared.probs()) {
        *out = scaled(p);
    }
    v[TOP_CC] = top;
    v[OTHER_CC] = scaled(shared.other());
    v
}

impl MidiOut {
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Sends what changed for a block of `block_len` samples at `sample_rate` (events at the
    /// block's start). Real-time safe.
    pub fn emit(
        &mut self,
        shared: &SharedState,
        cfg: &MidiConfig,
        sample_rate: f32,
        block_len: usize,
        mut send: impl FnMut(NoteEvent<()>),
    ) {
        let channel = cfg.channel_index();
        if cfg.cc {
            self.cc.emit(shared, channel, cfg.cc_base(), |cc, value| {
                send(NoteEvent::MidiCC { timing: 0, channel, cc, value: value as f32 / 127.0 })
            });
        }
        if cfg.program_change {
            let hold = cfg.hold_samples(sample_rate);
            if let Some(program) = self.program.step(shared.top(), block_len as u64, hold) {
                send(NoteEvent::MidiProgramChange { timing: 0, channel, program });
            }
        } else {
            self.program = ProgramOut::default();
        }
    }
}

impl CcOut {
    /// `cc_base` is in range (from [`MidiConfig::cc_base`]).
    fn emit(&mut self, shared: &SharedState, channel: u8, cc_base: u8, mut send: impl FnMut(u8, u8)) {
        if self.mapping != Some((channel, cc_base)) {
            // New channel or CCs: resend everything on the new mapping.
            self.mapping = Some((channel, cc_base));
            self.last = [None; NUM_CCS];
        }
        let values = cc_values(shared);
        if values[TOP_CC] != NO_GENRE {
            self.active = true;
        }
        if !self.active {
            return;
        }
        // The out-of-set CC only for a model with the class.
        let used = if shared.has_other() { NUM_CCS } else { OTHER_CC };
        for (i, (&v, last)) in values.iter().zip(self.last.iter_mut()).take(used).enumerate() {
            if *last != Some(v) {
                *last = Some(v);
                send(cc_base + i as u8, v);
            }
        }
    }
}

impl ProgramOut {
    /// The program to send now, if the top genre has differed from the last program sent for
    /// at least `hold` samples (counted after this block).
    fn step(&mut self, top: Option<usize>, block: u64, hold: u64) -> Option<u8> {
        let Some(top) = top.map(|t| t.min(NUM_GENRES - 1) as u8) else {
            // Silence, "other" or no model: keep the current program, forget a pending change.
            self.candidate = None;
            return None;
        };
        if Some(top) == self.sent {
            self.candidate = None;
            return None;
        }
        if self.candidate != Some(top) {
            self.candidate = Some(top);
            self.held_samples = 0;
        }
        self.held_samples += block;
        if self.held_samples >= hold {
            self.sent = Some(top);
            self.candidate = None;
            return Some(top);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use genrescope_engine::HistoryPoint;

    /// Hold times below are in samples at this rate.
    const RATE: f32 = 1000.0;

    fn cfg(cc: bool, program_change: bool) -> MidiConfig {
        MidiConfig { channel: 1, cc_base: 20, cc, program_change, hold_s: 1.0 }
    }

    fn collect(out: &mut MidiOut, shared: &SharedState, c: &MidiConfig, block: usize) -> Vec<NoteEvent<()>> {
        let mut v = Vec::new();
        out.emit(shared, c, RATE, block, |e| v.push(e));
        v
    }

    fn ccs(events: &[NoteEvent<()>]) -> Vec<(u8, u8, u8)> {
        events
            .iter()
            .filter_map(|e| match e {
                NoteEvent::MidiCC { channel, cc, value, .. } => Some((*channel, *cc, (value * 127.0).round() as u8)),
                _ => None,
            })
            .collect()
    }

    fn programs(events: &[NoteEvent<()>]) -> Vec<u8> {
        events
            .iter()
            .filter_map(|e| match e {
                NoteEvent::MidiProgramChange { program, .. } => Some(*program),
                _ => None,
            })
            .collect()
    }

    fn publish(shared: &SharedState, top: Option<usize>) {
        let mut probs = [0.0; NUM_GENRES];
        if let Some(t) = top {
            probs[t] = 0.9;
            probs[9] += 0.1;
        }
        let claim = top.map_or(Claim::Nothing, Claim::Genre);
        shared.publish(HistoryPoint { time_s: 0.0, probs, other: 0.0, claim }, -10.0);
    }

    /// "Other / unsure" with out-of-set probability `other`; genre 4 has most of the rest.
    fn publish_other(shared: &SharedState, other: f32) {
        let mut probs = [0.0; NUM_GENRES];
        probs[4] = 1.0 - other;
        shared.publish(HistoryPoint { time_s: 0.0, probs, other, claim: Claim::Other }, -10.0);
    }

    /// What a model with the out-of-set class (threshold 0.5) publishes.
    fn with_other_class() -> SharedState {
        let shared = SharedState::default();
        shared.other_threshold.store(0.5, std::sync::atomic::Ordering::Relaxed);
        shared
    }

    /// CCs a model without the class sends: the genres and the top genre.
    const PLAIN_CCS: usize = NUM_GENRES + 1;

    #[test]
    fn ccs_are_silent_until_detection_then_changes_only() {
        let shared = SharedState::default();
        let mut out = MidiOut::default();
        let c = cfg(true, false);
        assert!(collect(&mut out, &shared, &c, 64).is_empty());
        publish(&shared, Some(6));
        let first = ccs(&collect(&mut out, &shared, &c, 64));
        assert_eq!(first.len(), PLAIN_CCS, "no out-of-set CC without the class");
        assert!(first.contains(&(0, 26, 114)) && first.contains(&(0, 29, 13)) && first.contains(&(0, 30, 6)));
        assert!(collect(&mut out, &shared, &c, 64).is_empty(), "unchanged values are not resent");
        // Silence: genre CCs drop to 0 and the top CC says "none", once.
        publish(&shared, None);
        let silent = ccs(&collect(&mut out, &shared, &c, 64));
        assert!(silent.contains(&(0, 30, NO_GENRE)) && silent.contains(&(0, 26, 0)));
        assert!(collect(&mut out, &shared, &c, 64).is_empty());
        // A new mapping resends everything.
        let moved = MidiConfig { channel: 4, cc_base: 40, ..c };
        let moved = ccs(&collect(&mut out, &shared, &moved, 64));
        assert_eq!(moved.len(), PLAIN_CCS);
        assert!(moved.iter().all(|&(ch, cc, _)| ch == 3 && (40..51).contains(&cc)));
        // CC output off: nothing.
        assert!(collect(&mut out, &shared, &cfg(false, false), 64).is_empty());
    }

    #[test]
    fn other_sends_its_value_and_probability_and_keeps_the_program() {
        let shared = with_other_class();
        let mut out = MidiOut::default();
        let c = MidiConfig { hold_s: 0.5, ..cfg(true, true) }; // 500 samples
                                                               // Nothing yet; then "other" alone is a detection: every CC goes out, the top CC says 10,
                                                               // CC base+11 the out-of-set probability; no program (there is no genre to switch to).
        assert!(collect(&mut out, &shared, &c, 64).is_empty());
        publish_other(&shared, 0.75);
        let ev = collect(&mut out, &shared, &c, 1000);
        let sent = ccs(&ev);
        assert_eq!(sent.len(), NUM_CCS);
        assert!(
            sent.contains(&(0, 30, OTHER)) && sent.contains(&(0, 31, 95)) && sent.contains(&(0, 24, 32)),
            "{sent:?}"
        );
        assert!(programs(&ev).is_empty(), "no program for other");
        // A genre: program after the hold; then "other" for long: the program stays, the top CC
        // says other; back to the same genre: nothing to resend.
        publish(&shared, Some(6));
        let ev = collect(&mut out, &shared, &c, 500);
        assert_eq!(programs(&ev), vec![6]);
        assert!(ccs(&ev).contains(&(0, 30, 6)) && ccs(&ev).contains(&(0, 31, 0)));
        publish_other(&shared, 0.6);
        let ev = collect(&mut out, &shared, &c, 10_000);
        assert!(programs(&ev).is_empty() && ccs(&ev).contains(&(0, 30, OTHER)), "{ev:?}");
        publish(&shared, Some(6));
        assert!(programs(&collect(&mut out, &shared, &c, 10_000)).is_empty(), "program 6 was kept");
        // A genre pending its hold, interrupted by "other", starts its hold again afterwards.
        publish(&shared, Some(2));
        assert!(programs(&collect(&mut out, &shared, &c, 400)).is_empty());
        publish_other(&shared, 0.9);
        assert!(programs(&collect(&mut out, &shared, &c, 400)).is_empty());
        publish(&shared, Some(2));
        assert!(programs(&collect(&mut out, &shared, &c, 400)).is_empty(), "the hold restarted");
        assert_eq!(programs(&collect(&mut out, &shared, &c, 100)), vec![2]);
        // Silence: top 127 and the out-of-set CC 0, distinct from other's 10.
        publish_other(&shared, 0.9);
        collect(&mut out, &shared, &c, 64);
        publish(&shared, None);
        let silent = ccs(&collect(&mut out, &shared, &c, 64));
        assert!(silent.contains(&(0, 30, NO_GENRE)) && silent.contains(&(0, 31, 0)), "{silent:?}");
        // At the highest CC base the out-of-set CC is 127, still valid MIDI.
        let high = MidiConfig { cc_base: 116, ..c };
        publish_other(&shared, 0.9);
        let sent = ccs(&collect(&mut MidiOut::default(), &shared, &high, 64));
        assert!(sent.contains(&(0, 126, OTHER)) && sent.contains(&(0, 127, 114)), "{sent:?}");
    }

    #[test]
    fn out_of_range_settings_are_clamped_into_valid_midi() {
        let shared = SharedState::default();
        publish(&shared, Some(3));
        for (channel, cc_base, want_channel, want_base) in [(0, -5, 0, 0), (99, 127, 15, 116), (16, 116, 15, 116)] {
            let c = MidiConfig { channel, cc_base, ..cfg(true, false) };
            let sent = ccs(&collect(&mut MidiOut::default(), &shared, &c, 64));
            assert_eq!(sent.len(), PLAIN_CCS);
            let ccs_wanted = want_base..want_base + NUM_CCS as u8;
            assert!(sent.iter().all(|&(ch, cc, _)| ch == want_channel && ccs_wanted.contains(&cc)), "{sent:?}");
        }
        // A negative hold is no hold; a NaN one is the default (4 s).
        let now = MidiConfig { hold_s: -3.0, ..cfg(false, true) };
        assert_eq!(programs(&collect(&mut MidiOut::default(), &shared, &now, 1)), vec![3]);
        let nan = MidiConfig { hold_s: f32::NAN, ..cfg(false, true) };
        let mut out = MidiOut::default();
        assert!(programs(&collect(&mut out, &shared, &nan, 3999)).is_empty());
        assert_eq!(programs(&collect(&mut out, &shared, &nan, 1)), vec![3]);
    }

    #[test]
    fn program_change_waits_out_the_hold_time() {
        let shared = SharedState::default();
        let mut out = MidiOut::default();
        let c = cfg(false, true); // hold 1 s = 1000 samples
        publish(&shared, Some(5));
        let mut sent = vec![];
        for _ in 0..9 {
            sent.extend(programs(&collect(&mut out, &shared, &c, 100)));
        }
        assert!(sent.is_empty(), "only 900 samples so far");
        sent.extend(programs(&collect(&mut out, &shared, &c, 100)));
        assert_eq!(sent, vec![5]);
        // A short flicker to another genre changes nothing.
        publish(&shared, Some(2));
        assert!(programs(&collect(&mut out, &shared, &c, 500)).is_empty());
        publish(&shared, Some(5));
        assert!(programs(&collect(&mut out, &shared, &c, 2000)).is_empty(), "already on 5");
        // Silence keeps the program; a lasting change switches it.
        publish(&shared, None);
        assert!(programs(&collect(&mut out, &shared, &c, 5000)).is_empty());
        publish(&shared, Some(2));
        assert!(programs(&collect(&mut out, &shared, &c, 999)).is_empty());
        assert_eq!(programs(&collect(&mut out, &shared, &c, 1)), vec![2]);
        // Switched off: nothing, and the state is forgotten.
        publish(&shared, Some(7));
        assert!(programs(&collect(&mut out, &shared, &cfg(false, false), 5000)).is_empty());
    }
}
