//! The history timeline widget: span buttons, the genre strip, the top-probability curve, the
//! time axis and the hover line. What to draw comes from [`TimelineModel`]; this only paints it.
use egui::{pos2, vec2, Align2, Color32, FontId, Rect, RichText, Sense, Stroke, Ui};
use genrescope_engine::{Claim, HistoryPoint, SharedState};

use super::timeline_model::{copy_visible_history, LabelSide, TimelineModel, MAX_GAP_S, SPANS_S};
use super::{DIM_TEXT, GENRE_COLOURS, NO_GENRE_COLOUR, OTHER_COLOUR, TRACK_FILL};

/// The timeline never gets less than this, even in the smallest window.
const MIN_HEIGHT: f32 = 56.0;

pub struct Timeline {
    /// Index into [`SPANS_S`].
    span: usize,
    /// Reused copy of the visible history.
    visible: Vec<HistoryPoint>,
}

impl Default for Timeline {
    fn default() -> Self {
        Self { span: 1, visible: Vec::new() }
    }
}

impl Timeline {
    /// Draws the history into the rest of `ui`; returns the area it used.
    pub fn show(&mut self, ui: &mut Ui, shared: &SharedState) -> Rect {
        let header = ui.horizontal(|ui| {
            ui.label(RichText::new("History").strong());
            for (i, span) in SPANS_S.iter().enumerate() {
                ui.selectable_value(&mut self.span, i, format!("{} min", span / 60.0));
            }
        });
        let span_s = SPANS_S[self.span.min(SPANS_S.len() - 1)];
        // A gap's worth more, so a strip that starts left of the plot still reaches into it.
        copy_visible_history(shared, span_s + MAX_GAP_S, &mut self.visible);
        let model = TimelineModel::new(&self.visible, span_s);

        let h = (ui.available_height() - 4.0).max(MIN_HEIGHT);
        let (rect, response) = ui.allocate_exact_size(vec2(ui.available_width(), h), Sense::hover());
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 3.0, TRACK_FILL);

        let strip_h = 12.0;
        let axis_h = 14.0;
        let plot =
            Rect::from_min_max(rect.min + vec2(0.0, 4.0), pos2(rect.right(), rect.bottom() - strip_h - axis_h - 2.0));
        let strip = Rect::from_min_max(
            pos2(rect.left(), plot.bottom() + 2.0),
            pos2(rect.right(), plot.bottom() + 2.0 + strip_h),
        );
        let x_of = |t: f64| rect.right() - model.ago_fraction(t) * rect.width();
        let y_of = |p: f32| plot.bottom() - p.clamp(0.0, 1.0) * plot.height();

        for level in [0.25, 0.5, 0.75, 1.0] {
            let y = y_of(level);
            painter.line_segment(
                [pos2(rect.left(), y), pos2(rect.right(), y)],
                Stroke::new(1.0, Color32::from_gray(0x33)),
            );
        }
        painter.text(
            pos2(rect.left() + 3.0, y_of(1.0)),
            Align2::LEFT_TOP,
            "100 %",
            FontId::proportional(9.0),
            DIM_TEXT,
        );
        painter.text(
            pos2(rect.left() + 3.0, y_of(0.5)),
            Align2::LEFT_BOTTOM,
            "50 %",
            FontId::proportional(9.0),
            DIM_TEXT,
        );

        for tick in model.ticks() {
            let x = rect.right() - (tick.ago_s / span_s) as f32 * rect.width();
            painter.line_segment(
                [pos2(x, plot.top()), pos2(x, strip.bottom())],
                Stroke::new(1.0, Color32::from_gray(0x2c)),
            );
            let (anchor, dx) = match tick.side {
                LabelSide::Before => (Align2::RIGHT_BOTTOM, -3.0),
                LabelSide::After => (Align2::LEFT_BOTTOM, 3.0),
                LabelSide::Centred => (Align2::CENTER_BOTTOM, 0.0),
            };
            painter.text(pos2(x + dx, rect.bottom()), anchor, tick.label, FontId::proportional(10.0), DIM_TEXT);
        }

        for seg in model.segments() {
            let (x0, x1) = (x_of(seg.start_s).max(rect.left()), x_of(seg.end_s));
            let colour = claim_colour(seg.claim);
            // At least a pixel wide, so single predictions stay visible at long spans.
            let r = Rect::from_min_max(pos2(x0, strip.top()), pos2(x1.max(x0 + 1.0), strip.bottom()));
            painter.rect_filled(r, 0.0, colour);
        }
        for run in model.runs() {
            let colour = claim_colour(run.claim);
            let pts: Vec<_> = run.points.iter().map(|&(t, p)| pos2(x_of(t), y_of(p))).collect();
            if pts.len() == 1 {
                painter.circle_filled(pts[0], 1.5, colour);
            } else {
                painter.line(pts, Stroke::new(1.6, colour));
            }
        }
        if model.is_empty() {
            painter.text(
                plot.center(),
                Align2::CENTER_CENTER,
                "no predictions yet",
                FontId::proportional(13.0),
                DIM_TEXT,
            );
        }

        // Hover: which genre (or "other") was claimed at that moment.
        if let Some(pos) = response.hover_pos() {
            let ago = ((rect.right() - pos.x) / rect.width()) as f64;
            if let Some(text) = model.hover_text(ago) {
                painter.line_segment(
                    [pos2(pos.x, rect.top()), pos2(pos.x, strip.bottom())],
                    Stroke::new(1.0, Color32::from_gray(0x80)),
                );
                response.on_hover_text_at_pointer(text);
            }
        }
        header.response.rect.union(rect)
    }
}

/// The strip's and the curve's colour for a claim.
fn claim_colour(claim: Claim) -> Color32 {
    match claim {
        Claim::Genre(g) => GENRE_COLOURS.get(g).copied().unwrap_or(NO_GENRE_COLOUR),
        Claim::Other => OTHER_COLOUR,
        Claim::Nothing => NO_GENRE_COLOUR,
    }
}
