//! The parameter controls: every parameter through the host's `ParamSetter` (so changes are
//! recorded as automation), or read-only without a host.
use egui::{RichText, Ui};
use genrescope_core::labels::NUM_GENRES;
use nice_plug::prelude::{BoolParam, Param, ParamSetter};
use nice_plug_egui::widgets::ParamSlider;

use super::{DIM_TEXT, ROW_H};
use crate::midi::{MidiConfig, NO_GENRE};
use crate::params::GenrescopeParams;

/// Sized to the column's width: labels, then sliders as wide as what is left beside the value box.
pub fn controls(ui: &mut Ui, params: &GenrescopeParams, setter: Option<&ParamSetter>) {
    ui.spacing_mut().item_spacing.y = 3.0;
    let gap = ui.spacing().item_spacing.x;
    let label_w = 104.0;
    // The widest value text ("-50.0 dBFS") with the button padding.
    let value_w = 78.0;
    let slider_w = (ui.available_width() - label_w - value_w - 3.0 * gap).max(36.0);
    let row = |ui: &mut Ui, name: &str, add: &mut dyn FnMut(&mut Ui)| {
        ui.horizontal(|ui| {
            ui.add_sized([label_w, ROW_H - 3.0], egui::Label::new(name).truncate());
            add(ui);
        });
    };
    ui.label(RichText::new("Analysis").strong());
    for p in [&params.smoothing, &params.hop, &params.gate] {
        row(ui, p.name(), &mut |ui| param_slider(ui, p, setter, slider_w));
    }
    ui.add_space(3.0);
    ui.label(RichText::new("MIDI output").strong());
    row(ui, params.midi_out.name(), &mut |ui| bool_toggle(ui, &params.midi_out, setter));
    row(ui, params.midi_channel.name(), &mut |ui| param_slider(ui, &params.midi_channel, setter, slider_w));
    row(ui, params.cc_base.name(), &mut |ui| param_slider(ui, &params.cc_base, setter, slider_w));
    row(ui, params.program_change.name(), &mut |ui| bool_toggle(ui, &params.program_change, setter));
    row(ui, params.program_hold.name(), &mut |ui| param_slider(ui, &params.program_hold, setter, slider_w));
    ui.add(
        egui::Label::new(RichText::new(midi_legend(&MidiConfig::from_params(params))).size(10.5).color(DIM_TEXT))
            .wrap(),
    );
}

/// Which CCs carry what, as the MIDI output sends them.
fn midi_legend(midi: &MidiConfig) -> String {
    let base = midi.cc_base() as usize;
    format!(
        "ch {ch}: CC{b}–{e} genres, CC{t} top genre ({none} = none); program = top genre",
        ch = midi.channel,
        b = base,
        e = base + NUM_GENRES - 1,
        t = base + NUM_GENRES,
        none = NO_GENRE,
    )
}

fn param_slider<P: Param>(ui: &mut Ui, param: &P, setter: Option<&ParamSetter>, width: f32) {
    match setter {
        Some(setter) => {
            ui.add(ParamSlider::for_param(param, setter).with_width(width));
        }
        None => {
            ui.label(param.to_string());
        }
    }
}

fn bool_toggle(ui: &mut Ui, param: &BoolParam, setter: Option<&ParamSetter>) {
    let mut on = param.value();
    let text = if on { "on" } else { "off" };
    let response = ui.add_enabled(setter.is_some(), egui::Checkbox::new(&mut on, text));
    if let (true, Some(setter)) = (response.changed(), setter) {
        setter.begin_set_parameter(param);
        setter.set_parameter(param, on);
        setter.end_set_parameter(param);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legend_names_the_ccs_the_midi_output_sends() {
        let legend = midi_legend(&MidiConfig::default());
        assert_eq!(legend, "ch 1: CC20–29 genres, CC30 top genre (127 = none); program = top genre");
        // An out-of-range base shows the CCs actually used.
        let high = midi_legend(&MidiConfig { channel: 3, cc_base: 127, ..MidiConfig::default() });
        assert!(high.starts_with("ch 3: CC116–125 genres, CC126 top genre"), "{high}");
    }
}
