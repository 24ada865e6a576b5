//! The voice I/O worker: one thread serves every live connection's gateway socket.
//!
//! A thread per connection does not scale (design: a fixed set of workers each serve many
//! players), so live gateways sit in one mio `Poll`, one registration per TCP socket, and a
//! timer heap wakes the worker for each connection's next heartbeat or keepalive. Commands
//! (new connections, reconnect results) come over a channel plus the poll's `Waker`; close and
//! speaking requests set atomics on the connection and wake the same `Waker`.
//!
//! The first handshake runs on the thread calling `VoiceManager::connect` (which blocks for
//! it by contract). After a drop the backoff waits and attempt deadlines are timers here, and
//! resumes (the usual case) run non-blocking on this thread. The fallback re-identify (after
//! failed resumes) still blocks for its UDP discovery, so it runs on a short-lived helper
//! thread that hands the gateway back: such a thread exists only during that attempt.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, Sender};
use log::{debug, info, warn};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token, Waker};

use super::connection::{
    is_retryable, Closed, ConnShared, Drive, Gateway, BACKOFF_MS, RESUME_ATTEMPTS,
};
use super::VoiceError;

const TOKEN_WAKE: Token = Token(0);
/// Far enough away to mean "no timer".
const NEVER: Duration = Duration::from_secs(86_400);

enum Cmd {
    Add(Box<Gateway>),
    /// A helper thread finished a reconnect attempt for this slot.
    Back(usize, Box<Gateway>, Result<(), Option<Closed>>),
}

