//! `perf/node_memory`: what one player costs in the setup users run — the real `basalt`
//! binary, every player with its own voice connection (a fake Discord voice server on
//! loopback, DAVE optional), an HTTP MP3 source (a local server that honours `Range`, as
//! CDNs do) and filters (equalizer + timescale). Prints the node's RSS and anonymous memory
//! before and after N players start, and the difference per player.
//!
//! cargo build --release && cargo run --release --example node_memory -- \
//!     [players=50] [--dave] [--no-filters] [--bin target/release/basalt] [--settle 8]
//!
//! Players are added in five steps (N/5, then a quarter of the rest at a time) and the
//! per-player figure is the least-squares slope over them, so one-off costs (the first
//! voice connection's threads, the HTTP client's pool, allocator arenas touched once) do
//! not count per player, and one noisy step moves it less.

#[path = "../tests/support/fake_voice/mod.rs"]
mod fake_voice;
#[path = "../tests/support/http_client.rs"]
mod http_client;
#[path = "mp3_loop.rs"]
mod mp3_loop;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_voice::{FakeConfig, FakeVoice};
use http_client::{ws_connect, Client};
use mp3_loop::make_mp3;
use serde_json::json;

const PW: &str = "node-memory";
const USER: u64 = 170_939_974_227_541_168;
const PEER: u64 = 500_000_000_000_000_009;

struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        // SIGTERM first: a profiler wrapping the node (valgrind --tool=massif) writes its
        // report on a clean exit.
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let end = Instant::now() + Duration::from_secs(30);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `VmRSS` and the anonymous part of it (`RssAnon`), in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("RssAnon:"))
}

fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// A loopback media server: one thread per request, `Range` honoured (206), as a CDN would.
fn serve(bytes: Arc<Vec<u8>>) -> SocketAddr {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("media server");
    let addr = server.server_addr().to_ip().expect("ip addr");
    std::thread::spawn(move || {
        for req in server.incoming_requests() {
            let bytes = bytes.clone();
            std::thread::spawn(move || {
                let len = bytes.len();
                let range = req
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("Range"))
                    .and_then(|h| h.value.as_str().strip_prefix("bytes="))
                    .and_then(|r| {
                        let (a, b) = r.split_once('-')?;
                        let a: usize = a.parse().ok()?;
                        let b = b.parse::<usize>().map_or(len - 1, |b| b.min(len - 1));
                        (a <= b).then_some((a, b))
                    });
                let header = |k: &str, v: &str| {
                    tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).expect("header")
                };
                let resp = match range {
                    Some((a, b)) => tiny_http::Response::from_data(bytes[a..=b].to_vec())
                        .with_status_code(206)
                        .with_header(header("Content-Range", &format!("bytes {a}-{b}/{len}"))),
                    None => tiny_http::Response::from_data(bytes.to_vec()),
                };
                let resp = resp
                    .with_header(header("Content-Type", "audio/mpeg"))
                    .with_header(header("Accept-Ranges", "bytes"));
                let _ = req.respond(resp);
            });
        }
    });
    addr
}

fn start_node(bin: &str) -> (Node, SocketAddr) {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let dir = std::env::temp_dir().join(format!("basalt-node-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cfg = dir.join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\naddress = \"127.0.0.1\"\nport = {port}\npassword = \"{PW}\"\n\n\
             [sources]\nhttp = true\nyoutube = false\ntwitch = false\nvimeo = false\n\n\
             [voice]\nallow_insecure_endpoints = true\n\n\
             [logging]\nlevel = \"warn\"\nrequest_logging = false\n"
        ),
    )
    .expect("config");
    let child = Command::new(bin)
        .arg("--config")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let end = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < end, "basalt did not start listening");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Node(child), addr)
}

struct Options {
    players: usize,
    dave: bool,
    filters: bool,
    bin: String,
    settle: u64,
}

fn options() -> Options {
    let mut o = Options {
        players: 50,
        dave: false,
        filters: true,
        bin: concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/basalt").into(),
        settle: 8,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--dave" => o.dave = true,
            "--no-filters" => o.filters = false,
            "--bin" => o.bin = args.next().expect("--bin PATH"),
            "--settle" => {
                o.settle = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .expect("--settle S")
            }
            n => o.players = n.parse().unwrap_or_else(|_| panic!("unknown argument {n}")),
        }
    }
    o
}

