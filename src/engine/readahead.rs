//! Compressed read-ahead: network reads block, so a track's bytes are pulled by a small
//! elastic I/O pool into a per-track byte ring, and the decoder reads from the ring. A decode
//! worker only decodes a track that has enough bytes buffered (or reached the end), so a
//! network stall stops that track alone, never the worker's other players.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam::channel::{self, Receiver, RecvTimeoutError, Sender};
use symphonia::core::io::MediaSource;

/// Bytes buffered per track when its bitrate is unknown (streams): seconds of compressed
/// audio at usual bitrates.
pub const RING_BYTES: usize = 64 * 1024;
/// Seconds of audio a track's ring holds when its bitrate is known (`ring_bytes_for`).
const RING_SECONDS: u64 = 2;
/// Bounds of a ring sized from the bitrate: a 128 kbit/s MP3 gets the minimum, a FLAC the
/// maximum (less than its two seconds).
const MIN_RING_BYTES: usize = 32 * 1024;
const MAX_RING_BYTES: usize = 128 * 1024;
/// A track is decoded only with at least this much buffered (or at its end), so one
/// packet never has to wait for the network.
pub const LOW_WATER: usize = 8 * 1024;
/// Most bytes handed to the decoder per read call.
const MAX_READ: usize = 2 * 1024;
/// The smallest free space a filler reads into; with less it parks until half the ring is
/// free or its track falls below its low-water mark. A read asks for all the free space
/// (its first contiguous part) at once, and a range-windowed HTTP source sizes its next
/// window to that read, never below this: every response is read to its end in the burst
/// that asked for it instead of staying half-read (its chunks and its connection's read
/// buffer alive) between bursts.
const MIN_READ: usize = crate::source::http::MIN_RANGE_WINDOW as usize;
/// I/O threads kept when idle; more are started while all are busy, up to `MAX_THREADS`.
const MIN_THREADS: usize = 2;
const MAX_THREADS: usize = 64;
const IDLE_EXIT: Duration = Duration::from_secs(30);
/// How long the reader waits for bytes before it reports a stalled source.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Most bytes one decode step may consume. A packet is smaller (FLAC's largest real-world
/// frames, 8 channels of 24 bits, are ~100 KiB); a step reading more is a demuxer
/// searching junk for a frame sync, which an endless stream of garbage would keep reading,
/// with its worker busy, forever.
pub const STEP_LIMIT: u64 = 256 * 1024;
/// How long a step on a decode worker waits for bytes once it has read more than twice
/// the low-water mark it started with (four times the largest step so far): no packet
/// seen so far was that large, it is most likely a demuxer scanning junk, and the worker's
/// other players are waiting. On a fast link even such a frame arrives within this; on a
/// slow one its track fails ("source stalled") rather than every player on the worker.
const SCAN_PATIENCE: Duration = Duration::from_millis(40);

/// Shared by the reader (decoder side) and its filler (I/O pool).
#[derive(Default)]
struct State {
    seek_target: AtomicU64,
    seek_gen: AtomicU32,
    seek_done_gen: AtomicU32,
    /// Filler's push count when the seek completed: bytes before it are pre-seek.
    seek_done_at: AtomicU64,
    seek_failed: AtomicBool,
    eof: AtomicBool,
    failed: AtomicBool,
    /// The failure was a panic in the source (reported as such, severity `fault`).
    panicked: AtomicBool,
    /// The reader is gone: the filler drops the source.
    closed: AtomicBool,
    /// Bytes pushed by the filler and consumed by the reader (incl. discarded), so the
    /// engine can tell how much is buffered without touching the ring.
    pushed: AtomicU64,
    popped: AtomicU64,
    /// Bytes the largest decode step so far consumed (see `Readiness::observe`).
    largest_step: AtomicU64,
    /// The ring's capacity in bytes (set once, at creation).
    cap: usize,
    /// `popped` when the current decode step began; `u64::MAX` outside a step (a probe or
    /// a seek on a helper reads without the step bounds).
    step_from: AtomicU64,
    /// Bytes into the current step after which an empty ring is waited for only
    /// `SCAN_PATIENCE` (`u64::MAX`: a step on a helper, which may wait).
    step_patient_upto: AtomicU64,
}