/// Handle to the worker thread, owned by `VoiceManager`.
pub struct VoiceIo {
    tx: Sender<Cmd>,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl VoiceIo {
    pub fn start() -> Result<VoiceIo, VoiceError> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), TOKEN_WAKE)?);
        let (tx, rx) = crossbeam::channel::unbounded();
        let stop = Arc::new(AtomicBool::new(false));
        let mut worker = Worker {
            poll,
            waker: waker.clone(),
            rx,
            tx: tx.clone(),
            stop: stop.clone(),
            slots: Vec::new(),
            free: Vec::new(),
            timers: BinaryHeap::new(),
            helpers: Vec::new(),
        };
        let thread = std::thread::Builder::new()
            .name("voice-io".into())
            .spawn(move || worker.run())?;
        Ok(VoiceIo {
            tx,
            waker,
            stop,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The waker every connection served by this worker uses.
    pub fn waker(&self) -> Arc<Waker> {
        self.waker.clone()
    }

    /// Hands a live gateway to the worker. On failure (shut down) the gateway is closed.
    pub fn add(&self, gw: Box<Gateway>) -> Result<(), VoiceError> {
        if self.stop.load(Ordering::Acquire) {
            let mut gw = gw;
            gw.close_local();
            return Err(VoiceError::Shutdown);
        }
        match self.tx.send(Cmd::Add(gw)) {
            Ok(()) => {
                let _ = self.waker.wake();
                Ok(())
            }
            Err(e) => {
                if let Cmd::Add(mut gw) = e.into_inner() {
                    gw.close_local();
                }
                Err(VoiceError::Shutdown)
            }
        }
    }

    /// Closes every connection (1000), waits for reconnect helpers, joins the worker.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.waker.wake();
        let handle = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

struct Slot {
    shared: Arc<ConnShared>,
    /// None while a helper thread is reconnecting it.
    gw: Option<Box<Gateway>>,
    /// The timer entry that counts; heap entries with another instant are stale.
    due: Instant,
    /// Set while the gateway socket is down and the next attempt waits for its backoff.
    retry: Option<Retry>,
}

struct Retry {
    /// Index into `BACKOFF_MS` of the attempt the timer starts.
    attempt: usize,
    at: Instant,
    /// What to report if every attempt fails.
    last: Closed,
    /// A non-blocking resume is in flight on this thread (its deadline is `at`).
    resuming: bool,
}

struct Worker {
    poll: Poll,
    waker: Arc<Waker>,
    rx: Receiver<Cmd>,
    tx: Sender<Cmd>,
    stop: Arc<AtomicBool>,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    helpers: Vec<JoinHandle<()>>,
}

fn token(id: usize) -> Token {
    Token(id + 1)
}

fn register(reg: &Registry, fd: Option<RawFd>, id: usize) -> io::Result<()> {
    match fd {
        Some(fd) => reg.register(
            &mut SourceFd(&fd),
            token(id),
            Interest::READABLE | Interest::WRITABLE,
        ),
        None => Err(io::Error::other("gateway has no socket")),
    }
}

fn deregister(reg: &Registry, fd: Option<RawFd>) {
    if let Some(fd) = fd {
        let _ = reg.deregister(&mut SourceFd(&fd));
    }
}

/// Connected and reconnecting gateways for `basalt_voice_connections`; one pass over
/// the slots per poll wake-up on this control thread, nothing on the audio path.
fn publish_states(slots: &[Option<Slot>]) {
    let (mut connected, mut reconnecting) = (0, 0);
    for s in slots.iter().flatten() {
        if s.retry.is_some() {
            reconnecting += 1;
        } else if s.gw.is_some() {
            connected += 1;
        }
    }
    crate::telemetry::voice_connections(connected, reconnecting);
}

impl Worker {
    fn run(&mut self) {
        let mut events = Events::with_capacity(256);
        let mut ready: Vec<usize> = Vec::with_capacity(256);
        loop {
            let now = Instant::now();
            let timeout = self
                .timers
                .peek()
                .map(|Reverse((at, _))| at.saturating_duration_since(now));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    warn!("voice I/O poll failed: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            let mut woke = false;
            ready.clear();
            for ev in events.iter() {
                if ev.token() == TOKEN_WAKE {
                    woke = true;
                } else {
                    ready.push(ev.token().0 - 1);
                }
            }
            if self.stop.load(Ordering::Acquire) {
                self.shutdown();
                return;
            }
            if woke {
                while let Ok(cmd) = self.rx.try_recv() {
                    self.command(cmd);
                }
                // Close and speaking requests: cheap atomic checks, only on a wake-up.
                for id in 0..self.slots.len() {
                    let wants = self.slots[id]
                        .as_ref()
                        .and_then(|s| s.gw.as_ref())
                        .is_some_and(|g| g.has_request());
                    if wants {
                        self.service(id);
                    }
                }
            }
            for &id in &ready {
                self.service(id);
            }
            let now = Instant::now();
            while let Some(&Reverse((at, id))) = self.timers.peek() {
                if at > now {
                    break;
                }
                self.timers.pop();
                let current = match self.slots.get_mut(id).and_then(|s| s.as_mut()) {
                    Some(s) if s.due == at => {
                        // Forces a new heap entry after servicing.
                        s.due = now + NEVER;
                        true
                    }
                    _ => false,
                };
                if current {
                    self.service(id);
                }
            }
            publish_states(&self.slots);
        }
    }

    fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Add(mut gw) => {
                gw.detach_private();
                let id = match self.free.pop() {
                    Some(id) => id,
                    None => {
                        self.slots.push(None);
                        self.slots.len() - 1
                    }
                };
                if let Err(e) = register(self.poll.registry(), gw.tcp_fd(), id) {
                    warn!("voice {}: cannot watch gateway socket: {e}", gw.guild_id());
                    gw.close_local();
                    self.free.push(id);
                    return;
                }
                self.slots[id] = Some(Slot {
                    shared: gw.shared().clone(),
                    gw: Some(gw),
                    due: Instant::now() + NEVER,
                    retry: None,
                });
                self.service(id);
            }
            Cmd::Back(id, mut gw, result) => {
                let Some(slot) = self.slots.get_mut(id).and_then(|s| s.as_mut()) else {
                    gw.close_local();
                    return;
                };
                if gw.closing() {
                    gw.close_local();
                    self.release(id);
                    return;
                }
                if slot.retry.is_none() {
                    gw.close_local();
                    self.release(id);
                    return;
                }
                match result {
                    Ok(()) => {
                        gw.detach_private();
                        if let Err(e) = register(self.poll.registry(), gw.tcp_fd(), id) {
                            warn!("voice {}: cannot watch gateway socket: {e}", gw.guild_id());
                            gw.close_local();
                            self.release(id);
                            return;
                        }
                        slot.retry = None;
                        slot.gw = Some(gw);
                        self.service(id);
                    }
                    Err(failure) => {
                        slot.gw = Some(gw);
                        self.failed_attempt(id, failure);
                    }
                }
            }
        }
    }

    /// An attempt failed: end on a terminal close code, else wait for the next one (or end
    /// with the last close once all are spent).
    fn failed_attempt(&mut self, id: usize, failure: Option<Closed>) {
        let Some(slot) = self.slots.get_mut(id).and_then(|s| s.as_mut()) else {
            return;
        };
        let (Some(gw), Some(retry)) = (slot.gw.as_mut(), slot.retry.as_mut()) else {
            return;
        };
        deregister(self.poll.registry(), gw.tcp_fd());
        gw.drop_socket();
        retry.resuming = false;
        match failure {
            Some(c) if !is_retryable(c.code) => {
                gw.close_final(c);
                self.release(id);
                return;
            }
            Some(c) => retry.last = c,
            None => {}
        }
        retry.attempt += 1;
        match BACKOFF_MS.get(retry.attempt) {
            Some(&ms) => {
                retry.at = Instant::now() + Duration::from_millis(ms);
                slot.due = retry.at;
                self.timers.push(Reverse((retry.at, id)));
            }
            None => {
                let last = retry.last.clone();
                gw.close_final(last);
                self.release(id);
            }
        }
    }

    fn release(&mut self, id: usize) {
        if let Some(slot) = self.slots.get_mut(id) {
            if slot.take().is_some() {
                self.free.push(id);
            }
        }
    }

    /// Runs one connection's timers, requests and socket reads; schedules its next timer.
    fn service(&mut self, id: usize) {
        let Some(slot) = self.slots.get_mut(id).and_then(|s| s.as_mut()) else {
            return;
        };
        let Some(gw) = slot.gw.as_mut() else {
            return;
        };
        if gw.closing() {
            deregister(self.poll.registry(), gw.tcp_fd());
            gw.close_local();
            self.release(id);
            return;
        }
        if let Some(retry) = slot.retry.as_mut() {
            // Socket down: keep the UDP side serviced.
            gw.service_udp();
            let now = Instant::now();
            if retry.resuming {
                match gw.drive_resume() {
                    Drive::Ready => slot.retry = None,
                    Drive::Pending if now < retry.at => return,
                    Drive::Pending => return self.failed_attempt(id, None),
                    Drive::Failed(f) => return self.failed_attempt(id, f),
                }
            } else if now < retry.at {
                return;
            } else if retry.attempt < RESUME_ATTEMPTS {
                // Resume here, non-blocking; its deadline is the slot's timer.
                if let Err(f) = gw.start_resume() {
                    return self.failed_attempt(id, f);
                }
                if let Err(e) = register(self.poll.registry(), gw.tcp_fd(), id) {
                    debug!("voice {}: cannot watch gateway socket: {e}", gw.guild_id());
                    return self.failed_attempt(id, None);
                }
                retry.resuming = true;
                retry.at = now + gw.connect_timeout();
                slot.due = retry.at;
                self.timers.push(Reverse((retry.at, id)));
                return;
            } else {
                let attempt = retry.attempt;
                if let Some(gw) = slot.gw.take() {
                    self.attempt(id, gw, attempt);
                }
                return;
            }
        }
        let Some(gw) = slot.gw.as_mut() else {
            return;
        };
        match gw.step() {
            Ok(()) => {
                let due = gw.next_due();
                if due != slot.due {
                    slot.due = due;
                    self.timers.push(Reverse((due, id)));
                }
            }
            Err(c) => self.lost(id, c),
        }
    }

    /// The gateway socket went away: resume/re-identify on a helper thread, or report the end.
    fn lost(&mut self, id: usize, c: Closed) {
        let Some(slot) = self.slots.get_mut(id).and_then(|s| s.as_mut()) else {
            return;
        };
        let Some(mut gw) = slot.gw.take() else {
            return;
        };
        deregister(self.poll.registry(), gw.tcp_fd());
        if gw.closing() {
            gw.close_local();
            self.release(id);
            return;
        }
        if !c.by_remote || c.code == 1006 {
            warn!("voice {}: gateway connection lost", gw.guild_id());
        }
        info!(
            "voice {}: gateway closed code={} reason={:?} by_remote={}",
            gw.guild_id(),
            c.code,
            c.reason,
            c.by_remote
        );
        if !is_retryable(c.code) {
            gw.close_final(c);
            self.release(id);
            return;
        }
        gw.drop_socket();
        crate::telemetry::voice_reconnect(c.code, c.by_remote);
        // The first wait is short: most drops resume at once.
        let at = Instant::now() + Duration::from_millis(BACKOFF_MS[0]);
        slot.retry = Some(Retry {
            attempt: 0,
            at,
            last: Closed {
                code: 1006,
                reason: String::new(),
                by_remote: false,
            },
            resuming: false,
        });
        slot.due = at;
        slot.gw = Some(gw);
        self.timers.push(Reverse((at, id)));
    }

    /// Runs one resume/identify attempt on a helper thread; it hands the gateway back.
    fn attempt(&mut self, id: usize, mut gw: Box<Gateway>, attempt: usize) {
        self.helpers.retain(|h| !h.is_finished());
        let (tx, waker) = (self.tx.clone(), self.waker.clone());
        let name = format!("voice-reconnect-{}", gw.guild_id());
        let shared = gw.shared().clone();
        let spawned = std::thread::Builder::new().name(name).spawn(move || {
            let r = gw.reconnect_attempt(attempt);
            let _ = tx.send(Cmd::Back(id, gw, r));
            let _ = waker.wake();
        });
        match spawned {
            Ok(h) => self.helpers.push(h),
            Err(e) => {
                // The gateway went down with the closure; end the connection quietly.
                warn!("voice: cannot start a reconnect thread: {e}");
                shared.core.close();
                shared.alive.store(false, Ordering::Release);
                shared.ping_ms.store(-1, Ordering::Relaxed);
                self.release(id);
            }
        }
    }

    fn shutdown(&mut self) {
        for slot in self.slots.iter().flatten() {
            slot.shared.request_close();
        }
        for id in 0..self.slots.len() {
            self.service(id);
        }
        for h in self.helpers.drain(..) {
            let _ = h.join();
        }
        while let Ok(cmd) = self.rx.try_recv() {
            match cmd {
                Cmd::Add(mut gw) | Cmd::Back(_, mut gw, _) => gw.close_local(),
            }
        }
    }
}
