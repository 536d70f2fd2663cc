//! A small CLAP test host on top of `clack-host`, for the plugin's integration tests.
//!
//! Threading follows CLAP: the thread that calls [`TestHost::instantiate`] is the main thread (it
//! owns the [`Instance`]); each activation spawns a dedicated audio thread that calls
//! `start_processing`, every `process` and `stop_processing`. The host implements the
//! `thread-check` extension, so nice-plug's main/audio-thread assertions see the real roles.
//!
//! ```ignore
//! let host = TestHost::load(&TestHost::clap_bundle_path());
//! let mut inst = host.instantiate();
//! inst.activate(48_000.0, 1024);
//! let (out, events) = inst.process(&[left, right]);
//! let state = inst.save_state();
//! inst.deactivate();
//! ```
#![allow(dead_code)]

use clack_extensions::log::{HostLog, HostLogImpl, LogSeverity};
use clack_extensions::params::{
    HostParams, HostParamsImplMainThread, HostParamsImplShared, ParamClearFlags, ParamInfoBuffer, ParamRescanFlags,
    PluginParams,
};
use clack_extensions::render::{PluginRender, RenderMode};
use clack_extensions::state::{HostState, HostStateImpl, PluginState};
use clack_extensions::thread_check::{HostThreadCheck, HostThreadCheckImpl};
use clack_host::events::event_types::{MidiEvent, ParamValueEvent};
use clack_host::events::spaces::CoreEventSpace;
use clack_host::prelude::*;
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

/// nice-plug's CLAP state: a little-endian u64 length, then the JSON.
pub fn state_json(blob: &[u8]) -> serde_json::Value {
    let len = u64::from_le_bytes(blob[..8].try_into().unwrap()) as usize;
    assert_eq!(len, blob.len() - 8, "length prefix");
    serde_json::from_slice(&blob[8..]).expect("nice-plug state is JSON")
}

pub fn state_blob(json: &serde_json::Value) -> Vec<u8> {
    let text = serde_json::to_vec(json).unwrap();
    let mut blob = (text.len() as u64).to_le_bytes().to_vec();
    blob.extend(text);
    blob
}

/// An event the plugin wrote to its output event list during one `process` call.
#[derive(Debug, Clone, PartialEq)]
pub enum OutEvent {
    /// MIDI 1.0 message (e.g. CC: `[0xB0 | channel, cc, value]`).
    Midi { time: u32, port: u16, data: [u8; 3] },
    /// A parameter value the plugin reports (e.g. from its GUI).
    ParamValue { time: u32, param_id: u32, value: f64 },
    /// Any other event: raw CLAP type id.
    Other { time: u32, type_id: u16 },
}

impl OutEvent {
    /// `(channel 0..=15, controller, value)` if this is a MIDI CC message.
    pub fn as_cc(&self) -> Option<(u8, u8, u8)> {
        match self {
            OutEvent::Midi { data, .. } if data[0] & 0xF0 == 0xB0 => Some((data[0] & 0x0F, data[1], data[2])),
            _ => None,
        }
    }

    pub fn time(&self) -> u32 {
        match self {
            OutEvent::Midi { time, .. } | OutEvent::ParamValue { time, .. } | OutEvent::Other { time, .. } => *time,
        }
    }
}

/// An event sent to the plugin with one `process` call.
#[derive(Debug, Clone, PartialEq)]
pub enum InEvent {
    Midi {
        time: u32,
        port: u16,
        data: [u8; 3],
    },
    /// Plain (not normalized) value, as CLAP specifies.
    ParamValue {
        time: u32,
        param_id: u32,
        value: f64,
    },
}

/// A parameter as the plugin describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamDesc {
    pub id: u32,
    pub name: String,
    pub module: String,
    pub min: f64,
    pub max: f64,
    pub default: f64,
    pub value: f64,
}

/// Log lines the plugin sent through the host's `log` extension.
pub type LogLines = Arc<Mutex<Vec<(String, String)>>>;

