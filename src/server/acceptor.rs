//! The control plane's own acceptor: one thread that owns every connection between requests.
//!
//! It accepts, reads request heads and bodies without blocking (mio readiness), enforces the
//! size limits and deadlines of `[server]`, refuses floods and bad credentials itself, and
//! hands only complete, authorised requests to the worker pool over a bounded queue. A
//! worker answers, then gives a keep-alive connection back. So a slow or silent client
//! costs one socket and a few bytes here, never a thread, and never delays other clients.

use std::collections::HashMap;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, Sender, TrySendError};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use super::limits::{count, rejections, ConnGuard, Limiter, Refusal};
use super::request::{self, Head};
use crate::config::ServerConfig;

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
/// How often deadlines are checked.
const TICK: Duration = Duration::from_millis(50);
/// Bytes read per `read` call (the head limit is checked after each).
const CHUNK: usize = 8 * 1024;
/// After an error answer, input is discarded this long (so the client reads the answer
/// instead of a reset), up to `LINGER_BYTES`.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 256 * 1024;
/// Pause of `accept` after the process ran out of descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Limits and deadlines from `[server]`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub max_header_bytes: usize,
    pub max_body_bytes: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub write_timeout: Duration,
}

impl Settings {
    pub fn from_config(c: &ServerConfig) -> Settings {
        let ms = |v: u32| Duration::from_millis(u64::from(v));
        Settings {
            max_header_bytes: c.max_header_bytes as usize,
            max_body_bytes: c.max_body_bytes as usize,
            header_timeout: ms(c.header_timeout_ms),
            body_timeout: ms(c.body_timeout_ms),
            idle_timeout: ms(c.idle_timeout_ms),
            write_timeout: ms(c.write_timeout_ms),
        }
    }
}

/// A complete request for a worker (the stream is blocking, with the write deadline set).
pub struct Ready {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub guard: ConnGuard,
    pub head: Head,
    pub body: Vec<u8>,
    /// Bytes that arrived after this request (pipelining).
    pub rest: Vec<u8>,
}

/// A keep-alive connection a worker gives back.
pub struct Returned {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub guard: ConnGuard,
    pub rest: Vec<u8>,
}

/// What the acceptor asks of the node before a request reaches a worker.
pub trait Gate: Send + Sync {
    /// None = authorised; Some(status) = refuse (401/403).
    fn authorize(&self, head: &Head) -> Option<u16>;
}

/// The channels a worker uses to give connections back.
#[derive(Clone)]
pub struct Handback {
    tx: Sender<Returned>,
    waker: Arc<Waker>,
}

impl Handback {
    /// Give a connection back (blocks only while the acceptor is behind; it drains every
    /// wake-up). A stopped acceptor just drops the connection.
    pub fn give(&self, r: Returned) {
        if self.tx.send(r).is_ok() {
            let _ = self.waker.wake();
        }
    }
}

enum Phase {
    /// Between requests (idle deadline).
    Idle,
    /// Reading a head (header deadline from its first byte).
    Head,
    /// Reading `need` more body bytes.
    Body {
        head: Head,
        body: Vec<u8>,
        need: usize,
    },
    /// An error answer was sent; discarding input until EOF or the linger deadline.
    Closing { discarded: usize },
}

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    guard: ConnGuard,
    buf: Vec<u8>,
    phase: Phase,
    deadline: Instant,
}

pub struct Acceptor {
    listener: TcpListener,
    poll: Poll,
    conns: HashMap<usize, Conn>,
    next_token: usize,
    settings: Settings,
    limiter: Arc<Limiter>,
    gate: Arc<dyn Gate>,
    jobs: Sender<Ready>,
    returned_rx: Receiver<Returned>,
    stop: Arc<AtomicBool>,
    accept_paused_until: Option<Instant>,
    /// A descriptor kept in reserve: on EMFILE it is closed to accept and refuse one
    /// connection, so clients get an answer instead of a hang.
    spare: Option<File>,
}

/// What `stop` needs to end the acceptor thread.
#[derive(Clone)]
pub struct StopHandle {
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl StopHandle {
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.waker.wake();
    }
}