/// Lets `ReadAhead` be `Sync` (symphonia's `MediaSource` demands it) although the ring end
/// it owns is not: the ring is only ever reached through `&mut self`.
struct Exclusive<T>(T);

// SAFETY: no `&self` method of `ReadAhead` touches the wrapped value, so sharing `&ReadAhead`
// between threads never shares the ring.
unsafe impl<T: Send> Sync for Exclusive<T> {}

impl<T> std::ops::Deref for Exclusive<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for Exclusive<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// The decoder's end: a `MediaSource` over the ring.
pub struct ReadAhead {
    ring: Exclusive<rtrb::Consumer<u8>>,
    state: Arc<State>,
    pos: u64,
    popped: u64,
    len: Option<u64>,
    seekable: bool,
}

struct Filler {
    src: Box<dyn MediaSource>,
    ring: rtrb::Producer<u8>,
    state: Arc<State>,
    pushed: u64,
    handled_seek: u32,
}

/// The ring size for a track of `byte_len` bytes lasting `length_ms`: two seconds of its
/// audio within [`MIN_RING_BYTES`, `MAX_RING_BYTES`], or [`RING_BYTES`] when either is
/// unknown (a stream). A 64 KiB ring for every track held four seconds of a 128 kbit/s MP3
/// per player, on top of symphonia's own 64 KiB read buffer.
pub fn ring_bytes_for(byte_len: Option<u64>, length_ms: i64) -> usize {
    match byte_len {
        Some(len) if length_ms >= 1000 && len > 0 => {
            let per_s = len.saturating_mul(1000) / length_ms as u64;
            (per_s.saturating_mul(RING_SECONDS) as usize).clamp(MIN_RING_BYTES, MAX_RING_BYTES)
        }
        _ => RING_BYTES,
    }
}

impl ReadAhead {
    /// Wraps `src` with a [`RING_BYTES`] ring (the unit tests' default).
    #[cfg(test)]
    pub fn new(src: Box<dyn MediaSource>, pool: &Arc<IoPool>) -> ReadAhead {
        ReadAhead::with_capacity(src, pool, RING_BYTES)
    }

    /// Wraps `src` with a ring of `bytes` (at least [`MIN_RING_BYTES`], see
    /// [`ring_bytes_for`]); the pool starts filling at once.
    pub fn with_capacity(src: Box<dyn MediaSource>, pool: &Arc<IoPool>, bytes: usize) -> ReadAhead {
        let cap = bytes.max(MIN_RING_BYTES);
        let (p, c) = rtrb::RingBuffer::new(cap);
        let state = Arc::new(State {
            step_from: AtomicU64::new(u64::MAX),
            cap,
            ..State::default()
        });
        let len = src.byte_len();
        let seekable = src.is_seekable();
        pool.submit(Filler {
            src,
            ring: p,
            state: state.clone(),
            pushed: 0,
            handled_seek: 0,
        });
        ReadAhead {
            ring: Exclusive(c),
            state,
            pos: 0,
            popped: 0,
            len,
            seekable,
        }
    }

    fn discard_pre_seek(&mut self, gen: u32) -> bool {
        if self.state.seek_done_gen.load(Ordering::Acquire) != gen {
            return false;
        }
        let done_at = self.state.seek_done_at.load(Ordering::Acquire);
        let n = (done_at.saturating_sub(self.popped) as usize).min(self.ring.slots());
        if let Ok(ch) = self.ring.read_chunk(n) {
            ch.commit_all();
        }
        self.count_popped(n);
        self.popped >= done_at
    }
}

/// What the engine keeps to ask "can this track be decoded without waiting?" while the
/// decoder owns the reader.
#[derive(Clone)]
pub struct Readiness {
    state: Arc<State>,
}

/// Bytes that must be buffered before a decode step: twice the largest step seen (a FLAC
/// frame can be 40 KiB, far over `LOW_WATER`), within what a parked filler leaves buffered
/// (more than the ring's capacity less `MIN_READ`): a higher mark could never be reached,
/// the filler waiting for the decoder to free space and the decoder for the filler.
fn low_water(largest_step: u64, cap: usize) -> u64 {
    (largest_step.saturating_mul(2))
        .max(LOW_WATER as u64)
        .min((cap - MIN_READ) as u64)
}

