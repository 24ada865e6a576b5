//! The engine end to end: generated files through decode → resample → volume → Opus →
//! pacer → an in-process sink; the Opus that comes out is decoded and checked.

mod audio_support;
#[path = "support/poll.rs"]
mod poll;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use audio_support::*;
use basalt::player::{EndReason, PlayerCommand, PlayerEventKind};

#[test]
fn wav_44k_mono_plays_at_the_right_pitch_and_length() {
    let dir = tmpdir("wav44");
    let path = dir.join("a.wav");
    write_wav(&path, 44_100, 1, &[(440.0, 2.0)]);
    let rig = Rig::new();
    rig.play(track(&path, 2000), 0, None);
    rig.expect_start();
    let (reason, _) = rig.expect_end(10);
    assert_eq!(reason, EndReason::Finished);
    rig.settle();
    let frames = rig.frames();
    // 2 s = 100 frames (the last may be padded).
    assert!(
        (99..=102).contains(&frames.len()),
        "{} frames",
        frames.len()
    );
    let pcm = decode(&frames);
    let f = frequency(frames_range(&pcm, 5, 95));
    assert!((f - 440.0).abs() < 5.0, "frequency {f}");
    let level = rms(frames_range(&pcm, 5, 95));
    assert!((level - 0.35).abs() < 0.05, "rms {level}");
    assert_eq!(
        rig.player.shared.frames_sent.load(Ordering::Relaxed) as usize,
        frames.len()
    );
    assert!(!rig.player.shared.has_track.load(Ordering::Relaxed));
}

#[test]
fn seek_lands_on_the_target() {
    let dir = tmpdir("seek");
    let path = dir.join("s.wav");
    // 0–1 s 440 Hz, 1–2 s 880 Hz, 2–4 s 1760 Hz.
    write_wav(
        &path,
        48_000,
        2,
        &[(440.0, 1.0), (880.0, 1.0), (1760.0, 2.0)],
    );
    let rig = Rig::new();
    rig.play(track(&path, 4000), 0, None);
    rig.expect_start();
    rig.wait_frames(10, 5);
    rig.player.send(PlayerCommand::Seek(2000));
    // The position is the target as soon as the command lands (it was ~200 ms before).
    let p = poll::wait_for("the seek to land", poll::DEADLINE, || {
        let p = rig.player.shared.position();
        (p >= 2000).then_some(p)
    });
    assert!((2000..=2100).contains(&p), "position right after seek {p}");
    let before = rig.frame_count();
    rig.wait_frames(before + 30, 5);
    let frames = rig.frames();
    let pcm = decode(&frames);
    // Skip two frames for the command to land and the decoder to settle.
    let f = frequency(frames_range(&pcm, before + 3, before + 25));
    assert!((f - 1760.0).abs() < 20.0, "frequency after seek {f}");
    let (reason, _) = rig.expect_end(10);
    assert_eq!(reason, EndReason::Finished);
    rig.settle();
    // Played: `before` frames, then 2 s from the target (100 frames), ± a couple.
    let total = rig.frame_count();
    assert!(
        total >= before + 97 && total <= before + 104,
        "total {total}, before {before}"
    );
}

#[test]
fn seek_precision_within_20ms() {
    let dir = tmpdir("seekprec");
    let path = dir.join("p.wav");
    // Silence then a tone starting exactly at 1500 ms.
    write_wav(&path, 48_000, 2, &[(0.0, 1.5), (1000.0, 1.0)]);
    let rig = Rig::new();
    rig.play(track(&path, 2500), 1400, None);
    rig.expect_start();
    rig.wait_frames(20, 5);
    let pcm = decode(&rig.frames());
    // Tone must start 100 ms (5 frames) in: find the first loud sample.
    let first = pcm.iter().position(|s| s.abs() > 0.1).expect("tone") / 2;
    let ms = first as f32 / 48.0;
    assert!(
        (ms - 100.0).abs() <= 20.0,
        "tone starts at {ms} ms, expected 100"
    );
}

