//! Several corpora at once: GTZAN-layout folders and `tracks.csv` collections, each clip labelled
//! with one of the ten genres or as out-of-set (any other label: music that is none of them), and
//! assigned to one of two artist-disjoint folds (A, B) that cross-validation trains and scores on.
//!
//! - GTZAN layout (`<root>/<genre>/<genre>.000NN.ext`): fold A = `splits/train.txt`, B =
//!   `splits/valid.txt` (GTZAN's artist-filtered split); without those lists, a seeded stratified
//!   split by track (GTZAN files carry no artist: say so in reports).
//! - A CSV of labelled files (`tracks.csv` in a folder, or the file itself): columns `file`
//!   (relative to the CSV's folder), `genre`, and optionally `split` (`train` → A, `valid` → B) and
//!   `artist`. Without `split`, artists are dealt to the folds (each artist on one side only);
//!   without `artist`, each file counts as its own artist.
use super::corpus::{scan, split, Clip};
use anyhow::{bail, Context};
use genrescope_core::labels::{genre_index, NUM_GENRES};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Label of out-of-set examples (music that is none of the ten genres, or not music).
pub const OUT_OF_SET: usize = NUM_GENRES;
/// Classes the heads learn: the genres, then out-of-set.
pub const NUM_CLASSES: usize = NUM_GENRES + 1;

/// The two halves cross-validation trains on and scores on, both ways.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Fold {
    A,
    B,
}

/// One labelled clip of a corpus.
#[derive(Clone, Debug)]
pub struct CorpusClip {
    pub clip: Clip,
    /// The corpus's own label (e.g. `electronic` for an out-of-set clip).
    pub original_label: String,
    /// Who plays it: folds never split an artist (for GTZAN, the split's own guarantee).
    pub artist: Option<String>,
    pub fold: Fold,
}

#[derive(Clone, Debug)]
pub struct Corpus {
    /// Short name used in reports (the folder's name).
    pub name: String,
    /// Where the clips and folds came from, for reports.
    pub source: String,
    pub clips: Vec<CorpusClip>,
}

impl Corpus {
    /// Tracks per class (`NUM_CLASSES` counts) in `fold`.
    pub fn per_class(&self, fold: Fold) -> Vec<usize> {
        let mut v = vec![0; NUM_CLASSES];
        self.clips.iter().filter(|c| c.fold == fold).for_each(|c| v[c.clip.label] += 1);
        v
    }

    /// Out-of-set labels and their counts (e.g. `electronic: 81`).
    pub fn out_of_set_labels(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for c in self.clips.iter().filter(|c| c.clip.label == OUT_OF_SET) {
            *m.entry(c.original_label.clone()).or_insert(0) += 1;
        }
        m
    }
}

/// A genre name as corpora write it (`Hip-Hop`, `hip hop`) → its index; anything else → out of set.
pub fn label_of(name: &str) -> usize {
    let squeezed: String = name.chars().filter(|c| c.is_alphanumeric()).collect();
    genre_index(&squeezed).unwrap_or(OUT_OF_SET)
}

/// Reads a corpus from a GTZAN-layout folder, a folder with `tracks.csv`, or a CSV file.
pub fn load_corpus(path: &Path, seed: u64) -> anyhow::Result<Corpus> {
    let csv =
        if path.is_file() { Some(path.to_path_buf()) } else { Some(path.join("tracks.csv")).filter(|p| p.is_file()) };
    let name = {
        let p = if path.is_file() { path.parent().unwrap_or(path) } else { path };
        p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "corpus".into())
    };
    match csv {
        Some(file) => load_csv(&file, name, seed),
        None => load_gtzan_layout(path, name, seed),
    }
}

fn load_gtzan_layout(root: &Path, name: String, seed: u64) -> anyhow::Result<Corpus> {
    let all = scan(root)?;
    let sp = split(root, &all, 0.5, seed)?;
    let mut clips = Vec::new();
    for (fold, idx) in [(Fold::A, &sp.train), (Fold::B, &sp.valid)] {
        for &i in idx {
            let c = &all[i];
            clips.push(CorpusClip {
                clip: Clip { id: format!("{name}:{}", c.id), ..c.clone() },
                original_label: genrescope_core::labels::GENRES[c.label].into(),
                artist: None,
                fold,
            });
        }
    }
    Ok(Corpus { name, source: format!("GTZAN layout {}; folds: {}", root.display(), sp.source), clips })
}

