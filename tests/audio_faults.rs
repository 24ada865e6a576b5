//! Faults stay inside one player: a panic while opening, reading or decoding one player's
//! source, or in its sink, fails only that player's track (TrackExceptionEvent, severity
//! `fault`); the player stays usable and a canary player on the same workers keeps its
//! 20 ms cadence. Also the known trigger: an Ogg Opus packet over the 1276-byte limit.

mod audio_support;
#[path = "support/poll.rs"]
mod poll;

use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use audio_support::*;
use basalt::audio_format::MAX_OPUS_PACKET;
use basalt::engine::{Engine, Opener};
use basalt::player::{
    EndReason, FrameSink, PlayRequest, PlayerCommand, PlayerEvent, PlayerEventKind, PlayerHandle,
};
use basalt::source::MediaInput;
use basalt::track::{Severity, TrackData};
use crossbeam::channel::Receiver;

/// A reader that panics once `left` bytes have been read.
struct PanickingReader {
    inner: std::fs::File,
    left: usize,
}

impl Read for PanickingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            panic!("test: source read panics");
        }
        let n = buf.len().min(self.left);
        let n = self.inner.read(&mut buf[..n])?;
        self.left -= n;
        Ok(n)
    }
}

/// Serves `head` at full speed, then one zero byte per 100 ms (a source that trickles,
/// like a 1 byte/s link); counts bytes served and notes when it is dropped.
struct Trickle {
    head: std::io::Cursor<Vec<u8>>,
    served: Arc<std::sync::atomic::AtomicU64>,
    dropped: Arc<std::sync::atomic::AtomicBool>,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.head.read(buf)?;
        if n > 0 {
            return Ok(n);
        }
        std::thread::sleep(Duration::from_millis(100));
        buf[0] = 0;
        self.served.fetch_add(1, Ordering::Relaxed);
        Ok(1)
    }
}

impl Drop for Trickle {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::Release);
    }
}

/// Local files; `panic-open` panics in the opener, `panic-read:<path>` reads 40 KB of the
/// file and then panics (on the decode worker: local sources are read there).
fn faulty_opener() -> Opener {
    let files = file_opener();
    Arc::new(move |t: &TrackData| {
        let id = &t.info.identifier;
        if id == "panic-open" {
            panic!("test: opener panics");
        }
        if let Some(path) = id.strip_prefix("panic-read:") {
            let path = PathBuf::from(path);
            return Ok(MediaInput {
                reader: Box::new(symphonia::core::io::ReadOnlySource::new(PanickingReader {
                    inner: std::fs::File::open(&path).unwrap(),
                    left: 40_000,
                })),
                extension: Some("wav".into()),
                mime: None,
                is_stream: false,
                segments: None,
            });
        }
        files(t)
    })
}

/// Like `faulty_opener`, plus `slow` → `trickle` (served as a network source).
fn trickling_opener(trickle: Arc<Mutex<Option<Trickle>>>) -> Opener {
    let files = faulty_opener();
    Arc::new(move |t: &TrackData| {
        if t.info.identifier == "slow" {
            let r = trickle.lock().unwrap().take().expect("one slow track");
            return Ok(MediaInput {
                reader: Box::new(symphonia::core::io::ReadOnlySource::new(r)),
                extension: Some("wav".into()),
                mime: None,
                is_stream: true,
                segments: None,
            });
        }
        files(t)
    })
}

/// Records when each frame was paced.
#[derive(Default)]
struct Timed {
    at: Mutex<Vec<Instant>>,
    nulls: std::sync::atomic::AtomicU64,
}

struct TimedSink(Arc<Timed>);

impl FrameSink for TimedSink {
    fn send_frame(&mut self, _opus: &[u8]) {
        self.0.at.lock().unwrap().push(Instant::now());
    }
    fn no_frame(&mut self) {
        self.0.nulls.fetch_add(1, Ordering::Relaxed);
    }
    fn is_connected(&self) -> bool {
        true
    }
}

