//! PNG timeline: stacked smoothed genre probabilities over time (and the out-of-set class, grey,
//! on top, for a model with one), with a legend; and the library's genre distribution as bars
//! (`stats --plot`).
//!
//! Text is rasterised here with ab_glyph from a font compiled into the binary, so the plot does
//! not depend on fontconfig or on any font being installed.
use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};
use anyhow::{anyhow, Result};
use genrescope_core::labels::{GENRES, GENRE_RGB, NUM_GENRES, OTHER_RGB};
use genrescope_engine::Prediction;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

const WIDTH: u32 = 1200;
const HEIGHT: u32 = 600;
const LEFT: i32 = 70;
const RIGHT: i32 = 200;
const TOP: i32 = 60;
const BOTTOM: i32 = 50;

/// One colour per genre, in label order (core's palette, shared with the editor).
const COLORS: [RGBColor; NUM_GENRES] = {
    let mut c = [RGBColor(0, 0, 0); NUM_GENRES];
    let mut i = 0;
    while i < NUM_GENRES {
        let [r, g, b] = GENRE_RGB[i];
        c[i] = RGBColor(r, g, b);
        i += 1;
    }
    c
};

/// The out-of-set class's band (core's palette).
const OTHER_COLOR: RGBColor = RGBColor(OTHER_RGB[0], OTHER_RGB[1], OTHER_RGB[2]);

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// The out-of-set class of a model that has one: its threshold, and the file's mean
/// probability (`None` when every window was gated).
#[derive(Clone, Copy, Debug)]
pub struct OtherBand {
    pub threshold: f32,
    pub verdict: Option<f32>,
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("{e}")
}

