//! The engine's per-frame work never allocates: with players playing PCM (plain and
//! resampled), Opus passthrough, Opus re-encoded at another volume, and PCM through
//! equalizer + timescale, a counting global allocator sees no allocation or free on the
//! encode worker (`Player::service`, the frame step) or the pacer (its tick) over a second of
//! steady playback.

mod audio_support;
#[path = "support/poll.rs"]
mod poll;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use audio_support::*;
use basalt::engine::Engine;
use basalt::player::{FrameSink, PlayRequest, PlayerCommand, PlayerEventKind, PlayerHandle};

struct Counting;

static ARMED: AtomicBool = AtomicBool::new(false);
static ENCODE: AtomicUsize = AtomicUsize::new(0);
static PACER: AtomicUsize = AtomicUsize::new(0);

/// Counts the event against the engine thread it happened on (by its OS name, read with
/// `prctl`, which neither allocates nor needs thread-local state).
fn note() {
    if !ARMED.load(Ordering::Relaxed) {
        return;
    }
    let mut name = [0u8; 16];
    // SAFETY: PR_GET_NAME writes at most 16 bytes into the buffer it is given.
    unsafe { libc::prctl(libc::PR_GET_NAME, name.as_mut_ptr()) };
    if name.starts_with(b"basalt-encode") {
        ENCODE.fetch_add(1, Ordering::Relaxed);
    } else if name.starts_with(b"basalt-pacer") {
        PACER.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        note();
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Counts frames without allocating (unlike the recording sink).
struct CountSink(Arc<AtomicU64>);

impl FrameSink for CountSink {
    fn send_frame(&mut self, _opus: &[u8]) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    fn no_frame(&mut self) {}
    fn is_connected(&self) -> bool {
        true
    }
}

#[test]
fn frame_step_and_pacer_tick_do_not_allocate() {
    let dir = tmpdir("engine-alloc");
    let wav48 = dir.join("a.wav");
    write_wav(&wav48, 48_000, 2, &[(440.0, 6.0)]);
    let wav44 = dir.join("b.wav");
    write_wav(&wav44, 44_100, 2, &[(550.0, 6.0)]);
    let ogg = dir.join("c.ogg");
    write_ogg_opus(&ogg, &[(660.0, 6.0)]);

    let engine = Engine::start_with_opener(&test_config(), file_opener()).unwrap();
    let (tx, rx) = crossbeam::channel::unbounded();
    let mut players: Vec<(PlayerHandle, Arc<AtomicU64>)> = Vec::new();
    let filters = basalt_dsp::Filters {
        equalizer: Some(
            (0..15)
                .map(|b| basalt_dsp::Band { band: b, gain: 0.1 })
                .collect(),
        ),
        timescale: Some(basalt_dsp::Timescale {
            speed: 1.1,
            pitch: 0.9,
            rate: 1.0,
        }),
        ..Default::default()
    };
    let setups: Vec<(std::path::PathBuf, Option<u16>, bool)> = vec![
        (wav48.clone(), None, false),
        (wav44, None, false),
        (ogg.clone(), None, false),
        (ogg, Some(70), false),
        (wav48, None, true),
    ];
    for (i, (path, volume, with_filters)) in setups.into_iter().enumerate() {
        let p = engine.create_player(i as u64 + 1, tx.clone());
        let count = Arc::new(AtomicU64::new(0));
        p.send(PlayerCommand::AttachSink(Box::new(CountSink(
            count.clone(),
        ))));
        if let Some(v) = volume {
            p.send(PlayerCommand::SetVolume(v));
        }
        if with_filters {
            p.send(PlayerCommand::SetFilters(Box::new(filters.clone())));
        }
        p.send(PlayerCommand::Play(PlayRequest {
            track: track(&path, 6000),
            start_ms: 0,
            end_ms: None,
            paused: false,
        }));
        players.push((p, count));
    }
    for _ in 0..players.len() {
        let ev = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(matches!(ev.kind, PlayerEventKind::TrackStart { .. }));
    }
    // Warm up: every player is producing frames.
    poll::wait_until("every player to produce 25 frames", poll::DEADLINE, || {
        players.iter().all(|(_, c)| c.load(Ordering::Relaxed) >= 25)
    });
    let before: Vec<u64> = players
        .iter()
        .map(|(_, c)| c.load(Ordering::Relaxed))
        .collect();
    ARMED.store(true, Ordering::SeqCst);
    // The measuring window, not a wait.
    std::thread::sleep(Duration::from_millis(1000));
    ARMED.store(false, Ordering::SeqCst);
    for (i, (_, c)) in players.iter().enumerate() {
        let sent = c.load(Ordering::Relaxed) - before[i];
        assert!(
            sent >= 40,
            "player {i} sent only {sent} frames in the window"
        );
    }
    assert!(rx.try_recv().is_err(), "no track ended in the window");
    assert_eq!(
        ENCODE.load(Ordering::Relaxed),
        0,
        "allocations on the encode worker"
    );
    assert_eq!(PACER.load(Ordering::Relaxed), 0, "allocations on the pacer");
    engine.shutdown();
}
