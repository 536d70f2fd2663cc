//! The plugin window (egui): the current genre, ten genre meters, a history timeline, the
//! status line and the parameter controls.
//!
//! Everything shown is read from [`SharedState`] (atomics, plus two briefly held mutexes); the
//! editor never blocks the audio thread. Parameter changes go through the host's
//! [`ParamSetter`] so they are recorded as automation. The pure helpers (meter smoothing, colour
//! palette, timeline segmentation) are unit-tested below; nothing here runs unless a window is
//! opened, so creating the plugin needs no display.
use egui::{pos2, vec2, Align, Align2, Color32, FontId, Layout, Rect, RichText, Sense, Stroke, StrokeKind, Ui};
use genrescope_core::labels::{GENRES, GENRE_RGB, NO_GENRE_RGB, NUM_GENRES};
use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug::prelude::{BoolParam, Param, ParamSetter, ResizeHint};
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{create_egui_editor, EguiEditor, EguiNiceSettings, Frame, NiceEguiApp, RepaintNotifier};
use std::sync::Arc;
use std::time::Duration;

use crate::midi::NO_GENRE;
use crate::params::{GenrescopeParams, EDITOR_MIN_SIZE};
use genrescope_engine::{HistoryPoint, SharedState, Status};

/// One colour per genre (GENRES order): the palette in core, shared with the CLI's plot.
pub const GENRE_COLOURS: [Color32; NUM_GENRES] = {
    let mut c = [Color32::BLACK; NUM_GENRES];
    let mut i = 0;
    while i < NUM_GENRES {
        let [r, g, b] = GENRE_RGB[i];
        c[i] = Color32::from_rgb(r, g, b);
        i += 1;
    }
    c
};
/// Timeline colour while no genre is claimed (silence, no model).
pub const NO_GENRE_COLOUR: Color32 = Color32::from_rgb(NO_GENRE_RGB[0], NO_GENRE_RGB[1], NO_GENRE_RGB[2]);
const ERROR_COLOUR: Color32 = Color32::from_rgb(0xff, 0x5c, 0x5c);
const DIM_TEXT: Color32 = Color32::from_rgb(0x9a, 0x9a, 0x9a);
const TRACK_FILL: Color32 = Color32::from_rgb(0x26, 0x26, 0x2a);

/// Repaint period while open: the analysis publishes every ≥0.1 s, the meters glide in between.
const FRAME_PERIOD: Duration = Duration::from_millis(33);
/// Time constant of the GUI-side meter glide (the analysis already smooths the values).
pub const METER_TAU_S: f32 = 0.15;
/// Timeline spans to choose from, in seconds.
pub const TIMELINE_SPANS_S: [f64; 3] = [60.0, 180.0, 600.0];
/// Points further apart than this are drawn with a gap between them (no audio came in).
const MAX_GAP_S: f64 = 5.0;
/// The body (meters | controls) is this many rows of this height.
const BODY_ROWS: f32 = 10.0;
const ROW_H: f32 = 21.0;
/// The timeline never gets less than this, even in the smallest window.
const MIN_TIMELINE_H: f32 = 56.0;

pub fn create(params: Arc<GenrescopeParams>, shared: Arc<SharedState>) -> Option<EguiEditor<GenrescopeEditor>> {
    let settings = EguiNiceSettings::new()
        .with_tile("Genrescope")
        .with_resize_hint(
            ResizeHint::RESIZABLE.with_min_logical_size(LogicalSize::new(EDITOR_MIN_SIZE.0, EDITOR_MIN_SIZE.1)),
        )
        .with_repaint_poll_interval(FRAME_PERIOD);
    create_egui_editor(
        params.editor_state.clone(),
        RepaintNotifier::new(),
        settings,
        GenrescopeEditor::new(params, shared),
    )
}

/// The editor's GUI state; lives as long as the plugin, across window openings.
pub struct GenrescopeEditor {
    params: Arc<GenrescopeParams>,
    shared: Arc<SharedState>,
    /// Set by `build` when a window opens; only used while drawing (nice-plug-egui 0.6 never
    /// calls `editor_closed`, so it may outlive a closed window harmlessly).
    gui: Option<GuiContext>,
    meters: MeterSmoother,
    span: usize,
    /// Reused copy of the visible history, so the mutex is held only for the copy.
    visible: Vec<HistoryPoint>,
    /// Persisted window size still to be applied to a freshly opened window.
    pending_size: Option<(f32, f32)>,
    /// What the last frame laid out (tests check it fits the window).
    content: Rect,
}

