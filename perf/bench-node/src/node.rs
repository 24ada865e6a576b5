//! The bot's side of one Lavalink v4 node, using only the standard v4 API: the WebSocket
//! session (`/v4/websocket`, read on its own thread so the node never blocks on us) and REST
//! calls on fresh HTTP/1.1 connections (`/v4/info`, `/v4/loadtracks`, player PATCH/DELETE).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tungstenite::client::IntoClientRequest;
use tungstenite::Message;

/// User id the benchmark's "bot" presents.
pub const USER_ID: u64 = 900_100_200_300_400_500;

/// Events the node sent, counted per type (TrackExceptionEvent, TrackStuckEvent...).
#[derive(Default)]
pub struct Events {
    pub by_type: HashMap<String, u64>,
    pub last_exception: Option<String>,
    pub closed: bool,
}

pub struct Node {
    pub url: String,
    pub addr: SocketAddr,
    password: String,
    pub session_id: String,
    pub events: Arc<Mutex<Events>>,
}

/// `http://HOST:PORT[/]` → `HOST:PORT` (https is not supported: the benchmark runs next to
/// the node).
pub fn parse_node_url(url: &str) -> Result<(String, SocketAddr), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("--node {url:?}: expected http://HOST:PORT"))?;
    let host = rest.trim_end_matches('/');
    if host.is_empty() || host.contains('/') {
        return Err(format!("--node {url:?}: expected http://HOST:PORT"));
    }
    let addr = host
        .to_socket_addrs()
        .map_err(|e| format!("--node {url:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("--node {url:?}: no address"))?;
    Ok((host.to_string(), addr))
}

/// Percent-encodes a query value.
fn encode_query(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Body of a response read to its end: Content-Length, chunked, or until close.
fn read_body(head: &str, mut rest: Vec<u8>, s: &mut TcpStream) -> Result<Vec<u8>, String> {
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let mut tmp = [0u8; 16 * 1024];
    if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        while rest.len() < len {
            let n = s.read(&mut tmp).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed mid-body".into());
            }
            rest.extend_from_slice(&tmp[..n]);
        }
        rest.truncate(len);
        return Ok(rest);
    }
    loop {
        match s.read(&mut tmp) {
            Ok(0) => break,
            Ok(n) => rest.extend_from_slice(&tmp[..n]),
            Err(e) => return Err(e.to_string()),
        }
    }
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        return dechunk(&rest);
    }
    Ok(rest)
}

