//! The README's "bad input" table is exactly the rows of `genrescope_testkit::bad_input`, and
//! every test a row cites exists, so the table says only what tests assert.
use genrescope_testkit::bad_input::{markdown, BEGIN, END, ROWS};
use std::path::Path;

#[test]
fn readme_bad_input_table_matches_the_rows_and_their_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let section = readme
        .find(BEGIN)
        .and_then(|a| readme[a..].find(END).map(|b| &readme[a..a + b + END.len()]))
        .unwrap_or_else(|| panic!("README.md has no bad-input table; paste this:\n{}", markdown()));
    assert!(
        section == markdown(),
        "README.md's bad-input table differs from testkit/src/bad_input.rs; paste this:\n{}",
        markdown()
    );
    assert_eq!(readme.matches(BEGIN).count(), 1);
    for row in ROWS {
        assert!(!row.tests.is_empty(), "{}: no test asserts it", row.input);
        for t in row.tests {
            let (file, name) = t.split_once("::").unwrap_or_else(|| panic!("{t}: want path.rs::test_fn"));
            let text = std::fs::read_to_string(root.join(file)).unwrap_or_else(|e| panic!("{t}: {e}"));
            let at = text.find(&format!("fn {name}(")).unwrap_or_else(|| panic!("{t}: no such fn"));
            // The `#[test]` attribute within the lines just above (doc comments may sit between).
            let before: Vec<&str> = text[..at].lines().rev().take(12).collect();
            let attr = before.iter().take_while(|l| !l.trim_start().starts_with("fn ")).any(|l| l.trim() == "#[test]");
            assert!(attr, "{t} is not a #[test]");
        }
    }
}
