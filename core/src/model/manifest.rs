//! The model manifest: `manifest.json` beside a model's ONNX files. Pure data + validation.
//!
//! It pins everything the engine needs to refuse a model it cannot run correctly: labels, the
//! exact front end (and its hash), the model input (name, shape, frames per window) and the
//! graph layout: an optional trunk run once per window, and members (heads) that read the window
//! itself or named trunk outputs, every file with its SHA-256.
//!
//! Format version 2 (this one) and version 1 (the first CNN ensembles, read by [`super::v1`])
//! load into the same [`ModelManifest`].
use crate::features::{FrontEndSpec, SpecError};
use crate::labels::GENRES;
use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};

pub const MANIFEST_FILE: &str = "manifest.json";
pub const FORMAT_VERSION: u32 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Quantization {
    /// Plain float32 graph.
    Fp32,
    /// Static int8 quantization in QDQ form (QuantizeLinear/DequantizeLinear pairs), for all or
    /// some of the graph's layers.
    Int8Qdq,
}

/// The model's input tensor: one window of front-end frames.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    /// Graph input name (of the trunk, or of every member when there is no trunk).
    pub name: String,
    /// Shape with the batch dimension first (-1 = dynamic); the other dimensions hold
    /// `window_frames * frame_dim` values in frame-major order.
    pub shape: Vec<i64>,
    /// Front-end frames per window.
    pub window_frames: usize,
}

/// One output of the trunk, as members and the library read it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrunkOutput {
    pub name: String,
    /// Values per window (the output's shape is `[batch, dim]`).
    pub dim: usize,
}

/// A graph that runs once per window; its outputs feed the members.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrunkEntry {
    /// File name relative to the manifest's folder.
    pub file: String,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: String,
    /// The trunk's numeric format (of `file` and of the streaming split alike).
    pub quantization: Quantization,
    pub outputs: Vec<TrunkOutput>,
    /// Where the trunk's weights come from, and their licence (travels with every copy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// With `Int8Qdq`: the layers that run in int8 (the others stay float).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quantized_layers: Vec<String>,
    /// The same trunk split so that overlapping windows share work; the engine runs this when it
    /// is present and `file` (whole windows) otherwise. See [`StreamingSplit`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streaming: Option<StreamingSplit>,
}

/// A file of the model folder and its checksum.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelFile {
    /// File name relative to the manifest's folder.
    pub file: String,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: String,
}

/// The trunk as a per-frame graph and a per-window graph. `window(x, frames(x)) = trunk(x)` for
/// a window `x`; the per-frame graph is local in time (an output frame depends only on the input
/// frames within `context` of it, zero-padded past the ends of what it is given, as the trunk
/// pads a window's ends), so a frame's output inside a window, away from the window's edges, is
/// the same in every window that holds it: it is computed once, when it arrives, and cached
/// (`model::trunk`). Needs a frame-causal normalization (a frame must not depend on its window).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamingSplit {
    /// Per-frame graph: input [`InputSpec::name`] `[1, L, frame_dim]` (any L ≥ 1 consecutive
    /// frames of model input), output `frame_output` `[1, L, channels]`.
    pub frames: ModelFile,
    /// Per-window graph: inputs [`InputSpec::name`] (the window) and `frame_output`
    /// (`[1, window_frames, channels]`: the per-frame graph's output on that window); outputs
    /// the trunk's outputs.
    pub window: ModelFile,
    pub frame_output: String,
    pub channels: usize,
    /// Frames of context on each side of an output frame.
    pub context: usize,
}

/// One ensemble member: a graph from the window (or trunk outputs) to class probabilities.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemberEntry {
    pub file: String,
    pub sha256: String,
    pub quantization: Quantization,
    /// Graph inputs, by name: the model input's name, or names of trunk outputs (fed under
    /// those names).
    pub inputs: Vec<String>,
    /// Graph output holding `[batch, labels]` probabilities (softmax inside the graph).
    pub output: String,
    /// Validation accuracy measured by the trainer, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_accuracy: Option<f32>,
    /// Free-form hyper-parameters of the member, for reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hyperparams: Option<serde_json::Value>,
}

