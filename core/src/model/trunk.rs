//! Running a model's trunk: whole windows, or the streaming split with per-frame outputs cached
//! between overlapping windows.
//!
//! With a [`StreamingSplit`], the per-frame graph's output for a frame is computed once, when the
//! frame and its `context` frames of look-ahead are in, and kept in a ring; each window then
//! needs only the frames that are new since the last one, plus its own edges. The per-frame graph
//! zero-pads past the ends of what it is given, as the whole trunk pads a window's ends, so:
//! - a frame at least `context` frames inside the window: its cached ("interior") output is what
//!   the whole trunk computes for it (it never sees the padding);
//! - the first and last `context` frames of a window see the window's padding: their outputs are
//!   recomputed for every window, from the window's first or last `2·context` frames. The last
//!   ones come with the new frames' chunk (it ends where the window ends); the first ones need a
//!   second, small run unless the chunk starts at the window's start.
//!
//! So a window's per-frame input to the per-window graph is exactly the one the whole trunk would
//! compute, up to how ONNX Runtime rounds a conv on a chunk of another length (tests measure it).
//! When the cache cannot serve a window (the first window, after a reset, after gated windows,
//! a hop of a window or more), the whole window is one chunk, which is the whole trunk's work.
use super::manifest::{InputSpec, StreamingSplit, TrunkEntry, TrunkOutput};
use super::session::{self, SessionOptions};
use super::ModelError;
use ort::session::Session;
use ort::value::TensorRef;
use std::path::Path;

/// A loaded trunk.
pub struct TrunkRunner {
    input: String,
    /// `[1, dims...]` of one window.
    shape: Vec<i64>,
    window_frames: usize,
    window_len: usize,
    outputs: Vec<TrunkOutput>,
    kind: Kind,
}

enum Kind {
    Whole(Session),
    Streaming(Box<Streaming>),
}

struct Streaming {
    frames: Session,
    window: Session,
    frame_output: String,
    channels: usize,
    context: usize,
    frame_dim: usize,
    /// Interior outputs of frames `[from, to)` of the stream (slot `frame % window_frames`).
    ring: Vec<f32>,
    cached: Option<(u64, u64)>,
    /// The per-window graph's frame input, `[window_frames, channels]`.
    assembled: Vec<f32>,
    /// Chunks run through the per-frame graph since loading (for tests and benchmarks).
    frame_runs: u64,
    frames_computed: u64,
}

impl TrunkRunner {
    /// The trunk a manifest entry describes, its files in `dir` (checksums not verified: for
    /// tools that just wrote them): the streaming split if it has one and `opts` allows it.
    pub fn from_entry(
        entry: &TrunkEntry,
        dir: &Path,
        input: &InputSpec,
        opts: SessionOptions,
    ) -> Result<Self, ModelError> {
        match &entry.streaming {
            Some(s) if !opts.whole_window_trunk => {
                Self::streaming(&dir.join(&s.frames.file), &dir.join(&s.window.file), s, input, &entry.outputs, opts)
            }
            _ => Self::whole(&dir.join(&entry.file), input, &entry.outputs, opts),
        }
    }

    /// The whole-window trunk `file`.
    pub fn whole(
        file: &Path,
        input: &InputSpec,
        outputs: &[TrunkOutput],
        opts: SessionOptions,
    ) -> Result<Self, ModelError> {
        let s = session::build(file, opts)?;
        check_io(&s, file, std::slice::from_ref(&input.name), outputs.iter().map(|o| &o.name))?;
        Ok(Self::new(input, outputs, Kind::Whole(s)))
    }

