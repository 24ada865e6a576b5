//! A fake Discord voice server on loopback: a v8 gateway (tungstenite, ws://) and a UDP media
//! endpoint that answers IP discovery, decrypts every RTP packet (both rtpsize AEAD modes,
//! written here independently of Basalt's code), runs DAVE as Discord does (external sender,
//! proposals, in-process members that decrypt), and records everything for assertions.
//! Plain threads, no async.

#![allow(dead_code)]

pub mod dave;

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::Aes256Gcm;
use chacha20poly1305::XChaCha20Poly1305;
use crossbeam::channel::{Receiver, Sender};
use serde_json::{json, Value};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};

use dave::FakeDave;

pub const AES: &str = "aead_aes256_gcm_rtpsize";
pub const XCHACHA: &str = "aead_xchacha20_poly1305_rtpsize";

#[derive(Clone)]
pub struct FakeConfig {
    pub modes: Vec<String>,
    /// Session Description's `dave_protocol_version` (0 or 1).
    pub dave: bool,
    /// Send op 25 before op 4 (tests the client's buffering) instead of after.
    pub ext_sender_early: bool,
    /// Member ids that join (a second member that decrypts) once the node sent its key package.
    pub peers: Vec<u64>,
    pub heartbeat_ms: u64,
    /// Send Ready before Hello.
    pub ready_first: bool,
    /// Close with 4017 if Identify's max_dave_protocol_version is 0.
    pub require_dave: bool,
    /// The first peer already has a group and invites the node (op 30 Welcome) instead of the
    /// node committing the peer's add.
    pub peer_has_group: bool,
    /// Answer every Resume by closing with this code (resume refused).
    pub reject_resume: Option<u16>,
    pub guild_id: u64,
    pub user_id: u64,
    pub session_id: String,
    pub token: String,
    pub channel_id: u64,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            modes: vec!["xsalsa20_poly1305".into(), XCHACHA.into(), AES.into()],
            dave: false,
            ext_sender_early: false,
            peers: Vec::new(),
            heartbeat_ms: 250,
            ready_first: false,
            require_dave: false,
            reject_resume: None,
            peer_has_group: false,
            guild_id: 111_222_333_444_555_666,
            user_id: 900_000_000_000_000_001,
            session_id: "sess-abc".into(),
            token: "tok-xyz".into(),
            channel_id: 777_888_999_000_111_222,
        }
    }
}

/// One decrypted RTP packet.
#[derive(Clone, Debug)]
pub struct Packet {
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub at: Instant,
    /// Transport plaintext (the DAVE frame when end-to-end encrypted).
    pub payload: Vec<u8>,
    /// The Opus frame after DAVE decryption (== payload when not DAVE-encrypted).
    pub opus: Option<Vec<u8>>,
    pub e2ee: bool,
    pub decrypted_by: Vec<u64>,
}

#[derive(Default)]
pub struct State {
    pub errors: Vec<String>,
    pub connections: u32,
    pub identifies: u32,
    pub resumes: u32,
    pub resume_seq_acks: Vec<(i64, i64)>,
    pub identify_max_dave: Option<i64>,
    pub selected: Option<(String, u16, String)>,
    pub discovered: Option<SocketAddr>,
    pub ssrc: u32,
    pub key: [u8; 32],
    pub mode: String,
    pub speaking: Vec<(u64, Instant)>,
    pub heartbeats: u32,
    pub last_seq: i64,
    pub last_sent_at: Option<Instant>,
    pub packets: Vec<Packet>,
    pub short_datagrams: u32,
    pub op23: Vec<u16>,
    pub op31: Vec<u16>,
    pub key_packages: u32,
    pub dave: Option<FakeDave>,
    pub closes_sent: Vec<u16>,
    /// Close codes the client sent.
    pub client_closes: Vec<u16>,
}

enum Cmd {
    Close(u16, String),
    DropTcp,
    AddMember(u64),
    RemoveMember(u64),
    Downgrade,
    BadCommit,
    PrepareEpoch,
    Raw(Message),
}