/// Music that is none of the model's genres: every member outputs one more class, after the
/// labels, trained on out-of-set examples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutOfSet {
    /// Name of the extra class (`"other"`).
    pub label: String,
    /// A window, a smoothed meter or a track counts as out of set ("other / unsure") when the
    /// calibrated probability of the class reaches this (chosen by the trainer's CV).
    pub threshold: f32,
}

/// How the members' class probabilities of one window are combined.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoteRule {
    /// Weighted arithmetic mean (the classic soft vote).
    #[default]
    Mean,
    /// Weighted geometric pooling: `score_k = Σ_m w_mk · ln p_mk`, then a softmax (with the
    /// calibration's temperature). A member that knows only some classes gets weight 0 on the others.
    LogLinear,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Vote {
    pub rule: VoteRule,
    /// `[member][class]` weights (classes: the labels, then the out-of-set class if any), each
    /// class's column normalized to sum 1 when loaded; absent = every member weighs the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<Vec<f32>>>,
}

/// Maps the vote's scores to probabilities that mean what they say (fitted on out-of-fold
/// predictions by the trainer).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Calibration {
    /// `p = softmax(ln(vote) / temperature)` (for log-linear pooling: `softmax(score / temperature)`).
    Temperature { temperature: f32 },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelManifest {
    pub format_version: u32,
    pub name: String,
    /// Output classes in model order.
    pub labels: Vec<String>,
    pub front_end: FrontEndSpec,
    /// `front_end.hash()` when the model was trained.
    pub front_end_hash: String,
    pub input: InputSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trunk: Option<TrunkEntry>,
    pub members: Vec<MemberEntry>,
    /// The trunk output used as a track's embedding for similarity search, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<String>,
    /// The out-of-set class, if the model has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_of_set: Option<OutOfSet>,
    /// How members are combined; absent = the plain mean of their probabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vote: Option<Vote>,
    /// Applied to the vote; absent = none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
    /// Free-form description of the training data and evaluation, for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("model manifest not found at {0}")]
    NotFound(PathBuf),
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("invalid model manifest {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("unsupported manifest format version {0} (this build reads 1 and {FORMAT_VERSION})")]
    Version(u64),
    #[error("this build cannot compute the features this model needs: {0}")]
    FrontEnd(String),
    #[error(
        "the model's front-end hash {manifest} does not match its front end ({computed}): the manifest was \
         edited or written by an incompatible build; retrain or use a matching build"
    )]
    FrontEndHash { manifest: String, computed: String },
    #[error("model manifest is inconsistent: {0}")]
    Invalid(String),
    #[error("model file {file} is corrupt or was changed: SHA-256 {actual}, manifest says {expected}")]
    Checksum { file: String, expected: String, actual: String },
    /// Admission refused the model: it asks for more than a host can give ([`crate::limits`]).
    #[error("model refused: {0}")]
    Limit(#[from] crate::limits::LimitExceeded),
    /// A model file (or the manifest) is a FIFO, a device, a folder: not a plain file.
    #[error("{path} is not a regular file")]
    NotAFile { path: PathBuf },
}

impl From<SpecError> for ManifestError {
    fn from(e: SpecError) -> Self {
        ManifestError::FrontEnd(e.0)
    }
}

/// Absolute paths of a manifest's files, checksums verified.
#[derive(Clone, Debug)]
pub struct VerifiedFiles {
    pub trunk: Option<PathBuf>,
    /// The streaming split's per-frame and per-window graphs, if the trunk has one.
    pub trunk_split: Option<(PathBuf, PathBuf)>,
    pub members: Vec<PathBuf>,
}

impl ModelManifest {
    /// Admits `<dir>/manifest.json` (or the file itself if `path` is a file): reads it within its
    /// size limit, parses, validates, checks every resource limit and that the model files are
    /// plain files within the size limit ([`super::admission::admit`]); returns the manifest and
    /// its folder. Reads no ONNX file.
    pub fn load(path: &Path) -> Result<(Self, PathBuf), ManifestError> {
        super::admission::admit(path)
    }

