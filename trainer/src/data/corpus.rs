//! GTZAN-layout corpora: the clips of a folder and their track-level split.
//!
//! Layout: `<root>/<genre>/<genre>.000NN.{wav,au,ogg,mp3,flac}`, optional
//! `<root>/splits/{train,valid}.txt` (one `genre/genre.000NN.ext` per line; matched on the
//! name without extension, so the lists work for any encoding of the collection).
use anyhow::Context;
use genrescope_core::audio_file::has_audio_extension;
use genrescope_core::labels::{genre_index, GENRES, NUM_GENRES};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct Clip {
    pub path: PathBuf,
    /// `genre/genre.000NN` (no extension): the track identity used by splits.
    pub id: String,
    pub label: usize,
}

/// Lists every audio clip of a GTZAN-layout folder, sorted by id.
pub fn scan(root: &Path) -> anyhow::Result<Vec<Clip>> {
    let mut clips = Vec::new();
    for genre in GENRES {
        let dir = root.join(genre);
        if !dir.is_dir() {
            continue;
        }
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("").to_string();
            let label = stem.split('.').next().and_then(genre_index);
            if let Some(label) = label.filter(|_| has_audio_extension(&path)) {
                clips.push(Clip { id: format!("{genre}/{stem}"), path, label });
            }
        }
    }
    anyhow::ensure!(!clips.is_empty(), "no audio clips in GTZAN layout under {}", root.display());
    clips.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(clips)
}

/// Track-level split: indices into the clip list. Segments of one track never cross splits.
#[derive(Clone, Debug)]
pub struct Split {
    pub train: Vec<usize>,
    pub valid: Vec<usize>,
    /// Where the split came from, for reports.
    pub source: String,
}

fn list_ids(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| l.rsplit_once('.').map(|(s, _)| s).unwrap_or(l).to_string())
        .collect())
}

/// `splits/train.txt` + `splits/valid.txt` when both exist, else a seeded stratified split
/// with `valid_fraction` of each genre's tracks in validation.
pub fn split(root: &Path, clips: &[Clip], valid_fraction: f64, seed: u64) -> anyhow::Result<Split> {
    let (tr, va) = (root.join("splits/train.txt"), root.join("splits/valid.txt"));
    if tr.is_file() && va.is_file() {
        let index: HashMap<&str, usize> = clips.iter().enumerate().map(|(i, c)| (c.id.as_str(), i)).collect();
        let pick = |ids: Vec<String>| ids.iter().filter_map(|id| index.get(id.as_str()).copied()).collect::<Vec<_>>();
        let (train, valid) = (pick(list_ids(&tr)?), pick(list_ids(&va)?));
        return Ok(Split { train, valid, source: format!("{} and {}", tr.display(), va.display()) });
    }
    Ok(stratified_split(clips, valid_fraction, seed))
}

/// A seeded split of `clips`, stratified by genre: `valid_fraction` of each genre's tracks in valid.
pub fn stratified_split(clips: &[Clip], valid_fraction: f64, seed: u64) -> Split {
    let labels: Vec<usize> = clips.iter().map(|c| c.label).collect();
    let (train, valid) = stratified(&labels, valid_fraction, seed);
    Split { train, valid, source: format!("seeded stratified split (seed {seed}, valid fraction {valid_fraction})") }
}

/// Splits indices into `labels` per class: a shuffled `fraction` of each class (at least one
/// item left on the first side) goes to the second side. Returns `(kept, held_out)`, each sorted.
pub fn stratified(labels: &[usize], fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut kept, mut held_out) = (Vec::new(), Vec::new());
    // Every label present, out-of-set (`NUM_GENRES`) included.
    let classes = labels.iter().max().map_or(0, |&m| m + 1).max(NUM_GENRES);
    for g in 0..classes {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == g).collect();
        idx.shuffle(&mut rng);
        let n = ((idx.len() as f64 * fraction).round() as usize).min(idx.len().saturating_sub(1));
        held_out.extend_from_slice(&idx[..n]);
        kept.extend_from_slice(&idx[n..]);
    }
    kept.sort_unstable();
    held_out.sort_unstable();
    (kept, held_out)
}

/// `n_per` clips per genre with made-up paths (for tests).
#[cfg(test)]
pub(crate) fn test_clips(n_per: usize) -> Vec<Clip> {
    (0..NUM_GENRES)
        .flat_map(|g| {
            (0..n_per).map(move |i| Clip {
                path: PathBuf::from(format!("{}/{}.{i:05}.wav", GENRES[g], GENRES[g])),
                id: format!("{}/{}.{i:05}", GENRES[g], GENRES[g]),
                label: g,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stratified_split_is_by_track_seeded_and_disjoint() {
        let c = test_clips(10);
        let a = stratified_split(&c, 0.2, 7);
        let b = stratified_split(&c, 0.2, 7);
        assert_eq!(a.train, b.train);
        assert_eq!(a.valid.len(), 20);
        assert!(a.train.iter().all(|t| !a.valid.contains(t)));
        for g in 0..NUM_GENRES {
            assert_eq!(a.valid.iter().filter(|&&i| c[i].label == g).count(), 2);
        }
        assert_ne!(stratified_split(&c, 0.2, 8).valid, a.valid, "another seed, another split");
    }

    #[test]
    fn split_lists_are_matched_without_extension() {
        let root = std::env::temp_dir().join(format!("gs-corpus-{}", std::process::id()));
        std::fs::create_dir_all(root.join("splits")).unwrap();
        std::fs::write(root.join("splits/train.txt"), "blues/blues.00000.wav\nblues/blues.00001.au\n").unwrap();
        std::fs::write(root.join("splits/valid.txt"), "jazz/jazz.00000.mp3\n\nnot/listed.00009.wav\n").unwrap();
        let c = test_clips(2);
        let s = split(&root, &c, 0.2, 1).unwrap();
        let ids = |v: &[usize]| v.iter().map(|&i| c[i].id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&s.train), ["blues/blues.00000", "blues/blues.00001"]);
        assert_eq!(ids(&s.valid), ["jazz/jazz.00000"]);
        let _ = std::fs::remove_dir_all(&root);
    }
}
