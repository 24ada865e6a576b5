//! End to end through the real `basalt` binary: a bot-like client opens the Lavalink
//! WebSocket, PATCHes a player with a local sine track and the fake Discord voice server's
//! endpoint, and the fake decrypts and decodes what arrives. Close codes from the fake must
//! reach the client as `WebSocketClosedEvent` followed by a `playerUpdate` with
//! `connected: false`.

#[path = "support/fake_voice/mod.rs"]
mod fake_voice;
#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/poll.rs"]
mod poll;

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fake_voice::{FakeConfig, FakeVoice, SILENCE};
use http_client::{ws_connect, Client, Ws};
use serde_json::{json, Value};

const PW: &str = "e2e-pass";
const USER: u64 = 170_939_974_227_541_168;
const GUILD: u64 = 817_327_181_659_111_454;
const PEER: u64 = 500_000_000_000_000_009;

struct Node {
    child: Child,
    addr: SocketAddr,
    _dir: std::path::PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        poll::stop(&mut self.child, Duration::from_secs(5));
    }
}

fn start_node(tag: &str) -> Node {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("basalt-voice-e2e-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\naddress = \"127.0.0.1\"\nport = {port}\npassword = \"{PW}\"\n\n\
             [sources]\nlocal = true\n\n[voice]\nallow_insecure_endpoints = true\n\n\
             [logging]\nlevel = \"warn\"\nrequest_logging = false\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_basalt"))
        .arg("--config")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn basalt");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    poll::wait_listening(&mut child, addr);
    Node {
        child,
        addr,
        _dir: dir,
    }
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn client_ws(addr: SocketAddr) -> (Ws, String) {
    let user = USER.to_string();
    let mut ws = ws_connect(
        addr,
        &[
            ("Authorization", PW),
            ("User-Id", &user),
            ("Client-Name", "basalt-voice-e2e/1.0"),
        ],
    )
    .expect("websocket");
    let ready = ws.expect("ready", None, Duration::from_secs(5));
    let sid = ready["sessionId"].as_str().expect("session id").to_string();
    (ws, sid)
}

fn fake(dave: bool) -> FakeVoice {
    FakeVoice::start(FakeConfig {
        dave,
        peers: if dave { vec![PEER] } else { vec![] },
        guild_id: GUILD,
        user_id: USER,
        ..FakeConfig::default()
    })
}

fn voice_body(f: &FakeVoice) -> Value {
    json!({
        "token": f.config.token,
        "endpoint": f.endpoint,
        "sessionId": f.config.session_id,
        "channelId": f.config.channel_id.to_string(),
    })
}