pub struct FakeVoice {
    pub endpoint: String,
    pub config: FakeConfig,
    state: Arc<Mutex<State>>,
    cmds: Sender<Cmd>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl FakeVoice {
    pub fn start(config: FakeConfig) -> FakeVoice {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind ws");
        listener.set_nonblocking(true).expect("nonblocking");
        let ws_port = listener.local_addr().expect("addr").port();
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        udp.set_read_timeout(Some(Duration::from_millis(10)))
            .expect("timeout");
        let udp_port = udp.local_addr().expect("addr").port();
        let mut st = State {
            last_seq: -1,
            ..State::default()
        };
        if config.dave {
            st.dave = Some(FakeDave::new(config.channel_id, config.user_id));
        }
        let state = Arc::new(Mutex::new(st));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = crossbeam::channel::unbounded();
        let mut threads = Vec::new();
        {
            let (state, stop) = (state.clone(), stop.clone());
            threads.push(fake_thread(move || udp_loop(udp, state, stop)));
        }
        {
            let (state, stop, cfg) = (state.clone(), stop.clone(), config.clone());
            threads.push(fake_thread(move || {
                accept_loop(listener, cfg, udp_port, state, stop, rx)
            }));
        }
        FakeVoice {
            endpoint: format!("ws://127.0.0.1:{ws_port}"),
            config,
            state,
            cmds: tx,
            stop,
            threads,
        }
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Polls `cond` until true or `timeout`.
    pub fn wait(&self, timeout: Duration, cond: impl Fn(&State) -> bool) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if cond(&self.state()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        cond(&self.state())
    }

    pub fn close_with(&self, code: u16, reason: &str) {
        let _ = self.cmds.send(Cmd::Close(code, reason.to_string()));
    }
    pub fn drop_tcp(&self) {
        let _ = self.cmds.send(Cmd::DropTcp);
    }
    pub fn add_member(&self, user: u64) {
        let _ = self.cmds.send(Cmd::AddMember(user));
    }
    pub fn remove_member(&self, user: u64) {
        let _ = self.cmds.send(Cmd::RemoveMember(user));
    }
    pub fn downgrade(&self) {
        let _ = self.cmds.send(Cmd::Downgrade);
    }
    pub fn bad_commit(&self) {
        let _ = self.cmds.send(Cmd::BadCommit);
    }
    /// op 24 epoch 1: the group is recreated; the client must send a new key package.
    pub fn prepare_epoch(&self) {
        let _ = self.cmds.send(Cmd::PrepareEpoch);
    }
    pub fn send_raw(&self, m: Message) {
        let _ = self.cmds.send(Cmd::Raw(m));
    }

    pub fn packets(&self) -> Vec<Packet> {
        self.state().packets.clone()
    }

    /// DAVE transitions the node completed.
    pub fn executed_transitions(&self) -> usize {
        self.state().dave.as_ref().map_or(0, |d| d.executed.len())
    }
}

impl Drop for FakeVoice {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn lock(s: &Mutex<State>) -> MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// Name prefix of the fake server's threads, so tests counting the client's threads can
/// leave them out (/proc/self/task/*/comm).
pub const THREAD_NAME: &str = "fakevoice";

fn fake_thread(f: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name(THREAD_NAME.into())
        .spawn(f)
        .expect("spawn fake voice thread")
}

fn accept_loop(
    listener: TcpListener,
    cfg: FakeConfig,
    udp_port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    cmds: Receiver<Cmd>,
) {
    let mut conns: Vec<JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((stream, _)) => {
                let (cfg, state, stop, cmds) =
                    (cfg.clone(), state.clone(), stop.clone(), cmds.clone());
                conns.push(fake_thread(move || {
                    if let Err(e) = serve(stream, &cfg, udp_port, &state, &stop, &cmds) {
                        lock(&state).errors.push(format!("gateway: {e}"));
                    }
                }));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(_) => break,
        }
    }
    for c in conns {
        let _ = c.join();
    }
}

struct Conn<'a> {
    ws: WebSocket<TcpStream>,
    state: &'a Mutex<State>,
}

impl Conn<'_> {
    /// Sends a numbered JSON message.
    fn send_op(&mut self, op: u8, d: Value) -> Result<(), String> {
        let seq = {
            let mut s = lock(self.state);
            s.last_seq += 1;
            s.last_sent_at = Some(Instant::now());
            s.last_seq
        };
        self.ws
            .send(Message::text(
                json!({"op": op, "d": d, "seq": seq}).to_string(),
            ))
            .map_err(|e| e.to_string())
    }
    /// Unnumbered JSON (Hello, ACKs are not replayable).
    fn send_plain(&mut self, op: u8, d: Value) -> Result<(), String> {
        self.ws
            .send(Message::text(json!({"op": op, "d": d}).to_string()))
            .map_err(|e| e.to_string())
    }
    fn send_bin(&mut self, op: u8, payload: &[u8]) -> Result<(), String> {
        let seq = {
            let mut s = lock(self.state);
            s.last_seq += 1;
            s.last_sent_at = Some(Instant::now());
            s.last_seq as u16
        };
        let mut b = seq.to_be_bytes().to_vec();
        b.push(op);
        b.extend_from_slice(payload);
        self.ws.send(Message::binary(b)).map_err(|e| e.to_string())
    }
}

