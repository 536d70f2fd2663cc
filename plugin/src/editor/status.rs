//! The headline (current genre, or why there is none) and the status lines at the bottom.
use egui::{Align, Color32, Layout, RichText, Ui};
use genrescope_core::labels::{GENRES, NUM_GENRES};
use genrescope_engine::{SharedState, Status};
use std::sync::atomic::Ordering::Relaxed;

use super::{DIM_TEXT, ERROR_COLOUR, GENRE_COLOURS};

pub fn headline(ui: &mut Ui, top: Option<usize>, probs: &[f32; NUM_GENRES], status: Status) {
    ui.horizontal(|ui| {
        match top {
            Some(g) => {
                ui.label(RichText::new(GENRES[g].to_uppercase()).size(34.0).strong().color(GENRE_COLOURS[g]));
                ui.label(RichText::new(format!("{:.0} %", 100.0 * probs[g])).size(26.0).color(Color32::WHITE));
            }
            None => {
                ui.label(RichText::new("—").size(34.0).color(DIM_TEXT));
                let colour = if status == Status::Error { ERROR_COLOUR } else { DIM_TEXT };
                ui.label(RichText::new(status.label()).size(22.0).color(colour));
            }
        }
        ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
            ui.label(RichText::new("GENRESCOPE").size(12.0).color(DIM_TEXT));
        });
    });
}

/// Status, model, input level and counters; the error (wrapped) below them.
pub fn status_lines(ui: &mut Ui, shared: &SharedState, status: Status) {
    let model = shared.model_info();
    let level = shared.level_db.load(Relaxed);
    let level = if level > -150.0 { format!("{level:.1} dBFS") } else { "—".to_owned() };
    let predictions = shared.predictions.load(Relaxed);
    let dropped = shared.dropped_frames.load(Relaxed);
    ui.add_space(2.0);
    ui.horizontal_wrapped(|ui| {
        let colour = if status == Status::Error { ERROR_COLOUR } else { Color32::WHITE };
        ui.label(RichText::new(status.label()).color(colour).strong());
        // The model's name here; its folder on hover (paths are long).
        let (name, folder) = split_model_info(&model);
        ui.label(RichText::new(format!("· model: {}", if name.is_empty() { "none" } else { &name })).color(DIM_TEXT))
            .on_hover_text(folder);
        ui.label(
            RichText::new(format!("· input {level} · {predictions} predictions · {dropped} dropped frames"))
                .color(DIM_TEXT),
        );
    });
    let error = shared.error_text();
    if !error.is_empty() {
        ui.add(egui::Label::new(RichText::new(error).color(ERROR_COLOUR)).wrap());
    }
}

/// "name (details, folder)" → ("name (details)", "folder").
fn split_model_info(info: &str) -> (String, &str) {
    match (info.rfind(", "), info.ends_with(')')) {
        (Some(i), true) if info[i + 2..].contains('/') => (format!("{})", &info[..i]), &info[i + 2..info.len() - 1]),
        _ => (info.to_string(), ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_info_splits_into_name_and_folder() {
        assert_eq!(
            split_model_info("m (trunk + 3 members, /x/genrescope-model)"),
            ("m (trunk + 3 members)".to_string(), "/x/genrescope-model")
        );
        assert_eq!(split_model_info("m"), ("m".to_string(), ""));
    }
}
