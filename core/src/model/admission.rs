//! Model admission: the one way a model folder gets in.
//!
//! A model folder is untrusted (downloaded, hand-edited, or made to hurt): nothing is allocated from
//! its numbers, and none of its files is read whole, before it passed every stage, in this order:
//!
//! 1. **read**: `manifest.json` must be a regular file of at most [`limits::MAX_MANIFEST_BYTES`]
//!    (checked before reading; then read through a capped reader);
//! 2. **parse** (serde_json, whose recursion limit turns deep nesting into an error) and
//!    **validate** ([`ModelManifest::validate`]: consistency, front-end hash);
//! 3. **resource limits** ([`check_limits`]: every [`crate::limits`] constant);
//! 4. **files**: every model file a regular file inside the folder (no FIFO that blocks a read
//!    forever, no device that never ends, no symlink loop), their sizes within
//!    [`limits::MAX_MODEL_BYTES`] (from metadata, nothing read yet);
//! 5. **checksums** ([`checksums`]): each file's SHA-256, streamed, against the manifest.
//!
//! [`admit`] runs stages 1–4: it is what the plugin's `activate` (via [`ModelManifest::load`]),
//! the offline engine, and through it the CLI and the library call, and it reads no model file,
//! so activation stays fast. Stage 5 runs where the model is loaded, before any ONNX Runtime
//! session: [`super::Ensemble::from_manifest_until`] re-checks stages 2–3 on the manifest it is given
//! and runs [`checksums`] first (on the plugin's analysis thread).
use super::manifest::{ManifestError, ModelManifest, VerifiedFiles, MANIFEST_FILE};
use crate::limits::{self, Limit, LimitExceeded};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Stages 1–4 for a model folder (or its manifest file): the admitted manifest and its folder.
pub fn admit(path: &Path) -> Result<(ModelManifest, PathBuf), ManifestError> {
    // `metadata` follows symlinks; a loop is an error here (ELOOP), not a folder.
    let meta = std::fs::metadata(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => ManifestError::NotFound(path.to_path_buf()),
        _ => ManifestError::Io { path: path.to_path_buf(), source },
    })?;
    let file = if meta.is_dir() { path.join(MANIFEST_FILE) } else { path.to_path_buf() };
    let bytes = read_capped(&file, limits::MAX_MANIFEST_BYTES).map_err(|e| match e {
        ManifestError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            ManifestError::NotFound(file.clone())
        }
        other => other,
    })?;
    let manifest = admit_json(&bytes).map_err(|e| match e {
        ManifestError::Parse { message, .. } => ManifestError::Parse { path: file.clone(), message },
        other => other,
    })?;
    let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    file_sizes(&manifest, &dir)?;
    Ok((manifest, dir))
}

/// Stages 2–3 on manifest bytes (the fuzz target's entry): size, UTF-8, parse, validate, limits.
pub fn admit_json(bytes: &[u8]) -> Result<ModelManifest, ManifestError> {
    limits::MAX_MANIFEST_BYTES.check(bytes.len() as u64)?;
    let text = std::str::from_utf8(bytes)
        .map_err(|e| ManifestError::Parse { path: PathBuf::new(), message: format!("not UTF-8: {e}") })?;
    let manifest = ModelManifest::parse(text)?;
    check_limits(&manifest)?;
    Ok(manifest)
}

/// Stages 2b–3 on a manifest already in memory: [`ModelManifest::validate`], then every limit.
pub fn check_limits(m: &ModelManifest) -> Result<(), ManifestError> {
    m.validate()?;
    let usize_limit = |l: Limit, v: usize| l.check(v as u64).map_err(ManifestError::from);
    let name = |s: &str| usize_limit(limits::MAX_NAME_BYTES, s.len());
    name(&m.name)?;
    name(&m.input.name)?;
    usize_limit(limits::MAX_MEMBERS, m.members.len())?;
    usize_limit(limits::MAX_TENSOR_RANK, m.input.shape.len())?;
    for &d in &m.input.shape {
        limits::MAX_TENSOR_DIM.check(d.max(0) as u64)?;
    }
    let fe = &m.front_end;
    usize_limit(limits::MAX_WINDOW_FRAMES, m.input.window_frames)?;
    let per_frame = fe.frame_dim().max(fe.mel_dim());
    let values = m.input.window_frames.saturating_mul(per_frame);
    usize_limit(limits::MAX_WINDOW_VALUES, values)?;
    let queue = (limits::queue_frames(fe.frames_per_second()) as u64)
        .saturating_mul(fe.mel_dim() as u64 + 2)
        .saturating_mul(std::mem::size_of::<f32>() as u64);
    limits::MAX_QUEUE_BYTES.check(queue)?;
    if let Some(t) = &m.trunk {
        name(&t.file)?;
        usize_limit(limits::MAX_TRUNK_OUTPUTS, t.outputs.len())?;
        for o in &t.outputs {
            name(&o.name)?;
            usize_limit(limits::MAX_TENSOR_DIM, o.dim)?;
        }
    }
    for member in &m.members {
        name(&member.file)?;
        name(&member.output)?;
        usize_limit(limits::MAX_TRUNK_OUTPUTS, member.inputs.len())?;
        for i in &member.inputs {
            name(i)?;
        }
    }
    if let Some(o) = &m.out_of_set {
        name(&o.label)?;
    }
    Ok(())
}

