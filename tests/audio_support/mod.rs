//! Shared helpers for the engine's audio tests: generated WAV/Ogg Opus files, an in-process
//! sink that records the paced Opus frames, and analysis of the decoded audio.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use basalt::config::Config;
use basalt::engine::{Engine, Opener};
use basalt::player::{
    EndReason, FrameSink, PlayRequest, PlayerCommand, PlayerEvent, PlayerEventKind, PlayerHandle,
};
use basalt::source::MediaInput;
use basalt::track::{Severity, TrackData, TrackException, TrackInfo};
use crossbeam::channel::{Receiver, Sender};

mod ogg;
use ogg::ogg_page;

pub fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("basalt-audio-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// 16-bit PCM WAV: `segments` of (frequency Hz, seconds), amplitude 0.5.
pub fn write_wav(path: &Path, rate: u32, channels: u16, segments: &[(f32, f32)]) {
    let mut samples: Vec<i16> = Vec::new();
    let mut phase = 0f64;
    for &(f, secs) in segments {
        let n = (secs * rate as f32) as usize;
        for _ in 0..n {
            let v = (phase.sin() * 0.5 * 32767.0) as i16;
            phase += 2.0 * std::f64::consts::PI * f as f64 / rate as f64;
            for _ in 0..channels {
                samples.push(v);
            }
        }
    }
    let data_len = (samples.len() * 2) as u32;
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * channels as u32 * 2).to_le_bytes());
    b.extend_from_slice(&(channels * 2).to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        b.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, b).unwrap();
}

/// Ogg Opus (48 kHz stereo, 20 ms packets) of the given segments; returns the packets too.
pub fn write_ogg_opus(path: &Path, segments: &[(f32, f32)]) -> Vec<Vec<u8>> {
    let mut enc =
        opus2::Encoder::new(48_000, opus2::Channels::Stereo, opus2::Application::Audio).unwrap();
    enc.set_bitrate(opus2::Bitrate::Bits(64_000)).unwrap();
    let mut pcm = Vec::new();
    let mut phase = 0f64;
    for &(f, secs) in segments {
        for _ in 0..(secs * 48_000.0) as usize {
            let v = (phase.sin() * 0.5) as f32;
            phase += 2.0 * std::f64::consts::PI * f as f64 / 48_000.0;
            pcm.push(v);
            pcm.push(v);
        }
    }
    let mut packets = Vec::new();
    for chunk in pcm.chunks_exact(1920) {
        packets.push(enc.encode_vec_float(chunk, 4000).unwrap());
    }
    write_ogg_opus_packets(path, &packets);
    packets
}

/// Turns a 20 ms code-0 packet into a code-3 packet (one frame) with `pad` padding bytes:
/// still a valid 20 ms stereo packet, now over the 1276-byte limit.
pub fn pad_packet(p: &[u8], pad: usize) -> Vec<u8> {
    assert_eq!(p[0] & 3, 0, "code 0 packet");
    let mut out = vec![p[0] | 3, 0x40 | 1];
    let mut left = pad;
    while left >= 255 {
        out.push(255);
        left -= 254;
    }
    out.push(left as u8);
    out.extend_from_slice(&p[1..]);
    out.resize(out.len() + pad, 0);
    out
}

/// Ogg Opus (48 kHz stereo) holding exactly `packets`, each taken as 20 ms.
pub fn write_ogg_opus_packets(path: &Path, packets: &[Vec<u8>]) {
    let mut head = b"OpusHead".to_vec();
    head.push(1);
    head.push(2);
    head.extend_from_slice(&0u16.to_le_bytes()); // pre-skip 0 keeps packet timing simple
    head.extend_from_slice(&48_000u32.to_le_bytes());
    head.extend_from_slice(&0u16.to_le_bytes());
    head.push(0);
    let mut tags = b"OpusTags".to_vec();
    tags.extend_from_slice(&4u32.to_le_bytes());
    tags.extend_from_slice(b"test");
    tags.extend_from_slice(&0u32.to_le_bytes());
    let mut out = Vec::new();
    ogg_page(&mut out, 2, 0, 0, &[&head]);
    ogg_page(&mut out, 0, 0, 1, &[&tags]);
    let mut granule = 0u64;
    for (i, group) in packets.chunks(10).enumerate() {
        granule += 960 * group.len() as u64;
        let last = (i + 1) * 10 >= packets.len();
        let refs: Vec<&[u8]> = group.iter().map(|p| p.as_slice()).collect();
        ogg_page(
            &mut out,
            if last { 4 } else { 0 },
            granule,
            i as u32 + 2,
            &refs,
        );
    }
    std::fs::write(path, out).unwrap();
}

/// Records every paced frame with the tick it arrived on.
#[derive(Default)]
pub struct SinkLog {
    pub frames: Mutex<Vec<Vec<u8>>>,
    pub no_frames: AtomicU64,
    pub connected: AtomicBool,
}

pub struct TestSink(pub Arc<SinkLog>);

impl FrameSink for TestSink {
    fn send_frame(&mut self, opus: &[u8]) {
        self.0.frames.lock().unwrap().push(opus.to_vec());
    }
    fn no_frame(&mut self) {
        self.0.no_frames.fetch_add(1, Ordering::Relaxed);
    }
    fn is_connected(&self) -> bool {
        self.0.connected.load(Ordering::Relaxed)
    }
}

pub fn test_config() -> Config {
    let mut c = Config::default();
    c.player.decode_workers = 1;
    c.player.encode_workers = 1;
    c.player.realtime_pacer = false;
    c.player.opus_encoding_quality = 5;
    c
}

