//! PNG plots: confusion matrix and training curves (plotters, bitmap backend).
use crate::metrics::Evaluation;
use crate::training::EpochStats;
use genrescope_core::labels::{GENRES, NUM_GENRES};
use plotters::prelude::*;
use std::path::Path;

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow::anyhow!("plot: {e}")
}

/// Rows = true genre, columns = predicted; cell shade = row-normalized count.
pub fn confusion_png(e: &Evaluation, path: &Path, title: &str) -> anyhow::Result<()> {
    let root = BitMapBackend::new(path, (760, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let root = root
        .titled(&format!("{title} (n={}, acc {:.1}%)", e.count, 100.0 * e.accuracy), ("sans-serif", 22))
        .map_err(err)?;
    let (cell, x0, y0) = (56i32, 120i32, 40i32);
    for (t, genre) in GENRES.iter().enumerate() {
        let row_sum: usize = e.confusion[t].iter().sum();
        root.draw(&Text::new(*genre, (10, y0 + t as i32 * cell + cell / 2 - 8), ("sans-serif", 16))).map_err(err)?;
        for p in 0..NUM_GENRES {
            let c = e.confusion[t][p];
            let frac = if row_sum > 0 { c as f64 / row_sum as f64 } else { 0.0 };
            let shade = (255.0 * (1.0 - frac)) as u8;
            let (x, y) = (x0 + p as i32 * cell, y0 + t as i32 * cell);
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], RGBColor(shade, shade, 255).filled()))
                .map_err(err)?;
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], BLACK.stroke_width(1))).map_err(err)?;
            let color = if frac > 0.5 { WHITE } else { BLACK };
            root.draw(&Text::new(
                c.to_string(),
                (x + cell / 2 - 8, y + cell / 2 - 8),
                ("sans-serif", 16).into_font().color(&color),
            ))
            .map_err(err)?;
        }
    }
    for p in 0..NUM_GENRES {
        let x = x0 + p as i32 * cell + 4;
        root.draw(&Text::new(
            &GENRES[p][..GENRES[p].len().min(6)],
            (x, y0 + NUM_GENRES as i32 * cell + 6),
            ("sans-serif", 13),
        ))
        .map_err(err)?;
    }
    root.draw(&Text::new("predicted ->", (x0, y0 + NUM_GENRES as i32 * cell + 26), ("sans-serif", 14))).map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Train loss (solid) and held-out loss (dashed-looking thinner line) per run.
pub fn curves_png(runs: &[(String, Vec<EpochStats>)], path: &Path) -> anyhow::Result<()> {
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let max_epoch = runs.iter().flat_map(|(_, h)| h.iter().map(|s| s.epoch)).max().unwrap_or(1).max(2);
    let max_loss = runs
        .iter()
        .flat_map(|(_, h)| h.iter().flat_map(|s| [Some(s.train_loss), s.valid_loss]))
        .flatten()
        .filter(|v| v.is_finite())
        .fold(0.5f32, f32::max)
        .min(6.0);
    let mut chart = ChartBuilder::on(&root)
        .caption("training curves (solid: train loss, thin: held-out loss)", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(1usize..max_epoch, 0f32..max_loss * 1.05)
        .map_err(err)?;
    chart.configure_mesh().x_desc("epoch").y_desc("cross-entropy").draw().map_err(err)?;
    for (i, (name, h)) in runs.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                h.iter().map(|s| (s.epoch, s.train_loss.min(max_loss))),
                color.stroke_width(2),
            ))
            .map_err(err)?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        let v: Vec<_> = h.iter().filter_map(|s| s.valid_loss.map(|l| (s.epoch, l.min(max_loss)))).collect();
        if !v.is_empty() {
            chart.draw_series(LineSeries::new(v, color.stroke_width(1))).map_err(err)?;
        }
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
