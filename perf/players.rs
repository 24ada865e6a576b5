//! `perf/players`: N concurrent players through the whole pipeline (decode → resample →
//! filters → Opus → pacer) into counting sinks, for a fixed time. Prints CPU per
//! player-second, pacing lateness (p50/p99/max), delivered/expected frames and RSS.
//!
//! cargo run --release --example players -- <players> [plain|filters|passthrough|passthrough-webm|webm-vs-ogg] [seconds]
//!
//! Inputs are generated in memory: MP3 44.1 kHz stereo (the fixture looped) for plain and
//! filters (so resampling runs), Ogg Opus 48 kHz stereo 20 ms for passthrough, the same
//! Opus packets in WebM (laid out as YouTube's itag 251) for passthrough-webm.
//! `webm-vs-ogg [seconds] [rounds]` runs both passthrough inputs in one process,
//! alternating (Ogg, WebM, Ogg, WebM…, each for `seconds`, 4 rounds by default), and prints
//! CPU per player of each and their ratio: a YouTube Opus track must cost no more than an
//! Ogg Opus file.
//!
//! The encode-only ceiling is measured in the same run, under the same load: every 20 ms a
//! probe thread encodes one frame for each of 16 bare libopus encoders (the players'
//! settings, the same decoded audio), timing the burst with its own thread CPU clock. Its CPU is
//! subtracted from the process total before the per-player figure is computed.

use std::io::Cursor;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use basalt::audio_format::{FRAME, FRAME_SAMPLES, SAMPLE_RATE};
use basalt::config::Config;
use basalt::engine::{Engine, Opener};
use basalt::player::{FrameSink, PlayRequest, PlayerCommand, PlayerEventKind};
use basalt::source::MediaInput;
use basalt::track::{TrackData, TrackInfo};

struct CountingSink {
    frames: Arc<AtomicU64>,
}

impl FrameSink for CountingSink {
    fn send_frame(&mut self, opus: &[u8]) {
        std::hint::black_box(opus);
        self.frames.fetch_add(1, Ordering::Relaxed);
    }
    fn no_frame(&mut self) {}
    fn is_connected(&self) -> bool {
        true
    }
}

#[path = "mp3_loop.rs"]
mod mp3_loop;
#[path = "../tests/audio_support/ogg.rs"]
mod ogg;
use mp3_loop::make_mp3;
use ogg::ogg_page;
#[path = "../tests/audio_support/webm.rs"]
mod webm;

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        t(u.ru_utime) + t(u.ru_stime)
    }
}

fn thread_cpu_ns() -> u64 {
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe {
        let mut t: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t);
        t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
    }
}

/// The players' audio as 48 kHz stereo frames, decoded and resampled as the engine does.
fn decoded_frames(bytes: &Arc<Vec<u8>>, config: &Config, frames: usize) -> Vec<f32> {
    let input = MediaInput {
        reader: Box::new(Cursor::new(SharedBytes(bytes.clone()))),
        extension: Some("mp3".into()),
        mime: None,
        is_stream: false,
        segments: None,
    };
    let Ok(basalt::decode::Opened::Pcm(mut dec)) =
        basalt::decode::open(input, config.player.resampling_quality)
    else {
        panic!("the perf MP3 opens as PCM");
    };
    // A small ring and one exact allocation: freeing a large (mmap'd) block would raise
    // glibc's mmap threshold and change how the players' memory is laid out.
    let (mut prod, mut cons) = rtrb::RingBuffer::<basalt::audio_format::PcmSample>::new(16_384);
    let mut out = Vec::with_capacity(frames * FRAME_SAMPLES);
    let mut frame = [0f32; FRAME_SAMPLES];
    while out.len() < frames * FRAME_SAMPLES {
        if cons.slots() >= FRAME_SAMPLES {
            basalt::audio_format::pop_pcm(&mut cons, &mut frame);
            out.extend_from_slice(&frame);
            continue;
        }
        if dec.fill(&mut prod, 1).expect("decode").eof && cons.slots() < FRAME_SAMPLES {
            break;
        }
    }
    assert!(!out.is_empty(), "the perf MP3 decodes");
    out
}

