//! A loaded model: the trunk (if any) run once per window (whole, or streaming: `super::trunk`),
//! then every member, then the soft vote.
//!
//! Loading is staged: [`ModelManifest::load`] (pure data), [`ModelManifest::verify_files`]
//! (checksums), [`super::session::build`] (ORT sessions), then one warm-up run. Runs on the
//! analysis thread only: `Session::run` allocates.
use super::manifest::{ManifestError, ModelManifest};
use super::session::{self, SessionOptions};
use super::trunk::{infer, TrunkRunner};
use super::vote::Combiner;
use crate::labels::{Probs, NUM_GENRES};
use ort::session::Session;
use ort::value::TensorRef;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("ONNX Runtime unavailable: {0}")]
    Runtime(#[from] crate::runtime::RuntimeError),
    #[error("cannot load {file}: {message}")]
    Load { file: PathBuf, message: String },
    #[error("inference failed: {0}")]
    Inference(String),
    #[error("input window has {got} values, the model expects {expected}")]
    InputSize { got: usize, expected: usize },
    /// The load was given up between two stages (the plugin is being destroyed).
    #[error("model load cancelled")]
    Cancelled,
}

/// One window's results.
#[derive(Clone, Debug, PartialEq)]
pub struct EnsembleOutput {
    /// The members' vote, calibrated, for each genre (with `other`, they sum to 1).
    pub probs: Probs,
    /// Probability of the out-of-set class ("other"); 0 for a model without one.
    pub other: f32,
    /// Each member's class probabilities (the genres, then "other" if the model has it), in
    /// manifest order.
    pub members: Vec<Vec<f32>>,
    /// The trunk's outputs in manifest order (empty without a trunk).
    pub trunk: Vec<Vec<f32>>,
}

impl EnsembleOutput {
    /// The manifest's embedding output of this window, if the model has one.
    pub fn embedding<'a>(&'a self, manifest: &ModelManifest) -> Option<&'a [f32]> {
        let i = manifest.trunk_output(manifest.embedding.as_deref()?)?;
        self.trunk.get(i).map(Vec::as_slice)
    }

    /// This window's [`crate::labels::MSD_TAGS`] scores, if the model has them.
    pub fn tags<'a>(&'a self, manifest: &ModelManifest) -> Option<&'a [f32]> {
        self.trunk.get(manifest.tags_output()?).map(Vec::as_slice)
    }
}

struct Member {
    session: Session,
    /// Indices into the trunk outputs (empty: the member reads the window).
    reads: Vec<usize>,
}

pub struct Ensemble {
    manifest: ModelManifest,
    combiner: Combiner,
    dir: PathBuf,
    trunk: Option<TrunkRunner>,
    members: Vec<Member>,
    /// Input shape with batch 1.
    shape: Vec<i64>,
}

