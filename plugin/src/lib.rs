//! Genrescope plugin glue: parameters, `activate()`/`process()` and the CLAP/VST3 exports.
//!
//! The engine (`genrescope-engine`) does the work: on activation the model's manifest decides
//! the audio-thread front end ([`AudioFrontEnd`]), which computes feature frames into a queue;
//! the analysis thread ([`AnalysisThread`]) loads the model and publishes results through
//! atomics ([`SharedState`]) that the editor ([`editor`]) and the MIDI output ([`midi`]) read.
// A panic on the analysis or audio thread is a lost feature or a host crash: fail with a
// typed error instead, or say in an `expect` why it cannot happen (workspace lint policy).
#![warn(clippy::unwrap_used, clippy::expect_used)]
use genrescope_core::model::ModelManifest;
use genrescope_engine::frontend::queue_capacity;
use genrescope_engine::{default_model_dir, frame_queue, AnalysisThread, AudioFrontEnd, SharedState};
use nice_plug::prelude::*;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

pub mod editor;
pub mod midi;
pub mod params;
pub mod render;

use midi::MidiOut;
use params::GenrescopeParams;
use render::{Render, RenderWatch, TransportWatch};

pub struct Genrescope {
    params: Arc<GenrescopeParams>,
    shared: Arc<SharedState>,
    frontend: Option<AudioFrontEnd>,
    analysis: Option<AnalysisThread>,
    /// The model the analysis thread was told to load: the folder asked for, and its manifest.
    model: Option<(PathBuf, ModelManifest)>,
    midi: MidiOut,
    /// Offline (non-realtime) rendering: analyse synchronously in `process`, so a bounce is the
    /// same every time.
    render: RenderWatch,
    transport: TransportWatch,
    sample_rate: f32,
}

impl Default for Genrescope {
    fn default() -> Self {
        Self {
            params: Arc::new(GenrescopeParams::default()),
            shared: Arc::new(SharedState::default()),
            frontend: None,
            analysis: None,
            model: None,
            midi: MidiOut::default(),
            render: RenderWatch::new(ProcessMode::Realtime, 48000.0),
            transport: TransportWatch::default(),
            sample_rate: 48000.0,
        }
    }
}

/// What activation found about the model.
enum ModelPlan {
    /// The model already loaded (or loading) on the analysis thread.
    Same(ModelManifest),
    /// A new model folder to load: its manifest and folder.
    New(ModelManifest, PathBuf, PathBuf),
    /// None usable; the error is published.
    Unusable,
}

impl Genrescope {
    fn sync_settings(&self) {
        let s = &self.shared.settings;
        s.smoothing_s.store(self.params.smoothing.value(), Relaxed);
        s.hop_s.store(self.params.hop.value(), Relaxed);
        s.gate_db.store(self.params.gate.value(), Relaxed);
    }

    /// This instance's model folder (the one saved in its state), else the default lookup; reads
    /// its manifest if it changed (fast, no ONNX: the slow part happens on the analysis thread).
    fn plan_model(&self) -> ModelPlan {
        let Some(dir) = self.params.model_dir().or_else(default_model_dir) else {
            self.shared.set_error(
                "no model found: install the bundle with its genrescope-model folder, or set GENRESCOPE_MODEL_DIR"
                    .into(),
            );
            return ModelPlan::Unusable;
        };
        if let Some((loaded, manifest)) = &self.model {
            if *loaded == dir {
                return ModelPlan::Same(manifest.clone());
            }
        }
        match ModelManifest::load(&dir) {
            Ok((manifest, folder)) => ModelPlan::New(manifest, dir, folder),
            Err(e) => {
                self.shared.set_error(format!("model {}: {e}; audio passes through unanalysed", dir.display()));
                ModelPlan::Unusable
            }
        }
    }
}

