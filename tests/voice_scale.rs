//! Many voice connections share the voice I/O thread: opening 50 gateways to the fake server
//! must not add a thread each, and the idle connections must keep heartbeating cheaply.
//! (Alone in its file: other tests' threads would blur the count.)

#[path = "support/fake_voice/mod.rs"]
mod fake_voice;

use std::time::{Duration, Instant};

use basalt::config::Config;
use basalt::voice::{VoiceManager, VoiceOptions, VoiceServerInfo};
use fake_voice::{FakeConfig, FakeVoice};

const CONNECTIONS: usize = 50;

/// (name, cpu ticks) of every thread of this process except the fake server's.
fn our_threads() -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for e in dir.flatten() {
        let p = e.path();
        let name = std::fs::read_to_string(p.join("comm"))
            .unwrap_or_default()
            .trim()
            .to_string();
        if name.starts_with(fake_voice::THREAD_NAME) {
            continue;
        }
        // utime + stime: fields 14 and 15, counted after the ")" closing the name.
        let stat = std::fs::read_to_string(p.join("stat")).unwrap_or_default();
        let ticks = stat
            .rsplit_once(')')
            .map(|(_, rest)| {
                let f: Vec<&str> = rest.split_whitespace().collect();
                let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
                get(11) + get(12)
            })
            .unwrap_or(0);
        out.push((name, ticks));
    }
    out
}

/// Our threads once every new thread has named itself (a thread sets its name when it first
/// runs; until then it shows its parent's name, so a count read too early can be off).
fn settled_threads(ok: impl Fn(&[(String, u64)]) -> bool) -> Vec<(String, u64)> {
    let end = Instant::now() + Duration::from_secs(3);
    loop {
        let t = our_threads();
        if ok(&t) || Instant::now() >= end {
            return t;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn io_ticks() -> u64 {
    our_threads()
        .iter()
        .filter(|(n, _)| n == "voice-io")
        .map(|(_, t)| t)
        .sum()
}

#[test]
fn fifty_connections_do_not_add_threads() {
    let fake = FakeVoice::start(FakeConfig {
        heartbeat_ms: 1000,
        ..FakeConfig::default()
    });
    let mut cfg = Config::default();
    cfg.voice.allow_insecure_endpoints = true;
    let m = VoiceManager::start_with(
        &cfg,
        VoiceOptions {
            connect_timeout: Duration::from_secs(5),
            max_dave_protocol_version: 1,
        },
    )
    .expect("manager");
    // Until a new thread has named itself it shows its parent's name (this test thread's).
    let me: String = std::thread::current()
        .name()
        .unwrap_or("")
        .chars()
        .take(15)
        .collect();
    let has_io = |t: &[(String, u64)]| {
        t.iter().filter(|(n, _)| n == "voice-io").count() == 1
            && t.iter().filter(|(n, _)| *n == me).count() == 1
    };
    let before = settled_threads(has_io);
    assert_eq!(
        before.iter().filter(|(n, _)| n == "voice-io").count(),
        1,
        "one voice I/O thread: {before:?}"
    );
    let c = &fake.config;
    let mut conns = Vec::new();
    let mut events = Vec::new();
    for _ in 0..CONNECTIONS {
        let (tx, rx) = crossbeam::channel::unbounded();
        let info = VoiceServerInfo {
            token: c.token.clone(),
            endpoint: fake.endpoint.clone(),
            session_id: c.session_id.clone(),
            channel_id: c.channel_id.to_string(),
        };
        conns.push(m.connect(c.user_id, c.guild_id, info, tx).expect("connect"));
        events.push(rx);
    }
    let after = settled_threads(|t| t.len() <= before.len());
    println!(
        "threads (without the fake server's): {} before, {} with {CONNECTIONS} connections",
        before.len(),
        after.len()
    );
    assert!(
        after.len() <= before.len(),
        "threads grew with connections: {before:?} -> {after:?}"
    );
    assert!(conns.iter().all(|c| c.is_connected()));
    // Every connection heartbeats from the one thread (1 s interval: >= 2 each in 2.5 s).
    let hb0 = fake.state().heartbeats;
    assert!(
        fake.wait(Duration::from_secs(4), |s| s.heartbeats
            >= hb0 + 2 * CONNECTIONS as u32),
        "heartbeats for all connections: {} -> {}",
        hb0,
        fake.state().heartbeats
    );
    assert!(conns.iter().all(|c| c.ping_ms() >= 0));
    // Idle cost of the I/O thread for 50 idle connections.
    let t0 = io_ticks();
    let at = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let ticks = io_ticks() - t0;
    let wakeups: u32 = conns.iter().map(|c| c.gateway_wakeups()).sum();
    println!(
        "voice-io CPU while idle: {} ms over {:?} ({CONNECTIONS} connections, 1 s heartbeats); {wakeups} services so far",
        ticks * 10,
        at.elapsed()
    );
    assert!(
        ticks <= 50,
        "voice-io used {} ms of CPU in 2 s idle",
        ticks * 10
    );
    assert_eq!(
        settled_threads(|t| t.len() == after.len()).len(),
        after.len()
    );
    let t = Instant::now();
    drop(conns);
    m.shutdown();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "shutdown {:?}",
        t.elapsed()
    );
    assert!(
        fake.wait(Duration::from_secs(10), |s| s.client_closes.len()
            == CONNECTIONS
            && s.client_closes.iter().all(|&c| c == 1000)),
        "every connection closed with 1000"
    );
    assert!(
        settled_threads(|t| t.iter().all(|(n, _)| n != "voice-io"))
            .iter()
            .all(|(n, _)| n != "voice-io"),
        "I/O thread joined"
    );
    for rx in &events {
        assert!(rx
            .try_iter()
            .all(|e| !matches!(e.kind, basalt::player::PlayerEventKind::VoiceClosed { .. })));
    }
}