    /// The streaming split: `frames` and `window` are the files of `split`.
    pub fn streaming(
        frames: &Path,
        window: &Path,
        split: &StreamingSplit,
        input: &InputSpec,
        outputs: &[TrunkOutput],
        opts: SessionOptions,
    ) -> Result<Self, ModelError> {
        let f = session::build(frames, opts)?;
        check_io(&f, frames, std::slice::from_ref(&input.name), [&split.frame_output])?;
        let w = session::build(window, opts)?;
        let ins = [input.name.clone(), split.frame_output.clone()];
        check_io(&w, window, &ins, outputs.iter().map(|o| &o.name))?;
        let frame_dim = input.shape.get(2).copied().unwrap_or(0).max(0) as usize;
        let n = input.window_frames;
        if input.shape.len() != 3 || frame_dim == 0 || 2 * split.context >= n {
            return Err(ModelError::Load {
                file: frames.to_path_buf(),
                message: format!("a streaming trunk needs [batch, {n} frames, dim] windows, not {:?}", input.shape),
            });
        }
        let s = Streaming {
            frames: f,
            window: w,
            frame_output: split.frame_output.clone(),
            channels: split.channels,
            context: split.context,
            frame_dim,
            ring: vec![0.0; n * split.channels],
            cached: None,
            assembled: vec![0.0; n * split.channels],
            frame_runs: 0,
            frames_computed: 0,
        };
        Ok(Self::new(input, outputs, Kind::Streaming(Box::new(s))))
    }

    fn new(input: &InputSpec, outputs: &[TrunkOutput], kind: Kind) -> Self {
        let mut shape = input.shape.clone();
        shape[0] = 1;
        let window_len = shape[1..].iter().product::<i64>().max(0) as usize;
        Self {
            input: input.name.clone(),
            shape,
            window_frames: input.window_frames,
            window_len,
            outputs: outputs.to_vec(),
            kind,
        }
    }

    pub fn is_streaming(&self) -> bool {
        matches!(self.kind, Kind::Streaming(_))
    }

    /// `(per-frame graph runs, frames they computed)` since loading; `(0, 0)` for a whole trunk.
    pub fn frame_work(&self) -> (u64, u64) {
        match &self.kind {
            Kind::Whole(_) => (0, 0),
            Kind::Streaming(s) => (s.frame_runs, s.frames_computed),
        }
    }

    /// Forgets the cached frames (a new stream).
    pub fn reset(&mut self) {
        if let Kind::Streaming(s) = &mut self.kind {
            s.cached = None;
        }
    }

    /// The trunk's outputs (manifest order) for one window. `end_frame`: the stream position of
    /// the window's end (frames since the stream started), which lets a streaming trunk reuse
    /// the frames it computed for earlier windows of the same stream; `None` for a window on its
    /// own (nothing cached is used or kept). Positions must grow within a stream; call
    /// [`Self::reset`] when a new one starts.
    pub fn run(&mut self, window: &[f32], end_frame: Option<u64>) -> Result<Vec<Vec<f32>>, ModelError> {
        if window.len() != self.window_len {
            return Err(ModelError::InputSize { got: window.len(), expected: self.window_len });
        }
        let input = TensorRef::from_array_view((self.shape.clone(), window)).map_err(infer)?;
        let outputs = match &mut self.kind {
            Kind::Whole(s) => s.run(ort::inputs![self.input.as_str() => input]).map_err(infer)?,
            Kind::Streaming(s) => {
                s.assemble(&self.input, window, self.window_frames, end_frame)?;
                let n = self.window_frames as i64;
                let frames =
                    TensorRef::from_array_view(([1, n, s.channels as i64], s.assembled.as_slice())).map_err(infer)?;
                s.window
                    .run(ort::inputs![self.input.as_str() => input, s.frame_output.as_str() => frames])
                    .map_err(infer)?
            }
        };
        self.outputs
            .iter()
            .map(|o| {
                let (_, v) = outputs[o.name.as_str()].try_extract_tensor::<f32>().map_err(infer)?;
                if v.len() != o.dim {
                    return Err(ModelError::Inference(format!(
                        "trunk output {} has {} values, manifest says {}",
                        o.name,
                        v.len(),
                        o.dim
                    )));
                }
                Ok(v.to_vec())
            })
            .collect()
    }
}