#[test]
fn pause_stops_frames_and_resume_continues() {
    let dir = tmpdir("pause");
    let path = dir.join("p.wav");
    write_wav(&path, 48_000, 2, &[(440.0, 3.0)]);
    let rig = Rig::new();
    rig.play(track(&path, 3000), 0, None);
    rig.expect_start();
    rig.wait_frames(20, 5);
    rig.player.send(PlayerCommand::SetPaused(true));
    rig.settle();
    let n1 = rig.frame_count();
    let pos1 = rig.player.shared.position();
    // Idle on purpose: proves no frame goes out and the position stays while paused.
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(rig.frame_count(), n1, "frames sent while paused");
    assert_eq!(
        rig.player.shared.position(),
        pos1,
        "position moved while paused"
    );
    assert!(rig.sink.no_frames.load(Ordering::Relaxed) >= 15);
    assert!(rig.player.shared.paused.load(Ordering::Relaxed));
    rig.player.send(PlayerCommand::SetPaused(false));
    let (reason, _) = rig.expect_end(10);
    assert_eq!(reason, EndReason::Finished);
    rig.settle();
    // Nothing lost or repeated across the pause: exactly the file's 150 frames.
    let total = rig.frame_count();
    assert!((149..=151).contains(&total), "total {total}");
    let pcm = decode(&rig.frames());
    let f = frequency(frames_range(&pcm, 5, 145));
    assert!((f - 440.0).abs() < 5.0, "frequency {f}");
}

#[test]
fn volume_change_is_heard_in_the_next_frame() {
    let dir = tmpdir("vol");
    let path = dir.join("v.wav");
    write_wav(&path, 48_000, 2, &[(440.0, 3.0)]);
    let rig = Rig::new();
    rig.play(track(&path, 3000), 0, None);
    rig.expect_start();
    rig.wait_frames(25, 5);
    let at = rig.player.shared.frames_sent.load(Ordering::Relaxed) as usize;
    rig.player.send(PlayerCommand::SetVolume(0));
    rig.wait_frames(at + 15, 5);
    let pcm = decode(&rig.frames());
    let before = rms(frames_range(&pcm, at - 10, at));
    assert!(before > 0.3, "level before {before}");
    // The frame in flight when the command was sent may be old; the one after is not.
    let after = rms(frames_range(&pcm, at + 2, at + 15));
    assert!(after < 0.01, "level after {after}");
    rig.player.send(PlayerCommand::Stop);
}

#[test]
fn filters_apply_in_the_next_frame() {
    let dir = tmpdir("filt");
    let path = dir.join("f.wav");
    write_wav(&path, 48_000, 2, &[(440.0, 3.0)]);
    let rig = Rig::new();
    rig.play(track(&path, 3000), 0, None);
    rig.expect_start();
    rig.wait_frames(25, 5);
    let at = rig.player.shared.frames_sent.load(Ordering::Relaxed) as usize;
    let f = basalt_dsp::Filters {
        volume: Some(0.5),
        ..Default::default()
    };
    rig.player.send(PlayerCommand::SetFilters(Box::new(f)));
    rig.wait_frames(at + 20, 5);
    let pcm = decode(&rig.frames());
    let before = rms(frames_range(&pcm, at - 10, at));
    let after = rms(frames_range(&pcm, at + 4, at + 20));
    // volume 0.5 → tan(0.395) ≈ 0.417.
    let ratio = after / before;
    assert!((ratio - 0.417).abs() < 0.05, "ratio {ratio}");
    rig.player.send(PlayerCommand::Stop);
    assert_eq!(rig.expect_end(5).0, EndReason::Stopped);
}

#[test]
fn end_time_finishes_the_track() {
    let dir = tmpdir("endtime");
    let path = dir.join("e.wav");
    write_wav(&path, 48_000, 2, &[(440.0, 3.0)]);
    let rig = Rig::new();
    rig.play(track(&path, 3000), 0, Some(1000));
    rig.expect_start();
    let (reason, pos) = rig.expect_end(10);
    assert_eq!(reason, EndReason::Finished);
    assert!((960..=1060).contains(&pos), "end position {pos}");
    rig.settle();
    let n = rig.frame_count();
    assert!((49..=51).contains(&n), "{n} frames");
}