/// Encode-only ceiling probe: bare libopus, the players' settings, their audio.
struct Probe {
    stop: Arc<AtomicBool>,
    /// (frames encoded, encode CPU ns, whole thread CPU ns) once stopped.
    result: std::thread::JoinHandle<(u64, u64, u64)>,
}

/// Encoders the probe cycles through: like an encode worker, it encodes one frame for each
/// of many players back to back (code warm, each encoder's state cold).
const PROBE_ENCODERS: usize = 16;

fn start_probe(pcm: Vec<f32>, complexity: i32, go: Arc<AtomicBool>) -> Probe {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let result = std::thread::spawn(move || {
        let mut encoders: Vec<opus2::Encoder> = (0..PROBE_ENCODERS)
            .map(|_| {
                let mut enc = opus2::Encoder::new(
                    SAMPLE_RATE,
                    opus2::Channels::Stereo,
                    opus2::Application::Audio,
                )
                .expect("encoder");
                enc.set_complexity(complexity).expect("complexity");
                enc.set_bitrate(opus2::Bitrate::Bits(96_000))
                    .expect("bitrate");
                enc.set_inband_fec(false).expect("fec");
                enc
            })
            .collect();
        let mut out = [0u8; 1500];
        let (mut frames, mut busy) = (0u64, 0u64);
        let n = pcm.len() / FRAME_SAMPLES;
        let mut i = 0;
        while !go.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let t0 = thread_cpu_ns();
        while !s.load(Ordering::Relaxed) {
            let a = thread_cpu_ns();
            for (k, enc) in encoders.iter_mut().enumerate() {
                // Each encoder plays the audio from its own offset, as players would.
                let f = (i + k * 37) % n;
                let frame = &pcm[f * FRAME_SAMPLES..(f + 1) * FRAME_SAMPLES];
                std::hint::black_box(enc.encode_float(frame, &mut out).expect("encode"));
            }
            busy += thread_cpu_ns() - a;
            frames += PROBE_ENCODERS as u64;
            i = (i + 1) % n;
            std::thread::sleep(Duration::from_millis(20));
        }
        (frames, busy, thread_cpu_ns() - t0)
    });
    Probe { stop, result }
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `secs` of a 440 Hz tone as 20 ms stereo Opus packets at 96 kbit/s.
fn opus_packets(secs: usize) -> Vec<Vec<u8>> {
    let mut enc = opus2::Encoder::new(
        SAMPLE_RATE,
        opus2::Channels::Stereo,
        opus2::Application::Audio,
    )
    .unwrap();
    enc.set_bitrate(opus2::Bitrate::Bits(96_000)).unwrap();
    let mut pcm = [0f32; FRAME_SAMPLES];
    let mut phase = 0f32;
    (0..secs * 50)
        .map(|_| {
            for s in pcm.chunks_exact_mut(2) {
                let v = phase.sin() * 0.4;
                phase = (phase + 440.0 * std::f32::consts::TAU / SAMPLE_RATE as f32)
                    % std::f32::consts::TAU;
                s[0] = v;
                s[1] = v;
            }
            enc.encode_vec_float(&pcm, 1500).unwrap()
        })
        .collect()
}

/// The same packets in WebM, 5 s clusters (YouTube's files use a few seconds each).
fn make_webm(secs: usize) -> Vec<u8> {
    webm::webm_opus(&opus_packets(secs), 250)
}

fn make_opus(secs: usize) -> Vec<u8> {
    let packets = opus_packets(secs);
    let mut head = b"OpusHead".to_vec();
    head.extend_from_slice(&[1, 2, 0, 0]);
    head.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    head.extend_from_slice(&[0, 0, 0]);
    let mut tags = b"OpusTags".to_vec();
    tags.extend_from_slice(&0u32.to_le_bytes());
    tags.extend_from_slice(&0u32.to_le_bytes());
    let mut out = Vec::new();
    ogg_page(&mut out, 2, 0, 0, &[&head]);
    ogg_page(&mut out, 0, 0, 1, &[&tags]);
    let mut granule = 0;
    let mut seq = 2;
    let frames = packets.len();
    let mut group: Vec<Vec<u8>> = Vec::new();
    for (i, p) in packets.into_iter().enumerate() {
        group.push(p);
        if group.len() == 25 || i + 1 == frames {
            granule += FRAME as u64 * group.len() as u64;
            let refs: Vec<&[u8]> = group.iter().map(|p| p.as_slice()).collect();
            ogg_page(
                &mut out,
                if i + 1 == frames { 4 } else { 0 },
                granule,
                seq,
                &refs,
            );
            seq += 1;
            group.clear();
        }
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let mode = args.get(2).cloned().unwrap_or_else(|| "plain".into());
    let secs: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(30);
    if mode != "webm-vs-ogg" {
        run(&mode, n, secs);
        return;
    }
    // Alternating rounds, so a change in the shared machine's load hits both inputs; the
    // least disturbed round of each (its minimum) is the comparison, the means are shown.
    let rounds: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(4).max(1);
    let (mut ogg, mut webm) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        ogg.push(run("passthrough", n, secs));
        webm.push(run("passthrough-webm", n, secs));
    }
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "webm-vs-ogg players={n} rounds={rounds} cpu_per_player_second: \
         ogg min={:.4}ms mean={:.4}ms, webm min={:.4}ms mean={:.4}ms; \
         ratio webm/ogg min={:.3} mean={:.3}",
        min(&ogg),
        mean(&ogg),
        min(&webm),
        mean(&webm),
        min(&webm) / min(&ogg).max(f64::MIN_POSITIVE),
        mean(&webm) / mean(&ogg).max(f64::MIN_POSITIVE)
    );
}