    /// Parses and validates manifest JSON of format version 1 or 2.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let parse_err = |message: String| ManifestError::Parse { path: PathBuf::new(), message };
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| parse_err(e.to_string()))?;
        let version = value.get("format_version").and_then(|v| v.as_u64());
        let manifest = match version {
            Some(1) => super::v1::parse(value)?,
            Some(2) => {
                // The front end first, so an unknown feature kind gets its own message.
                let fe = value.get("front_end").cloned().ok_or_else(|| parse_err("no front_end".into()))?;
                serde_json::from_value::<FrontEndSpec>(fe).map_err(|e| ManifestError::FrontEnd(e.to_string()))?;
                serde_json::from_value(value).map_err(|e| parse_err(e.to_string()))?
            }
            Some(v) => return Err(ManifestError::Version(v)),
            None => return Err(parse_err("no numeric format_version".into())),
        };
        manifest.validate()?;
        Ok(manifest)
    }

    /// Writes `<dir>/<file_name>` (pretty JSON) after validating.
    pub fn write(&self, dir: &Path, file_name: &str) -> Result<PathBuf, ManifestError> {
        self.validate()?;
        let path = dir.join(file_name);
        #[allow(clippy::expect_used, reason = "plain structs with string keys always serialize")]
        let text = serde_json::to_string_pretty(self).expect("manifest serializes") + "\n";
        std::fs::write(&path, text).map_err(|source| ManifestError::Io { path: path.clone(), source })?;
        Ok(path)
    }

    /// Values per window the model reads.
    pub fn window_len(&self) -> usize {
        self.input.window_frames * self.front_end.frame_dim()
    }

    /// Seconds of audio one window covers (frames × hop).
    pub fn window_seconds(&self) -> f64 {
        self.input.window_frames as f64 / self.front_end.frames_per_second()
    }

    /// Classes every member outputs: the labels, then the out-of-set class if any.
    pub fn num_classes(&self) -> usize {
        self.labels.len() + usize::from(self.out_of_set.is_some())
    }

    /// Position of a trunk output by name.
    pub fn trunk_output(&self, name: &str) -> Option<usize> {
        self.trunk.as_ref()?.outputs.iter().position(|o| o.name == name)
    }

    /// Position of the trunk output with the [`crate::labels::MSD_TAGS`] scores (named
    /// [`crate::labels::TAGS_OUTPUT`], with one value per tag), if the model has one.
    pub fn tags_output(&self) -> Option<usize> {
        let i = self.trunk_output(crate::labels::TAGS_OUTPUT)?;
        (self.trunk.as_ref()?.outputs[i].dim == crate::labels::NUM_TAGS).then_some(i)
    }

    /// Internal consistency; does not touch the files.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let invalid = |m: String| Err(ManifestError::Invalid(m));
        if self.format_version != FORMAT_VERSION && self.format_version != 1 {
            return Err(ManifestError::Version(self.format_version as u64));
        }
        self.front_end.validate()?;
        let computed = self.front_end.hash();
        if self.front_end_hash != computed {
            return Err(ManifestError::FrontEndHash { manifest: self.front_end_hash.clone(), computed });
        }
        if self.labels.len() != GENRES.len() || self.labels.iter().zip(GENRES).any(|(a, b)| a != b) {
            return invalid(format!("labels {:?} differ from the engine's genres {:?}", self.labels, GENRES));
        }
        let inp = &self.input;
        if inp.name.is_empty() || inp.window_frames == 0 || inp.window_frames > 100_000 {
            return invalid(format!("input {:?} needs a name and 1..=100000 window frames", inp.name));
        }
        let batch_ok = matches!(inp.shape.first(), Some(-1) | Some(1));
        let rest: Option<i64> = inp
            .shape
            .get(1..)
            .and_then(|d| d.iter().try_fold(1i64, |acc, &x| if x > 0 { acc.checked_mul(x) } else { None }));
        if !batch_ok || inp.shape.len() < 2 || rest != Some(self.window_len() as i64) {
            return invalid(format!(
                "input shape {:?} must be [-1 or 1, dims...] holding {} frames x {} values",
                inp.shape,
                inp.window_frames,
                self.front_end.frame_dim()
            ));
        }
        if let Some(t) = &self.trunk {
            check_file_name(&t.file)?;
            if t.outputs.is_empty() {
                return invalid("the trunk has no outputs".into());
            }
            for (i, o) in t.outputs.iter().enumerate() {
                if o.name.is_empty() || o.dim == 0 || t.outputs[..i].iter().any(|p| p.name == o.name) {
                    return invalid(format!("trunk output {:?} (dim {}) is empty or repeated", o.name, o.dim));
                }
            }
            if !t.quantized_layers.is_empty() && t.quantization != Quantization::Int8Qdq {
                return invalid("quantized_layers of a trunk that is not int8".into());
            }
            if let Some(s) = &t.streaming {
                check_file_name(&s.frames.file)?;
                check_file_name(&s.window.file)?;
                if !self.front_end.normalization.is_frame_causal() {
                    return invalid("a streaming trunk needs a frame-causal normalization".into());
                }
                let frame_dim = self.front_end.frame_dim() as i64;
                if inp.shape.len() != 3 || inp.shape[1] != inp.window_frames as i64 || inp.shape[2] != frame_dim {
                    return invalid(format!(
                        "a streaming trunk reads [batch, frames, {frame_dim}], not {:?}",
                        inp.shape
                    ));
                }
                if s.frame_output.is_empty() || s.frame_output == inp.name || s.channels == 0 {
                    return invalid(format!("streaming frame output {:?} ({} channels)", s.frame_output, s.channels));
                }
                if 2 * s.context >= inp.window_frames {
                    return invalid(format!("streaming context {} leaves no frame of the window to share", s.context));
                }
            }
        }
        if self.members.is_empty() {
            return invalid("no ensemble members".into());
        }
        for m in &self.members {
            check_file_name(&m.file)?;
            if m.output.is_empty() || m.inputs.is_empty() {
                return invalid(format!("member {} needs inputs and an output", m.file));
            }
            let ok = match &self.trunk {
                Some(_) => m.inputs.iter().all(|i| self.trunk_output(i).is_some()),
                None => m.inputs.len() == 1 && m.inputs[0] == inp.name,
            };
            if !ok {
                return invalid(format!(
                    "member {} reads {:?}: members read {}",
                    m.file,
                    m.inputs,
                    if self.trunk.is_some() { "trunk outputs" } else { "the model input" }
                ));
            }
        }
        if let Some(e) = &self.embedding {
            if self.trunk_output(e).is_none() {
                return invalid(format!("embedding {e:?} is not a trunk output"));
            }
        }
        if let Some(o) = &self.out_of_set {
            if o.label.is_empty() || self.labels.contains(&o.label) {
                return invalid(format!("out-of-set label {:?} must be a new class name", o.label));
            }
            if !(o.threshold > 0.0 && o.threshold <= 1.0) {
                return invalid(format!("out-of-set threshold {} must be in (0, 1]", o.threshold));
            }
        }
        if let Some(w) = self.vote.as_ref().and_then(|v| v.weights.as_ref()) {
            let classes = self.num_classes();
            if w.len() != self.members.len() || w.iter().any(|r| r.len() != classes) {
                return invalid(format!("vote weights must be [{} members][{classes} classes]", self.members.len()));
            }
            if w.iter().flatten().any(|x| !(x.is_finite() && *x >= 0.0)) {
                return invalid("vote weights must be finite and >= 0".into());
            }
            if (0..classes).any(|k| w.iter().map(|r| r[k] as f64).sum::<f64>() <= 0.0) {
                return invalid("every class needs a member with a positive vote weight".into());
            }
        }
        if let Some(Calibration::Temperature { temperature }) = &self.calibration {
            if !(temperature.is_finite() && (0.01..=100.0).contains(temperature)) {
                return invalid(format!("calibration temperature {temperature} must be in [0.01, 100]"));
            }
        }
        Ok(())
    }

    /// Verifies every file's SHA-256 (streamed, within the size limit; admission's last stage,
    /// [`super::admission::checksums`]); returns their absolute paths.
    pub fn verify_files(&self, dir: &Path) -> Result<VerifiedFiles, ManifestError> {
        super::admission::checksums(self, dir)
    }
}

