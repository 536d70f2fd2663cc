//! Genrescope plugin glue: parameters, `process()` and the CLAP/VST3 exports.
//!
//! The audio thread ([`frontend`]) computes features and passes audio through untouched; the
//! analysis thread ([`analysis`]) runs the ensemble and publishes results through atomics
//! ([`shared`]) that the editor and the MIDI output ([`midi`]) read.
use genrescope_core::features::FeatureConfig;
use nice_plug::prelude::*;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

pub mod analysis;
pub mod editor;
pub mod frontend;
pub mod midi;
pub mod offline;
pub mod params;
pub mod shared;

use analysis::{AnalysisThread, Analyzer, Control};
use frontend::{queue_capacity, AudioFrontEnd};
use midi::MidiCcOut;
use params::GenrescopeParams;
use shared::SharedState;

pub struct Genrescope {
    params: Arc<GenrescopeParams>,
    shared: Arc<SharedState>,
    cfg: FeatureConfig,
    frontend: Option<AudioFrontEnd>,
    /// The queue's producer while no front end exists (before the first activation).
    producer: Option<rtrb::Producer<f32>>,
    consumer: Option<rtrb::Consumer<f32>>,
    analysis: Option<AnalysisThread>,
    midi: MidiCcOut,
}

impl Default for Genrescope {
    fn default() -> Self {
        let cfg = FeatureConfig::default();
        let (producer, consumer) = rtrb::RingBuffer::new(queue_capacity(&cfg));
        Self {
            params: Arc::new(GenrescopeParams::default()),
            shared: Arc::new(SharedState::default()),
            cfg,
            frontend: None,
            producer: Some(producer),
            consumer: Some(consumer),
            analysis: None,
            midi: MidiCcOut::default(),
        }
    }
}

impl Genrescope {
    pub fn shared(&self) -> &Arc<SharedState> {
        &self.shared
    }

    fn sync_settings(&self) {
        let s = &self.shared.settings;
        s.smoothing_s.store(self.params.smoothing.value(), Relaxed);
        s.hop_s.store(self.params.hop.value(), Relaxed);
        s.gate_db.store(self.params.gate.value(), Relaxed);
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
        let producer = match self.frontend.take() {
            Some(fe) => fe.into_producer(),
            None => match self.producer.take() {
                Some(p) => p,
                None => return false,
            },
        };
        let max_block = buffer_config.max_buffer_size.max(1) as usize;
        self.frontend = Some(AudioFrontEnd::new(
            &self.cfg,
            buffer_config.sample_rate,
            max_block,
            producer,
            self.shared.clone(),
        ));
        self.midi.reset();
        match &self.analysis {
            Some(thread) => thread.send(Control::Reset),
            None => {
                let Some(consumer) = self.consumer.take() else { return false };
                let analyzer = Analyzer::new(&self.cfg, consumer, self.shared.clone());
                match AnalysisThread::spawn(analyzer, analysis::default_model_dir()) {
                    Ok(t) => self.analysis = Some(t),
                    // Without the thread we still pass audio; the editor shows why.
                    Err(e) => self.shared.set_error(format!("cannot start analysis thread: {e}")),
                }
            }
        }
        true
    }

    fn reset(&mut self) {
        if let Some(fe) = &mut self.frontend {
            fe.reset();
        }
        self.midi.reset();
        self.shared.reset_requested.store(true, Relaxed);
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        self.sync_settings();
        if let Some(fe) = &mut self.frontend {
            fe.process(buffer.as_slice_immutable());
        }
        if self.params.midi_out.value() {
            let channel = (self.params.midi_channel.value() - 1).clamp(0, 15) as u8;
            let cc_base = self.params.cc_base.value().clamp(0, 127) as u8;
            self.midi.emit(&self.shared, channel, cc_base, |channel, cc, value| {
                // A full host event queue only delays the value to the next change.
                let _ = context.try_send_event(NoteEvent::MidiCC {
                    timing: 0,
                    channel,
                    cc,
                    value: value as f32 / 127.0,
                });
            });
        }
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
    const VST3_CLASS_ID: [u8; 16] = *b"GenrescopeGTZAN1";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Analyzer];
}

nice_export_clap!(Genrescope);
nice_export_vst3!(Genrescope);