/// One measured run of `n` players in `mode`; prints its line and returns the CPU per
/// player-second in milliseconds.
fn run(mode: &str, n: usize, secs: u64) -> f64 {
    let mode = mode.to_string();
    let (bytes, ext): (Arc<Vec<u8>>, &str) = match mode.as_str() {
        "passthrough" => (Arc::new(make_opus(secs as usize + 10)), "opus"),
        "passthrough-webm" => (Arc::new(make_webm(secs as usize + 10)), "webm"),
        "plain" | "filters" => (Arc::new(make_mp3(secs as usize + 10)), "mp3"),
        other => panic!("unknown mode {other}"),
    };
    let data = bytes.clone();
    let ext_s = ext.to_string();
    let opener: Opener = Arc::new(move |_t: &TrackData| {
        Ok(MediaInput {
            reader: Box::new(Cursor::new(SharedBytes(data.clone()))),
            extension: Some(ext_s.clone()),
            mime: None,
            is_stream: false,
            segments: None,
        })
    });
    let mut config = Config::default();
    config.player.opus_encoding_quality = 10;
    let probe_go = Arc::new(AtomicBool::new(false));
    let probe = (!mode.starts_with("passthrough")).then(|| {
        let pcm = decoded_frames(&bytes, &config, 500);
        start_probe(pcm, 10, probe_go.clone())
    });
    let engine = Engine::start_with_opener(&config, opener).expect("engine");
    let rss0 = rss_kib();
    let track = Arc::new(TrackData {
        info: TrackInfo {
            title: "perf".into(),
            author: "perf".into(),
            length: (secs as i64 + 10) * 1000,
            identifier: "perf".into(),
            is_stream: false,
            uri: None,
            artwork_url: None,
            isrc: None,
            source_name: "local".into(),
        },
        source_data: Vec::new(),
        position: 0,
    });
    let (tx, rx) = crossbeam::channel::unbounded();
    let mut players = Vec::new();
    let mut counters = Vec::new();
    for i in 0..n {
        let h = engine.create_player(i as u64, tx.clone());
        let c = Arc::new(AtomicU64::new(0));
        h.send(PlayerCommand::AttachSink(Box::new(CountingSink {
            frames: c.clone(),
        })));
        if mode == "filters" {
            let bands = (0..15)
                .map(|b| basalt_dsp::Band { band: b, gain: 0.1 })
                .collect();
            let f = basalt_dsp::Filters {
                equalizer: Some(bands),
                ..Default::default()
            };
            h.send(PlayerCommand::SetFilters(Box::new(f)));
        }
        h.send(PlayerCommand::Play(PlayRequest {
            track: track.clone(),
            start_ms: 0,
            end_ms: None,
            paused: false,
        }));
        players.push(h);
        counters.push(c);
    }
    let failed = Arc::new(AtomicBool::new(false));
    {
        let failed = failed.clone();
        std::thread::spawn(move || {
            for ev in rx {
                if let PlayerEventKind::TrackException { exception, .. } = ev.kind {
                    eprintln!("track failed: {exception:?}");
                    failed.store(true, Ordering::Relaxed);
                }
            }
        });
    }
    // Warm up: tracks opened, rings full.
    std::thread::sleep(Duration::from_secs(2));
    let stats = engine.pacer_stats();
    stats.reset();
    let sent0: u64 = counters.iter().map(|c| c.load(Ordering::Relaxed)).sum();
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    probe_go.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs(secs));
    let wall = t0.elapsed().as_secs_f64();
    let mut cpu = cpu_seconds() - cpu0;
    let sent: u64 = counters
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum::<u64>()
        - sent0;
    let mut ceiling = String::new();
    if let Some(p) = probe {
        p.stop.store(true, Ordering::Relaxed);
        let (frames, busy, whole) = p.result.join().expect("probe");
        cpu -= whole as f64 / 1e9;
        let encode_us = busy as f64 / frames.max(1) as f64 / 1e3;
        // Per frame delivered: on a saturated machine fewer frames are made, not cheaper ones.
        let full_us = cpu / sent.max(1) as f64 * 1e6;
        ceiling = format!(
            " | per frame: full path {full_us:.1}us, bare libopus encode {encode_us:.1}us \
             ({frames} probe frames) = {:.1}% of the encode-only ceiling",
            encode_us / full_us * 100.0
        );
    }
    let rss1 = rss_kib();
    let expected = (n as f64 * wall * 50.0) as u64;
    println!(
        "mode={mode} players={n} secs={wall:.1} realtime_pacer={} \
         cpu_per_player_second={:.3}ms ({:.1}% of one core per player) \
         lateness p50={:.3}ms p99={:.3}ms max={:.3}ms ticks={} rebased={} \
         spin={}us delivered={sent}/{expected} ({:.2}%) rss={}KiB (+{:.0}KiB per player){}{ceiling}",
        stats.realtime.load(Ordering::Relaxed),
        cpu / (n as f64 * wall) * 1000.0,
        cpu / (n as f64 * wall) * 100.0,
        stats.percentile_ns(0.5) as f64 / 1e6,
        stats.percentile_ns(0.99) as f64 / 1e6,
        stats.max_late_ns.load(Ordering::Relaxed) as f64 / 1e6,
        stats.ticks.load(Ordering::Relaxed),
        stats.rebased.load(Ordering::Relaxed),
        stats.spin_us.load(Ordering::Relaxed),
        sent as f64 / expected.max(1) as f64 * 100.0,
        rss1,
        (rss1.saturating_sub(rss0)) as f64 / n as f64,
        if failed.load(Ordering::Relaxed) {
            " TRACK FAILURES"
        } else {
            ""
        }
    );
    for h in &players {
        h.send(PlayerCommand::Destroy);
    }
    engine.shutdown();
    cpu / (n as f64 * wall) * 1000.0
}

/// Shared in-memory file, so N players do not hold N copies.
struct SharedBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}