/// The model files a manifest names, relative to its folder: the trunk first, then the members.
fn model_files(m: &ModelManifest) -> impl Iterator<Item = &str> {
    m.trunk.iter().map(|t| t.file.as_str()).chain(m.members.iter().map(|e| e.file.as_str()))
}

/// Stage 4: every model file is a regular file, and together within [`limits::MAX_MODEL_BYTES`].
fn file_sizes(m: &ModelManifest, dir: &Path) -> Result<u64, ManifestError> {
    let mut total = 0u64;
    for file in model_files(m) {
        let path = dir.join(file);
        let meta = std::fs::metadata(&path).map_err(|source| ManifestError::Io { path: path.clone(), source })?;
        if !meta.is_file() {
            return Err(ManifestError::NotAFile { path });
        }
        total = total.saturating_add(meta.len());
        limits::MAX_MODEL_BYTES.check(total)?;
    }
    Ok(total)
}

/// Stage 5: each model file's SHA-256 against the manifest, streamed (never more than
/// [`limits::MAX_MODEL_BYTES`] read in all); returns the files' paths. Re-runs stage 4 on the
/// opened files, so a file swapped for a FIFO after [`admit`] cannot block the load.
pub fn checksums(m: &ModelManifest, dir: &Path) -> Result<VerifiedFiles, ManifestError> {
    let mut budget = limits::MAX_MODEL_BYTES.max;
    let mut verify = |file: &str, sha: &str| -> Result<PathBuf, ManifestError> {
        let path = dir.join(file);
        let (actual, read) = hash_file(&path, budget)?;
        budget -= read;
        if !actual.eq_ignore_ascii_case(sha) {
            return Err(ManifestError::Checksum { file: file.into(), expected: sha.into(), actual });
        }
        Ok(path)
    };
    let trunk = m.trunk.as_ref().map(|t| verify(&t.file, &t.sha256)).transpose()?;
    let members = m.members.iter().map(|e| verify(&e.file, &e.sha256)).collect::<Result<_, _>>()?;
    Ok(VerifiedFiles { trunk, members })
}

/// Lower-case hex SHA-256 of a regular file of at most `budget` bytes, and its length.
fn hash_file(path: &Path, budget: u64) -> Result<(String, u64), ManifestError> {
    let io = |source| ManifestError::Io { path: path.to_path_buf(), source };
    let file = open_regular(path)?;
    let mut hasher = Sha256::new();
    let mut reader = file.take(budget.saturating_add(1));
    let read = std::io::copy(&mut reader, &mut hasher).map_err(io)?;
    if read > budget {
        return Err(LimitExceeded { limit: limits::MAX_MODEL_BYTES, value: limits::MAX_MODEL_BYTES.max + 1 }.into());
    }
    Ok((crate::hex(&hasher.finalize()), read))
}

/// Reads a regular file whole, refusing one larger than `limit` before reading it.
pub(crate) fn read_capped(path: &Path, limit: Limit) -> Result<Vec<u8>, ManifestError> {
    let io = |source| ManifestError::Io { path: path.to_path_buf(), source };
    let file = open_regular(path)?;
    let len = file.metadata().map_err(io)?.len();
    limit.check(len)?;
    let mut bytes = Vec::with_capacity(len as usize);
    // The file may grow after the check: read one byte past the limit at most.
    file.take(limit.max + 1).read_to_end(&mut bytes).map_err(io)?;
    limit.check(bytes.len() as u64)?;
    Ok(bytes)
}