/// A model file must sit in the manifest's folder tree: no absolute paths, no `..`.
fn check_file_name(file: &str) -> Result<(), ManifestError> {
    let p = Path::new(file);
    let inside = !file.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
    if inside {
        Ok(())
    } else {
        Err(ManifestError::Invalid(format!("file name {file:?} must be relative, inside the model folder")))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::features::FrontEndSpec;

    pub(crate) fn sample() -> ModelManifest {
        let fe = FrontEndSpec::musicnn();
        ModelManifest {
            format_version: FORMAT_VERSION,
            name: "t".into(),
            labels: GENRES.iter().map(|s| s.to_string()).collect(),
            front_end_hash: fe.hash(),
            front_end: fe,
            input: InputSpec { name: "melspec".into(), shape: vec![-1, 187, 96], window_frames: 187 },
            trunk: Some(TrunkEntry {
                file: "trunk.onnx".into(),
                sha256: "00".into(),
                quantization: Quantization::Fp32,
                outputs: vec![
                    TrunkOutput { name: "taggram".into(), dim: 50 },
                    TrunkOutput { name: "penultimate".into(), dim: 200 },
                ],
                origin: None,
                quantized_layers: Vec::new(),
                streaming: None,
            }),
            members: vec![MemberEntry {
                file: "head_0.onnx".into(),
                sha256: "00".into(),
                quantization: Quantization::Fp32,
                inputs: vec!["penultimate".into()],
                output: "probs".into(),
                val_accuracy: None,
                hyperparams: None,
            }],
            embedding: Some("penultimate".into()),
            out_of_set: None,
            vote: None,
            calibration: None,
            notes: None,
        }
    }

    fn err_of(m: &ModelManifest) -> String {
        m.validate().unwrap_err().to_string()
    }

    #[test]
    fn sample_is_valid_and_round_trips() {
        let m = sample();
        m.validate().unwrap();
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(ModelManifest::parse(&text).unwrap(), m);
        assert_eq!(m.window_len(), 187 * 96);
        assert!((m.window_seconds() - 2.992).abs() < 1e-9);
    }

    pub(crate) fn streaming_sample() -> ModelManifest {
        let mut m = sample();
        m.front_end.normalization =
            crate::features::Normalization::RunningMeanPower { reference: 0.1, max_gain_db: 60.0, tau_s: 3.0 };
        m.front_end_hash = m.front_end.hash();
        let t = m.trunk.as_mut().unwrap();
        t.quantization = Quantization::Int8Qdq;
        t.quantized_layers = vec!["timbral_7x38".into()];
        t.streaming = Some(StreamingSplit {
            frames: ModelFile { file: "trunk_frames.onnx".into(), sha256: "00".into() },
            window: ModelFile { file: "trunk_window.onnx".into(), sha256: "00".into() },
            frame_output: "frame_features".into(),
            channels: 61,
            context: 3,
        });
        m
    }

    #[test]
    fn streaming_split_round_trips_and_is_checked() {
        let m = streaming_sample();
        m.validate().unwrap();
        assert_eq!(ModelManifest::parse(&serde_json::to_string(&m).unwrap()).unwrap(), m);
        // Without the new fields the JSON is what older builds wrote.
        let plain = serde_json::to_value(sample()).unwrap();
        assert!(plain["trunk"].get("streaming").is_none() && plain["trunk"].get("quantized_layers").is_none());
        let split = |m: &ModelManifest| m.trunk.as_ref().unwrap().streaming.clone().unwrap();
        // A window normalization makes every frame depend on its window: no sharing.
        let mut bad = streaming_sample();
        bad.front_end.normalization =
            crate::features::Normalization::WindowMeanPower { reference: 0.1, max_gain_db: 60.0 };
        bad.front_end_hash = bad.front_end.hash();
        assert!(err_of(&bad).contains("frame-causal"), "{}", err_of(&bad));
        let mut bad = streaming_sample();
        bad.trunk.as_mut().unwrap().streaming = Some(StreamingSplit { context: 94, ..split(&bad) });
        assert!(err_of(&bad).contains("context"));
        let mut bad = streaming_sample();
        bad.trunk.as_mut().unwrap().streaming = Some(StreamingSplit { frame_output: "melspec".into(), ..split(&bad) });
        assert!(err_of(&bad).contains("frame output"));
        let mut bad = streaming_sample();
        let s = split(&bad);
        bad.trunk.as_mut().unwrap().streaming =
            Some(StreamingSplit { frames: ModelFile { file: "../x.onnx".into(), ..s.frames.clone() }, ..s });
        assert!(err_of(&bad).contains("inside the model folder"));
        let mut bad = streaming_sample();
        bad.input.shape = vec![-1, 187 * 96];
        assert!(err_of(&bad).contains("streaming trunk reads"), "{}", err_of(&bad));
        let mut bad = streaming_sample();
        bad.trunk.as_mut().unwrap().quantization = Quantization::Fp32;
        assert!(err_of(&bad).contains("quantized_layers"));
    }

    #[test]
    fn each_inconsistency_has_its_error() {
        let mut m = sample();
        m.front_end.n_fft = 1024;
        assert!(matches!(m.validate(), Err(ManifestError::FrontEndHash { .. })));
        let mut m = sample();
        m.front_end.power = -1.0;
        m.front_end_hash = m.front_end.hash();
        assert!(matches!(m.validate(), Err(ManifestError::FrontEnd(_))), "{}", err_of(&m));
        let mut m = sample();
        m.labels.swap(0, 1);
        assert!(err_of(&m).contains("labels"));
        let mut m = sample();
        m.input.shape = vec![-1, 187, 95];
        assert!(err_of(&m).contains("input shape"));
        let mut m = sample();
        m.input.shape = vec![4, 187, 96];
        assert!(err_of(&m).contains("input shape"));
        let mut m = sample();
        m.input.shape = vec![-1, -187, -96];
        assert!(err_of(&m).contains("input shape"));
        let mut m = sample();
        m.input.shape = vec![-1, 1, 187 * 96];
        m.validate().unwrap(); // any rank, as long as it holds the window
        let mut m = sample();
        m.members[0].inputs = vec!["max_pool".into()];
        assert!(err_of(&m).contains("reads"));
        let mut m = sample();
        m.trunk = None;
        assert!(err_of(&m).contains("reads"), "{}", err_of(&m));
        m.embedding = None;
        m.members[0].inputs = vec!["melspec".into()];
        m.validate().unwrap();
        let mut m = sample();
        m.members.clear();
        assert!(err_of(&m).contains("no ensemble members"));
        let mut m = sample();
        m.embedding = Some("nope".into());
        assert!(err_of(&m).contains("embedding"));
        let mut m = sample();
        m.trunk.as_mut().unwrap().outputs[1].name = "taggram".into();
        m.members[0].inputs = vec!["taggram".into()];
        m.embedding = None;
        assert!(err_of(&m).contains("repeated"));
        for bad in ["../x.onnx", "/etc/passwd", ""] {
            let mut m = sample();
            m.members[0].file = bad.into();
            assert!(err_of(&m).contains("inside the model folder"), "{bad}");
        }
    }

    #[test]
    fn parse_errors_are_specific() {
        assert!(matches!(ModelManifest::parse("{"), Err(ManifestError::Parse { .. })));
        assert!(matches!(ModelManifest::parse(r#"{"format_version": 9}"#), Err(ManifestError::Version(9))));
        assert!(matches!(ModelManifest::parse(r#"{"name": "x"}"#), Err(ManifestError::Parse { .. })));
        let mut v = serde_json::to_value(sample()).unwrap();
        v["front_end"]["compression"] = serde_json::json!({"kind": "cube_root"});
        let e = ModelManifest::parse(&v.to_string()).unwrap_err();
        assert!(matches!(e, ManifestError::FrontEnd(_)), "{e}");
        assert!(e.to_string().contains("cannot compute the features"), "{e}");
    }

    #[test]
    fn missing_file_and_checksums() {
        let dir = std::env::temp_dir().join(format!("genrescope-manifest-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert!(matches!(ModelManifest::load(&dir), Err(ManifestError::NotFound(_))));
        let mut m = sample();
        std::fs::write(dir.join("trunk.onnx"), b"trunk").unwrap();
        std::fs::write(dir.join("head_0.onnx"), b"head").unwrap();
        m.trunk.as_mut().unwrap().sha256 = crate::sha256_hex(b"trunk");
        m.members[0].sha256 = crate::sha256_hex(b"head");
        m.write(&dir, MANIFEST_FILE).unwrap();
        let (back, d) = ModelManifest::load(&dir).unwrap();
        assert_eq!(back, m);
        let files = back.verify_files(&d).unwrap();
        assert_eq!(files.trunk.unwrap(), dir.join("trunk.onnx"));
        std::fs::write(dir.join("head_0.onnx"), b"changed").unwrap();
        assert!(matches!(back.verify_files(&d), Err(ManifestError::Checksum { .. })));
        std::fs::remove_file(dir.join("head_0.onnx")).unwrap();
        assert!(matches!(back.verify_files(&d), Err(ManifestError::Io { .. })));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
