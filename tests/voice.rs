//! Voice end-to-end against the fake Discord voice server: handshake, both AEAD modes, DAVE
//! with members joining and leaving, downgrade, resume after drops, terminal close codes.

#[path = "support/fake_voice/mod.rs"]
mod fake_voice;
#[path = "support/poll.rs"]
mod poll;

use std::time::{Duration, Instant};

use basalt::config::Config;
use basalt::player::{FrameSink, PlayerEvent, PlayerEventKind};
use basalt::voice::{VoiceConnection, VoiceError, VoiceManager, VoiceOptions, VoiceServerInfo};
use crossbeam::channel::Receiver;
use fake_voice::{FakeConfig, FakeVoice, AES, SILENCE, XCHACHA};

const PEER_B: u64 = 500_000_000_000_000_002;
const PEER_C: u64 = 500_000_000_000_000_003;

fn manager(insecure: bool, max_dave: u16) -> VoiceManager {
    let mut cfg = Config::default();
    cfg.voice.allow_insecure_endpoints = insecure;
    let opts = VoiceOptions {
        connect_timeout: Duration::from_secs(5),
        max_dave_protocol_version: max_dave,
    };
    VoiceManager::start_with(&cfg, opts).expect("manager")
}

fn connect(
    m: &VoiceManager,
    fake: &FakeVoice,
) -> (Result<VoiceConnection, VoiceError>, Receiver<PlayerEvent>) {
    let (tx, rx) = crossbeam::channel::unbounded();
    let c = &fake.config;
    let info = VoiceServerInfo {
        token: c.token.clone(),
        endpoint: fake.endpoint.clone(),
        session_id: c.session_id.clone(),
        channel_id: c.channel_id.to_string(),
    };
    (m.connect(c.user_id, c.guild_id, info, tx), rx)
}

/// 20 ms stereo Opus frames of a sine.
fn sine_frames(freq: f64, frames: usize) -> Vec<Vec<u8>> {
    let mut enc = opus2::Encoder::new(48_000, opus2::Channels::Stereo, opus2::Application::Audio)
        .expect("encoder");
    let mut out = Vec::new();
    let mut pcm = vec![0i16; 1920];
    let mut n = 0u64;
    for _ in 0..frames {
        for i in 0..960 {
            let v = (0.5
                * (2.0 * std::f64::consts::PI * freq * n as f64 / 48_000.0).sin()
                * 32767.0) as i16;
            pcm[2 * i] = v;
            pcm[2 * i + 1] = v;
            n += 1;
        }
        let mut buf = vec![0u8; 1275];
        let len = enc.encode(&pcm, &mut buf).expect("encode");
        buf.truncate(len);
        out.push(buf);
    }
    out
}

/// Plays frames through the sink at 20 ms with absolute deadlines, as the pacer does, then
/// `quiet` ticks of no frame. `during(tick)` runs between ticks (to inject faults). Returns
/// the largest interval between two sends (the test thread itself can be descheduled on a
/// loaded CI box; receive gaps are judged against it).
fn play(
    sink: &mut dyn FrameSink,
    frames: &[Vec<u8>],
    quiet: usize,
    mut during: impl FnMut(usize),
) -> Duration {
    let start = Instant::now();
    let mut last: Option<Instant> = None;
    let mut worst = Duration::ZERO;
    for i in 0..frames.len() + quiet {
        let due = start + Duration::from_millis(20 * i as u64);
        if let Some(d) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        let now = Instant::now();
        if let Some(l) = last {
            worst = worst.max(now - l);
        }
        last = Some(now);
        if i < frames.len() {
            sink.send_frame(&frames[i]);
        } else {
            sink.no_frame();
        }
        during(i);
    }
    worst
}

fn no_errors(fake: &FakeVoice) {
    let s = fake.state();
    assert!(
        s.errors.is_empty(),
        "fake server saw protocol errors: {:#?}",
        s.errors
    );
}

