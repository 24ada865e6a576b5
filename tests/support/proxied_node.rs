//! The real `basalt` binary for online-source tests: outbound HTTP through the MITM proxy
//! (`BASALT_HTTP_*`, as an operator configures it), insecure voice endpoints allowed for the
//! fake Discord voice server, and a client WebSocket.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::http_client::{ws_connect, Client, Ws};
use crate::mitm::Mitm;

pub const PW: &str = "e2e-pass";
pub const USER: u64 = 170_939_974_227_541_168;
pub const GUILD: u64 = 817_327_181_659_111_455;

pub struct Node {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Drop for Node {
    fn drop(&mut self) {
        crate::poll::stop(&mut self.child, Duration::from_secs(5));
    }
}

/// The real binary on a free loopback port, its outbound HTTP through `mitm`, the http
/// source off and `sources` (extra `[sources]` lines) appended.
pub fn start_node(tag: &str, mitm: &Mitm, sources: &str) -> Node {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("basalt-proxied-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\naddress = \"127.0.0.1\"\nport = {port}\npassword = \"{PW}\"\n\n\
             [sources]\nhttp = false\n{sources}\n\n[voice]\nallow_insecure_endpoints = true\n\n\
             [logging]\nlevel = \"warn\"\nrequest_logging = false\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_basalt"))
        .arg("--config")
        .arg(&cfg)
        .envs(mitm.env())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn basalt");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    crate::poll::wait_listening(&mut child, addr);
    Node { child, addr }
}

/// A client WebSocket and its session id.
pub fn client_ws(addr: SocketAddr, client_name: &str) -> (Ws, String) {
    let user = USER.to_string();
    let mut ws = ws_connect(
        addr,
        &[
            ("Authorization", PW),
            ("User-Id", &user),
            ("Client-Name", client_name),
        ],
    )
    .expect("websocket");
    let ready = ws.expect("ready", None, Duration::from_secs(5));
    let sid = ready["sessionId"].as_str().expect("session id").to_string();
    (ws, sid)
}

/// `GET /v4/loadtracks` of `identifier` (percent-encoded), expecting 200; the JSON.
pub fn load_tracks(c: &Client, identifier: &str) -> serde_json::Value {
    let q: String = identifier
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let r = c.get(&format!("/v4/loadtracks?identifier={q}"));
    assert_eq!(r.status, 200, "loadtracks: {}", r.text());
    r.json()
}
