//! The parameter controls: every parameter through the host's `ParamSetter` (so changes are
//! recorded as automation), or read-only without a host.
use egui::{RichText, Ui};
use genrescope_core::labels::NUM_GENRES;
use nice_plug::prelude::{BoolParam, Param, ParamSetter};
use nice_plug_egui::widgets::ParamSlider;

use super::{DIM_TEXT, ROW_H};
use crate::midi::{MidiConfig, NO_GENRE, OTHER};
use crate::params::GenrescopeParams;

/// Sized to the column's width: labels, then sliders as wide as what is left beside the value box.
/// `has_other`: the model has the out-of-set class (the legend names its CCs).
pub fn controls(ui: &mut Ui, params: &GenrescopeParams, setter: Option<&ParamSetter>, has_other: bool) {
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
        egui::Label::new(
            RichText::new(midi_legend(&MidiConfig::from_params(params), has_other)).size(10.5).color(DIM_TEXT),
        )
        .wrap(),
    );
}

/// Which CCs carry what, as the MIDI output sends them (the out-of-set CCs only for a model with
/// that class).
fn midi_legend(midi: &MidiConfig, has_other: bool) -> String {
    let base = midi.cc_base() as usize;
    let (b, e, t) = (base, base + NUM_GENRES - 1, base + NUM_GENRES);
    let ch = midi.channel;
    if has_other {
        format!(
            "ch {ch}: CC{b}–{e} genres, CC{t} top genre ({OTHER} = other, {NO_GENRE} = none), CC{o} other; \
             program = top genre, kept on other",
            o = t + 1,
        )
    } else {
        format!("ch {ch}: CC{b}–{e} genres, CC{t} top genre ({NO_GENRE} = none); program = top genre")
    }
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
        let legend = midi_legend(&MidiConfig::default(), false);
        assert_eq!(legend, "ch 1: CC20–29 genres, CC30 top genre (127 = none); program = top genre");
        // An out-of-range base shows the CCs actually used.
        let high = midi_legend(&MidiConfig { channel: 3, cc_base: 127, ..MidiConfig::default() }, false);
        assert!(high.starts_with("ch 3: CC116–125 genres, CC126 top genre"), "{high}");
        // A model with the out-of-set class: what "other" sends.
        assert_eq!(
            midi_legend(&MidiConfig::default(), true),
            "ch 1: CC20–29 genres, CC30 top genre (10 = other, 127 = none), CC31 other; program = top genre, kept \
             on other"
        );
        let high = midi_legend(&MidiConfig { cc_base: 127, ..MidiConfig::default() }, true);
        assert!(high.contains("CC126 top genre") && high.contains("CC127 other"), "{high}");
    }
}