fn err(state: &Mutex<State>, e: String) {
    lock(state).errors.push(e);
}

fn as_snowflake_string(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.parse::<u64>().is_ok())
}

// tungstenite's handshake callback type fixes the large error variant.
#[allow(clippy::result_large_err)]
fn serve(
    stream: TcpStream,
    cfg: &FakeConfig,
    udp_port: u16,
    state: &Mutex<State>,
    stop: &AtomicBool,
    cmds: &Receiver<Cmd>,
) -> Result<(), String> {
    stream.set_nonblocking(false).map_err(|e| e.to_string())?;
    let raw = stream.try_clone().map_err(|e| e.to_string())?;
    let mut path_ok = false;
    let ws = tungstenite::accept_hdr(
        stream,
        |req: &tungstenite::handshake::server::Request, resp| {
            path_ok = req
                .uri()
                .query()
                .is_some_and(|q| q.split('&').any(|kv| kv == "v=8"));
            Ok(resp)
        },
    )
    .map_err(|e| e.to_string())?;
    if !path_ok {
        err(state, "gateway URL lacks v=8".into());
    }
    raw.set_read_timeout(Some(Duration::from_millis(5)))
        .map_err(|e| e.to_string())?;
    lock(state).connections += 1;
    let mut c = Conn { ws, state };
    let mut identified = false;
    loop {
        if stop.load(Ordering::Acquire) {
            return Ok(());
        }
        if identified {
            if let Ok(cmd) = cmds.try_recv() {
                match cmd {
                    Cmd::Close(code, reason) => {
                        lock(state).closes_sent.push(code);
                        let _ = c.ws.close(Some(CloseFrame {
                            code: CloseCode::from(code),
                            reason: reason.into(),
                        }));
                        let _ = c.ws.flush();
                        // Drain until the client answers or leaves.
                        let end = Instant::now() + Duration::from_millis(500);
                        while Instant::now() < end && c.ws.read().is_ok() {}
                        return Ok(());
                    }
                    Cmd::DropTcp => {
                        let _ = raw.shutdown(std::net::Shutdown::Both);
                        return Ok(());
                    }
                    Cmd::AddMember(user) => {
                        c.send_op(11, json!({"user_ids": [user.to_string()]}))?;
                        let p = lock(state).dave.as_mut().map(|d| d.propose_add(user));
                        if let Some(p) = p {
                            c.send_bin(27, &p)?;
                        }
                    }
                    Cmd::RemoveMember(user) => {
                        c.send_op(13, json!({"user_id": user.to_string()}))?;
                        let p = lock(state)
                            .dave
                            .as_mut()
                            .and_then(|d| d.propose_remove(user));
                        if let Some(p) = p {
                            c.send_bin(27, &p)?;
                        }
                    }
                    Cmd::Downgrade => {
                        let tid = lock(state).dave.as_mut().map(|d| d.downgrade());
                        if let Some(tid) = tid {
                            c.send_op(21, json!({"transition_id": tid, "protocol_version": 0}))?;
                        }
                    }
                    Cmd::BadCommit => {
                        let tid = lock(state).dave.as_mut().map(|d| d.bad_transition_id());
                        if let Some(tid) = tid {
                            let mut p = tid.to_be_bytes().to_vec();
                            p.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 1, 2, 3]);
                            c.send_bin(29, &p)?;
                        }
                    }
                    Cmd::PrepareEpoch => {
                        c.send_op(24, json!({"epoch": 1, "protocol_version": 1}))?;
                    }
                    Cmd::Raw(m) => c.ws.send(m).map_err(|e| e.to_string())?,
                }
            }
        }
        let msg = match c.ws.read() {
            Ok(m) => m,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return Ok(()),
        };
        match msg {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(t.as_str())
                    .map_err(|e| format!("client sent bad JSON: {e}"))?;
                let op = v["op"].as_u64().ok_or("client message without op")?;
                let d = &v["d"];
                match op {
                    0 => {
                        identified = true;
                        {
                            let mut s = lock(state);
                            s.identifies += 1;
                            // A new session numbers its messages afresh.
                            s.last_seq = -1;
                            s.identify_max_dave = d["max_dave_protocol_version"].as_i64();
                        }
                        for k in ["server_id", "user_id"] {
                            if !as_snowflake_string(&d[k]) {
                                err(
                                    state,
                                    format!("identify {k} is not a snowflake string: {}", d[k]),
                                );
                            }
                        }
                        if d["server_id"] != json!(cfg.guild_id.to_string())
                            || d["user_id"] != json!(cfg.user_id.to_string())
                            || d["session_id"] != json!(cfg.session_id)
                            || d["token"] != json!(cfg.token)
                        {
                            err(state, format!("identify fields wrong: {d}"));
                        }
                        if cfg.require_dave
                            && d["max_dave_protocol_version"].as_i64().unwrap_or(0) == 0
                        {
                            let _ = c.ws.close(Some(CloseFrame {
                                code: CloseCode::from(4017),
                                reason: "E2EE/DAVE protocol required".into(),
                            }));
                            let _ = c.ws.flush();
                            let end = Instant::now() + Duration::from_millis(300);
                            while Instant::now() < end && c.ws.read().is_ok() {}
                            return Ok(());
                        }
                        let ssrc: u32 = 0x8000_0000 | rand::random::<u32>();
                        {
                            let mut s = lock(state);
                            s.ssrc = ssrc;
                            s.key = rand::random();
                        }
                        let ready = json!({"ssrc": ssrc, "ip": "127.0.0.1", "port": udp_port,
                            "modes": cfg.modes, "heartbeat_interval": 1});
                        if cfg.ready_first {
                            c.send_op(2, ready.clone())?;
                            c.send_plain(8, json!({"heartbeat_interval": cfg.heartbeat_ms}))?;
                        } else {
                            c.send_plain(8, json!({"heartbeat_interval": cfg.heartbeat_ms}))?;
                            c.send_op(2, ready)?;
                        }
                        // Noise the client must tolerate and queue.
                        c.send_op(11, json!({"user_ids": []}))?;
                        c.send_op(18, json!({"flags": 2}))?;
                        c.send_op(20, json!({"platform": 0}))?;
                        c.send_op(99, json!({"what": "unknown"}))?;
                        c.send_bin(99, &[1, 2, 3])?;
                        if cfg.dave && cfg.ext_sender_early {
                            let ext = lock(state)
                                .dave
                                .as_ref()
                                .map(|d| d.external_sender.clone())
                                .unwrap_or_default();
                            c.send_bin(25, &ext)?;
                        }
                    }
                    1 => {
                        let data = &d["data"];
                        let addr = data["address"].as_str().unwrap_or("").to_string();
                        let port = data["port"].as_u64().unwrap_or(0) as u16;
                        let mode = data["mode"].as_str().unwrap_or("").to_string();
                        let want = if cfg.modes.iter().any(|m| m == AES) {
                            AES
                        } else {
                            XCHACHA
                        };
                        if mode != want {
                            err(state, format!("client chose {mode}, expected {want}"));
                        }
                        if d["protocol"] != json!("udp") {
                            err(state, "select protocol is not udp".into());
                        }
                        let key = {
                            let mut s = lock(state);
                            match s.discovered {
                                Some(a) if a.ip().to_string() == addr && a.port() == port => {}
                                other => s.errors.push(format!(
                                    "select protocol {addr}:{port} != discovery {other:?}"
                                )),
                            }
                            s.selected = Some((addr, port, mode.clone()));
                            s.mode = mode.clone();
                            s.key
                        };
                        c.send_op(4, json!({"mode": mode, "secret_key": key.to_vec(),
                            "dave_protocol_version": if cfg.dave { 1 } else { 0 }, "audio_codec": "opus"}))?;
                        if cfg.dave && !cfg.ext_sender_early {
                            let ext = lock(state)
                                .dave
                                .as_ref()
                                .map(|d| d.external_sender.clone())
                                .unwrap_or_default();
                            c.send_bin(25, &ext)?;
                        }
                    }
                    3 => {
                        let (last, quiet) = {
                            let s = lock(state);
                            let quiet = s
                                .last_sent_at
                                .is_none_or(|t| t.elapsed() > Duration::from_millis(200));
                            (s.last_seq, quiet)
                        };
                        if !d.is_object() || !d["t"].is_u64() {
                            err(state, format!("heartbeat not v8 object form: {d}"));
                        }
                        // Exact when nothing was sent recently; never ahead of what was sent.
                        let ack = d["seq_ack"].as_i64();
                        if ack.is_none_or(|a| a > last || a < -1 || (quiet && a != last)) {
                            err(
                                state,
                                format!(
                                    "heartbeat seq_ack {} (last seq sent {last})",
                                    d["seq_ack"]
                                ),
                            );
                        }
                        lock(state).heartbeats += 1;
                        c.send_plain(6, json!({"t": d["t"]}))?;
                    }
                    5 => {
                        let ssrc = lock(state).ssrc;
                        if d["ssrc"].as_u64() != Some(ssrc as u64) || d["delay"] != json!(0) {
                            err(state, format!("bad speaking {d}"));
                        }
                        lock(state)
                            .speaking
                            .push((d["speaking"].as_u64().unwrap_or(99), Instant::now()));
                    }
                    7 => {
                        identified = true;
                        let last = {
                            let mut s = lock(state);
                            s.resumes += 1;
                            s.last_seq
                        };
                        lock(state)
                            .resume_seq_acks
                            .push((d["seq_ack"].as_i64().unwrap_or(-2), last));
                        if d["server_id"] != json!(cfg.guild_id.to_string())
                            || d["session_id"] != json!(cfg.session_id)
                            || d["token"] != json!(cfg.token)
                        {
                            err(state, format!("resume fields wrong: {d}"));
                        }
                        if let Some(code) = cfg.reject_resume {
                            lock(state).closes_sent.push(code);
                            let _ = c.ws.close(Some(CloseFrame {
                                code: CloseCode::from(code),
                                reason: "resume refused".into(),
                            }));
                            let _ = c.ws.flush();
                            let end = Instant::now() + Duration::from_millis(300);
                            while Instant::now() < end && c.ws.read().is_ok() {}
                            return Ok(());
                        }
                        c.send_plain(8, json!({"heartbeat_interval": cfg.heartbeat_ms}))?;
                        c.send_plain(9, Value::Null)?;
                        // Buffered resume: replay a numbered message.
                        c.send_op(11, json!({"user_ids": []}))?;
                    }
                    23 => {
                        let tid = d["transition_id"].as_u64().unwrap_or(0) as u16;
                        let ok = {
                            let mut s = lock(state);
                            s.op23.push(tid);
                            s.dave
                                .as_mut()
                                .is_some_and(|dv| dv.on_transition_ready(tid))
                        };
                        if ok {
                            c.send_op(22, json!({"transition_id": tid}))?;
                        }
                    }
                    31 => {
                        let tid = d["transition_id"].as_u64().unwrap_or(0) as u16;
                        lock(state).op31.push(tid);
                    }
                    other => err(state, format!("unexpected client op {other}")),
                }
            }
            Message::Binary(b) => {
                let Some((&op, payload)) = b.split_first() else {
                    continue;
                };
                match op {
                    26 => {
                        if payload.is_empty() {
                            err(state, "empty key package".into());
                        }
                        let first = {
                            let mut s = lock(state);
                            s.key_packages += 1;
                            s.key_packages == 1
                        };
                        let peer = cfg.peers.first().copied().filter(|_| first && cfg.dave);
                        if let Some(peer) = peer {
                            c.send_op(11, json!({"user_ids": [peer.to_string()]}))?;
                            if cfg.peer_has_group {
                                let r = lock(state)
                                    .dave
                                    .as_mut()
                                    .map(|d| d.member_invites_node(peer, payload));
                                match r {
                                    Some(Ok(p)) => c.send_bin(30, &p)?,
                                    Some(Err(e)) => err(state, e),
                                    None => {}
                                }
                            } else {
                                let p = lock(state).dave.as_mut().map(|d| d.propose_add(peer));
                                if let Some(p) = p {
                                    c.send_bin(27, &p)?;
                                }
                            }
                        }
                    }
                    28 => {
                        let r = lock(state)
                            .dave
                            .as_mut()
                            .map(|d| d.on_commit_welcome(payload));
                        match r {
                            Some(Ok(p)) => c.send_bin(29, &p)?,
                            Some(Err(e)) => err(state, e),
                            None => err(state, "op 28 without DAVE".into()),
                        }
                    }
                    other => err(state, format!("unexpected client binary op {other}")),
                }
            }
            Message::Close(f) => {
                lock(state)
                    .client_closes
                    .push(f.map_or(1005, |f| u16::from(f.code)));
                return Ok(());
            }
            _ => {}
        }
    }
}