#[derive(Debug, serde::Deserialize)]
struct CsvRow {
    file: String,
    genre: String,
    #[serde(default)]
    split: Option<String>,
    #[serde(default)]
    artist: Option<String>,
}

fn load_csv(file: &Path, name: String, seed: u64) -> anyhow::Result<Corpus> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let mut reader = csv::Reader::from_path(file).with_context(|| format!("reading {}", file.display()))?;
    let mut rows = Vec::new();
    for (line, r) in reader.deserialize::<CsvRow>().enumerate() {
        let r = r.with_context(|| format!("{} row {}", file.display(), line + 2))?;
        let path = dir.join(&r.file);
        let artist = r.artist.filter(|a| !a.trim().is_empty()).map(|a| a.trim().to_string());
        let fold = match r.split.as_deref().map(str::trim) {
            None | Some("") => None,
            Some("train") => Some(Fold::A),
            Some("valid") | Some("validation") => Some(Fold::B),
            // Test material of a corpus is never trained or tuned on.
            Some("test") => continue,
            Some(other) => bail!("{} row {}: split {other:?} is not train/valid/test", file.display(), line + 2),
        };
        rows.push((path, r.file, r.genre, artist, fold));
    }
    anyhow::ensure!(!rows.is_empty(), "{} lists no files", file.display());
    let with_split = rows.iter().filter(|r| r.4.is_some()).count();
    anyhow::ensure!(
        with_split == 0 || with_split == rows.len(),
        "{}: the split column must be filled for every row or for none",
        file.display()
    );
    let dealt = (with_split == 0).then(|| deal_artists(&rows, seed));
    let mut clips = Vec::new();
    for (i, (path, rel, genre, artist, fold)) in rows.into_iter().enumerate() {
        let fold = fold.unwrap_or_else(|| dealt.as_ref().map(|d| d[i]).unwrap_or(Fold::A));
        let id = format!("{name}:{}", rel.rsplit_once('.').map(|(s, _)| s).unwrap_or(&rel));
        clips.push(CorpusClip {
            clip: Clip { path, id, label: label_of(&genre) },
            original_label: genre,
            artist,
            fold,
        });
    }
    check_artists_disjoint(&clips)?;
    let folds = if with_split > 0 { "its split column" } else { "artists dealt to two folds (seeded)" };
    Ok(Corpus { name, source: format!("{}; folds: {folds}", file.display()), clips })
}

/// Deals artists (each file its own artist when the column is missing) to two folds, label by
/// label, to the fold with fewer clips of that label so far; seeded order, deterministic.
/// A CSV row as read: path, file as written, genre, artist, fold from the split column.
type Row = (PathBuf, String, String, Option<String>, Option<Fold>);

fn deal_artists(rows: &[Row], seed: u64) -> Vec<Fold> {
    let key = |i: usize| rows[i].3.clone().unwrap_or_else(|| format!("\u{0}file:{}", rows[i].1));
    // An artist's clips go together; its label is that of its first clip.
    let mut artists: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for i in 0..rows.len() {
        artists.entry(key(i)).or_default().push(i);
    }
    let mut order: Vec<(String, &String)> =
        artists.keys().map(|a| (genrescope_core::sha256_hex(format!("{seed}:{a}").as_bytes()), a)).collect();
    order.sort();
    let mut counts: HashMap<(usize, Fold), usize> = HashMap::new();
    let mut out = vec![Fold::A; rows.len()];
    for (_, a) in order {
        let members = &artists[a];
        let label = label_of(&rows[members[0]].2);
        let (na, nb) =
            (counts.get(&(label, Fold::A)).copied().unwrap_or(0), counts.get(&(label, Fold::B)).copied().unwrap_or(0));
        let fold = if nb < na { Fold::B } else { Fold::A };
        *counts.entry((label, fold)).or_insert(0) += members.len();
        members.iter().for_each(|&i| out[i] = fold);
    }
    out
}

