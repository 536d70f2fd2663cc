//! Reader for TensorFlow's tensor-bundle checkpoints (`<prefix>.index` + `<prefix>.data-*-of-*`).
//!
//! Why this exists: no Rust crate reads the tensor-bundle format, and TensorFlow itself is a ~500 MB
//! install that the build, the tests and CI must not need. The format is small: the `.index` is a
//! LevelDB SSTable (TF's port in `tensorflow/core/lib/io/table*`) mapping each variable name to a
//! `BundleEntryProto` (`tensorflow/core/protobuf/tensor_bundle.proto`), the empty key holds the
//! `BundleHeaderProto`, and the tensors are raw bytes in the data shards. Only what TF writes for a
//! plain (unpartitioned, uncompressed) checkpoint is supported; anything else is a clear error.
//!
//! Checksums: every table block carries a LevelDB trailer (compression byte + *masked* crc32c of the
//! block contents and that byte), and every entry carries the crc32c of its tensor bytes, also
//! *masked* (TF's `BundleWriter` stores `crc32c::Mask(crc)` and `BundleReader` compares
//! `crc32c::Unmask(entry.crc32c())`; checked on musicnn's checkpoint, where the two 4-byte zero
//! tensors `beta1_power`/`beta2_power` store 0x3a117ba6 = mask(crc32c([0; 4]) = 0x48674bc7)).
//! Both are verified on every read.
use anyhow::{bail, ensure, Context, Result};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// `DataType::DT_FLOAT` in tensorflow/core/framework/types.proto.
pub const DT_FLOAT: i32 = 1;
/// LevelDB / TF table footer: two block handles (≤ 2 × 2 × 10 bytes of varints), padding, 8-byte magic.
const FOOTER_LEN: usize = 48;
const TABLE_MAGIC: u64 = 0xdb47_7524_8b80_fb57;
/// Compression byte + masked crc32c after every block.
const BLOCK_TRAILER_LEN: usize = 5;

/// One tensor's record in the index (`BundleEntryProto`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// `tensorflow.DataType` (1 = DT_FLOAT).
    pub dtype: i32,
    pub shape: Vec<usize>,
    pub shard_id: u32,
    /// Byte range of the tensor in its data shard.
    pub offset: u64,
    pub size: u64,
    /// crc32c of the tensor bytes, masked as LevelDB/TF mask it (see the module comment).
    pub masked_crc32c: u32,
    /// Partitioned variables list slices instead of holding bytes themselves (not supported).
    pub num_slices: usize,
}

/// An opened tensor bundle: the parsed index; tensor bytes are read (and checked) on demand.
#[derive(Debug)]
pub struct Checkpoint {
    prefix: PathBuf,
    num_shards: u32,
    entries: BTreeMap<String, Entry>,
}

impl Checkpoint {
    /// Open a checkpoint by its prefix (`/x/model.ckpt` for `/x/model.ckpt.index`) or by a directory
    /// holding files with an empty base name (`<dir>/.index`, `<dir>/.data-00000-of-00001`), which is
    /// how musicnn ships its checkpoints (`<path>.index` wins if both exist). Reads and verifies the
    /// whole index; no tensor data yet.
    pub fn open(prefix_dir_or_prefix: &Path) -> Result<Self> {
        let as_prefix = with_suffix(prefix_dir_or_prefix, ".index").is_file();
        let prefix = if !as_prefix && prefix_dir_or_prefix.is_dir() {
            // `<dir>/` + "" : the files are `<dir>/.index` etc.
            let mut p = prefix_dir_or_prefix.as_os_str().to_owned();
            p.push(std::path::MAIN_SEPARATOR_STR);
            PathBuf::from(p)
        } else {
            prefix_dir_or_prefix.to_path_buf()
        };
        let index_path = with_suffix(&prefix, ".index");
        let bytes = std::fs::read(&index_path)
            .with_context(|| format!("could not read checkpoint index {}", index_path.display()))?;
        let table = read_table(&bytes)
            .with_context(|| format!("{} is not a valid tensor-bundle index", index_path.display()))?;

        let mut header = None;
        let mut entries = BTreeMap::new();
        for (key, value) in table {
            if key.is_empty() {
                header = Some(parse_header(&value).context("bad BundleHeaderProto (key \"\")")?);
                continue;
            }
            let name =
                String::from_utf8(key).map_err(|e| anyhow::anyhow!("tensor name is not UTF-8: {:?}", e.as_bytes()))?;
            let entry = parse_entry(&value).with_context(|| format!("bad BundleEntryProto for {name:?}"))?;
            entries.insert(name, entry);
        }
        let header =
            header.with_context(|| format!("{} has no BundleHeaderProto (empty key)", index_path.display()))?;
        ensure!(header.endianness == 0, "{}: big-endian tensor bundles are not supported", index_path.display());
        ensure!(header.num_shards >= 1, "{}: header says {} shards", index_path.display(), header.num_shards);
        for (name, e) in &entries {
            ensure!(
                e.shard_id < header.num_shards,
                "{}: {name:?} is in shard {} of {}",
                index_path.display(),
                e.shard_id,
                header.num_shards
            );
        }
        Ok(Self { prefix, num_shards: header.num_shards, entries })
    }