fn dechunk(mut raw: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("bad chunked body")?;
        let size_text = String::from_utf8_lossy(&raw[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| "bad chunk size")?;
        raw = &raw[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if raw.len() < size {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&raw[..size]);
        raw = raw.get(size + 2..).unwrap_or(&[]);
    }
}

impl Node {
    /// Opens the WebSocket session and waits for `ready`.
    pub fn connect(url: &str, password: &str) -> Result<Node, String> {
        let (host, addr) = parse_node_url(url)?;
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| format!("{url}: {e}"))?;
        let mut req = format!("ws://{host}/v4/websocket")
            .into_client_request()
            .map_err(|e| e.to_string())?;
        let h = req.headers_mut();
        let hv = |v: &str| v.parse().map_err(|_| format!("bad header value {v:?}"));
        h.insert("Authorization", hv(password)?);
        h.insert("User-Id", hv(&USER_ID.to_string())?);
        h.insert("Client-Name", hv("basalt-perf/0.1.0")?);
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let (mut ws, _) = tungstenite::client(req, stream).map_err(|e| match e {
            tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r)) => format!(
                "{url}: WebSocket refused with HTTP {} (wrong password?)",
                r.status()
            ),
            other => format!("{url}: WebSocket handshake: {other}"),
        })?;
        let session_id = loop {
            let msg = ws.read().map_err(|e| format!("{url}: {e}"))?;
            if let Message::Text(t) = msg {
                let v: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
                if v["op"] == "ready" {
                    break v["sessionId"]
                        .as_str()
                        .ok_or_else(|| format!("{url}: ready without sessionId"))?
                        .to_string();
                }
            }
        };
        let _ = ws.get_mut().set_read_timeout(None);
        let events = Arc::new(Mutex::new(Events::default()));
        {
            let events = events.clone();
            std::thread::Builder::new()
                .name("node-ws".into())
                .spawn(move || loop {
                    match ws.read() {
                        Ok(Message::Text(t)) => {
                            let v: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
                            if v["op"] == "event" {
                                let mut e = events.lock().unwrap_or_else(|e| e.into_inner());
                                let ty = v["type"].as_str().unwrap_or("?").to_string();
                                if ty == "TrackExceptionEvent" {
                                    e.last_exception = Some(v["exception"].to_string());
                                }
                                *e.by_type.entry(ty).or_default() += 1;
                            }
                        }
                        Ok(_) => {}
                        Err(_) => {
                            events.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
                            return;
                        }
                    }
                })
                .map_err(|e| e.to_string())?;
        }
        Ok(Node {
            url: url.to_string(),
            addr,
            password: password.to_string(),
            session_id,
            events,
        })
    }

    /// One request on a fresh connection; returns status and body.
    pub fn http(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Vec<u8>), String> {
        let mut s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))
            .map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        let _ = s.set_nodelay(true);
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nConnection: close\r\n",
            self.addr, self.password
        );
        if !body.is_empty() {
            req.push_str("Content-Type: application/json\r\n");
        }
        req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        let mut tmp = [0u8; 4096];
        let end = loop {
            if let Some(p) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break p;
            }
            let n = s.read(&mut tmp).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err(format!(
                    "{method} {path}: connection closed before a response"
                ));
            }
            raw.extend_from_slice(&tmp[..n]);
        };
        let head = String::from_utf8_lossy(&raw[..end]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| format!("{method} {path}: bad status line"))?;
        let body = read_body(&head, raw[end + 4..].to_vec(), &mut s)?;
        Ok((status, body))
    }

    fn json(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let (status, b) = self.http(method, path, body)?;
        if !(200..300).contains(&status) {
            return Err(format!(
                "{method} {path}: HTTP {status}: {}",
                String::from_utf8_lossy(&b)
            ));
        }
        if b.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&b).map_err(|e| format!("{method} {path}: {e}"))
    }

    /// `version.semver` from /v4/info.
    pub fn version(&self) -> Result<String, String> {
        let info = self.json("GET", "/v4/info", None)?;
        Ok(info["version"]["semver"]
            .as_str()
            .unwrap_or("unknown")
            .to_string())
    }

    /// Loads one track and returns its encoded form.
    pub fn load(&self, identifier: &str) -> Result<String, String> {
        let path = format!("/v4/loadtracks?identifier={}", encode_query(identifier));
        let r = self.json("GET", &path, None)?;
        if r["loadType"] != "track" {
            return Err(format!("{}: loading {identifier} gave {r}", self.url));
        }
        r["data"]["encoded"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("{}: track without encoded: {r}", self.url))
    }

    fn player_path(&self, guild: u64) -> String {
        format!("/v4/sessions/{}/players/{guild}", self.session_id)
    }

    pub fn patch(&self, guild: u64, body: &Value) -> Result<(), String> {
        self.json("PATCH", &self.player_path(guild), Some(body))
            .map(|_| ())
    }

    pub fn delete(&self, guild: u64) -> Result<(), String> {
        self.json("DELETE", &self.player_path(guild), None)
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_urls_and_queries() {
        assert_eq!(
            parse_node_url("http://127.0.0.1:2333/").unwrap().0,
            "127.0.0.1:2333"
        );
        assert!(parse_node_url("https://x:1").is_err());
        assert!(parse_node_url("http://127.0.0.1:1/v4").is_err());
        assert_eq!(encode_query("http://a/b c"), "http%3A%2F%2Fa%2Fb%20c");
    }

    #[test]
    fn chunked_bodies_join() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2;x\r\nde\r\n0\r\n\r\n").unwrap(),
            b"abcde"
        );
        assert!(dechunk(b"9\r\nab").is_err());
    }
}