impl Acceptor {
    /// `jobs` is the bounded queue the workers take requests from.
    pub fn new(
        listener: TcpListener,
        settings: Settings,
        limiter: Arc<Limiter>,
        gate: Arc<dyn Gate>,
        jobs: Sender<Ready>,
        workers: usize,
    ) -> std::io::Result<(Acceptor, Handback, StopHandle)> {
        listener.set_nonblocking(true)?;
        let poll = Poll::new()?;
        poll.registry().register(
            &mut SourceFd(&listener.as_raw_fd()),
            LISTENER,
            Interest::READABLE,
        )?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        // Each worker holds at most one connection, so this never fills for long.
        let (returned_tx, returned_rx) = crossbeam::channel::bounded(workers.max(1) * 2);
        let stop = Arc::new(AtomicBool::new(false));
        let handback = Handback {
            tx: returned_tx,
            waker: waker.clone(),
        };
        let stop_handle = StopHandle {
            stop: stop.clone(),
            waker: waker.clone(),
        };
        Ok((
            Acceptor {
                listener,
                poll,
                conns: HashMap::new(),
                next_token: 2,
                settings,
                limiter,
                gate,
                jobs,
                returned_rx,
                stop,
                accept_paused_until: None,
                spare: File::open("/dev/null").ok(),
            },
            handback,
            stop_handle,
        ))
    }

    /// Serve until stopped.
    pub fn run(mut self) {
        let mut events = Events::with_capacity(256);
        let mut next_sweep = Instant::now() + TICK;
        let mut next_prune = Instant::now() + Duration::from_secs(10);
        while !self.stop.load(Ordering::Relaxed) {
            if let Err(e) = self.poll.poll(&mut events, Some(TICK)) {
                if e.kind() != ErrorKind::Interrupted {
                    log::error!("acceptor poll failed: {e}");
                    std::thread::sleep(TICK);
                }
                continue;
            }
            for ev in events.iter() {
                match ev.token() {
                    LISTENER => {
                        self.guarded("accept", |a| a.accept_all());
                    }
                    WAKER => {}
                    Token(t) => self.on_readable(t),
                }
            }
            self.guarded("housekeeping", |a| {
                a.take_back();
                let now = Instant::now();
                if a.accept_paused_until.is_some_and(|u| now >= u) {
                    a.accept_paused_until = None;
                    a.accept_all();
                }
                if now >= next_sweep {
                    a.sweep(now);
                    next_sweep = now + TICK;
                }
                if now >= next_prune {
                    a.limiter.prune();
                    next_prune = now + Duration::from_secs(10);
                }
            });
        }
        // Dropping `self` closes every idle connection and the listener; the job queue's
        // sender goes too, so idle workers end.
    }