    /// The prefix the file names are built from (`<dir>/` for a directory).
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    pub fn num_shards(&self) -> u32 {
        self.num_shards
    }

    /// Path of data shard `shard_id` (`<prefix>.data-00000-of-00001`, as TF's `DataFilename`).
    pub fn shard_path(&self, shard_id: u32) -> PathBuf {
        with_suffix(&self.prefix, &format!(".data-{shard_id:05}-of-{:05}", self.num_shards))
    }

    /// All tensor names (without the header's empty key), in the index's (byte-wise sorted) order.
    pub fn names(&self) -> Vec<&str> {
        self.entries.keys().map(String::as_str).collect()
    }

    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.get(name)
    }

    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.entries.get(name).map(|e| e.shape.as_slice())
    }

    /// The tensor's raw (little-endian) bytes, crc-checked.
    pub fn tensor_bytes(&self, name: &str) -> Result<Vec<u8>> {
        let e = self
            .entries
            .get(name)
            .with_context(|| format!("no tensor {name:?} in checkpoint {}", self.prefix.display()))?;
        ensure!(
            e.num_slices == 0,
            "tensor {name:?} is stored as {} slices (partitioned variable): not supported",
            e.num_slices
        );
        let path = self.shard_path(e.shard_id);
        let mut f = File::open(&path).with_context(|| format!("could not open {}", path.display()))?;
        let len = f.metadata()?.len();
        let end = e.offset.checked_add(e.size).context("offset + size overflows")?;
        if end > len {
            bail!("{} is truncated: it is {len} bytes, but {name:?} needs bytes {}..{end}", path.display(), e.offset);
        }
        let size = usize::try_from(e.size).context("tensor too large for this platform")?;
        let mut buf = vec![0u8; size];
        f.seek(SeekFrom::Start(e.offset))?;
        f.read_exact(&mut buf).with_context(|| format!("could not read {name:?} from {}", path.display()))?;
        let crc = crc32c::crc32c(&buf);
        if mask_crc(crc) != e.masked_crc32c {
            bail!(
                "crc32c mismatch for {name:?} in {} (bytes {}..{end}): stored {:#010x} (unmasked {:#010x}), computed {crc:#010x}; the file is corrupt",
                path.display(),
                e.offset,
                e.masked_crc32c,
                unmask_crc(e.masked_crc32c)
            );
        }
        Ok(buf)
    }

    /// A DT_FLOAT tensor as (shape, values in row-major order), crc-checked.
    pub fn tensor_f32(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let e = self
            .entries
            .get(name)
            .with_context(|| format!("no tensor {name:?} in checkpoint {}", self.prefix.display()))?;
        ensure!(
            e.dtype == DT_FLOAT,
            "tensor {name:?} has dtype {} ({}), not DT_FLOAT (1)",
            e.dtype,
            dtype_name(e.dtype)
        );
        let count = e.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).context("shape overflows")?;
        ensure!(
            count.checked_mul(4).map(|b| b as u64) == Some(e.size),
            "tensor {name:?}: shape {:?} needs {count} floats = {} bytes, but the entry says {} bytes",
            e.shape,
            count as u128 * 4,
            e.size
        );
        let bytes = self.tensor_bytes(name)?;
        let values = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        Ok((e.shape.clone(), values))
    }
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = prefix.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn dtype_name(dtype: i32) -> &'static str {
    // The common ones from tensorflow/core/framework/types.proto.
    match dtype {
        1 => "DT_FLOAT",
        2 => "DT_DOUBLE",
        3 => "DT_INT32",
        4 => "DT_UINT8",
        5 => "DT_INT16",
        6 => "DT_INT8",
        7 => "DT_STRING",
        9 => "DT_INT64",
        10 => "DT_BOOL",
        14 => "DT_BFLOAT16",
        19 => "DT_HALF",
        20 => "DT_RESOURCE",
        _ => "other",
    }
}

// ---------------------------------------------------------------------------------------------
// LevelDB table (the `.index` file)

const CRC_MASK_DELTA: u32 = 0xa282_ead8;

/// LevelDB's crc masking (`crc32c::Mask`): rotate right by 15 and add a constant, so that a crc
/// stored inside crc'd data does not checksum to a fixed point.
pub fn mask_crc(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(CRC_MASK_DELTA)
}

pub fn unmask_crc(masked: u32) -> u32 {
    masked.wrapping_sub(CRC_MASK_DELTA).rotate_left(15)
}

/// Decode a base-128 varint (at most 64 bits) at `*pos`, advancing it.
fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let Some(&b) = buf.get(*pos) else {
            bail!("truncated varint at byte {}", *pos);
        };
        *pos += 1;
        if shift == 63 && b > 1 {
            bail!("varint longer than 64 bits at byte {}", *pos - 1);
        }
        value |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(value);
        }
    }
    bail!("varint longer than 10 bytes at byte {}", *pos)
}

