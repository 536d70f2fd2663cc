//! The headline (current genre, "other / unsure", or why there is none) and the status lines at
//! the bottom.
use egui::{Align, Color32, Layout, RichText, Ui};
use genrescope_core::labels::{GENRES, NUM_GENRES};
use genrescope_engine::{Claim, SharedState, Status};
use std::sync::atomic::Ordering::Relaxed;

use super::{DIM_TEXT, ERROR_COLOUR, GENRE_COLOURS, OTHER_COLOUR};

/// The big label: the claimed genre and its probability; "other / unsure" and the out-of-set
/// probability; or a dash and the status (silence, no model, error...).
pub fn headline(ui: &mut Ui, claim: Claim, probs: &[f32; NUM_GENRES], other: f32, status: Status) {
    ui.horizontal(|ui| {
        match claim {
            Claim::Genre(g) => {
                ui.label(RichText::new(GENRES[g].to_uppercase()).size(34.0).strong().color(GENRE_COLOURS[g]));
                ui.label(RichText::new(format!("{:.0} %", 100.0 * probs[g])).size(26.0).color(Color32::WHITE));
            }
            Claim::Other => {
                ui.label(RichText::new(headline_text(claim)).size(34.0).strong().color(OTHER_COLOUR));
                ui.label(RichText::new(format!("{:.0} %", 100.0 * other)).size(26.0).color(Color32::WHITE));
            }
            Claim::Nothing => {
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

/// The headline's words for a claim (the status line says why there is none).
pub fn headline_text(claim: Claim) -> String {
    match claim {
        Claim::Genre(g) => GENRES[g].to_uppercase(),
        Claim::Other => "OTHER / UNSURE".into(),
        Claim::Nothing => "—".into(),
    }
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
    fn the_headline_names_other_not_a_genre() {
        assert_eq!(headline_text(Claim::Genre(9)), "ROCK");
        assert_eq!(headline_text(Claim::Other), "OTHER / UNSURE");
        assert!(GENRES.iter().all(|g| !headline_text(Claim::Other).contains(&g.to_uppercase())));
        assert_eq!(headline_text(Claim::Nothing), "—");
        assert_eq!(Status::Other.label(), "other / unsure");
    }

    #[test]
    fn model_info_splits_into_name_and_folder() {
        assert_eq!(
            split_model_info("m (trunk + 3 members, /x/genrescope-model)"),
            ("m (trunk + 3 members)".to_string(), "/x/genrescope-model")
        );
        assert_eq!(split_model_info("m"), ("m".to_string(), ""));
    }
}