impl Ensemble {
    /// Loads a model folder (or manifest path) with single-threaded sessions.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let (manifest, dir) = ModelManifest::load(path)?;
        Self::from_manifest(manifest, dir, SessionOptions::default())
    }

    /// The later stages for an already loaded manifest: checksums, sessions, a warm-up run.
    pub fn from_manifest(manifest: ModelManifest, dir: PathBuf, opts: SessionOptions) -> Result<Self, ModelError> {
        Self::from_manifest_until(manifest, dir, opts, &|| false)
    }

    /// [`Self::from_manifest`], giving up with [`ModelError::Cancelled`] as soon as `cancelled()`
    /// says so between two stages (ONNX Runtime cannot stop a session build half-way). The plugin
    /// uses it so that destroying an instance waits for at most one stage of a load.
    pub fn from_manifest_until(
        manifest: ModelManifest,
        dir: PathBuf,
        opts: SessionOptions,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Self, ModelError> {
        let stage = || if cancelled() { Err(ModelError::Cancelled) } else { Ok(()) };
        // Admission's stages for a manifest in memory, then its last one, before any session.
        super::admission::check_limits(&manifest)?;
        stage()?;
        let files = super::admission::checksums(&manifest, &dir)?;
        stage()?;
        let check = |s: &Session, file: &Path, inputs: &[String], outputs: &[String]| {
            let missing_in = inputs.iter().find(|n| !s.inputs().iter().any(|i| i.name() == n.as_str()));
            let missing_out = outputs.iter().find(|n| !s.outputs().iter().any(|o| o.name() == n.as_str()));
            match missing_in.or(missing_out) {
                None => Ok(()),
                Some(n) => Err(ModelError::Load {
                    file: file.to_path_buf(),
                    message: format!("graph lacks input or output '{n}' named in the manifest"),
                }),
            }
        };
        let split = manifest.trunk.as_ref().and_then(|t| t.streaming.as_ref());
        let trunk = match (&manifest.trunk, &files.trunk, split.zip(files.trunk_split.as_ref())) {
            (Some(t), _, Some((split, (frames, window)))) if !opts.whole_window_trunk => {
                stage()?;
                Some(TrunkRunner::streaming(frames, window, split, &manifest.input, &t.outputs, opts)?)
            }
            (Some(t), Some(file), _) => {
                stage()?;
                Some(TrunkRunner::whole(file, &manifest.input, &t.outputs, opts)?)
            }
            _ => None,
        };
        let mut members = Vec::with_capacity(files.members.len());
        for (m, file) in manifest.members.iter().zip(&files.members) {
            stage()?;
            let s = session::build(file, opts)?;
            check(&s, file, &m.inputs, std::slice::from_ref(&m.output))?;
            let reads = m.inputs.iter().filter_map(|i| manifest.trunk_output(i)).collect();
            members.push(Member { session: s, reads });
        }
        let mut shape = manifest.input.shape.clone();
        shape[0] = 1;
        let combiner = Combiner::new(&manifest);
        let mut e = Self { manifest, combiner, dir, trunk, members, shape };
        stage()?;
        let warm = vec![0.0f32; e.window_len()];
        e.run(&warm)?;
        Ok(e)
    }

    /// Whether the trunk runs as a streaming split (frames shared between overlapping windows).
    pub fn is_streaming(&self) -> bool {
        self.trunk.as_ref().is_some_and(TrunkRunner::is_streaming)
    }

    /// The loaded trunk, if any.
    pub fn trunk(&self) -> Option<&TrunkRunner> {
        self.trunk.as_ref()
    }

    /// A new stream starts: a streaming trunk forgets its cached frames.
    pub fn reset_stream(&mut self) {
        if let Some(t) = self.trunk.as_mut() {
            t.reset();
        }
    }

    pub fn manifest(&self) -> &ModelManifest {
        &self.manifest
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn num_members(&self) -> usize {
        self.members.len()
    }

    /// Floats in one input window (`window_frames * frame_dim`).
    pub fn window_len(&self) -> usize {
        self.manifest.window_len()
    }

    /// The combined genre probabilities for one window.
    pub fn predict(&mut self, window: &[f32]) -> Result<Probs, ModelError> {
        self.run(window).map(|o| o.probs)
    }

    /// Trunk once, every member, soft vote, for a window on its own.
    pub fn run(&mut self, window: &[f32]) -> Result<EnsembleOutput, ModelError> {
        self.run_stream(window, None)
    }

    /// [`Self::run`] for the window of a stream that ends at frame `end_frame` (frames since the
    /// stream started, [`Self::reset_stream`]): a streaming trunk reuses what it computed for the
    /// stream's earlier windows.
    pub fn run_at(&mut self, window: &[f32], end_frame: u64) -> Result<EnsembleOutput, ModelError> {
        self.run_stream(window, Some(end_frame))
    }

    fn run_stream(&mut self, window: &[f32], end_frame: Option<u64>) -> Result<EnsembleOutput, ModelError> {
        with_flush_to_zero(|| {
            let trunk = self.trunk_outputs(window, end_frame)?;
            let mut members = Vec::with_capacity(self.members.len());
            for i in 0..self.members.len() {
                members.push(self.member_probs(i, window, &trunk)?);
            }
            let mut classes = [0.0f32; NUM_GENRES + 1];
            let classes = &mut classes[..self.combiner.classes()];
            self.combiner.combine(&members, classes);
            let mut probs = [0.0f32; NUM_GENRES];
            probs.copy_from_slice(&classes[..NUM_GENRES]);
            let other = classes.get(NUM_GENRES).copied().unwrap_or(0.0);
            Ok(EnsembleOutput { probs, other, members, trunk })
        })
    }

    /// The trunk's outputs for one window (empty without a trunk).
    pub fn run_trunk(&mut self, window: &[f32]) -> Result<Vec<Vec<f32>>, ModelError> {
        with_flush_to_zero(|| self.trunk_outputs(window, None))
    }

    /// One member's class probabilities, given the window and the trunk outputs for it.
    pub fn run_member(&mut self, member: usize, window: &[f32], trunk: &[Vec<f32>]) -> Result<Vec<f32>, ModelError> {
        with_flush_to_zero(|| self.member_probs(member, window, trunk))
    }

    fn trunk_outputs(&mut self, window: &[f32], end_frame: Option<u64>) -> Result<Vec<Vec<f32>>, ModelError> {
        if window.len() != self.window_len() {
            return Err(ModelError::InputSize { got: window.len(), expected: self.window_len() });
        }
        match self.trunk.as_mut() {
            Some(t) => t.run(window, end_frame),
            None => Ok(Vec::new()),
        }
    }

    fn member_probs(&mut self, member: usize, window: &[f32], trunk: &[Vec<f32>]) -> Result<Vec<f32>, ModelError> {
        let classes = self.manifest.num_classes();
        let entry = &self.manifest.members[member];
        let m = &mut self.members[member];
        let outputs = if m.reads.is_empty() {
            if window.len() != self.manifest.window_len() {
                return Err(ModelError::InputSize { got: window.len(), expected: self.manifest.window_len() });
            }
            let input = TensorRef::from_array_view((self.shape.clone(), window)).map_err(infer)?;
            m.session.run(ort::inputs![entry.inputs[0].as_str() => input]).map_err(infer)?
        } else {
            let mut inputs = Vec::with_capacity(m.reads.len());
            for (name, &i) in entry.inputs.iter().zip(&m.reads) {
                let v = trunk.get(i).ok_or_else(|| ModelError::Inference("trunk outputs missing".into()))?;
                let t = TensorRef::from_array_view(([1i64, v.len() as i64], v.as_slice())).map_err(infer)?;
                inputs.push((name.as_str(), t));
            }
            m.session.run(inputs).map_err(infer)?
        };
        let (_, probs) = outputs[entry.output.as_str()].try_extract_tensor::<f32>().map_err(infer)?;
        if probs.len() != classes {
            return Err(ModelError::Inference(format!(
                "member {} returned {} values, expected {classes}",
                entry.file,
                probs.len()
            )));
        }
        let out = probs.to_vec();
        if out.iter().any(|p| !p.is_finite()) {
            return Err(ModelError::Inference(format!("member {} returned non-finite output", entry.file)));
        }
        Ok(out)
    }
}

/// Runs `f` with denormals flushed to zero (x86-64 MXCSR FTZ + DAZ), then restores the caller's
/// mode on every exit, a panic included (the panic is caught further up on the analysis thread,
/// or in the host's offline render, and that thread must not keep our float mode). Hosts often
/// run their audio threads with FTZ on (nice-plug does during `process`), our analysis thread and
/// the CLI do not; offline rendering runs the model on the host's thread, and the same window must
/// give the same probabilities on every thread. Denormals would only slow a model down anyway.
pub fn with_flush_to_zero<T>(f: impl FnOnce() -> T) -> T {
    #[cfg(target_arch = "x86_64")]
    {
        let _restore = mxcsr::FlushToZero::set();
        f()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        f()
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(deprecated)]
// _mm_getcsr/_mm_setcsr: no stable replacement besides inline asm
// unsafe: reading and writing MXCSR (the thread's float mode) has no safe API in std.
#[allow(unsafe_code)]
pub mod mxcsr {
    use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};

    /// Flush-to-zero (bit 15) and denormals-are-zero (bit 6).
    pub const FTZ_DAZ: u32 = (1 << 15) | (1 << 6);

    /// This thread's MXCSR.
    pub fn get() -> u32 {
        // SAFETY: reading MXCSR has no side effect.
        unsafe { _mm_getcsr() }
    }

    /// Sets this thread's MXCSR (float rounding and exception flags of this thread only).
    pub fn set(value: u32) {
        // SAFETY: writing MXCSR only changes this thread's float mode.
        unsafe { _mm_setcsr(value) }
    }

    /// FTZ + DAZ while alive; the saved MXCSR comes back on drop, so also when unwinding.
    pub struct FlushToZero {
        saved: u32,
    }

    impl FlushToZero {
        pub fn set() -> Self {
            let saved = get();
            set(saved | FTZ_DAZ);
            Self { saved }
        }
    }

    impl Drop for FlushToZero {
        fn drop(&mut self) {
            set(self.saved);
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// The caller's float mode comes back whether the closure returns or panics.
    #[test]
    fn flush_to_zero_is_restored_on_return_and_on_panic() {
        let before = mxcsr::get();
        assert_eq!(before & mxcsr::FTZ_DAZ, 0, "test threads start without FTZ/DAZ");
        let inside = with_flush_to_zero(mxcsr::get);
        assert_eq!(inside & mxcsr::FTZ_DAZ, mxcsr::FTZ_DAZ);
        assert_eq!(mxcsr::get(), before);
        let caught = std::panic::catch_unwind(|| {
            with_flush_to_zero(|| {
                assert_eq!(mxcsr::get() & mxcsr::FTZ_DAZ, mxcsr::FTZ_DAZ);
                panic!("inference panicked");
            })
        });
        assert!(caught.is_err());
        assert_eq!(mxcsr::get(), before, "MXCSR after a panic: {:#x}, before: {before:#x}", mxcsr::get());
        // A caller that had FTZ on keeps it on.
        mxcsr::set(before | mxcsr::FTZ_DAZ);
        let _ = std::panic::catch_unwind(|| with_flush_to_zero(|| panic!("again")));
        assert_eq!(mxcsr::get(), before | mxcsr::FTZ_DAZ);
        mxcsr::set(before);
    }
}
