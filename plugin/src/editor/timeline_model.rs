//! The history timeline as plain data: which stretches of stream time show which genre (or
//! "other / unsure", or nothing), the curve of the claimed class's probability, the time axis and
//! the hover text. No drawing types: the widget
//! ([`super::timeline`]) maps stream seconds to pixels with [`TimelineModel::ago_fraction`].
use genrescope_core::labels::{GENRES, NUM_GENRES};
use genrescope_engine::{Claim, HistoryPoint, SharedState};

/// Timeline spans to choose from, in seconds.
pub const SPANS_S: [f64; 3] = [60.0, 180.0, 600.0];
/// Points further apart than this are drawn with a gap between them (no audio came in).
pub const MAX_GAP_S: f64 = 5.0;

/// A stretch of the timeline with one claim: a genre, "other / unsure", or nothing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Segment {
    pub start_s: f64,
    pub end_s: f64,
    pub claim: Claim,
}

/// A polyline of the claimed class's probability (a genre's, or the out-of-set probability
/// while the claim is "other"), drawn in that class's colour.
#[derive(Clone, Debug, PartialEq)]
pub struct LineRun {
    /// [`Claim::Genre`] or [`Claim::Other`].
    pub claim: Claim,
    /// (stream time s, probability)
    pub points: Vec<(f64, f32)>,
}

/// Where a tick's label sits relative to its tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelSide {
    /// Left of the tick (the "now" tick at the right edge).
    Before,
    Centred,
    /// Right of the tick (the oldest tick at the left edge).
    After,
}

/// A time-axis tick: seconds before now, its label, where the label goes.
#[derive(Clone, Debug, PartialEq)]
pub struct Tick {
    pub ago_s: f64,
    pub label: String,
    pub side: LabelSide,
}

/// One frame's timeline: the visible history (oldest first) over the last `span_s` seconds,
/// ending at the newest point.
#[derive(Clone, Copy, Debug)]
pub struct TimelineModel<'a> {
    points: &'a [HistoryPoint],
    span_s: f64,
    now_s: f64,
}

impl<'a> TimelineModel<'a> {
    pub fn new(points: &'a [HistoryPoint], span_s: f64) -> Self {
        let now_s = points.last().map_or(0.0, |p| p.time_s);
        Self { points, span_s, now_s }
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// How far back from the right edge stream time `t` lies, in widths (0 = now, 1 = left edge).
    pub fn ago_fraction(&self, t: f64) -> f32 {
        ((self.now_s - t) / self.span_s) as f32
    }

    /// Ticks from now back to the span's start, about six; edge labels sit inside the plot so
    /// they are not clipped.
    pub fn ticks(&self) -> Vec<Tick> {
        let tick = tick_step(self.span_s);
        let mut out = Vec::new();
        let mut ago = 0.0;
        while ago <= self.span_s {
            let side = match ago {
                0.0 => LabelSide::Before,
                a if a + tick > self.span_s => LabelSide::After,
                _ => LabelSide::Centred,
            };
            out.push(Tick { ago_s: ago, label: format_ago(ago), side });
            ago += tick;
        }
        out
    }

    /// The genre strips that reach into the span (older ones lie left of the plot).
    pub fn segments(&self) -> Vec<Segment> {
        let mut segs = timeline_segments(self.points, MAX_GAP_S);
        segs.retain(|s| self.now_s - s.end_s < self.span_s);
        segs
    }

    /// The claimed class's probability, split by claim.
    pub fn runs(&self) -> Vec<LineRun> {
        top_prob_runs(self.points, MAX_GAP_S)
    }

    /// What was on top at `ago_fraction` widths back from the right edge: the first point at
    /// or after that moment.
    pub fn hover_text(&self, ago_fraction: f64) -> Option<String> {
        let t = self.now_s - ago_fraction * self.span_s;
        let p = self.points.iter().find(|p| p.time_s >= t)?;
        let ago = format_ago(self.now_s - p.time_s);
        Some(match p.claim {
            Claim::Genre(g) if g < NUM_GENRES => format!("{} {:.0} % ({ago} ago)", GENRES[g], 100.0 * p.probs[g]),
            Claim::Other => format!("other / unsure {:.0} % ({ago} ago)", 100.0 * p.other),
            _ => format!("no genre ({ago} ago)"),
        })
    }
}

/// Copies the history points of the last `span_s` seconds (by stream time) into `out`, so the
/// history's mutex is held only for the copy.
pub fn copy_visible_history(shared: &SharedState, span_s: f64, out: &mut Vec<HistoryPoint>) {
    out.clear();
    let Ok(history) = shared.history.lock() else {
        return;
    };
    let Some(last) = history.back() else { return };
    let from = last.time_s - span_s;
    let skip = history.iter().rev().take_while(|p| p.time_s >= from).count();
    out.extend(history.iter().skip(history.len() - skip).copied());
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
/// with the same claim merge, and points more than `max_gap_s` apart leave a gap.
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
            Some(last) if last.claim == p.claim && last.end_s == start => last.end_s = p.time_s,
            _ => out.push(Segment { start_s: start, end_s: p.time_s, claim: p.claim }),
        }
        prev = Some(p.time_s);
    }
    out
}