fn audio(fake: &FakeVoice) -> Vec<fake_voice::Packet> {
    fake.packets()
        .into_iter()
        .filter(|p| p.opus.as_deref() != Some(&SILENCE[..]))
        .collect()
}

fn check_tone(fake: &FakeVoice, freq: f64, frames: usize) {
    let pk = audio(fake);
    assert_eq!(pk.len(), frames, "audio packets received");
    assert!(
        pk.iter().all(|p| p.opus.is_some()),
        "every audio packet decrypted"
    );
    let pcm = fake_voice::decode(&pk);
    assert_eq!(pcm.len(), frames * 960 * 2, "decoded duration");
    let f = fake_voice::frequency(&pcm);
    assert!(
        (f - freq).abs() < freq * 0.02,
        "decoded frequency {f}, want {freq}"
    );
    assert!(
        fake_voice::rms(&pcm) > 5000.0,
        "decoded audio is not silent"
    );
}

fn run_transport_only(modes: &[&str], expect: &str) {
    let fake = FakeVoice::start(FakeConfig {
        modes: modes.iter().map(|s| s.to_string()).collect(),
        ..FakeConfig::default()
    });
    let m = manager(true, 1);
    let (conn, events) = connect(&m, &fake);
    let conn = conn.expect("connect");
    assert!(conn.is_connected());
    assert!(matches!(
        events.recv_timeout(Duration::from_secs(10)).map(|e| e.kind),
        Ok(PlayerEventKind::VoiceReady)
    ));
    let mut sink = conn.sink();
    assert!(sink.is_connected());
    play(&mut *sink, &sine_frames(440.0, 50), 15, |_| {});
    assert!(fake.wait(Duration::from_secs(10), |s| s.packets.len() >= 55));
    // Idle on purpose: proves no packet follows the five silence frames.
    std::thread::sleep(Duration::from_millis(100));
    let all = fake.packets();
    assert_eq!(
        all.len(),
        55,
        "50 audio + exactly 5 silence frames, then quiet"
    );
    assert!(all[50..].iter().all(|p| p.payload == SILENCE));
    check_tone(&fake, 440.0, 50);
    assert_eq!(fake.state().mode, expect);
    assert!(
        fake.wait(Duration::from_secs(10), |s| s.speaking.last().map(|x| x.0)
            == Some(0)),
        "speaking off after silence"
    );
    // Heartbeats are measured.
    assert!(fake.wait(Duration::from_secs(10), |s| s.heartbeats >= 1));
    poll::wait_until("the heartbeat ACK to give a ping", poll::DEADLINE, || {
        conn.ping_ms() >= 0
    });
    no_errors(&fake);
    conn.close();
    assert!(!conn.is_connected());
    assert_eq!(conn.ping_ms(), -1);
    m.shutdown();
}

#[test]
fn transport_aes_gcm_preferred_over_server_order() {
    run_transport_only(&["xsalsa20_poly1305", XCHACHA, AES], AES);
}

#[test]
fn transport_xchacha_when_aes_not_offered() {
    run_transport_only(&["xsalsa20_poly1305_lite_rtpsize", XCHACHA], XCHACHA);
}

#[test]
fn insecure_endpoint_rejected_unless_allowed() {
    let fake = FakeVoice::start(FakeConfig::default());
    let m = manager(false, 1);
    let (r, _) = connect(&m, &fake);
    assert!(matches!(r, Err(VoiceError::InsecureEndpoint(_))));
    assert_eq!(fake.state().connections, 0);
}

fn dave_fake(early: bool, peers: Vec<u64>) -> FakeVoice {
    FakeVoice::start(FakeConfig {
        dave: true,
        ext_sender_early: early,
        peers,
        ready_first: early,
        ..FakeConfig::default()
    })
}