fn read_u32_le(buf: &[u8], pos: usize) -> Result<u32> {
    let b = buf.get(pos..pos + 4).with_context(|| format!("truncated: no 4 bytes at {pos}"))?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BlockHandle {
    offset: u64,
    size: u64,
}

fn read_handle(buf: &[u8], pos: &mut usize) -> Result<BlockHandle> {
    Ok(BlockHandle { offset: read_varint(buf, pos)?, size: read_varint(buf, pos)? })
}

/// The contents of one block, after checking its trailer (compression byte, masked crc32c).
fn block_contents<'a>(file: &'a [u8], h: BlockHandle, what: &str) -> Result<&'a [u8]> {
    let start = usize::try_from(h.offset)?;
    let size = usize::try_from(h.size)?;
    let end = start
        .checked_add(size)
        .and_then(|e| e.checked_add(BLOCK_TRAILER_LEN))
        .with_context(|| format!("{what} block handle overflows"))?;
    if end > file.len() - FOOTER_LEN {
        bail!(
            "truncated or corrupt: {what} block at {start}..{} (+{BLOCK_TRAILER_LEN}-byte trailer) runs past the data ({} bytes before the footer)",
            start + size,
            file.len() - FOOTER_LEN
        );
    }
    let contents = &file[start..start + size];
    let kind = file[start + size];
    let stored = read_u32_le(file, start + size + 1)?;
    let actual = crc32c::crc32c_append(crc32c::crc32c(contents), &[kind]);
    if mask_crc(actual) != stored {
        bail!(
            "block crc32c mismatch in the {what} block at {start}..{}: stored {stored:#010x} (masked), computed {:#010x}; the index is corrupt",
            start + size,
            mask_crc(actual)
        );
    }
    match kind {
        0 => Ok(contents),
        1 => bail!("{what} block is Snappy-compressed (type 1): only uncompressed tables are supported"),
        k => bail!("{what} block has compression type {k}: only uncompressed (0) tables are supported"),
    }
}

/// Decode a block: prefix-compressed entries, then the restart array and its length (u32 LE).
fn parse_block(block: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    ensure!(block.len() >= 4, "block of {} bytes has no restart count", block.len());
    let num_restarts = read_u32_le(block, block.len() - 4)? as usize;
    let restarts_len = num_restarts
        .checked_mul(4)
        .and_then(|n| n.checked_add(4))
        .filter(|&n| n <= block.len())
        .with_context(|| format!("block of {} bytes cannot hold {num_restarts} restart points", block.len()))?;
    let data_end = block.len() - restarts_len;
    let restarts: Vec<usize> =
        (0..num_restarts).map(|i| read_u32_le(block, data_end + 4 * i).map(|r| r as usize)).collect::<Result<_>>()?;
    ensure!(num_restarts > 0 || data_end == 0, "non-empty block without restart points");

    let mut out: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut key: Vec<u8> = Vec::new();
    let mut pos = 0usize;
    let mut next_restart = 0usize;
    while pos < data_end {
        let entry_start = pos;
        let shared = read_varint(block, &mut pos)? as usize;
        let non_shared = read_varint(block, &mut pos)? as usize;
        let value_len = read_varint(block, &mut pos)? as usize;
        let at_restart = restarts.get(next_restart) == Some(&entry_start);
        if at_restart {
            next_restart += 1;
            ensure!(shared == 0, "entry at restart point {entry_start} shares {shared} key bytes");
        }
        ensure!(
            shared <= key.len(),
            "entry at {entry_start} shares {shared} bytes of a {}-byte previous key",
            key.len()
        );
        let key_end = pos.checked_add(non_shared).filter(|&e| e <= data_end);
        let key_end = key_end.with_context(|| format!("entry at {entry_start}: key runs past the block"))?;
        key.truncate(shared);
        key.extend_from_slice(&block[pos..key_end]);
        pos = key_end;
        let value_end = pos.checked_add(value_len).filter(|&e| e <= data_end);
        let value_end = value_end.with_context(|| format!("entry at {entry_start}: value runs past the block"))?;
        if let Some((prev, _)) = out.last() {
            ensure!(*prev < key, "keys out of order at {entry_start}: {prev:?} then {key:?}");
        }
        out.push((key.clone(), block[pos..value_end].to_vec()));
        pos = value_end;
    }
    // LevelDB's BlockBuilder always records restart point 0, even in an empty block.
    let empty_ok = data_end == 0 && restarts.iter().all(|&r| r == 0);
    ensure!(
        next_restart == num_restarts || empty_ok,
        "{} of {num_restarts} restart points do not start an entry",
        num_restarts - next_restart
    );
    Ok(out)
}

