//! The fuzz targets' entry functions: each takes arbitrary bytes and runs them through code that
//! reads untrusted input, asserting what must hold for any input. `fuzz_targets/*.rs` hand them to
//! libFuzzer (`cargo xtask fuzz`); `tests/replay.rs` runs every file of `corpus/<target>/` and
//! `regressions/<target>/` through them in a normal `cargo test`, without libFuzzer.
//!
//! Targets: `manifest` (model admission of manifest bytes), `onnx` (our ONNX reader,
//! `genrescope_onnx_graph::Reader`), `checkpoint` (the TensorFlow tensor-bundle reader, raw and
//! with valid table checksums), `decode` (audio files through `decode_file`), `queue` (the frame
//! queue and window assembly under arbitrary frame/epoch/clear sequences).
use genrescope_core::audio_file::decode_file;
use genrescope_core::features::FeatureTransform;
use genrescope_core::model::{admission, ModelManifest, FORMAT_VERSION};
use genrescope_core::window::WindowAssembler;
use genrescope_engine::frontend::queue_capacity;
use genrescope_engine::{frame_queue, AudioFrontEnd};
use genrescope_trainer::musicnn::checkpoint::Checkpoint;
use std::collections::VecDeque;
use std::path::PathBuf;

/// A fuzz target's entry: arbitrary bytes in, a panic on a bug.
pub type Entry = fn(&[u8]);

/// Every target, as `(name, entry)`.
pub const TARGETS: [(&str, Entry); 5] =
    [("manifest", manifest), ("onnx", onnx), ("checkpoint", checkpoint), ("decode", decode), ("queue", queue)];

/// Manifest bytes through model admission; an admitted manifest must build what activation builds
/// (the frame queue, the audio-thread front end, the window transform) and process audio.
pub fn manifest(data: &[u8]) {
    let Ok(m) = admission::admit_json(data) else { return };
    let spec = &m.front_end;
    let (tx, _rx) = frame_queue(spec.mel_dim(), queue_capacity(spec));
    let mut fe = AudioFrontEnd::new(spec, 44_100.0, 512, tx).expect("admitted front end builds");
    fe.process(&[vec![0.25f32; 512]]);
    FeatureTransform::new(spec).expect("admitted transform builds");
    // Admission is stable: what it admitted, written back, is admitted again unchanged. (A
    // version 1 manifest is held in the version 2 form: it is written back as version 2.)
    let v2 = ModelManifest { format_version: FORMAT_VERSION, ..m };
    let again = admission::admit_json(&serde_json::to_vec_pretty(&v2).expect("serializes")).expect("re-admitted");
    assert_eq!(again, v2);
}

/// ONNX bytes through our reader: everything it can be asked about the graph.
pub fn onnx(data: &[u8]) {
    let Ok(r) = genrescope_onnx_graph::Reader::parse(data) else { return };
    let _ = (r.node_names(), r.output_names(), r.has_op("Conv"));
    for name in r.input_names() {
        let _ = r.input_dims(name);
    }
    for name in r.initializer_names() {
        if let Ok((dims, values)) = r.f32(name) {
            assert_eq!(dims.iter().product::<usize>(), values.len(), "{name}");
        }
    }
}

/// A tensor bundle through the checkpoint reader. The first byte picks the form: odd = raw
/// index bytes; even = a list of (key, value) records the fuzzer chose, written as a LevelDB table
/// with valid checksums (random bytes never get past the block crc32c, these reach the
/// `BundleEntryProto` parsing and the tensor reads). The rest after a 2-byte length is the data shard.
pub fn checkpoint(data: &[u8]) {
    let Some(c) = open_checkpoint(data) else { return };
    for name in c.names() {
        let e = c.entry(name).expect("listed").clone();
        if let Ok(bytes) = c.tensor_bytes(name) {
            assert_eq!(bytes.len() as u64, e.size);
        }
        if let Ok((shape, values)) = c.tensor_f32(name) {
            assert_eq!(shape.iter().product::<usize>(), values.len());
        }
    }
}

