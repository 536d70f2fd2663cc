//! Replays every fuzz input kept in the repository (`fuzz/corpus/<target>/`: seeds and what the
//! fuzzer found interesting; `fuzz/regressions/<target>/`: inputs that crashed before a fix)
//! through the targets' entry functions, as a normal test: no libFuzzer, no nightly.
use std::path::Path;

#[test]
fn every_kept_fuzz_input_runs_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (target, entry) in genrescope_fuzz::TARGETS {
        let mut files = Vec::new();
        for kind in ["corpus", "regressions"] {
            let Ok(dir) = std::fs::read_dir(root.join(kind).join(target)) else { continue };
            files.extend(dir.map(|e| e.unwrap().path()).filter(|p| p.is_file()));
        }
        files.sort();
        assert!(!files.is_empty(), "no corpus for fuzz target {target}");
        for f in &files {
            let data = std::fs::read(f).unwrap();
            // A panic names the file: replay it alone with `cargo fuzz run <target> <file>`.
            eprintln!("{target}: {}", f.display());
            entry(&data);
        }
        println!("{target}: {} inputs", files.len());
    }
}
