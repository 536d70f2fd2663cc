//! Decoding whole files to f32 with symphonia (and Sun `.au` by hand): see the parent module.
use super::{DecodeError, DecodedAudio};
use std::fs::File;
use std::path::Path;
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// File extensions (lower case) the decoder is tried on when scanning folders.
pub const AUDIO_EXTENSIONS: [&str; 9] = ["wav", "au", "ogg", "oga", "mp3", "flac", "m4a", "aac", "mp4"];

/// Whether a path's extension is one of [`AUDIO_EXTENSIONS`] (case-insensitive).
pub fn has_audio_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.iter().any(|a| a.eq_ignore_ascii_case(e)))
}

/// Stop after this many consecutive undecodable packets: the file is garbage, not glitched.
const MAX_CONSECUTIVE_BAD_PACKETS: usize = 64;

/// What went wrong while decoding: the error if nothing decoded, else the warnings.
#[derive(Default)]
struct Damage {
    skipped: usize,
    /// Undecodable packets since the last good one.
    bad_run: usize,
    last_skip: Option<String>,
    stopped: Option<String>,
    last_error: Option<String>,
}

impl Damage {
    /// Records an undecodable packet; false when decoding should stop (too many in a row).
    fn skip(&mut self, message: impl ToString) -> bool {
        let m = message.to_string();
        self.last_error = Some(m.clone());
        self.bad_run += 1;
        if self.bad_run > MAX_CONSECUTIVE_BAD_PACKETS {
            self.stopped = Some(format!("{} undecodable packets in a row ({m})", self.bad_run));
            return false;
        }
        self.skipped += 1;
        self.last_skip = Some(m);
        true
    }

    fn stop(&mut self, error: impl ToString) {
        self.last_error = Some(error.to_string());
        self.stopped = self.last_error.clone();
    }
}

/// Decodes a whole file. Sun `.au` is recognised by its `.snd` magic, everything else goes
/// through symphonia (the extension is only a hint; content is probed).
pub fn decode_file(path: &Path) -> Result<DecodedAudio, DecodeError> {
    let io_err = |source| DecodeError::Io { path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(io_err)?;
    let mut magic = [0u8; 4];
    let is_au = {
        use std::io::{Read, Seek};
        let n = file.read(&mut magic).map_err(io_err)?;
        file.rewind().map_err(io_err)?;
        n == 4 && &magic == b".snd"
    };
    if is_au {
        let bytes = std::fs::read(path).map_err(io_err)?;
        return decode_au(&bytes).map_err(|message| DecodeError::Corrupt { path: path.to_path_buf(), message });
    }
    let is_ogg = &magic == b"OggS";
    // symphonia's demuxers do unchecked arithmetic on header fields: with overflow checks on
    // (debug builds, fuzzing) a crafted mp3 panics in symphonia-bundle-mp3 0.5.5's demuxer
    // (fuzz/regressions/decode). A panic in a third-party decoder is a corrupt file here.
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decode_symphonia(path, file)));
    let mut audio = decoded.map_err(|_| DecodeError::Corrupt {
        path: path.to_path_buf(),
        message: "the decoder crashed on this file".into(),
    })??;
    if is_ogg && !ogg_ends_cleanly(path) {
        audio.warnings.push("the Ogg stream has no complete last page (truncated?)".into());
    }
    Ok(audio)
}

/// Whether an Ogg file ends with a complete page flagged end-of-stream, as every finished
/// encoder writes. symphonia reads a cut-off file as if it had simply ended there.
fn ogg_ends_cleanly(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let tail = (|| -> std::io::Result<Vec<u8>> {
        let mut f = File::open(path)?;
        let len = f.seek(SeekFrom::End(0))?;
        // A page is at most 27 + 255 + 255 * 255 bytes.
        f.seek(SeekFrom::Start(len.saturating_sub(66_000)))?;
        let mut tail = Vec::new();
        f.read_to_end(&mut tail)?;
        Ok(tail)
    })();
    let Ok(tail) = tail else { return false };
    // The last "OggS" whose page header, segment table and body end exactly at the file's end.
    (0..tail.len().saturating_sub(27)).rev().filter(|&i| &tail[i..i + 4] == b"OggS").any(|i| {
        let n_seg = tail[i + 26] as usize;
        let Some(table) = tail.get(i + 27..i + 27 + n_seg) else { return false };
        let body: usize = table.iter().map(|&l| l as usize).sum();
        let eos = tail[i + 5] & 0x04 != 0;
        eos && i + 27 + n_seg + body == tail.len()
    })
}

