//! The control plane over real sockets: every REST route and error path, auth, the PATCH
//! algorithm (§6), WebSocket ops, cadence and resuming, against a scripted engine.

#[path = "support/fake_backend.rs"]
mod fake_backend;
#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/poll.rs"]
mod poll;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use basalt::config::Config;
use basalt::player::{EndReason, PlayerEventKind};
use basalt::server::{Server, ServerOptions};
use basalt::track::{Severity, TrackException};
use fake_backend::*;
use http_client::*;
use serde_json::{json, Value};

const PW: &str = "youshallnotpass";
const GUILD: u64 = 817327181659111454;
const SEC: Duration = Duration::from_secs(1);

struct Node {
    server: Option<Server>,
    c: Client,
    fakes: Fakes,
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown();
        }
    }
}

fn start_with(cfg: impl FnOnce(&mut Config), opts: impl FnOnce(&mut ServerOptions)) -> Node {
    let mut config = Config::default();
    config.server.address = "127.0.0.1".into();
    config.server.port = 0;
    config.server.password = Some(PW.into());
    config.logging.request_logging = false;
    cfg(&mut config);
    let mut o = ServerOptions::from_config(&config);
    o.workers = 4;
    opts(&mut o);
    let (backend, fakes) = backend();
    let server = Server::start(config, backend, o).expect("server starts");
    let c = Client::new(server.local_addr(), PW);
    Node {
        server: Some(server),
        c,
        fakes,
    }
}

fn start() -> Node {
    start_with(|_| {}, |_| {})
}