/// Opens `path` for reading if it is a regular file. Opened non-blocking, so a FIFO cannot block
/// the open (it would until a writer comes), then refused by its type.
fn open_regular(path: &Path) -> Result<File, ManifestError> {
    let io = |source| ManifestError::Io { path: path.to_path_buf(), source };
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK);
    }
    let file = opts.open(path).map_err(io)?;
    if !file.metadata().map_err(io)?.is_file() {
        return Err(ManifestError::NotAFile { path: path.to_path_buf() });
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::manifest::tests::sample;

    fn write_model(dir: &Path, m: &mut ModelManifest) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("trunk.onnx"), b"trunk").unwrap();
        std::fs::write(dir.join("head_0.onnx"), b"head").unwrap();
        m.trunk.as_mut().unwrap().sha256 = crate::sha256_hex(b"trunk");
        m.members[0].sha256 = crate::sha256_hex(b"head");
        m.write(dir, MANIFEST_FILE).unwrap();
    }

    fn limit_of(e: &ManifestError) -> Option<&'static str> {
        match e {
            ManifestError::Limit(l) => Some(l.limit.what),
            _ => None,
        }
    }

    #[test]
    fn admits_a_sane_folder_and_verifies_it() {
        let dir = std::env::temp_dir().join(format!("genrescope-admission-ok-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut m = sample();
        write_model(&dir, &mut m);
        let (back, d) = admit(&dir).unwrap();
        assert_eq!(back, m);
        assert_eq!(d, dir);
        let files = checksums(&back, &d).unwrap();
        assert_eq!(files.members, vec![dir.join("head_0.onnx")]);
        // The manifest file itself is accepted too.
        assert_eq!(admit(&dir.join(MANIFEST_FILE)).unwrap().0, m);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn each_limit_is_named() {
        type Edit = Box<dyn Fn(&mut ModelManifest)>;
        let cases: Vec<(&str, Edit)> = vec![
            ("ensemble members", Box::new(|m| m.members = vec![m.members[0].clone(); 65])),
            ("frames per model window", Box::new(|m| set_window(m, 8193))),
            (
                "values per model window",
                Box::new(|m| {
                    // 256 mels (musicnn's n_fft allows 257): 4200 frames are 1.07 M values.
                    m.front_end.mel.n_mels = 256;
                    m.front_end_hash = m.front_end.hash();
                    m.input.window_frames = 4200;
                    m.input.shape = vec![-1, 4200, 256];
                }),
            ),
            ("trunk outputs", Box::new(|m| add_outputs(m, 17))),
            ("a tensor dimension", Box::new(|m| m.trunk.as_mut().unwrap().outputs[1].dim = (1 << 20) + 1)),
            ("a tensor rank", Box::new(|m| m.input.shape = [vec![-1], vec![1; 8], vec![187, 96]].concat())),
            ("a name in the manifest", Box::new(|m| m.name = "x".repeat(1025))),
        ];
        for (want, edit) in cases {
            let mut m = sample();
            edit(&mut m);
            let e = check_limits(&m).unwrap_err();
            assert!(limit_of(&e).is_some_and(|w| w.starts_with(want)), "{want}: {e}");
            // The same through the JSON entry.
            let text = serde_json::to_vec(&m).unwrap();
            assert!(limit_of(&admit_json(&text).unwrap_err()).is_some_and(|w| w.starts_with(want)), "{want}");
        }
    }

    /// The manifest: valid, its hash consistent, asking for a 1.2 TB frame queue.
    #[test]
    fn the_terabyte_queue_is_refused() {
        let mut m = sample();
        m.front_end.sample_rate = 768_000;
        m.front_end.hop_length = 1;
        m.front_end.n_fft = 65536;
        m.front_end.mel.n_mels = 32769;
        m.front_end_hash = m.front_end.hash();
        let e = check_limits(&m).unwrap_err();
        assert!(matches!(&e, ManifestError::FrontEnd(t) if t.contains("model sample rate (Hz) is 768000")), "{e}");
        assert!(admit_json(&serde_json::to_vec(&m).unwrap()).is_err());
    }

    fn set_window(m: &mut ModelManifest, frames: usize) {
        m.input.window_frames = frames;
        m.input.shape = vec![-1, frames as i64, 96];
    }

    fn add_outputs(m: &mut ModelManifest, n: usize) {
        let t = m.trunk.as_mut().unwrap();
        for i in t.outputs.len()..n {
            t.outputs.push(crate::model::TrunkOutput { name: format!("o{i}"), dim: 1 });
        }
    }

    #[test]
    fn hostile_bytes_are_errors() {
        // Deep nesting: serde_json's recursion limit.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(admit_json(deep.as_bytes()), Err(ManifestError::Parse { .. })));
        let mut v = serde_json::to_value(sample()).unwrap();
        v["members"][0]["hyperparams"] =
            serde_json::from_str(&format!("{}1{}", "[".repeat(120), "]".repeat(120))).unwrap();
        admit_json(v.to_string().as_bytes()).unwrap();
        let nested = v.to_string().replace("[[[[[[[[[[", &"[".repeat(20)).replace("]]]]]]]]]]", &"]".repeat(20));
        assert!(matches!(admit_json(nested.as_bytes()), Err(ManifestError::Parse { .. })));
        // Too big, before parsing.
        let big = vec![b' '; (1 << 20) + 1];
        assert_eq!(limit_of(&admit_json(&big).unwrap_err()), Some(limits::MAX_MANIFEST_BYTES.what));
        assert!(matches!(admit_json(&[0xff, 0xfe]), Err(ManifestError::Parse { .. })));
        // Negative, fractional, huge and non-finite numbers.
        for (field, value) in [
            ("/input/window_frames", "-1"),
            ("/input/window_frames", "1.5"),
            ("/input/window_frames", "1e300"),
            ("/input/window_frames", "18446744073709551615"),
            ("/front_end/sample_rate", "-16000"),
            ("/front_end/power", "1e39"),
            ("/front_end/n_fft", "0"),
        ] {
            let mut v = serde_json::to_value(sample()).unwrap();
            *v.pointer_mut(field).unwrap() = serde_json::from_str(value).unwrap_or(serde_json::Value::Null);
            let text = v.to_string();
            // NaN and infinity are not JSON; 1e39 overflows an f32 to infinity.
            admit_json(text.as_bytes()).unwrap_err();
            admit_json(text.replace("1e39", "NaN").as_bytes()).unwrap_err();
        }
    }

    #[cfg(unix)]
    #[test]
    fn special_files_and_symlink_loops_are_refused_without_blocking() {
        use std::os::unix::fs::symlink;
        let root = std::env::temp_dir().join(format!("genrescope-admission-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        // A folder that is a symlink loop.
        std::fs::create_dir_all(&root).unwrap();
        let looped = root.join("folder-loop");
        symlink(&looped, &looped).unwrap();
        assert!(matches!(admit(&looped), Err(ManifestError::Io { .. })), "{:?}", admit(&looped));
        // A manifest that never ends.
        let dev = root.join("dev");
        std::fs::create_dir_all(&dev).unwrap();
        symlink("/dev/zero", dev.join(MANIFEST_FILE)).unwrap();
        assert!(matches!(admit(&dev), Err(ManifestError::NotAFile { .. })));
        // Model files: a loop, /dev/zero, a FIFO, a folder.
        let fifo = |p: &Path| {
            // mkfifo(1) rather than libc: no unsafe code in tests.
            assert!(std::process::Command::new("mkfifo").arg(p).status().unwrap().success());
        };
        type Break = Box<dyn Fn(&Path)>;
        let cases: Vec<(&str, Break)> = vec![
            ("loop", Box::new(|p| symlink(p, p).unwrap())),
            ("zero", Box::new(|p| symlink("/dev/zero", p).unwrap())),
            ("fifo", Box::new(fifo)),
            ("dir", Box::new(|p| std::fs::create_dir(p).unwrap())),
        ];
        for (what, brk) in cases {
            let dir = root.join(what);
            let mut m = sample();
            write_model(&dir, &mut m);
            let trunk = dir.join("trunk.onnx");
            std::fs::remove_file(&trunk).unwrap();
            brk(&trunk);
            let e = admit(&dir).unwrap_err();
            assert!(matches!(e, ManifestError::Io { .. } | ManifestError::NotAFile { .. }), "{what}: {e:?}");
            let e = checksums(&m, &dir).unwrap_err();
            assert!(matches!(e, ManifestError::Io { .. } | ManifestError::NotAFile { .. }), "{what}: {e:?}");
        }
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn model_bytes_are_limited_before_reading() {
        let dir = std::env::temp_dir().join(format!("genrescope-admission-big-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut m = sample();
        write_model(&dir, &mut m);
        // A sparse file just over the limit: refused from its size, nothing read.
        let f = File::options().write(true).open(dir.join("trunk.onnx")).unwrap();
        f.set_len(limits::MAX_MODEL_BYTES.max + 1).unwrap();
        let e = admit(&dir).unwrap_err();
        assert_eq!(limit_of(&e), Some(limits::MAX_MODEL_BYTES.what), "{e}");
        let t = std::time::Instant::now();
        assert_eq!(
            limit_of(&hash_file(&dir.join("trunk.onnx"), 1000).unwrap_err()),
            Some(limits::MAX_MODEL_BYTES.what)
        );
        assert!(t.elapsed().as_secs_f64() < 1.0);
        // A manifest over its limit is refused before it is read.
        let big = File::options().write(true).open(dir.join(MANIFEST_FILE)).unwrap();
        big.set_len(100 << 20).unwrap();
        assert_eq!(limit_of(&admit(&dir).unwrap_err()), Some(limits::MAX_MANIFEST_BYTES.what));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