fn decode_symphonia(path: &Path, file: File) -> Result<DecodedAudio, DecodeError> {
    let corrupt = |message: String| DecodeError::Corrupt { path: path.to_path_buf(), message };
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    // Gapless trims the encoder delay/padding of mp3/aac, so timelines match the source.
    let fmt_opts = FormatOptions { enable_gapless: true, ..Default::default() };
    let probed = symphonia::default::get_probe().format(&hint, mss, &fmt_opts, &MetadataOptions::default()).map_err(
        |e| match e {
            SymError::IoError(source) if source.kind() != std::io::ErrorKind::UnexpectedEof => {
                DecodeError::Io { path: path.to_path_buf(), source }
            }
            SymError::Unsupported(m) => DecodeError::Unsupported { path: path.to_path_buf(), message: m.to_string() },
            other => corrupt(other.to_string()),
        },
    )?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| corrupt("no audio track".into()))?;
    let track_id = track.id;
    let declared_frames = track.codec_params.n_frames;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| DecodeError::Unsupported { path: path.to_path_buf(), message: e.to_string() })?;
    let mut sample_rate = track.codec_params.sample_rate;
    let mut channels: Vec<Vec<f32>> = Vec::new();
    let mut samples: Option<SampleBuffer<f32>> = None;
    let mut damage = Damage::default();

    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            // End of stream (symphonia reports it as UnexpectedEof) or a real I/O error:
            // either way keep what was decoded.
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => break,
            Err(SymError::DecodeError(m)) if damage.skip(m) => continue,
            Err(SymError::DecodeError(_)) => break,
            Err(e) => {
                damage.stop(e);
                break;
            }
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            Err(SymError::DecodeError(m)) if damage.skip(m) => continue,
            // `skip` said stop: too many bad packets in a row.
            Err(SymError::DecodeError(_)) => break,
            Err(e) => {
                damage.stop(e);
                break;
            }
        };
        damage.bad_run = 0;
        let spec = *decoded.spec();
        let n_ch = spec.channels.count();
        if channels.is_empty() {
            channels = vec![Vec::new(); n_ch];
            sample_rate.get_or_insert(spec.rate);
        } else if n_ch != channels.len() {
            // A mid-stream layout change cannot be represented; treat it like a bad packet.
            if damage.skip(format!("channel count changed from {} to {n_ch}", channels.len())) {
                continue;
            }
            break;
        }
        let frames = decoded.frames();
        if frames == 0 {
            continue;
        }
        let buf = match &mut samples {
            Some(b) if b.capacity() >= frames * n_ch => b,
            slot => slot.insert(SampleBuffer::new(decoded.capacity() as u64, spec)),
        };
        buf.copy_interleaved_ref(decoded);
        for (i, &x) in buf.samples().iter().enumerate() {
            channels[i % n_ch].push(x);
        }
    }

    let frames = channels.first().map_or(0, Vec::len);
    if frames == 0 {
        return Err(corrupt(match damage.last_error {
            Some(e) => format!("no audio could be decoded ({e})"),
            None => "no audio samples".into(),
        }));
    }
    let sample_rate = sample_rate.filter(|&r| r > 0).ok_or_else(|| corrupt("unknown sample rate".into()))?;
    let secs = |n: u64| n as f64 / sample_rate as f64;
    let mut warnings = Vec::new();
    if damage.skipped > 0 {
        let (n, last) = (damage.skipped, damage.last_skip.unwrap_or_default());
        warnings.push(format!("{n} undecodable packet(s) skipped (last: {last})"));
    }
    if let Some(e) = damage.stopped {
        warnings.push(format!("decoding stopped at {:.1} s: {e}", secs(frames as u64)));
    }
    // More than 1 % short of what the container declares (gapless trimming is far less).
    if let Some(n) = declared_frames.filter(|&n| (frames as u64) < n - n / 100) {
        warnings.push(format!(
            "decoded {:.1} s of the {:.1} s the file declares (truncated or damaged?)",
            secs(frames as u64),
            secs(n)
        ));
    }
    Ok(DecodedAudio { sample_rate, channels, warnings })
}

