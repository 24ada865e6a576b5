//! Players spread over several pacer threads keep their 20 ms cadence, also while they
//! move between threads: three shards of at most two players hold five; one player of the
//! first shard leaves, and a player of each upper shard moves down into a shard that is
//! pacing (consolidating onto two shards). Every player's ticks (packet or not) stay one per
//! 20 ms grid slot: none skipped, none doubled.

mod audio_support;
#[path = "support/poll.rs"]
mod poll;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use audio_support::*;
use basalt::engine::Engine;
use basalt::player::{FrameSink, PlayRequest, PlayerCommand, PlayerEventKind, PlayerHandle};

/// The instant of every tick the pacer gave this player.
struct TickSink(Arc<Mutex<Vec<Instant>>>);

impl FrameSink for TickSink {
    fn send_frame(&mut self, _opus: &[u8]) {
        self.0.lock().unwrap().push(Instant::now());
    }
    fn no_frame(&mut self) {
        self.0.lock().unwrap().push(Instant::now());
    }
    fn is_connected(&self) -> bool {
        true
    }
}

/// Spread of the ticks' offsets from a perfect 20 ms series (ms): the pacer's jitter while
/// every slot has exactly one tick; a skipped or doubled slot shifts every later offset by
/// 20 ms.
fn offset_spread(ticks: &[Instant]) -> f64 {
    let t0 = ticks[0];
    let offsets: Vec<f64> = ticks
        .iter()
        .enumerate()
        .map(|(i, t)| t.duration_since(t0).as_secs_f64() * 1e3 - i as f64 * 20.0)
        .collect();
    let max = offsets.iter().copied().fold(f64::MIN, f64::max);
    let min = offsets.iter().copied().fold(f64::MAX, f64::min);
    max - min
}

#[test]
fn players_keep_their_cadence_across_shards_and_moves() {
    let dir = tmpdir("pacer-shards");
    let path = dir.join("long.wav");
    write_wav(&path, 48_000, 2, &[(440.0, 20.0)]);
    let mut config = test_config();
    config.player.pacer_threads = 3;
    config.player.pacer_players_per_thread = 2;
    let engine = Engine::start_with_opener(&config, file_opener()).unwrap();
    let (tx, rx) = crossbeam::channel::unbounded();
    let mut players: Vec<(PlayerHandle, Arc<Mutex<Vec<Instant>>>)> = Vec::new();
    for i in 0..5u64 {
        let p = engine.create_player(100 + i, tx.clone());
        let log = Arc::new(Mutex::new(Vec::new()));
        p.send(PlayerCommand::AttachSink(Box::new(TickSink(log.clone()))));
        p.send(PlayerCommand::Play(PlayRequest {
            track: track(&path, 20_000),
            start_ms: 0,
            end_ms: None,
            paused: false,
        }));
        players.push((p, log));
    }
    for _ in 0..players.len() {
        let ev = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(matches!(ev.kind, PlayerEventKind::TrackStart { .. }));
    }
    assert_eq!(engine.pacer_loads(), vec![2, 2, 1], "shards fill in order");
    poll::wait_until("25 ticks each", Duration::from_secs(10), || {
        players.iter().all(|(_, l)| l.lock().unwrap().len() >= 25)
    });
    // One of the first shard's players leaves; the upper shards move down into the room.
    let (gone, _) = players.remove(0);
    gone.send(PlayerCommand::Destroy);
    let start: Vec<usize> = players
        .iter()
        .map(|(_, l)| l.lock().unwrap().len())
        .collect();
    poll::wait_until("the players to move down", Duration::from_secs(10), || {
        engine.pacer_loads() == vec![2, 2, 0]
    });
    // A second more on the new shards.
    let moved: Vec<usize> = players
        .iter()
        .map(|(_, l)| l.lock().unwrap().len())
        .collect();
    poll::wait_until("50 more ticks each", Duration::from_secs(10), || {
        players
            .iter()
            .zip(&moved)
            .all(|((_, l), m)| l.lock().unwrap().len() >= m + 50)
    });
    let stats = engine.pacer_stats();
    for (i, (_, log)) in players.iter().enumerate() {
        let ticks = log.lock().unwrap().clone();
        let window = &ticks[start[i].saturating_sub(25)..];
        let spread = offset_spread(window);
        assert!(
            spread < 15.0,
            "player {i}: ticks drift {spread:.1} ms from one per 20 ms over {} ticks \
             (a slot skipped or doubled); pacer max lateness {:.2} ms",
            window.len(),
            stats.max_late_ns.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e6
        );
    }
    engine.shutdown();
}