/// All (key, value) pairs of an uncompressed LevelDB table, in key order, checksums verified.
fn read_table(file: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    if file.len() < FOOTER_LEN {
        bail!("truncated: {} bytes, shorter than the {FOOTER_LEN}-byte table footer", file.len());
    }
    let footer = &file[file.len() - FOOTER_LEN..];
    let magic = u64::from(read_u32_le(footer, 40)?) | (u64::from(read_u32_le(footer, 44)?) << 32);
    if magic != TABLE_MAGIC {
        bail!("bad table magic {magic:#018x} (expected {TABLE_MAGIC:#018x}): truncated, or not a LevelDB table");
    }
    let mut pos = 0;
    let metaindex = read_handle(footer, &mut pos)?;
    let index = read_handle(footer, &mut pos)?;
    ensure!(pos <= 40, "footer block handles overlap the magic");
    // The meta-index names filter blocks; TF's bundle writer adds none, and lookups by scanning
    // need none, but its checksum is still checked.
    block_contents(file, metaindex, "meta-index")?;

    let mut out = Vec::new();
    for (i, (_, value)) in parse_block(block_contents(file, index, "index")?)?.into_iter().enumerate() {
        let mut p = 0;
        let handle = read_handle(&value, &mut p).with_context(|| format!("index entry {i}"))?;
        ensure!(p == value.len(), "index entry {i} has {} trailing bytes", value.len() - p);
        let entries = parse_block(block_contents(file, handle, "data")?)
            .with_context(|| format!("data block {i} at {}", handle.offset))?;
        out.extend(entries);
    }
    for w in out.windows(2) {
        ensure!(w[0].0 < w[1].0, "keys out of order across blocks: {:?} then {:?}", w[0].0, w[1].0);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// The few protobuf fields we need, decoded by hand.

enum Field<'a> {
    Varint(u64),
    /// Skipped: none of the fields read here is a fixed64.
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// Iterate over (field number, value) of one protobuf message.
fn fields(msg: &[u8]) -> impl Iterator<Item = Result<(u32, Field<'_>)>> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        if pos >= msg.len() {
            return None;
        }
        Some((|| {
            let tag = read_varint(msg, &mut pos)?;
            let number = u32::try_from(tag >> 3).context("field number too large")?;
            ensure!(number != 0, "field number 0");
            let field = match tag & 7 {
                0 => Field::Varint(read_varint(msg, &mut pos)?),
                1 => {
                    ensure!(pos + 8 <= msg.len(), "truncated fixed64");
                    pos += 8;
                    Field::Fixed64
                }
                2 => {
                    let len = read_varint(msg, &mut pos)? as usize;
                    let end = pos.checked_add(len).filter(|&e| e <= msg.len());
                    let end = end.context("truncated length-delimited field")?;
                    let b = &msg[pos..end];
                    pos = end;
                    Field::Bytes(b)
                }
                5 => {
                    let v = read_u32_le(msg, pos).context("truncated fixed32")?;
                    pos += 4;
                    Field::Fixed32(v)
                }
                w => bail!("unsupported wire type {w} (field {number})"),
            };
            Ok((number, field))
        })())
    })
}

fn expect_varint(f: Field<'_>, what: &str) -> Result<u64> {
    match f {
        Field::Varint(v) => Ok(v),
        _ => bail!("{what}: expected a varint"),
    }
}

fn expect_bytes<'a>(f: Field<'a>, what: &str) -> Result<&'a [u8]> {
    match f {
        Field::Bytes(b) => Ok(b),
        _ => bail!("{what}: expected a length-delimited field"),
    }
}

struct Header {
    num_shards: u32,
    endianness: u64,
}

/// `BundleHeaderProto { int32 num_shards = 1; Endianness endianness = 2; VersionDef version = 3; }`
fn parse_header(msg: &[u8]) -> Result<Header> {
    let mut h = Header { num_shards: 0, endianness: 0 };
    for f in fields(msg) {
        match f? {
            (1, v) => {
                h.num_shards = u32::try_from(expect_varint(v, "num_shards")?).context("num_shards out of range")?
            }
            (2, v) => h.endianness = expect_varint(v, "endianness")?,
            _ => {} // version (producer, min_consumer): nothing to check for reading
        }
    }
    Ok(h)
}

/// `BundleEntryProto { DataType dtype = 1; TensorShapeProto shape = 2; int32 shard_id = 3;
/// int64 offset = 4; int64 size = 5; fixed32 crc32c = 6; repeated TensorSliceProto slices = 7; }`
fn parse_entry(msg: &[u8]) -> Result<Entry> {
    let mut e = Entry { dtype: 0, shape: Vec::new(), shard_id: 0, offset: 0, size: 0, masked_crc32c: 0, num_slices: 0 };
    for f in fields(msg) {
        match f? {
            (1, v) => e.dtype = expect_varint(v, "dtype")? as i32,
            (2, v) => e.shape = parse_shape(expect_bytes(v, "shape")?)?,
            (3, v) => e.shard_id = u32::try_from(expect_varint(v, "shard_id")?).context("negative shard_id")?,
            (4, v) => e.offset = expect_varint(v, "offset")?,
            (5, v) => e.size = expect_varint(v, "size")?,
            (6, Field::Fixed32(c)) => e.masked_crc32c = c,
            (6, _) => bail!("crc32c: expected fixed32"),
            (7, _) => e.num_slices += 1,
            _ => {}
        }
    }
    // int64 fields written from negative values would be huge here.
    ensure!(e.offset <= i64::MAX as u64 && e.size <= i64::MAX as u64, "negative offset or size");
    Ok(e)
}

/// `TensorShapeProto { repeated Dim dim = 2 { int64 size = 1; string name = 2; }; bool unknown_rank = 3; }`
fn parse_shape(msg: &[u8]) -> Result<Vec<usize>> {
    let mut dims = Vec::new();
    for f in fields(msg) {
        match f? {
            (2, v) => {
                let mut size = 0u64;
                for g in fields(expect_bytes(v, "dim")?) {
                    if let (1, s) = g? {
                        size = expect_varint(s, "dim.size")?;
                    }
                }
                // -1 (unknown) arrives as a 10-byte varint, i.e. > i64::MAX.
                ensure!(size <= i64::MAX as u64, "unknown or negative dimension {}", size as i64);
                dims.push(usize::try_from(size).context("dimension too large")?);
            }
            (3, Field::Varint(v)) if v != 0 => bail!("shape has unknown rank"),
            _ => {}
        }
    }
    Ok(dims)
}