fn examples() -> Value {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/examples.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn example(name: &str) -> Value {
    examples()[name]["payload"].clone()
}

/// Same keys in the same order and the same JSON types, recursively (values may differ).
fn assert_shape(actual: &Value, expected: &Value, at: &str) {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            let ak: Vec<_> = a.keys().collect();
            let ek: Vec<_> = e.keys().collect();
            assert_eq!(ak, ek, "keys at {at}");
            for (k, v) in e {
                assert_shape(&a[k], v, &format!("{at}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            if let (Some(a0), Some(e0)) = (a.first(), e.first()) {
                assert_shape(a0, e0, &format!("{at}[0]"));
            }
        }
        (Value::Number(a), Value::Number(e)) => {
            assert_eq!(a.is_f64(), e.is_f64(), "number kind at {at}: {a} vs {e}");
        }
        (a, e) => assert_eq!(
            std::mem::discriminant(a),
            std::mem::discriminant(e),
            "type at {at}: {a} vs {e}"
        ),
    }
}

fn connect(n: &Node) -> (Ws, String) {
    let mut ws = n.c.ws(None);
    let ready = ws.next(5 * SEC).unwrap().expect("ready");
    assert_eq!(ready["op"], "ready");
    let id = ready["sessionId"].as_str().unwrap().to_string();
    (ws, id)
}

/// Until a session's socket close has been noticed (a paused session is not visible over
/// REST), so a reconnect is a resume and not a race with the old socket.
fn until_paused(n: &Node, sid: &str) {
    poll::wait_until("the session to pause", poll::DEADLINE, || {
        n.c.get(&format!("/v4/sessions/{sid}/players")).status == 404
    });
}

/// The fake engine's command log once it has at least `len` entries (it runs on its own
/// thread); after the deadline, whatever it has, for the caller's assertion to show.
fn commands(n: &Node, len: usize) -> Vec<String> {
    let deadline = Instant::now() + poll::DEADLINE;
    loop {
        let c = n.fakes.engine.commands(GUILD);
        if c.len() >= len || Instant::now() > deadline {
            return c;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn player_path(sid: &str) -> String {
    format!("/v4/sessions/{sid}/players/{GUILD}")
}

// ---------------------------------------------------------------------------------------
// Auth, headers, errors

#[test]
fn auth_statuses_and_api_header() {
    let n = start();
    for path in [
        "/version",
        "/v4/info",
        "/v4/stats",
        "/",
        "/v3/websocket",
        "/v4/sessions/x/players",
    ] {
        let r = request(n.c.addr, "GET", path, &[], None);
        assert_eq!(r.status, 401, "{path}");
        assert!(r.body.is_empty());
        assert_eq!(r.header("Lavalink-Api-Version"), Some("4"));
        let r = request(n.c.addr, "GET", path, &[("Authorization", "wrong")], None);
        assert_eq!(r.status, 403, "{path}");
        assert!(r.body.is_empty());
        let r = request(
            n.c.addr,
            "GET",
            path,
            &[("Authorization", &format!("Bearer {PW}"))],
            None,
        );
        assert_eq!(r.status, 403, "{path}");
    }
    let r = n.c.get("/version");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Lavalink-Api-Version"), Some("4"));
    assert!(r.header("Content-Type").unwrap().starts_with("text/plain"));
    assert_eq!(r.text(), "4.2.2");
    for path in ["/", "/v3/websocket"] {
        let r = n.c.get(path);
        assert_eq!(r.status, 200);
        assert!(r.body.is_empty());
    }
}

#[test]
fn error_json_and_trace() {
    let n = start();
    let path = format!("/v4/sessions/xtaug914v9k5032f/players/{GUILD}");
    let r = n.c.get(&path);
    assert_eq!(r.status, 404);
    assert_eq!(r.header("Lavalink-Api-Version"), Some("4"));
    let v = r.json();
    let mut expected = example("errorResponse");
    expected.as_object_mut().unwrap().shift_remove("trace");
    assert_shape(&v, &expected, "error");
    assert_eq!(v["status"], 404);
    assert_eq!(v["error"], "Not Found");
    assert_eq!(v["message"], "Session not found");
    assert_eq!(v["path"], path);
    assert!((v["timestamp"].as_i64().unwrap() - basalt::server::now_ms()).abs() < 60_000);
    for q in ["?trace=true", "?trace", "?trace=yes"] {
        let v = n.c.get(&format!("{path}{q}")).json();
        assert_shape(&v, &example("errorResponse"), "error+trace");
        assert_eq!(v["path"], path, "path has no query");
    }
    for q in ["?trace=false", "?trace=FALSE"] {
        assert!(n.c.get(&format!("{path}{q}")).json().get("trace").is_none());
    }
    // unknown routes / methods
    assert_eq!(n.c.get("/v4/nope").status, 404);
    assert_eq!(n.c.delete("/v4/info").status, 405);
}

// ---------------------------------------------------------------------------------------
// Info, stats, loadtracks, decode

#[test]
fn info_and_stats() {
    let n = start_with(|c| c.filters.karaoke = false, |_| {});
    let v = n.c.get("/v4/info").json();
    assert_shape(&v, &example("info"), "info");
    assert_eq!(v["version"]["major"], 4);
    assert_eq!(v["version"]["preRelease"], "");
    assert!(v["version"].get("build").is_none());
    assert_eq!(
        v["sourceManagers"],
        json!([
            "youtube",
            "soundcloud",
            "bandcamp",
            "twitch",
            "vimeo",
            "http"
        ])
    );
    assert_eq!(
        v["filters"],
        json!([
            "volume",
            "equalizer",
            "timescale",
            "tremolo",
            "vibrato",
            "distortion",
            "rotation",
            "channelMix",
            "lowPass",
            "echo",
            "high-pass",
            "low-pass",
            "normalization",
            "highPass",
            "chorus",
            "flanger",
            "phaser",
            "compressor",
            "spatial",
            "reverb"
        ])
    );
    // The native LavaDSPX entry, then built-in plugins with something to serve by
    // default: SponsorBlock only.
    let names: Vec<&str> = v["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    // ... and the built-in YouTube source's youtube-source entry.
    assert_eq!(
        names,
        ["lavadspx-plugin", "sponsorblock-plugin", "youtube-plugin"]
    );
    assert_eq!(v["plugins"][2]["version"], env!("CARGO_PKG_VERSION"));
    // build.rs stamps the commit the binary was built from (and its time, in ms).
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=7", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match head {
        Some(h) => {
            assert_eq!(v["git"]["commit"], h.as_str());
            assert!(v["git"]["commitTime"].as_i64().unwrap() > 1_600_000_000_000);
        }
        None => assert_eq!(v["git"]["commit"], "unknown"),
    }

    let s = n.c.get("/v4/stats").json();
    assert_shape(&s, &example("restStats"), "stats");
    assert!(s.get("frameStats").is_none());
    assert_eq!(s["players"], 0);
    assert!(s["cpu"]["cores"].as_i64().unwrap() >= 1);
    assert!(s["memory"]["allocated"].as_u64().unwrap() > 0);
}

#[test]
fn loadtracks_results_match_examples() {
    let n = start();
    let load = |id: &str| {
        n.c.get(&format!("/v4/loadtracks?identifier={}", urlencode(id)))
    };
    let r = load("https://www.youtube.com/watch?v=dQw4w9WgXcQ");
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), example("loadResultTrack"));
    assert_eq!(
        load("https://www.mboxdrive.com/startmusic.mp3").json(),
        example("loadResultTrackHttp")
    );
    assert_eq!(load("playlist").json(), example("loadResultPlaylist"));
    assert_eq!(
        load("ytsearch:rick astley").json(),
        example("loadResultSearch")
    );
    assert_eq!(load("nothing here").json(), example("loadResultEmpty"));
    let e = load("error").json();
    assert_shape(&e, &example("loadResultError"), "error");
    assert_eq!(e["data"]["severity"], "common");
    // '+' in a query is a space, %2B a plus: both reach the loader decoded
    assert_eq!(
        n.c.get("/v4/loadtracks?identifier=ytsearch:rick+astley")
            .json()["loadType"],
        "search"
    );
    let r = n.c.get("/v4/loadtracks");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["path"], "/v4/loadtracks");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn decodetrack_and_decodetracks() {
    let n = start();
    let r = n.c.get(&format!(
        "/v4/decodetrack?encodedTrack={}",
        urlencode(RICK_V2)
    ));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        example("decodeTrackResponse"),
        "v2 echoed verbatim"
    );
    let r =
        n.c.get(&format!("/v4/decodetrack?track={}", urlencode(HTTP_MP3)));
    assert_eq!(r.json()["pluginInfo"], json!({"probeInfo": "mp3"}));

    let r = n.c.get("/v4/decodetrack");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["message"], "No track to decode provided");

    for item in examples()["invalidEncodedTracks"]["items"]
        .as_array()
        .unwrap()
    {
        let enc = item["encoded"].as_str().unwrap();
        let r =
            n.c.get(&format!("/v4/decodetrack?encodedTrack={}", urlencode(enc)));
        assert_eq!(r.status, 400, "{}", item["why"]);
        assert_eq!(r.json()["error"], "Bad Request");
    }
    // an unencoded '+' arrives as a space: the Java decoder's message
    let spaced = examples()["invalidEncodedTracks"]["items"][2]["encoded"]
        .as_str()
        .unwrap()
        .to_string();
    let r = n.c.get(&format!(
        "/v4/decodetrack?encodedTrack={}",
        urlencode(&spaced)
    ));
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["message"], "Illegal base64 character 20");
    // A source we do not have, with nothing after its name: the layout is known, so it
    // decodes (Lavalink answers 500; issue 9 departs from that on purpose).
    let unknown = examples()["formatEdgeCases"]["items"][1]["encoded"]
        .as_str()
        .unwrap()
        .to_string();
    let r = n.c.get(&format!(
        "/v4/decodetrack?encodedTrack={}",
        urlencode(&unknown)
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["info"]["sourceName"], "<no source provided>");
    // An unknown source with trailing bytes it cannot read keeps Lavalink's 500.
    let mut data = basalt::track::decode_track(&unknown).unwrap().data;
    data.info.source_name = "mystery".into();
    data.source_data = vec![1, 2, 3];
    let unknown = basalt::track::encode_track(&data);
    let r = n.c.get(&format!(
        "/v4/decodetrack?encodedTrack={}",
        urlencode(&unknown)
    ));
    assert_eq!(r.status, 500);
    assert_eq!(
        r.json()["message"],
        "Failed to decode track due to a mismatching version or missing source manager"
    );

    let r = n.c.post(
        "/v4/decodetracks",
        &json!([RICK_V2, RICK_V3, SOUNDCLOUD]).to_string(),
    );
    assert_eq!(r.status, 200);
    let list = r.json();
    assert_eq!(list[0], example("decodeTrackResponse"));
    assert_eq!(list[1]["encoded"], RICK_V3);
    assert_eq!(list[2]["info"]["isrc"], "QZHNA1985784");
    let r = n.c.post("/v4/decodetracks", "[]");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["message"], "No tracks to decode provided");
    for bad in ["{}", "[1]", "not json", "", "[null]"] {
        assert_eq!(n.c.post("/v4/decodetracks", bad).status, 400, "{bad:?}");
    }
    let r =
        n.c.post("/v4/decodetracks", &json!([RICK_V3, "broken"]).to_string());
    assert_eq!(r.status, 400, "one failure fails all");
    let r = request(
        n.c.addr,
        "POST",
        "/v4/decodetracks",
        &[("Authorization", PW), ("Content-Type", "text/plain")],
        Some(b"[]"),
    );
    assert_eq!(r.status, 415);
}

