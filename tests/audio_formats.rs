//! Every fixture format through the real pipeline, loaded by the `local` source from disk
//! and by the `http` source from a loopback server, all players at once on one engine.

mod audio_support;
#[path = "support/poll.rs"]
mod poll;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use audio_support::*;
use basalt::engine::Engine;
use basalt::player::{EndReason, PlayRequest, PlayerCommand, PlayerEventKind};
use basalt::source::{LoadResult, SourceManager};

/// (file, nominal tone seconds)
const FIXTURES: &[(&str, f32)] = &[
    ("sine440_48k_stereo_2s_id3.mp3", 2.0),
    ("sine440_44k_stereo_2s_xing.mp3", 2.0),
    ("sine440_44k_mono_2s_bare.mp3", 2.0),
    ("sine440_48k_stereo_1s.flac", 1.0),
    ("sine440_48k_stereo_0.25s_s16.wav", 0.25),
    ("sine440_8k_mono_2s_s16.wav", 2.0),
    ("sine440_8k_mono_2s_u8.wav", 2.0),
    ("sine440_44k_stereo_2s.ogg", 2.0),
    ("sine440_48k_stereo_2s.opus", 2.0),
    ("sine440_48k_stereo_2s.webm", 2.0),
    ("sine440_44k_stereo_2s_aac.m4a", 2.0),
    ("sine440_22k_mono_1s_alac.m4a", 1.0),
    ("sine440_44k_stereo_2s.aac", 2.0),
    ("sine440_44k_stereo_2s_aac.ts", 2.0),
];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Serves the fixtures directory on loopback until the process ends.
fn serve_fixtures() -> u16 {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    std::thread::spawn(move || {
        for req in server.incoming_requests() {
            let name = req.url().trim_start_matches('/').to_string();
            match std::fs::read(fixture(&name)) {
                Ok(body) => {
                    let _ = req.respond(tiny_http::Response::from_data(body));
                }
                Err(_) => {
                    let _ = req.respond(tiny_http::Response::empty(404));
                }
            }
        }
    });
    port
}

fn play_all(identifiers: Vec<(String, f32)>) {
    let mut cfg = test_config();
    cfg.sources.local = true;
    cfg.player.decode_workers = 2;
    cfg.player.encode_workers = 2;
    let sources = Arc::new(SourceManager::new(&cfg));
    let engine = Engine::start(&cfg, sources.clone()).unwrap();
    let mut runs = Vec::new();
    for (ident, secs) in identifiers {
        let t = match sources.load(&ident) {
            LoadResult::Track(t) => Arc::new(t),
            other => panic!("{ident}: {other:?}"),
        };
        let (tx, rx) = crossbeam::channel::unbounded();
        let player = engine.create_player(1, tx);
        let sink = Arc::new(SinkLog::default());
        sink.connected.store(true, Ordering::Relaxed);
        player.send(PlayerCommand::AttachSink(Box::new(TestSink(sink.clone()))));
        player.send(PlayerCommand::Play(PlayRequest {
            track: t,
            start_ms: 0,
            end_ms: None,
            paused: false,
        }));
        runs.push((ident, secs, player, rx, sink));
    }
    let mut failures = Vec::new();
    for (ident, secs, _player, rx, sink) in &runs {
        let mut reason = None;
        while let Ok(ev) = rx.recv_timeout(Duration::from_secs(15)) {
            match ev.kind {
                PlayerEventKind::TrackEnd { reason: r, .. } => {
                    reason = Some(r);
                    break;
                }
                PlayerEventKind::TrackException { exception, .. } => {
                    failures.push(format!("{ident}: exception {exception:?}"));
                }
                _ => {}
            }
        }
        // The last frames may still be in the pacer's ring.
        poll::wait_quiet("the sink to settle", poll::QUIET, poll::DEADLINE, || {
            sink.frames.lock().unwrap().len()
        });
        if reason != Some(EndReason::Finished) {
            failures.push(format!("{ident}: end {reason:?}"));
            continue;
        }
        let frames = sink.frames.lock().unwrap().clone();
        let expected = (secs * 50.0).round() as i64;
        let n = frames.len() as i64;
        if (n - expected).abs() > 4 {
            failures.push(format!("{ident}: {n} frames, expected {expected}"));
        }
        let pcm = decode(&frames);
        let from = 3;
        let to = (frames.len().saturating_sub(3)).max(from + 1);
        let f = frequency(frames_range(&pcm, from, to));
        if (f - 440.0).abs() > 6.0 {
            failures.push(format!("{ident}: frequency {f}"));
        }
        let level = rms(frames_range(&pcm, from, to));
        // The fixtures are ffmpeg sines at -18 dBFS (mono) or -21 dBFS per channel (stereo).
        if !(0.04..0.2).contains(&level) {
            failures.push(format!("{ident}: rms {level}"));
        }
    }
    engine.shutdown();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn every_format_from_disk() {
    play_all(
        FIXTURES
            .iter()
            .map(|(f, s)| (fixture(f).to_string_lossy().into_owned(), *s))
            .collect(),
    );
}

#[test]
fn every_format_over_http() {
    let port = serve_fixtures();
    play_all(
        FIXTURES
            .iter()
            .map(|(f, s)| (format!("http://127.0.0.1:{port}/{f}"), *s))
            .collect(),
    );
}