impl Readiness {
    /// Bytes the reader has handed out so far (before a decode step, for `observe`).
    pub fn consumed(&self) -> u64 {
        self.state.popped.load(Ordering::Acquire)
    }

    /// Marks the start of a decode step and returns `consumed()` for `observe`. The step's
    /// reads are bounded: at most `STEP_LIMIT` bytes, and (`may_wait` false: a decode
    /// worker) only a short wait for bytes once it has read twice what it was started with.
    pub fn begin_step(&self, may_wait: bool) -> u64 {
        let s = &self.state;
        let from = s.popped.load(Ordering::Acquire);
        let upto = if may_wait {
            u64::MAX
        } else {
            2 * low_water(s.largest_step.load(Ordering::Relaxed), s.cap)
        };
        s.step_patient_upto.store(upto, Ordering::Relaxed);
        s.step_from.store(from, Ordering::Release);
        from
    }

    /// Learns from one decode step that began at `consumed_before`: later steps wait until
    /// twice the largest step is buffered, so a large frame on a slow link starves only its
    /// own track instead of making the decode worker wait inside `read`.
    pub fn observe(&self, consumed_before: u64) {
        let step = self.consumed().saturating_sub(consumed_before);
        self.state.largest_step.fetch_max(step, Ordering::Relaxed);
        self.state.step_from.store(u64::MAX, Ordering::Release);
    }

    pub fn ready(&self) -> bool {
        let s = &self.state;
        let buffered = s
            .pushed
            .load(Ordering::Acquire)
            .saturating_sub(s.popped.load(Ordering::Acquire));
        buffered >= low_water(s.largest_step.load(Ordering::Relaxed), s.cap)
            || s.eof.load(Ordering::Acquire)
            || s.failed.load(Ordering::Acquire)
            || s.seek_gen.load(Ordering::Acquire) != s.seek_done_gen.load(Ordering::Acquire)
    }
}

impl Read for ReadAhead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let start = Instant::now();
        let in_step = self
            .popped
            .saturating_sub(self.state.step_from.load(Ordering::Acquire));
        if in_step > STEP_LIMIT {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("no audio frame in {} KiB of input", STEP_LIMIT / 1024),
            ));
        }
        let patience = if in_step > self.state.step_patient_upto.load(Ordering::Relaxed) {
            SCAN_PATIENCE
        } else {
            READ_TIMEOUT
        };
        loop {
            let avail = self.ring.slots();
            if avail > 0 {
                // Small reads keep the bytes here, where `Readiness` sees them, rather than
                // in symphonia's own buffer.
                let n = avail.min(buf.len()).min(MAX_READ);
                let (a, b) = self.ring.pop_partial_slice(&mut buf[..n]);
                let n = a.len() + b.len();
                self.pos += n as u64;
                self.count_popped(n);
                return Ok(n);
            }
            if self.state.panicked.load(Ordering::Acquire) {
                return Err(io::Error::other("panic in a source read"));
            }
            if self.state.failed.load(Ordering::Acquire) {
                return Err(io::Error::other("reading the source failed"));
            }
            if self.state.eof.load(Ordering::Acquire) && self.ring.slots() == 0 {
                return Ok(0);
            }
            // Rare: a packet larger than what was buffered. Wait for the filler.
            if start.elapsed() > patience {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "source stalled"));
            }
            std::thread::sleep(Duration::from_micros(500));
        }
    }
}