fn run_dave_two_members(early: bool) {
    let fake = dave_fake(early, vec![PEER_B]);
    let m = manager(true, 1);
    let (conn, _ev) = connect(&m, &fake);
    let conn = conn.expect("connect");
    assert!(
        fake.wait(Duration::from_secs(5), |s| s
            .dave
            .as_ref()
            .is_some_and(|d| d.established)),
        "group formed"
    );
    assert_eq!(fake.state().identify_max_dave, Some(1));
    let mut sink = conn.sink();
    play(&mut *sink, &sine_frames(660.0, 50), 10, |_| {});
    assert!(fake.wait(Duration::from_secs(10), |s| s.packets.len() >= 55));
    let all = fake.packets();
    let audio: Vec<_> = all.iter().filter(|p| p.payload != SILENCE).collect();
    assert_eq!(audio.len(), 50);
    assert!(
        audio.iter().all(|p| p.e2ee),
        "all audio end-to-end encrypted"
    );
    assert!(
        audio.iter().all(|p| p.decrypted_by == vec![PEER_B]),
        "member B decrypts every frame"
    );
    assert_eq!(
        all.iter().filter(|p| p.payload == SILENCE).count(),
        5,
        "silence frames pass DAVE unencrypted"
    );
    check_tone(&fake, 660.0, 50);
    no_errors(&fake);
}

#[test]
fn dave_external_sender_after_session_description() {
    run_dave_two_members(false);
}

#[test]
fn dave_external_sender_buffered_before_session_description() {
    run_dave_two_members(true);
}

#[test]
fn dave_members_join_and_leave_mid_stream() {
    let fake = dave_fake(false, vec![PEER_B]);
    let m = manager(true, 1);
    let (conn, _ev) = connect(&m, &fake);
    let conn = conn.expect("connect");
    assert!(fake.wait(Duration::from_secs(5), |s| s
        .dave
        .as_ref()
        .is_some_and(|d| d.established)));
    let mut sink = conn.sink();
    let frames = sine_frames(550.0, 150);
    let mut marks = (0usize, 0usize);
    play(&mut *sink, &frames, 0, |i| {
        if i == 30 {
            fake.add_member(PEER_C);
        }
        if i == 90 {
            marks.0 = fake.executed_transitions();
            fake.remove_member(PEER_B);
        }
        if i == 149 {
            marks.1 = fake.executed_transitions();
        }
    });
    assert!(fake.wait(Duration::from_secs(10), |s| s.packets.len() >= 150));
    assert_eq!(
        marks,
        (2, 3),
        "join and leave each completed a transition mid-stream"
    );
    let all = fake.packets();
    assert!(
        all.iter().all(|p| p.e2ee && p.opus.is_some()),
        "every frame encrypted and decryptable"
    );
    let last = &all[all.len() - 10..];
    assert!(
        last.iter().all(|p| p.decrypted_by == vec![PEER_C]),
        "C decrypts after B left"
    );
    assert!(
        all.iter().any(|p| p.decrypted_by == vec![PEER_B, PEER_C]),
        "both decrypt while both are in"
    );
    check_tone(&fake, 550.0, 150);
    no_errors(&fake);
}

#[test]
fn dave_downgrade_and_sole_member_send_plain_opus() {
    // Sole member: version 1 negotiated but no proposals ever arrive.
    let fake = dave_fake(false, vec![]);
    let m = manager(true, 1);
    let (conn, _ev) = connect(&m, &fake);
    let conn = conn.expect("connect");
    assert!(fake.wait(Duration::from_secs(10), |s| s.key_packages == 1));
    let mut sink = conn.sink();
    play(&mut *sink, &sine_frames(440.0, 20), 0, |_| {});
    assert!(fake.wait(Duration::from_secs(10), |s| s.packets.len() >= 20));
    assert!(
        fake.packets().iter().all(|p| !p.e2ee),
        "no FA FA trailer without a group"
    );
    drop(sink);
    conn.close();

    // Downgrade: group formed, then protocol version 0.
    let fake = dave_fake(false, vec![PEER_B]);
    let (conn, _ev) = connect(&m, &fake);
    let conn = conn.expect("connect");
    assert!(fake.wait(Duration::from_secs(5), |s| s
        .dave
        .as_ref()
        .is_some_and(|d| d.established)));
    let mut sink = conn.sink();
    let frames = sine_frames(440.0, 100);
    play(&mut *sink, &frames, 0, |i| {
        if i == 20 {
            fake.downgrade();
        }
    });
    assert!(fake.wait(Duration::from_secs(10), |s| s.packets.len() >= 100));
    let all = fake.packets();
    assert!(all[..10].iter().all(|p| p.e2ee));
    assert!(
        all[all.len() - 20..].iter().all(|p| !p.e2ee),
        "plain Opus after downgrade"
    );
    assert_eq!(
        fake.state().op23.len(),
        2,
        "transition ready for the join and the downgrade"
    );
    check_tone(&fake, 440.0, 100);
    no_errors(&fake);
}