fn main() {
    let o = options();
    let media = serve(Arc::new(make_mp3(600)));
    let (node, addr) = start_node(&o.bin);
    let pid = node.0.id();
    let user = USER.to_string();
    let mut ws = ws_connect(
        addr,
        &[
            ("Authorization", PW),
            ("User-Id", &user),
            ("Client-Name", "basalt-node-memory/1.0"),
        ],
    )
    .expect("websocket");
    let ready = ws.expect("ready", None, Duration::from_secs(5));
    let sid = ready["sessionId"].as_str().expect("session id").to_string();
    let client = Client::new(addr, PW);
    // A reader thread keeps the session's events flowing (a bot reads its WebSocket).
    std::thread::spawn(move || loop {
        if ws.next(Duration::from_secs(3600)).is_err() {
            return;
        }
    });
    std::thread::sleep(Duration::from_secs(1));
    let base = memory_kib(pid);
    let base_threads = threads(pid);
    println!(
        "node: RSS {} KiB (anon {} KiB), {} threads; dave={} filters={}",
        base.0, base.1, base_threads, o.dave, o.filters
    );

    let mut fakes = Vec::new();
    let step = |from: usize, to: usize, fakes: &mut Vec<FakeVoice>| {
        for i in from..to {
            let guild = 900_000_000_000_000_000u64 + i as u64;
            let f = FakeVoice::start(FakeConfig {
                dave: o.dave,
                peers: if o.dave { vec![PEER] } else { vec![] },
                guild_id: guild,
                user_id: USER,
                ..FakeConfig::default()
            });
            let mut body = json!({
                "track": {"identifier": format!("http://{media}/tone-{i}.mp3")},
                "voice": {
                    "token": f.config.token,
                    "endpoint": f.endpoint,
                    "sessionId": f.config.session_id,
                    "channelId": f.config.channel_id.to_string(),
                },
            });
            if o.filters {
                body["filters"] = json!({
                    "equalizer": [{"band": 0, "gain": 0.2}, {"band": 3, "gain": -0.1}],
                    "timescale": {"speed": 1.1, "pitch": 1.05, "rate": 1.0},
                });
            }
            // A loaded machine can miss a connect deadline: try a PATCH three times.
            let path = format!("/v4/sessions/{sid}/players/{guild}");
            let mut r = client.patch(&path, &body.to_string());
            for _ in 0..2 {
                if r.status == 200 {
                    break;
                }
                eprintln!("PATCH {guild}: {} (retrying)", r.text());
                r = client.patch(&path, &body.to_string());
            }
            assert_eq!(r.status, 200, "PATCH: {}", r.text());
            fakes.push(f);
        }
        std::thread::sleep(Duration::from_secs(o.settle));
        let sending = fakes
            .iter()
            .filter(|f| f.state().packets.len() > 10)
            .count();
        // Each fake keeps every packet it decrypts: forget them to bound this process.
        for f in fakes.iter() {
            f.state().packets.clear();
        }
        let m = memory_kib(pid);
        println!(
            "{to:>4} players ({sending} sending audio): RSS {} KiB (anon {} KiB), {} threads",
            m.0,
            m.1,
            threads(pid)
        );
        m
    };
    // The slope is fitted (least squares) over five counts, not taken between two: one
    // pair of points moved by ±20 KiB per player from run to run.
    let first = (o.players / 5).max(1);
    let mut counts = vec![first];
    for k in 1..=4 {
        counts.push((first + (o.players - first) * k / 4).max(counts[k - 1]));
    }
    counts.dedup();
    let mut points = Vec::new();
    let mut from = 0;
    for &to in &counts {
        let m = step(from, to, &mut fakes);
        points.push((to as f64, m.0 as f64, m.1 as f64));
        from = to;
    }
    let fit = |y: fn(&(f64, f64, f64)) -> f64| {
        let n = points.len() as f64;
        let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
        let my = points.iter().map(y).sum::<f64>() / n;
        let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (y(p) - my)).sum();
        let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
        if sxx > 0.0 {
            sxy / sxx
        } else {
            0.0
        }
    };
    let last = points.last().copied().unwrap_or((0.0, 0.0, 0.0));
    println!(
        "per player (least-squares slope over {:?} players): RSS {:.0} KiB, anon {:.0} KiB; from idle: RSS {:.0} KiB",
        counts,
        fit(|p| p.1),
        fit(|p| p.2),
        (last.1 - base.0 as f64) / o.players as f64,
    );
    drop(fakes);
    drop(node);
}