fn check_artists_disjoint(clips: &[CorpusClip]) -> anyhow::Result<()> {
    let mut seen: HashMap<&str, Fold> = HashMap::new();
    for c in clips {
        if let Some(a) = c.artist.as_deref() {
            if let Some(&f) = seen.get(a) {
                if f != c.fold {
                    bail!(
                        "artist {a:?} has clips in both folds ({}): a split must keep each artist on one side",
                        c.clip.id
                    );
                }
            }
            seen.insert(a, c.fold);
        }
    }
    Ok(())
}

/// Every corpus given, in order.
pub fn load_corpora(paths: &[PathBuf], seed: u64) -> anyhow::Result<Vec<Corpus>> {
    anyhow::ensure!(!paths.is_empty(), "no corpus given");
    let mut out: Vec<Corpus> = Vec::new();
    for p in paths {
        let mut c = load_corpus(p, seed).with_context(|| format!("corpus {}", p.display()))?;
        // Two corpora with the same folder name stay apart in reports and clip ids.
        if out.iter().any(|o| o.name == c.name) {
            let n = format!("{}-{}", c.name, out.len() + 1);
            for cc in &mut c.clips {
                cc.clip.id = cc.clip.id.replacen(&format!("{}:", c.name), &format!("{n}:"), 1);
            }
            c.name = n;
        }
        out.push(c);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("gs-corpora-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn labels_map_to_genres_or_out_of_set() {
        assert_eq!(label_of("Hip-Hop"), genre_index("hiphop").unwrap());
        assert_eq!(label_of("hip hop"), genre_index("hiphop").unwrap());
        assert_eq!(label_of("Jazz"), genre_index("jazz").unwrap());
        assert_eq!(label_of("electronic"), OUT_OF_SET);
        assert_eq!(label_of(""), OUT_OF_SET);
    }

    #[test]
    fn csv_with_split_and_artists() {
        let d = tmp("split");
        std::fs::write(
            d.join("tracks.csv"),
            "file,genre,split,artist,title\njazz/a.ogg,jazz,train,X,t\nrock/b.ogg,rock,valid,Y,t\n\
             electronic/c.ogg,electronic,valid,Z,t\njazz/t.ogg,jazz,test,W,t\n",
        )
        .unwrap();
        let c = load_corpus(&d, 1).unwrap();
        assert_eq!(c.clips.len(), 3, "test rows are left out");
        assert_eq!(c.clips[0].fold, Fold::A);
        assert_eq!(c.clips[1].fold, Fold::B);
        assert_eq!(c.clips[2].clip.label, OUT_OF_SET);
        assert_eq!(c.clips[2].original_label, "electronic");
        assert_eq!(c.clips[0].clip.path, d.join("jazz/a.ogg"));
        assert!(c.clips[0].clip.id.ends_with(":jazz/a"));
        assert_eq!(c.out_of_set_labels().get("electronic"), Some(&1));
        // The same file given directly.
        assert_eq!(load_corpus(&d.join("tracks.csv"), 1).unwrap().clips.len(), 3);
    }

    #[test]
    fn an_artist_in_both_folds_is_refused() {
        let d = tmp("leak");
        std::fs::write(d.join("tracks.csv"), "file,genre,split,artist\na.ogg,jazz,train,X\nb.ogg,jazz,valid,X\n")
            .unwrap();
        let e = load_corpus(&d, 1).unwrap_err();
        assert!(format!("{e:#}").contains("both folds"), "{e:#}");
    }

    #[test]
    fn without_split_artists_are_dealt_to_one_side_each() {
        let d = tmp("deal");
        let mut text = String::from("file,genre,artist\n");
        for i in 0..40 {
            text += &format!("f{i}.ogg,{},artist{}\n", ["jazz", "rock", "electronic"][i % 3], i / 2);
        }
        std::fs::write(d.join("tracks.csv"), text).unwrap();
        let c = load_corpus(&d, 3).unwrap();
        let mut fold_of: HashMap<String, Fold> = HashMap::new();
        for cc in &c.clips {
            let a = cc.artist.clone().unwrap();
            assert_eq!(*fold_of.entry(a).or_insert(cc.fold), cc.fold, "an artist on both sides");
        }
        let a = c.clips.iter().filter(|c| c.fold == Fold::A).count();
        assert!((15..=25).contains(&a), "folds roughly even: {a} of 40 in A");
        let again = load_corpus(&d, 3).unwrap();
        assert!(c.clips.iter().zip(&again.clips).all(|(x, y)| x.fold == y.fold), "deterministic for a seed");
    }
}