#[test]
fn dave_invalid_commit_answers_op31_and_rejoins() {
    let fake = dave_fake(false, vec![PEER_B]);
    let m = manager(true, 1);
    let (conn, _ev) = connect(&m, &fake);
    let _conn = conn.expect("connect");
    assert!(fake.wait(Duration::from_secs(5), |s| s
        .dave
        .as_ref()
        .is_some_and(|d| d.established)));
    fake.bad_commit();
    assert!(
        fake.wait(Duration::from_secs(10), |s| s.op31.len() == 1
            && s.key_packages == 2),
        "op 31 then a new key package"
    );
}

#[test]
fn resume_after_gateway_drops_keeps_audio_flowing() {
    let fake = FakeVoice::start(FakeConfig::default());
    let m = manager(true, 1);
    let (conn, events) = connect(&m, &fake);
    let conn = conn.expect("connect");
    let mut sink = conn.sink();
    let frames = sine_frames(440.0, 200);
    let send_gap = play(&mut *sink, &frames, 0, |i| {
        if i == 50 {
            fake.drop_tcp();
        }
        if i == 120 {
            fake.close_with(4015, "voice server crashed");
        }
    });
    assert!(fake.wait(Duration::from_secs(10), |s| s.packets.len() >= 200));
    assert!(
        fake.wait(Duration::from_secs(10), |s| s.resumes >= 2),
        "resumed twice"
    );
    let s = fake.state();
    assert_eq!(s.identifies, 1, "no new identify");
    for (acked, last) in &s.resume_seq_acks {
        assert!(
            *acked >= 0 && acked <= last,
            "resume seq_ack {acked} (server last {last})"
        );
    }
    // No audio lost: every frame arrived, continuously numbered, no gap > 100 ms.
    let gap = s
        .packets
        .windows(2)
        .map(|w| w[1].at - w[0].at)
        .max()
        .unwrap_or_default();
    // The resumes add no stall of their own: any gap beyond the sender's own is < 60 ms.
    assert!(
        gap < Duration::from_millis(100).max(send_gap + Duration::from_millis(60)),
        "largest inter-arrival gap {gap:?} (sender's largest interval {send_gap:?})"
    );
    drop(s);
    check_tone(&fake, 440.0, 200);
    no_errors(&fake);
    assert!(events
        .try_iter()
        .all(|e| !matches!(e.kind, PlayerEventKind::VoiceClosed { .. })));
    assert!(conn.is_connected());
}

#[test]
fn terminal_close_codes_are_reported_and_not_retried() {
    let m = manager(true, 1);
    for code in [4004u16, 4006, 4014, 4021, 4022] {
        let fake = FakeVoice::start(FakeConfig::default());
        let (conn, events) = connect(&m, &fake);
        let conn = conn.expect("connect");
        let _ = events.recv_timeout(Duration::from_secs(10)); // VoiceReady
        fake.close_with(code, "closing for the test");
        let ev = events
            .recv_timeout(Duration::from_secs(3))
            .expect("close event");
        match ev.kind {
            PlayerEventKind::VoiceClosed {
                code: c,
                reason,
                by_remote,
            } => {
                assert_eq!(
                    (c, reason.as_str(), by_remote),
                    (code, "closing for the test", true)
                );
            }
            other => panic!("unexpected event {other:?}"),
        }
        // Idle on purpose: proves no reconnect follows a terminal code.
        std::thread::sleep(Duration::from_millis(400));
        let s = fake.state();
        assert_eq!(
            (s.connections, s.resumes, s.identifies),
            (1, 0, 1),
            "code {code} must not reconnect"
        );
        drop(s);
        assert!(!conn.is_connected());
        assert_eq!(conn.ping_ms(), -1);
    }
}

