//! Genrescope plugin glue: parameters, `process()` and the format exports.
use nice_plug::prelude::*;
use std::sync::Arc;

pub mod offline;

pub struct Genrescope {
    params: Arc<GenrescopeParams>,
}

#[derive(Params, Default)]
pub struct GenrescopeParams {}

impl Default for Genrescope {
    fn default() -> Self {
        Self { params: Arc::new(GenrescopeParams::default()) }
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

    type Editor = ();
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn process(
        &mut self,
        _buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        _context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
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
