//! The pacer: the 20 ms clock of every player, run by one or more shard threads (see
//! `pacers`), each sending the packets of its own players.
//!
//! Absolute schedule on a grid shared by every shard (tick `n` is due at `epoch + n × 20
//! ms`; never re-based except after a stall of more than three periods, and then onto the
//! grid again, so there is neither drift nor a burst). SCHED_FIFO when permitted, sleeping
//! to just before the deadline and spinning the rest, because a plain sleep is milliseconds
//! late when the workers saturate the cores (perf-budget.md).
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::Thread;
use std::time::{Duration, Instant};

use crossbeam::channel::Receiver;

use super::frame::Frame;
use super::pacers::Pacers;
use super::Shared;
use crate::player::{FrameSink, PlayerShared};

pub const PERIOD: Duration = Duration::from_millis(20);
/// The spin before each deadline adapts to how late this machine's sleeps wake up: it
/// covers the 99th percentile of the last 10 s of overshoots with room to spare, within
/// [floor, ceiling]. A fixed 1.5 ms spin burnt 7.5 % of a core whatever the player count;
/// a fixed 250 µs one let the slow wake-ups of a loaded VM through. Rarer outliers (a
/// descheduled vCPU, 10+ ms) cannot be covered by any spin and are left out.
const SPIN_FLOOR: Duration = Duration::from_micros(250);
const SPIN_CEILING: Duration = Duration::from_micros(1500);
/// Margin kept above the overshoot percentile.
const SPIN_HEADROOM: Duration = Duration::from_micros(150);
/// Overshoots remembered (10 s of ticks), and how often the spin is recomputed (1 s).
const SPIN_WINDOW: usize = 500;
const SPIN_EVERY: usize = 50;
/// Beyond this many missed periods the schedule is re-based instead of caught up.
const MAX_CATCH_UP: u32 = 3;

/// State shared by a player's encode side and the pacer.
#[derive(Debug, Default)]
pub struct PlayerLink {
    /// `(generation << 32) | last sent sequence number`. The pacer sends a frame only if it
    /// can advance this with the frame's generation; the encode side bumps the generation to
    /// make every queued frame stale in one atomic step, and learns exactly which were sent.
    pub accept: AtomicU64,
    /// A sink is attached and says it is connected (written by the pacer every tick).
    pub sink_connected: AtomicBool,
    /// The current track's number (0 = none): the tail of a finished track still plays
    /// out, but only frames of the current track update the reported position.
    pub track: std::sync::atomic::AtomicU32,
    /// The pacer shard that owns the player (where its control messages go).
    pub shard: std::sync::atomic::AtomicUsize,
}

impl PlayerLink {
    /// Makes all queued frames stale. Returns the new generation and the last sequence number
    /// the pacer sent under the old one.
    pub fn bump_gen(&self) -> (u32, u32) {
        let mut cur = self.accept.load(Ordering::Acquire);
        loop {
            let gen = ((cur >> 32) as u32).wrapping_add(1);
            let seq = cur as u32;
            let new = ((gen as u64) << 32) | seq as u64;
            match self
                .accept
                .compare_exchange(cur, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return (gen, seq),
                Err(actual) => cur = actual,
            }
        }
    }
}

/// The pacer's view of one player.
pub struct PacerEntry {
    pub id: u64,
    /// The grid tick that last served this player: a shard that receives it from another
    /// serves it only on a later tick, so a move neither doubles nor skips a packet.
    pub served: u64,
    pub frames: rtrb::Consumer<Frame>,
    pub link: Arc<PlayerLink>,
    pub shared: Arc<PlayerShared>,
    pub sink: Option<Box<dyn FrameSink>>,
}

/// Control messages name the player by its link, so a shard that has just moved the player
/// on can forward them to its new owner.
pub enum PacerMsg {
    /// A new player, or one handed over by another shard.
    Add(Box<PacerEntry>),
    Attach(Arc<PlayerLink>, Box<dyn FrameSink>),
    Detach(Arc<PlayerLink>),
    Remove(Arc<PlayerLink>),
}