#[test]
fn dave_required_4017_fails_connect_and_reports() {
    let fake = FakeVoice::start(FakeConfig {
        require_dave: true,
        ..FakeConfig::default()
    });
    let m = manager(true, 0);
    let (r, events) = connect(&m, &fake);
    assert!(
        matches!(r, Err(VoiceError::Closed { code: 4017, .. })),
        "{:?}",
        r.err()
    );
    let ev = events
        .recv_timeout(Duration::from_secs(10))
        .expect("close event");
    assert!(matches!(
        ev.kind,
        PlayerEventKind::VoiceClosed {
            code: 4017,
            by_remote: true,
            ..
        }
    ));
    // Idle on purpose: proves no reconnect follows 4017.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(fake.state().connections, 1);
}

#[test]
fn dave_prepare_epoch_one_recreates_the_group() {
    let fake = dave_fake(false, vec![PEER_B]);
    let m = manager(true, 1);
    let (conn, _ev) = connect(&m, &fake);
    let _conn = conn.expect("connect");
    assert!(fake.wait(Duration::from_secs(5), |s| s
        .dave
        .as_ref()
        .is_some_and(|d| d.established)));
    fake.prepare_epoch();
    assert!(
        fake.wait(Duration::from_secs(10), |s| s.key_packages == 2),
        "new key package after op 24 epoch 1"
    );
    no_errors(&fake);
}

#[test]
fn refused_resume_4006_is_reported_once() {
    let fake = FakeVoice::start(FakeConfig {
        reject_resume: Some(4006),
        ..FakeConfig::default()
    });
    let m = manager(true, 1);
    let (conn, events) = connect(&m, &fake);
    let conn = conn.expect("connect");
    let _ = events.recv_timeout(Duration::from_secs(10)); // VoiceReady
    fake.drop_tcp();
    let ev = events
        .recv_timeout(Duration::from_secs(3))
        .expect("close event");
    assert!(
        matches!(&ev.kind, PlayerEventKind::VoiceClosed { code: 4006, by_remote: true, reason } if reason == "resume refused"),
        "{:?}",
        ev.kind
    );
    // Idle on purpose: proves no further resume or identify follows 4006.
    std::thread::sleep(Duration::from_millis(700));
    let s = fake.state();
    assert_eq!(
        (s.identifies, s.resumes),
        (1, 1),
        "one resume, no retries after 4006"
    );
    drop(s);
    assert!(!conn.is_connected());
}

#[test]
fn failing_resumes_fall_back_to_a_fresh_identify() {
    // 1011 is transport-level (retryable): three refused resumes, then a new session.
    let fake = FakeVoice::start(FakeConfig {
        reject_resume: Some(1011),
        ..FakeConfig::default()
    });
    let m = manager(true, 1);
    let (conn, events) = connect(&m, &fake);
    let conn = conn.expect("connect");
    let _ = events.recv_timeout(Duration::from_secs(10));
    let mut sink = conn.sink();
    let frames = sine_frames(440.0, 300);
    let old_ssrc = fake.state().ssrc;
    play(&mut *sink, &frames, 0, |i| {
        if i == 10 {
            fake.drop_tcp();
        }
    });
    assert!(
        fake.wait(Duration::from_secs(10), |s| s.identifies == 2),
        "re-identified"
    );
    let s = fake.state();
    assert_eq!(s.resumes, 3);
    assert_ne!(s.ssrc, old_ssrc);
    let new_ssrc = s.ssrc;
    // Audio kept flowing with the old session, then moved to the new SSRC and key.
    let tail: Vec<_> = s.packets.iter().rev().take(20).collect();
    assert!(
        tail.iter().all(|p| p.ssrc == new_ssrc),
        "last packets use the new session"
    );
    // Only packets in flight across the switch may fail the fake's per-session checks.
    let unexpected: Vec<_> = s
        .errors
        .iter()
        .filter(|e| {
            ![
                "rtp ssrc",
                "transport decrypt failed",
                "nonce suffix",
                "rtp continuity",
            ]
            .iter()
            .any(|p| e.starts_with(p))
        })
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:#?}");
    assert!(
        s.packets.len() >= 295,
        "at most 100 ms lost at the session switch: {} of 300",
        s.packets.len()
    );
    drop(s);
    assert!(events
        .try_iter()
        .all(|e| !matches!(e.kind, PlayerEventKind::VoiceClosed { .. })));
    assert!(conn.is_connected());
}

