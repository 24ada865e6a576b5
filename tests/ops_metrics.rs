//! `/metrics` through the binary: the `basalt_*` families beside Lavalink's, in valid
//! text exposition format, with bounded labels and live figures.

#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/poll.rs"]
mod poll;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};

use http_client::*;

const BIN: &str = env!("CARGO_BIN_EXE_basalt");

struct Node {
    child: Child,
    client: Client,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Node {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // One file per node: the tests of this file run in parallel.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let cfg = std::env::temp_dir().join(format!(
        "basalt-ops-metrics-{}-{n}.toml",
        std::process::id()
    ));
    std::fs::write(
        &cfg,
        format!(
            "[server]\naddress = \"127.0.0.1\"\nport = {port}\npassword = \"pw\"\n\
             [player]\nrealtime_pacer = false\n[metrics]\nprometheus = true\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = Client::new(format!("127.0.0.1:{port}").parse().unwrap(), "pw");
    poll::wait_listening(&mut child, client.addr);
    Node { child, client }
}

/// Parses an exposition body: (family → type), and sample line → value. Panics on a
/// line that is not a comment or `name{labels} value`.
fn parse(text: &str) -> (BTreeMap<String, String>, BTreeMap<String, f64>) {
    let mut types = BTreeMap::new();
    let mut samples = BTreeMap::new();
    let mut helped = std::collections::BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP text");
            assert!(!help.is_empty());
            helped.insert(name.to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(helped.contains(name), "TYPE before HELP for {name}");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(
                types.insert(name.to_string(), kind.to_string()).is_none(),
                "{name} twice"
            );
            continue;
        }
        assert!(!line.starts_with('#'), "{line}");
        let (series, value) = line.rsplit_once(' ').expect(line);
        let v: f64 = match value {
            "+Inf" => f64::INFINITY,
            "NaN" => f64::NAN,
            v => v.parse().unwrap_or_else(|_| panic!("value in {line}")),
        };
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            if !labels.is_empty() {
                assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
                for pair in labels[1..labels.len() - 1].split("\",") {
                    let (k, v) = pair.split_once("=\"").expect(line);
                    assert!(k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
                    assert!(!v.contains('\n'));
                }
            }
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        assert!(types.contains_key(family), "sample {name} without TYPE");
        assert!(
            samples.insert(series.to_string(), v).is_none(),
            "{series} twice"
        );
    }
    (types, samples)
}

#[test]
fn basalt_families_beside_lavalinks() {
    let node = start();
    let c = &node.client;
    assert_eq!(c.get("/v4/info").status, 200);
    assert_eq!(c.get("/v4/info").status, 200);
    assert_eq!(c.get("/v4/sessions/nope/players/123").status, 404);
    assert_eq!(request(c.addr, "GET", "/v4/stats", &[], None).status, 401);
    let load = c.get("/v4/loadtracks?identifier=definitely-not-a-source%3Athing");
    assert_eq!(load.status, 200);

    let m = request(c.addr, "GET", "/metrics", &[], None);
    assert_eq!(m.status, 200);
    assert_eq!(
        m.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = m.text();
    let (types, s) = parse(&text);
    for (family, kind) in [
        ("lavalink_players_total", "gauge"),
        ("lavalink_playing_players_total", "gauge"),
        ("lavalink_cpu_cores", "gauge"),
        ("process_cpu_seconds_total", "counter"),
        ("basalt_frames_total", "counter"),
        ("basalt_pacing_lateness_seconds", "histogram"),
        ("basalt_encode_seconds", "histogram"),
        ("basalt_decode_seconds", "histogram"),
        ("basalt_players", "gauge"),
        ("basalt_voice_connections", "gauge"),
        ("basalt_voice_reconnects_total", "counter"),
        ("basalt_voice_udp_send_errors_total", "counter"),
        ("basalt_track_exceptions_total", "counter"),
        ("basalt_track_stuck_total", "counter"),
        ("basalt_loads_total", "counter"),
        ("basalt_load_seconds", "histogram"),
        ("basalt_http_requests_total", "counter"),
        ("basalt_ratelimit_rejections_total", "counter"),
    ] {
        assert_eq!(
            types.get(family).map(String::as_str),
            Some(kind),
            "{family}\n{text}"
        );
    }
    // the planner is off: no failing-address gauge
    assert!(!types.contains_key("basalt_routeplanner_failing_addresses"));

    // live figures
    assert!(s["basalt_http_requests_total{route=\"/v4/info\",status=\"200\"}"] >= 2.0);
    assert!(
        s["basalt_http_requests_total{route=\"/v4/sessions/{sessionId}/players/{guildId}\",status=\"404\"}"]
            >= 1.0
    );
    assert!(s["basalt_http_requests_total{route=\"/v4/stats\",status=\"401\"}"] >= 1.0);
    let loads: f64 = s
        .iter()
        .filter(|(k, _)| k.starts_with("basalt_loads_total{source=\"other\""))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(loads, 1.0, "{text}");
    assert_eq!(s["basalt_load_seconds_count{source=\"other\"}"], 1.0);
    // An idle node's pacer does not tick (no players attached: no spin, no wake-ups);
    // whatever it recorded is a consistent histogram.
    let ticks = s["basalt_pacing_lateness_seconds_count"];
    assert_eq!(
        s["basalt_pacing_lateness_seconds_bucket{le=\"+Inf\"}"],
        ticks
    );
    for state in ["playing", "paused", "idle"] {
        assert_eq!(s[&format!("basalt_players{{state=\"{state}\"}}")], 0.0);
    }
    for r in ["sent", "silence", "missed"] {
        assert!(s.contains_key(&format!("basalt_frames_total{{result=\"{r}\"}}")));
    }

    // histograms: cumulative buckets ending at +Inf == _count
    let mut last: BTreeMap<String, f64> = BTreeMap::new();
    for line in text.lines().filter(|l| l.contains("_bucket{")) {
        let (series, v) = line.rsplit_once(' ').unwrap();
        let key = series.split("le=").next().unwrap().to_string();
        let v: f64 = v.parse().unwrap();
        let prev = last.insert(key, v).unwrap_or(0.0);
        assert!(v >= prev, "not cumulative: {line}");
    }

    // the Grafana dashboard queries exactly these families
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/ops/grafana-dashboard.json"
        ))
        .unwrap(),
    )
    .expect("dashboard is JSON");
    let mut used = std::collections::BTreeSet::new();
    for panel in dash["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(i) = rest.find("basalt_") {
                let name: String = rest[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[i + name.len()..];
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .unwrap_or(&name)
                    .to_string();
                used.insert(family);
            }
        }
    }
    for f in &used {
        assert!(
            types.contains_key(f) || f == "basalt_routeplanner_failing_addresses",
            "dashboard uses {f}, not exported"
        );
    }
    for f in types.keys().filter(|f| f.starts_with("basalt_")) {
        assert!(used.contains(f), "{f} not on the dashboard");
    }

    // labels are bounded: no session or guild id anywhere
    assert!(!text.contains("nope") && !text.contains("123\""), "{text}");

    // the name[] filter also selects basalt families, histograms by their samples
    let f = request(
        c.addr,
        "GET",
        "/metrics?name[]=basalt_track_stuck_total&name[]=basalt_encode_seconds_count",
        &[],
        None,
    )
    .text();
    let (types, _) = parse(&f);
    assert_eq!(
        types.keys().cloned().collect::<Vec<_>>(),
        vec![
            "basalt_encode_seconds".to_string(),
            "basalt_track_stuck_total".to_string()
        ]
    );
}