/// Host callbacks that may come from any thread.
pub struct Shared {
    main_thread: ThreadId,
    audio_thread: Mutex<Option<ThreadId>>,
    callback_requested: AtomicBool,
    restart_requested: AtomicBool,
    process_requested: AtomicBool,
    flush_requested: AtomicBool,
    log: LogLines,
}

impl SharedHandler<'_> for Shared {
    fn request_restart(&self) {
        self.restart_requested.store(true, Ordering::SeqCst);
    }
    fn request_process(&self) {
        self.process_requested.store(true, Ordering::SeqCst);
    }
    fn request_callback(&self) {
        self.callback_requested.store(true, Ordering::SeqCst);
    }
}

impl HostThreadCheckImpl for Shared {
    fn is_main_thread(&self) -> bool {
        thread::current().id() == self.main_thread
    }
    fn is_audio_thread(&self) -> bool {
        *self.audio_thread.lock().unwrap() == Some(thread::current().id())
    }
}

impl HostLogImpl for Shared {
    fn log(&self, severity: LogSeverity, message: &str) {
        eprintln!("[plugin {severity}] {message}");
        self.log.lock().unwrap().push((severity.to_string(), message.to_string()));
    }
}

impl HostParamsImplShared for Shared {
    fn request_flush(&self) {
        self.flush_requested.store(true, Ordering::SeqCst);
    }
}

/// Host callbacks that only come on the main thread.
pub struct MainThread {
    dirty: Arc<AtomicUsize>,
    rescans: Arc<AtomicUsize>,
    main_thread: ThreadId,
    /// Main-thread-only host callbacks that arrived on another thread.
    wrong_thread: Arc<AtomicUsize>,
}

