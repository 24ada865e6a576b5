//! A network stall on one track neither blocks the other players on the same decode worker
//! nor loses the stalled track's audio: its read-ahead absorbs the gap.

mod audio_support;
#[path = "support/poll.rs"]
mod poll;
#[path = "support/stall_http.rs"]
mod stall_http;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use audio_support::*;
use basalt::engine::Engine;
use basalt::player::{EndReason, PlayRequest, PlayerCommand, PlayerEventKind};
use basalt::source::{LoadResult, SourceManager};

#[test]
fn stalled_source_does_not_block_other_players() {
    let dir = tmpdir("stall");
    let slow = dir.join("slow.wav");
    // 8 kHz mono: 16 KB/s, so the read-ahead holds seconds of it.
    write_wav(&slow, 8_000, 1, &[(440.0, 4.0)]);
    let fast = dir.join("fast.wav");
    write_wav(&fast, 48_000, 2, &[(880.0, 4.0)]);
    // No length, no ranges (a stream, read straight through), 3 s stall after 30,000 bytes.
    let port = stall_http::serve(stall_http::Plan {
        content_type: "audio/wav",
        body: std::fs::read(&slow).unwrap(),
        with_length: false,
        ranges: false,
        fast: 30_000,
        then: stall_http::Then::StallFor(Duration::from_millis(3000)),
    })
    .port;

    let mut cfg = test_config();
    cfg.sources.local = true;
    cfg.player.decode_workers = 1;
    cfg.player.encode_workers = 1;
    let sources = Arc::new(SourceManager::new(&cfg));
    let engine = Engine::start(&cfg, sources.clone()).unwrap();
    let mut rigs = Vec::new();
    for ident in [
        format!("http://127.0.0.1:{port}/slow.wav"),
        fast.to_string_lossy().into_owned(),
    ] {
        let t = match sources.load(&ident) {
            LoadResult::Track(t) => Arc::new(t),
            other => panic!("{ident}: {other:?}"),
        };
        let (tx, rx) = crossbeam::channel::unbounded();
        let player = engine.create_player(7, tx);
        let sink = Arc::new(SinkLog::default());
        sink.connected.store(true, Ordering::Relaxed);
        player.send(PlayerCommand::AttachSink(Box::new(TestSink(sink.clone()))));
        player.send(PlayerCommand::Play(PlayRequest {
            track: t,
            start_ms: 0,
            end_ms: None,
            paused: false,
        }));
        rigs.push((player, rx, sink));
    }
    // Wait for the fast track's end first and read its null ticks right then.
    let mut nulled_at_end = Vec::new();
    for (player, rx, _) in rigs.iter().rev() {
        loop {
            match rx
                .recv_timeout(Duration::from_secs(15))
                .expect("event")
                .kind
            {
                PlayerEventKind::TrackEnd { reason, .. } => {
                    assert_eq!(reason, EndReason::Finished);
                    nulled_at_end.push(player.shared.frames_nulled.load(Ordering::Relaxed));
                    break;
                }
                PlayerEventKind::TrackException { exception, .. } => panic!("{exception:?}"),
                _ => {}
            }
        }
    }
    // The last frames may still be in the pacer's ring.
    for (_, _, sink) in &rigs {
        poll::wait_quiet("the sink to settle", poll::QUIET, poll::DEADLINE, || {
            sink.frames.lock().unwrap().len()
        });
    }
    let (_, _, fast_sink) = &rigs[1];
    let n = fast_sink.frames.lock().unwrap().len();
    assert!((199..=201).contains(&n), "fast track: {n} frames");
    // The stall lasts 150 ticks; the few null ticks allowed are the track's opening.
    assert!(
        nulled_at_end[0] <= 6,
        "fast track nulled {} ticks",
        nulled_at_end[0]
    );
    // The slow one lost nothing: 4 s of audio, in one piece.
    let (slow_player, _, slow_sink) = &rigs[0];
    let frames = slow_sink.frames.lock().unwrap().clone();
    assert!(
        (199..=201).contains(&frames.len()),
        "slow track: {} frames",
        frames.len()
    );
    let pcm = decode(&frames);
    let f = frequency(frames_range(&pcm, 3, 197));
    assert!((f - 440.0).abs() < 6.0, "slow track frequency {f}");
    // 30 000 bytes (1.9 s) were buffered at once, so the 3 s stall underran ~1.1 s: the
    // test really stalls it.
    assert!(slow_player.shared.frames_nulled.load(Ordering::Relaxed) > 30);
    engine.shutdown();
}
