//! Plugin parameters and persisted editor state.
use nice_plug::prelude::*;
use nice_plug_egui::EguiEditorState;
use nice_plug::editor::dpi::LogicalSize;
use std::sync::{Arc, RwLock};

/// Default editor size in logical pixels.
pub const EDITOR_SIZE: (f32, f32) = (720.0, 480.0);

#[derive(Params)]
pub struct GenrescopeParams {
    /// Window size and open flag. nice-plug-egui 0.6 can't serialise it, so the size is
    /// persisted separately in `editor_size` and restored when the window opens.
    pub editor_state: Arc<EguiEditorState>,
    /// Last logical window size (width, height), `None` until the window was first resized.
    #[persist = "editor-size"]
    pub editor_size: Arc<RwLock<Option<(f32, f32)>>>,

    /// Time constant of the probability smoothing.
    #[id = "smooth"]
    pub smoothing: FloatParam,
    /// Seconds between predictions (each looks at the model's 3 s window).
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
}

impl Default for GenrescopeParams {
    fn default() -> Self {
        Self {
            editor_state: EguiEditorState::from_size(
                LogicalSize::new(EDITOR_SIZE.0 as f64, EDITOR_SIZE.1 as f64),
                1.0,
            ),
            editor_size: Arc::new(RwLock::new(None)),
            smoothing: FloatParam::new(
                "Smoothing",
                2.0,
                FloatRange::Skewed { min: 0.0, max: 20.0, factor: FloatRange::skew_factor(-1.5) },
            )
            .with_unit(" s")
            .with_step_size(0.05),
            hop: FloatParam::new(
                "Update interval",
                0.5,
                FloatRange::Skewed { min: 0.1, max: 3.0, factor: FloatRange::skew_factor(-1.0) },
            )
            .with_unit(" s")
            .with_step_size(0.05),
            gate: FloatParam::new("Gate", -50.0, FloatRange::Linear { min: -90.0, max: -10.0 })
                .with_unit(" dBFS")
                .with_step_size(0.5),
            // Not "MIDI CC …": JUCE-based hosts (pedalboard) hide such names as MIDI-CC proxies.
            midi_out: BoolParam::new("CC output", true),
            midi_channel: IntParam::new("MIDI channel", 1, IntRange::Linear { min: 1, max: 16 }),
            cc_base: IntParam::new("First CC", 20, IntRange::Linear { min: 0, max: 116 }),
        }
    }
}
