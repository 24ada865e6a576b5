//! One voice connection's gateway: handshake, heartbeats, DAVE, resume/re-identify, and the
//! close-code policy (spec §2.3–§2.8). The first handshake runs on the `connect` caller's
//! thread; afterwards the shared voice I/O worker (`io`) drives it event by event.
//!
//! The gateway only does control work; audio goes from the pacer straight to UDP through the
//! `SendCore`, so a gateway drop and resume does not interrupt the media stream.

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam::channel::Sender;
use log::debug;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use tungstenite::Message;

use super::crypto::{Mode, TransportCipher};
use super::dave::{DaveState, KeyChange};
use super::gateway::{self, ServerMsg, Socket, TextFrame};
use super::udp::{self, SendCore, Update, SPEAK_NONE, SPEAK_OFF, SPEAK_ON};
use super::{VoiceError, VoiceServerInfo};
use crate::player::{GuildId, PlayerEvent, PlayerEventKind};

/// Resume attempts before falling back to a fresh identify, and the waits before each try.
pub const RESUME_ATTEMPTS: usize = 3;
pub const BACKOFF_MS: [u64; 5] = [50, 500, 1000, 2000, 4000];
/// Heartbeats without an ACK before the socket is considered dead (discord.js practice).
const MAX_UNACKED: u32 = 3;
const KEEPALIVE: Duration = Duration::from_secs(5);
/// Poll tokens: the gateway TCP socket, and the waker for close/speaking requests. Between
/// events the thread sleeps until its next heartbeat or keepalive, so idle connections cost
/// nothing.
const TOKEN_TCP: Token = Token(0);
const TOKEN_WAKE: Token = Token(1);
/// Retry interval for send-path updates that did not fit the ring (rare).
const RETRY: Duration = Duration::from_millis(20);

/// Close codes we resume on (§2.7, §8.9): transport-level closes, 4015 (voice server
/// crashed), 4009 (session timeout), and our own 4000 (zombie socket). Everything else ends the
/// connection and is reported.
pub fn is_retryable(code: u16) -> bool {
    code < 4000 || matches!(code, 4000 | 4009 | 4015)
}

/// Live state shared between the thread, the `VoiceConnection` and the sinks.
pub struct ConnShared {
    pub core: Arc<SendCore>,
    pub ping_ms: AtomicI64,
    /// The gateway session exists (handshake done, not terminally closed).
    pub alive: AtomicBool,
    pub close_requested: AtomicBool,
    pub resumes: AtomicU32,
    pub identifies: AtomicU32,
    /// Main-loop iterations (each one a service by the voice I/O worker); tests check idle cost.
    pub wakeups: AtomicU32,
    tcp: Mutex<Option<TcpStream>>,
    /// Wakes the voice I/O worker serving this connection.
    waker: Arc<Waker>,
    /// Wakes the connection's own poll while a handshake or reconnect blocks a thread on it.
    private_waker: Arc<Waker>,
}

impl ConnShared {
    pub fn request_close(&self) {
        self.close_requested.store(true, Ordering::Release);
        self.core.close();
        let _ = self.waker.wake();
        let _ = self.private_waker.wake();
    }

