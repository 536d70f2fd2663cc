//! Plugin parameters and persisted state. Ranges and defaults come from
//! `genrescope_engine::settings`, the one definition the engine and the CLI share.
use genrescope_engine::settings::{CC_BASE, GATE_DB, HOP_S, MIDI_CHANNEL, PROGRAM_HOLD_S, SMOOTHING_S};
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
    /// Send a MIDI program change (genre index) when the top genre changes and stays changed.
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
            smoothing: FloatParam::new(
                "Smoothing",
                SMOOTHING_S.default,
                FloatRange::Skewed {
                    min: SMOOTHING_S.min,
                    max: SMOOTHING_S.max,
                    factor: FloatRange::skew_factor(-1.5),
                },
            )
            .with_unit(" s")
            .with_step_size(0.05),
            hop: FloatParam::new(
                "Update interval",
                HOP_S.default,
                FloatRange::Skewed { min: HOP_S.min, max: HOP_S.max, factor: FloatRange::skew_factor(-1.5) },
            )
            .with_unit(" s")
            .with_step_size(0.05),
            gate: FloatParam::new("Gate", GATE_DB.default, FloatRange::Linear { min: GATE_DB.min, max: GATE_DB.max })
                .with_unit(" dBFS")
                .with_step_size(0.5),
            // Not "MIDI CC …": JUCE-based hosts (pedalboard) hide such names as MIDI-CC proxies.
            midi_out: BoolParam::new("CC output", true),
            midi_channel: IntParam::new(
                "MIDI channel",
                MIDI_CHANNEL.2,
                IntRange::Linear { min: MIDI_CHANNEL.0, max: MIDI_CHANNEL.1 },
            ),
            cc_base: IntParam::new("First CC", CC_BASE.2, IntRange::Linear { min: CC_BASE.0, max: CC_BASE.1 }),
            program_change: BoolParam::new("Program change", false),
            program_hold: FloatParam::new(
                "Program hold",
                PROGRAM_HOLD_S.default,
                FloatRange::Linear { min: PROGRAM_HOLD_S.min, max: PROGRAM_HOLD_S.max },
            )
            .with_unit(" s")
            .with_step_size(0.5),
        }
    }
}