pub fn draw_timeline(
    out: &Path,
    title: &str,
    duration_s: f64,
    predictions: &[Prediction],
    verdict: Option<&[f32; NUM_GENRES]>,
    other: Option<OtherBand>,
) -> Result<()> {
    let text = Text::new()?;
    let root = BitMapBackend::new(out, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let x_max = predictions.last().map_or(0.0, |p| p.time_s).max(duration_s).max(1e-3);
    let mut chart = ChartBuilder::on(&root)
        .margin_left(LEFT)
        .margin_right(RIGHT)
        .margin_top(TOP)
        .margin_bottom(BOTTOM)
        .build_cartesian_2d(0f64..x_max, 0f64..1f64)
        .map_err(err)?;

    // Stacked bands: genre g spans [sum of genres < g, sum of genres <= g] at each prediction.
    let mut lower = vec![0f64; predictions.len()];
    for (g, color) in COLORS.iter().enumerate() {
        let upper: Vec<f64> = lower.iter().zip(predictions).map(|(l, p)| l + p.smoothed[g].max(0.0) as f64).collect();
        if predictions.len() >= 2 {
            let mut poly: Vec<(f64, f64)> =
                predictions.iter().zip(&upper).map(|(p, &u)| (p.time_s, u.min(1.0))).collect();
            poly.extend(predictions.iter().zip(&lower).rev().map(|(p, &l)| (p.time_s, l.min(1.0))));
            chart.draw_series(std::iter::once(Polygon::new(poly, color.filled()))).map_err(err)?;
        }
        lower = upper;
    }
    if let Some(band) = other {
        // Out of set on top of the genres (together they sum to 1): the band reaches below the
        // dashed line where "other / unsure" is claimed.
        if predictions.len() >= 2 {
            let mut poly: Vec<(f64, f64)> = predictions
                .iter()
                .zip(&lower)
                .map(|(p, &l)| (p.time_s, (l + p.smoothed_other.max(0.0) as f64).min(1.0)))
                .collect();
            poly.extend(predictions.iter().zip(&lower).rev().map(|(p, &l)| (p.time_s, l.min(1.0))));
            chart.draw_series(std::iter::once(Polygon::new(poly, OTHER_COLOR.filled()))).map_err(err)?;
        }
        let y = 1.0 - band.threshold as f64;
        let dashes = (0..200).map(|i| i as f64 / 200.0 * x_max).step_by(2);
        let dash_len = x_max / 200.0;
        chart
            .draw_series(dashes.map(|x| PathElement::new(vec![(x, y), (x + dash_len, y)], BLACK.stroke_width(1))))
            .map_err(err)?;
    }

    let grid = RGBColor(0, 0, 0).mix(0.15);
    let step = time_step(x_max);
    let ticks: Vec<f64> = (0..).map(|i| i as f64 * step).take_while(|&t| t <= x_max + 1e-9).collect();
    chart.draw_series(ticks.iter().map(|&t| PathElement::new(vec![(t, 0.0), (t, 1.0)], grid))).map_err(err)?;
    let y_ticks = [0.0, 0.25, 0.5, 0.75, 1.0];
    chart.draw_series(y_ticks.iter().map(|&y| PathElement::new(vec![(0.0, y), (x_max, y)], grid))).map_err(err)?;
    chart
        .draw_series(std::iter::once(Rectangle::new([(0.0, 0.0), (x_max, 1.0)], BLACK.stroke_width(1))))
        .map_err(err)?;

    // Labels, in pixel coordinates of the whole image.
    text.draw(&root, title, (LEFT, 14), 20.0, &BLACK, Align::Left)?;
    let subtitle = match other {
        None => "smoothed ensemble probabilities, stacked (blank: below the level gate)".to_string(),
        Some(b) => format!(
            "smoothed ensemble probabilities, stacked, out of set on top (grey; \"other\" below the dashed line, \
             threshold {:.0}%); blank: below the level gate",
            b.threshold * 100.0
        ),
    };
    text.draw(&root, &subtitle, (LEFT, 38), 13.0, &RGBColor(90, 90, 90), Align::Left)?;
    for &y in &y_ticks {
        let (px, py) = chart.backend_coord(&(0.0, y));
        text.draw(&root, &format!("{:.0}%", y * 100.0), (px - 8, py - 7), 13.0, &BLACK, Align::Right)?;
    }
    for &t in &ticks {
        let (px, py) = chart.backend_coord(&(t, 0.0));
        text.draw(&root, &mmss(t), (px, py + 8), 13.0, &BLACK, Align::Center)?;
    }
    let (px, py) = chart.backend_coord(&(x_max, 0.0));
    text.draw(&root, "time", (px, py + 28), 13.0, &RGBColor(90, 90, 90), Align::Right)?;

    // Legend, top genre first (like the stack, bottom = first label).
    let legend_x = WIDTH as i32 - RIGHT + 20;
    text.draw(
        &root,
        if verdict.is_some() { "genre   (whole file)" } else { "genre" },
        (legend_x, TOP),
        13.0,
        &RGBColor(90, 90, 90),
        Align::Left,
    )?;
    // With the out-of-set band, its row comes first: it sits on top of the stack.
    let first_genre_row = usize::from(other.is_some());
    for (row, g) in (0..NUM_GENRES).rev().enumerate() {
        let y = TOP + 24 + (row + first_genre_row) as i32 * 24;
        root.draw(&Rectangle::new([(legend_x, y), (legend_x + 14, y + 14)], COLORS[g].filled())).map_err(err)?;
        let label = match verdict {
            Some(v) => format!("{:<9} {:>5.1}%", GENRES[g], v[g] * 100.0),
            None => GENRES[g].to_string(),
        };
        text.draw(&root, &label, (legend_x + 22, y), 14.0, &BLACK, Align::Left)?;
    }
    if let Some(band) = other {
        let y = TOP + 24;
        root.draw(&Rectangle::new([(legend_x, y), (legend_x + 14, y + 14)], OTHER_COLOR.filled())).map_err(err)?;
        let label = match band.verdict {
            Some(v) => format!("{:<9} {:>5.1}%", "other", v * 100.0),
            None => "other".to_string(),
        };
        text.draw(&root, &label, (legend_x + 22, y), 14.0, &BLACK, Align::Left)?;
    }
    if predictions.is_empty() {
        let (cx, cy) = chart.backend_coord(&(x_max / 2.0, 0.5));
        text.draw(&root, "no predictions (file shorter than one window)", (cx, cy), 16.0, &BLACK, Align::Center)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

/// Horizontal bars: tracks per top genre, in the genre colours, with counts and shares; with
/// `other` (tracks judged "other / unsure"; only when there are any), a grey eleventh bar, and the
/// shares are of all tracks with a verdict.
pub fn draw_genre_bars(out: &Path, title: &str, counts: &[i64], other: i64) -> Result<()> {
    const W: u32 = 900;
    const LABEL_W: i32 = 110;
    const ROW: i32 = 34;
    let rows: Vec<(&str, i64, RGBColor)> = counts
        .iter()
        .take(NUM_GENRES)
        .enumerate()
        .map(|(g, &n)| (GENRES[g], n, COLORS[g]))
        .chain((other > 0).then_some(("other", other, OTHER_COLOR)))
        .collect();
    // 420 px for the ten genres, as before; a row more for "other".
    let h = 420 + if other > 0 { ROW as u32 } else { 0 };
    let text = Text::new()?;
    let root = BitMapBackend::new(out, (W, h)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    text.draw(&root, title, (20, 14), 20.0, &BLACK, Align::Left)?;
    let total: i64 = rows.iter().map(|r| r.1).sum();
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    let x0 = 20 + LABEL_W;
    let bar_w = W as i32 - x0 - 150;
    for (i, &(label, n, colour)) in rows.iter().enumerate() {
        let y = 56 + i as i32 * ROW;
        text.draw(&root, label, (x0 - 10, y + 6), 15.0, &BLACK, Align::Right)?;
        let len = (n as f64 / max as f64 * bar_w as f64).round() as i32;
        if len > 0 {
            root.draw(&Rectangle::new([(x0, y), (x0 + len, y + ROW - 8)], colour.filled())).map_err(err)?;
        }
        let share = if total > 0 { n as f64 / total as f64 * 100.0 } else { 0.0 };
        text.draw(&root, &format!("{n}  ({share:.1}%)"), (x0 + len + 8, y + 6), 14.0, &BLACK, Align::Left)?;
    }
    if total == 0 {
        text.draw(&root, "no track has a verdict yet", (W as i32 / 2, h as i32 / 2), 16.0, &BLACK, Align::Center)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

/// Tick spacing giving at most ~10 ticks.
fn time_step(x_max: f64) -> f64 {
    [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0]
        .into_iter()
        .find(|s| x_max / s <= 10.0)
        .unwrap_or(7200.0)
}

fn mmss(t: f64) -> String {
    let s = t.round() as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

#[derive(Clone, Copy)]
enum Align {
    Left,
    Center,
    Right,
}

/// Minimal text renderer: Hack (MIT/Bitstream Vera licence), shipped inside egui's font crate.
struct Text {
    font: FontRef<'static>,
}

impl Text {
    fn new() -> Result<Self> {
        let font = FontRef::try_from_slice(epaint_default_fonts::HACK_REGULAR).map_err(err)?;
        Ok(Self { font })
    }

    fn width(&self, s: &str, size: f32) -> f32 {
        let sf = self.font.as_scaled(PxScale::from(size));
        let mut prev = None;
        let mut w = 0.0;
        for c in s.chars() {
            let id = sf.glyph_id(c);
            if let Some(p) = prev {
                w += sf.kern(p, id);
            }
            w += sf.h_advance(id);
            prev = Some(id);
        }
        w
    }

    /// Draws `s` with its top at `pos.1`, anchored at `pos.0` according to `align`.
    fn draw(&self, area: &Area, s: &str, pos: (i32, i32), size: f32, color: &RGBColor, align: Align) -> Result<()> {
        let sf = self.font.as_scaled(PxScale::from(size));
        let x0 = match align {
            Align::Left => pos.0 as f32,
            Align::Center => pos.0 as f32 - self.width(s, size) / 2.0,
            Align::Right => pos.0 as f32 - self.width(s, size),
        };
        let baseline = pos.1 as f32 + sf.ascent();
        let mut caret = x0;
        let mut prev = None;
        let mut result = Ok(());
        for c in s.chars() {
            let id = sf.glyph_id(c);
            if let Some(p) = prev {
                caret += sf.kern(p, id);
            }
            let glyph = id.with_scale_and_position(size, point(caret, baseline));
            caret += sf.h_advance(id);
            prev = Some(id);
            if let Some(outline) = self.font.outline_glyph(glyph) {
                let b = outline.px_bounds();
                outline.draw(|gx, gy, coverage| {
                    if result.is_ok() && coverage > 0.0 {
                        let at = (b.min.x as i32 + gx as i32, b.min.y as i32 + gy as i32);
                        result = area.draw_pixel(at, &color.mix(coverage.min(1.0) as f64));
                    }
                });
                result.as_ref().map_err(err)?;
            }
        }
        Ok(())
    }
}
