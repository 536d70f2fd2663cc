//! The ten genre meters (and the out-of-set meter, for a model with the class), and the
//! GUI-side glide of their values.
use egui::{pos2, vec2, Align2, Color32, FontId, Rect, Sense, Stroke, StrokeKind, Ui};
use genrescope_core::labels::{GENRES, NUM_GENRES};
use genrescope_engine::Claim;

use super::{DIM_TEXT, GENRE_COLOURS, OTHER_COLOUR, TRACK_FILL};

/// Time constant of the GUI-side meter glide (the analysis already smooths the values).
pub const METER_TAU_S: f32 = 0.15;

/// Exponential glide of `N` meter values towards the latest published probabilities.
#[derive(Clone, Debug)]
pub struct MeterSmoother<const N: usize = NUM_GENRES> {
    values: [f32; N],
    tau_s: f32,
}

impl<const N: usize> MeterSmoother<N> {
    pub fn new(tau_s: f32) -> Self {
        Self { values: [0.0; N], tau_s }
    }

    /// Moves towards `target` by one frame of `dt` seconds and returns the displayed values.
    pub fn step(&mut self, target: &[f32; N], dt: f32) -> [f32; N] {
        // NaN or non-positive dt: no time passed.
        let a = if dt.is_nan() || dt <= 0.0 {
            0.0
        } else if self.tau_s <= 0.0 {
            1.0
        } else {
            1.0 - (-dt / self.tau_s).exp()
        };
        for (v, &t) in self.values.iter_mut().zip(target) {
            let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
            *v += (t - *v) * a;
        }
        self.values
    }
}

/// The out-of-set meter's reading: the glided probability and the model's threshold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OtherMeter {
    pub p: f32,
    pub threshold: f32,
}

/// Ten horizontal bars; the claimed genre's row is highlighted. With `other` (a model with the
/// out-of-set class), an eleventh, grey bar for it, with a tick at the threshold, highlighted
/// while "other / unsure" is claimed. With MIDI on, each row shows its CC.
pub fn meters(ui: &mut Ui, probs: &[f32; NUM_GENRES], claim: Claim, other: Option<OtherMeter>, cc_base: Option<u8>) {
    let top = claim.genre();
    // While "other" is claimed no genre is: every genre bar is dimmed.
    let dim_all = claim == Claim::Other;
    for (g, &p) in probs.iter().enumerate() {
        let is_top = top == Some(g);
        let colour = if (top.is_none() && !dim_all) || is_top {
            GENRE_COLOURS[g]
        } else {
            GENRE_COLOURS[g].gamma_multiply(0.75)
        };
        row(ui, GENRES[g], p, colour, is_top, None, cc_base.map(|b| b as usize + g));
    }
    if let Some(o) = other {
        let cc = cc_base.map(|b| b as usize + NUM_GENRES + 1);
        row(ui, "other", o.p, OTHER_COLOUR, dim_all, Some(o.threshold), cc);
    }
}

/// One meter row: label, bar (with an optional threshold tick), value, CC number.
fn row(ui: &mut Ui, label: &str, p: f32, colour: Color32, is_top: bool, tick: Option<f32>, cc: Option<usize>) {
    let row_h = 18.0;
    let label_w = 66.0;
    let value_w = 42.0;
    let cc_w = if cc.is_some() { 40.0 } else { 0.0 };
    let (rect, _) = ui.allocate_exact_size(vec2(ui.available_width(), row_h), Sense::hover());
    let painter = ui.painter_at(rect);
    let text_colour = if is_top { Color32::WHITE } else { Color32::from_gray(0xc8) };
    let font = FontId::proportional(if is_top { 14.0 } else { 13.0 });
    painter.text(pos2(rect.left(), rect.center().y), Align2::LEFT_CENTER, label, font.clone(), text_colour);
    let bar = Rect::from_min_max(
        pos2(rect.left() + label_w, rect.top() + 2.0),
        pos2(rect.right() - value_w - cc_w, rect.bottom() - 2.0),
    );
    painter.rect_filled(bar, 2.0, TRACK_FILL);
    let fill = Rect::from_min_max(bar.min, pos2(bar.left() + p.clamp(0.0, 1.0) * bar.width(), bar.bottom()));
    painter.rect_filled(fill, 2.0, colour);
    if let Some(t) = tick {
        // Where "other / unsure" begins.
        let x = bar.left() + t.clamp(0.0, 1.0) * bar.width();
        painter.vline(x, bar.y_range().expand(2.0), Stroke::new(1.5, Color32::from_gray(0xe0)));
    }
    if is_top {
        painter.rect_stroke(bar, 2.0, Stroke::new(1.0, Color32::WHITE), StrokeKind::Outside);
    }
    painter.text(
        pos2(bar.right() + value_w - 4.0, rect.center().y),
        Align2::RIGHT_CENTER,
        format!("{:.0} %", 100.0 * p),
        font,
        text_colour,
    );
    if let Some(cc) = cc {
        painter.text(
            pos2(rect.right(), rect.center().y),
            Align2::RIGHT_CENTER,
            format!("CC{cc}"),
            FontId::monospace(10.0),
            DIM_TEXT,
        );
    }
    ui.add_space(1.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meters_glide_without_overshoot_and_settle() {
        let mut m = MeterSmoother::<NUM_GENRES>::new(METER_TAU_S);
        let mut target = [0.0; NUM_GENRES];
        target[3] = 0.8;
        let first = m.step(&target, 1.0 / 30.0);
        assert!(first[3] > 0.0 && first[3] < 0.8 * 0.3, "one frame moves a little: {}", first[3]);
        let mut last = first[3];
        for _ in 0..60 {
            let v = m.step(&target, 1.0 / 30.0)[3];
            assert!(v >= last && v <= 0.8, "monotonic, no overshoot");
            last = v;
        }
        assert!((last - 0.8).abs() < 1e-3, "settles within 2 s: {last}");
        // No time passed: no change; garbage input does not poison the state.
        assert_eq!(m.step(&[f32::NAN; NUM_GENRES], 0.0)[3], last);
        let v = m.step(&[f32::NAN; NUM_GENRES], 10.0);
        assert!(v.iter().all(|x| x.is_finite() && *x < 1e-6));
        assert_eq!(m.step(&target, f32::NAN)[3], v[3]);
    }
}