impl Seek for ReadAhead {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = crate::source::seek_target(self.pos, self.len, to)?;
        if target == self.pos {
            return Ok(target);
        }
        // Forward within what is buffered: skip bytes.
        if target > self.pos && target - self.pos <= self.ring.slots() as u64 {
            let n = (target - self.pos) as usize;
            if let Ok(ch) = self.ring.read_chunk(n) {
                ch.commit_all();
            }
            self.count_popped(n);
            self.pos = target;
            return Ok(target);
        }
        if !self.seekable {
            return Err(io::Error::other("source is not seekable"));
        }
        let gen = self.state.seek_gen.load(Ordering::Relaxed).wrapping_add(1);
        self.state.seek_target.store(target, Ordering::Release);
        self.state.seek_gen.store(gen, Ordering::Release);
        let start = Instant::now();
        while !self.discard_pre_seek(gen) {
            if self.state.panicked.load(Ordering::Acquire) {
                return Err(io::Error::other("panic in a source read"));
            }
            if start.elapsed() > READ_TIMEOUT {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "seek stalled"));
            }
            // Keep the ring moving so the filler is never stuck on a full ring.
            let n = self.ring.slots();
            if let Ok(ch) = self.ring.read_chunk(n) {
                ch.commit_all();
            }
            self.count_popped(n);
            std::thread::sleep(Duration::from_micros(200));
        }
        if self.state.seek_failed.load(Ordering::Acquire) {
            return Err(io::Error::other("seek failed"));
        }
        self.pos = target;
        Ok(target)
    }
}

impl MediaSource for ReadAhead {
    fn is_seekable(&self) -> bool {
        self.seekable
    }
    fn byte_len(&self) -> Option<u64> {
        self.len
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.state.closed.store(true, Ordering::Release);
    }
}

impl ReadAhead {
    pub fn readiness(&self) -> Readiness {
        Readiness {
            state: self.state.clone(),
        }
    }

    fn count_popped(&mut self, n: usize) {
        self.popped += n as u64;
        self.state.popped.store(self.popped, Ordering::Release);
    }
}

enum Step {
    /// Read something; more to read.
    Again,
    /// Ring full or source ended: wait until the reader frees space or seeks.
    Park,
    Done,
}