/// Splits the curve of the claimed class's probability into runs by claim. A run that follows
/// another without a gap starts at the previous point, so the curve stays continuous across
/// changes; silence breaks it.
pub fn top_prob_runs(points: &[HistoryPoint], max_gap_s: f64) -> Vec<LineRun> {
    let points = &points[continuous_start(points)..];
    let mut out: Vec<LineRun> = Vec::new();
    let mut prev: Option<(f64, f32, Claim)> = None;
    for p in points.iter().filter(|p| p.time_s.is_finite()) {
        let value = match p.claim {
            Claim::Genre(g) if g < NUM_GENRES => p.probs[g],
            Claim::Other => p.other,
            _ => {
                prev = None;
                continue;
            }
        };
        let here = (p.time_s, value);
        match (prev, out.last_mut()) {
            (Some((t, _, pc)), Some(run)) if pc == p.claim && p.time_s - t <= max_gap_s => run.points.push(here),
            (Some((t, pv, _)), _) if p.time_s - t <= max_gap_s => {
                out.push(LineRun { claim: p.claim, points: vec![(t, pv), here] })
            }
            _ => out.push(LineRun { claim: p.claim, points: vec![here] }),
        }
        prev = Some((p.time_s, value, p.claim));
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
    use Claim::{Genre, Nothing, Other};

    fn point(t: f64, top: Option<usize>, p: f32) -> HistoryPoint {
        let mut probs = [0.0; NUM_GENRES];
        if let Some(g) = top {
            probs[g] = p;
        }
        HistoryPoint { time_s: t, probs, other: 0.0, claim: top.map_or(Nothing, Genre) }
    }

    /// "Other / unsure" with out-of-set probability `p` (the genres share the rest).
    fn other_point(t: f64, p: f32) -> HistoryPoint {
        HistoryPoint { time_s: t, probs: [(1.0 - p) / NUM_GENRES as f32; NUM_GENRES], other: p, claim: Other }
    }

    /// `secs` of predictions every 0.5 s from t = 0.5, all with genre `top`.
    fn steady(secs: f64, top: Option<usize>) -> Vec<HistoryPoint> {
        (1..=(secs * 2.0) as usize).map(|i| point(i as f64 * 0.5, top, 0.7)).collect()
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
                Segment { start_s: 9.5, end_s: 10.5, claim: Genre(9) },
                Segment { start_s: 10.5, end_s: 11.0, claim: Genre(6) },
                Segment { start_s: 11.0, end_s: 12.0, claim: Nothing },
                Segment { start_s: 31.5, end_s: 32.5, claim: Genre(9) },
            ]
        );
        assert!(timeline_segments(&[], MAX_GAP_S).is_empty());
    }

    #[test]
    fn other_stretches_are_their_own_strips_apart_from_genres_and_silence() {
        let pts = [
            point(1.0, Some(5), 0.6),
            other_point(1.5, 0.55),
            other_point(2.0, 0.8),
            point(2.5, None, 0.0),
            other_point(3.0, 0.7),
            point(3.5, Some(5), 0.6),
        ];
        assert_eq!(
            timeline_segments(&pts, MAX_GAP_S),
            vec![
                Segment { start_s: 0.5, end_s: 1.0, claim: Genre(5) },
                Segment { start_s: 1.0, end_s: 2.0, claim: Other },
                Segment { start_s: 2.0, end_s: 2.5, claim: Nothing },
                Segment { start_s: 2.5, end_s: 3.0, claim: Other },
                Segment { start_s: 3.0, end_s: 3.5, claim: Genre(5) },
            ]
        );
        // The curve follows the out-of-set probability while "other" is claimed, joined to the
        // genre before it, and broken by silence like a genre's.
        assert_eq!(
            top_prob_runs(&pts, MAX_GAP_S),
            vec![
                LineRun { claim: Genre(5), points: vec![(1.0, 0.6)] },
                LineRun { claim: Other, points: vec![(1.0, 0.6), (1.5, 0.55), (2.0, 0.8)] },
                LineRun { claim: Other, points: vec![(3.0, 0.7)] },
                LineRun { claim: Genre(5), points: vec![(3.0, 0.7), (3.5, 0.6)] },
            ]
        );
        let m = TimelineModel::new(&pts, 60.0);
        assert_eq!(m.hover_text(1.6 / 60.0).as_deref(), Some("other / unsure 80 % (-2 s ago)"));
        assert_eq!(m.hover_text(1.1 / 60.0).as_deref(), Some("no genre (-1 s ago)"));
        assert_eq!(m.hover_text(0.0).as_deref(), Some("jazz 60 % (now ago)"));
        // At every span the other stretch is there.
        let mut long = steady(40.0, Some(1));
        long.extend((0..40).map(|i| other_point(40.5 + i as f64 * 0.5, 0.9)));
        for span in SPANS_S {
            let claims: Vec<Claim> = TimelineModel::new(&long, span).segments().iter().map(|s| s.claim).collect();
            assert_eq!(claims, vec![Genre(1), Other], "span {span}");
        }
    }

    #[test]
    fn a_lone_point_covers_the_typical_spacing() {
        // Two seconds apart (within the gap limit): the first point gets the typical 2 s too.
        let segs = timeline_segments(&[point(10.0, Some(1), 0.5), point(12.0, Some(2), 0.5)], MAX_GAP_S);
        assert_eq!(
            segs,
            vec![
                Segment { start_s: 8.0, end_s: 10.0, claim: Genre(1) },
                Segment { start_s: 10.0, end_s: 12.0, claim: Genre(2) }
            ]
        );
        // No spacing to go by: half a second, the plugin's default hop.
        assert_eq!(
            timeline_segments(&[point(3.0, None, 0.0)], MAX_GAP_S),
            vec![Segment { start_s: 2.5, end_s: 3.0, claim: Nothing }]
        );
    }

    #[test]
    fn segments_restart_after_time_goes_backwards() {
        let pts = [point(100.0, Some(1), 0.5), point(100.5, Some(1), 0.5), point(1.0, Some(2), 0.5)];
        let segs = timeline_segments(&pts, MAX_GAP_S);
        assert_eq!(segs.len(), 1);
        assert_eq!(segs[0].claim, Genre(2));
        assert_eq!(top_prob_runs(&pts, MAX_GAP_S).len(), 1);
        // A NaN time breaks the stream the same way.
        let pts = [point(5.0, Some(1), 0.5), point(f64::NAN, Some(1), 0.5), point(6.0, Some(3), 0.5)];
        assert_eq!(timeline_segments(&pts, MAX_GAP_S).iter().map(|s| s.claim).collect::<Vec<_>>(), vec![Genre(3)]);
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
                LineRun { claim: Genre(0), points: vec![(0.5, 0.4), (1.0, 0.5)] },
                LineRun { claim: Genre(5), points: vec![(1.0, 0.5), (1.5, 0.6)] },
                LineRun { claim: Genre(5), points: vec![(2.5, 0.7)] },
            ]
        );
        // A gap breaks the line too, even within one genre.
        let gapped = top_prob_runs(&[point(1.0, Some(2), 0.5), point(7.0, Some(2), 0.6)], MAX_GAP_S);
        assert_eq!(gapped.len(), 2);
    }

    #[test]
    fn visible_history_is_the_recent_tail() {
        let shared = SharedState::default();
        let mut out = vec![point(-1.0, None, 0.0)];
        copy_visible_history(&shared, 10.0, &mut out);
        assert!(out.is_empty(), "no history: nothing (and the old copy is gone)");
        for i in 0..100 {
            shared.publish(point(i as f64, Some(0), 0.5), -20.0);
        }
        copy_visible_history(&shared, 10.0, &mut out);
        assert_eq!(out.len(), 11);
        assert_eq!(out[0].time_s, 89.0);
        assert_eq!(out.last().unwrap().time_s, 99.0);
    }

    #[test]
    fn time_labels() {
        assert_eq!(format_ago(0.2), "now");
        assert_eq!(format_ago(-3.0), "now");
        assert_eq!(format_ago(45.0), "-45 s");
        assert_eq!(format_ago(59.6), "-1:00");
        assert_eq!(format_ago(150.0), "-2:30");
        assert_eq!(format_ago(600.0), "-10:00");
    }

    #[test]
    fn each_window_length_gets_a_readable_axis() {
        let pts = steady(30.0, Some(4));
        let axis = |span: f64| -> Vec<(String, LabelSide)> {
            TimelineModel::new(&pts, span).ticks().into_iter().map(|t| (t.label, t.side)).collect()
        };
        use LabelSide::{After, Before, Centred};
        let labels = |v: &[(&str, LabelSide)]| v.iter().map(|&(l, s)| (l.to_owned(), s)).collect::<Vec<_>>();
        assert_eq!(
            axis(SPANS_S[0]),
            labels(&[
                ("now", Before),
                ("-10 s", Centred),
                ("-20 s", Centred),
                ("-30 s", Centred),
                ("-40 s", Centred),
                ("-50 s", Centred),
                ("-1:00", After),
            ])
        );
        assert_eq!(
            axis(SPANS_S[1]),
            labels(&[
                ("now", Before),
                ("-30 s", Centred),
                ("-1:00", Centred),
                ("-1:30", Centred),
                ("-2:00", Centred),
                ("-2:30", Centred),
                ("-3:00", After),
            ])
        );
        assert_eq!(
            axis(SPANS_S[2]),
            labels(&[
                ("now", Before),
                ("-2:00", Centred),
                ("-4:00", Centred),
                ("-6:00", Centred),
                ("-8:00", Centred),
                ("-10:00", After),
            ])
        );
        // Ticks are evenly spaced from the right edge to the left one.
        let model = TimelineModel::new(&pts, 180.0);
        let ticks = model.ticks();
        assert_eq!(ticks.first().unwrap().ago_s, 0.0);
        assert_eq!(ticks.last().unwrap().ago_s, 180.0);
        // Any span gets three to seven intervals between its ticks.
        for span in [20.0, 45.0, 90.0, 400.0, 1200.0] {
            let n = TimelineModel::new(&pts, span).ticks().len();
            assert!((4..=8).contains(&n), "span {span}: {n} ticks");
        }
    }

    #[test]
    fn window_length_decides_what_is_visible() {
        // Three minutes: rock, then 8 s without predictions, then jazz for the last 2 minutes.
        let mut pts = steady(52.0, Some(9));
        pts.extend((0..240).map(|i| point(60.0 + i as f64 * 0.5, Some(5), 0.8)));
        let now = 179.5;
        let tops = |span: f64| TimelineModel::new(&pts, span).segments().iter().map(|s| s.claim).collect::<Vec<_>>();
        // The last minute is all jazz; three and ten minutes show rock, the gap, jazz.
        assert_eq!(tops(60.0), vec![Genre(5)]);
        assert_eq!(tops(180.0), vec![Genre(9), Genre(5)]);
        assert_eq!(tops(600.0), vec![Genre(9), Genre(5)]);
        let segs = TimelineModel::new(&pts, 180.0).segments();
        assert_eq!((segs[0].end_s, segs[1].start_s), (52.0, 59.5), "the silence is a gap, not a strip");

        let m = TimelineModel::new(&pts, 60.0);
        assert_eq!(m.ago_fraction(now), 0.0);
        assert_eq!(m.ago_fraction(now - 60.0), 1.0);
        assert_eq!(m.ago_fraction(now - 30.0), 0.5);
        assert_eq!(TimelineModel::new(&pts, 600.0).ago_fraction(now - 60.0), 0.1);
        // A strip that starts before the window still shows (clipped by the widget).
        let straddling = TimelineModel::new(&pts, 150.0).segments();
        assert!(straddling[0].start_s < now - 150.0 && straddling[0].end_s > now - 150.0, "{straddling:?}");
    }

    #[test]
    fn hover_names_the_genre_on_top_at_that_moment() {
        let mut pts = steady(10.0, Some(9));
        pts.push(point(10.5, None, 0.0));
        pts.push(point(11.0, Some(2), 0.64));
        let m = TimelineModel::new(&pts, 60.0);
        assert_eq!(m.hover_text(0.0).as_deref(), Some("country 64 % (now ago)"));
        assert_eq!(m.hover_text(0.8 / 60.0).as_deref(), Some("no genre (-1 s ago)"));
        assert_eq!(m.hover_text(6.2 / 60.0).as_deref(), Some("rock 70 % (-6 s ago)"));
        // Left of the oldest point: the oldest point.
        assert_eq!(m.hover_text(1.0).as_deref(), Some("rock 70 % (-11 s ago)"));
        assert_eq!(TimelineModel::new(&[], 60.0).hover_text(0.3), None);
    }

    #[test]
    fn no_history_is_an_empty_timeline() {
        let m = TimelineModel::new(&[], 180.0);
        assert!(m.is_empty());
        assert!(m.segments().is_empty() && m.runs().is_empty());
        assert_eq!(m.ticks().len(), 7, "the axis is drawn anyway");
        assert!(!TimelineModel::new(&steady(1.0, None), 180.0).is_empty());
    }
}
