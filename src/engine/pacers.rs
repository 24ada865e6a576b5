//! Pacer shards: which pacer thread owns which player, and how players move between them.
//!
//! One pacer thread sends every packet of its players (≈ 5 µs each with encryption and the
//! UDP send), so one thread caps a node near 3,000 players however many cores it has.
//! Players are spread over up to `K` shards instead, all on the same 20 ms grid (one shared
//! epoch): a shard fills up to `capacity` players before the next one takes any, so a small
//! node runs one pacer (one spin before each deadline), and a large one as many as its
//! player count needs. Shards without players sleep on their inbox and cost nothing.
//!
//! A player moves between shards (to fill the lower shards again after players left, or to
//! shed a shard over capacity) right after its owner served it in a tick; the receiving shard
//! serves it again only on a later grid tick (`PacerEntry::served`), so a move neither
//! skips nor doubles a packet.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crossbeam::channel::{SendError, Sender};

use super::pacer::PacerMsg;

/// Default players per shard: at ≈ 5–6 µs per packet about 6 ms of each 20 ms tick, a third
/// of a core, so a shard stays well on time while the encode workers load the machine.
pub const DEFAULT_CAPACITY: usize = 1000;

struct Shard {
    tx: Sender<PacerMsg>,
    /// Players owned (or on their way in).
    load: AtomicUsize,
}

/// The shards' inboxes and loads, shared by the engine (assignment), the players (control
/// messages) and the shards themselves (moves).
pub struct Pacers {
    shards: Vec<Shard>,
    capacity: usize,
    /// Tick `n` of every shard is due at `epoch + n × PERIOD`.
    pub epoch: Instant,
}

impl Pacers {
    pub fn new(txs: Vec<Sender<PacerMsg>>, capacity: usize) -> Pacers {
        Pacers {
            shards: txs
                .into_iter()
                .map(|tx| Shard {
                    tx,
                    load: AtomicUsize::new(0),
                })
                .collect(),
            capacity: capacity.max(1),
            epoch: Instant::now(),
        }
    }

    pub fn count(&self) -> usize {
        self.shards.len()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn load(&self, shard: usize) -> usize {
        self.shards[shard].load.load(Ordering::Relaxed)
    }

    /// The shard a new player goes to: the first with room (so shards fill in order and
    /// only as many run as the player count needs), else the least loaded.
    pub fn assign(&self) -> usize {
        let mut best = 0;
        for (i, s) in self.shards.iter().enumerate() {
            let l = s.load.load(Ordering::Relaxed);
            if l < self.capacity {
                best = i;
                break;
            }
            if l < self.shards[best].load.load(Ordering::Relaxed) {
                best = i;
            }
        }
        self.shards[best].load.fetch_add(1, Ordering::Relaxed);
        best
    }

    /// Sends a control message to the shard that owns the player (`link.shard`). A shard
    /// that gets one for a player it has just moved away forwards it (`forward`).
    pub fn send(&self, msg: PacerMsg) -> Result<(), SendError<PacerMsg>> {
        let shard = match &msg {
            PacerMsg::Add(e) => e.link.shard.load(Ordering::Acquire),
            PacerMsg::Attach(l, _) | PacerMsg::Detach(l) | PacerMsg::Remove(l) => {
                l.shard.load(Ordering::Acquire)
            }
        };
        self.to(shard, msg)
    }

    pub(crate) fn to(&self, shard: usize, msg: PacerMsg) -> Result<(), SendError<PacerMsg>> {
        self.shards[shard.min(self.shards.len() - 1)].tx.send(msg)
    }

    /// The owner took a player out of its list (removed, or about to move).
    pub(crate) fn left(&self, shard: usize) {
        self.shards[shard].load.fetch_sub(1, Ordering::Relaxed);
    }

    /// How many players shard `me` (holding `mine`) should move now, and where: down to a
    /// lower shard with room (consolidating, so upper shards go idle), or out of an
    /// over-capacity shard to any with room.
    pub(crate) fn rebalance(&self, me: usize, mine: usize, batch: usize) -> Option<(usize, usize)> {
        let (to, room) = self.shards.iter().enumerate().find_map(|(j, s)| {
            let l = s.load.load(Ordering::Relaxed);
            (j != me && l < self.capacity).then(|| (j, self.capacity - l))
        })?;
        let n = if to < me {
            mine.min(room)
        } else if mine > self.capacity {
            (mine - self.capacity).min(room)
        } else {
            0
        };
        (n > 0).then_some((to, n.min(batch)))
    }

    /// Hands a player over: counted at its new shard before it arrives, routed there
    /// once it is in that shard's inbox (so a message sent meanwhile reaches the old owner,
    /// which forwards it behind the entry).
    pub(crate) fn hand_over(&self, from: usize, to: usize, e: Box<super::pacer::PacerEntry>) {
        let link = e.link.clone();
        self.shards[to].load.fetch_add(1, Ordering::Relaxed);
        self.left(from);
        if let Err(SendError(PacerMsg::Add(e))) = self.to(to, PacerMsg::Add(e)) {
            // Shutting down: the entry is dropped with the engine.
            drop(e);
            return;
        }
        link.shard.store(to, Ordering::Release);
    }
}

/// Pacer threads to run: the configured count, or one per two cores (each shard takes
/// players only once the lower ones are full, so idle shards cost nothing).
pub fn shard_count(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    cores.div_ceil(2)
}

/// `[player] pacer_players_per_thread` (0 = the default).
pub fn shard_capacity(configured: usize) -> usize {
    if configured > 0 {
        configured
    } else {
        DEFAULT_CAPACITY
    }
}