/// A sink whose send panics (a broken encryption or socket layer).
struct PanickingSink;

impl FrameSink for PanickingSink {
    fn send_frame(&mut self, _opus: &[u8]) {
        panic!("test: sink panics");
    }
    fn no_frame(&mut self) {}
    fn is_connected(&self) -> bool {
        true
    }
}

struct P {
    handle: PlayerHandle,
    events: Receiver<PlayerEvent>,
}

impl P {
    fn new(engine: &Engine, guild: u64, sink: Box<dyn FrameSink>) -> P {
        let (tx, rx) = crossbeam::channel::unbounded();
        let handle = engine.create_player(guild, tx);
        handle.send(PlayerCommand::AttachSink(sink));
        P { handle, events: rx }
    }

    fn play(&self, t: Arc<TrackData>) {
        self.handle.send(PlayerCommand::Play(PlayRequest {
            track: t,
            start_ms: 0,
            end_ms: None,
            paused: false,
        }));
    }

    fn next(&self) -> PlayerEventKind {
        self.events
            .recv_timeout(Duration::from_secs(10))
            .expect("an event within 10 s")
            .kind
    }

    /// TrackStart, then a `fault` TrackException naming `stage`, then TrackEnd.
    fn expect_fault(&self, stage: &str) {
        assert!(matches!(self.next(), PlayerEventKind::TrackStart { .. }));
        match self.next() {
            PlayerEventKind::TrackException { exception, .. } => {
                assert_eq!(exception.severity, Severity::Fault);
                assert!(
                    exception.cause.contains(stage) && exception.cause.contains("panic"),
                    "{}",
                    exception.cause
                );
            }
            other => panic!("expected TrackException, got {other:?}"),
        }
        match self.next() {
            PlayerEventKind::TrackEnd { reason, .. } => {
                assert!(matches!(
                    reason,
                    EndReason::LoadFailed | EndReason::Finished
                ))
            }
            other => panic!("expected TrackEnd, got {other:?}"),
        }
    }
}

fn named(id: &str, length_ms: i64) -> Arc<TrackData> {
    let mut t = (*track(std::path::Path::new(id), length_ms)).clone();
    t.info.identifier = id.to_string();
    Arc::new(t)
}

/// A player on the same (single) decode and encode worker as the victims, whose cadence
/// is checked across the faults.
struct Canary {
    _player: P,
    log: Arc<Timed>,
    from: usize,
    nulls_before: u64,
}

impl Canary {
    /// Plays a 12 s tone from `dir` and waits for its audio.
    fn start(engine: &Engine, dir: &std::path::Path, guild: u64) -> Canary {
        let file = dir.join("canary.wav");
        write_wav(&file, 48_000, 2, &[(440.0, 12.0)]);
        let log = Arc::new(Timed::default());
        let player = P::new(engine, guild, Box::new(TimedSink(log.clone())));
        player.play(track(&file, 12_000));
        assert!(matches!(player.next(), PlayerEventKind::TrackStart { .. }));
        poll::wait_until("canary audio", Duration::from_secs(10), || {
            log.at.lock().unwrap().len() >= 10
        });
        let from = log.at.lock().unwrap().len();
        let nulls_before = log.nulls.load(Ordering::Relaxed);
        Canary {
            _player: player,
            log,
            from,
            nulls_before,
        }
    }

    fn frames_since_start(&self) -> usize {
        self.log.at.lock().unwrap().len() - self.from
    }

    /// At least `min_frames` since `start`, never a gap of 100 ms, never an underrun.
    fn assert_cadence(&self, min_frames: usize) {
        let at = self.log.at.lock().unwrap().clone();
        let window = &at[self.from..];
        assert!(
            window.len() >= min_frames,
            "canary sent {} frames",
            window.len()
        );
        let max_gap = window
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or_default();
        eprintln!(
            "canary: {} frames through the faults, max gap {:?}",
            window.len(),
            max_gap
        );
        assert!(
            max_gap < Duration::from_millis(100),
            "canary gap {max_gap:?}"
        );
        assert_eq!(
            self.log.nulls.load(Ordering::Relaxed),
            self.nulls_before,
            "the canary never underran"
        );
    }
}