#[cfg(test)]
mod tests {
    use super::*;

    // --- a tiny hand-made table -------------------------------------------------------------

    fn put_varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// A LevelDB block with prefix-compressed keys and a restart point every `interval` entries.
    fn build_block(entries: &[(Vec<u8>, Vec<u8>)], interval: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut restarts = Vec::new();
        let mut prev: &[u8] = &[];
        for (i, (k, v)) in entries.iter().enumerate() {
            let shared = if i % interval == 0 {
                restarts.push(out.len() as u32);
                0
            } else {
                k.iter().zip(prev).take_while(|(a, b)| a == b).count()
            };
            put_varint(&mut out, shared as u64);
            put_varint(&mut out, (k.len() - shared) as u64);
            put_varint(&mut out, v.len() as u64);
            out.extend_from_slice(&k[shared..]);
            out.extend_from_slice(v);
            prev = k;
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

    /// Append a block + trailer; returns its handle.
    fn push_block(file: &mut Vec<u8>, block: &[u8], kind: u8) -> (u64, u64) {
        let h = (file.len() as u64, block.len() as u64);
        file.extend_from_slice(block);
        file.push(kind);
        let crc = crc32c::crc32c_append(crc32c::crc32c(block), &[kind]);
        file.extend_from_slice(&mask_crc(crc).to_le_bytes());
        h
    }

    /// A table with its entries split into data blocks of `per_block` entries.
    fn build_table(entries: &[(Vec<u8>, Vec<u8>)], per_block: usize, interval: usize) -> Vec<u8> {
        let mut file = Vec::new();
        let mut index = Vec::new();
        for chunk in entries.chunks(per_block) {
            let (off, size) = push_block(&mut file, &build_block(chunk, interval), 0);
            let mut handle = Vec::new();
            put_varint(&mut handle, off);
            put_varint(&mut handle, size);
            // Index keys only need to be >= the block's last key; use the last key itself.
            index.push((chunk.last().unwrap().0.clone(), handle));
        }
        let meta = push_block(&mut file, &build_block(&[], 16), 0);
        let idx = push_block(&mut file, &build_block(&index, 1), 0);
        let mut footer = Vec::new();
        for v in [meta.0, meta.1, idx.0, idx.1] {
            put_varint(&mut footer, v);
        }
        footer.resize(40, 0);
        footer.extend_from_slice(&TABLE_MAGIC.to_le_bytes());
        file.extend_from_slice(&footer);
        file
    }

    fn entry_proto(dtype: u64, shape: &[u64], offset: u64, data: &[u8]) -> Vec<u8> {
        let mut shape_msg = Vec::new();
        for &d in shape {
            let mut dim = vec![0x08];
            put_varint(&mut dim, d);
            shape_msg.push(0x12);
            put_varint(&mut shape_msg, dim.len() as u64);
            shape_msg.extend_from_slice(&dim);
        }
        let mut m = vec![0x08];
        put_varint(&mut m, dtype);
        m.push(0x12);
        put_varint(&mut m, shape_msg.len() as u64);
        m.extend_from_slice(&shape_msg);
        if offset != 0 {
            m.push(0x20);
            put_varint(&mut m, offset);
        }
        m.push(0x28);
        put_varint(&mut m, data.len() as u64);
        m.push(0x35);
        m.extend_from_slice(&mask_crc(crc32c::crc32c(data)).to_le_bytes());
        m
    }

    struct TempDir(PathBuf);
    impl TempDir {
        fn new(tag: &str) -> Self {
            let p = std::env::temp_dir().join(format!(
                "genrescope-ckpt-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Self(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A one-shard bundle of three float tensors (names sharing prefixes) and one int32 tensor.
    fn write_tiny_bundle(dir: &Path, base: &str) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        let tensors: Vec<(String, Vec<usize>, Vec<f32>)> = vec![
            ("a/kernel".into(), vec![2, 3], vec![1.0, -2.0, 3.5, 0.0, 1e-3, 7.0]),
            ("a/kernel/Adam".into(), vec![3], vec![0.25, 0.5, 0.75]),
            ("b".into(), vec![], vec![42.0]),
        ];
        let mut data = Vec::new();
        let mut entries = vec![(Vec::new(), vec![0x08, 0x01, 0x1a, 0x02, 0x08, 0x01])];
        for (name, shape, values) in &tensors {
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
            entries.push((name.as_bytes().to_vec(), entry_proto(1, &shape, data.len() as u64, &bytes)));
            data.extend_from_slice(&bytes);
        }
        // An int32 tensor, to check the dtype error.
        let ints = 7i32.to_le_bytes();
        entries.push((b"c_int".to_vec(), entry_proto(3, &[1], data.len() as u64, &ints)));
        data.extend_from_slice(&ints);
        std::fs::write(dir.join(format!("{base}.index")), build_table(&entries, 2, 2)).unwrap();
        std::fs::write(dir.join(format!("{base}.data-00000-of-00001")), data).unwrap();
        tensors
    }

    #[test]
    fn musicnn_varint_and_crc_mask() {
        for v in [0u64, 1, 127, 128, 300, 16_383, 16_384, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut p = 0;
            assert_eq!(read_varint(&b, &mut p).unwrap(), v);
            assert_eq!(p, b.len());
        }
        // 300 = 0b1_0010_1100 → ac 02 (the protobuf docs' example).
        let mut p = 0;
        assert_eq!(read_varint(&[0xac, 0x02], &mut p).unwrap(), 300);
        assert!(read_varint(&[0x80, 0x80], &mut 0).is_err(), "truncated varint");
        assert!(read_varint(&[0xff; 11], &mut 0).is_err(), "over-long varint");
        // crc32c("123456789") = 0xe3069283 (the standard check value); mask round-trips.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        for c in [0u32, 1, 0xe306_9283, u32::MAX] {
            assert_eq!(unmask_crc(mask_crc(c)), c);
        }
        // What musicnn's checkpoint stores for a 4-byte zero tensor (beta1_power).
        assert_eq!(mask_crc(crc32c::crc32c(&[0; 4])), 0x3a11_7ba6);
    }

    #[test]
    fn musicnn_block_prefix_compression_and_restarts() {
        let entries: Vec<(Vec<u8>, Vec<u8>)> = ["apple", "applesauce", "apply", "banana", "band", "bandana", "c"]
            .iter()
            .enumerate()
            .map(|(i, k)| (k.as_bytes().to_vec(), vec![i as u8; i]))
            .collect();
        for interval in [1, 2, 3, 16] {
            let block = build_block(&entries, interval);
            assert_eq!(parse_block(&block).unwrap(), entries, "restart interval {interval}");
        }
        // Prefix compression is really used: "applesauce" after "apple" shares 5 bytes.
        let block = build_block(&entries, 16);
        assert_eq!(&block[..3], &[0, 5, 0]);
        assert_eq!(&block[8..11], &[5, 5, 1]);
        assert!(parse_block(&[]).is_err());
        assert_eq!(parse_block(&build_block(&[], 16)).unwrap(), vec![]);
        // Out-of-order keys and a restart count larger than the block are rejected.
        let bad = build_block(&[(b"b".to_vec(), vec![]), (b"a".to_vec(), vec![])], 1);
        assert!(parse_block(&bad).is_err());
        let mut bad = build_block(&entries, 2);
        let n = bad.len();
        bad[n - 4..].copy_from_slice(&1000u32.to_le_bytes());
        assert!(parse_block(&bad).is_err());
    }

    #[test]
    fn musicnn_tiny_bundle_round_trip_and_errors() {
        let tmp = TempDir::new("tiny");
        let tensors = write_tiny_bundle(&tmp.0, "model.ckpt-7");
        let ck = Checkpoint::open(&tmp.0.join("model.ckpt-7")).unwrap();
        assert_eq!(ck.names(), vec!["a/kernel", "a/kernel/Adam", "b", "c_int"]);
        assert_eq!(ck.num_shards(), 1);
        for (name, shape, values) in &tensors {
            assert_eq!(ck.shape(name), Some(shape.as_slice()));
            assert_eq!(ck.tensor_f32(name).unwrap(), (shape.clone(), values.clone()));
        }
        let err = format!("{:#}", ck.tensor_f32("c_int").unwrap_err());
        assert!(err.contains("DT_INT32"), "{err}");
        assert_eq!(ck.tensor_bytes("c_int").unwrap(), 7i32.to_le_bytes());
        let err = format!("{:#}", ck.tensor_f32("nope").unwrap_err());
        assert!(err.contains("no tensor \"nope\""), "{err}");
        assert!(ck.shape("nope").is_none());

        // The empty-base-name layout (musicnn's): `<dir>/.index`.
        let sub = tmp.0.join("dir");
        std::fs::create_dir(&sub).unwrap();
        write_tiny_bundle(&sub, "");
        let ck = Checkpoint::open(&sub).unwrap();
        assert_eq!(ck.tensor_f32("b").unwrap().1, vec![42.0]);
        assert!(ck.shard_path(0).ends_with(".data-00000-of-00001"));

        // A compressed block is refused with a clear message.
        let index = tmp.0.join("model.ckpt-7.index");
        let mut bytes = std::fs::read(&index).unwrap();
        // Re-stamp the first data block as Snappy (type 1) with a correct crc.
        let mut p = 0;
        let footer = &bytes[bytes.len() - FOOTER_LEN..];
        let _meta = read_handle(footer, &mut p).unwrap();
        let idx = read_handle(footer, &mut p).unwrap();
        let idx_block = parse_block(block_contents(&bytes, idx, "index").unwrap()).unwrap();
        let mut q = 0;
        let h = read_handle(&idx_block[0].1, &mut q).unwrap();
        let (s, n) = (h.offset as usize, h.size as usize);
        bytes[s + n] = 1;
        let crc = crc32c::crc32c_append(crc32c::crc32c(&bytes[s..s + n]), &[1]);
        bytes[s + n + 1..s + n + 5].copy_from_slice(&mask_crc(crc).to_le_bytes());
        std::fs::write(&index, &bytes).unwrap();
        let err = format!("{:#}", Checkpoint::open(&tmp.0.join("model.ckpt-7")).unwrap_err());
        assert!(err.contains("Snappy"), "{err}");
    }

    #[test]
    fn musicnn_proto_decoding() {
        // A scalar (shape field present but empty), offset/shard omitted = 0.
        let e = parse_entry(&[0x08, 0x01, 0x12, 0x00, 0x28, 0x04, 0x35, 1, 2, 3, 4]).unwrap();
        assert_eq!(e.shape, Vec::<usize>::new());
        assert_eq!((e.dtype, e.offset, e.size, e.masked_crc32c), (1, 0, 4, 0x0403_0201));
        // Unknown dimension (-1) is refused.
        let mut m = vec![0x08, 0x01, 0x12, 0x0d, 0x12, 0x0b, 0x08];
        m.extend_from_slice(&[0xff; 9]);
        m.push(0x01);
        assert!(parse_entry(&m).is_err());
        // Truncated length-delimited field.
        assert!(parse_entry(&[0x12, 0x05, 0x12]).is_err());
        // Header: num_shards = 3, version { producer: 1 }.
        let h = parse_header(&[0x08, 0x03, 0x1a, 0x02, 0x08, 0x01]).unwrap();
        assert_eq!((h.num_shards, h.endianness), (3, 0));
    }

    // --- the real musicnn checkpoint ----------------------------------------------------------

    fn in_ci() -> bool {
        std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
    }

    /// `$GENRESCOPE_MUSICNN_DIR`, else `<workspace>/.musicnn/MSD_musicnn`; None (SKIP) when absent
    /// outside CI.
    fn real_checkpoint_dir(test: &str) -> Option<PathBuf> {
        let dir = match std::env::var_os("GENRESCOPE_MUSICNN_DIR") {
            Some(d) => PathBuf::from(d),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.musicnn/MSD_musicnn"),
        };
        if dir.join(".index").is_file() && dir.join(".data-00000-of-00001").is_file() {
            return Some(dir);
        }
        if in_ci() {
            panic!("CI: musicnn checkpoint not found at {} — run `cargo xtask musicnn`", dir.display());
        }
        eprintln!("SKIP {test}: no musicnn checkpoint at {} (run `cargo xtask musicnn`)", dir.display());
        None
    }

    fn is_model_variable(name: &str) -> bool {
        !(name.ends_with("/Adam") || name.ends_with("/Adam_1") || name.ends_with("_power"))
    }

    fn is_trainable(name: &str) -> bool {
        is_model_variable(name) && !name.ends_with("/moving_mean") && !name.ends_with("/moving_variance")
    }

    /// Every model variable of MSD_musicnn with its shape (see the notes' "Checkpoint variables").
    fn musicnn_variables() -> Vec<(String, Vec<usize>)> {
        let mut v: Vec<(String, Vec<usize>)> = Vec::new();
        let conv = [
            vec![7, 38, 1, 204], // timbral 7×38
            vec![7, 67, 1, 204], // timbral 7×67
            vec![128, 1, 1, 51], // temporal 128×1
            vec![64, 1, 1, 51],  // temporal 64×1
            vec![32, 1, 1, 51],  // temporal 32×1
            vec![7, 561, 1, 64], // mid-end conv 1
            vec![7, 64, 1, 64],  // mid-end conv 2
            vec![7, 64, 1, 64],  // mid-end conv 3
        ];
        for (i, k) in conv.iter().enumerate() {
            let n = if i == 0 { "conv2d".to_string() } else { format!("conv2d_{i}") };
            v.push((format!("{n}/kernel"), k.clone()));
            v.push((format!("{n}/bias"), vec![k[3]]));
        }
        v.push(("dense/kernel".into(), vec![1506, 200]));
        v.push(("dense/bias".into(), vec![200]));
        v.push(("dense_1/kernel".into(), vec![200, 50]));
        v.push(("dense_1/bias".into(), vec![50]));
        let bn = [1, 204, 204, 51, 51, 51, 64, 64, 64, 1506, 200];
        for (i, &c) in bn.iter().enumerate() {
            let n = if i == 0 { "batch_normalization".to_string() } else { format!("batch_normalization_{i}") };
            for p in ["gamma", "beta", "moving_mean", "moving_variance"] {
                v.push((format!("{n}/{p}"), vec![c]));
            }
        }
        v
    }

    #[test]
    fn musicnn_real_checkpoint_contents() {
        let Some(dir) = real_checkpoint_dir("musicnn_real_checkpoint_contents") else {
            return;
        };
        let ck = Checkpoint::open(&dir).unwrap();
        let names = ck.names();
        // 42 trainables (8 convs and 2 denses × kernel/bias, 11 BNs × gamma/beta), each with its two
        // Adam slots → 126, + 22 BN moving stats + beta1_power + beta2_power = 150.
        assert_eq!(names.len(), 150);
        assert_eq!(names.iter().filter(|n| is_model_variable(n)).count(), 64);
        assert_eq!(names.iter().filter(|n| is_trainable(n)).count(), 42);
        assert!(names.contains(&"beta1_power") && names.contains(&"beta2_power"));
        let expected = musicnn_variables();
        assert_eq!(expected.len(), 64);
        for (name, shape) in &expected {
            assert_eq!(ck.shape(name), Some(shape.as_slice()), "{name}");
            assert_eq!(ck.entry(name).unwrap().dtype, DT_FLOAT, "{name}");
            for slot in ["Adam", "Adam_1"] {
                if is_trainable(name) {
                    assert_eq!(ck.shape(&format!("{name}/{slot}")), Some(shape.as_slice()));
                }
            }
        }
        assert_eq!(ck.shape("conv2d/kernel"), Some(&[7, 38, 1, 204][..]));

        // Parameter counts: trainable = kernels + biases + BN gamma/beta.
        let count = |pred: &dyn Fn(&str) -> bool| -> usize {
            names.iter().filter(|n| pred(n)).map(|n| ck.shape(n).unwrap().iter().product::<usize>()).sum()
        };
        assert_eq!(count(&is_trainable), 787_159);
        assert_eq!(count(&is_model_variable), 787_159 + 4_920);
        // The .data file is exactly every tensor, back to back, in name order.
        let total = count(&|_| true);
        assert_eq!(total, 3 * 787_159 + 4_920 + 2);
        let len = std::fs::metadata(ck.shard_path(0)).unwrap().len();
        assert_eq!(len, 4 * total as u64);
        let mut next = 0;
        for n in &names {
            let e = ck.entry(n).unwrap();
            assert_eq!((e.shard_id, e.offset), (0, next), "{n}");
            next += e.size;
        }
        assert_eq!(next, len);

        // Every tensor reads back and passes its crc.
        for n in &names {
            let (shape, values) = ck.tensor_f32(n).unwrap();
            assert_eq!(values.len(), shape.iter().product::<usize>(), "{n}");
            assert!(values.iter().all(|v| v.is_finite()), "{n}");
        }
        // Facts worth knowing: the input BN has one channel, moving variances are positive, and
        // Adam's beta powers have underflowed to exactly 0 (a long training run).
        let (_, var) = ck.tensor_f32("batch_normalization/moving_variance").unwrap();
        assert!((var[0] - 1.585_159_4).abs() < 1e-6, "{var:?}");
        for i in 0..=10 {
            let n = if i == 0 { "batch_normalization".into() } else { format!("batch_normalization_{i}") };
            let (_, v) = ck.tensor_f32(&format!("{n}/moving_variance")).unwrap();
            assert!(v.iter().all(|&x| x > 0.0), "{n}");
        }
        assert_eq!(ck.tensor_f32("beta1_power").unwrap(), (vec![], vec![0.0]));
        assert_eq!(ck.tensor_f32("beta2_power").unwrap(), (vec![], vec![0.0]));
    }

    #[test]
    fn musicnn_real_checkpoint_corruption_is_detected() {
        let Some(dir) = real_checkpoint_dir("musicnn_real_checkpoint_corruption_is_detected") else {
            return;
        };
        let tmp = TempDir::new("corrupt");
        let index = std::fs::read(dir.join(".index")).unwrap();
        let data = std::fs::read(dir.join(".data-00000-of-00001")).unwrap();
        std::fs::write(tmp.0.join(".index"), &index).unwrap();

        // One flipped byte inside conv2d/kernel: that tensor fails its crc, the others still read.
        let e = Checkpoint::open(&dir).unwrap().entry("conv2d/kernel").unwrap().clone();
        let mut bad = data.clone();
        bad[(e.offset + e.size / 2) as usize] ^= 0x01;
        std::fs::write(tmp.0.join(".data-00000-of-00001"), &bad).unwrap();
        let ck = Checkpoint::open(&tmp.0).unwrap();
        let err = format!("{:#}", ck.tensor_f32("conv2d/kernel").unwrap_err());
        assert!(err.contains("crc32c mismatch"), "{err}");
        ck.tensor_f32("conv2d/bias").unwrap();

        // A truncated .data: the last tensor is cut off.
        std::fs::write(tmp.0.join(".data-00000-of-00001"), &data[..data.len() - 2]).unwrap();
        let last = *ck.names().iter().max_by_key(|n| ck.entry(n).unwrap().offset).unwrap();
        let err = format!("{:#}", ck.tensor_f32(last).unwrap_err());
        assert!(err.contains("truncated"), "{err}");

        // Truncated .index files fail cleanly (no panic), at any length.
        for len in [0, 10, 47, 48, 1000, index.len() - 48, index.len() - 1] {
            std::fs::write(tmp.0.join(".index"), &index[..len]).unwrap();
            let err = Checkpoint::open(&tmp.0).unwrap_err();
            let msg = format!("{err:#}");
            assert!(msg.contains("truncated") || msg.contains("magic"), "len {len}: {msg}");
        }
        // One flipped byte in a block of the .index fails the block crc.
        let mut bad = index.clone();
        bad[100] ^= 0x20;
        std::fs::write(tmp.0.join(".index"), &bad).unwrap();
        let msg = format!("{:#}", Checkpoint::open(&tmp.0).unwrap_err());
        assert!(msg.contains("block crc32c mismatch"), "{msg}");
        // Missing files.
        let msg = format!("{:#}", Checkpoint::open(&tmp.0.join("nope")).unwrap_err());
        assert!(msg.contains("could not read checkpoint index"), "{msg}");
    }
}
