//! The send path the pacer calls every 20 ms (`FrameSink::send_frame` / `no_frame`) must not
//! allocate or free: checked with a counting global allocator on the sending thread, with
//! transport encryption and DAVE both active.

#[path = "support/fake_voice/mod.rs"]
mod fake_voice;
#[path = "support/poll.rs"]
mod poll;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use basalt::config::Config;
use basalt::voice::{VoiceManager, VoiceOptions, VoiceServerInfo};
use fake_voice::{FakeConfig, FakeVoice};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}
static EVENTS: AtomicUsize = AtomicUsize::new(0);

fn note() {
    if COUNTING.try_with(|c| c.get()).unwrap_or(false) {
        EVENTS.fetch_add(1, Ordering::Relaxed);
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

#[test]
fn send_path_does_not_allocate() {
    let fake = FakeVoice::start(FakeConfig {
        dave: true,
        peers: vec![42],
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
    .unwrap();
    let (tx, _rx) = crossbeam::channel::unbounded();
    let c = &fake.config;
    let info = VoiceServerInfo {
        token: c.token.clone(),
        endpoint: fake.endpoint.clone(),
        session_id: c.session_id.clone(),
        channel_id: c.channel_id.to_string(),
    };
    let conn = m.connect(c.user_id, c.guild_id, info, tx).expect("connect");
    assert!(fake.wait(Duration::from_secs(5), |s| s
        .dave
        .as_ref()
        .is_some_and(|d| d.established)));
    let mut sink = conn.sink();
    let frame = vec![0xFCu8; 160];
    // Let the key updates land (a frame goes out DAVE-encrypted), then count.
    let dave_sent = || conn.send_stats().dave_packets.load(Ordering::Relaxed);
    poll::wait_until("a DAVE-encrypted frame", poll::DEADLINE, || {
        sink.send_frame(&frame);
        dave_sent() >= 1
    });
    sink.send_frame(&frame);
    let warm = dave_sent();
    COUNTING.with(|c| c.set(true));
    for _ in 0..200 {
        sink.send_frame(&frame);
    }
    for _ in 0..10 {
        sink.no_frame();
    }
    for _ in 0..50 {
        sink.send_frame(&frame);
    }
    COUNTING.with(|c| c.set(false));
    let events = EVENTS.load(Ordering::Relaxed);
    assert_eq!(events, 0, "allocations/frees on the send path: {events}");
    // A tight-loop burst can overflow the fake's receive buffer; what arrived must be DAVE.
    assert!(fake.wait(poll::DEADLINE, |s| s.packets.len() >= 50));
    // Not a wait: lets more of the burst land so more packets are checked below; the
    // check holds for however many arrived.
    std::thread::sleep(Duration::from_millis(100));
    assert!(fake
        .packets()
        .iter()
        .filter(|p| p.payload != fake_voice::SILENCE)
        .all(|p| p.e2ee && p.opus.is_some()));
    assert_eq!(dave_sent() - warm, 250);
}