/// The receiver side of §3.4, written independently of Basalt.
fn transport_open(mode: &str, key: &[u8; 32], pkt: &[u8]) -> Option<Vec<u8>> {
    let cc = (pkt[0] & 0x0F) as usize;
    let ext = pkt[0] & 0x10 != 0;
    let hlen = 12 + 4 * cc + if ext { 4 } else { 0 };
    if pkt.len() < hlen + 20 {
        return None;
    }
    let (aad, rest) = pkt.split_at(hlen);
    let (body, tail) = rest.split_at(rest.len() - 20);
    let (tag, suffix) = tail.split_at(16);
    let mut buf = body.to_vec();
    let tag = GenericArray::from_slice(tag);
    match mode {
        AES => {
            let mut nonce = [0u8; 12];
            nonce[..4].copy_from_slice(suffix);
            Aes256Gcm::new(GenericArray::from_slice(key))
                .decrypt_in_place_detached(GenericArray::from_slice(&nonce), aad, &mut buf, tag)
                .ok()?;
        }
        XCHACHA => {
            let mut nonce = [0u8; 24];
            nonce[..4].copy_from_slice(suffix);
            XChaCha20Poly1305::new(GenericArray::from_slice(key))
                .decrypt_in_place_detached(GenericArray::from_slice(&nonce), aad, &mut buf, tag)
                .ok()?;
        }
        _ => return None,
    }
    Some(buf)
}