impl GenrescopeEditor {
    pub fn new(params: Arc<GenrescopeParams>, shared: Arc<SharedState>) -> Self {
        Self {
            params,
            shared,
            gui: None,
            meters: MeterSmoother::new(METER_TAU_S),
            span: 1,
            visible: Vec::new(),
            pending_size: None,
            content: Rect::NOTHING,
        }
    }

    /// The area the last `draw` laid its widgets out in.
    pub fn content_rect(&self) -> Rect {
        self.content
    }

    /// Draws one frame. `gui` is `None` outside a host (preview harness): controls are read-only.
    pub fn draw(&mut self, ui: &mut Ui) {
        if let Some((w, h)) = self.pending_size.take() {
            // The window opens at the default size (the editor is built before the host restores
            // state); ask for the saved one. Sizes here are in points, i.e. divided by the zoom.
            let zoom = ui.ctx().zoom_factor();
            let want = vec2(w, h) / zoom;
            if (ui.ctx().content_rect().size() - want).length() > 1.0 {
                ui.ctx().send_viewport_cmd(egui::ViewportCommand::InnerSize(want));
            }
        }
        let dt = ui.input(|i| i.stable_dt);
        let probs = self.meters.step(&self.shared.probs(), dt);
        let top = self.shared.top();
        let status = self.shared.status();

        let panel = egui::Frame::central_panel(ui.style()).fill(Color32::from_rgb(0x16, 0x16, 0x19));
        egui::CentralPanel::default().frame(panel).show(ui, |ui| {
            // `content` collects what every part laid out (panels fill their area, so their own
            // rects say nothing about overflow).
            let mut content = ui.horizontal(|ui| headline(ui, top, &probs, status)).response.rect;
            ui.separator();
            // The footer first, from the bottom up, so it is whole however much it wraps; the
            // timeline takes what is left.
            let footer = egui::Panel::bottom("genrescope-status")
                .frame(egui::Frame::NONE)
                .resizable(false)
                .show(ui, |ui| {
                    status_lines(ui, &self.shared, status);
                    ui.min_rect()
                })
                .inner;
            content = content.union(footer);
            let body_h = BODY_ROWS * ROW_H;
            let body = ui.horizontal_top(|ui| {
                let w = ui.available_width();
                // Meters get half the width; the controls the rest, laid out to fit it.
                let meters_w = (w * 0.5).clamp(240.0, 520.0);
                let m = ui.allocate_ui_with_layout(vec2(meters_w, body_h), Layout::top_down(Align::Min), |ui| {
                    meters(ui, &probs, top, self.params.midi_out.value().then(|| cc_base(&self.params)));
                    ui.min_rect()
                });
                // Not ui.separator(): in a horizontal layout it takes all remaining height.
                let (line, _) = ui.allocate_exact_size(vec2(9.0, body_h), Sense::hover());
                ui.painter().vline(line.center().x, line.y_range(), ui.visuals().widgets.noninteractive.bg_stroke);
                let c = ui.allocate_ui_with_layout(
                    vec2(ui.available_width(), body_h),
                    Layout::top_down(Align::Min),
                    |ui| {
                        match &self.gui {
                            Some(gui) => controls(ui, &self.params, Some(&gui.param_setter())),
                            None => controls(ui, &self.params, None),
                        }
                        ui.min_rect()
                    },
                );
                m.inner.union(c.inner)
            });
            content = content.union(body.inner);
            ui.separator();
            content = content.union(self.timeline(ui));
            self.content = content;
        });

        ui.ctx().request_repaint_after(FRAME_PERIOD);
    }

