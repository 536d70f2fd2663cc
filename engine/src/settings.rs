//! Every user-facing setting, defined once: the plugin's parameters, the MIDI output, the shared
//! state's initial values, the analysis thread and the CLI's flags all read these. Each numeric
//! setting has one clamp ([`Setting::clamp`]); nothing else decides what is in range.
use std::fmt;

/// CCs used: one per genre, the top-genre index, and the out-of-set probability (sent only for a
/// model with that class).
pub const NUM_CCS: usize = genrescope_core::labels::NUM_GENRES + 2;

/// A numeric setting: its name as hosts show it, unit, range and default.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Setting<T> {
    pub name: &'static str,
    /// Shown after a value, with its leading space (" s"), as nice-plug's `with_unit` takes it;
    /// empty for plain numbers.
    pub unit: &'static str,
    pub min: T,
    pub max: T,
    pub default: T,
}

/// A value a [`Setting`] can hold.
pub trait SettingValue: Copy + PartialOrd + fmt::Display + fmt::Debug {
    /// False for values no setting accepts (NaN, infinities).
    fn is_usable(self) -> bool;
}

impl SettingValue for f32 {
    fn is_usable(self) -> bool {
        self.is_finite()
    }
}

impl SettingValue for i32 {
    fn is_usable(self) -> bool {
        true
    }
}

impl<T: SettingValue> Setting<T> {
    /// Clamped into range; unusable values (NaN, inf) become the default.
    pub fn clamp(&self, v: T) -> T {
        if !v.is_usable() {
            self.default
        } else if v < self.min {
            self.min
        } else if v > self.max {
            self.max
        } else {
            v
        }
    }

    pub fn contains(&self, v: T) -> bool {
        v.is_usable() && self.min <= v && v <= self.max
    }

    /// `v` if in range, else an error that says the range (where a person typed the value,
    /// refusing it is clearer than clamping it).
    pub fn check(&self, v: T) -> Result<T, OutOfRange<T>> {
        if self.contains(v) {
            Ok(v)
        } else {
            Err(OutOfRange { value: v, setting: *self })
        }
    }
}

/// A value outside its [`Setting`]'s range.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
#[error("{value} is outside {} to {}{}", setting.min, setting.max, setting.unit)]
pub struct OutOfRange<T: SettingValue> {
    pub value: T,
    pub setting: Setting<T>,
}

/// An on/off setting.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Switch {
    pub name: &'static str,
    pub default: bool,
}

/// Seconds between predictions (each looks at the model's whole window, ~3 s).
pub const HOP_S: Setting<f32> = Setting { name: "Update interval", unit: " s", min: 0.1, max: 10.0, default: 0.5 };
/// Time constant of the probability smoothing, seconds (0 = none).
pub const SMOOTHING_S: Setting<f32> = Setting { name: "Smoothing", unit: " s", min: 0.0, max: 20.0, default: 2.0 };
/// Below this mean input level (dBFS) over a window, no genre is claimed.
pub const GATE_DB: Setting<f32> = Setting { name: "Gate", unit: " dBFS", min: -90.0, max: -10.0, default: -50.0 };
/// Whether the genres go out as MIDI CCs. Not named "MIDI CC …": JUCE-based hosts (pedalboard)
/// hide such names as MIDI-CC proxies.
pub const CC_OUTPUT: Switch = Switch { name: "CC output", default: true };
/// MIDI channel, 1-based as hosts show it.
pub const MIDI_CHANNEL: Setting<i32> = Setting { name: "MIDI channel", unit: "", min: 1, max: 16, default: 1 };
/// First CC number; `base .. base + 10` carry the genres, `base + 10` the top genre, `base + 11`
/// the out-of-set probability. The range is the one saved projects know (0–116): at 116 the last
/// CC is 127.
pub const CC_BASE: Setting<i32> =
    Setting { name: "First CC", unit: "", min: 0, max: 128 - NUM_CCS as i32, default: 20 };
/// Whether a MIDI program change (the top genre's index) is sent when the top genre changes
/// (never for "other / unsure" or silence: the program stays).
pub const PROGRAM_CHANGE: Switch = Switch { name: "Program change", default: false };
/// Seconds the top genre must stay changed before a MIDI program change is sent.
pub const PROGRAM_HOLD_S: Setting<f32> =
    Setting { name: "Program hold", unit: " s", min: 0.0, max: 30.0, default: 4.0 };

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_lie_in_their_ranges_and_clamp_holds() {
        for s in [HOP_S, SMOOTHING_S, GATE_DB, PROGRAM_HOLD_S] {
            assert!(s.contains(s.default), "{s:?}");
            assert_eq!(s.clamp(f32::NAN), s.default);
            assert_eq!(s.clamp(f32::INFINITY), s.default);
            assert_eq!(s.clamp(s.max + 1.0), s.max);
            assert_eq!(s.clamp(s.min - 1.0), s.min);
            assert_eq!(s.clamp(s.default), s.default);
            assert!(!s.contains(f32::NAN));
        }
        for s in [MIDI_CHANNEL, CC_BASE] {
            assert!(s.contains(s.default), "{s:?}");
            assert_eq!(s.clamp(i32::MIN), s.min);
            assert_eq!(s.clamp(i32::MAX), s.max);
            assert_eq!(s.clamp(s.default), s.default);
        }
    }

    #[test]
    fn cc_range_ends_at_127() {
        // The out-of-set CC of the highest base is the last MIDI CC.
        assert_eq!(CC_BASE.clamp(200) + NUM_CCS as i32 - 1, 127);
        assert_eq!(CC_BASE.max, 116);
        assert_eq!(CC_BASE.default, 20);
        assert_eq!((MIDI_CHANNEL.min, MIDI_CHANNEL.max), (1, 16));
    }

    #[test]
    fn out_of_range_values_are_refused_with_the_range() {
        assert_eq!(HOP_S.check(0.5), Ok(0.5));
        assert_eq!(HOP_S.check(20.0).unwrap_err().to_string(), "20 is outside 0.1 to 10 s");
        assert_eq!(GATE_DB.check(f32::NAN).unwrap_err().to_string(), "NaN is outside -90 to -10 dBFS");
        assert_eq!(CC_BASE.check(117).unwrap_err().to_string(), "117 is outside 0 to 116");
    }
}