fn udp_loop(sock: UdpSocket, state: Arc<Mutex<State>>, stop: Arc<AtomicBool>) {
    let mut buf = [0u8; 2048];
    let mut last_suffix: HashMap<u32, u32> = HashMap::new();
    while !stop.load(Ordering::Acquire) {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(_) => continue,
        };
        let pkt = &buf[..n];
        let mut guard = lock(&state);
        let s = &mut *guard;
        if n == 74 && pkt[0..2] == [0, 1] {
            if pkt[2..4] != [0, 70] {
                s.errors.push("discovery length field".into());
            }
            let ssrc = u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]);
            if ssrc != s.ssrc {
                s.errors
                    .push(format!("discovery ssrc {ssrc} != {}", s.ssrc));
            }
            let mut resp = [0u8; 74];
            resp[0..2].copy_from_slice(&[0, 2]);
            resp[2..4].copy_from_slice(&[0, 70]);
            resp[4..8].copy_from_slice(&pkt[4..8]);
            let ip = from.ip().to_string();
            resp[8..8 + ip.len()].copy_from_slice(ip.as_bytes());
            resp[72..74].copy_from_slice(&from.port().to_be_bytes());
            s.discovered = Some(from);
            drop(guard);
            let _ = sock.send_to(&resp, from);
            continue;
        }
        if n < 12 {
            s.short_datagrams += 1;
            continue;
        }
        if pkt[0] != 0x80 || pkt[1] != 0x78 {
            s.errors
                .push(format!("unexpected datagram {:02x?}", &pkt[..2]));
            continue;
        }
        let seq = u16::from_be_bytes([pkt[2], pkt[3]]);
        let ts = u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]);
        let ssrc = u32::from_be_bytes([pkt[8], pkt[9], pkt[10], pkt[11]]);
        if ssrc != s.ssrc {
            s.errors.push(format!("rtp ssrc {ssrc} != {}", s.ssrc));
        }
        if s.speaking.iter().all(|(f, _)| *f == 0) {
            s.errors.push("RTP before a non-zero Speaking".into());
        }
        let suffix = u32::from_be_bytes([pkt[n - 4], pkt[n - 3], pkt[n - 2], pkt[n - 1]]);
        if let Some(prev) = last_suffix.insert(ssrc, suffix) {
            if suffix != prev.wrapping_add(1) {
                s.errors.push(format!("nonce suffix {suffix} after {prev}"));
            }
        }
        let (mode, key) = (s.mode.clone(), s.key);
        let Some(payload) = transport_open(&mode, &key, pkt) else {
            s.errors
                .push(format!("transport decrypt failed (seq {seq})"));
            continue;
        };
        if let Some(prev) = s.packets.last() {
            if seq != prev.seq.wrapping_add(1) || ts != prev.timestamp.wrapping_add(960) {
                let e = format!(
                    "rtp continuity: seq {} -> {seq}, ts {} -> {ts}",
                    prev.seq, prev.timestamp
                );
                s.errors.push(e);
            }
        }
        let e2ee = payload.len() >= 2 && payload[payload.len() - 2..] == [0xFA, 0xFA];
        let (opus, who) = if e2ee {
            match s.dave.as_mut() {
                Some(d) => d.decrypt(&payload),
                None => (None, Vec::new()),
            }
        } else {
            (Some(payload.clone()), Vec::new())
        };
        s.packets.push(Packet {
            seq,
            timestamp: ts,
            ssrc,
            at: Instant::now(),
            payload,
            opus,
            e2ee,
            decrypted_by: who,
        });
    }
}