    /// Runs one step of the loop; a panic in it is logged and counted instead of ending
    /// the thread that every REST and WebSocket client needs. False if it panicked.
    fn guarded(&mut self, what: &str, f: impl FnOnce(&mut Acceptor)) -> bool {
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self))).is_ok();
        if !ok {
            log::error!("the acceptor panicked in {what}; it goes on");
        }
        ok
    }

    fn accept_all(&mut self) {
        if self.accept_paused_until.is_some() {
            return;
        }
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => self.admit(stream, peer),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    let out_of_fds = matches!(
                        e.raw_os_error(),
                        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
                    );
                    if !out_of_fds {
                        // ECONNABORTED and the like: that one connection is gone.
                        log::debug!("accept: {e}");
                        continue;
                    }
                    log::warn!("accept: {e}; refusing one connection and backing off");
                    self.shed_one();
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_BACKOFF);
                    return;
                }
            }
        }
    }

    /// Out of descriptors: free the spare, accept one pending connection, answer 503, and
    /// take the spare back.
    fn shed_one(&mut self) {
        count(&rejections().connections_total);
        self.spare = None;
        if let Ok((mut s, _)) = self.listener.accept() {
            let _ = s.write_all(&request::error_response(
                503,
                "Too many open connections",
                "/",
                &[("Retry-After", "1")],
            ));
        }
        self.spare = File::open("/dev/null").ok();
    }

    fn admit(&mut self, mut stream: TcpStream, peer: SocketAddr) {
        let guard = match self.limiter.admit_connection(peer.ip()) {
            Ok(g) => g,
            Err(status) => {
                let _ = stream.set_nonblocking(true);
                let _ = stream.write_all(&request::error_response(
                    status,
                    "Too many open connections",
                    "/",
                    &[("Retry-After", "1")],
                ));
                return;
            }
        };
        if stream.set_nonblocking(true).is_err() {
            return;
        }
        let _ = stream.set_nodelay(true);
        let deadline = Instant::now() + self.settings.header_timeout;
        self.register(
            Conn {
                stream,
                peer,
                guard,
                buf: Vec::new(),
                phase: Phase::Head,
                deadline,
            },
            true,
        );
    }

    fn register(&mut self, conn: Conn, read_now: bool) {
        let token = self.next_token;
        self.next_token = self.next_token.wrapping_add(1).max(2);
        let fd = conn.stream.as_raw_fd();
        if let Err(e) =
            self.poll
                .registry()
                .register(&mut SourceFd(&fd), Token(token), Interest::READABLE)
        {
            log::warn!("cannot watch a connection: {e}");
            return;
        }
        self.conns.insert(token, conn);
        if read_now {
            self.on_readable(token);
        }
    }

    /// Connections workers gave back: watched again, and any pipelined request served.
    fn take_back(&mut self) {
        while let Ok(r) = self.returned_rx.try_recv() {
            if r.stream.set_nonblocking(true).is_err() {
                continue;
            }
            let now = Instant::now();
            let (phase, deadline) = if r.rest.is_empty() {
                (Phase::Idle, now + self.settings.idle_timeout)
            } else {
                (Phase::Head, now + self.settings.header_timeout)
            };
            self.register(
                Conn {
                    stream: r.stream,
                    peer: r.peer,
                    guard: r.guard,
                    buf: r.rest,
                    phase,
                    deadline,
                },
                true,
            );
        }
    }

    fn close(&mut self, token: usize) {
        if let Some(c) = self.conns.remove(&token) {
            let _ = self
                .poll
                .registry()
                .deregister(&mut SourceFd(&c.stream.as_raw_fd()));
        }
    }

    fn sweep(&mut self, now: Instant) {
        let expired: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.deadline <= now)
            .map(|(t, _)| *t)
            .collect();
        for t in expired {
            if let Some(c) = self.conns.get(&t) {
                if matches!(c.phase, Phase::Head | Phase::Body { .. }) {
                    count(&rejections().timed_out);
                    log::debug!("{}: request not complete in time; closing", c.peer);
                }
            }
            self.close(t);
        }
    }

    /// Answer with an error, then linger briefly discarding input before closing.
    fn refuse(&mut self, token: usize, bytes: &[u8]) {
        let Some(c) = self.conns.get_mut(&token) else {
            return;
        };
        // Small answers fit the socket buffer; a client that does not take it loses it.
        let _ = c.stream.write_all(bytes);
        let _ = c.stream.shutdown(Shutdown::Write);
        c.buf = Vec::new();
        c.phase = Phase::Closing { discarded: 0 };
        c.deadline = Instant::now() + LINGER;
        self.on_readable(token);
    }

    /// Serves one connection; a panic while doing so drops that connection only.
    fn on_readable(&mut self, token: usize) {
        if !self.guarded("a connection", |a| a.read_conn(token)) {
            self.conns.remove(&token);
        }
    }

    fn read_conn(&mut self, token: usize) {
        let mut chunk = [0u8; CHUNK];
        loop {
            let Some(c) = self.conns.get_mut(&token) else {
                return;
            };
            // Serve what is already buffered before reading more.
            if matches!(c.phase, Phase::Head) && !c.buf.is_empty() {
                match self.try_head(token) {
                    Step::Continue => {}
                    Step::Done => return,
                }
            }
            let Some(c) = self.conns.get_mut(&token) else {
                return;
            };
            let n = match c.stream.read(&mut chunk) {
                Ok(0) => {
                    self.close(token);
                    return;
                }
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.close(token);
                    return;
                }
            };
            let data = &chunk[..n];
            match &mut c.phase {
                Phase::Closing { discarded } => {
                    *discarded += n;
                    if *discarded > LINGER_BYTES {
                        self.close(token);
                        return;
                    }
                }
                Phase::Idle => {
                    c.phase = Phase::Head;
                    c.deadline = Instant::now() + self.settings.header_timeout;
                    c.buf.extend_from_slice(data);
                }
                Phase::Head => c.buf.extend_from_slice(data),
                Phase::Body { body, need, .. } => {
                    let take = (*need).min(n);
                    body.extend_from_slice(&data[..take]);
                    *need -= take;
                    c.buf.extend_from_slice(&data[take..]);
                    if *need == 0 {
                        self.dispatch_body(token);
                        return;
                    }
                }
            }
        }
    }

    /// A head may be complete in `buf`: check it, then read its body or hand it over.
    fn try_head(&mut self, token: usize) -> Step {
        let max_head = self.settings.max_header_bytes;
        let Some(c) = self.conns.get_mut(&token) else {
            return Step::Done;
        };
        let (head, len) = match request::parse(&c.buf) {
            Ok(Some(x)) => x,
            Ok(None) if c.buf.len() > max_head => {
                count(&rejections().malformed);
                let r = request::error_response(431, "Request head too large", "/", &[]);
                self.refuse(token, &r);
                return Step::Done;
            }
            Ok(None) => return Step::Continue,
            Err(e) => {
                count(&rejections().malformed);
                let r = request::error_response(e.status(), e.message(), "/", &[]);
                self.refuse(token, &r);
                return Step::Done;
            }
        };
        if len > max_head {
            count(&rejections().malformed);
            let r = request::error_response(431, "Request head too large", "/", &[]);
            self.refuse(token, &r);
            return Step::Done;
        }
        let path = head.path().to_string();
        let ip = c.peer.ip();
        if let Err(refusal) = self.limiter.admit_request(ip) {
            let (secs, msg) = match refusal {
                Refusal::TooManyRequests(s) => (s, "Too many requests"),
                Refusal::AuthThrottled(s) => (s, "Too many failed authentications"),
            };
            let secs = secs.to_string();
            let r = request::error_response(429, msg, &path, &[("Retry-After", &secs)]);
            crate::telemetry::http_request(Some(&path), false, 429);
            self.refuse(token, &r);
            return Step::Done;
        }
        if let Some(status) = self.gate.authorize(&head) {
            self.limiter.auth_failed(ip);
            let r = request::response(status, None, b"", false, &[]);
            crate::telemetry::http_request(Some(&path), false, status);
            self.refuse(token, &r);
            return Step::Done;
        }
        if head.content_length > self.settings.max_body_bytes as u64 {
            count(&rejections().malformed);
            let msg = format!(
                "Request body exceeds {} bytes",
                self.settings.max_body_bytes
            );
            let r = request::error_response(413, &msg, &path, &[]);
            crate::telemetry::http_request(Some(&path), false, 413);
            self.refuse(token, &r);
            return Step::Done;
        }
        let Some(c) = self.conns.get_mut(&token) else {
            return Step::Done;
        };
        let need = head.content_length as usize;
        let rest = c.buf.split_off(len);
        c.buf = rest;
        let take = need.min(c.buf.len());
        // Sized by what arrived, never by the declared length.
        let mut body = Vec::with_capacity(take.max(need.min(CHUNK)));
        body.extend(c.buf.drain(..take));
        c.phase = Phase::Body {
            head,
            body,
            need: need - take,
        };
        c.deadline = Instant::now() + self.settings.body_timeout;
        if need > take {
            if let Phase::Body { head, .. } = &c.phase {
                // curl and others wait (1 s) for this before sending a larger body.
                if head
                    .header("Expect")
                    .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
                {
                    let _ = c.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
                }
            }
        }
        if need == take {
            self.dispatch_body(token);
            return Step::Done;
        }
        Step::Continue
    }

    /// The body is complete: hand the request to a worker.
    fn dispatch_body(&mut self, token: usize) {
        let Some(c) = self.conns.remove(&token) else {
            return;
        };
        let _ = self
            .poll
            .registry()
            .deregister(&mut SourceFd(&c.stream.as_raw_fd()));
        let Phase::Body { head, body, .. } = c.phase else {
            return;
        };
        if c.stream.set_nonblocking(false).is_err()
            || c.stream
                .set_write_timeout(Some(self.settings.write_timeout))
                .is_err()
        {
            return;
        }
        let ready = Ready {
            stream: c.stream,
            peer: c.peer,
            guard: c.guard,
            head,
            body,
            rest: c.buf,
        };
        match self.jobs.try_send(ready) {
            Ok(()) => {}
            Err(TrySendError::Full(mut r)) => {
                count(&rejections().rate_limited);
                crate::telemetry::http_request(Some(r.head.path()), false, 503);
                let _ = r.stream.write_all(&request::error_response(
                    503,
                    "All workers are busy",
                    r.head.path(),
                    &[("Retry-After", "1")],
                ));
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

enum Step {
    Continue,
    Done,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Panics on one path, as a bug in request handling would.
    struct PanickyGate;

    impl Gate for PanickyGate {
        fn authorize(&self, head: &Head) -> Option<u16> {
            assert!(head.path() != "/boom", "a bug in the gate");
            None
        }
    }

    fn get(addr: SocketAddr, path: &str) -> std::io::Result<Vec<u8>> {
        let mut s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(format!("GET {path} HTTP/1.1\r\nConnection: close\r\n\r\n").as_bytes())?;
        let mut out = Vec::new();
        s.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn a_panic_in_the_acceptor_costs_one_connection_not_the_thread() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let config = crate::config::Config::default();
        let (jobs_tx, jobs_rx) = crossbeam::channel::bounded::<Ready>(4);
        let (acceptor, _handback, stop) = Acceptor::new(
            listener,
            Settings::from_config(&config.server),
            Limiter::new(&config.server),
            Arc::new(PanickyGate),
            jobs_tx,
            1,
        )
        .unwrap();
        let thread = std::thread::spawn(move || acceptor.run());
        // A worker stand-in: answers every complete request with 200.
        let worker = std::thread::spawn(move || {
            while let Ok(mut r) = jobs_rx.recv() {
                let _ = r
                    .stream
                    .write_all(&request::response(200, None, b"ok", false, &[]));
            }
        });
        for _ in 0..3 {
            let answer = get(addr, "/boom").unwrap_or_default();
            assert!(answer.is_empty(), "the panicking request gets no answer");
            let answer = get(addr, "/fine").expect("the acceptor still serves");
            assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
        }
        assert!(!thread.is_finished());
        stop.stop();
        thread.join().unwrap();
        worker.join().unwrap();
    }
}