/// An engine with one decode and one encode worker, so every player shares them.
fn one_worker_engine(opener: Opener) -> Engine {
    let mut cfg = test_config();
    cfg.player.decode_workers = 1;
    cfg.player.encode_workers = 1;
    Engine::start_with_opener(&cfg, opener).unwrap()
}

#[test]
fn panics_fail_only_their_player_and_the_canary_keeps_its_cadence() {
    let dir = tmpdir("faults");
    let victim_file = dir.join("victim.wav");
    write_wav(&victim_file, 44_100, 2, &[(660.0, 3.0)]);
    let engine = one_worker_engine(faulty_opener());
    let canary = Canary::start(&engine, &dir, 1);

    let victim_log = Arc::new(Timed::default());
    let victim = P::new(&engine, 2, Box::new(TimedSink(victim_log.clone())));
    // A panic in the helper pool (opening).
    victim.play(named("panic-open", 3000));
    victim.expect_fault("opening the source");
    // A panic on the decode worker the canary shares (a source read mid-track).
    victim.play(named(
        &format!("panic-read:{}", victim_file.display()),
        3000,
    ));
    victim.expect_fault("decode");
    // The same player plays the next track normally.
    let before = victim_log.at.lock().unwrap().len();
    victim.play(track(&victim_file, 3000));
    assert!(matches!(victim.next(), PlayerEventKind::TrackStart { .. }));
    poll::wait_until("the victim plays again", Duration::from_secs(10), || {
        victim_log.at.lock().unwrap().len() >= before + 25
    });

    // A sink that panics in the pacer is detached; nobody else notices.
    let broken = P::new(&engine, 3, Box::new(PanickingSink));
    broken.play(track(&victim_file, 3000));
    assert!(matches!(broken.next(), PlayerEventKind::TrackStart { .. }));
    // Let the pacer send (and catch) a few times.
    let t0 = Instant::now();
    poll::wait_until("pacer survives", Duration::from_secs(10), || {
        t0.elapsed() > Duration::from_millis(500) && canary.frames_since_start() > 40
    });
    canary.assert_cadence(40);
    engine.shutdown();
}

/// A panic in the frame step (filters + encoder, on the encode worker the canary shares)
/// fails only the victim's track; the victim then plays normally and the canary never
/// misses a frame. The panic is injected through a debug-build-only hook.
#[cfg(debug_assertions)]
#[test]
fn an_encode_worker_panic_fails_only_its_player() {
    let dir = tmpdir("encode-panic");
    let victim_file = dir.join("victim.wav");
    write_wav(&victim_file, 48_000, 2, &[(660.0, 3.0)]);
    let engine = one_worker_engine(faulty_opener());
    let canary = Canary::start(&engine, &dir, 11);

    // The default hook symbolises a backtrace when RUST_BACKTRACE is set, stalling the
    // encode worker for longer than the canary's buffering: keep the injected one quiet.
    let previous = std::sync::Arc::new(std::panic::take_hook());
    std::panic::set_hook({
        let previous = previous.clone();
        Box::new(move |info| {
            let injected = info
                .payload()
                .downcast_ref::<&str>()
                .is_some_and(|m| m.starts_with("test: injected"));
            if !injected {
                previous(info);
            }
        })
    });
    const VICTIM: u64 = 12;
    let victim_log = Arc::new(Timed::default());
    let victim = P::new(&engine, VICTIM, Box::new(TimedSink(victim_log.clone())));
    basalt::engine::inject_frame_panic(VICTIM);
    victim.play(track(&victim_file, 3000));
    victim.expect_fault("the frame step");
    basalt::engine::inject_frame_panic(0);
    victim.play(track(&victim_file, 3000));
    assert!(matches!(victim.next(), PlayerEventKind::TrackStart { .. }));
    poll::wait_until("the victim plays again", Duration::from_secs(10), || {
        victim_log.at.lock().unwrap().len() >= 25
    });
    canary.assert_cadence(25);
    engine.shutdown();
}

