//! The real `basalt` binary for the operations tests (drain, reload): a config file the
//! test may rewrite, signals, the exit status, and a player that plays a generated WAV
//! to the fake Discord voice server.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use tungstenite::Message;

use crate::fake_voice::{FakeConfig, FakeVoice};
use crate::http_client::{ws_connect, Client, Ws};

pub const USER: u64 = 170_939_974_227_541_168;

pub struct Node {
    pub child: Child,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    /// The node's stderr, appended to this file (reload messages are checked in it).
    pub log: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The config every ops test starts from: loopback, `password`, local files, ws:// voice
/// endpoints; `extra` is appended (more sections).
pub fn config_text(port: u16, password: &str, server_extra: &str, extra: &str) -> String {
    format!(
        "[server]\naddress = \"127.0.0.1\"\nport = {port}\npassword = \"{password}\"\n{server_extra}\n\
         [sources]\nlocal = true\nyoutube = false\nsoundcloud = false\nbandcamp = false\n\
         twitch = false\nvimeo = false\n\n\
         [voice]\nallow_insecure_endpoints = true\n\n{extra}\n"
    )
}

impl Node {
    /// Starts the binary on `config` (written to `DIR/config.toml`) and waits until it listens.
    pub fn start(tag: &str, port: u16, config: &str) -> Node {
        Node::start_env(tag, port, config, &[])
    }

    /// [`Node::start`] with extra environment variables for the node.
    pub fn start_env(tag: &str, port: u16, config: &str, env: &[(&str, &str)]) -> Node {
        let dir = std::env::temp_dir().join(format!("basalt-ops-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.toml"), config).unwrap();
        let log = dir.join("stderr.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_basalt"))
            .envs(env.iter().copied())
            .arg("--config")
            .arg(dir.join("config.toml"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn basalt");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        crate::poll::wait_listening(&mut child, addr);
        Node {
            child,
            addr,
            dir,
            log,
        }
    }

    pub fn client(&self, password: &str) -> Client {
        Client::new(self.addr, password)
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// The exit status, waiting at most `timeout` (None: still running).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + timeout;
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Rewrites the config file (the node reads it again on SIGHUP).
    pub fn rewrite_config(&self, config: &str) {
        std::fs::write(self.dir.join("config.toml"), config).unwrap();
    }

    /// Waits until stderr contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> String {
        let end = Instant::now() + timeout;
        loop {
            let text = self.stderr();
            if text.contains(needle) {
                return text;
            }
            assert!(Instant::now() < end, "no {needle:?} in the log:\n{text}");
            std::thread::sleep(Duration::from_millis(30));
        }
    }
}

/// A session as a bot opens it: (socket, session id).
pub fn session(node: &Node, password: &str) -> (Ws, String) {
    let user = USER.to_string();
    let mut ws = ws_connect(
        node.addr,
        &[
            ("Authorization", password),
            ("User-Id", &user),
            ("Client-Name", "basalt-ops-tests/1.0"),
        ],
    )
    .expect("websocket");
    let ready = ws.expect("ready", None, Duration::from_secs(5));
    (ws, ready["sessionId"].as_str().unwrap().to_string())
}

/// A handshake as a bot opens it: Ok or the refusal's status.
pub fn try_session(node: &Node, password: &str) -> Result<Ws, u16> {
    let user = USER.to_string();
    ws_connect(
        node.addr,
        &[
            ("Authorization", password),
            ("User-Id", &user),
            ("Client-Name", "basalt-ops-tests/1.0"),
        ],
    )
}

/// Writes `secs` seconds of a 440 Hz sine (48 kHz stereo s16 WAV) into `dir`.
pub fn sine_wav(dir: &std::path::Path, name: &str, secs: f64) -> PathBuf {
    let rate = 48_000u32;
    let frames = (f64::from(rate) * secs) as u32;
    let data_len = frames * 4;
    let mut b = Vec::with_capacity(44 + data_len as usize);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * 4).to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..frames {
        let v =
            ((i as f64 * 440.0 * std::f64::consts::TAU / f64::from(rate)).sin() * 8000.0) as i16;
        b.extend_from_slice(&v.to_le_bytes());
        b.extend_from_slice(&v.to_le_bytes());
    }
    let p = dir.join(name);
    std::fs::write(&p, b).unwrap();
    p
}

/// A fake voice server for `guild`.
pub fn voice(guild: u64) -> FakeVoice {
    FakeVoice::start(FakeConfig {
        guild_id: guild,
        user_id: USER,
        ..FakeConfig::default()
    })
}

/// The PATCH body that connects `guild` to `f` and plays `file`.
pub fn play_body(f: &FakeVoice, file: &std::path::Path) -> String {
    play_identifier_body(f, file.to_str().unwrap())
}

/// A PATCH body that plays `identifier` (a path or a URL) on the fake voice server `f`.
pub fn play_identifier_body(f: &FakeVoice, identifier: &str) -> String {
    json!({
        "track": {"identifier": identifier},
        "voice": {
            "token": f.config.token,
            "endpoint": f.endpoint,
            "sessionId": f.config.session_id,
            "channelId": f.config.channel_id.to_string(),
        }
    })
    .to_string()
}

/// Reads the socket until the server closes it: Some(close code), None if it ended
/// without a close frame or `timeout` passed.
pub fn close_code(ws: &mut Ws, timeout: Duration) -> Option<u16> {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        let _ = ws
            .ws
            .get_mut()
            .set_read_timeout(Some(Duration::from_millis(200)));
        match ws.ws.read() {
            Ok(Message::Close(f)) => return f.map(|f| u16::from(f.code)),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return None,
        }
    }
    None
}