#[test]
fn replace_emits_replaced_before_start_and_stop_emits_stopped() {
    let dir = tmpdir("replace");
    let a = dir.join("a.wav");
    let b = dir.join("b.wav");
    write_wav(&a, 48_000, 2, &[(440.0, 3.0)]);
    write_wav(&b, 48_000, 2, &[(880.0, 3.0)]);
    let rig = Rig::new();
    rig.play(track(&a, 3000), 0, None);
    rig.expect_start();
    rig.wait_frames(10, 5);
    rig.play(track(&b, 3000), 0, None);
    match rig.next_event(5) {
        PlayerEventKind::TrackEnd { reason, track } => {
            assert_eq!(reason, EndReason::Replaced);
            assert!(track.info.identifier.ends_with("a.wav"));
            assert!(track.position > 0);
        }
        other => panic!("{other:?}"),
    }
    match rig.next_event(5) {
        PlayerEventKind::TrackStart { track } => assert!(track.info.identifier.ends_with("b.wav")),
        other => panic!("{other:?}"),
    }
    let n = rig.frame_count();
    rig.wait_frames(n + 20, 5);
    let pcm = decode(&rig.frames());
    let f = frequency(frames_range(&pcm, n + 4, n + 20));
    assert!((f - 880.0).abs() < 10.0, "second track frequency {f}");
    rig.player.send(PlayerCommand::Stop);
    assert_eq!(rig.expect_end(5).0, EndReason::Stopped);
    assert!(!rig.player.shared.has_track.load(Ordering::Relaxed));
}

#[test]
fn destroy_stops_the_track() {
    let dir = tmpdir("destroy");
    let a = dir.join("a.wav");
    write_wav(&a, 48_000, 2, &[(440.0, 3.0)]);
    let rig = Rig::new();
    rig.play(track(&a, 3000), 0, None);
    rig.expect_start();
    rig.player.send(PlayerCommand::Destroy);
    assert_eq!(rig.expect_end(5).0, EndReason::Stopped);
}

fn expect_load_failed(rig: &Rig) -> basalt::track::TrackException {
    rig.expect_start();
    let e = match rig.next_event(10) {
        PlayerEventKind::TrackException { exception, .. } => exception,
        other => panic!("expected TrackException, got {other:?}"),
    };
    assert_eq!(rig.expect_end(5).0, EndReason::LoadFailed);
    e
}

#[test]
fn corrupt_file_gives_exception_then_load_failed() {
    let dir = tmpdir("corrupt");
    let path = dir.join("c.mp3");
    let junk: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, junk).unwrap();
    let rig = Rig::new();
    rig.play(track(&path, 1000), 0, None);
    let e = expect_load_failed(&rig);
    assert!(e.message.is_some());
}

#[test]
fn truncated_header_gives_load_failed_and_truncated_data_finishes() {
    let dir = tmpdir("trunc");
    let full = dir.join("full.wav");
    write_wav(&full, 48_000, 2, &[(440.0, 2.0)]);
    let bytes = std::fs::read(&full).unwrap();
    let head = dir.join("head.wav");
    std::fs::write(&head, &bytes[..20]).unwrap();
    let rig = Rig::new();
    rig.play(track(&head, 2000), 0, None);
    expect_load_failed(&rig);
    // Cut in the middle of the data: plays what is there and finishes.
    let half = dir.join("half.wav");
    std::fs::write(&half, &bytes[..bytes.len() / 2]).unwrap();
    let n0 = rig.frame_count();
    rig.play(track(&half, 2000), 0, None);
    rig.expect_start();
    let (reason, _) = rig.expect_end(10);
    assert_eq!(reason, EndReason::Finished);
    rig.settle();
    let n = rig.frame_count() - n0;
    assert!((48..=52).contains(&n), "{n} frames from half a 2 s file");
}

#[test]
fn missing_file_reports_the_opener_exception() {
    let rig = Rig::new();
    rig.play(
        track(std::path::Path::new("/nonexistent/x.wav"), 1000),
        0,
        None,
    );
    let e = expect_load_failed(&rig);
    assert_eq!(
        e.message.as_deref(),
        Some("Failed to open file for reading.")
    );
}

#[test]
fn stuck_event_when_no_audio_arrives() {
    let mut cfg = test_config();
    cfg.player.track_stuck_threshold_ms = 300;
    let opener = std::sync::Arc::new(|t: &basalt::track::TrackData| {
        // Past the stuck threshold, well before three of them (the track would then fail).
        std::thread::sleep(Duration::from_millis(600));
        (file_opener())(t)
    });
    let rig = Rig::with(cfg, opener);
    let dir = tmpdir("stuck");
    let path = dir.join("s.wav");
    write_wav(&path, 48_000, 2, &[(440.0, 1.0)]);
    rig.play(track(&path, 1000), 0, None);
    rig.expect_start();
    let t0 = Instant::now();
    match rig.next_event(5) {
        PlayerEventKind::TrackStuck { threshold_ms, .. } => assert_eq!(threshold_ms, 300),
        other => panic!("expected TrackStuck, got {other:?}"),
    }
    assert!(t0.elapsed() < Duration::from_millis(580));
    // The track is not stopped: it plays once the source arrives.
    assert_eq!(rig.expect_end(10).0, EndReason::Finished);
    assert!(rig.frame_count() >= 49);
}