/// The value of one series in a scrape (0 when absent).
fn series(c: &Client, name: &str) -> f64 {
    let (_, s) = parse(&request(c.addr, "GET", "/metrics", &[], None).text());
    s.get(name).copied().unwrap_or(0.0)
}

#[test]
fn websocket_upgrades_are_counted() {
    let node = start();
    let c = &node.client;
    let ok = "basalt_http_requests_total{route=\"/v4/websocket\",status=\"101\"}";
    let bad = "basalt_http_requests_total{route=\"/v4/websocket\",status=\"400\"}";
    let unauth = "basalt_http_requests_total{route=\"/v4/websocket\",status=\"401\"}";
    assert_eq!(series(c, ok), 0.0);

    let mut a = c.ws(None);
    let mut b = c.ws(None);
    // a handshake without User-Id is refused (400), a wrong password too (401)
    assert_eq!(
        ws_connect(c.addr, &[("Authorization", "pw")]).err(),
        Some(400)
    );
    assert_eq!(
        ws_connect(c.addr, &[("Authorization", "nope"), ("User-Id", "1")]).err(),
        Some(401)
    );
    // a plain GET of the socket path (no Upgrade) is a 400 of the same route
    assert_eq!(c.get("/v4/websocket").status, 400);

    // The 101 is counted once the upgrade is handed over, which may be just after the
    // client has its answer: wait for the count rather than read it once.
    poll::wait_until("two upgrades counted", poll::DEADLINE, || {
        series(c, ok) == 2.0
    });
    assert_eq!(series(c, bad), 2.0);
    assert_eq!(series(c, unauth), 1.0);
    let _ = a.ws.close(None);
    let _ = b.ws.close(None);

    // a resume is an upgrade too; the route label stays the template (no session ids)
    let mut r = c.ws(Some("not-a-session"));
    poll::wait_until("the resume's upgrade counted", poll::DEADLINE, || {
        series(c, ok) == 3.0
    });
    let _ = r.ws.close(None);
    let text = request(c.addr, "GET", "/metrics", &[], None).text();
    assert!(!text.contains("not-a-session"), "{text}");
}