impl Filler {
    fn step(&mut self) -> Step {
        if self.state.closed.load(Ordering::Acquire) {
            return Step::Done;
        }
        let gen = self.state.seek_gen.load(Ordering::Acquire);
        if gen != self.handled_seek {
            let target = self.state.seek_target.load(Ordering::Acquire);
            let ok = self.src.seek(SeekFrom::Start(target)).is_ok();
            self.state.seek_failed.store(!ok, Ordering::Release);
            self.state.eof.store(false, Ordering::Release);
            self.handled_seek = gen;
            self.state
                .seek_done_at
                .store(self.pushed, Ordering::Release);
            self.state.seek_done_gen.store(gen, Ordering::Release);
            return Step::Again;
        }
        if self.state.eof.load(Ordering::Acquire) || self.state.failed.load(Ordering::Acquire) {
            return Step::Park;
        }
        let room = self.ring.slots();
        if room < MIN_READ {
            return Step::Park;
        }
        // Read straight into the ring's free space (its first contiguous part): no buffer
        // per I/O thread, no copy.
        let Ok(mut chunk) = self.ring.write_chunk(room) else {
            return Step::Park;
        };
        let (free, _) = chunk.as_mut_slices();
        match self.src.read(free) {
            Ok(0) => {
                self.state.eof.store(true, Ordering::Release);
                Step::Park
            }
            Ok(n) => {
                chunk.commit(n);
                self.pushed += n as u64;
                self.state.pushed.store(self.pushed, Ordering::Release);
                Step::Again
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Step::Again,
            Err(e) => {
                log::debug!("read-ahead: source read failed: {e}");
                self.state.failed.store(true, Ordering::Release);
                Step::Park
            }
        }
    }

    /// The reader waits for more than is buffered: the filler must not wait for half the
    /// ring to be free (a track with large steps would never be ready again).
    fn below_low_water(&self) -> bool {
        let s = &self.state;
        let buffered = self.pushed.saturating_sub(s.popped.load(Ordering::Acquire));
        buffered < low_water(s.largest_step.load(Ordering::Relaxed), s.cap)
    }

    fn wants_service(&self) -> bool {
        self.state.closed.load(Ordering::Acquire)
            || self.state.seek_gen.load(Ordering::Acquire) != self.handled_seek
            || (!self.state.eof.load(Ordering::Acquire)
                && !self.state.failed.load(Ordering::Acquire)
                && (self.ring.slots() >= self.state.cap / 2 || self.below_low_water()))
    }
}

/// The elastic pool of I/O threads filling read-ahead rings.
pub struct IoPool {
    tx: Sender<Filler>,
    rx: Receiver<Filler>,
    parked: Mutex<Vec<Filler>>,
    threads: AtomicUsize,
    busy: AtomicUsize,
    shutdown: AtomicBool,
    joins: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl IoPool {
    pub fn new() -> Arc<IoPool> {
        let (tx, rx) = channel::unbounded();
        let pool = Arc::new(IoPool {
            tx,
            rx,
            parked: Mutex::new(Vec::new()),
            threads: AtomicUsize::new(0),
            busy: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            joins: Mutex::new(Vec::new()),
        });
        for _ in 0..MIN_THREADS {
            pool.spawn_thread();
        }
        pool
    }

    fn spawn_thread(self: &Arc<Self>) {
        let n = self.threads.fetch_add(1, Ordering::AcqRel);
        let pool = self.clone();
        match std::thread::Builder::new()
            .name(format!("basalt-io-{n}"))
            .spawn(move || pool.run())
        {
            Ok(h) => self.joins.lock().unwrap_or_else(|e| e.into_inner()).push(h),
            Err(_) => {
                self.threads.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }

    fn submit(self: &Arc<Self>, f: Filler) {
        let _ = self.tx.send(f);
        if self.busy.load(Ordering::Acquire) >= self.threads.load(Ordering::Acquire)
            && self.threads.load(Ordering::Acquire) < MAX_THREADS
        {
            self.spawn_thread();
        }
    }

    /// Stops and joins the I/O threads; sources still open are dropped.
    pub fn shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
        let joins: Vec<_> =
            std::mem::take(&mut *self.joins.lock().unwrap_or_else(|e| e.into_inner()));
        for j in joins {
            let _ = j.join();
        }
        self.parked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        while self.rx.try_recv().is_ok() {}
    }

    fn unpark_ready(&self) {
        let mut ready = Vec::new();
        {
            let mut parked = self.parked.lock().unwrap_or_else(|e| e.into_inner());
            let mut i = 0;
            while i < parked.len() {
                if parked[i].wants_service() {
                    ready.push(parked.swap_remove(i));
                } else {
                    i += 1;
                }
            }
        }
        for f in ready {
            let _ = self.tx.send(f);
        }
    }

    fn run(self: Arc<Self>) {
        let mut idle_since = Instant::now();
        loop {
            if self.shutdown.load(Ordering::Acquire) {
                break;
            }
            self.unpark_ready();
            match self.rx.recv_timeout(Duration::from_millis(5)) {
                Ok(mut f) => {
                    idle_since = Instant::now();
                    // A read may block for as long as a stalled host takes to time out:
                    // keep one thread idle (up to MAX_THREADS) so the next reader in the
                    // queue, a healthy one, never waits behind stalled ones.
                    let busy = self.busy.fetch_add(1, Ordering::AcqRel) + 1;
                    if busy >= self.threads.load(Ordering::Acquire)
                        && self.threads.load(Ordering::Acquire) < MAX_THREADS
                    {
                        self.spawn_thread();
                    }
                    // A panic in a source's read or seek fails that track's reader only;
                    // this thread and every other track it fills go on.
                    let step = match super::fault::isolate(|| f.step()) {
                        Ok(step) => step,
                        Err(p) => {
                            log::error!(
                                "engine: panic in a source read, failing that track only: {}",
                                super::fault::panic_message(&*p)
                            );
                            f.state.panicked.store(true, Ordering::Release);
                            f.state.failed.store(true, Ordering::Release);
                            super::fault::drop_isolated(f);
                            self.busy.fetch_sub(1, Ordering::AcqRel);
                            continue;
                        }
                    };
                    self.busy.fetch_sub(1, Ordering::AcqRel);
                    match step {
                        Step::Again => {
                            let _ = self.tx.send(f);
                        }
                        Step::Park => self
                            .parked
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(f),
                        Step::Done => drop(f),
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    if idle_since.elapsed() > IDLE_EXIT {
                        let n = self.threads.load(Ordering::Acquire);
                        if n > MIN_THREADS
                            && self
                                .threads
                                .compare_exchange(n, n - 1, Ordering::AcqRel, Ordering::Acquire)
                                .is_ok()
                        {
                            return;
                        }
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        self.threads.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `good` bytes, then panics.
    struct PanicsAfter {
        good: usize,
    }

    impl Read for PanicsAfter {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.good == 0 {
                panic!("test: source read panics");
            }
            let n = buf.len().min(self.good);
            buf[..n].fill(7);
            self.good -= n;
            Ok(n)
        }
    }

    impl Seek for PanicsAfter {
        fn seek(&mut self, _: SeekFrom) -> io::Result<u64> {
            Err(io::Error::other("not seekable"))
        }
    }

    impl MediaSource for PanicsAfter {
        fn is_seekable(&self) -> bool {
            false
        }
        fn byte_len(&self) -> Option<u64> {
            None
        }
    }

    /// A panicking source read fails that reader with an error naming the panic; the I/O
    /// thread survives and fills the next reader.
    #[test]
    fn a_panicking_source_fails_its_reader_and_the_pool_goes_on() {
        let pool = IoPool::new();
        let mut bad = ReadAhead::new(Box::new(PanicsAfter { good: 1000 }), &pool);
        let mut got = 0;
        let mut buf = [0u8; 512];
        let err = loop {
            match bad.read(&mut buf) {
                Ok(n) => got += n,
                Err(e) => break e,
            }
        };
        assert_eq!(got, 1000);
        assert!(err.to_string().contains("panic"), "{err}");
        let data = vec![5u8; 100_000];
        let mut good = ReadAhead::new(
            Box::new(symphonia::core::io::ReadOnlySource::new(
                std::io::Cursor::new(data),
            )),
            &pool,
        );
        let mut all = Vec::new();
        good.read_to_end(&mut all).unwrap();
        assert_eq!(all.len(), 100_000);
        pool.shutdown();
    }

    /// Endless bytes (`stall_after`: then nothing, forever).
    struct Endless {
        stall_after: Option<usize>,
        sent: usize,
    }

    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.stall_after.is_some_and(|s| self.sent >= s) {
                std::thread::sleep(Duration::from_secs(2));
            }
            let n = match self.stall_after {
                Some(s) => buf.len().min(s - self.sent),
                None => buf.len(),
            };
            buf[..n].fill(0x11);
            self.sent += n;
            Ok(n)
        }
    }

    impl Seek for Endless {
        fn seek(&mut self, _: SeekFrom) -> io::Result<u64> {
            Err(io::Error::other("not seekable"))
        }
    }

    impl MediaSource for Endless {
        fn is_seekable(&self) -> bool {
            false
        }
        fn byte_len(&self) -> Option<u64> {
            None
        }
    }

    /// A reader over endless bytes (`stall_after`: then nothing, forever).
    fn endless(pool: &Arc<IoPool>, stall_after: Option<usize>) -> ReadAhead {
        ReadAhead::new(
            Box::new(Endless {
                stall_after,
                sent: 0,
            }),
            pool,
        )
    }

    fn read_until_error(r: &mut ReadAhead, most: u64) -> (u64, Option<io::Error>) {
        let (mut got, mut buf) = (0u64, [0u8; 4096]);
        while got < most {
            match r.read(&mut buf) {
                Ok(n) => got += n as u64,
                Err(e) => return (got, Some(e)),
            }
        }
        (got, None)
    }

    #[test]
    fn a_decode_step_reads_at_most_the_step_limit_and_waits_briefly_when_scanning() {
        let pool = IoPool::new();
        // Endless junk inside one step: cut off at the limit with a clear error.
        let mut junk = endless(&pool, None);
        let r = junk.readiness();
        let from = r.begin_step(false);
        let (got, err) = read_until_error(&mut junk, 4 * STEP_LIMIT);
        let err = err.expect("the step is cut off");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        assert!(err.to_string().contains("no audio frame"), "{err}");
        assert!((STEP_LIMIT..STEP_LIMIT + 8192).contains(&got), "{got}");
        // Outside a step (a probe or a seek on a helper) there is no such limit.
        r.observe(from);
        let (got, err) = read_until_error(&mut junk, 2 * STEP_LIMIT);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(got, 2 * STEP_LIMIT);

        // A worker's step that has read far more than a packet and finds the ring empty
        // gives up within SCAN_PATIENCE instead of READ_TIMEOUT.
        let mut stalled = endless(&pool, Some(48 * 1024));
        let r = stalled.readiness();
        let t = Instant::now();
        while r.consumed() == 0 && !r.ready() && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(5));
        }
        r.begin_step(false);
        let t = Instant::now();
        let (got, err) = read_until_error(&mut stalled, 4 * STEP_LIMIT);
        let err = err.expect("gives up");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        assert!(got > 2 * LOW_WATER as u64, "{got}");
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        drop((junk, stalled));
        pool.shutdown();
    }

    #[test]
    fn low_water_follows_the_largest_step_within_the_ring() {
        let r = RING_BYTES;
        assert_eq!(low_water(0, r), LOW_WATER as u64);
        assert_eq!(low_water(1000, r), LOW_WATER as u64);
        assert_eq!(low_water(6000, r), 12_000);
        assert_eq!(low_water(20 * 1024, r), 40 * 1024);
        assert_eq!(low_water(40 * 1024, r), (r - MIN_READ) as u64);
        assert_eq!(low_water(u64::MAX, r), (r - MIN_READ) as u64);
        assert_eq!(
            low_water(20 * 1024, MIN_RING_BYTES),
            (MIN_RING_BYTES - MIN_READ) as u64
        );
    }

    #[test]
    fn the_ring_holds_two_seconds_of_a_track_within_bounds() {
        // 128 kbit/s for 3 minutes: 32 KiB (two seconds is 32,000 bytes).
        assert_eq!(ring_bytes_for(Some(2_880_000), 180_000), MIN_RING_BYTES);
        // 320 kbit/s: 80,000 bytes.
        assert_eq!(ring_bytes_for(Some(7_200_000), 180_000), 80_000);
        // A FLAC (~1 Mbit/s): the maximum.
        assert_eq!(ring_bytes_for(Some(22_500_000), 180_000), MAX_RING_BYTES);
        // Unknown length or duration (streams), or too short to tell: the default.
        assert_eq!(ring_bytes_for(None, 180_000), RING_BYTES);
        assert_eq!(ring_bytes_for(Some(1_000_000), 0), RING_BYTES);
        assert_eq!(ring_bytes_for(Some(1_000_000), i64::MAX), MIN_RING_BYTES);
    }

    /// A track whose steps are larger than the ring allows for stays decodable: what a
    /// parked filler leaves buffered reaches the (capped) low-water mark, and after a
    /// smaller step the filler tops the ring up again without waiting for half of it to be
    /// free, so the decoder and the filler never wait for each other.
    #[test]
    fn a_track_with_huge_steps_never_waits_on_its_own_filler() {
        let pool = IoPool::new();
        let mut r = endless(&pool, None);
        let ready = r.readiness();
        let wait_ready = |what: &str| {
            let t = Instant::now();
            while !ready.ready() {
                assert!(t.elapsed() < Duration::from_secs(5), "not ready {what}");
                std::thread::sleep(Duration::from_millis(5));
            }
        };
        // One step larger than the whole ring, as a 96 KiB FLAC frame would be.
        let from = ready.begin_step(true);
        let (got, err) = read_until_error(&mut r, RING_BYTES as u64 + 4096);
        assert!(err.is_none() && got >= RING_BYTES as u64, "{got} {err:?}");
        ready.observe(from);
        wait_ready("after the huge step");
        // Smaller steps than half the ring, each once the track is ready again.
        for _ in 0..8 {
            let from = ready.begin_step(false);
            let (_, err) = read_until_error(&mut r, 10 * 1024);
            assert!(err.is_none(), "{err:?}");
            ready.observe(from);
            wait_ready("after a 10 KiB step");
        }
        drop(r);
        pool.shutdown();
    }
}