impl Streaming {
    /// Fills `assembled` with the per-frame outputs the whole trunk would compute for `window`.
    fn assemble(&mut self, input: &str, window: &[f32], n: usize, end: Option<u64>) -> Result<(), ModelError> {
        let (ctx, c) = (self.context, self.channels);
        // Absolute frame positions; a window on its own is put anywhere, nothing cached is kept.
        let standalone = end.is_none_or(|e| e < n as u64);
        let e = if standalone { n as u64 } else { end.unwrap_or(0) };
        let s = e - n as u64;
        let (lo, hi) = (s + ctx as u64, e - ctx as u64);
        // Interior outputs cached for [b.., and usable if the cache reaches the window's interior
        // without a gap and not beyond it (positions only grow within a stream).
        let from = match self.cached {
            Some((a, b)) if !standalone && a <= lo && lo <= b && b <= hi => b,
            _ => lo,
        };
        // The new frames' chunk: the frames whose interior outputs are missing, with their
        // context, up to the window's end (so its last outputs are the window's right edge).
        let chunk_start = from - ctx as u64;
        let first = (chunk_start - s) as usize;
        let out = self.run_frames(input, &window[first * self.frame_dim..])?;
        let row = |f: u64| (f - chunk_start) as usize * c;
        for f in from..hi {
            let slot = (f % n as u64) as usize * c;
            self.ring[slot..slot + c].copy_from_slice(&out[row(f)..row(f) + c]);
        }
        self.cached = if standalone { None } else { Some((lo, hi)) };
        // Right edge, from the chunk.
        let right = (n - ctx) * c;
        self.assembled[right..].copy_from_slice(&out[row(hi)..row(e)]);
        // Interior, from the ring.
        for f in lo..hi {
            let slot = (f % n as u64) as usize * c;
            let at = (f - s) as usize * c;
            self.assembled[at..at + c].copy_from_slice(&self.ring[slot..slot + c]);
        }
        // Left edge: from the chunk if it starts at the window's start, else from the window's
        // first 2·context frames.
        if chunk_start == s {
            self.assembled[..ctx * c].copy_from_slice(&out[..ctx * c]);
        } else {
            let left = self.run_frames(input, &window[..2 * ctx * self.frame_dim])?;
            self.assembled[..ctx * c].copy_from_slice(&left[..ctx * c]);
        }
        Ok(())
    }

    /// The per-frame graph on consecutive frames: `[frames, channels]`.
    fn run_frames(&mut self, input: &str, frames: &[f32]) -> Result<Vec<f32>, ModelError> {
        let l = frames.len() / self.frame_dim;
        let t = TensorRef::from_array_view(([1, l as i64, self.frame_dim as i64], frames)).map_err(infer)?;
        let outputs = self.frames.run(ort::inputs![input => t]).map_err(infer)?;
        let (_, v) = outputs[self.frame_output.as_str()].try_extract_tensor::<f32>().map_err(infer)?;
        if v.len() != l * self.channels {
            return Err(ModelError::Inference(format!(
                "per-frame trunk output has {} values for {l} frames x {} channels",
                v.len(),
                self.channels
            )));
        }
        self.frame_runs += 1;
        self.frames_computed += l as u64;
        Ok(v.to_vec())
    }
}

fn check_io<'a>(
    s: &Session,
    file: &Path,
    inputs: &[String],
    outputs: impl IntoIterator<Item = &'a String>,
) -> Result<(), ModelError> {
    let missing_in = inputs.iter().find(|n| !s.inputs().iter().any(|i| i.name() == n.as_str()));
    let missing_out = outputs.into_iter().find(|n| !s.outputs().iter().any(|o| o.name() == n.as_str()));
    match missing_in.or(missing_out) {
        None => Ok(()),
        Some(n) => Err(ModelError::Load {
            file: file.to_path_buf(),
            message: format!("graph lacks input or output '{n}' named in the manifest"),
        }),
    }
}

pub(crate) fn infer(e: impl std::fmt::Display) -> ModelError {
    ModelError::Inference(e.to_string())
}