    /// Draws the history; returns the area it used.
    fn timeline(&mut self, ui: &mut Ui) -> Rect {
        let header = ui.horizontal(|ui| {
            ui.label(RichText::new("History").strong());
            for (i, span) in TIMELINE_SPANS_S.iter().enumerate() {
                ui.selectable_value(&mut self.span, i, format!("{} min", span / 60.0));
            }
        });
        let span_s = TIMELINE_SPANS_S[self.span.min(TIMELINE_SPANS_S.len() - 1)];
        copy_visible_history(&self.shared, span_s + MAX_GAP_S, &mut self.visible);

        let h = (ui.available_height() - 4.0).max(MIN_TIMELINE_H);
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
        let now = self.visible.last().map_or(0.0, |p| p.time_s);
        let x_of = |t: f64| rect.right() - ((now - t) / span_s) as f32 * rect.width();
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

        let tick = tick_step(span_s);
        let mut ago = 0.0;
        while ago <= span_s {
            let x = rect.right() - (ago / span_s) as f32 * rect.width();
            painter.line_segment(
                [pos2(x, plot.top()), pos2(x, strip.bottom())],
                Stroke::new(1.0, Color32::from_gray(0x2c)),
            );
            // Edge labels sit inside the plot so they are not clipped.
            let (anchor, dx) = match ago {
                0.0 => (Align2::RIGHT_BOTTOM, -3.0),
                a if a + tick > span_s => (Align2::LEFT_BOTTOM, 3.0),
                _ => (Align2::CENTER_BOTTOM, 0.0),
            };
            painter.text(pos2(x + dx, rect.bottom()), anchor, format_ago(ago), FontId::proportional(10.0), DIM_TEXT);
            ago += tick;
        }

        for seg in timeline_segments(&self.visible, MAX_GAP_S) {
            let (x0, x1) = (x_of(seg.start_s).max(rect.left()), x_of(seg.end_s));
            if x1 <= rect.left() {
                continue;
            }
            let colour = seg.top.map_or(NO_GENRE_COLOUR, |g| GENRE_COLOURS[g]);
            // At least a pixel wide, so single predictions stay visible at long spans.
            let r = Rect::from_min_max(pos2(x0, strip.top()), pos2(x1.max(x0 + 1.0), strip.bottom()));
            painter.rect_filled(r, 0.0, colour);
        }
        for run in top_prob_runs(&self.visible, MAX_GAP_S) {
            let colour = GENRE_COLOURS[run.genre];
            let pts: Vec<_> = run.points.iter().map(|&(t, p)| pos2(x_of(t), y_of(p))).collect();
            if pts.len() == 1 {
                painter.circle_filled(pts[0], 1.5, colour);
            } else {
                painter.line(pts, Stroke::new(1.6, colour));
            }
        }
        if self.visible.is_empty() {
            painter.text(
                plot.center(),
                Align2::CENTER_CENTER,
                "no predictions yet",
                FontId::proportional(13.0),
                DIM_TEXT,
            );
        }

        // Hover: which genre was on top at that moment.
        if let Some(pos) = response.hover_pos() {
            let t = now - ((rect.right() - pos.x) / rect.width()) as f64 * span_s;
            if let Some(p) = self.visible.iter().find(|p| p.time_s >= t) {
                let text = match p.top {
                    Some(g) => {
                        format!("{} {:.0} % ({} ago)", GENRES[g], 100.0 * p.probs[g], format_ago(now - p.time_s))
                    }
                    None => format!("no genre ({} ago)", format_ago(now - p.time_s)),
                };
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

impl NiceEguiApp for GenrescopeEditor {
    fn build(
        &mut self,
        egui_ctx: egui::Context,
        nice_gui_ctx: GuiContext,
        _frame: &mut Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        egui_ctx.set_theme(egui::Theme::Dark);
        self.gui = Some(nice_gui_ctx);
        self.pending_size =
            self.params.editor_size.read().ok().and_then(|s| *s).filter(|&(w, h)| {
                w.is_finite() && h.is_finite() && w >= 100.0 && h >= 100.0 && w <= 8192.0 && h <= 8192.0
            });
        Ok(())
    }

    fn resized(&mut self, new_size: nice_plug_egui::baseview::WindowSize) {
        // Until the saved size is applied, resizes are the window's initial default size.
        if self.pending_size.is_none() {
            if let Ok(mut s) = self.params.editor_size.write() {
                *s = Some((new_size.logical.width as f32, new_size.logical.height as f32));
            }
        }
    }

    fn ui(&mut self, ui: &mut Ui, _frame: &mut Frame) {
        self.draw(ui);
    }

    fn editor_closed(&mut self) {
        self.gui = None;
    }
}

fn cc_base(params: &GenrescopeParams) -> u8 {
    params.cc_base.value().clamp(0, 127 - NUM_GENRES as i32 - 1) as u8
}

fn headline(ui: &mut Ui, top: Option<usize>, probs: &[f32; NUM_GENRES], status: Status) {
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

/// Ten horizontal bars; the top genre's row is highlighted. With MIDI on, each row shows its CC.
fn meters(ui: &mut Ui, probs: &[f32; NUM_GENRES], top: Option<usize>, cc_base: Option<u8>) {
    let row_h = 18.0;
    let label_w = 66.0;
    let value_w = 42.0;
    let cc_w = if cc_base.is_some() { 40.0 } else { 0.0 };
    for (g, &p) in probs.iter().enumerate() {
        let (rect, _) = ui.allocate_exact_size(vec2(ui.available_width(), row_h), Sense::hover());
        let painter = ui.painter_at(rect);
        let is_top = top == Some(g);
        let text_colour = if is_top { Color32::WHITE } else { Color32::from_gray(0xc8) };
        let font = FontId::proportional(if is_top { 14.0 } else { 13.0 });
        painter.text(pos2(rect.left(), rect.center().y), Align2::LEFT_CENTER, GENRES[g], font.clone(), text_colour);
        let bar = Rect::from_min_max(
            pos2(rect.left() + label_w, rect.top() + 2.0),
            pos2(rect.right() - value_w - cc_w, rect.bottom() - 2.0),
        );
        painter.rect_filled(bar, 2.0, TRACK_FILL);
        let fill = Rect::from_min_max(bar.min, pos2(bar.left() + p.clamp(0.0, 1.0) * bar.width(), bar.bottom()));
        let colour = if top.is_none() || is_top { GENRE_COLOURS[g] } else { GENRE_COLOURS[g].gamma_multiply(0.75) };
        painter.rect_filled(fill, 2.0, colour);
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
        if let Some(base) = cc_base {
            painter.text(
                pos2(rect.right(), rect.center().y),
                Align2::RIGHT_CENTER,
                format!("CC{}", base as usize + g),
                FontId::monospace(10.0),
                DIM_TEXT,
            );
        }
        ui.add_space(1.0);
    }
}

/// Every parameter, through the host's `ParamSetter` (or read-only without a host), sized to the
/// column's width: labels, then sliders as wide as what is left beside the value box.
fn controls(ui: &mut Ui, params: &GenrescopeParams, setter: Option<&ParamSetter>) {
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
    let base = cc_base(params) as usize;
    let legend = format!(
        "ch {ch}: CC{b}–{e} genres, CC{t} top genre ({none} = none); program = top genre",
        ch = params.midi_channel.value(),
        b = base,
        e = base + NUM_GENRES - 1,
        t = base + NUM_GENRES,
        none = NO_GENRE,
    );
    ui.add(egui::Label::new(RichText::new(legend).size(10.5).color(DIM_TEXT)).wrap());
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

fn status_lines(ui: &mut Ui, shared: &SharedState, status: Status) {
    let model = shared.model_info();
    let level = shared.level_db.load(std::sync::atomic::Ordering::Relaxed);
    let level = if level > -150.0 { format!("{level:.1} dBFS") } else { "—".to_owned() };
    let predictions = shared.predictions.load(std::sync::atomic::Ordering::Relaxed);
    let dropped = shared.dropped_frames.load(std::sync::atomic::Ordering::Relaxed);
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

/// Copies the history points of the last `span_s` seconds (by stream time) into `out`.
fn copy_visible_history(shared: &SharedState, span_s: f64, out: &mut Vec<HistoryPoint>) {
    out.clear();
    let Ok(history) = shared.history.lock() else {
        return;
    };
    let Some(last) = history.back() else { return };
    let from = last.time_s - span_s;
    let skip = history.iter().rev().take_while(|p| p.time_s >= from).count();
    out.extend(history.iter().skip(history.len() - skip).copied());
}

/// Exponential glide of the meter values towards the latest published probabilities.
#[derive(Clone, Debug)]
pub struct MeterSmoother {
    values: [f32; NUM_GENRES],
    tau_s: f32,
}

impl MeterSmoother {
    pub fn new(tau_s: f32) -> Self {
        Self { values: [0.0; NUM_GENRES], tau_s }
    }

    /// Moves towards `target` by one frame of `dt` seconds and returns the displayed values.
    pub fn step(&mut self, target: &[f32; NUM_GENRES], dt: f32) -> [f32; NUM_GENRES] {
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

/// A stretch of the timeline with one top genre (or none).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Segment {
    pub start_s: f64,
    pub end_s: f64,
    pub top: Option<usize>,
}

/// Typical spacing of the points (median of the last few gaps), for points without a predecessor.
fn typical_spacing(points: &[HistoryPoint]) -> f64 {
    let mut d: Vec<f64> = points
        .windows(2)
        .rev()
        .take(15)
        .map(|w| w[1].time_s - w[0].time_s)
        .filter(|d| d.is_finite() && *d > 0.0)
        .collect();
    if d.is_empty() {
        return 0.5;
    }
    d.sort_by(f64::total_cmp);
    d[d.len() / 2]
}

/// Index of the first point after the last backwards time jump (older points can't be placed).
fn continuous_start(points: &[HistoryPoint]) -> usize {
    // NaN times count as a break too.
    points
        .windows(2)
        .rposition(|w| w[1].time_s.partial_cmp(&w[0].time_s).is_none_or(|o| o.is_lt()))
        .map_or(0, |i| i + 1)
}

/// Turns history points into strips: each point covers the time since its predecessor; runs
/// with the same top genre merge, and points more than `max_gap_s` apart leave a gap.
pub fn timeline_segments(points: &[HistoryPoint], max_gap_s: f64) -> Vec<Segment> {
    let points = &points[continuous_start(points)..];
    let spacing = typical_spacing(points).min(max_gap_s);
    let mut out: Vec<Segment> = Vec::new();
    let mut prev: Option<f64> = None;
    for p in points.iter().filter(|p| p.time_s.is_finite()) {
        let start = match prev {
            Some(t) if p.time_s - t <= max_gap_s => t,
            _ => p.time_s - spacing,
        };
        match out.last_mut() {
            Some(last) if last.top == p.top && last.end_s == start => last.end_s = p.time_s,
            _ => out.push(Segment { start_s: start, end_s: p.time_s, top: p.top }),
        }
        prev = Some(p.time_s);
    }
    out
}

/// A polyline of the top genre's probability, drawn in that genre's colour.
#[derive(Clone, Debug, PartialEq)]
pub struct LineRun {
    pub genre: usize,
    /// (stream time s, probability)
    pub points: Vec<(f64, f32)>,
}

/// Splits the top-probability curve into runs by genre. A run that follows another without a
/// gap starts at the previous point, so the curve stays continuous across genre changes.
pub fn top_prob_runs(points: &[HistoryPoint], max_gap_s: f64) -> Vec<LineRun> {
    let points = &points[continuous_start(points)..];
    let mut out: Vec<LineRun> = Vec::new();
    let mut prev: Option<(f64, f32, usize)> = None;
    for p in points.iter().filter(|p| p.time_s.is_finite()) {
        let Some(g) = p.top.filter(|&g| g < NUM_GENRES) else {
            prev = None;
            continue;
        };
        let here = (p.time_s, p.probs[g]);
        match prev {
            Some((t, _, pg)) if pg == g && p.time_s - t <= max_gap_s => {
                out.last_mut().expect("run exists while prev is set").points.push(here)
            }
            Some((t, pp, _)) if p.time_s - t <= max_gap_s => {
                out.push(LineRun { genre: g, points: vec![(t, pp), here] })
            }
            _ => out.push(LineRun { genre: g, points: vec![here] }),
        }
        prev = Some((p.time_s, p.probs[g], g));
    }
    out
}

/// Time-axis tick spacing for a span: about six ticks.
fn tick_step(span_s: f64) -> f64 {
    [5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0].into_iter().find(|&s| span_s / s <= 7.0).unwrap_or(600.0)
}

/// "now", "-45 s", "-2:30".
pub fn format_ago(ago_s: f64) -> String {
    let s = ago_s.max(0.0).round() as u64;
    match s {
        0 => "now".to_owned(),
        1..=59 => format!("-{s} s"),
        _ => format!("-{}:{:02}", s / 60, s % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(t: f64, top: Option<usize>, p: f32) -> HistoryPoint {
        let mut probs = [0.0; NUM_GENRES];
        if let Some(g) = top {
            probs[g] = p;
        }
        HistoryPoint { time_s: t, probs, top }
    }

    #[test]
    fn palette_has_ten_clearly_distinct_colours() {
        let all: Vec<Color32> = GENRE_COLOURS.iter().copied().chain([NO_GENRE_COLOUR]).collect();
        for (i, a) in all.iter().enumerate() {
            for (j, b) in all.iter().enumerate().skip(i + 1) {
                let (a4, b4) = (a.to_array(), b.to_array());
                let d: f32 = (0..3).map(|k| (a4[k] as f32 - b4[k] as f32).powi(2)).sum::<f32>().sqrt();
                assert!(d > 60.0, "colours {i} and {j} too close: {a:?} {b:?} (distance {d})");
            }
        }
        assert_eq!(GENRE_COLOURS.len(), GENRES.len());
    }

    #[test]
    fn meters_glide_without_overshoot_and_settle() {
        let mut m = MeterSmoother::new(METER_TAU_S);
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

    #[test]
    fn segments_merge_runs_and_show_gaps() {
        let pts = [
            point(10.0, Some(9), 0.6),
            point(10.5, Some(9), 0.7),
            point(11.0, Some(6), 0.5),
            point(11.5, None, 0.0),
            point(12.0, None, 0.0),
            // 20 s without predictions: a gap.
            point(32.0, Some(9), 0.9),
            point(32.5, Some(9), 0.9),
        ];
        let segs = timeline_segments(&pts, MAX_GAP_S);
        assert_eq!(
            segs,
            vec![
                Segment { start_s: 9.5, end_s: 10.5, top: Some(9) },
                Segment { start_s: 10.5, end_s: 11.0, top: Some(6) },
                Segment { start_s: 11.0, end_s: 12.0, top: None },
                Segment { start_s: 31.5, end_s: 32.5, top: Some(9) },
            ]
        );
        assert!(timeline_segments(&[], MAX_GAP_S).is_empty());
    }

    #[test]
    fn segments_restart_after_time_goes_backwards() {
        let pts = [point(100.0, Some(1), 0.5), point(100.5, Some(1), 0.5), point(1.0, Some(2), 0.5)];
        let segs = timeline_segments(&pts, MAX_GAP_S);
        assert_eq!(segs.len(), 1);
        assert_eq!(segs[0].top, Some(2));
        assert_eq!(top_prob_runs(&pts, MAX_GAP_S).len(), 1);
    }

    #[test]
    fn top_line_is_continuous_across_genre_changes_and_broken_by_silence() {
        let pts = [
            point(0.5, Some(0), 0.4),
            point(1.0, Some(0), 0.5),
            point(1.5, Some(5), 0.6),
            point(2.0, None, 0.0),
            point(2.5, Some(5), 0.7),
        ];
        let runs = top_prob_runs(&pts, MAX_GAP_S);
        assert_eq!(
            runs,
            vec![
                LineRun { genre: 0, points: vec![(0.5, 0.4), (1.0, 0.5)] },
                LineRun { genre: 5, points: vec![(1.0, 0.5), (1.5, 0.6)] },
                LineRun { genre: 5, points: vec![(2.5, 0.7)] },
            ]
        );
    }

    #[test]
    fn visible_history_is_the_recent_tail() {
        let shared = SharedState::default();
        for i in 0..100 {
            shared.publish(point(i as f64, Some(0), 0.5), -20.0);
        }
        let mut out = Vec::new();
        copy_visible_history(&shared, 10.0, &mut out);
        assert_eq!(out.len(), 11);
        assert_eq!(out[0].time_s, 89.0);
        assert_eq!(out.last().unwrap().time_s, 99.0);
    }

    #[test]
    fn time_labels_and_ticks() {
        assert_eq!(format_ago(0.2), "now");
        assert_eq!(format_ago(45.0), "-45 s");
        assert_eq!(format_ago(150.0), "-2:30");
        for span in TIMELINE_SPANS_S {
            let n = span / tick_step(span);
            assert!((3.0..=7.0).contains(&n), "span {span}: {n} ticks");
        }
    }

    #[test]
    fn window_size_is_part_of_the_saved_state() {
        use nice_plug::prelude::Params;
        let params = GenrescopeParams::default();
        *params.editor_size.write().unwrap() = Some((900.0, 640.0));
        let fields = params.serialize_fields();
        assert!(fields.contains_key("editor-size"), "{fields:?}");
        let restored = GenrescopeParams::default();
        restored.deserialize_fields(&fields);
        assert_eq!(*restored.editor_size.read().unwrap(), Some((900.0, 640.0)));
    }

    /// A host that takes parameter changes and does nothing with them.
    struct NoHost;

    impl nice_plug::context::gui::GuiContextInner for NoHost {
        fn plugin_api(&self) -> nice_plug::context::PluginApi {
            nice_plug::context::PluginApi::Clap
        }
        unsafe fn raw_begin_set_parameter(&self, _: nice_plug::params::internals::ParamPtr) {}
        unsafe fn raw_set_parameter_normalized(&self, _: nice_plug::params::internals::ParamPtr, _: f32) {}
        unsafe fn raw_end_set_parameter(&self, _: nice_plug::params::internals::ParamPtr) {}
        fn get_state(&self) -> nice_plug::plugin::PluginState {
            nice_plug::plugin::PluginState {
                version: String::new(),
                params: Default::default(),
                fields: Default::default(),
            }
        }
        fn set_state(&self, _: nice_plug::plugin::PluginState) {}
        fn request_restart(&self) {}
    }

    #[test]
    fn layout_fits_the_window_at_default_host_and_minimum_sizes() {
        use crate::params::{EDITOR_MIN_SIZE, EDITOR_SIZE};
        let long = "model /a/very/long/path/that/goes/on/and/on/genrescope-model: this build cannot compute the \
                    features this model needs: front end not supported: unknown variant `cube_root`, expected \
                    `power_to_db` or `log10_one_plus`; audio passes through unanalysed";
        // Ardour 7.3 gives the editor exactly its requested size; a wider host window too.
        for (w, h) in [EDITOR_SIZE, EDITOR_MIN_SIZE, (1000.0, 700.0)] {
            for error in [false, true] {
                let shared = Arc::new(SharedState::default());
                for i in 0..200 {
                    shared.publish(point(i as f64 * 0.5, Some(i % 10), 0.6), -20.0);
                }
                shared.set_model_info(
                    "genrescope-musicnn-gtzan (trunk + 3 members, /a/long/path/to/genrescope-model)".into(),
                );
                if error {
                    shared.set_error(long.into());
                }
                let mut ed = GenrescopeEditor::new(Arc::new(GenrescopeParams::default()), shared);
                // With a (dummy) host, so the sliders are drawn as in a DAW.
                ed.gui = Some(GuiContext::new(Arc::new(NoHost)));
                let ctx = egui::Context::default();
                // Fonts and panel sizes settle over the first frames.
                for _ in 0..4 {
                    let input = egui::RawInput {
                        screen_rect: Some(Rect::from_min_size(pos2(0.0, 0.0), vec2(w, h))),
                        ..Default::default()
                    };
                    let _ = ctx.run_ui(input, |ui| ed.draw(ui));
                }
                let c = ed.content_rect();
                assert!(c.is_positive(), "{w}x{h}: nothing laid out");
                assert!(
                    c.max.x <= w + 0.5 && c.max.y <= h + 0.5,
                    "{w}x{h} (error shown: {error}): content reaches {:?}",
                    c.max
                );
            }
        }
    }

    #[test]
    fn model_info_splits_into_name_and_folder() {
        assert_eq!(
            split_model_info("m (trunk + 3 members, /x/genrescope-model)"),
            ("m (trunk + 3 members)".to_string(), "/x/genrescope-model")
        );
        assert_eq!(split_model_info("m"), ("m".to_string(), ""));
    }

    #[test]
    fn editor_can_be_created_without_a_display() {
        // Only opening a window needs a display; the plugin's editor() just builds this.
        let editor = create(Arc::new(GenrescopeParams::default()), Arc::new(SharedState::default()));
        assert!(editor.is_some());
    }
}
