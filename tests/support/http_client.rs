//! A tiny blocking HTTP/1.1 and WebSocket client for the API tests (loopback only).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} body not JSON ({e}): {:?}",
                self.status,
                self.text()
            )
        })
    }
}

/// One request on a fresh connection (`Connection: close`).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Resp {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    if let Some(b) = body {
        s.write_all(b).unwrap();
    }
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Resp {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no header end");
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(p) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..p]).trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[p + 2..p + 2 + n]);
        b = &b[p + 2 + n + 2..];
    }
    out
}

/// A client bound to one server and password.
#[derive(Clone)]
pub struct Client {
    pub addr: SocketAddr,
    pub password: String,
}

impl Client {
    pub fn new(addr: SocketAddr, password: &str) -> Client {
        Client {
            addr,
            password: password.to_string(),
        }
    }
    pub fn get(&self, path: &str) -> Resp {
        request(
            self.addr,
            "GET",
            path,
            &[("Authorization", &self.password)],
            None,
        )
    }
    pub fn delete(&self, path: &str) -> Resp {
        request(
            self.addr,
            "DELETE",
            path,
            &[("Authorization", &self.password)],
            None,
        )
    }
    pub fn send_json(&self, method: &str, path: &str, body: &str) -> Resp {
        request(
            self.addr,
            method,
            path,
            &[
                ("Authorization", &self.password),
                ("Content-Type", "application/json"),
            ],
            Some(body.as_bytes()),
        )
    }
    pub fn patch(&self, path: &str, body: &str) -> Resp {
        self.send_json("PATCH", path, body)
    }
    pub fn post(&self, path: &str, body: &str) -> Resp {
        self.send_json("POST", path, body)
    }
    /// A WebSocket as a bot would open it.
    pub fn ws(&self, session_id: Option<&str>) -> Ws {
        let mut h = vec![
            ("Authorization", self.password.as_str()),
            ("User-Id", "170939974227541168"),
            ("Client-Name", "basalt-tests/1.0"),
        ];
        if let Some(id) = session_id {
            h.push(("Session-Id", id));
        }
        ws_connect(self.addr, &h).expect("websocket handshake")
    }
}

pub struct Ws {
    pub ws: WebSocket<TcpStream>,
    pub headers: Vec<(String, String)>,
}

/// Open `/v4/websocket`; `Err(status)` when the handshake is refused.
pub fn ws_connect(addr: SocketAddr, headers: &[(&str, &str)]) -> Result<Ws, u16> {
    let stream = TcpStream::connect(addr).expect("connect");
    let mut req = format!("ws://{addr}/v4/websocket")
        .into_client_request()
        .unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            tungstenite::http::HeaderValue::from_str(v).unwrap(),
        );
    }
    match tungstenite::client::client(req, stream) {
        Ok((ws, resp)) => {
            let headers = resp
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                .collect();
            Ok(Ws { ws, headers })
        }
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) => {
            Err(r.status().as_u16())
        }
        Err(e) => panic!("handshake: {e}"),
    }
}

impl Ws {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The next message (JSON), or None on timeout; Err on close.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Value>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.ws
                .get_mut()
                .set_read_timeout(Some(left.min(Duration::from_millis(200))))
                .unwrap();
            match self.ws.read() {
                Ok(Message::Text(t)) => return Ok(Some(serde_json::from_str(t.as_str()).unwrap())),
                Ok(Message::Close(f)) => return Err(format!("closed: {f:?}")),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    /// The next message with this `op` (and event `type` if given), skipping others.
    pub fn expect(&mut self, op: &str, kind: Option<&str>, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left) {
                Ok(Some(v)) => {
                    if v["op"] == op && kind.is_none_or(|k| v["type"] == k) {
                        return v;
                    }
                }
                Ok(None) => panic!("no {op} {kind:?} within {timeout:?}"),
                Err(e) => panic!("socket ended waiting for {op} {kind:?}: {e}"),
            }
        }
    }

    /// Every message received within `d`.
    pub fn drain(&mut self, d: Duration) -> Vec<Value> {
        let deadline = Instant::now() + d;
        let mut out = Vec::new();
        while let Ok(Some(v)) = self.next(deadline.saturating_duration_since(Instant::now())) {
            out.push(v);
        }
        out
    }

    pub fn close(mut self) {
        let _ = self.ws.close(None);
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            match self.ws.read() {
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
                Ok(_) => {}
            }
        }
    }
}