#[test]
fn frame_counters_cover_every_tick() {
    let rig = Rig::new();
    // The measuring window, not a wait.
    std::thread::sleep(Duration::from_millis(500));
    // No track: every tick is a null frame.
    let nulled = rig.player.shared.frames_nulled.load(Ordering::Relaxed);
    assert!((20..=27).contains(&nulled), "{nulled} null ticks in 500 ms");
    assert_eq!(rig.player.shared.frames_sent.load(Ordering::Relaxed), 0);
}

#[test]
fn disconnected_sink_is_not_read() {
    let dir = tmpdir("disc");
    let path = dir.join("d.wav");
    write_wav(&path, 48_000, 2, &[(440.0, 2.0)]);
    let rig = Rig::new();
    rig.sink.connected.store(false, Ordering::Relaxed);
    rig.play(track(&path, 2000), 500, None);
    rig.expect_start();
    // Idle on purpose: proves a disconnected sink is not read.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rig.frame_count(), 0);
    assert_eq!(rig.player.shared.position(), 500);
    rig.sink.connected.store(true, Ordering::Relaxed);
    assert_eq!(rig.expect_end(10).0, EndReason::Finished);
    rig.settle();
    let n = rig.frame_count();
    assert!((74..=76).contains(&n), "{n} frames for 1.5 s");
}

#[test]
fn cleanup_stops_a_track_nobody_reads() {
    let dir = tmpdir("cleanup");
    let path = dir.join("c.wav");
    write_wav(&path, 48_000, 2, &[(440.0, 3.0)]);
    let rig = Rig::new();
    rig.engine.set_cleanup_threshold(Duration::from_millis(400));
    rig.player.send(PlayerCommand::DetachSink);
    rig.play(track(&path, 3000), 0, None);
    rig.expect_start();
    let t0 = Instant::now();
    let (reason, _) = rig.expect_end(5);
    assert_eq!(reason, EndReason::Cleanup);
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(350) && waited < Duration::from_millis(1500),
        "{waited:?}"
    );
    assert_eq!(rig.frame_count(), 0);
}

#[test]
fn paused_start_and_seek_while_paused() {
    let dir = tmpdir("pausedstart");
    let path = dir.join("p.wav");
    write_wav(&path, 48_000, 2, &[(440.0, 1.0), (1760.0, 2.0)]);
    let rig = Rig::new();
    rig.player
        .send(PlayerCommand::Play(basalt::player::PlayRequest {
            track: track(&path, 3000),
            start_ms: 0,
            end_ms: None,
            paused: true,
        }));
    rig.expect_start();
    // Idle on purpose: proves a track started paused sends nothing.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(rig.frame_count(), 0);
    rig.player.send(PlayerCommand::Seek(1500));
    poll::wait_until("the seek while paused to land", poll::DEADLINE, || {
        rig.player.shared.position() == 1500
    });
    rig.player.send(PlayerCommand::SetPaused(false));
    rig.wait_frames(20, 5);
    let pcm = decode(&rig.frames());
    let f = frequency(frames_range(&pcm, 2, 20));
    assert!((f - 1760.0).abs() < 20.0, "{f}");
    assert_eq!(rig.expect_end(5).0, EndReason::Finished);
    rig.settle();
    let n = rig.frame_count();
    assert!(
        (74..=76).contains(&n),
        "{n} frames after seeking to 1.5 s of 3 s"
    );
}

#[test]
fn seek_past_end_time_finishes() {
    let dir = tmpdir("seekend");
    let path = dir.join("s.wav");
    write_wav(&path, 48_000, 2, &[(440.0, 3.0)]);
    let rig = Rig::new();
    rig.play(track(&path, 3000), 0, Some(1500));
    rig.expect_start();
    rig.wait_frames(5, 5);
    rig.player.send(PlayerCommand::Seek(2000));
    assert_eq!(rig.expect_end(5).0, EndReason::Finished);
}