/// Fine buckets of 1 µs up to 2 ms, then coarse ones of 100 µs up to 100 ms.
const FINE: usize = 2000;
const FINE_NS: u64 = 1_000;
const COARSE: usize = 980;
const COARSE_NS: u64 = 100_000;
const BUCKETS: usize = FINE + COARSE;

fn bucket_of(ns: u64) -> usize {
    if ns < FINE as u64 * FINE_NS {
        (ns / FINE_NS) as usize
    } else {
        (FINE + ((ns - FINE as u64 * FINE_NS) / COARSE_NS) as usize).min(BUCKETS - 1)
    }
}

fn bucket_top(i: usize) -> u64 {
    if i < FINE {
        (i as u64 + 1) * FINE_NS
    } else {
        FINE as u64 * FINE_NS + (i - FINE + 1) as u64 * COARSE_NS
    }
}

/// Lateness of pacer ticks: a histogram (1 µs resolution below 2 ms), plus max. One for all
/// shards, so figures are merged: `ticks` counts every shard's ticks.
pub struct PacerStats {
    pub ticks: AtomicU64,
    pub rebased: AtomicU64,
    pub missed_ticks: AtomicU64,
    pub max_late_ns: AtomicU64,
    pub realtime: AtomicBool,
    /// The current spin before each deadline, µs.
    pub spin_us: AtomicU64,
    hist: [AtomicU64; BUCKETS],
}

