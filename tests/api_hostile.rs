//! Hostile clients against the real binary (issue 14): huge and slow bodies, slowloris,
//! descriptor exhaustion, endless request lines, giant WebSocket messages and ping floods,
//! HTTP parsing corners, client errors that must be 400, and per-address flood limits
//! while an allowed client keeps its latency.

#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/poll.rs"]
mod poll;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::FromRawFd;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http_client::*;

const BIN: &str = env!("CARGO_BIN_EXE_basalt");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Running {
    child: Child,
    client: Client,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    fn addr(&self) -> SocketAddr {
        self.client.addr
    }
    fn pid(&self) -> u32 {
        self.child.id()
    }
    /// A line of /proc/<pid>/status as a number (VmRSS in KiB, Threads).
    fn status(&self, key: &str) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        s.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap()
    }
    /// The thread count once it has held still for 300 ms: the node still starts threads
    /// after it listens, and a baseline read too early makes them look like leaks.
    fn settled_threads(&self) -> u64 {
        let count = || self.status("Threads:") as usize;
        poll::wait_quiet(
            "the thread count to settle",
            Duration::from_millis(300),
            poll::DEADLINE,
            count,
        );
        self.status("Threads:")
    }
    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

/// The binary with `extra` appended to `[server]`; `nofile` lowers its descriptor limit.
fn spawn(name: &str, extra: &str, nofile: Option<u64>) -> Running {
    use std::os::unix::process::CommandExt;
    let port = free_port();
    let cfg =
        std::env::temp_dir().join(format!("basalt-hostile-{}-{name}.toml", std::process::id()));
    std::fs::write(
        &cfg,
        format!(
            "[server]\naddress = \"127.0.0.1\"\nport = {port}\npassword = \"pw\"\n{extra}\n\n\
             [player]\nrealtime_pacer = false\n"
        ),
    )
    .unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("--config")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(n) = nofile {
        // SAFETY: setrlimit is async-signal-safe and touches only the child.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().expect("binary starts");
    let client = Client::new(format!("127.0.0.1:{port}").parse().unwrap(), "pw");
    poll::wait_listening(&mut child, client.addr);
    Running { child, client }
}

/// A TCP connection from a chosen loopback address (127.0.0.2… for the non-allowed).
fn connect_from(from: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    let local: std::net::Ipv4Addr = from.parse().unwrap();
    let SocketAddr::V4(to) = to else {
        panic!("IPv4 only")
    };
    // SAFETY: plain socket calls on a descriptor we own; it is wrapped in a TcpStream
    // (which closes it) right after creation.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let stream = TcpStream::from_raw_fd(fd);
        let sa = |ip: std::net::Ipv4Addr, port: u16| libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(ip).to_be(),
            },
            sin_zero: [0; 8],
        };
        let me = sa(local, 0);
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        if libc::bind(fd, &me as *const _ as *const libc::sockaddr, len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let them = sa(*to.ip(), to.port());
        if libc::connect(fd, &them as *const _ as *const libc::sockaddr, len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(stream)
    }
}

/// Write `req` on a fresh connection and read one answer's status line and headers.
fn raw(addr: SocketAddr, req: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    raw_on(&mut s, req)
}

fn raw_on(s: &mut TcpStream, req: &[u8]) -> String {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(req);
    read_answer(s)
}