fn play_and_check(dave: bool) {
    let node = start_node(if dave { "dave" } else { "plain" });
    let f = fake(dave);
    let (mut ws, sid) = client_ws(node.addr);
    let c = Client::new(node.addr, PW);
    let path = format!("/v4/sessions/{sid}/players/{GUILD}");
    let body = json!({"track": {"identifier": fixture("sine440_48k_stereo_1s.flac")}, "voice": voice_body(&f)});
    let r = c.patch(&path, &body.to_string());
    assert_eq!(r.status, 200, "PATCH: {}", r.text());
    // The handshake runs off the request (issue 14): the state turns connected shortly.
    poll::wait_until("the voice state to connect", poll::DEADLINE, || {
        c.get(&path).json()["state"]["connected"] == json!(true)
    });
    ws.expect("event", Some("TrackStartEvent"), Duration::from_secs(5));
    let end = ws.expect("event", Some("TrackEndEvent"), Duration::from_secs(10));
    assert_eq!(end["reason"], json!("finished"));
    assert!(f.wait(Duration::from_secs(10), |s| s
        .packets
        .iter()
        .filter(|p| p.payload == SILENCE)
        .count()
        >= 5));
    let packets = f.packets();
    let audio: Vec<_> = packets
        .iter()
        .filter(|p| p.payload != SILENCE)
        .cloned()
        .collect();
    if dave {
        assert!(
            f.state().dave.as_ref().is_some_and(|d| d.established),
            "DAVE group formed"
        );
        let enc = audio.iter().filter(|p| p.e2ee).count();
        assert!(
            enc * 10 >= audio.len() * 9,
            "{enc} of {} audio packets end-to-end encrypted",
            audio.len()
        );
        assert!(audio
            .iter()
            .filter(|p| p.e2ee)
            .all(|p| p.decrypted_by == vec![PEER]));
    }
    // 1 s of 440 Hz: 50 frames (± the edges of the pipeline), decoded at the right pitch.
    assert!(
        (48..=52).contains(&audio.len()),
        "audio frames {}",
        audio.len()
    );
    let pcm = fake_voice::decode(&audio);
    let hz = fake_voice::frequency(&pcm);
    assert!((hz - 440.0).abs() < 9.0, "decoded frequency {hz}");
    assert!(fake_voice::rms(&pcm) > 1000.0);
    {
        let s = f.state();
        assert!(s.errors.is_empty(), "fake server errors: {:#?}", s.errors);
    }

    // A terminal close from Discord reaches the client.
    f.close_with(4014, "Disconnected.");
    let ev = ws.expect(
        "event",
        Some("WebSocketClosedEvent"),
        Duration::from_secs(5),
    );
    assert_eq!(ev["guildId"], json!(GUILD.to_string()));
    assert_eq!(ev["code"], json!(4014));
    assert_eq!(ev["reason"], json!("Disconnected."));
    assert_eq!(ev["byRemote"], json!(true));
    let up = ws.expect("playerUpdate", None, Duration::from_secs(5));
    assert_eq!(up["state"]["connected"], json!(false));
    assert_eq!(up["state"]["ping"], json!(-1));
    // Idle on purpose: proves no reconnect follows 4014.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(f.state().connections, 1, "4014 is never retried");
}

#[test]
fn binary_plays_through_fake_discord_transport_only() {
    play_and_check(false);
}

#[test]
fn binary_plays_through_fake_discord_with_dave() {
    play_and_check(true);
}

#[test]
fn binary_keeps_playing_across_a_gateway_resume() {
    let node = start_node("resume");
    let f = fake(false);
    let (mut ws, sid) = client_ws(node.addr);
    let c = Client::new(node.addr, PW);
    let path = format!("/v4/sessions/{sid}/players/{GUILD}");
    let body = json!({"track": {"identifier": fixture("sine440_48k_stereo_2s.opus")}, "voice": voice_body(&f)});
    assert_eq!(c.patch(&path, &body.to_string()).status, 200);
    ws.expect("event", Some("TrackStartEvent"), Duration::from_secs(5));
    // Crash the voice server mid-track: once a quarter of the track has arrived.
    assert!(f.wait(poll::DEADLINE, |s| s
        .packets
        .iter()
        .filter(|p| p.payload != SILENCE)
        .count()
        >= 25));
    f.close_with(4015, "voice server crashed");
    let end = ws.expect("event", Some("TrackEndEvent"), Duration::from_secs(10));
    assert_eq!(end["reason"], json!("finished"));
    assert!(f.wait(Duration::from_secs(10), |s| s.resumes == 1));
    let packets = f.packets();
    let audio: Vec<_> = packets
        .iter()
        .filter(|p| p.payload != SILENCE)
        .cloned()
        .collect();
    assert!(
        (98..=102).contains(&audio.len()),
        "2 s of audio across the resume: {} frames",
        audio.len()
    );
    let gap = audio
        .windows(2)
        .map(|w| w[1].at - w[0].at)
        .max()
        .unwrap_or_default();
    // Pacing is the engine's; allow for a loaded 2-core CI box. Loss is judged by the count.
    assert!(gap < Duration::from_millis(200), "largest gap {gap:?}");
    assert!(f.state().errors.is_empty(), "{:#?}", f.state().errors);
}