impl Default for PacerStats {
    fn default() -> Self {
        PacerStats {
            ticks: AtomicU64::new(0),
            rebased: AtomicU64::new(0),
            missed_ticks: AtomicU64::new(0),
            max_late_ns: AtomicU64::new(0),
            realtime: AtomicBool::new(false),
            spin_us: AtomicU64::new(0),
            hist: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl PacerStats {
    fn record(&self, late: Duration) {
        let ns = late.as_nanos().min(u64::MAX as u128) as u64;
        self.ticks.fetch_add(1, Ordering::Relaxed);
        self.max_late_ns.fetch_max(ns, Ordering::Relaxed);
        self.hist[bucket_of(ns)].fetch_add(1, Ordering::Relaxed);
    }

    /// Lateness (upper bound of its bucket) below which `p` (0–1) of ticks fell.
    pub fn percentile_ns(&self, p: f64) -> u64 {
        let total: u64 = self.hist.iter().map(|h| h.load(Ordering::Relaxed)).sum();
        if total == 0 {
            return 0;
        }
        let want = ((total as f64) * p).ceil() as u64;
        let mut acc = 0;
        for (i, h) in self.hist.iter().enumerate() {
            acc += h.load(Ordering::Relaxed);
            if acc >= want {
                return bucket_top(i).min(self.max_late_ns.load(Ordering::Relaxed).max(FINE_NS));
            }
        }
        self.max_late_ns.load(Ordering::Relaxed)
    }

    pub fn reset(&self) {
        for h in &self.hist {
            h.store(0, Ordering::Relaxed);
        }
        self.ticks.store(0, Ordering::Relaxed);
        self.max_late_ns.store(0, Ordering::Relaxed);
        self.rebased.store(0, Ordering::Relaxed);
        self.missed_ticks.store(0, Ordering::Relaxed);
    }
}

fn try_realtime() -> bool {
    // SAFETY: plain libc calls on the current thread with a valid, initialised parameter.
    unsafe {
        let param = libc::sched_param { sched_priority: 10 };
        libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) == 0
    }
}

/// Sleeps until `spin` before `deadline`, then spins. Returns how much later than asked
/// the sleep woke (zero when it did not sleep).
fn wait_until(deadline: Instant, spin: Duration) -> Duration {
    let now = Instant::now();
    let mut overshoot = Duration::ZERO;
    if deadline > now + spin {
        let wake = deadline - spin;
        std::thread::sleep(wake - now);
        overshoot = Instant::now().saturating_duration_since(wake);
    }
    while Instant::now() < deadline {
        std::hint::spin_loop();
    }
    overshoot
}

/// The adaptive spin length (see `SPIN_FLOOR`). Buffers are sized once at start.
struct Spin {
    now: Duration,
    recent: Vec<u32>,
    sorted: Vec<u32>,
    next: usize,
    seen: usize,
}

impl Spin {
    fn new() -> Spin {
        Spin {
            now: SPIN_CEILING,
            recent: vec![0; SPIN_WINDOW],
            sorted: vec![0; SPIN_WINDOW],
            next: 0,
            seen: 0,
        }
    }

    /// Learns from one sleep's overshoot.
    fn observe(&mut self, overshoot: Duration) {
        self.recent[self.next] = overshoot.as_micros().min(u32::MAX as u128) as u32;
        self.next = (self.next + 1) % SPIN_WINDOW;
        self.seen += 1;
        if !self.seen.is_multiple_of(SPIN_EVERY) {
            return;
        }
        let n = self.seen.min(SPIN_WINDOW);
        let sorted = &mut self.sorted[..n];
        sorted.copy_from_slice(&self.recent[..n]);
        sorted.sort_unstable();
        let p99 = Duration::from_micros(u64::from(sorted[(n * 99 / 100).min(n - 1)]));
        self.now = (p99 + p99 / 2 + SPIN_HEADROOM).clamp(SPIN_FLOOR, SPIN_CEILING);
    }
}

/// Ticks between a shard's looks at the balance (1 s), and players moved per look.
const BALANCE_EVERY: u64 = 50;
const MOVE_BATCH: usize = 64;

/// The grid tick due at or before `now`.
fn tick_at(pacers: &Pacers, now: Instant) -> u64 {
    (now.saturating_duration_since(pacers.epoch).as_nanos() / PERIOD.as_nanos()) as u64
}

fn due(pacers: &Pacers, n: u64) -> Instant {
    pacers.epoch + Duration::from_nanos(n.saturating_mul(PERIOD.as_nanos() as u64))
}

/// One pacer shard (`me`): serves its players on the shared grid, sleeps on its inbox while
/// it has none.
pub(crate) fn run(
    shared: Arc<Shared>,
    me: usize,
    rx: Receiver<PacerMsg>,
    encoders: Vec<Thread>,
    stats: Arc<PacerStats>,
) {
    if shared.settings.realtime_pacer {
        if try_realtime() {
            stats.realtime.store(true, Ordering::Relaxed);
        } else if me == 0 {
            log::warn!(
                "pacer: SCHED_FIFO not permitted (needs root or CAP_SYS_NICE); \
                 using normal priority, pacing may be late under load"
            );
        }
    }
    let pacers = &shared.pacers;
    let mut spin = Spin::new();
    let mut entries: Vec<Box<PacerEntry>> = Vec::with_capacity(pacers.capacity() + MOVE_BATCH);
    let mut n = tick_at(pacers, Instant::now()) + 1;
    while !shared.shutdown.load(Ordering::Relaxed) {
        if entries.is_empty() {
            // Idle: no spin, no tick; the next player starts on the next grid tick.
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(msg) => handle_msg(&shared, me, &mut entries, msg),
                Err(_) => continue,
            }
            // A player handed over is due on the tick after the one it was last served on,
            // even if this thread woke late: serve it now rather than skip its slot.
            let cur = tick_at(pacers, Instant::now());
            let overdue = entries.iter().any(|e| e.served > 0 && e.served < cur);
            n = if overdue { cur } else { cur + 1 };
            continue;
        }
        let deadline = due(pacers, n);
        let overshoot = wait_until(deadline, spin.now);
        spin.observe(overshoot);
        stats
            .spin_us
            .store(spin.now.as_micros() as u64, Ordering::Relaxed);
        let now = Instant::now();
        let late = now.saturating_duration_since(deadline);
        stats.record(late);
        crate::telemetry::PACING_LATENESS.observe(late);
        if late > PERIOD * MAX_CATCH_UP {
            // A stall (suspended VM, debugger): skip the lost ticks rather than burst them,
            // and go on from the grid tick just passed.
            stats.rebased.fetch_add(1, Ordering::Relaxed);
            let missed = (late.as_nanos() / PERIOD.as_nanos()) as u64;
            stats.missed_ticks.fetch_add(missed, Ordering::Relaxed);
            n = tick_at(pacers, now);
        }
        // Whole periods late (at most MAX_CATCH_UP here): serve the missed ticks now, each
        // player's frames in one batch, rather than as back-to-back ticks.
        let behind = tick_at(pacers, now)
            .saturating_sub(n)
            .min(u64::from(MAX_CATCH_UP));
        for k in 1..=behind {
            stats.record(late.saturating_sub(PERIOD * k as u32));
        }
        let last = n + behind;
        while let Ok(msg) = rx.try_recv() {
            handle_msg(&shared, me, &mut entries, msg);
        }
        let mut tally = Tally::default();
        for e in entries.iter_mut() {
            if e.served >= last {
                continue; // served this tick by the shard it came from
            }
            let max = (last - e.served.max(n - 1)) as usize;
            e.served = last;
            if let Err(p) = super::fault::isolate(|| tick(e, max, &mut tally)) {
                // A sink that panics (encryption, a socket) is detached; the player sees no
                // reader and its track ends by `cleanup`, the others are not touched.
                log::error!(
                    "pacer: sink of player {} panicked, detached: {}",
                    e.id,
                    super::fault::panic_message(&*p)
                );
                e.link.sink_connected.store(false, Ordering::Release);
                if let Some(old) = e.sink.take() {
                    super::disposal::dispose(&shared, Box::new(old));
                }
            }
        }
        crate::telemetry::frames_paced(tally.sent, tally.silent, tally.missed);
        for t in &encoders {
            t.unpark();
        }
        n = last;
        if (n + me as u64).is_multiple_of(BALANCE_EVERY) {
            if let Some((to, k)) = pacers.rebalance(me, entries.len(), MOVE_BATCH) {
                for _ in 0..k {
                    if let Some(e) = entries.pop() {
                        pacers.hand_over(me, to, e);
                    }
                }
            }
        }
        n += 1;
    }
    for e in entries.drain(..) {
        super::disposal::dispose(&shared, e);
    }
}

// Boxed on purpose: a player moves between shards as the same box, so a move never
// allocates on a pacer thread.
#[allow(clippy::vec_box)]
fn handle_msg(shared: &Shared, me: usize, entries: &mut Vec<Box<PacerEntry>>, msg: PacerMsg) {
    let find = |entries: &mut Vec<Box<PacerEntry>>, l: &Arc<PlayerLink>| {
        entries.iter().position(|e| Arc::ptr_eq(&e.link, l))
    };
    match msg {
        PacerMsg::Add(e) => entries.push(e),
        PacerMsg::Attach(link, sink) => match find(entries, &link) {
            Some(i) => {
                if let Some(old) = entries[i].sink.replace(sink) {
                    super::disposal::dispose(shared, Box::new(old));
                }
            }
            None => forward_or(shared, me, PacerMsg::Attach(link, sink)),
        },
        PacerMsg::Detach(link) => match find(entries, &link) {
            Some(i) => {
                let e = &mut entries[i];
                e.link.sink_connected.store(false, Ordering::Release);
                if let Some(old) = e.sink.take() {
                    super::disposal::dispose(shared, Box::new(old));
                }
            }
            None => forward_or(shared, me, PacerMsg::Detach(link)),
        },
        PacerMsg::Remove(link) => match find(entries, &link) {
            Some(i) => {
                let e = entries.swap_remove(i);
                shared.pacers.left(me);
                e.link.sink_connected.store(false, Ordering::Release);
                super::disposal::dispose(shared, e);
            }
            None => forward_or(shared, me, PacerMsg::Remove(link)),
        },
    }
}

/// A message for a player this shard does not hold: it moved on (forward it to its owner),
/// or it was removed (a sink that came too late is freed off this thread).
fn forward_or(shared: &Shared, me: usize, msg: PacerMsg) {
    let link = match &msg {
        PacerMsg::Attach(l, _) | PacerMsg::Detach(l) | PacerMsg::Remove(l) => l,
        PacerMsg::Add(_) => return,
    };
    let owner = link.shard.load(Ordering::Acquire);
    if owner != me {
        let _ = shared.pacers.to(owner, msg);
    } else {
        super::disposal::dispose(shared, Box::new(msg));
    }
}

/// What one player's tick did, tallied per shard and added to the global counters once per
/// tick (one shared counter hit by every shard for every packet would bounce its cache line
/// between their cores).
#[derive(Default)]
struct Tally {
    sent: u64,
    silent: u64,
    missed: u64,
}

/// Most frames one player gets in one tick: this tick's and the catch-up of up to
/// `MAX_CATCH_UP` missed ones.
const MAX_FRAMES: usize = MAX_CATCH_UP as usize + 1;

/// Serves one player: up to `max` frames of its current generation (more than one only
/// when a late tick catches up; they go to the sink in one call, one system call for a
/// voice connection).
fn tick(e: &mut PacerEntry, max: usize, tally: &mut Tally) {
    let Some(sink) = e.sink.as_mut() else {
        return;
    };
    let connected = sink.is_connected();
    e.link.sink_connected.store(connected, Ordering::Release);
    if !connected {
        return;
    }
    loop {
        // Frames made stale by a seek, change or pause go first.
        loop {
            let Ok(f) = e.frames.peek() else {
                sink.no_frame();
                if e.shared.is_playing() {
                    tally.missed += 1;
                } else {
                    tally.silent += 1;
                }
                e.shared.frames_nulled.fetch_add(1, Ordering::Relaxed);
                return;
            };
            if (e.link.accept.load(Ordering::Acquire) >> 32) as u32 == f.gen {
                break;
            }
            let _ = e.frames.pop();
        }
        let n = e.frames.slots().clamp(1, max.clamp(1, MAX_FRAMES));
        let Ok(chunk) = e.frames.read_chunk(n) else {
            return;
        };
        let (a, b) = chunk.as_slices();
        let mut payloads: [&[u8]; MAX_FRAMES] = [&[]; MAX_FRAMES];
        let mut k = 0;
        let mut last = (0, 0);
        for f in a.iter().chain(b) {
            let cur = e.link.accept.load(Ordering::Acquire);
            if (cur >> 32) as u32 != f.gen {
                break; // a rewind landed just now: the rest are stale
            }
            let new = ((f.gen as u64) << 32) | f.seq as u64;
            if e.link
                .accept
                .compare_exchange(cur, new, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                break;
            }
            payloads[k] = f.payload();
            last = (f.track, f.end_ms);
            k += 1;
        }
        if k == 0 {
            chunk.commit(1); // made stale between the look and the claim
            continue;
        }
        if k == 1 {
            sink.send_frame(payloads[0]);
        } else {
            sink.send_frames(&payloads[..k]);
        }
        chunk.commit(k);
        tally.sent += k as u64;
        e.shared.frames_sent.fetch_add(k as u64, Ordering::Relaxed);
        if last.0 == e.link.track.load(Ordering::Acquire) {
            e.shared.position_ms.store(last.1, Ordering::Relaxed);
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(spin: &mut Spin, n: usize, us: u64) {
        for _ in 0..n {
            spin.observe(Duration::from_micros(us));
        }
    }

    #[test]
    fn spin_follows_the_overshoot_percentile_and_ignores_rare_outliers() {
        let mut spin = Spin::new();
        assert_eq!(spin.now, SPIN_CEILING, "starts safe");
        feed(&mut spin, 490, 40);
        feed(&mut spin, 3, 12_000);
        feed(&mut spin, 7, 40);
        assert_eq!(spin.now, SPIN_FLOOR, "three outliers in 500 are left out");
        feed(&mut spin, SPIN_WINDOW, 400);
        assert_eq!(spin.now, Duration::from_micros(750));
        feed(&mut spin, SPIN_WINDOW, 5_000);
        assert_eq!(spin.now, SPIN_CEILING);
        feed(&mut spin, SPIN_WINDOW, 10);
        assert_eq!(spin.now, SPIN_FLOOR);
    }
}
