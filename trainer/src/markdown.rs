//! Markdown pieces of the reports: accuracies with their counts, per-genre scores, confusion.
use crate::metrics::Evaluation;
use genrescope_core::labels::GENRES;

/// `"77.5% (62/80)"`.
pub fn acc(e: &Evaluation) -> String {
    format!("{:.1}% ({}/{})", 100.0 * e.accuracy, e.correct, e.count)
}

/// `"62.7%"`.
pub fn pct(x: f32) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// Per-genre precision, recall, F1 and support.
pub fn per_class_table(e: &Evaluation) -> String {
    let mut s = String::from("| genre | precision | recall | F1 | support |\n|---|---|---|---|---|\n");
    for c in &e.per_class {
        s += &format!("| {} | {:.2} | {:.2} | {:.2} | {} |\n", c.genre, c.precision, c.recall, c.f1, c.support);
    }
    s
}

/// Rows = true genre, columns = predicted (names cut to 5 characters; an 11th column `other`
/// for verdicts that can be out-of-set).
pub fn confusion_table(e: &Evaluation) -> String {
    let cols = e.confusion.first().map_or(GENRES.len(), Vec::len);
    let mut s = String::from("| true \\ predicted |");
    for g in GENRES.iter().chain(["other"].iter()).take(cols) {
        s += &format!(" {} |", &g[..g.len().min(5)]);
    }
    s += "\n|---|";
    s += &"---|".repeat(cols);
    s += "\n";
    for (t, row) in e.confusion.iter().enumerate() {
        s += &format!("| {} |", GENRES[t]);
        for c in row {
            s += &format!(" {c} |");
        }
        s += "\n";
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::evaluate;

    #[test]
    fn tables_carry_the_counts() {
        let p = |g: usize| {
            let mut v = [0.0; crate::data::NUM_CLASSES];
            v[g] = 1.0;
            v
        };
        // Two blues clips, one called jazz.
        let e = evaluate(&[p(0), p(5)], &[0, 0]);
        assert_eq!(acc(&e), "50.0% (1/2)");
        assert_eq!(pct(e.balanced_accuracy), "50.0%");
        let conf = confusion_table(&e);
        assert!(conf.lines().nth(2).unwrap().starts_with("| blues | 1 | 0 | 0 | 0 | 0 | 1 |"), "{conf}");
        assert!(per_class_table(&e).contains("| blues | 1.00 | 0.50 | 0.67 | 2 |"));
    }
}