#[test]
fn dave_joining_an_existing_group_by_welcome() {
    let fake = FakeVoice::start(FakeConfig {
        dave: true,
        peers: vec![PEER_B],
        peer_has_group: true,
        ..FakeConfig::default()
    });
    let m = manager(true, 1);
    let (conn, _ev) = connect(&m, &fake);
    let conn = conn.expect("connect");
    assert!(
        fake.wait(Duration::from_secs(5), |s| s
            .dave
            .as_ref()
            .is_some_and(|d| d.established)),
        "welcomed"
    );
    let mut sink = conn.sink();
    play(&mut *sink, &sine_frames(330.0, 50), 0, |_| {});
    assert!(fake.wait(Duration::from_secs(10), |s| s.packets.len() >= 50));
    let all = fake.packets();
    assert!(all.iter().all(|p| p.e2ee && p.decrypted_by == vec![PEER_B]));
    check_tone(&fake, 330.0, 50);
    no_errors(&fake);
}

#[test]
fn idle_connection_sleeps_between_heartbeats() {
    // Heartbeat every 250 ms: an idle gateway thread wakes for heartbeats and their ACKs only.
    let fake = FakeVoice::start(FakeConfig::default());
    let m = manager(true, 1);
    let (conn, _ev) = connect(&m, &fake);
    let conn = conn.expect("connect");
    // Past the handshake burst: count wake-ups only once heartbeating has begun.
    assert!(fake.wait(poll::DEADLINE, |s| s.heartbeats >= 1));
    let before = conn.gateway_wakeups();
    // The measuring window, not a wait.
    std::thread::sleep(Duration::from_secs(2));
    let woke = conn.gateway_wakeups() - before;
    assert!(woke <= 40, "{woke} wake-ups in 2 s idle");
    assert!(fake.state().heartbeats >= 6);
    // close() wakes it at once.
    let t = Instant::now();
    conn.close();
    m.shutdown();
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "shutdown took {:?}",
        t.elapsed()
    );
}

#[test]
fn local_close_sends_1000_and_no_event() {
    let fake = FakeVoice::start(FakeConfig::default());
    let m = manager(true, 1);
    let (conn, events) = connect(&m, &fake);
    let conn = conn.expect("connect");
    let mut sink = conn.sink();
    assert!(matches!(
        events.recv_timeout(Duration::from_secs(10)).map(|e| e.kind),
        Ok(PlayerEventKind::VoiceReady)
    ));
    drop(conn); // Drop closes, as when the control plane replaces the connection.
    assert!(fake.wait(Duration::from_secs(10), |s| s.client_closes == vec![1000]));
    assert!(!sink.is_connected());
    sink.send_frame(&[0xFC, 1, 2, 3]);
    // Idle on purpose: proves the frame is never sent.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        fake.packets().is_empty(),
        "a closed connection's sink sends nothing"
    );
    assert!(
        events.try_iter().next().is_none(),
        "no VoiceClosed for our own close"
    );
    assert_eq!(fake.state().connections, 1);
}