pub const SILENCE: [u8; 3] = [0xF8, 0xFF, 0xFE];

/// Decodes the given packets' Opus (in order) to interleaved stereo i16.
pub fn decode(packets: &[Packet]) -> Vec<i16> {
    let mut dec = opus2::Decoder::new(48_000, opus2::Channels::Stereo).expect("decoder");
    let mut out = Vec::new();
    let mut pcm = vec![0i16; 5760 * 2];
    for p in packets {
        let Some(opus) = &p.opus else { continue };
        if let Ok(n) = dec.decode(opus, &mut pcm, false) {
            out.extend_from_slice(&pcm[..n * 2]);
        }
    }
    out
}

/// Frequency of the left channel estimated from zero crossings (skipping codec start-up).
pub fn frequency(stereo: &[i16]) -> f64 {
    let left: Vec<i16> = stereo.iter().step_by(2).copied().collect();
    let skip = left.len().min(960 * 2);
    let l = &left[skip..];
    if l.len() < 960 {
        return 0.0;
    }
    let crossings = l.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    crossings as f64 / 2.0 / (l.len() as f64 / 48_000.0)
}

/// RMS of the left channel.
pub fn rms(stereo: &[i16]) -> f64 {
    let left: Vec<f64> = stereo.iter().step_by(2).map(|&x| x as f64).collect();
    if left.is_empty() {
        return 0.0;
    }
    (left.iter().map(|x| x * x).sum::<f64>() / left.len() as f64).sqrt()
}