impl Plugin for Genrescope {
    const NAME: &'static str = "Genrescope";
    const VENDOR: &'static str = "Genrescope";
    const URL: &'static str = "https://example.invalid/genrescope";
    const EMAIL: &'static str = "dev@example.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(1),
            main_output_channels: NonZeroU32::new(1),
            ..AudioIOLayout::const_default()
        },
    ];
    const MIDI_OUTPUT: MidiConfig = MidiConfig::MidiCCs;

    type Editor = nice_plug_egui::EguiEditor<editor::GenrescopeEditor>;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    /// Only builds the editor description; the window (and any display) comes with `spawn`.
    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(self.params.clone(), self.shared.clone())
    }

    fn activate(
        &mut self,
        _layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        _context: &mut impl ActivateContext<Self>,
    ) -> bool {
        self.sync_settings();
        self.render = RenderWatch::new(buffer_config.process_mode, buffer_config.sample_rate);
        self.transport = TransportWatch::default();
        self.sample_rate = buffer_config.sample_rate;
        self.midi.reset();
        self.frontend = None;
        if self.analysis.is_none() {
            match AnalysisThread::spawn(self.shared.clone()) {
                Ok(t) => self.analysis = Some(t),
                Err(e) => {
                    // Without the thread we still pass audio; the editor shows why.
                    self.shared.set_error(format!("cannot start the analysis thread: {e}"));
                    return true;
                }
            }
        }
        let plan = self.plan_model();
        let manifest = match &plan {
            ModelPlan::Same(m) | ModelPlan::New(m, ..) => m,
            ModelPlan::Unusable => {
                self.model = None;
                return true;
            }
        };
        let spec = &manifest.front_end;
        // A fresh queue per activation: frames of the old rate never meet those of the new.
        let (sender, receiver) = frame_queue(spec.mel_dim(), queue_capacity(spec));
        let max_block = buffer_config.max_buffer_size.max(1) as usize;
        let frontend = match AudioFrontEnd::new(spec, buffer_config.sample_rate, max_block, sender) {
            Ok(fe) => fe,
            Err(e) => {
                self.shared.set_error(format!("{e}; audio passes through unanalysed"));
                return true;
            }
        };
        let Some(analysis) = self.analysis.as_ref() else {
            // Not reached: the thread is spawned above; but a host is never crashed for it.
            self.shared.set_error("analysis thread missing; audio passes through unanalysed".into());
            return true;
        };
        match plan {
            ModelPlan::Same(_) => analysis.attach(receiver),
            ModelPlan::New(manifest, dir, folder) => {
                analysis.load(manifest.clone(), folder, receiver);
                self.model = Some((dir, manifest));
            }
            ModelPlan::Unusable => unreachable!(),
        }
        self.frontend = Some(frontend);
        true
    }

    fn reset(&mut self) {
        if let Some(fe) = &mut self.frontend {
            fe.reset();
        }
        self.midi.reset();
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        self.sync_settings();
        let samples = buffer.samples();
        if self.transport.block(context.transport(), samples) {
            // Playback (or an export) starts here: so does the analysis, as for a file.
            self.reset();
        }
        let render = self.render.block(samples);
        if let Some(fe) = &mut self.frontend {
            fe.process(buffer.as_slice_immutable());
            if let Some(a) = &self.analysis {
                // Not real time: allocating is allowed here; only a declared render may wait
                // (see `render`).
                match render {
                    Render::Declared => {
                        nice_plug::util::permit_alloc(|| a.step_blocking());
                    }
                    Render::Detected => {
                        nice_plug::util::permit_alloc(|| a.try_step());
                    }
                    Render::Realtime => a.set_realtime(),
                }
            }
        }
        let cfg = midi::MidiConfig::from_params(&self.params);
        self.midi.emit(&self.shared, &cfg, self.sample_rate, buffer.samples(), |event| {
            // A full host event queue only delays the value to the next change.
            let _ = context.try_send_event(event);
        });
        ProcessStatus::Normal
    }
}

impl ClapPlugin for Genrescope {
    const CLAP_ID: &'static str = "org.genrescope.genrescope";
    const CLAP_DESCRIPTION: Option<&'static str> = Some("Real-time music genre detector");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] =
        &[ClapFeature::AudioEffect, ClapFeature::Analyzer, ClapFeature::Stereo, ClapFeature::Mono];
}

impl Vst3Plugin for Genrescope {
    /// Hosts identify the plugin (and find it in saved sessions) by this ID: it may never change.
    const VST3_CLASS_ID: [u8; 16] = *b"GenrescopeGTZAN1";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] = &[Vst3SubCategory::Fx, Vst3SubCategory::Analyzer];
}

nice_export_clap!(Genrescope);
nice_export_vst3!(Genrescope);

#[cfg(test)]
mod tests {
    use super::*;
    use genrescope_core::features::FrontEndSpec;
    use genrescope_engine::Status;
    use genrescope_testkit::hostile::hostile_models;
    use genrescope_testkit::{scratch_dir, TinyModel};

    fn plan(dir: &std::path::Path) -> (Genrescope, ModelPlan) {
        let p = Genrescope::default();
        *p.params.model_dir.write().unwrap() = Some(dir.display().to_string());
        let plan = p.plan_model();
        (p, plan)
    }

    /// What activation decides for each hostile folder: no model, and an error in the shared
    /// state (what the editor shows) that names the problem. Nothing is allocated from a refused
    /// manifest: activation builds the frame queue only from a `ModelPlan` with a manifest.
    #[test]
    fn hostile_models_are_refused_at_activation_with_a_visible_error() {
        let good = scratch_dir("plan-good");
        TinyModel::new(FrontEndSpec::musicnn()).with_trunk(2).write(&good).unwrap();
        assert!(matches!(plan(&good).1, ModelPlan::New(..)));
        for h in hostile_models(&good, &scratch_dir("plan-hostile")) {
            let (p, plan) = plan(&h.dir);
            assert!(matches!(plan, ModelPlan::Unusable), "{}", h.what);
            assert_eq!(p.shared.status(), Status::Error, "{}", h.what);
            let text = p.shared.error_text();
            assert!(text.to_lowercase().contains(&h.error.to_lowercase()), "{}: {text}", h.what);
            assert!(text.ends_with("audio passes through unanalysed"), "{}: {text}", h.what);
        }
    }
}