#[test]
fn body_limits_and_bad_bodies() {
    let n = start_with(|_| {}, |o| o.max_body_bytes = 64 * 1024);
    let (_ws, sid) = connect(&n);
    let big = format!("{{\"volume\":100,\"pad\":\"{}\"}}", "x".repeat(100 * 1024));
    let r = n.c.patch(&player_path(&sid), &big);
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["status"], 413);
    for (body, why) in [
        ("not json", "syntax"),
        ("[]", "not an object"),
        ("", "empty"),
        (r#"{"volume":"loud"}"#, "wrong type"),
        (r#"{"volume":1.5}"#, "float for int"),
        (r#"{"volume":9999999999}"#, "int overflow"),
        (r#"{"paused":1}"#, "int for bool"),
        (r#"{"position":null}"#, "null position"),
        (r#"{"paused":null}"#, "null paused"),
        (r#"{"filters":null}"#, "null filters"),
        (r#"{"voice":null}"#, "null voice"),
        (r#"{"track":null}"#, "null track"),
        (r#"{"track":{"userData":null}}"#, "null userData"),
        (r#"{"track":{"userData":[1]}}"#, "array userData"),
        (r#"{"track":{"encoded":5}}"#, "number encoded"),
        (r#"{"filters":{"volume":null}}"#, "null filter volume"),
        (r#"{"filters":{"equalizer":null}}"#, "null equalizer"),
        (
            r#"{"filters":{"timescale":{"speed":"x"}}}"#,
            "bad filter type",
        ),
    ] {
        let r = n.c.patch(&player_path(&sid), body);
        assert_eq!(r.status, 400, "{why}: {}", r.text());
        let v = r.json();
        assert_eq!(v["error"], "Bad Request");
        assert!(!v["message"].as_str().unwrap().is_empty());
    }
    let v = n.c.patch(&player_path(&sid), "{").json();
    assert_shape(&v, &example("errorResponseBadBody"), "bad body");
    assert_eq!(v["path"], player_path(&sid));
    // unknown keys are ignored
    assert_eq!(
        n.c.patch(&player_path(&sid), r#"{"whatever":1}"#).status,
        200
    );
}

// ---------------------------------------------------------------------------------------
// Sessions and players over REST

#[test]
fn session_and_player_routes() {
    let n = start();
    let (_ws, sid) = connect(&n);
    // guild id must be a u64, checked before the session
    for bad in ["abc", "-1", "1.5", "18446744073709551616"] {
        let r = n.c.get(&format!("/v4/sessions/nosuch/players/{bad}"));
        assert_eq!(r.status, 400, "{bad}");
    }
    assert_eq!(
        n.c.get(&format!("/v4/sessions/nosuch/players/{GUILD}"))
            .status,
        404
    );
    assert_eq!(
        n.c.get("/v4/sessions/nosuch/players").json()["message"],
        "Session not found"
    );
    assert_eq!(n.c.patch("/v4/sessions/nosuch", "{}").status, 404);

    assert_eq!(
        n.c.get(&format!("/v4/sessions/{sid}/players")).json(),
        json!([])
    );
    let r = n.c.get(&player_path(&sid));
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], "Player not found");
    assert_eq!(
        n.c.delete(&player_path(&sid)).status,
        204,
        "DELETE of a missing player"
    );

    let r = n.c.patch(&player_path(&sid), "{}");
    assert_eq!(r.status, 200);
    let p = r.json();
    let mut idle = example("playerIdle");
    idle["state"]["time"] = p["state"]["time"].clone();
    assert_eq!(p, idle);
    assert_eq!(
        n.c.get(&player_path(&sid)).json()["guildId"],
        GUILD.to_string()
    );
    assert_eq!(
        n.c.get(&format!("/v4/sessions/{sid}/players"))
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(n.fakes.engine.created.load(Ordering::Relaxed), 1);

    let r = n.c.delete(&player_path(&sid));
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert_eq!(n.c.get(&player_path(&sid)).status, 404);
    assert_eq!(commands(&n, 1), vec!["destroy"]);

    // session update
    let r = n.c.patch(&format!("/v4/sessions/{sid}"), "{}");
    assert_eq!(r.json(), json!({"resuming": false, "timeout": 60}));
    let r = n.c.patch(
        &format!("/v4/sessions/{sid}"),
        &example("sessionUpdateRequest").to_string(),
    );
    assert_eq!(r.json(), example("sessionUpdateResponse"));
    let r =
        n.c.patch(&format!("/v4/sessions/{sid}"), r#"{"timeout":-5}"#);
    assert_eq!(
        r.json(),
        json!({"resuming": true, "timeout": -5}),
        "no range validation"
    );
    for bad in [
        r#"{"resuming":null}"#,
        r#"{"timeout":null}"#,
        r#"{"resuming":"yes"}"#,
        "x",
    ] {
        assert_eq!(
            n.c.patch(&format!("/v4/sessions/{sid}"), bad).status,
            400,
            "{bad}"
        );
    }
}

#[test]
fn patch_volume_pause_filters() {
    let n = start_with(|c| c.filters.karaoke = false, |_| {});
    let (mut ws, sid) = connect(&n);
    let path = player_path(&sid);
    assert_eq!(
        n.c.patch(&path, r#"{"volume":5000}"#).json()["volume"],
        1000
    );
    assert_eq!(n.c.patch(&path, r#"{"volume":-3}"#).json()["volume"], 0);
    assert_eq!(n.c.patch(&path, r#"{"volume":250}"#).json()["volume"], 250);
    assert_eq!(
        n.c.patch(&path, r#"{"paused":true}"#).json()["paused"],
        true
    );
    let cmds = commands(&n, 4);
    assert_eq!(
        cmds,
        vec!["volume:1000", "volume:0", "volume:250", "paused:true"]
    );

    let p =
        n.c.patch(
            &path,
            r#"{"filters":{"volume":1,"timescale":{"speed":1.25}}}"#,
        )
        .json();
    assert_eq!(
        p["filters"],
        json!({"volume": 1.0, "timescale": {"speed": 1.25, "pitch": 1.0, "rate": 1.0}})
    );
    assert_eq!(
        serde_json::to_string(&p["filters"]["volume"]).unwrap(),
        "1.0"
    );
    let up = ws.expect("playerUpdate", None, 3 * SEC);
    assert_eq!(up["guildId"], GUILD.to_string());
    // whole-set replacement
    let p =
        n.c.patch(&path, r#"{"filters":{"rotation":{"rotationHz":0.2}}}"#)
            .json();
    assert_eq!(p["filters"], json!({"rotation": {"rotationHz": 0.2}}));
    assert_eq!(
        n.c.patch(&path, r#"{"filters":{}}"#).json()["filters"],
        json!({})
    );

    // disabled filters: any key present, even null, names listed
    for body in [
        r#"{"filters":{"karaoke":{}}}"#,
        r#"{"filters":{"karaoke":null}}"#,
    ] {
        let r = n.c.patch(&path, body);
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(
            r.json()["message"],
            "Following filters are disabled in the config: karaoke"
        );
    }
    // rejected before anything else is applied
    let r =
        n.c.patch(&path, r#"{"volume":10,"filters":{"karaoke":null}}"#);
    assert_eq!(r.status, 400);
    assert_eq!(n.c.get(&path).json()["volume"], 250);
    // the example with every filter (karaoke enabled on another node)
    let m = start();
    let (_ws2, sid2) = connect(&m);
    let all = example("filtersAll");
    let p =
        m.c.patch(&player_path(&sid2), &json!({ "filters": all }).to_string())
            .json();
    let keys: Vec<&str> = p["filters"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let order = [
        "volume",
        "equalizer",
        "karaoke",
        "timescale",
        "tremolo",
        "vibrato",
        "distortion",
        "rotation",
        "channelMix",
        "lowPass",
    ];
    assert_eq!(keys, order, "Lavalink's output order");
    assert_eq!(p["filters"]["rotation"], json!({"rotationHz": 0.0}));
    // No plugin filter is registered: the example's plugin filter names are dropped and
    // not echoed, as Lavalink does for names no extension answers to.
    assert!(all["pluginFilters"]
        .as_object()
        .is_some_and(|m| !m.is_empty()));
    assert!(p["filters"].get("pluginFilters").is_none());
    assert_eq!(p["filters"]["equalizer"], all["equalizer"]);
}

fn voice_json(endpoint: &str) -> Value {
    json!({"token": "0123456789abcdef", "endpoint": endpoint, "sessionId": "b5a0ee8e1c4c2e5b0f2a7f6d3d2c1b0a", "channelId": "1092473640983924900"})
}

#[test]
fn patch_voice() {
    let n = start();
    let (mut ws, sid) = connect(&n);
    let path = player_path(&sid);
    let missing = "token, endpoint, sessionId and channelId must be provided in voice state";
    for bad in [
        json!({"token": "t", "endpoint": "e", "sessionId": "s"}),
        json!({"token": "t", "endpoint": "e", "sessionId": "s", "channelId": null}),
        json!({"token": "", "endpoint": "e", "sessionId": "s", "channelId": "1"}),
        json!({"token": "t", "endpoint": "  ", "sessionId": "s", "channelId": "1"}),
        json!({"token": "t", "endpoint": "e", "sessionId": "", "channelId": "1"}),
        json!({"token": "t", "endpoint": "e", "sessionId": "s", "channelId": ""}),
    ] {
        let r = n.c.patch(&path, &json!({ "voice": bad }).to_string());
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.json()["message"], missing);
    }
    assert_eq!(n.fakes.voice.connects.load(Ordering::Relaxed), 0);
    // §6 order: the disabled-filter check (2) comes before the voice check (3)
    let m = start_with(|c| c.filters.rotation = false, |_| {});
    let (_ws2, sid2) = connect(&m);
    let body = json!({"filters": {"rotation": null}, "voice": {"token": "", "endpoint": "e", "sessionId": "s"}});
    let r = m.c.patch(&player_path(&sid2), &body.to_string());
    assert_eq!(
        r.json()["message"],
        "Following filters are disabled in the config: rotation"
    );
    let body = json!({"endTime": 0, "voice": {"token": "", "endpoint": "e", "sessionId": "s", "channelId": "1"}});
    assert_eq!(
        m.c.patch(&player_path(&sid2), &body.to_string()).json()["message"],
        missing
    );
    let v = voice_json("c-fra-1a2b3c4d.discord.media:443");
    // The handshake runs off the request: the PATCH answers at once, the state follows.
    let p = n.c.patch(&path, &json!({ "voice": v }).to_string()).json();
    assert_eq!(p["voice"], v);
    let p = poll::wait_for("the voice state to connect", poll::DEADLINE, || {
        let p = n.c.get(&path).json();
        (p["state"]["connected"] == true).then_some(p)
    });
    assert_eq!(p["state"]["ping"], 42);
    assert_eq!(
        n.c.patch(&path, &json!({ "voice": v }).to_string()).status,
        200
    );
    assert_eq!(
        n.fakes.voice.connects.load(Ordering::Relaxed),
        1,
        "identical voice data is a no-op"
    );
    assert_eq!(commands(&n, 1), vec!["attach"]);

    // A failed handshake: 200 now, a WebSocketClosedEvent later (as Lavalink).
    let r = n.c.patch(
        &path,
        &json!({ "voice": voice_json("fail.discord.media:443") }).to_string(),
    );
    assert_eq!(r.status, 200);
    let ev = ws.expect("event", Some("WebSocketClosedEvent"), 5 * SEC);
    assert_eq!(ev["byRemote"], false);
    assert!(ev["reason"]
        .as_str()
        .unwrap()
        .starts_with("Failed to connect to voice server"));
    let p = n.c.get(&path).json();
    assert_eq!(
        p["voice"]["channelId"],
        Value::Null,
        "old connection destroyed"
    );
    let r = n.c.patch(
        &path,
        &json!({ "voice": voice_json("ws://127.0.0.1:1") }).to_string(),
    );
    assert_eq!(r.status, 400);
}

fn play(n: &Node, sid: &str, body: Value) -> Value {
    let r = n.c.patch(&player_path(sid), &body.to_string());
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

#[test]
fn patch_tracks_and_events() {
    let n = start();
    let (mut ws, sid) = connect(&n);
    let path = player_path(&sid);
    let ud = json!({"requester": "170939974227541168"});
    let p = play(
        &n,
        &sid,
        json!({"track": {"encoded": RICK_V3, "userData": ud}, "position": 32400, "endTime": 180000}),
    );
    assert_eq!(p["track"]["info"]["identifier"], "dQw4w9WgXcQ");
    assert_eq!(
        p["track"]["info"]["position"], 32400,
        "the start position at once"
    );
    assert_eq!(p["state"]["position"], 32400);
    assert_eq!(p["track"]["userData"], ud);
    assert_eq!(p["paused"], false);
    let start = ws.expect("event", Some("TrackStartEvent"), 3 * SEC);
    let mut expected = example("trackStartEvent");
    expected["track"]["userData"] = ud.clone();
    assert_shape(&start, &expected, "start");
    assert_eq!(start["track"]["userData"], ud);
    assert_eq!(start["track"]["info"]["position"], 32400);
    let up = ws.expect("playerUpdate", None, 3 * SEC);
    assert_shape(&up, &example("playerUpdateOp"), "playerUpdate");
    assert_eq!(up["state"]["position"], 32400);
    assert_eq!(
        commands(&n, 1),
        vec!["play:dQw4w9WgXcQ:32400:Some(180000):false"]
    );

    // the Player's track is re-encoded at the live position
    n.fakes
        .engine
        .shared(GUILD)
        .position_ms
        .store(60000, Ordering::Relaxed);
    let p = n.c.get(&path).json();
    let mut ex = example("player");
    ex["track"]["userData"] = ud.clone();
    ex["state"]["time"] = p["state"]["time"].clone();
    ex["state"]["connected"] = json!(false);
    ex["state"]["ping"] = json!(-1);
    ex["voice"] = json!({"token": "", "endpoint": "", "sessionId": "", "channelId": null});
    ex["filters"] = json!({});
    assert_eq!(p, ex);

    // userData / position / endTime on the current track
    play(
        &n,
        &sid,
        json!({"track": {"userData": {"a": 1}}, "position": 1000, "endTime": 5000}),
    );
    assert_eq!(n.c.get(&path).json()["track"]["userData"], json!({"a": 1}));
    play(&n, &sid, json!({"endTime": null}));
    play(&n, &sid, json!({"position": -5}));
    let cmds = commands(&n, 4);
    assert_eq!(&cmds[1..], &["seek:1000", "endTime:5000", "seek:0"]);

    // replace: end(replaced) before start; userData follow their tracks
    play(&n, &sid, json!({"encodedTrack": SOUNDCLOUD}));
    let end = ws.expect("event", Some("TrackEndEvent"), 3 * SEC);
    assert_eq!(end["reason"], "replaced");
    assert_eq!(end["track"]["userData"], json!({"a": 1}));
    let mut ex = example("trackEndEvent");
    ex["track"]["userData"] = json!({"a": 1});
    assert_shape(&end, &ex, "end");
    let start = ws.expect("event", Some("TrackStartEvent"), 3 * SEC);
    assert_eq!(start["track"]["info"]["sourceName"], "soundcloud");
    assert_eq!(start["track"]["userData"], json!({}));

    // noReplace: volume applied, track kept
    let p = play(
        &n,
        &sid,
        json!({"track": {"encoded": RICK_V3}, "volume": 50}).clone(),
    );
    let _ = p;
    ws.expect("event", Some("TrackStartEvent"), 3 * SEC);
    let r = n.c.patch(
        &format!("{path}?noReplace=true"),
        &json!({"track": {"encoded": SOUNDCLOUD}, "volume": 70}).to_string(),
    );
    assert_eq!(r.status, 200);
    let p = r.json();
    assert_eq!(p["volume"], 70);
    assert_eq!(p["track"]["info"]["sourceName"], "youtube");
    assert_eq!(
        n.c.patch(&format!("{path}?noReplace=maybe"), "{}").status,
        400
    );
    let p =
        n.c.patch(
            &format!("{path}?noReplace=0"),
            &json!({"track": {"encoded": SOUNDCLOUD}}).to_string(),
        )
        .json();
    assert_eq!(p["track"]["info"]["sourceName"], "soundcloud");

    // new track unpauses unless paused is given
    play(&n, &sid, json!({"paused": true}));
    let p = play(&n, &sid, json!({"track": {"encoded": RICK_V3}}));
    assert_eq!(p["paused"], false);
    let p = play(
        &n,
        &sid,
        json!({"track": {"encoded": SOUNDCLOUD}, "paused": true}),
    );
    assert_eq!(p["paused"], true);
    poll::wait_until(
        "the paused play to reach the engine",
        poll::DEADLINE,
        || {
            n.fakes
                .engine
                .commands(GUILD)
                .last()
                .is_some_and(|c| c.ends_with(":None:true"))
        },
    );

    // stop
    let p = play(&n, &sid, example("updatePlayerStop"));
    assert_eq!(p["track"], Value::Null);
    assert_eq!(p["paused"], false);
    let mut last_end = Value::Null;
    for m in ws.drain(SEC) {
        if m["type"] == "TrackEndEvent" {
            last_end = m;
        }
    }
    assert_eq!(last_end["reason"], "stopped");
    // stopping with nothing playing is fine; position/endTime ignored without a track
    play(&n, &sid, json!({"track": {"encoded": null}}));
    // A stop with nothing playing sends nothing either: a quiet window, not a condition.
    std::thread::sleep(Duration::from_millis(200));
    let before = n.fakes.engine.commands(GUILD).len();
    play(&n, &sid, json!({"position": 10, "endTime": 10}));
    // Showing that nothing is sent needs a time window, not a condition to poll for.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(n.fakes.engine.commands(GUILD).len(), before);

    // identifier
    let p = play(&n, &sid, example("updatePlayerByIdentifier"));
    assert_eq!(p["track"]["info"]["identifier"], "dQw4w9WgXcQ");
    let p = play(
        &n,
        &sid,
        json!({"identifier": "https://www.mboxdrive.com/startmusic.mp3"}),
    );
    assert_eq!(p["track"]["pluginInfo"], json!({"probeInfo": "mp3"}));
    for (body, status, msg) in [
        (json!({"track": {"identifier": null}}), 400, None),
        (json!({"identifier": null}), 400, None),
        (
            json!({"track": {"identifier": "nothing"}}),
            400,
            Some("No matches found for identifier"),
        ),
        (
            json!({"track": {"identifier": "playlist"}}),
            400,
            Some("Cannot play a playlist or search result"),
        ),
        (
            json!({"track": {"identifier": "ytsearch:x"}}),
            400,
            Some("Cannot play a playlist or search result"),
        ),
        (
            json!({"track": {"identifier": "error"}}),
            400,
            Some("This video is not available in your country."),
        ),
        (json!({"track": {"encoded": "QUJD"}}), 400, None),
        (
            json!({"track": {"encoded": RICK_V3, "identifier": "x"}}),
            400,
            Some("Cannot specify both encodedTrack and identifier"),
        ),
        (
            json!({"track": {"encoded": RICK_V3}, "encodedTrack": RICK_V3}),
            400,
            Some("Cannot specify both track and encodedTrack/identifier"),
        ),
        (
            json!({"track": {"encoded": RICK_V3}, "identifier": "x"}),
            400,
            Some("Cannot specify both track and encodedTrack/identifier"),
        ),
        (
            json!({"track": {"encoded": RICK_V3}, "endTime": 0}),
            400,
            Some("End time must be greater than 0"),
        ),
        (
            json!({"endTime": -1}),
            400,
            Some("End time must be greater than 0"),
        ),
    ] {
        let r = n.c.patch(&path, &body.to_string());
        assert_eq!(r.status, status, "{body}: {}", r.text());
        if let Some(m) = msg {
            assert_eq!(r.json()["message"], m, "{body}");
        }
    }
    // a failed load after volume was applied keeps the volume (side effects first)
    let r = n.c.patch(
        &path,
        &json!({"volume": 33, "track": {"identifier": "nothing"}}).to_string(),
    );
    assert_eq!(r.status, 400);
    assert_eq!(n.c.get(&path).json()["volume"], 33);
    // the example request with voice
    let p = play(&n, &sid, example("updatePlayerRequest"));
    assert_eq!(p["voice"], example("updatePlayerRequest")["voice"]);
    assert_eq!(
        p["track"]["userData"],
        example("updatePlayerRequest")["track"]["userData"]
    );
}

#[test]
fn engine_events_become_ops() {
    let n = start();
    let (mut ws, sid) = connect(&n);
    play(
        &n,
        &sid,
        json!({"track": {"encoded": RICK_V3, "userData": {"k": "v"}}}),
    );
    ws.expect("event", Some("TrackStartEvent"), 3 * SEC);
    let t = std::sync::Arc::new(track(RICK_V3));
    let at = |pos: i64| {
        std::sync::Arc::new(basalt::track::TrackData {
            position: pos,
            ..(*t).clone()
        })
    };
    let e = &n.fakes.engine;
    e.emit(
        GUILD,
        PlayerEventKind::TrackStuck {
            track: at(42000),
            threshold_ms: 10000,
        },
    );
    let v = ws.expect("event", Some("TrackStuckEvent"), 3 * SEC);
    let mut ex = example("trackStuckEvent");
    ex["track"]["userData"] = json!({"k": "v"});
    assert_eq!(v, ex);
    ws.expect("playerUpdate", None, 3 * SEC);
    let exc = TrackException {
        message: Some("Something broke when playing the track.".into()),
        severity: Severity::Fault,
        cause: "java.io.IOException: Invalid status code for video page response: 400".into(),
        cause_stack_trace:
            "java.io.IOException: Invalid status code for video page response: 400\n\tat ...".into(),
    };
    e.emit(
        GUILD,
        PlayerEventKind::TrackException {
            track: at(0),
            exception: exc,
        },
    );
    let v = ws.expect("event", Some("TrackExceptionEvent"), 3 * SEC);
    let mut ex = example("trackExceptionEvent");
    ex["track"]["userData"] = json!({"k": "v"});
    assert_eq!(v, ex);
    e.emit(
        GUILD,
        PlayerEventKind::TrackEnd {
            track: at(212000),
            reason: EndReason::Finished,
        },
    );
    let v = ws.expect("event", Some("TrackEndEvent"), 3 * SEC);
    let mut ex = example("trackEndEvent");
    ex["track"]["userData"] = json!({"k": "v"});
    assert_eq!(v, ex);
    // a finished track leaves the player
    poll::wait_until("the finished track to be cleared", poll::DEADLINE, || {
        n.c.get(&player_path(&sid)).json()["track"] == Value::Null
    });
    e.emit(
        GUILD,
        PlayerEventKind::VoiceClosed {
            code: 4006,
            reason: "Your session is no longer valid.".into(),
            by_remote: true,
        },
    );
    let v = ws.expect("event", Some("WebSocketClosedEvent"), 3 * SEC);
    assert_eq!(v, example("webSocketClosedEvent"));
    ws.expect("playerUpdate", None, 3 * SEC);
    e.emit(GUILD, PlayerEventKind::VoiceReady);
    ws.expect("playerUpdate", None, 3 * SEC);
    // DELETE while playing: end(stopped) still carries userData
    play(
        &n,
        &sid,
        json!({"track": {"encoded": RICK_V3, "userData": {"x": 2}}}),
    );
    ws.expect("event", Some("TrackStartEvent"), 3 * SEC);
    assert_eq!(n.c.delete(&player_path(&sid)).status, 204);
    let v = ws.expect("event", Some("TrackEndEvent"), 3 * SEC);
    assert_eq!(v["reason"], "stopped");
    assert_eq!(v["track"]["userData"], json!({"x": 2}));
}

// ---------------------------------------------------------------------------------------
// WebSocket handshake, cadence, resuming, shutdown

#[test]
fn websocket_handshake() {
    let n = start();
    let a = n.c.addr;
    assert_eq!(ws_connect(a, &[("User-Id", "1")]).err(), Some(401));
    assert_eq!(
        ws_connect(a, &[("Authorization", "nope"), ("User-Id", "1")]).err(),
        Some(401)
    );
    assert_eq!(ws_connect(a, &[("Authorization", PW)]).err(), Some(400));
    assert_eq!(
        ws_connect(a, &[("Authorization", PW), ("User-Id", "")]).err(),
        Some(400)
    );
    assert_eq!(
        ws_connect(a, &[("Authorization", PW), ("User-Id", "0")]).err(),
        Some(400)
    );
    assert_eq!(
        ws_connect(a, &[("Authorization", PW), ("User-Id", "abc")]).err(),
        Some(400)
    );
    let mut ws =
        ws_connect(a, &[("Authorization", PW), ("User-Id", "1")]).expect("no Client-Name is fine");
    assert_eq!(ws.header("Session-Resumed"), Some("false"));
    assert_eq!(ws.header("Lavalink-Api-Version"), Some("4"));
    let ready = ws.next(3 * SEC).unwrap().unwrap();
    assert_shape(&ready, &example("readyOp"), "ready");
    assert_eq!(ready["resumed"], false);
    let id = ready["sessionId"].as_str().unwrap();
    assert_eq!(id.len(), 16);
    assert!(id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    let stats = ws.next(3 * SEC).unwrap().expect("stats right after ready");
    assert_shape(&stats, &example("statsOpNoFrameStats"), "stats");
    assert_eq!(stats["frameStats"], Value::Null);
    // unknown Session-Id → a new session
    let mut ws2 = n.c.ws(Some("doesnotexist0000"));
    assert_eq!(ws2.header("Session-Resumed"), Some("false"));
    let r2 = ws2.next(3 * SEC).unwrap().unwrap();
    assert_ne!(r2["sessionId"], ready["sessionId"]);
    // a plain GET on the websocket path is not an upgrade
    assert_eq!(n.c.get("/v4/websocket").status, 400);
    // client messages are ignored
    ws.ws
        .send(tungstenite::Message::text("{\"op\":\"hello\"}"))
        .unwrap();
    assert_eq!(n.c.get(&format!("/v4/sessions/{id}/players")).status, 200);
}

#[test]
fn cadence_of_stats_and_player_updates() {
    let n = start_with(
        |_| {},
        |o| {
            o.player_update_interval = Duration::from_millis(300);
            o.stats_interval = Duration::from_millis(700);
        },
    );
    let (mut ws, sid) = connect(&n);
    play(&n, &sid, json!({"track": {"encoded": RICK_V3}}));
    let t0 = Instant::now();
    let msgs = ws.drain(Duration::from_millis(2000));
    let updates = msgs.iter().filter(|m| m["op"] == "playerUpdate").count();
    let stats = msgs.iter().filter(|m| m["op"] == "stats").count();
    let _ = t0;
    // one immediate + every 300 ms for 2 s ≈ 7
    assert!((4..=10).contains(&updates), "{updates} playerUpdates");
    assert!((2..=5).contains(&stats), "{stats} stats");
    let s = msgs.iter().rfind(|m| m["op"] == "stats").unwrap();
    assert_eq!(s["players"], 1);
    assert_eq!(s["playingPlayers"], 1);
    // paused players keep updating; a stopped one stops
    play(&n, &sid, json!({"paused": true}));
    let n_paused = ws
        .drain(Duration::from_millis(1000))
        .iter()
        .filter(|m| m["op"] == "playerUpdate")
        .count();
    assert!(n_paused >= 2, "{n_paused}");
    play(&n, &sid, json!({"track": {"encoded": null}}));
    ws.drain(Duration::from_millis(400));
    let after = ws
        .drain(Duration::from_millis(1000))
        .iter()
        .filter(|m| m["op"] == "playerUpdate")
        .count();
    assert_eq!(after, 0);
    let s = n.c.get("/v4/stats").json();
    assert_eq!(
        (s["players"].clone(), s["playingPlayers"].clone()),
        (json!(1), json!(0))
    );
}

#[test]
fn resuming_queues_and_replays() {
    let n = start_with(|_| {}, |o| o.stats_interval = Duration::from_millis(400));
    let (ws, sid) = connect(&n);
    n.c.patch(
        &format!("/v4/sessions/{sid}"),
        r#"{"resuming":true,"timeout":10}"#,
    );
    play(
        &n,
        &sid,
        json!({"track": {"encoded": RICK_V3, "userData": {"q": 1}}}),
    );
    ws.close();
    // paused: invisible over REST
    until_paused(&n, &sid);
    assert_eq!(
        n.c.get(&player_path(&sid)).json()["message"],
        "Session not found"
    );
    let t = track(RICK_V3);
    let at = |p: i64| {
        std::sync::Arc::new(basalt::track::TrackData {
            position: p,
            ..t.clone()
        })
    };
    n.fakes.engine.emit(
        GUILD,
        PlayerEventKind::TrackStuck {
            track: at(1000),
            threshold_ms: 10000,
        },
    );
    n.fakes.engine.emit(
        GUILD,
        PlayerEventKind::TrackEnd {
            track: at(2000),
            reason: EndReason::Finished,
        },
    );
    // A window in which nothing may happen (players are not destroyed while paused):
    // idle on purpose, not a wait.
    std::thread::sleep(Duration::from_millis(900));
    assert!(
        n.fakes
            .engine
            .commands(GUILD)
            .iter()
            .all(|c| c != "destroy"),
        "players keep playing"
    );

    let mut ws = n.c.ws(Some(&sid));
    assert_eq!(ws.header("Session-Resumed"), Some("true"));
    let msgs = ws.drain(Duration::from_millis(1000));
    assert_eq!(
        msgs[0],
        json!({"op": "ready", "resumed": true, "sessionId": sid})
    );
    let kinds: Vec<String> = msgs
        .iter()
        .map(|m| {
            format!(
                "{}{}",
                m["op"].as_str().unwrap(),
                m["type"]
                    .as_str()
                    .map(|t| format!(":{t}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    let stuck = kinds
        .iter()
        .position(|k| k == "event:TrackStuckEvent")
        .expect("queued stuck");
    let end = kinds
        .iter()
        .position(|k| k == "event:TrackEndEvent")
        .expect("queued end");
    assert!(stuck < end, "original order: {kinds:?}");
    assert_eq!(msgs[end]["track"]["userData"], json!({"q": 1}));
    let first_update = kinds
        .iter()
        .position(|k| k == "playerUpdate")
        .expect("playerUpdate after resume");
    assert!(
        kinds[1..first_update].iter().any(|k| k == "stats"),
        "stats were queued: {kinds:?}"
    );
    assert!(
        first_update > end,
        "no playerUpdates queued while paused: {kinds:?}"
    );
    assert_eq!(n.c.get(&format!("/v4/sessions/{sid}/players")).status, 200);
    // the resume flag stays for the next disconnect
    ws.close();
    until_paused(&n, &sid);
    let mut ws = n.c.ws(Some(&sid));
    assert_eq!(ws.header("Session-Resumed"), Some("true"));
    assert_eq!(ws.next(3 * SEC).unwrap().unwrap()["resumed"], true);
}

#[test]
fn sessions_end_without_resuming_or_after_timeout() {
    let n = start();
    let (ws, sid) = connect(&n);
    play(&n, &sid, json!({"track": {"encoded": RICK_V3}}));
    ws.close();
    poll::wait_until("the player to be destroyed", poll::DEADLINE, || {
        n.fakes
            .engine
            .commands(GUILD)
            .iter()
            .any(|c| c == "destroy")
    });
    let mut ws = n.c.ws(Some(&sid));
    assert_eq!(ws.header("Session-Resumed"), Some("false"));
    assert_eq!(ws.next(3 * SEC).unwrap().unwrap()["resumed"], false);

    let m = start();
    let (ws, sid) = connect(&m);
    m.c.patch(
        &format!("/v4/sessions/{sid}"),
        r#"{"resuming":true,"timeout":1}"#,
    );
    play(&m, &sid, json!({"track": {"encoded": RICK_V3}}));
    ws.close();
    let t0 = Instant::now();
    poll::wait_until(
        "the player to be destroyed after the timeout",
        poll::DEADLINE,
        || {
            m.fakes
                .engine
                .commands(GUILD)
                .iter()
                .any(|c| c == "destroy")
        },
    );
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "destroyed before the timeout"
    );
    assert!(
        m.fakes
            .engine
            .commands(GUILD)
            .iter()
            .any(|c| c == "destroy"),
        "destroyed after the timeout"
    );
    let mut ws = m.c.ws(Some(&sid));
    assert_eq!(ws.header("Session-Resumed"), Some("false"));
    let r = ws.next(3 * SEC).unwrap().unwrap();
    assert_ne!(r["sessionId"], sid);
}

#[test]
fn shutdown_closes_sockets_with_1001() {
    let mut n = start();
    let (mut ws, sid) = connect(&n);
    play(&n, &sid, json!({"track": {"encoded": RICK_V3}}));
    ws.drain(Duration::from_millis(200));
    n.server.take().unwrap().shutdown();
    let deadline = Instant::now() + 5 * SEC;
    loop {
        match ws.ws.read() {
            Ok(tungstenite::Message::Close(Some(f))) => {
                assert_eq!(u16::from(f.code), 1001);
                break;
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("no close frame: {e}"),
        }
        assert!(Instant::now() < deadline);
    }
    assert!(
        n.fakes
            .engine
            .commands(GUILD)
            .iter()
            .any(|c| c == "destroy"),
        "players stopped"
    );
}

// ---------------------------------------------------------------------------------------
// Route planner and metrics

#[test]
fn route_planner_disabled_and_enabled() {
    let n = start();
    let r = n.c.get("/v4/routeplanner/status");
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    for path in ["/v4/routeplanner/free/address", "/v4/routeplanner/free/all"] {
        let r =
            n.c.post(path, &example("routePlannerFreeAddress").to_string());
        assert_eq!(r.status, 500);
        assert_eq!(r.json()["message"], "Can't access disabled route planner");
    }

    let m = start_with(
        |c| c.ratelimit.ip_blocks = vec!["192.0.2.0/24".into()],
        |_| {},
    );
    let v = m.c.get("/v4/routeplanner/status").json();
    assert_shape(&v, &example("routePlannerStatusRotating"), "rotating");
    assert_eq!(
        v["details"]["ipBlock"],
        json!({"type": "Inet4Address", "size": "256"})
    );
    assert_eq!(v["details"]["currentAddress"], "/192.0.2.0");
    assert_eq!(
        m.c.post("/v4/routeplanner/free/address", r#"{"address":"1.0.0.1"}"#)
            .status,
        204
    );
    assert_eq!(m.c.post("/v4/routeplanner/free/all", "").status, 204);
    let r = m.c.post(
        "/v4/routeplanner/free/address",
        r#"{"address":"not an address!"}"#,
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("Invalid address: "));

    let k = start_with(
        |c| {
            c.ratelimit.ip_blocks = vec!["2001:db8::/48".into()];
            c.ratelimit.strategy = "RotatingNanoSwitch".into();
        },
        |_| {},
    );
    let v = k.c.get("/v4/routeplanner/status").json();
    assert_shape(&v, &example("routePlannerStatus"), "nano");
    assert_eq!(v["details"]["ipBlock"]["size"], "1208925819614629174706176");
}

#[test]
fn metrics_endpoint() {
    let n = start_with(|c| c.metrics.prometheus = true, |_| {});
    let r = request(n.c.addr, "GET", "/metrics", &[], None);
    assert_eq!(r.status, 200, "exempt from auth");
    assert!(r
        .header("Content-Type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    assert!(
        r.text().contains("lavalink_players_total 0"),
        "{}",
        r.text()
    );
    let r = request(
        n.c.addr,
        "GET",
        "/metrics?name[]=lavalink_cpu_cores",
        &[],
        None,
    );
    assert!(r.text().contains("lavalink_cpu_cores"));
    assert!(!r.text().contains("lavalink_players_total"));
    let off = start();
    assert_eq!(
        request(off.c.addr, "GET", "/metrics", &[], None).status,
        401
    );
    assert_eq!(off.c.get("/metrics").status, 404);
}

#[test]
fn player_object_matches_the_example() {
    let n = start();
    let (mut ws, sid) = connect(&n);
    let ex = example("player");
    let body = json!({
        "track": {"encoded": RICK_V3},
        "voice": ex["voice"],
        "filters": {"volume": 1, "timescale": {"speed": 1.25}},
        "endTime": null,
    });
    play(&n, &sid, body);
    let cmds = commands(&n, 3);
    assert!(
        cmds.contains(&"play:dQw4w9WgXcQ:0:None:false".to_string()),
        "{cmds:?}"
    );
    ws.expect("event", Some("TrackStartEvent"), 3 * SEC);
    n.fakes
        .engine
        .shared(GUILD)
        .position_ms
        .store(60000, Ordering::Relaxed);
    let p = n.c.get(&player_path(&sid)).json();
    let mut ex = ex;
    ex["state"]["time"] = p["state"]["time"].clone();
    ex["state"]["ping"] = json!(42);
    assert_eq!(p, ex);
    assert_eq!(p["track"]["info"]["position"], p["state"]["position"]);
}

#[test]
fn keep_alive_connections_serve_many_requests() {
    use std::io::{BufRead, BufReader, Read, Write};
    let n = start();
    let mut s = std::net::TcpStream::connect(n.c.addr).unwrap();
    s.set_read_timeout(Some(5 * SEC)).unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    for _ in 0..3 {
        write!(
            s,
            "GET /version HTTP/1.1\r\nHost: x\r\nAuthorization: {PW}\r\n\r\n"
        )
        .unwrap();
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.starts_with("HTTP/1.1 200"), "{line}");
        let mut len = 0;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            if h == "\r\n" {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        assert_eq!(body, b"4.2.2");
    }
}

#[test]
fn concurrent_requests_and_events_do_not_deadlock() {
    let n = start_with(
        |_| {},
        |o| o.player_update_interval = Duration::from_millis(50),
    );
    let (mut ws, sid) = connect(&n);
    n.c.patch(
        &format!("/v4/sessions/{sid}"),
        r#"{"resuming":true,"timeout":30}"#,
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut handles = Vec::new();
    for t in 0..4u64 {
        let c = n.c.clone();
        let sid = sid.clone();
        let stop = stop.clone();
        handles.push(std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let guild = 1 + (i + t) % 3;
                let path = format!("/v4/sessions/{sid}/players/{guild}");
                let body = match i % 5 {
                    0 => json!({"track": {"encoded": RICK_V3, "userData": {"i": i}}}),
                    1 => json!({"position": i * 10, "volume": i % 1000}),
                    2 => json!({"filters": {"volume": 0.5}}),
                    3 => json!({"track": {"encoded": null}}),
                    _ => json!({"paused": i.is_multiple_of(2)}),
                };
                let r = c.patch(&path, &body.to_string());
                // 404 only while the socket below is being replaced
                assert!(
                    r.status == 200 || r.status == 404,
                    "{}: {}",
                    r.status,
                    r.text()
                );
                let r = c.get(&format!("/v4/sessions/{sid}/players"));
                assert!(r.status == 200 || r.status == 404);
                if i.is_multiple_of(7) {
                    c.delete(&path);
                }
                i += 1;
            }
            i
        }));
    }
    let deadline = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < deadline {
        ws.drain(Duration::from_millis(100));
    }
    // reconnect (resume) in the middle of the traffic
    ws.close();
    until_paused(&n, &sid);
    let mut ws = n.c.ws(Some(&sid));
    assert_eq!(ws.header("Session-Resumed"), Some("true"));
    let deadline = Instant::now() + Duration::from_millis(700);
    while Instant::now() < deadline {
        ws.drain(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(total > 20, "only {total} requests completed");
    assert_eq!(n.c.get("/v4/stats").status, 200);
}

/// A resume `timeout` near i64::MAX is accepted and neither panics nor poisons the session:
/// the session pauses, resumes, and the node keeps answering.
#[test]
fn huge_resume_timeout_does_not_overflow() {
    let n = start();
    let (ws, sid) = connect(&n);
    n.c.patch(
        &format!("/v4/sessions/{sid}"),
        r#"{"resuming":true,"timeout":9223372036854775807}"#,
    );
    play(&n, &sid, json!({"track": {"encoded": RICK_V3}}));
    ws.close();
    // The close is handled on the server's side; poll until the session resumes.
    let mut ws = poll::wait_for("the session to resume", poll::DEADLINE, || {
        let ws = n.c.ws(Some(&sid));
        (ws.header("Session-Resumed") == Some("true")).then_some(ws)
    });
    assert_eq!(ws.next(3 * SEC).unwrap().unwrap()["resumed"], true);
    assert_eq!(n.c.get("/v4/info").status, 200);
}