impl MainThread {
    fn check_thread(&self) {
        if thread::current().id() != self.main_thread {
            self.wrong_thread.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl MainThreadHandler<'_> for MainThread {}

impl HostStateImpl for MainThread {
    fn mark_dirty(&self) {
        self.check_thread();
        self.dirty.fetch_add(1, Ordering::SeqCst);
    }
}

impl HostParamsImplMainThread for MainThread {
    fn rescan(&self, _flags: ParamRescanFlags) {
        self.check_thread();
        self.rescans.fetch_add(1, Ordering::SeqCst);
    }
    fn clear(&self, _param_id: ClapId, _flags: ParamClearFlags) {
        self.check_thread();
    }
}

pub struct Handlers;

impl HostHandlers for Handlers {
    type Shared<'a> = Shared;
    type MainThread<'a> = MainThread;
    type AudioProcessor<'a> = ();

    fn declare_extensions(builder: &mut HostExtensions<Self>, _shared: &Self::Shared<'_>) {
        builder.register::<HostThreadCheck>().register::<HostLog>().register::<HostState>().register::<HostParams>();
    }
}

/// A loaded `.clap` file.
pub struct TestHost {
    entry: PluginEntry,
    path: PathBuf,
}

impl TestHost {
    /// `$GENRESCOPE_CLAP_BUNDLE`, else `<workspace>/target/bundled/Genrescope.clap`.
    pub fn clap_bundle_path() -> PathBuf {
        std::env::var_os("GENRESCOPE_CLAP_BUNDLE")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bundled/Genrescope.clap"))
    }

    /// Loads the default bundle (see [`Self::clap_bundle_path`]).
    pub fn load_default() -> Self {
        Self::load(&Self::clap_bundle_path())
    }

    /// Loads a `.clap` file; panics with instructions when it is missing.
    // unsafe: loading a plugin library runs its code; there is no safe way to be a host.
    #[allow(unsafe_code)]
    pub fn load(path: &Path) -> Self {
        assert!(
            path.is_file(),
            "CLAP bundle not found at {}: run `cargo xtask bundle genrescope --release` first \
             (or set GENRESCOPE_CLAP_BUNDLE)",
            path.display()
        );
        // SAFETY: loading a plugin runs its code; this is our own freshly built plugin.
        let entry = unsafe { PluginEntry::load(path) }
            .unwrap_or_else(|e| panic!("could not load CLAP entry from {}: {e}", path.display()));
        Self { entry, path: path.to_path_buf() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `(id, name)` of every plugin in the factory.
    pub fn descriptors(&self) -> Vec<(String, String)> {
        let factory = self.entry.get_plugin_factory().expect("no CLAP plugin factory");
        factory
            .plugin_descriptors()
            .map(|d| {
                let s = |c: Option<&std::ffi::CStr>| c.map(|c| c.to_string_lossy().into_owned()).unwrap_or_default();
                (s(d.id()), s(d.name()))
            })
            .collect()
    }

    /// Creates and initializes the first plugin of the factory on the calling (main) thread.
    pub fn instantiate(&self) -> Instance {
        let (id, _) = self.descriptors().into_iter().next().expect("factory lists no plugin");
        self.instantiate_id(&id)
    }

    pub fn instantiate_id(&self, id: &str) -> Instance {
        let host_info =
            HostInfo::new("Genrescope test host", "Genrescope", "https://example.invalid", env!("CARGO_PKG_VERSION"))
                .unwrap();
        let log: LogLines = Arc::default();
        let dirty = Arc::new(AtomicUsize::new(0));
        let rescans = Arc::new(AtomicUsize::new(0));
        let wrong_thread = Arc::new(AtomicUsize::new(0));
        let (log2, dirty2, rescans2) = (log.clone(), dirty.clone(), rescans.clone());
        let wrong_thread2 = wrong_thread.clone();
        let main_thread = thread::current().id();
        let cid = CString::new(id).unwrap();
        let instance = PluginInstance::<Handlers>::new(
            move |_| Shared {
                main_thread,
                audio_thread: Mutex::new(None),
                callback_requested: AtomicBool::new(false),
                restart_requested: AtomicBool::new(false),
                process_requested: AtomicBool::new(false),
                flush_requested: AtomicBool::new(false),
                log: log2,
            },
            move |_| MainThread { dirty: dirty2, rescans: rescans2, main_thread, wrong_thread: wrong_thread2 },
            &self.entry,
            &cid,
            &host_info,
        )
        .unwrap_or_else(|e| panic!("could not instantiate {id}: {e}"));
        let mut inst = Instance {
            instance,
            audio: None,
            log,
            dirty,
            rescans,
            wrong_thread,
            sample_rate: 0.0,
            max_block: 0,
            last_process: Duration::ZERO,
        };
        inst.pump_main_thread();
        inst
    }
}

enum Job {
    Process { inputs: Vec<Vec<f32>>, events: Vec<InEvent> },
    Stop,
}

enum Reply {
    Processed { outputs: Vec<Vec<f32>>, events: Vec<OutEvent>, status: Result<ProcessStatus, String>, took: Duration },
    Stopped(StoppedPluginAudioProcessor<Handlers>),
}

struct AudioThread {
    jobs: Sender<Job>,
    replies: Receiver<Reply>,
    handle: JoinHandle<()>,
}

/// One plugin instance; lives on the thread that created it (the main thread).
pub struct Instance {
    instance: PluginInstance<Handlers>,
    audio: Option<AudioThread>,
    log: LogLines,
    dirty: Arc<AtomicUsize>,
    rescans: Arc<AtomicUsize>,
    wrong_thread: Arc<AtomicUsize>,
    sample_rate: f64,
    max_block: u32,
    /// How long the plugin's last `process` call took, on the audio thread.
    last_process: Duration,
}

impl Instance {
    /// Activates at `sample_rate` (min block 1, max `max_block`) and starts processing on a new audio thread.
    pub fn activate(&mut self, sample_rate: f64, max_block: u32) {
        assert!(self.audio.is_none(), "already active");
        let config = PluginAudioConfiguration { sample_rate, min_frames_count: 1, max_frames_count: max_block };
        let stopped = self
            .instance
            .activate(|_, _| (), config)
            .unwrap_or_else(|e| panic!("activate({sample_rate}, {max_block}) failed: {e}"));
        self.sample_rate = sample_rate;
        self.max_block = max_block;

        let (jobs, job_rx) = mpsc::channel::<Job>();
        let (reply_tx, replies) = mpsc::channel::<Reply>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let handle = thread::Builder::new()
            .name("test-host-audio".into())
            .spawn(move || audio_thread(stopped, job_rx, reply_tx, ready_tx, max_block))
            .expect("spawn audio thread");
        ready_rx.recv().expect("audio thread died while starting").unwrap_or_else(|e| panic!("{e}"));
        self.audio = Some(AudioThread { jobs, replies, handle });
        self.pump_main_thread();
    }

    /// Runs one `process` call on the audio thread. `input` is one Vec per channel (all the same
    /// length, at most the max block size); returns the output channels and the output events.
    pub fn process(&mut self, input: &[Vec<f32>]) -> (Vec<Vec<f32>>, Vec<OutEvent>) {
        self.process_with_events(input, &[])
    }

    pub fn process_with_events(&mut self, input: &[Vec<f32>], events: &[InEvent]) -> (Vec<Vec<f32>>, Vec<OutEvent>) {
        let (outputs, out_events, status) = self.try_process(input, events);
        if let Err(e) = status {
            panic!("plugin process() failed: {e}");
        }
        (outputs, out_events)
    }

    /// Feeds a whole signal (one Vec per channel) in blocks of `block` frames (the last one may be
    /// shorter). Returns the concatenated output and every output event with its absolute frame
    /// position (block start + event time).
    pub fn process_signal(&mut self, input: &[Vec<f32>], block: usize) -> (Vec<Vec<f32>>, Vec<(usize, OutEvent)>) {
        let len = input.first().map_or(0, Vec::len);
        let mut output = vec![Vec::with_capacity(len); input.len()];
        let mut events = Vec::new();
        let mut pos = 0;
        while pos < len {
            let n = block.min(len - pos);
            let chunk: Vec<Vec<f32>> = input.iter().map(|c| c[pos..pos + n].to_vec()).collect();
            let (out, ev) = self.process(&chunk);
            for (o, c) in output.iter_mut().zip(out) {
                o.extend(c);
            }
            events.extend(ev.into_iter().map(|e| (pos + e.time() as usize, e)));
            pos += n;
        }
        (output, events)
    }

    /// Like [`Self::process_with_events`] but also returns the plugin's process status.
    pub fn try_process(
        &mut self,
        input: &[Vec<f32>],
        events: &[InEvent],
    ) -> (Vec<Vec<f32>>, Vec<OutEvent>, Result<ProcessStatus, String>) {
        let frames = input.first().map_or(0, Vec::len);
        assert!(input.iter().all(|c| c.len() == frames), "channels differ in length");
        assert!(
            frames >= 1 && frames as u32 <= self.max_block,
            "block of {frames} frames outside 1..={}",
            self.max_block
        );
        let audio = self.audio.as_ref().expect("process() before activate()");
        audio.jobs.send(Job::Process { inputs: input.to_vec(), events: events.to_vec() }).expect("audio thread gone");
        let reply = audio.replies.recv().expect("audio thread died (plugin panicked?)");
        let out = match reply {
            Reply::Processed { outputs, events, status, took } => {
                self.last_process = took;
                (outputs, events, status)
            }
            Reply::Stopped(_) => unreachable!(),
        };
        self.pump_main_thread();
        out
    }

    /// Stops processing on the audio thread, joins it, and deactivates on the main thread.
    pub fn deactivate(&mut self) {
        let audio = self.audio.take().expect("deactivate() while not active");
        audio.jobs.send(Job::Stop).expect("audio thread gone");
        let stopped = loop {
            match audio.replies.recv().expect("audio thread died while stopping") {
                Reply::Stopped(p) => break p,
                Reply::Processed { .. } => continue,
            }
        };
        audio.handle.join().expect("audio thread panicked");
        self.instance.deactivate(stopped);
        self.pump_main_thread();
    }

    /// How long the plugin's last `process` call took (measured on the audio thread around the call).
    pub fn last_process_time(&self) -> Duration {
        self.last_process
    }

    pub fn is_active(&self) -> bool {
        self.audio.is_some()
    }

    /// Serves `request_callback` (nice-plug's main-thread task queue).
    pub fn pump_main_thread(&mut self) {
        let shared_flag = self.instance.access_shared_handler(|s| s.callback_requested.swap(false, Ordering::SeqCst));
        if shared_flag {
            self.instance.call_on_main_thread_callback();
        }
    }

    /// The plugin's state via the CLAP `state` extension.
    pub fn save_state(&mut self) -> Vec<u8> {
        let handle = self.instance.plugin_handle();
        let state: PluginState = handle.get_extension().expect("plugin has no state extension");
        let mut out = Vec::new();
        state.save(&handle, &mut out).expect("state save failed");
        out
    }

    pub fn load_state(&mut self, bytes: &[u8]) {
        {
            let handle = self.instance.plugin_handle();
            let state: PluginState = handle.get_extension().expect("plugin has no state extension");
            state.load(&handle, &mut &bytes[..]).expect("state load failed");
        }
        self.pump_main_thread();
    }

    /// Points this instance at a model folder (persisted in its state; read at activation).
    pub fn set_model_dir(&mut self, dir: &Path) {
        let mut state = state_json(&self.save_state());
        let value = serde_json::to_string(&Some(dir.display().to_string())).unwrap();
        state["fields"]["model-dir"] = serde_json::Value::String(value);
        self.load_state(&state_blob(&state));
    }

    /// CLAP render extension: offline (non-realtime) or realtime processing from the next activation.
    pub fn set_offline(&mut self, offline: bool) {
        let mode = if offline { RenderMode::Offline } else { RenderMode::Realtime };
        let handle = self.instance.plugin_handle();
        let render: PluginRender = handle.get_extension().expect("plugin has no render extension");
        render.set(&handle, mode).expect("render mode refused");
    }

    /// Like [`Self::load_state`], but returns the plugin's refusal instead of panicking.
    pub fn try_load_state(&mut self, bytes: &[u8]) -> Result<(), String> {
        let result = {
            let handle = self.instance.plugin_handle();
            let state: PluginState = handle.get_extension().expect("plugin has no state extension");
            state.load(&handle, &mut &bytes[..]).map_err(|e| e.to_string())
        };
        self.pump_main_thread();
        result
    }

    /// All parameters with their current values (CLAP `params` extension).
    pub fn params(&mut self) -> Vec<ParamDesc> {
        let handle = self.instance.plugin_handle();
        let Some(params): Option<PluginParams> = handle.get_extension() else {
            return Vec::new();
        };
        let mut buf = ParamInfoBuffer::new();
        let mut out = Vec::new();
        for i in 0..params.count(&handle) {
            let Some(info) = params.get_info(&handle, i, &mut buf) else { continue };
            let text = |b: &[u8]| {
                let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                String::from_utf8_lossy(&b[..end]).into_owned()
            };
            let (id, name, module) = (info.id, text(info.name), text(info.module));
            let (min, max, default) = (info.min_value, info.max_value, info.default_value);
            let value = params.get_value(&handle, id).unwrap_or(f64::NAN);
            out.push(ParamDesc { id: id.get(), name, module, min, max, default, value });
        }
        out
    }

    /// CLAP `params.flush` while inactive: applies plain-value `changes` without a `process`
    /// call; returns the events the plugin writes back.
    pub fn flush_params(&mut self, changes: &[(u32, f64)]) -> Vec<OutEvent> {
        let mut input = EventBuffer::with_capacity(changes.len().max(1));
        for &(id, value) in changes {
            input.push(&ParamValueEvent::new(0, ClapId::new(id), Pckn::match_all(), value));
        }
        let mut output = EventBuffer::with_capacity(64);
        {
            let mut handle = self.instance.inactive_plugin_handle().expect("flush_params() while active");
            let params: PluginParams = handle.get_extension().expect("plugin has no params extension");
            params.flush(&mut handle, &input.as_input(), &mut output.as_output());
        }
        self.pump_main_thread();
        output.iter().map(convert_event).collect()
    }

    /// Main-thread-only host callbacks (state.mark_dirty, params.rescan/clear) made from another thread.
    pub fn wrong_thread_calls(&self) -> usize {
        self.wrong_thread.load(Ordering::SeqCst)
    }

    /// Log lines received so far (severity, message).
    pub fn log(&self) -> Vec<(String, String)> {
        self.log.lock().unwrap().clone()
    }

    /// How often the plugin called `state.mark_dirty` / `params.rescan`.
    pub fn dirty_count(&self) -> usize {
        self.dirty.load(Ordering::SeqCst)
    }
    pub fn rescan_count(&self) -> usize {
        self.rescans.load(Ordering::SeqCst)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if self.audio.is_some() && !thread::panicking() {
            self.deactivate();
        }
    }
}

const MAX_CHANNELS: usize = 8;

fn audio_thread(
    stopped: StoppedPluginAudioProcessor<Handlers>,
    jobs: Receiver<Job>,
    replies: Sender<Reply>,
    ready: Sender<Result<(), String>>,
    max_block: u32,
) {
    stopped.access_shared_handler(|s| *s.audio_thread.lock().unwrap() = Some(thread::current().id()));
    let mut processor = match stopped.start_processing() {
        Ok(p) => p,
        Err(e) => {
            let _ = ready.send(Err(format!("start_processing failed: {e}")));
            return;
        }
    };
    let _ = ready.send(Ok(()));

    let mut in_events = EventBuffer::with_capacity(64);
    let mut out_events = EventBuffer::with_capacity(256);
    let mut steady_time: u64 = 0;
    let mut input_ports = AudioPorts::with_capacity(MAX_CHANNELS, 1);
    let mut output_ports = AudioPorts::with_capacity(MAX_CHANNELS, 1);

    while let Ok(job) = jobs.recv() {
        match job {
            Job::Process { mut inputs, events } => {
                let frames = inputs.first().map_or(0, Vec::len);
                debug_assert!(frames as u32 <= max_block);
                let channels = inputs.len();
                let mut outputs = vec![vec![0.0f32; frames]; channels];
                assert!(channels <= MAX_CHANNELS, "at most {MAX_CHANNELS} channels");
                in_events.clear();
                for e in &events {
                    match *e {
                        InEvent::Midi { time, port, data } => in_events.push(&MidiEvent::new(time, port, data)),
                        InEvent::ParamValue { time, param_id, value } => {
                            in_events.push(&ParamValueEvent::new(time, ClapId::new(param_id), Pckn::match_all(), value))
                        }
                    }
                }
                in_events.sort();
                out_events.clear();
                let started = Instant::now();
                let status = {
                    let input_audio = input_ports.with_input_buffers([AudioPortBuffer {
                        latency: 0,
                        channels: AudioPortBufferType::f32_input_only(
                            inputs.iter_mut().map(|c| InputChannel::variable(c.as_mut_slice())),
                        ),
                    }]);
                    let mut output_audio = output_ports.with_output_buffers([AudioPortBuffer {
                        latency: 0,
                        channels: AudioPortBufferType::f32_output_only(outputs.iter_mut().map(|c| c.as_mut_slice())),
                    }]);
                    processor
                        .process(
                            &input_audio,
                            &mut output_audio,
                            &in_events.as_input(),
                            &mut out_events.as_output(),
                            Some(steady_time),
                            None,
                        )
                        .map_err(|e| e.to_string())
                };
                let took = started.elapsed();
                steady_time += frames as u64;
                let events = out_events.iter().map(convert_event).collect();
                if replies.send(Reply::Processed { outputs, events, status, took }).is_err() {
                    break;
                }
            }
            Job::Stop => break,
        }
    }
    let stopped = processor.stop_processing();
    let _ = replies.send(Reply::Stopped(stopped));
}

fn convert_event(e: &UnknownEvent) -> OutEvent {
    let time = e.header().time();
    match e.as_core_event() {
        Some(CoreEventSpace::Midi(m)) => OutEvent::Midi { time, port: m.port_index(), data: m.data() },
        Some(CoreEventSpace::ParamValue(p)) => {
            OutEvent::ParamValue { time, param_id: p.param_id().map_or(u32::MAX, |id| id.get()), value: p.value() }
        }
        _ => OutEvent::Other { time, type_id: e.header().type_id() },
    }
}