/// Opens `identifier` as a local path, the extension as the prober's hint.
pub fn file_opener() -> Opener {
    Arc::new(|t: &TrackData| {
        let path = PathBuf::from(&t.info.identifier);
        let file = std::fs::File::open(&path).map_err(|e| TrackException {
            message: Some("Failed to open file for reading.".into()),
            severity: Severity::Suspicious,
            cause: format!("java.io.FileNotFoundException: {e}"),
            cause_stack_trace: String::new(),
        })?;
        Ok(MediaInput {
            reader: Box::new(file),
            extension: path.extension().map(|e| e.to_string_lossy().into_owned()),
            mime: None,
            is_stream: false,
            segments: None,
        })
    })
}

pub fn track(path: &Path, length_ms: i64) -> Arc<TrackData> {
    Arc::new(TrackData {
        info: TrackInfo {
            title: "t".into(),
            author: "a".into(),
            length: length_ms,
            identifier: path.to_string_lossy().into_owned(),
            is_stream: false,
            uri: Some(path.to_string_lossy().into_owned()),
            artwork_url: None,
            isrc: None,
            source_name: "local".into(),
        },
        source_data: Vec::new(),
        position: 0,
    })
}

pub struct Rig {
    pub engine: Engine,
    pub player: PlayerHandle,
    pub events: Receiver<PlayerEvent>,
    pub sink: Arc<SinkLog>,
    _tx: Sender<PlayerEvent>,
}

impl Rig {
    pub fn new() -> Rig {
        Rig::with(test_config(), file_opener())
    }

    pub fn with(config: Config, opener: Opener) -> Rig {
        let engine = Engine::start_with_opener(&config, opener).unwrap();
        let (tx, rx) = crossbeam::channel::unbounded();
        let player = engine.create_player(42, tx.clone());
        let sink = Arc::new(SinkLog::default());
        sink.connected.store(true, Ordering::Relaxed);
        player.send(PlayerCommand::AttachSink(Box::new(TestSink(sink.clone()))));
        Rig {
            engine,
            player,
            events: rx,
            sink,
            _tx: tx,
        }
    }

    pub fn play(&self, t: Arc<TrackData>, start_ms: i64, end_ms: Option<i64>) {
        self.player.send(PlayerCommand::Play(PlayRequest {
            track: t,
            start_ms,
            end_ms,
            paused: false,
        }));
    }

    /// Next track event (voice events are not produced here), or panic after `secs`.
    pub fn next_event(&self, secs: u64) -> PlayerEventKind {
        self.events
            .recv_timeout(Duration::from_secs(secs))
            .unwrap_or_else(|_| panic!("no event within {secs} s"))
            .kind
    }

    pub fn expect_start(&self) {
        match self.next_event(5) {
            PlayerEventKind::TrackStart { .. } => {}
            other => panic!("expected TrackStart, got {other:?}"),
        }
    }

    pub fn expect_end(&self, secs: u64) -> (EndReason, i64) {
        match self.next_event(secs) {
            PlayerEventKind::TrackEnd { reason, track } => (reason, track.position),
            other => panic!("expected TrackEnd, got {other:?}"),
        }
    }

    pub fn frame_count(&self) -> usize {
        self.sink.frames.lock().unwrap().len()
    }

    pub fn frames(&self) -> Vec<Vec<u8>> {
        self.sink.frames.lock().unwrap().clone()
    }

    /// Waits (deadline poll, not a fixed sleep) until no frame has arrived for 100 ms:
    /// after a track ends, its last frames may still be in the pacer's ring.
    pub fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut last = (self.frame_count(), Instant::now());
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            let n = self.frame_count();
            if n != last.0 {
                last = (n, Instant::now());
            } else if last.1.elapsed() >= Duration::from_millis(100) {
                return;
            }
        }
    }

    pub fn wait_frames(&self, n: usize, secs: u64) {
        let t0 = Instant::now();
        while self.frame_count() < n {
            assert!(
                t0.elapsed() < Duration::from_secs(secs),
                "only {} frames",
                self.frame_count()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.engine.shutdown();
    }
}

/// Decodes paced frames to 48 kHz stereo interleaved f32.
pub fn decode(frames: &[Vec<u8>]) -> Vec<f32> {
    let mut dec = opus2::Decoder::new(48_000, opus2::Channels::Stereo).unwrap();
    let mut out = Vec::new();
    let mut buf = vec![0f32; 5760 * 2];
    for f in frames {
        let n = dec.decode_float(f, &mut buf, false).unwrap();
        out.extend_from_slice(&buf[..n * 2]);
    }
    out
}

/// Frequency of the left channel from its zero crossings.
pub fn frequency(stereo: &[f32]) -> f32 {
    let left: Vec<f32> = stereo.iter().step_by(2).copied().collect();
    let mut crossings = 0;
    for w in left.windows(2) {
        if (w[0] < 0.0) != (w[1] < 0.0) {
            crossings += 1;
        }
    }
    crossings as f32 / 2.0 / (left.len() as f32 / 48_000.0)
}

pub fn rms(stereo: &[f32]) -> f32 {
    if stereo.is_empty() {
        return 0.0;
    }
    (stereo.iter().map(|s| s * s).sum::<f32>() / stereo.len() as f32).sqrt()
}

/// Samples of frames `from..to` of a decoded stream.
pub fn frames_range(pcm: &[f32], from: usize, to: usize) -> &[f32] {
    let to = to.min(pcm.len() / 1920);
    &pcm[from * 1920..to * 1920]
}