#[test]
fn next_track_after_finish_reports_its_own_position() {
    let dir = tmpdir("next");
    let a = dir.join("a.wav");
    write_wav(&a, 48_000, 2, &[(440.0, 1.0)]);
    let rig = Rig::new();
    rig.play(track(&a, 1000), 0, None);
    rig.expect_start();
    assert_eq!(rig.expect_end(5).0, EndReason::Finished);
    // Queue advance, as clients do on `finished`: the old tail must not leak its position.
    rig.play(track(&a, 1000), 0, None);
    rig.expect_start();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(300) {
        let p = rig.player.shared.position();
        assert!(p < 500, "position {p} of the previous track");
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(rig.expect_end(5).0, EndReason::Finished);
}

#[test]
fn timescale_speed_shortens_the_track_and_rate_shifts_pitch() {
    let dir = tmpdir("timescale");
    let path = dir.join("t.wav");
    write_wav(&path, 48_000, 2, &[(440.0, 3.0)]);
    let rig = Rig::new();
    let f = basalt_dsp::Filters {
        timescale: Some(basalt_dsp::Timescale {
            speed: 1.5,
            pitch: 1.0,
            rate: 1.0,
        }),
        ..Default::default()
    };
    rig.player.send(PlayerCommand::SetFilters(Box::new(f)));
    rig.play(track(&path, 3000), 0, None);
    rig.expect_start();
    let (reason, pos) = rig.expect_end(10);
    assert_eq!(reason, EndReason::Finished);
    rig.settle();
    let frames = rig.frames();
    // 3 s at speed 1.5 = 2 s of output; the position counts output time (Lavalink quirk).
    assert!(
        (95..=106).contains(&frames.len()),
        "{} frames",
        frames.len()
    );
    assert!((1900..=2150).contains(&pos), "end position {pos}");
    let pcm = decode(&frames);
    let f = frequency(frames_range(&pcm, 10, 90));
    assert!((f - 440.0).abs() < 15.0, "speed must keep the pitch: {f}");

    let f = basalt_dsp::Filters {
        timescale: Some(basalt_dsp::Timescale {
            speed: 1.0,
            pitch: 1.0,
            rate: 2.0,
        }),
        ..Default::default()
    };
    rig.player.send(PlayerCommand::SetFilters(Box::new(f)));
    let n0 = rig.frame_count();
    rig.play(track(&path, 3000), 0, None);
    rig.expect_start();
    assert_eq!(rig.expect_end(10).0, EndReason::Finished);
    rig.settle();
    let frames = rig.frames();
    let n = frames.len() - n0;
    assert!((70..=80).contains(&n), "{n} frames at rate 2");
    let pcm = decode(&frames[n0..]);
    let f = frequency(frames_range(&pcm, 10, 65));
    assert!((f - 880.0).abs() < 25.0, "rate 2 doubles the pitch: {f}");
}

#[test]
fn timescale_asking_for_more_than_the_pcm_ring_still_plays() {
    // Speed 4 needs ~3,900 input frames per output frame: more than the smallest PCM ring
    // (60 ms = 2,880 frames) holds, so the player gathers input across ring refills.
    let dir = tmpdir("timescale_big");
    let path = dir.join("t.wav");
    write_wav(&path, 48_000, 2, &[(440.0, 6.0)]);
    let mut config = test_config();
    config.player.buffer_duration_ms = 240;
    let rig = Rig::with(config, file_opener());
    let f = basalt_dsp::Filters {
        timescale: Some(basalt_dsp::Timescale {
            speed: 4.0,
            pitch: 1.0,
            rate: 1.0,
        }),
        ..Default::default()
    };
    rig.player.send(PlayerCommand::SetFilters(Box::new(f)));
    rig.play(track(&path, 6000), 0, None);
    rig.expect_start();
    assert_eq!(rig.expect_end(10).0, EndReason::Finished);
    rig.settle();
    let frames = rig.frames();
    // 6 s at speed 4 = 1.5 s of output.
    assert!((70..=80).contains(&frames.len()), "{} frames", frames.len());
    let pcm = decode(&frames);
    let f = frequency(frames_range(&pcm, 5, 65));
    assert!((f - 440.0).abs() < 20.0, "speed must keep the pitch: {f}");
}