/// Sun/NeXT `.au`: big-endian header (magic, data offset, data size, encoding, rate, channels)
/// followed by interleaved big-endian samples. Truncated data yields what is there.
fn decode_au(bytes: &[u8]) -> Result<DecodedAudio, String> {
    let word = |i: usize| -> Result<u32, String> {
        bytes
            .get(i * 4..i * 4 + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| "truncated .au header".to_string())
    };
    let (offset, size, encoding, rate, n_ch) = (word(1)?, word(2)?, word(3)?, word(4)?, word(5)?);
    let offset = offset as usize;
    if offset < 24 || offset > bytes.len() {
        return Err(format!(".au data offset {offset} is outside the file"));
    }
    if rate == 0 || n_ch == 0 || n_ch > 64 {
        return Err(format!(".au header has {rate} Hz, {n_ch} channels"));
    }
    let mut data = &bytes[offset..];
    let mut warnings = Vec::new();
    if size != u32::MAX {
        if data.len() < size as usize {
            warnings
                .push(format!("the .au header declares {size} data bytes, the file has {} (truncated?)", data.len()));
        }
        data = &data[..data.len().min(size as usize)];
    }
    let (width, convert): (usize, fn(&[u8]) -> f32) = match encoding {
        1 => (1, |b| mulaw_to_linear(b[0]) as f32 / 32768.0),
        2 => (1, |b| b[0] as i8 as f32 / 128.0),
        3 => (2, |b| i16::from_be_bytes([b[0], b[1]]) as f32 / 32768.0),
        4 => (3, |b| (i32::from_be_bytes([b[0], b[1], b[2], 0]) >> 8) as f32 / 8_388_608.0),
        5 => (4, |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as f32 / 2_147_483_648.0),
        6 => (4, |b| f32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        7 => (8, |b| f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32),
        e => return Err(format!("unsupported .au encoding {e}")),
    };
    let n_ch = n_ch as usize;
    let frames = data.len() / (width * n_ch);
    if frames == 0 {
        return Err(".au file has no audio samples".into());
    }
    let mut channels = vec![Vec::with_capacity(frames); n_ch];
    for (i, sample) in data.chunks_exact(width).take(frames * n_ch).enumerate() {
        channels[i % n_ch].push(convert(sample));
    }
    Ok(DecodedAudio { sample_rate: rate, channels, warnings })
}

/// G.711 µ-law to 16-bit linear.
fn mulaw_to_linear(u: u8) -> i16 {
    let u = !u;
    let t = ((((u & 0x0f) as i32) << 3) + 0x84) << ((u & 0x70) >> 4);
    (if u & 0x80 != 0 { 0x84 - t } else { t - 0x84 }) as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A 16-bit PCM WAV (RIFF) file with the given interleaved samples.
    fn wav_bytes(rate: u32, n_ch: u16, samples: &[i16]) -> Vec<u8> {
        let data_len = (samples.len() * 2) as u32;
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF");
        b.extend_from_slice(&(36 + data_len).to_le_bytes());
        b.extend_from_slice(b"WAVEfmt ");
        b.extend_from_slice(&16u32.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes()); // PCM
        b.extend_from_slice(&n_ch.to_le_bytes());
        b.extend_from_slice(&rate.to_le_bytes());
        b.extend_from_slice(&(rate * n_ch as u32 * 2).to_le_bytes());
        b.extend_from_slice(&(n_ch * 2).to_le_bytes());
        b.extend_from_slice(&16u16.to_le_bytes());
        b.extend_from_slice(b"data");
        b.extend_from_slice(&data_len.to_le_bytes());
        samples.iter().for_each(|s| b.extend_from_slice(&s.to_le_bytes()));
        b
    }

    fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("genrescope-audio-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn stereo_ramp(frames: usize) -> Vec<i16> {
        (0..frames).map(|i| (i % 10_000) as i16 * 3).flat_map(|v| [v, -v]).collect()
    }

    #[test]
    fn decodes_stereo_wav() {
        let path = temp_file("stereo.wav", &wav_bytes(44100, 2, &stereo_ramp(5000)));
        let a = decode_file(&path).unwrap();
        assert_eq!(a.sample_rate, 44100);
        assert_eq!(a.channels.len(), 2);
        assert_eq!(a.num_frames(), 5000);
        assert_eq!(a.channels[0][100], 300.0 / 32768.0);
        assert_eq!(a.channels[1][100], -300.0 / 32768.0);
        assert!(a.to_mono().iter().all(|&m| m == 0.0));
    }

    #[test]
    fn truncated_wav_keeps_decoded_part() {
        let mut bytes = wav_bytes(22050, 2, &stereo_ramp(20_000));
        bytes.truncate(bytes.len() - 30_000);
        let path = temp_file("truncated.wav", &bytes);
        let a = decode_file(&path).unwrap();
        assert_eq!(a.channels.len(), 2);
        let n = a.num_frames();
        assert!(n > 0 && n <= 20_000 - 30_000 / 4, "{n} frames");
        assert_eq!(a.channels[0][n - 1], ((n - 1) % 10_000 * 3) as f32 / 32768.0);
        assert!(a.warnings.iter().any(|w| w.contains("truncated") && w.contains("of the 0.9 s")), "{:?}", a.warnings);
        // The intact file decodes without warnings.
        let path = temp_file("intact.wav", &wav_bytes(22050, 2, &stereo_ramp(20_000)));
        assert_eq!(decode_file(&path).unwrap().warnings, Vec::<String>::new());
    }

    #[test]
    fn header_only_or_garbage_is_a_clear_error() {
        let bytes = wav_bytes(22050, 1, &[0; 1000]);
        let path = temp_file("header.wav", &bytes[..30]);
        let e = decode_file(&path).unwrap_err();
        assert!(matches!(e, DecodeError::Corrupt { .. } | DecodeError::Unsupported { .. }), "{e}");
        assert!(e.to_string().contains("header.wav"), "{e}");

        let garbage: Vec<u8> = (0..10_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let path = temp_file("garbage.mp3", &garbage);
        let e = decode_file(&path).unwrap_err();
        assert!(e.to_string().contains("garbage.mp3"), "{e}");

        let path = temp_file("empty.wav", &[]);
        assert!(decode_file(&path).is_err());
    }

    #[test]
    fn missing_file_is_io_error() {
        let e = decode_file(Path::new("/nonexistent/genrescope.wav")).unwrap_err();
        assert!(matches!(e, DecodeError::Io { .. }), "{e}");
    }

    fn au_bytes(encoding: u32, rate: u32, n_ch: u32, size: u32, data: &[u8]) -> Vec<u8> {
        let mut b = b".snd".to_vec();
        for w in [32u32, size, encoding, rate, n_ch, 0, 0] {
            b.extend_from_slice(&w.to_be_bytes());
        }
        b.truncate(32);
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn decodes_sun_au_16bit() {
        let samples: Vec<i16> = (0..2205).map(|i| ((i as f32 * 0.1).sin() * 20000.0) as i16).collect();
        let data: Vec<u8> = samples.iter().flat_map(|s| s.to_be_bytes()).collect();
        // GTZAN's .au files say "unknown size" (0xffffffff).
        let path = temp_file("clip.au", &au_bytes(3, 22050, 1, u32::MAX, &data));
        let a = decode_file(&path).unwrap();
        assert_eq!((a.sample_rate, a.channels.len(), a.num_frames()), (22050, 1, 2205));
        assert_eq!(a.channels[0][7], samples[7] as f32 / 32768.0);
        // Truncated mid-sample: the complete samples are kept.
        assert!(a.warnings.is_empty(), "{:?}", a.warnings);
        let path = temp_file("cut.au", &au_bytes(3, 22050, 1, data.len() as u32, &data[..1001]));
        let cut = decode_file(&path).unwrap();
        assert_eq!(cut.num_frames(), 500);
        assert!(cut.warnings.iter().any(|w| w.contains("truncated")), "{:?}", cut.warnings);
        // Header promising data that is not there.
        let path = temp_file("empty.au", &au_bytes(3, 22050, 1, 100, &[]));
        assert!(matches!(decode_file(&path), Err(DecodeError::Corrupt { .. })));
        assert_eq!(mulaw_to_linear(0xff), 0);
        assert_eq!(mulaw_to_linear(0x00), -32124);
    }

    #[test]
    fn decodes_gtzan_ogg_clip() {
        let path = Path::new("/work/shared/datasets/gtzan/blues/blues.00042.ogg");
        if !path.is_file() {
            eprintln!("skipped: {} not present", path.display());
            return;
        }
        let a = decode_file(path).unwrap();
        assert_eq!(a.sample_rate, 22050);
        assert_eq!(a.channels.len(), 1);
        let d = a.duration_s();
        assert!((29.0..31.0).contains(&d), "{d} s");
        let rms = (a.channels[0].iter().map(|x| x * x).sum::<f32>() / a.num_frames() as f32).sqrt();
        assert!(rms > 0.01 && a.channels[0].iter().all(|x| x.is_finite() && x.abs() <= 1.5), "{rms}");

        // Cut in half: the first half decodes, bit-identical to the full decode.
        let bytes = std::fs::read(path).unwrap();
        assert!(a.warnings.is_empty(), "{:?}", a.warnings);
        let half = decode_file(&temp_file("half.ogg", &bytes[..bytes.len() / 2])).unwrap();
        assert!(half.warnings.iter().any(|w| w.contains("truncated")), "{:?}", half.warnings);
        let d = half.duration_s();
        assert!((10.0..20.0).contains(&d), "{d} s");
        assert_eq!(half.channels[0][..1000], a.channels[0][..1000]);
        // Garbage over a stretch in the middle: bad packets are skipped, the rest decodes.
        let mut mangled = bytes.clone();
        let mid = bytes.len() / 3;
        mangled[mid..mid + 4000].iter_mut().enumerate().for_each(|(i, b)| *b = (i * 7) as u8);
        let m = decode_file(&temp_file("mangled.ogg", &mangled)).unwrap();
        assert!(m.duration_s() > 25.0 && m.duration_s() < a.duration_s(), "{} s", m.duration_s());
        assert!(!m.warnings.is_empty(), "damage must be reported");
    }
}