#[test]
fn opus_packets_over_the_limit_are_reencoded_not_passed_through() {
    let dir = tmpdir("oversize");
    let plain = dir.join("plain.ogg");
    let packets = write_ogg_opus(&plain, &[(440.0, 2.0)]);
    let padded: Vec<Vec<u8>> = packets
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if i % 5 == 0 {
                pad_packet(p, 1400)
            } else {
                p.clone()
            }
        })
        .collect();
    assert!(padded[0].len() > MAX_OPUS_PACKET);
    // The padded packet is valid Opus: libopus decodes it to 20 ms.
    let mut dec = opus2::Decoder::new(48_000, opus2::Channels::Stereo).unwrap();
    let mut buf = vec![0f32; 5760 * 2];
    assert_eq!(dec.decode_float(&padded[0], &mut buf, false).unwrap(), 960);
    let file = dir.join("oversize.ogg");
    write_ogg_opus_packets(&file, &padded);

    let rig = Rig::new();
    rig.play(track(&file, 2000), 0, None);
    rig.expect_start();
    let (reason, _) = rig.expect_end(10);
    assert_eq!(reason, EndReason::Finished);
    let frames = rig.frames();
    assert!(frames.len() >= 95, "{} frames", frames.len());
    assert!(frames.iter().all(|f| f.len() <= MAX_OPUS_PACKET));
    let pcm = decode(&frames);
    let f = frequency(frames_range(&pcm, 10, 90));
    assert!((f - 440.0).abs() < 15.0, "{f} Hz");
    // The player is still usable after that track.
    let before = rig.frame_count();
    rig.play(track(&plain, 2000), 0, None);
    rig.expect_start();
    rig.wait_frames(before + 25, 10);
}