    /// Test hook: cut the TCP connection as a network failure would (the thread resumes).
    pub fn sever(&self) {
        if let Ok(g) = self.tcp.lock() {
            if let Some(t) = g.as_ref() {
                let _ = t.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

#[derive(Clone)]
pub struct Params {
    pub user_id: u64,
    pub guild_id: GuildId,
    pub channel_id: u64,
    pub info: VoiceServerInfo,
    pub url: String,
    pub max_dave_protocol_version: u16,
    pub connect_timeout: Duration,
}

enum Step {
    Msg(Incoming),
    Ignored,
    Empty,
}

enum Incoming {
    Text(TextFrame),
    Binary(Vec<u8>),
}

/// Why the socket went away.
#[derive(Debug, Clone)]
pub struct Closed {
    pub code: u16,
    pub reason: String,
    pub by_remote: bool,
}

#[derive(Debug)]
enum HsError {
    Closed(Closed),
    Other(VoiceError),
}

impl From<VoiceError> for HsError {
    fn from(e: VoiceError) -> Self {
        HsError::Other(e)
    }
}

impl HsError {
    fn into_voice_error(self) -> VoiceError {
        match self {
            HsError::Closed(c) => VoiceError::Closed {
                code: c.code,
                reason: c.reason,
            },
            HsError::Other(e) => e,
        }
    }
}

/// Runs the first handshake on the caller's thread (the blocking `connect` API waits for it
/// anyway) and returns the live gateway, ready to be handed to a voice I/O worker. `io_waker`
/// wakes that worker: the send path uses it for speaking changes, `close()` for closing.
pub fn handshake(
    p: Params,
    events: Sender<PlayerEvent>,
    io_waker: Arc<Waker>,
) -> Result<Box<Gateway>, VoiceError> {
    let poll = Poll::new().map_err(VoiceError::Io)?;
    let private_waker = Arc::new(Waker::new(poll.registry(), TOKEN_WAKE).map_err(VoiceError::Io)?);
    let (core, updates) = SendCore::with_waker(Some(io_waker.clone()));
    let shared = Arc::new(ConnShared {
        core,
        ping_ms: AtomicI64::new(-1),
        alive: AtomicBool::new(false),
        close_requested: AtomicBool::new(false),
        resumes: AtomicU32::new(0),
        identifies: AtomicU32::new(0),
        wakeups: AtomicU32::new(0),
        tcp: Mutex::new(None),
        waker: io_waker,
        private_waker,
    });
    let mut gw = Box::new(Gateway::new(p, shared, updates, events, poll));
    match gw.identify() {
        Ok(()) => {
            gw.shared.alive.store(true, Ordering::Release);
            gw.emit(PlayerEventKind::VoiceReady);
            Ok(gw)
        }
        Err(e) => {
            if let HsError::Closed(c) = &e {
                if c.by_remote {
                    gw.emit(PlayerEventKind::VoiceClosed {
                        code: c.code,
                        reason: c.reason.clone(),
                        by_remote: true,
                    });
                }
            }
            gw.finish();
            Err(e.into_voice_error())
        }
    }
}

pub struct Gateway {
    p: Params,
    shared: Arc<ConnShared>,
    updates: rtrb::Producer<Update>,
    overflow: VecDeque<Update>,
    events: Sender<PlayerEvent>,
    ws: Option<Socket>,
    tcp: Option<TcpStream>,
    seq_ack: i64,
    hb_interval: Duration,
    next_hb: Instant,
    last_hb: Option<(u64, Instant)>,
    unacked: u32,
    ssrc: u32,
    udp: Option<UdpSocket>,
    next_keepalive: Instant,
    dave: DaveState,
    backlog: VecDeque<Incoming>,
    speaking: u8,
    out: Vec<Message>,
    poll: Poll,
    poll_events: Events,
    /// The gateway's address from the first handshake: reconnects on the worker must not
    /// block on DNS.
    peer: Option<SocketAddr>,
    /// A resume the voice I/O worker drives without blocking (see `start_resume`).
    resuming: Option<Resuming>,
}

type MidWs = tungstenite::handshake::MidHandshake<
    tungstenite::ClientHandshake<tungstenite::stream::MaybeTlsStream<mio::net::TcpStream>>,
>;

enum Resuming {
    Connecting(mio::net::TcpStream),
    Handshake(Box<MidWs>),
    AwaitResumed,
}

/// Progress of a non-blocking resume.
pub enum Drive {
    Pending,
    Ready,
    /// Some = the server closed with that code; None = any other failure.
    Failed(Option<Closed>),
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Gateway {
    fn new(
        p: Params,
        shared: Arc<ConnShared>,
        updates: rtrb::Producer<Update>,
        events: Sender<PlayerEvent>,
        poll: Poll,
    ) -> Gateway {
        let dave = DaveState::new(p.user_id, p.channel_id);
        Gateway {
            p,
            shared,
            updates,
            overflow: VecDeque::new(),
            events,
            ws: None,
            tcp: None,
            seq_ack: -1,
            hb_interval: Duration::from_secs(30),
            next_hb: Instant::now() + Duration::from_secs(30),
            last_hb: None,
            unacked: 0,
            ssrc: 0,
            udp: None,
            next_keepalive: Instant::now() + KEEPALIVE,
            dave,
            backlog: VecDeque::new(),
            speaking: 0,
            out: Vec::new(),
            poll,
            poll_events: Events::with_capacity(8),
            peer: None,
            resuming: None,
        }
    }

    fn emit(&self, kind: PlayerEventKind) {
        let _ = self.events.send(PlayerEvent {
            guild_id: self.p.guild_id,
            kind,
        });
    }

    pub fn finish(&mut self) {
        self.shared.core.close();
        self.shared.alive.store(false, Ordering::Release);
        self.shared.ping_ms.store(-1, Ordering::Relaxed);
        self.ws = None;
        if let Ok(mut g) = self.shared.tcp.lock() {
            *g = None;
        }
    }

    /// One reconnect attempt (`attempt` counts from 0): resume for the first few, then a
    /// fresh identify. Blocks for the socket set-up, so the worker runs it on a helper thread;
    /// the waits between attempts are the worker's timers. Err(Some) = the server closed with
    /// that code, Err(None) = any other failure (already logged).
    pub fn reconnect_attempt(&mut self, attempt: usize) -> Result<(), Option<Closed>> {
        let r = if attempt < RESUME_ATTEMPTS {
            self.resume()
        } else {
            self.identify()
        };
        match r {
            Ok(()) => Ok(()),
            Err(HsError::Closed(c)) => {
                debug!(
                    "voice {}: reconnect attempt {} closed with {}",
                    self.p.guild_id,
                    attempt + 1,
                    c.code
                );
                Err(Some(c))
            }
            Err(HsError::Other(e)) => {
                debug!(
                    "voice {}: reconnect attempt {} failed: {e}",
                    self.p.guild_id,
                    attempt + 1
                );
                Err(None)
            }
        }
    }

    /// Forgets the current gateway socket (deregistered before its fd can be reused).
    pub fn drop_socket(&mut self) {
        self.resuming = None;
        if let Some(t) = self.tcp.take() {
            let _ = self
                .poll
                .registry()
                .deregister(&mut SourceFd(&t.as_raw_fd()));
        }
        self.ws = None;
    }

    /// Opens a new gateway socket; the blocking connect and WebSocket handshake get at most
    /// the time left until `deadline`, so `connect` keeps its overall timeout.
    fn open(&mut self, deadline: Instant) -> Result<(), HsError> {
        self.drop_socket();
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(10));
        let (ws, tcp) = gateway::connect(&self.p.url, left)?;
        // The WebSocket handshake ran blocking; from here reads are non-blocking and waits
        // happen in `poll`, so heartbeats, close and speaking requests are never delayed.
        tcp.set_nonblocking(true).map_err(VoiceError::Io)?;
        self.poll
            .registry()
            .register(
                &mut SourceFd(&tcp.as_raw_fd()),
                TOKEN_TCP,
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(VoiceError::Io)?;
        if let Ok(mut g) = self.shared.tcp.lock() {
            *g = tcp.try_clone().ok();
        }
        self.peer = tcp.peer_addr().ok().or(self.peer);
        self.ws = Some(ws);
        self.tcp = Some(tcp);
        // A new socket heartbeats one interval after its own Hello, not on the old schedule.
        self.next_hb = Instant::now() + Duration::from_secs(3600);
        self.last_hb = None;
        self.unacked = 0;
        Ok(())
    }

    fn send(&mut self, m: Message) -> Result<(), Closed> {
        let Some(ws) = self.ws.as_mut() else {
            return Err(Closed {
                code: 1006,
                reason: String::new(),
                by_remote: false,
            });
        };
        match ws.send(m) {
            Ok(()) => Ok(()),
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => {
                debug!("voice {}: send failed: {e}", self.p.guild_id);
                Err(Closed {
                    code: 1006,
                    reason: String::new(),
                    by_remote: false,
                })
            }
        }
    }

    fn flush_out(&mut self) -> Result<(), Closed> {
        let out = std::mem::take(&mut self.out);
        for m in out {
            self.send(m)?;
        }
        Ok(())
    }

    /// Reads one message, waiting at most `timeout`. Ok(None) on timeout. The socket is read
    /// until it would block before sleeping: mio is edge-triggered.
    fn read(&mut self, timeout: Duration) -> Result<Option<Incoming>, Closed> {
        if let Some(ws) = self.ws.as_mut() {
            // Push out anything a previous non-blocking write left buffered.
            let _ = ws.flush();
        }
        loop {
            match self.try_read()? {
                Step::Msg(m) => return Ok(Some(m)),
                Step::Ignored => continue,
                Step::Empty => break,
            }
        }
        if timeout.is_zero() {
            return Ok(None);
        }
        match self.poll.poll(&mut self.poll_events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                return Err(Closed {
                    code: 1006,
                    reason: String::new(),
                    by_remote: false,
                })
            }
        }
        loop {
            match self.try_read()? {
                Step::Msg(m) => return Ok(Some(m)),
                Step::Ignored => continue,
                Step::Empty => return Ok(None),
            }
        }
    }

    /// One non-blocking read.
    fn try_read(&mut self) -> Result<Step, Closed> {
        let dropped = || Closed {
            code: 1006,
            reason: String::new(),
            by_remote: true,
        };
        let Some(ws) = self.ws.as_mut() else {
            return Err(dropped());
        };
        match ws.read() {
            Ok(Message::Text(t)) => match gateway::parse_text(t.as_str()) {
                Ok(f) => {
                    if let Some(s) = f.seq {
                        self.seq_ack = s;
                    }
                    Ok(Step::Msg(Incoming::Text(f)))
                }
                Err(e) => {
                    debug!("voice {}: ignoring gateway message: {e}", self.p.guild_id);
                    Ok(Step::Ignored)
                }
            },
            Ok(Message::Binary(b)) => match gateway::parse_binary(&b) {
                Some(f) => {
                    self.seq_ack = f.seq as i64;
                    Ok(Step::Msg(Incoming::Binary(b.to_vec())))
                }
                None => Ok(Step::Ignored),
            },
            Ok(Message::Close(frame)) => {
                let (code, reason) = gateway::close_info(frame.as_ref());
                Err(Closed {
                    code,
                    reason,
                    by_remote: true,
                })
            }
            Ok(_) => Ok(Step::Ignored),
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(Step::Empty)
            }
            Err(_) => Err(dropped()),
        }
    }

    fn on_hello(&mut self, interval_ms: f64) {
        self.hb_interval = Duration::from_secs_f64((interval_ms / 1000.0).clamp(0.05, 600.0));
        self.next_hb = Instant::now() + self.hb_interval;
        self.last_hb = None;
        self.unacked = 0;
    }

    fn on_ack(&mut self, nonce: Option<u64>) {
        if let Some((sent, at)) = self.last_hb {
            if nonce.is_none() || nonce == Some(sent) {
                let rtt = at.elapsed().as_millis() as i64;
                self.shared.ping_ms.store(rtt, Ordering::Relaxed);
                self.last_hb = None;
                self.unacked = 0;
            }
        }
    }

    /// Timers: heartbeat (with zombie detection), UDP drain and keepalive, speaking requests,
    /// pending send-path updates.
    fn periodic(&mut self) -> Result<(), Closed> {
        let now = Instant::now();
        if now >= self.next_hb {
            if self.last_hb.is_some() {
                self.unacked += 1;
                if self.unacked >= MAX_UNACKED {
                    return Err(Closed {
                        code: 4000,
                        reason: "heartbeat timeout".into(),
                        by_remote: false,
                    });
                }
            }
            let nonce = unix_ms();
            let seq_ack = self.seq_ack;
            self.send(gateway::heartbeat(nonce, seq_ack))?;
            self.last_hb = Some((nonce, now));
            self.next_hb = now + self.hb_interval;
        }
        match self
            .shared
            .core
            .speak_request
            .swap(SPEAK_NONE, Ordering::AcqRel)
        {
            SPEAK_ON if self.speaking == 0 && self.ssrc != 0 => {
                self.speaking = 1;
                self.send(gateway::speaking(1, self.ssrc))?;
                self.shared
                    .core
                    .speaking_sent
                    .store(true, Ordering::Release);
            }
            SPEAK_OFF if self.speaking != 0 && self.ssrc != 0 => {
                self.speaking = 0;
                self.shared
                    .core
                    .speaking_sent
                    .store(false, Ordering::Release);
                self.send(gateway::speaking(0, self.ssrc))?;
            }
            _ => {}
        }
        self.service_udp();
        Ok(())
    }

    pub fn service_udp(&mut self) {
        if let Some(sock) = self.udp.as_ref() {
            udp::drain(sock);
            if Instant::now() >= self.next_keepalive {
                udp::keepalive(sock, self.ssrc);
                self.next_keepalive = Instant::now() + KEEPALIVE;
            }
        }
        while let Some(u) = self.overflow.pop_front() {
            if let Err(rtrb::PushError::Full(u)) = self.updates.push(u) {
                self.overflow.push_front(u);
                break;
            }
        }
    }

    fn publish(&mut self, u: Update) {
        if !self.overflow.is_empty() {
            self.overflow.push_back(u);
            return;
        }
        if let Err(rtrb::PushError::Full(u)) = self.updates.push(u) {
            self.overflow.push_back(u);
        }
    }

    fn apply_key(&mut self, change: Option<KeyChange>) {
        match change {
            Some(KeyChange::Set(enc)) => self.publish(Update::Dave(Some(enc))),
            Some(KeyChange::Clear) => self.publish(Update::Dave(None)),
            None => {}
        }
    }

    /// Waits for a message matching `want`, queueing others for later (in order) and answering
    /// heartbeats meanwhile.
    fn await_msg(
        &mut self,
        deadline: Instant,
        want: impl Fn(&ServerMsg) -> bool,
    ) -> Result<ServerMsg, HsError> {
        loop {
            if self.closing() {
                return Err(HsError::Other(VoiceError::Shutdown));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(HsError::Other(VoiceError::Timeout));
            }
            self.periodic().map_err(HsError::Closed)?;
            let wait = (deadline - now).min(self.next_hb.saturating_duration_since(now));
            match self.read(wait).map_err(HsError::Closed)? {
                Some(Incoming::Text(f)) => match f.msg {
                    ServerMsg::Hello {
                        heartbeat_interval_ms,
                    } => {
                        self.on_hello(heartbeat_interval_ms);
                        if want(&f.msg) {
                            return Ok(f.msg);
                        }
                    }
                    ServerMsg::HeartbeatAck { nonce } => self.on_ack(nonce),
                    ref m if want(m) => return Ok(f.msg),
                    _ => self.backlog.push_back(Incoming::Text(f)),
                },
                Some(b @ Incoming::Binary(_)) => self.backlog.push_back(b),
                None => {}
            }
        }
    }

    fn identify(&mut self) -> Result<(), HsError> {
        self.shared.identifies.fetch_add(1, Ordering::Relaxed);
        let deadline = Instant::now() + self.p.connect_timeout;
        self.backlog.clear();
        self.seq_ack = -1;
        self.open(deadline)?;
        let p = &self.p;
        let m = gateway::identify(
            p.guild_id,
            p.user_id,
            &p.info.session_id,
            &p.info.token,
            p.max_dave_protocol_version,
        );
        self.send(m).map_err(HsError::Closed)?;
        // Hello and Ready in either order.
        let mut hello = false;
        let mut ready = None;
        while !hello || ready.is_none() {
            match self.await_msg(deadline, |m| {
                matches!(m, ServerMsg::Hello { .. } | ServerMsg::Ready { .. })
            })? {
                ServerMsg::Hello { .. } => hello = true,
                r @ ServerMsg::Ready { .. } => ready = Some(r),
                _ => {}
            }
        }
        let Some(ServerMsg::Ready {
            ssrc,
            ip,
            port,
            modes,
        }) = ready
        else {
            return Err(HsError::Other(VoiceError::Protocol("no Ready".into())));
        };
        let Some(mode) = Mode::choose(&modes) else {
            let _ = self.send(gateway::close_frame(4016, "no supported encryption mode"));
            return Err(HsError::Other(VoiceError::Protocol(format!(
                "no supported encryption mode in {modes:?}"
            ))));
        };
        let server: SocketAddr = (ip.as_str(), port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| VoiceError::Protocol(format!("bad media address {ip}:{port}")))?;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let (sock, ext_ip, ext_port) =
            udp::discover(server, ssrc, remaining).map_err(VoiceError::Io)?;
        self.send(gateway::select_protocol(
            &ext_ip.to_string(),
            ext_port,
            mode.as_str(),
        ))
        .map_err(HsError::Closed)?;
        let ServerMsg::SessionDescription {
            mode: got,
            secret_key,
            dave_protocol_version,
        } = self.await_msg(deadline, |m| {
            matches!(m, ServerMsg::SessionDescription { .. })
        })?
        else {
            return Err(HsError::Other(VoiceError::Protocol(
                "no Session Description".into(),
            )));
        };
        if got != mode.as_str() {
            return Err(HsError::Other(VoiceError::Protocol(format!(
                "server chose mode {got}, we selected {}",
                mode.as_str()
            ))));
        }
        self.ssrc = ssrc;
        // A fresh session: new DAVE state (the old group belongs to the old session).
        self.dave = DaveState::new(self.p.user_id, self.p.channel_id);
        self.dave
            .on_session_description(dave_protocol_version, &mut self.out);
        self.flush_out().map_err(HsError::Closed)?;
        // Speaking before any RTP with this SSRC can leave: the send path learns the SSRC and
        // key only after this.
        self.speaking = 1;
        self.send(gateway::speaking(1, ssrc))
            .map_err(HsError::Closed)?;
        let pacer_sock = sock.try_clone().map_err(VoiceError::Io)?;
        self.publish(Update::Dave(None));
        self.publish(Update::Transport {
            socket: pacer_sock,
            ssrc,
            cipher: TransportCipher::new(mode, &secret_key),
        });
        self.udp = Some(sock);
        self.shared.core.set_ready(true);
        debug!(
            "voice {}: ready ssrc={ssrc} mode={} dave={dave_protocol_version}",
            self.p.guild_id,
            mode.as_str()
        );
        self.process_backlog().map_err(HsError::Closed)?;
        Ok(())
    }

    fn resume(&mut self) -> Result<(), HsError> {
        self.shared.resumes.fetch_add(1, Ordering::Relaxed);
        let deadline = Instant::now() + self.p.connect_timeout;
        self.backlog.clear();
        self.open(deadline)?;
        let m = gateway::resume(
            self.p.guild_id,
            &self.p.info.session_id,
            &self.p.info.token,
            self.seq_ack,
        );
        self.send(m).map_err(HsError::Closed)?;
        self.await_msg(deadline, |m| matches!(m, ServerMsg::Resumed))?;
        if self.speaking != 0 {
            self.send(gateway::speaking(self.speaking, self.ssrc))
                .map_err(HsError::Closed)?;
        }
        debug!("voice {}: resumed", self.p.guild_id);
        self.process_backlog().map_err(HsError::Closed)?;
        Ok(())
    }

    fn process_backlog(&mut self) -> Result<(), Closed> {
        while let Some(m) = self.backlog.pop_front() {
            self.handle(m)?;
        }
        Ok(())
    }

    fn handle(&mut self, m: Incoming) -> Result<(), Closed> {
        let change = match m {
            Incoming::Text(f) => match f.msg {
                ServerMsg::HeartbeatAck { nonce } => {
                    self.on_ack(nonce);
                    None
                }
                ServerMsg::Hello {
                    heartbeat_interval_ms,
                } => {
                    self.on_hello(heartbeat_interval_ms);
                    None
                }
                ServerMsg::ClientsConnect { user_ids } => {
                    self.dave.on_clients_connect(&user_ids);
                    None
                }
                ServerMsg::ClientDisconnect { user_id } => {
                    self.dave.on_client_disconnect(user_id);
                    None
                }
                ServerMsg::DavePrepareTransition {
                    transition_id,
                    protocol_version,
                } => {
                    self.dave
                        .on_prepare_transition(transition_id, protocol_version, &mut self.out)
                }
                ServerMsg::DaveExecuteTransition { transition_id } => {
                    self.dave.on_execute_transition(transition_id)
                }
                ServerMsg::DavePrepareEpoch {
                    epoch,
                    protocol_version,
                } => {
                    self.dave
                        .on_prepare_epoch(epoch, protocol_version, &mut self.out);
                    None
                }
                _ => None,
            },
            Incoming::Binary(b) => match gateway::parse_binary(&b) {
                Some(f) => self.dave.on_binary(f.op, f.payload, &mut self.out),
                None => None,
            },
        };
        self.apply_key(change);
        self.flush_out()
    }

    pub fn connect_timeout(&self) -> Duration {
        self.p.connect_timeout
    }

    /// Starts a resume without blocking: a non-blocking TCP connect to the known gateway
    /// address. The worker registers `tcp_fd()` and calls `drive_resume` on its events.
    pub fn start_resume(&mut self) -> Result<(), Option<Closed>> {
        use std::os::fd::{FromRawFd, IntoRawFd};
        self.shared.resumes.fetch_add(1, Ordering::Relaxed);
        self.backlog.clear();
        self.drop_socket();
        let addr = self.peer.ok_or(None)?;
        let stream = mio::net::TcpStream::connect(addr).map_err(|_| None)?;
        // SAFETY: the fd comes straight from `into_raw_fd`, so we own it exactly once.
        let std_stream = unsafe { TcpStream::from_raw_fd(stream.into_raw_fd()) };
        std_stream.set_nodelay(true).ok();
        let handle = std_stream.try_clone().map_err(|_| None)?;
        if let Ok(mut g) = self.shared.tcp.lock() {
            *g = handle.try_clone().ok();
        }
        self.tcp = Some(handle);
        self.resuming = Some(Resuming::Connecting(mio::net::TcpStream::from_std(
            std_stream,
        )));
        self.next_hb = Instant::now() + Duration::from_secs(3600);
        self.last_hb = None;
        self.unacked = 0;
        Ok(())
    }

    /// Advances the resume started by `start_resume` as far as the socket allows.
    pub fn drive_resume(&mut self) -> Drive {
        loop {
            let hs = match self.resuming.take() {
                None => return Drive::Failed(None),
                Some(Resuming::Connecting(s)) => {
                    match s.take_error() {
                        Ok(None) => {}
                        _ => return Drive::Failed(None),
                    }
                    match s.peer_addr() {
                        Ok(_) => {}
                        Err(e)
                            if e.kind() == io::ErrorKind::NotConnected
                                || e.raw_os_error() == Some(libc::EINPROGRESS) =>
                        {
                            self.resuming = Some(Resuming::Connecting(s));
                            return Drive::Pending;
                        }
                        Err(_) => return Drive::Failed(None),
                    }
                    tungstenite::client_tls_with_config(
                        self.p.url.as_str(),
                        s,
                        Some(gateway::ws_config()),
                        None,
                    )
                }
                Some(Resuming::Handshake(mid)) => (*mid).handshake(),
                Some(Resuming::AwaitResumed) => return self.await_resumed(),
            };
            match hs {
                Ok((ws, _)) => {
                    self.ws = Some(ws);
                    let m = gateway::resume(
                        self.p.guild_id,
                        &self.p.info.session_id,
                        &self.p.info.token,
                        self.seq_ack,
                    );
                    if let Err(c) = self.send(m) {
                        return Drive::Failed(Some(c));
                    }
                    self.resuming = Some(Resuming::AwaitResumed);
                }
                Err(tungstenite::HandshakeError::Interrupted(mid)) => {
                    self.resuming = Some(Resuming::Handshake(Box::new(mid)));
                    return Drive::Pending;
                }
                Err(tungstenite::HandshakeError::Failure(e)) => {
                    debug!("voice {}: resume handshake failed: {e}", self.p.guild_id);
                    return Drive::Failed(None);
                }
            }
        }
    }

    fn await_resumed(&mut self) -> Drive {
        if let Some(ws) = self.ws.as_mut() {
            let _ = ws.flush();
        }
        loop {
            let m = match self.try_read() {
                Err(c) => return Drive::Failed(Some(c)),
                Ok(Step::Empty) => {
                    self.resuming = Some(Resuming::AwaitResumed);
                    return Drive::Pending;
                }
                Ok(Step::Ignored) => continue,
                Ok(Step::Msg(m)) => m,
            };
            match m {
                Incoming::Text(f) => match f.msg {
                    ServerMsg::Hello {
                        heartbeat_interval_ms,
                    } => self.on_hello(heartbeat_interval_ms),
                    ServerMsg::HeartbeatAck { nonce } => self.on_ack(nonce),
                    ServerMsg::Resumed => {
                        if self.speaking != 0 {
                            if let Err(c) = self.send(gateway::speaking(self.speaking, self.ssrc)) {
                                return Drive::Failed(Some(c));
                            }
                        }
                        debug!("voice {}: resumed", self.p.guild_id);
                        if let Err(c) = self.process_backlog() {
                            return Drive::Failed(Some(c));
                        }
                        return Drive::Ready;
                    }
                    _ => self.backlog.push_back(Incoming::Text(f)),
                },
                b @ Incoming::Binary(_) => self.backlog.push_back(b),
            }
        }
    }

    pub fn guild_id(&self) -> GuildId {
        self.p.guild_id
    }

    pub fn shared(&self) -> &Arc<ConnShared> {
        &self.shared
    }

    pub fn closing(&self) -> bool {
        self.shared.close_requested.load(Ordering::Acquire)
    }

    /// Something for the worker to do without a socket event (close or speaking request).
    pub fn has_request(&self) -> bool {
        self.closing() || self.shared.core.speak_request.load(Ordering::Acquire) != SPEAK_NONE
    }

    /// The gateway TCP socket's fd, for registering with a worker's poll.
    pub fn tcp_fd(&self) -> Option<RawFd> {
        self.tcp.as_ref().map(|t| t.as_raw_fd())
    }

    /// Takes the socket off the connection's private poll so a worker's poll can own it.
    pub fn detach_private(&mut self) {
        if let Some(t) = self.tcp.as_ref() {
            let _ = self
                .poll
                .registry()
                .deregister(&mut SourceFd(&t.as_raw_fd()));
        }
    }

    /// When the worker must next service this connection without a socket event.
    pub fn next_due(&self) -> Instant {
        let due = self.next_hb.min(self.next_keepalive);
        if self.overflow.is_empty() {
            due
        } else {
            due.min(Instant::now() + RETRY)
        }
    }

    /// One worker service: timers and requests, then every message the (edge-triggered)
    /// socket has. Err = the socket is gone and the connection must reconnect or end.
    pub fn step(&mut self) -> Result<(), Closed> {
        self.shared.wakeups.fetch_add(1, Ordering::Relaxed);
        self.periodic()?;
        if let Some(ws) = self.ws.as_mut() {
            // Push out anything a previous non-blocking write left buffered.
            let _ = ws.flush();
        }
        loop {
            match self.try_read()? {
                Step::Msg(m) => self.handle(m)?,
                Step::Ignored => continue,
                Step::Empty => return Ok(()),
            }
        }
    }

    /// Closed by us (connection dropped or replaced): 1000 and no event, like Lavalink
    /// destroying its own connection.
    pub fn close_local(&mut self) {
        if let Some(ws) = self.ws.as_mut() {
            let _ = ws.send(gateway::close_frame(1000, ""));
        }
        self.finish();
    }

    /// The connection ended for good: report it.
    pub fn close_final(&mut self, c: Closed) {
        self.shared.core.close();
        self.shared.alive.store(false, Ordering::Release);
        self.shared.ping_ms.store(-1, Ordering::Relaxed);
        self.emit(PlayerEventKind::VoiceClosed {
            code: c.code,
            reason: c.reason,
            by_remote: c.by_remote,
        });
        self.finish();
    }
}