fn open_checkpoint(data: &[u8]) -> Option<Checkpoint> {
    let (&mode, rest) = data.split_first()?;
    let (len, rest) = rest.split_first_chunk::<2>()?;
    let n = (u16::from_le_bytes(*len) as usize).min(rest.len());
    let (index, shard) = rest.split_at(n);
    let index = if mode % 2 == 1 { index.to_vec() } else { table::from_records(index) };
    let dir = scratch();
    std::fs::write(dir.join("ckpt.index"), &index).unwrap();
    std::fs::write(dir.join("ckpt.data-00000-of-00001"), shard).unwrap();
    Checkpoint::open(&dir.join("ckpt")).ok()
}

/// An audio file through `decode_file`. The first byte picks the file name's extension (a hint;
/// content is probed), the rest is the file.
pub fn decode(data: &[u8]) {
    const EXT: [&str; 7] = ["wav", "flac", "ogg", "mp3", "m4a", "au", "aac"];
    let Some((&sel, bytes)) = data.split_first() else { return };
    let path = scratch().join(format!("input.{}", EXT[sel as usize % EXT.len()]));
    std::fs::write(&path, bytes).unwrap();
    if let Ok(audio) = decode_file(&path) {
        let n = audio.num_frames();
        assert!(audio.channels.iter().all(|c| c.len() == n), "channels of different lengths");
    }
}

/// The frame queue under arbitrary sequences of sends (frames of any bit pattern), host resets
/// (epochs), receives and clears, checked against a plain model of a bounded FIFO; received frames
/// go through the analyzer's window assembly, restarted on every new epoch as the analyzer does.
pub fn queue(data: &[u8]) {
    let mut it = data.iter().copied();
    let dim = 1 + it.next().unwrap_or(0) as usize % 8;
    let capacity = 1 + it.next().unwrap_or(0) as usize % 16;
    let window = 1 + it.next().unwrap_or(0) as usize % 6;
    let hop = 1 + it.next().unwrap_or(0) as usize % 4;
    let (mut tx, mut rx) = frame_queue(dim, capacity);
    let mut model: VecDeque<(Vec<u32>, u32, u32)> = VecDeque::new();
    let (mut epoch, mut dropped) = (0u32, 0u64);
    let mut assembler = WindowAssembler::new(dim, window, hop);
    let mut current_epoch = None;
    let mut frame = vec![0f32; dim];
    let mut out = vec![0f32; dim * window];
    let next_u32 = |it: &mut std::iter::Copied<std::slice::Iter<'_, u8>>| {
        u32::from_le_bytes([
            it.next().unwrap_or(0),
            it.next().unwrap_or(0),
            it.next().unwrap_or(0),
            it.next().unwrap_or(0),
        ])
    };
    while let Some(op) = it.next() {
        match op % 4 {
            0 => {
                let values: Vec<u32> = (0..dim).map(|_| next_u32(&mut it)).collect();
                let level = next_u32(&mut it);
                let f: Vec<f32> = values.iter().map(|&b| f32::from_bits(b)).collect();
                let sent = tx.send(&f, f32::from_bits(level));
                assert_eq!(sent, model.len() < capacity, "send into a queue holding {}", model.len());
                if sent {
                    model.push_back((values, level, epoch));
                } else {
                    dropped += 1;
                }
            }
            1 => {
                tx.new_epoch();
                epoch = epoch.wrapping_add(1);
            }
            2 => match (rx.recv(&mut frame), model.pop_front()) {
                (Some(meta), Some((values, level, e))) => {
                    assert_eq!(frame.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), values);
                    assert_eq!(meta.level_db.to_bits(), level);
                    assert_eq!(meta.epoch, e);
                    if current_epoch != Some(meta.epoch) {
                        assembler.reset();
                        current_epoch = Some(meta.epoch);
                    }
                    if assembler.push(&frame) {
                        assembler.copy_window(&mut out);
                    }
                }
                (None, None) => {}
                (got, want) => panic!("queue gave {got:?}, model {want:?}"),
            },
            _ => {
                rx.clear();
                model.clear();
            }
        }
        assert_eq!(rx.len(), model.len());
        assert_eq!(rx.dropped(), dropped);
    }
}

