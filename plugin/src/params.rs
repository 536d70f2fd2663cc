//! Plugin parameters and persisted state. Names, units, ranges and defaults come from
//! `genrescope_engine::settings`, the one definition the engine, the MIDI output and the CLI share;
//! only the slider feel (skew, step) and the parameter ids are the plugin's.
use genrescope_engine::settings::{
    Setting, Switch, CC_BASE, CC_OUTPUT, GATE_DB, HOP_S, MIDI_CHANNEL, PROGRAM_CHANGE, PROGRAM_HOLD_S, SMOOTHING_S,
};
use nice_plug::editor::dpi::LogicalSize;
use nice_plug::prelude::*;
use nice_plug_egui::EguiEditorState;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// Default editor size in logical pixels.
pub const EDITOR_SIZE: (f32, f32) = (720.0, 480.0);
/// The smallest size the editor allows (everything must fit at it).
pub const EDITOR_MIN_SIZE: (f32, f32) = (600.0, 420.0);

#[derive(Params)]
pub struct GenrescopeParams {
    /// Window size and open flag. nice-plug-egui 0.6 can't serialise it, so the size is
    /// persisted separately in `editor_size` and restored when the window opens.
    pub editor_state: Arc<EguiEditorState>,
    /// Last logical window size (width, height), `None` until the window was first resized.
    #[persist = "editor-size"]
    pub editor_size: Arc<RwLock<Option<(f32, f32)>>>,
    /// This instance's model folder; `None` = the default lookup (`GENRESCOPE_MODEL_DIR`, the
    /// bundle's `genrescope-model/`). Read at activation.
    #[persist = "model-dir"]
    pub model_dir: Arc<RwLock<Option<String>>>,

    /// Time constant of the probability smoothing.
    #[id = "smooth"]
    pub smoothing: FloatParam,
    /// Seconds between predictions (each looks at the model's ~3 s window).
    #[id = "hop"]
    pub hop: FloatParam,
    /// Below this input level no genre is claimed.
    #[id = "gate"]
    pub gate: FloatParam,

    #[id = "midi"]
    pub midi_out: BoolParam,
    #[id = "midich"]
    pub midi_channel: IntParam,
    #[id = "ccbase"]
    pub cc_base: IntParam,
    /// Send a MIDI program change (genre index) when the top genre changes and stays changed
    /// ("other / unsure" and silence keep the program).
    #[id = "pgm"]
    pub program_change: BoolParam,
    #[id = "pgmhold"]
    pub program_hold: FloatParam,
}

impl GenrescopeParams {
    /// The model folder saved in this instance's state, if any.
    pub fn model_dir(&self) -> Option<PathBuf> {
        let dir = self.model_dir.read().ok()?.clone()?;
        (!dir.is_empty()).then(|| PathBuf::from(dir))
    }
}

impl Default for GenrescopeParams {
    fn default() -> Self {
        Self {
            editor_state: EguiEditorState::from_size(LogicalSize::new(EDITOR_SIZE.0 as f64, EDITOR_SIZE.1 as f64), 1.0),
            editor_size: Arc::new(RwLock::new(None)),
            model_dir: Arc::new(RwLock::new(None)),
            // Skewed: the short times, where a step matters most, get most of the slider.
            smoothing: float_param(SMOOTHING_S, Some(FloatRange::skew_factor(-1.5)), 0.05),
            hop: float_param(HOP_S, Some(FloatRange::skew_factor(-1.5)), 0.05),
            gate: float_param(GATE_DB, None, 0.5),
            midi_out: switch_param(CC_OUTPUT),
            midi_channel: int_param(MIDI_CHANNEL),
            cc_base: int_param(CC_BASE),
            program_change: switch_param(PROGRAM_CHANGE),
            program_hold: float_param(PROGRAM_HOLD_S, None, 0.5),
        }
    }
}

/// A float parameter for `s`: linear, or skewed by `skew`.
fn float_param(s: Setting<f32>, skew: Option<f32>, step: f32) -> FloatParam {
    let range = match skew {
        None => FloatRange::Linear { min: s.min, max: s.max },
        Some(factor) => FloatRange::Skewed { min: s.min, max: s.max, factor },
    };
    FloatParam::new(s.name, s.default, range).with_unit(s.unit).with_step_size(step)
}

fn int_param(s: Setting<i32>) -> IntParam {
    IntParam::new(s.name, s.default, IntRange::Linear { min: s.min, max: s.max }).with_unit(s.unit)
}

fn switch_param(s: Switch) -> BoolParam {
    BoolParam::new(s.name, s.default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_the_engine_settings() {
        let p = GenrescopeParams::default();
        for (param, s) in
            [(&p.smoothing, SMOOTHING_S), (&p.hop, HOP_S), (&p.gate, GATE_DB), (&p.program_hold, PROGRAM_HOLD_S)]
        {
            assert_eq!((param.name(), param.unit()), (s.name, s.unit));
            assert_eq!(param.default_plain_value(), s.default, "{}", s.name);
            assert_eq!((param.preview_plain(0.0), param.preview_plain(1.0)), (s.min, s.max), "{}", s.name);
        }
        for (param, s) in [(&p.midi_channel, MIDI_CHANNEL), (&p.cc_base, CC_BASE)] {
            assert_eq!(param.name(), s.name);
            assert_eq!(param.default_plain_value(), s.default, "{}", s.name);
            assert_eq!((param.preview_plain(0.0), param.preview_plain(1.0)), (s.min, s.max), "{}", s.name);
        }
        for (param, s) in [(&p.midi_out, CC_OUTPUT), (&p.program_change, PROGRAM_CHANGE)] {
            assert_eq!((param.name(), param.default_plain_value()), (s.name, s.default));
        }
        // Host-visible behaviour kept from before the settings moved: skewed times, host steps.
        assert_eq!(p.smoothing.to_string(), "2.00 s");
        assert_eq!(p.gate.to_string(), "-50.0 dBFS");
        assert!(p.hop.preview_normalized(2.0) > 0.5, "skewed: more of the slider for short intervals");
    }
}