/// A source that goes quiet (1 s of audio, then a trickle) starves only its own player:
/// TrackStuckEvent after the threshold, a TrackExceptionEvent once no audio has come for
/// three thresholds, the download stops; the canary on the same decode worker keeps its
/// cadence throughout.
#[test]
fn a_trickling_source_ends_stuck_then_failed_and_the_canary_plays_on() {
    let dir = tmpdir("trickle");
    let canary_file = dir.join("canary.wav");
    write_wav(&canary_file, 48_000, 2, &[(440.0, 12.0)]);
    let slow_file = dir.join("slow.wav");
    write_wav(&slow_file, 8_000, 1, &[(660.0, 1.0)]);
    let served = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let trickle = Trickle {
        head: std::io::Cursor::new(std::fs::read(&slow_file).unwrap()),
        served: served.clone(),
        dropped: dropped.clone(),
    };

    let mut cfg = test_config();
    cfg.player.decode_workers = 1;
    cfg.player.encode_workers = 1;
    cfg.player.track_stuck_threshold_ms = 300;
    let engine =
        Engine::start_with_opener(&cfg, trickling_opener(Arc::new(Mutex::new(Some(trickle)))))
            .unwrap();

    let canary_log = Arc::new(Timed::default());
    let canary = P::new(&engine, 1, Box::new(TimedSink(canary_log.clone())));
    canary.play(track(&canary_file, 12_000));
    assert!(matches!(canary.next(), PlayerEventKind::TrackStart { .. }));
    poll::wait_until("canary audio", Duration::from_secs(10), || {
        canary_log.at.lock().unwrap().len() >= 10
    });
    let from = canary_log.at.lock().unwrap().len();
    let nulls_before = canary_log.nulls.load(Ordering::Relaxed);

    let slow_log = Arc::new(Timed::default());
    let slow = P::new(&engine, 2, Box::new(TimedSink(slow_log.clone())));
    let mut t = (*named("slow", 1000)).clone();
    t.info.source_name = "http".into();
    t.info.is_stream = true;
    slow.play(Arc::new(t));
    assert!(matches!(slow.next(), PlayerEventKind::TrackStart { .. }));
    let stuck_at = match slow.next() {
        PlayerEventKind::TrackStuck { threshold_ms, .. } => {
            assert_eq!(threshold_ms, 300);
            Instant::now()
        }
        other => panic!("expected TrackStuck, got {other:?}"),
    };
    match slow.next() {
        PlayerEventKind::TrackException { exception, .. } => {
            assert_eq!(exception.severity, Severity::Fault);
            assert!(exception.cause.contains("no audio"), "{}", exception.cause);
        }
        other => panic!("expected TrackException, got {other:?}"),
    }
    let after_stuck = stuck_at.elapsed();
    assert!(
        after_stuck >= Duration::from_millis(500),
        "exception {after_stuck:?} after the stuck event"
    );
    assert!(matches!(slow.next(), PlayerEventKind::TrackEnd { .. }));
    // The download stops: the source is dropped and no more bytes are read.
    poll::wait_until(
        "the trickling source is dropped",
        Duration::from_secs(5),
        || dropped.load(Ordering::Acquire),
    );
    let n = served.load(Ordering::Relaxed);
    // Idle on purpose: proves no more bytes are read.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(served.load(Ordering::Relaxed), n, "still downloading");
    // The bytes below the read-ahead low-water mark wait for more; the rest played.
    assert!(
        slow_log.at.lock().unwrap().len() >= 20,
        "the first audio played"
    );

    let at = canary_log.at.lock().unwrap().clone();
    let window = &at[from..];
    let max_gap = window
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    eprintln!(
        "canary: {} frames beside the trickle, max gap {max_gap:?}",
        window.len()
    );
    assert!(window.len() >= 60, "canary sent {} frames", window.len());
    assert!(
        max_gap < Duration::from_millis(100),
        "canary gap {max_gap:?}"
    );
    assert_eq!(canary_log.nulls.load(Ordering::Relaxed), nulls_before);
    engine.shutdown();
}

/// Opens of slow hosts do not serialise other players' starts: with more slow opens in
/// flight than the helper pool's base size, a local track still starts playing at once.
#[test]
fn slow_opens_do_not_hold_up_other_players() {
    let dir = tmpdir("slow-open");
    let file = dir.join("fast.wav");
    write_wav(&file, 48_000, 2, &[(440.0, 3.0)]);
    let files = file_opener();
    let slow_opens = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let opening = slow_opens.clone();
    let opener: Opener = Arc::new(move |t: &TrackData| {
        if t.info.identifier == "slow-host" {
            opening.fetch_add(1, Ordering::AcqRel);
            // The slow host itself (fault injection), not a wait.
            std::thread::sleep(Duration::from_millis(2500));
        }
        files(t)
    });
    let engine = Engine::start_with_opener(&test_config(), opener).unwrap();
    let mut slow = Vec::new();
    for g in 0..10 {
        let p = P::new(&engine, 100 + g, Box::new(PanickingSink));
        p.play(named("slow-host", 1000));
        slow.push(p);
    }
    poll::wait_until("every slow open to reach a helper", poll::DEADLINE, || {
        slow_opens.load(Ordering::Acquire) == 10
    });
    let log = Arc::new(Timed::default());
    let fast = P::new(&engine, 1, Box::new(TimedSink(log.clone())));
    let t0 = Instant::now();
    fast.play(track(&file, 3000));
    poll::wait_until("the local track plays", Duration::from_secs(10), || {
        !log.at.lock().unwrap().is_empty()
    });
    let first = t0.elapsed();
    eprintln!(
        "first frame after {first:?} with 10 slow opens; helper threads {}",
        engine.helper_threads()
    );
    assert!(
        first < Duration::from_millis(1000),
        "first frame after {first:?}"
    );
    assert!(engine.helper_threads() > 10);
    engine.shutdown();
}
