//! Graceful drain through the real binary: SIGTERM or `POST /v4/drain` refuses new
//! sessions (503) and PATCHes that would create a player or start a track (503, Lavalink's
//! error JSON), keeps everything else working, lets playing tracks end (or cuts them at
//! `drain_timeout_s`), then closes client sockets with 1001 and exits 0. A second SIGTERM
//! exits at once.

#[path = "support/fake_voice/mod.rs"]
mod fake_voice;
#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/ops_node.rs"]
mod ops_node;
#[path = "support/poll.rs"]
mod poll;

use std::time::{Duration, Instant};

use http_client::request;
use ops_node::*;
use serde_json::json;

const PW: &str = "drain-pw";
const GUILD: u64 = 817_327_181_659_111_454;
const OTHER_GUILD: u64 = 817_327_181_659_111_455;

fn start(tag: &str, drain_timeout_s: u32) -> Node {
    let port = free_port();
    let cfg = config_text(
        port,
        PW,
        &format!("drain_timeout_s = {drain_timeout_s}"),
        "[logging]\nlevel = \"info\"\n",
    );
    Node::start(tag, port, &cfg)
}

/// A session playing a `secs`-second WAV to a fake voice server (started).
fn playing(node: &Node, secs: f64) -> (http_client::Ws, String, fake_voice::FakeVoice) {
    let (mut ws, sid) = session(node, PW);
    let f = voice(GUILD);
    let wav = sine_wav(&node.dir, "sine.wav", secs);
    let r = node.client(PW).patch(
        &format!("/v4/sessions/{sid}/players/{GUILD}"),
        &play_body(&f, &wav),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    ws.expect("event", Some("TrackStartEvent"), Duration::from_secs(10));
    (ws, sid, f)
}

fn assert_503_json(r: &http_client::Resp, path: &str) {
    assert_eq!(r.status, 503, "{}", r.text());
    let v = r.json();
    assert_eq!(v["status"], json!(503), "{v}");
    assert_eq!(v["error"], json!("Service Unavailable"), "{v}");
    assert_eq!(v["path"], json!(path), "{v}");
    assert!(v["message"].as_str().unwrap().contains("draining"), "{v}");
    assert!(v["timestamp"].as_i64().unwrap() > 0, "{v}");
}

#[test]
fn sigterm_drains_until_the_track_ends_then_closes_1001_and_exits_0() {
    let mut node = start("sigterm", 30);
    let c = node.client(PW);
    let (mut ws, sid, f) = playing(&node, 3.0);
    let t0 = Instant::now();
    node.signal(libc::SIGTERM);
    node.wait_log("SIGTERM received: draining", Duration::from_secs(10));
    assert!(node.wait_exit(Duration::ZERO).is_none(), "exited at once");

    // a new WebSocket is refused with 503
    assert_eq!(try_session(&node, PW).err(), Some(503));
    // a PATCH creating a player: 503 with the error JSON
    let other = format!("/v4/sessions/{sid}/players/{OTHER_GUILD}");
    assert_503_json(&c.patch(&other, r#"{"volume": 50}"#), &other);
    // a PATCH starting a track on the existing player: 503
    let path = format!("/v4/sessions/{sid}/players/{GUILD}");
    let wav = node.dir.join("sine.wav");
    let body = json!({"track": {"identifier": wav.to_str().unwrap()}}).to_string();
    assert_503_json(&c.patch(&path, &body), &path);
    let body = json!({"track": {"encoded": "QAAA"}}).to_string();
    assert_503_json(&c.patch(&path, &body), &path);
    // everything else keeps working: player updates, reads, loads
    let r = c.patch(&path, r#"{"volume": 80, "filters": {"volume": 1.0}}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["volume"], json!(80));
    assert_eq!(c.get("/v4/info").status, 200);
    assert_eq!(c.get(&format!("/v4/sessions/{sid}/players")).status, 200);
    let load = c.get(&format!(
        "/v4/loadtracks?identifier={}",
        wav.to_str().unwrap()
    ));
    assert_eq!(load.json()["loadType"], json!("track"));
    assert_eq!(node.wait_exit(Duration::ZERO), None);

    // the track plays to its end, then the socket closes with 1001 and the node exits 0
    let end = ws.expect("event", Some("TrackEndEvent"), Duration::from_secs(10));
    assert_eq!(end["reason"], json!("finished"));
    assert_eq!(close_code(&mut ws, Duration::from_secs(5)), Some(1001));
    let status = node
        .wait_exit(Duration::from_secs(10))
        .expect("did not exit");
    assert_eq!(status.code(), Some(0), "{}", node.stderr());
    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());
    let audio = f.packets().len();
    assert!(
        audio >= 100,
        "the track played during the drain: {audio} packets"
    );
}

#[test]
fn post_drain_is_authenticated_and_the_timeout_cuts_long_tracks() {
    let mut node = start("post", 1);
    let c = node.client(PW);
    let (mut ws, _sid, _f) = playing(&node, 30.0);
    // unauthenticated: refused, no drain
    assert_eq!(
        request(node.addr, "POST", "/v4/drain", &[], Some(&[][..])).status,
        401
    );
    let r = request(
        node.addr,
        "POST",
        "/v4/drain",
        &[("Authorization", "wrong")],
        Some(&[][..]),
    );
    assert_eq!(r.status, 403);
    let probe = try_session(&node, PW).expect("not draining yet");
    probe.close();
    assert_eq!(c.get("/v4/drain").status, 405);

    let t0 = Instant::now();
    let r = c.post("/v4/drain", "");
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(try_session(&node, PW).err(), Some(503));
    // idempotent
    assert_eq!(c.post("/v4/drain", "").status, 204);
    // the 30 s track is cut at drain_timeout_s = 1
    assert_eq!(close_code(&mut ws, Duration::from_secs(10)), Some(1001));
    let status = node
        .wait_exit(Duration::from_secs(10))
        .expect("did not exit");
    assert_eq!(status.code(), Some(0));
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(8),
        "{took:?}"
    );
    assert!(
        node.stderr().contains("drain timeout passed"),
        "{}",
        node.stderr()
    );
}

#[test]
fn a_second_sigterm_exits_at_once() {
    let mut node = start("twice", 30);
    let (_ws, _sid, _f) = playing(&node, 30.0);
    // a drain started over REST: the first SIGTERM is still a first one
    assert_eq!(node.client(PW).post("/v4/drain", "").status, 204);
    node.signal(libc::SIGTERM);
    // Handled as a first SIGTERM: logged as the start of a drain, and the node stays up.
    node.wait_log("SIGTERM received: draining", Duration::from_secs(10));
    assert_eq!(node.wait_exit(Duration::ZERO), None, "still draining");
    let t0 = Instant::now();
    node.signal(libc::SIGTERM);
    let status = node
        .wait_exit(Duration::from_secs(2))
        .expect("did not exit at once");
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_drain_with_nothing_playing_ends_at_once() {
    let mut node = start("idle", 30);
    let (mut ws, _sid) = session(&node, PW);
    node.signal(libc::SIGTERM);
    assert_eq!(close_code(&mut ws, Duration::from_secs(5)), Some(1001));
    let status = node
        .wait_exit(Duration::from_secs(5))
        .expect("did not exit");
    assert_eq!(status.code(), Some(0));
}