/// Reads until a whole response (head + Content-Length body) or EOF, byte by byte so a
/// pipelined next answer stays in the socket.
fn read_answer(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    loop {
        if let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&out[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if out.len() >= end + 4 + len {
                break;
            }
        }
        match s.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&b[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn status_of(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}

/// True once the server closed `s` (EOF or reset) within `within`.
fn closed_by_server(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let deadline = Instant::now() + within;
    let mut b = [0u8; 1024];
    while Instant::now() < deadline {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

fn version_ok(r: &Running) -> bool {
    r.client.get("/version").status == 200
}

#[test]
fn huge_content_length_is_refused_never_allocated() {
    let mut r = spawn("huge", "", None);
    // No password: refused before any body is read.
    let a = raw(
        r.addr(),
        b"GET /version HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\n",
    );
    assert_eq!(status_of(&a), 401, "{a}");
    // With the password: 413 with Lavalink's error JSON.
    let a = raw(
        r.addr(),
        b"POST /v4/decodetracks HTTP/1.1\r\nHost: x\r\nAuthorization: pw\r\n\
          Content-Length: 1000000000000\r\n\r\n[",
    );
    assert_eq!(status_of(&a), 413, "{a}");
    assert!(a.contains("\"status\":413"), "{a}");
    // Many of them at once cost nothing either.
    for _ in 0..50 {
        let _ = raw(
            r.addr(),
            b"PATCH /v4/sessions/x HTTP/1.1\r\nAuthorization: pw\r\nContent-Length: 9000000\r\n\r\n",
        );
    }
    assert!(r.alive());
    assert!(version_ok(&r));
    assert!(r.status("VmRSS:") < 200 * 1024, "RSS stayed small");
}

#[test]
fn slow_bodies_and_slowloris_hold_no_worker() {
    let r = spawn(
        "slow",
        "workers = 2\nheader_timeout_ms = 1500\nbody_timeout_ms = 1500",
        None,
    );
    let threads_before = r.settled_threads();
    let mut held = Vec::new();
    for i in 0..40 {
        let mut s = TcpStream::connect(r.addr()).unwrap();
        if i % 2 == 0 {
            // Headers with a body promised and never sent (authorised and not).
            let auth = if i % 4 == 0 {
                "Authorization: pw\r\n"
            } else {
                ""
            };
            let head = format!(
                "PATCH /v4/sessions/a/players/1 HTTP/1.1\r\n{auth}Content-Length: 4000\r\n\r\n{{"
            );
            s.write_all(head.as_bytes()).unwrap();
        } else {
            // Slowloris: half a request line.
            s.write_all(b"GET /v4/info HTT").unwrap();
        }
        held.push(s);
    }
    // Every worker is free: requests are answered at once.
    let t = Instant::now();
    assert!(version_ok(&r));
    assert!(r.client.get("/v4/info").status == 200);
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    // No thread per connection.
    assert!(r.status("Threads:") <= threads_before + 1);
    // The deadlines close them all.
    for s in held.iter_mut() {
        assert!(closed_by_server(s, Duration::from_secs(5)));
    }
}

#[test]
fn two_thousand_half_open_connections_cost_no_threads() {
    let r = spawn("halfopen", "", None);
    let threads_before = r.settled_threads();
    let conns: Vec<TcpStream> = (0..2000)
        .map(|_| {
            let mut s = TcpStream::connect(r.addr()).unwrap();
            let _ = s.write_all(b"GET / HTTP/1.1\r\n");
            s
        })
        .collect();
    poll::wait_until("the threads back to the baseline", poll::DEADLINE, || {
        r.status("Threads:") <= threads_before + 1
    });
    assert!(version_ok(&r));
    drop(conns);
}

#[test]
fn running_out_of_descriptors_never_kills_the_acceptor() {
    let mut r = spawn(
        "emfile",
        "header_timeout_ms = 1000\nidle_timeout_ms = 1000",
        Some(200),
    );
    // Far more idle connections than the node has descriptors.
    let mut idle: Vec<TcpStream> = (0..400)
        .filter_map(|_| TcpStream::connect(r.addr()).ok())
        .collect();
    // Idle on purpose: the acceptor runs into EMFILE meanwhile, and must survive it.
    std::thread::sleep(Duration::from_millis(300));
    assert!(r.alive());
    // Once the idle ones time out the node serves again, and keeps accepting.
    poll::wait_until("REST to come back", Duration::from_secs(15), || {
        let mut s = match TcpStream::connect(r.addr()) {
            Ok(s) => s,
            Err(_) => return false,
        };
        let a = raw_on(
            &mut s,
            b"GET /version HTTP/1.1\r\nAuthorization: pw\r\nConnection: close\r\n\r\n",
        );
        a.starts_with("HTTP/1.1 200")
    });
    idle.clear();
    for _ in 0..20 {
        assert!(version_ok(&r));
    }
}

#[test]
fn a_request_line_without_end_is_bounded() {
    let mut r = spawn("noline", "", None);
    let mut s = TcpStream::connect(r.addr()).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let junk = vec![b'A'; 64 * 1024];
    let mut sent = 0usize;
    while sent < 64 << 20 {
        match s.write(&junk) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    assert!(
        sent < 64 << 20,
        "the node kept reading an endless request line"
    );
    assert!(r.alive());
    assert!(r.status("VmRSS:") < 200 * 1024);
    let a = raw(r.addr(), &[b'B'; 40 * 1024]);
    assert_eq!(status_of(&a), 431, "{a}");
    assert!(version_ok(&r));
}

#[test]
fn http_parsing_corners() {
    let r = spawn("parse", "", None);
    // Bare LF line ends: accepted.
    let a = raw(
        r.addr(),
        b"GET /version HTTP/1.1\nAuthorization: pw\nConnection: close\n\n",
    );
    assert_eq!(status_of(&a), 200, "{a}");
    // Conflicting Content-Length: 400.
    let a = raw(
        r.addr(),
        b"POST /v4/decodetracks HTTP/1.1\r\nAuthorization: pw\r\nContent-Length: 2\r\n\
          Content-Length: 5\r\n\r\n[]",
    );
    assert_eq!(status_of(&a), 400, "{a}");
    // A non-UTF-8 path: 400, not a silent close.
    let a = raw(
        r.addr(),
        b"GET /v4/\xff\xfe HTTP/1.1\r\nAuthorization: pw\r\n\r\n",
    );
    assert_eq!(status_of(&a), 400, "{a}");
    // Garbage: 400.
    let a = raw(
        r.addr(),
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    );
    assert_eq!(status_of(&a), 400, "{a}");
    // Chunked bodies are refused clearly.
    let a = raw(
        r.addr(),
        b"POST /v4/decodetracks HTTP/1.1\r\nAuthorization: pw\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
    assert_eq!(status_of(&a), 501, "{a}");
    // Keep-alive and pipelining: three requests in one write, three answers in order.
    let mut s = TcpStream::connect(r.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"GET /version HTTP/1.1\r\nAuthorization: pw\r\n\r\n\
          GET /v4/nope HTTP/1.1\r\nAuthorization: pw\r\n\r\n\
          GET /version HTTP/1.1\r\nAuthorization: pw\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let first = read_answer(&mut s);
    assert_eq!(status_of(&first), 200, "{first}");
    let second = read_answer(&mut s);
    assert_eq!(status_of(&second), 404, "{second}");
    let third = read_answer(&mut s);
    assert_eq!(status_of(&third), 200, "{third}");
    assert!(third.to_ascii_lowercase().contains("connection: close"));
    // Expect: 100-continue gets its interim answer before the body is sent.
    let mut s = TcpStream::connect(r.addr()).unwrap();
    let interim = raw_on(
        &mut s,
        b"POST /v4/decodetracks HTTP/1.1\r\nAuthorization: pw\r\nContent-Type: application/json\r\n\
          Expect: 100-continue\r\nContent-Length: 2\r\n\r\n",
    );
    assert_eq!(status_of(&interim), 100, "{interim}");
    let a = raw_on(&mut s, b"[]");
    assert_eq!(status_of(&a), 400, "{a}");
    assert!(a.contains("No tracks to decode provided"), "{a}");
    // HEAD: GET's status and headers (Content-Length of the body it would send), no body.
    let mut s = TcpStream::connect(r.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"HEAD /version HTTP/1.1\r\nAuthorization: pw\r\n\r\n\
          GET /version HTTP/1.1\r\nAuthorization: pw\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let all = String::from_utf8_lossy(&all).into_owned();
    let (head, rest) = all.split_once("\r\n\r\n").expect("a HEAD answer");
    assert_eq!(status_of(head), 200, "{all}");
    let body_len: usize = head
        .to_ascii_lowercase()
        .lines()
        .find_map(|l| {
            l.strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .expect("Content-Length on HEAD");
    assert!(body_len > 0, "{all}");
    assert!(
        rest.starts_with("HTTP/1.1 200"),
        "no body after HEAD: {all}"
    );
    // A kept-alive connection serves later requests too.
    let mut s = TcpStream::connect(r.addr()).unwrap();
    for _ in 0..3 {
        let a = raw_on(
            &mut s,
            b"GET /version HTTP/1.1\r\nAuthorization: pw\r\n\r\n",
        );
        assert_eq!(status_of(&a), 200, "{a}");
    }
}

/// A WebSocket opened by hand (raw frames follow); returns the socket after the 101.
fn raw_ws(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    let a = raw_on(
        &mut s,
        b"GET /v4/websocket HTTP/1.1\r\nHost: x\r\nAuthorization: pw\r\nUser-Id: 1\r\n\
          Client-Name: hostile/1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    );
    assert_eq!(status_of(&a), 101, "{a}");
    s
}

/// A masked client frame header (zero mask key: the payload goes as is).
fn frame_head(opcode: u8, fin: bool, len: u64) -> Vec<u8> {
    let mut h = vec![if fin { 0x80 } else { 0 } | opcode];
    if len < 126 {
        h.push(0x80 | len as u8);
    } else if len <= 0xffff {
        h.push(0x80 | 126);
        h.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        h.push(0x80 | 127);
        h.extend_from_slice(&len.to_be_bytes());
    }
    h.extend_from_slice(&[0, 0, 0, 0]);
    h
}

/// The close code the server sent (None if it just dropped the socket).
fn close_code(s: &mut TcpStream, within: Duration) -> Option<u16> {
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    while Instant::now() < deadline {
        match s.read(&mut b) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&b[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
        // Walk the server's (unmasked) frames for a close.
        let mut i = 0;
        while i + 2 <= got.len() {
            let op = got[i] & 0x0f;
            let mut len = (got[i + 1] & 0x7f) as usize;
            let mut at = i + 2;
            if len == 126 {
                if at + 2 > got.len() {
                    break;
                }
                len = u16::from_be_bytes([got[at], got[at + 1]]) as usize;
                at += 2;
            } else if len == 127 {
                if at + 8 > got.len() {
                    break;
                }
                len = u64::from_be_bytes(got[at..at + 8].try_into().unwrap()) as usize;
                at += 8;
            }
            if at + len > got.len() {
                break;
            }
            if op == 8 && len >= 2 {
                return Some(u16::from_be_bytes([got[at], got[at + 1]]));
            }
            i = at + len;
        }
    }
    None
}

#[test]
fn giant_websocket_messages_and_ping_floods_are_cut_off() {
    let mut r = spawn("wsflood", "", None);
    // One frame announcing 64 MiB: refused from its header (1009).
    let mut s = raw_ws(r.addr());
    s.write_all(&frame_head(1, true, 64 << 20)).unwrap();
    let _ = s.write_all(&[b'a'; 16 * 1024]);
    assert_eq!(close_code(&mut s, Duration::from_secs(5)), Some(1009));
    // Unfinished fragmented messages past the cap: 1009 too.
    let mut s = raw_ws(r.addr());
    let mut bytes = frame_head(1, false, 40 * 1024);
    bytes.extend(std::iter::repeat_n(b'a', 40 * 1024));
    bytes.extend(frame_head(0, false, 40 * 1024));
    bytes.extend(std::iter::repeat_n(b'a', 40 * 1024));
    let _ = s.write_all(&bytes);
    assert_eq!(close_code(&mut s, Duration::from_secs(5)), Some(1009));
    // A ping flood: closed with 1008.
    let mut s = raw_ws(r.addr());
    let mut pings = Vec::new();
    for _ in 0..500 {
        pings.extend(frame_head(9, true, 4));
        pings.extend_from_slice(b"ping");
    }
    let _ = s.write_all(&pings);
    assert_eq!(close_code(&mut s, Duration::from_secs(5)), Some(1008));
    assert!(r.alive());
    assert!(version_ok(&r));
    assert!(r.status("VmRSS:") < 200 * 1024);
}

fn session(r: &Running) -> (Ws, String) {
    let mut ws = r.client.ws(None);
    let ready = ws.expect("ready", None, Duration::from_secs(10));
    (ws, ready["sessionId"].as_str().unwrap().to_string())
}

#[test]
fn client_errors_are_400_with_the_error_json() {
    let r = spawn("clienterr", "", None);
    let (_ws, sid) = session(&r);
    let path = format!("/v4/sessions/{sid}/players/1092473640983924900");
    let voice = |endpoint: &str, channel: &str| {
        format!(
            r#"{{"voice":{{"token":"t","endpoint":"{endpoint}","sessionId":"s","channelId":"{channel}"}}}}"#
        )
    };
    for (body, why) in [
        (
            voice("c-fra-1.discord.media:443", "general"),
            "non-numeric channelId",
        ),
        (voice("file:///etc/passwd", "1"), "file:// endpoint"),
        (voice("a b c", "1"), "garbage endpoint"),
        (voice("[[[::", "1"), "garbage endpoint"),
        (
            r#"{"track":{"encoded":"QUJDREVGRw=="}}"#.to_string(),
            "undecodable track",
        ),
        (
            r#"{"track":{"encoded":"!!not base64!!"}}"#.to_string(),
            "undecodable track",
        ),
    ] {
        let resp = r.client.patch(&path, &body);
        assert_eq!(resp.status, 400, "{why}: {}", resp.text());
        let j = resp.json();
        assert_eq!(j["status"], 400);
        assert_eq!(j["error"], "Bad Request");
        assert!(
            j["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{why}"
        );
        assert_eq!(j["path"], path.as_str());
    }
    let resp = r
        .client
        .get("/v4/decodetrack?encodedTrack=QUJDREVGRw%3D%3D");
    assert_eq!(resp.status, 400, "{}", resp.text());
    assert_eq!(resp.json()["error"], "Bad Request");
    let resp = r.client.post("/v4/decodetracks", r#"["QUJDREVGRw=="]"#);
    assert_eq!(resp.status, 400, "{}", resp.text());
}

#[test]
fn rate_limits_answer_429_with_retry_after() {
    let r = spawn(
        "ratelimit",
        "requests_per_s_per_ip = 5\nrequest_burst_per_ip = 10\nmax_connections_per_ip = 4\n\
         auth_failures_per_min_per_ip = 3",
        None,
    );
    let get = |from: &str, auth: &str| -> String {
        let mut s = connect_from(from, r.addr()).unwrap();
        raw_on(
            &mut s,
            format!("GET /version HTTP/1.1\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
    };
    // Requests: the burst passes, then 429 with Retry-After.
    let answers: Vec<String> = (0..30).map(|_| get("127.0.0.2", "pw")).collect();
    let ok = answers.iter().filter(|a| status_of(a) == 200).count();
    let limited: Vec<&String> = answers.iter().filter(|a| status_of(a) == 429).collect();
    assert!((10..30).contains(&ok), "{ok} passed");
    assert!(!limited.is_empty());
    assert!(limited[0].to_ascii_lowercase().contains("retry-after: "));
    // The allow-listed address is never limited.
    for _ in 0..50 {
        assert_eq!(status_of(&get("127.0.0.1", "pw")), 200);
    }
    // Failed authentication: blocked after 3, even with the right password.
    for _ in 0..3 {
        assert_eq!(status_of(&get("127.0.0.3", "wrong")), 403);
    }
    let a = get("127.0.0.3", "pw");
    assert_eq!(status_of(&a), 429, "{a}");
    // Connections per address.
    let held: Vec<TcpStream> = (0..4)
        .map(|_| connect_from("127.0.0.4", r.addr()).unwrap())
        .collect();
    let mut fifth = connect_from("127.0.0.4", r.addr()).unwrap();
    let a = read_answer(&mut fifth);
    assert_eq!(status_of(&a), 429, "{a}");
    drop(held);
}

#[test]
fn an_allowed_client_keeps_its_latency_while_others_flood() {
    let r = spawn(
        "floodlat",
        "workers = 4\nmax_connections_per_ip = 64\nheader_timeout_ms = 30000\nbody_timeout_ms = 30000",
        None,
    );
    let (_ws, sid) = session(&r);
    let addr = r.addr();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flooding = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut attackers = Vec::new();
    for i in 2..=9 {
        let from = format!("127.0.0.{i}");
        let stop = stop.clone();
        let flooding = flooding.clone();
        attackers.push(std::thread::spawn(move || {
            // Slowloris and slow bodies, held open.
            let mut held = Vec::new();
            for k in 0..24 {
                if let Ok(mut s) = connect_from(&from, addr) {
                    let _ = if k % 2 == 0 {
                        s.write_all(b"GET /v4/info HTTP/1.1\r\nAuthorization: pw\r\n")
                    } else {
                        s.write_all(
                            b"PATCH /v4/sessions/x/players/1 HTTP/1.1\r\nAuthorization: pw\r\n\
                              Content-Length: 5000\r\n\r\n{",
                        )
                    };
                    held.push(s);
                }
            }
            // And a request flood.
            flooding.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(mut s) = connect_from(&from, addr) {
                    let _ = s.write_all(b"GET /v4/info HTTP/1.1\r\nAuthorization: pw\r\n\r\n");
                    let mut b = [0u8; 512];
                    let _ = s.read(&mut b);
                }
            }
            drop(held);
        }));
    }
    poll::wait_until(
        "every attacker to hold its connections",
        poll::DEADLINE,
        || flooding.load(std::sync::atomic::Ordering::Acquire) == 8,
    );
    let path = format!("/v4/sessions/{sid}/players/1092473640983924900");
    let mut times = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let resp = r.client.patch(&path, r#"{"volume":50}"#);
        times.push(t.elapsed());
        assert_eq!(resp.status, 200, "{}", resp.text());
        // Pacing between measured requests, not a wait.
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for a in attackers {
        a.join().unwrap();
    }
    times.sort();
    eprintln!(
        "PATCH under flood: median {:?}, p90 {:?}, max {:?}",
        times[10], times[17], times[19]
    );
    // p90 within 50 ms (the median is far below; a loaded 2-core CI box gets one slack).
    assert!(times[17] < Duration::from_millis(50), "{times:?}");
}

#[test]
fn dead_voice_endpoints_hold_no_request_and_no_thread() {
    let r = spawn(
        "deadvoice",
        "\n[voice]\nallow_insecure_endpoints = true",
        None,
    );
    // Accepts TCP and never answers.
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        dead.set_nonblocking(true).unwrap();
        let until = Instant::now() + Duration::from_secs(40);
        while Instant::now() < until {
            match dead.accept() {
                Ok((s, _)) => held.push(s),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    let (mut ws, sid) = session(&r);
    // The players first, so what is measured below is the voice handshakes alone.
    for g in 0..100u64 {
        let path = format!("/v4/sessions/{sid}/players/{}", 1092473640983924900 + g);
        assert_eq!(r.client.patch(&path, r#"{"volume":100}"#).status, 200);
    }
    let threads_before = r.status("Threads:");
    let fds = || {
        std::fs::read_dir(format!("/proc/{}/fd", r.pid()))
            .unwrap()
            .count()
    };
    let targets = || {
        let mut v: Vec<String> = std::fs::read_dir(format!("/proc/{}/fd", r.pid()))
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .map(|p| {
                p.display()
                    .to_string()
                    .split(':')
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        v.sort();
        let mut counts: Vec<(String, usize)> = Vec::new();
        for t in v {
            match counts.last_mut() {
                Some((k, n)) if *k == t => *n += 1,
                _ => counts.push((t, 1)),
            }
        }
        counts
    };
    let fds_before = fds();
    let t = Instant::now();
    for g in 0..100u64 {
        let path = format!("/v4/sessions/{sid}/players/{}", 1092473640983924900 + g);
        let body = format!(
            r#"{{"voice":{{"token":"t","endpoint":"ws://{dead_addr}","sessionId":"s","channelId":"1"}}}}"#
        );
        let resp = r.client.patch(&path, &body);
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // REST stays fast while they hang.
    let t = Instant::now();
    assert!(version_ok(&r));
    assert!(t.elapsed() < Duration::from_millis(200));
    // A fixed handshake pool of 8: a few threads and descriptors, not 100 (a handshake in
    // flight holds ~4: the TCP socket, its clone, and the voice I/O's wake-ups).
    assert!(r.status("Threads:") <= threads_before + 8 + 2);
    assert!(
        fds() <= fds_before + 8 * 4 + 10,
        "{} fds, was {fds_before}: {:?}",
        fds(),
        targets()
    );
    // Failed handshakes arrive as WebSocketClosedEvent.
    let ev = ws.expect(
        "event",
        Some("WebSocketClosedEvent"),
        Duration::from_secs(20),
    );
    assert_eq!(ev["byRemote"], false);
    drop(holder);
}

#[test]
fn slow_loads_never_stop_rest_and_sigterm_still_exits() {
    let mut r = spawn("slowload", "load_timeout_ms = 1500", None);
    // A host that dribbles its answer at one byte per second.
    let slow = TcpListener::bind("127.0.0.1:0").unwrap();
    let slow_addr = slow.local_addr().unwrap();
    let reached = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let reaching = reached.clone();
    std::thread::spawn(move || {
        for s in slow.incoming().flatten() {
            reaching.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            std::thread::spawn(move || {
                let mut s = s;
                let mut b = [0u8; 2048];
                let _ = s.read(&mut b);
                for byte in b"HTTP/1.1 200 OK\r\nContent-Type: audio/mpeg\r\n\r\n"
                    .iter()
                    .cycle()
                {
                    if s.write_all(&[*byte]).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            });
        }
    });
    let url = format!("http://{slow_addr}/slow.mp3");
    let loads: Vec<_> = (0..16)
        .map(|_| {
            let c = r.client.clone();
            let url = url.clone();
            std::thread::spawn(move || {
                let t = Instant::now();
                let resp = c.get(&format!(
                    "/v4/loadtracks?identifier={}",
                    url.replace(':', "%3A")
                ));
                (resp.status, resp.json(), t.elapsed())
            })
        })
        .collect();
    // Every loader (4 by default) stuck on the slow host before REST is timed.
    poll::wait_until("the loads to reach the slow host", poll::DEADLINE, || {
        reached.load(std::sync::atomic::Ordering::Acquire) >= 4
    });
    for _ in 0..5 {
        let t = Instant::now();
        assert!(version_ok(&r));
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
    }
    for l in loads {
        let (status, body, took) = l.join().unwrap();
        assert_eq!(status, 200);
        assert_eq!(body["loadType"], "error", "{body}");
        assert!(took < Duration::from_secs(5), "{took:?}");
    }
    // SIGTERM ends the process although loads are still stuck on the slow host.
    // SAFETY: signalling our own child.
    unsafe { libc::kill(r.pid() as i32, libc::SIGTERM) };
    let status = poll::wait_for("the node to exit on SIGTERM", poll::DEADLINE, || {
        r.child.try_wait().unwrap()
    });
    assert!(status.success(), "{status:?}");
}