/// A folder for this process's scratch files (tmpfs when there is one: fuzzing writes a file per run).
fn scratch() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let base = ["/dev/shm"].iter().map(PathBuf::from).find(|p| p.is_dir()).unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("genrescope-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
    .clone()
}

/// LevelDB tables with valid checksums, from fuzzer bytes.
mod table {
    const MAGIC: u64 = 0xdb47_7524_8b80_fb57;

    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn mask(crc: u32) -> u32 {
        crc.rotate_right(15).wrapping_add(0xa282_ead8)
    }

    /// One block: prefix-compressed entries (a restart point at each), the restart array.
    fn block(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut restarts = Vec::new();
        for (k, v) in entries {
            restarts.push(out.len() as u32);
            varint(&mut out, 0);
            varint(&mut out, k.len() as u64);
            varint(&mut out, v.len() as u64);
            out.extend_from_slice(k);
            out.extend_from_slice(v);
        }
        if restarts.is_empty() {
            restarts.push(0);
        }
        for r in &restarts {
            out.extend_from_slice(&r.to_le_bytes());
        }
        out.extend_from_slice(&(restarts.len() as u32).to_le_bytes());
        out
    }

    /// Appends a block with its trailer; returns its handle (offset, size).
    fn push(file: &mut Vec<u8>, block: &[u8]) -> (u64, u64) {
        let offset = file.len() as u64;
        file.extend_from_slice(block);
        file.push(0);
        let crc = crc32c::crc32c_append(crc32c::crc32c(block), &[0]);
        file.extend_from_slice(&mask(crc).to_le_bytes());
        (offset, block.len() as u64)
    }

    /// Records from bytes: `[key_len u8][key][value_len u8][value]...`, sorted and deduplicated by
    /// key (a table's keys are ordered), in one data block.
    pub fn from_records(bytes: &[u8]) -> Vec<u8> {
        let mut records = std::collections::BTreeMap::new();
        let mut rest = bytes;
        while let Some((&kl, r)) = rest.split_first() {
            let (k, r) = r.split_at((kl as usize).min(r.len()));
            let Some((&vl, r)) = r.split_first() else { break };
            let (v, r) = r.split_at((vl as usize).min(r.len()));
            records.insert(k.to_vec(), v.to_vec());
            rest = r;
        }
        let entries: Vec<_> = records.into_iter().collect();
        let mut file = Vec::new();
        let data = push(&mut file, &block(&entries));
        let meta = push(&mut file, &block(&[]));
        let last_key = entries.last().map(|(k, _)| k.clone()).unwrap_or_default();
        let mut handle = Vec::new();
        varint(&mut handle, data.0);
        varint(&mut handle, data.1);
        let index = push(&mut file, &block(&[(last_key, handle)]));
        let mut footer = Vec::new();
        for h in [meta, index] {
            varint(&mut footer, h.0);
            varint(&mut footer, h.1);
        }
        footer.resize(40, 0);
        footer.extend_from_slice(&(MAGIC as u32).to_le_bytes());
        footer.extend_from_slice(&((MAGIC >> 32) as u32).to_le_bytes());
        file.extend_from_slice(&footer);
        file
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The structured seed builds a table the reader accepts, with both tensors readable: the
    /// fuzzer starts past the checksums.
    #[test]
    fn structured_checkpoint_seed_reaches_the_tensors() {
        let seed = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/corpus/checkpoint/structured-two-tensors"));
        let c = open_checkpoint(&seed.unwrap()).expect("opens");
        assert_eq!(c.names(), vec!["a/w", "b"]);
        assert_eq!(c.tensor_f32("a/w").unwrap(), (vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]));
        assert_eq!(c.tensor_f32("b").unwrap(), (vec![2], vec![-1.0, 0.5]));
    }
}
