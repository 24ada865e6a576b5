//! `basalt_*` figures move with real playback: the binary plays an MP3 track to the fake
//! Discord voice server, survives a 4015 close by resuming, and the scrape shows frames
//! sent, per-frame encode and decode costs, the voice connection and the reconnect.

#[path = "support/fake_voice/mod.rs"]
mod fake_voice;
#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/poll.rs"]
mod poll;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fake_voice::{FakeConfig, FakeVoice, SILENCE};
use http_client::{request, ws_connect, Client};
use serde_json::json;

const PW: &str = "ops-metrics";
const USER: u64 = 170_939_974_227_541_168;
const GUILD: u64 = 817_327_181_659_111_454;

struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn scrape(addr: SocketAddr) -> BTreeMap<String, f64> {
    let r = request(addr, "GET", "/metrics", &[], None);
    assert_eq!(r.status, 200);
    r.text()
        .lines()
        .filter(|l| l.starts_with("basalt_"))
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

#[test]
fn playback_moves_the_audio_and_voice_figures() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = std::env::temp_dir().join(format!("basalt-ops-audio-{}.toml", std::process::id()));
    std::fs::write(
        &cfg,
        format!(
            "[server]\naddress = \"127.0.0.1\"\nport = {port}\npassword = \"{PW}\"\n\
             [sources]\nlocal = true\n[voice]\nallow_insecure_endpoints = true\n\
             [metrics]\nprometheus = true\n[logging]\nlevel = \"warn\"\n"
        ),
    )
    .unwrap();
    let mut node = Node(
        Command::new(env!("CARGO_BIN_EXE_basalt"))
            .arg("--config")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    poll::wait_listening(&mut node.0, addr);
    let f = FakeVoice::start(FakeConfig {
        guild_id: GUILD,
        user_id: USER,
        ..FakeConfig::default()
    });
    let user = USER.to_string();
    let mut ws = ws_connect(addr, &[("Authorization", PW), ("User-Id", &user)]).unwrap();
    let ready = ws.expect("ready", None, Duration::from_secs(5));
    let sid = ready["sessionId"].as_str().unwrap().to_string();
    let c = Client::new(addr, PW);
    let track = format!(
        "{}/tests/fixtures/sine440_44k_stereo_2s_xing.mp3",
        env!("CARGO_MANIFEST_DIR")
    );
    let body = json!({
        "track": {"identifier": track},
        "voice": {
            "token": f.config.token,
            "endpoint": f.endpoint,
            "sessionId": f.config.session_id,
            "channelId": f.config.channel_id.to_string(),
        }
    });
    let path = format!("/v4/sessions/{sid}/players/{GUILD}");
    let r = c.patch(&path, &body.to_string());
    assert_eq!(r.status, 200, "{}", r.text());
    ws.expect("event", Some("TrackStartEvent"), Duration::from_secs(5));
    // The gauges follow the start event: poll until both show the playing player.
    poll::wait_until("playing and connected gauges", poll::DEADLINE, || {
        let during = scrape(addr);
        during.get("basalt_players{state=\"playing\"}") == Some(&1.0)
            && during.get("basalt_voice_connections{state=\"connected\"}") == Some(&1.0)
    });

    f.close_with(4015, "voice server crashed");
    let end = ws.expect("event", Some("TrackEndEvent"), Duration::from_secs(10));
    assert_eq!(end["reason"], json!("finished"));
    assert!(f.wait(Duration::from_secs(10), |s| s.resumes == 1));
    let audio = f.packets().iter().filter(|p| p.payload != SILENCE).count();

    let m = scrape(addr);
    let sent = m["basalt_frames_total{result=\"sent\"}"];
    assert!(sent >= audio as f64, "sent {sent} ≥ received {audio}");
    assert!(audio >= 90, "{audio}");
    assert!(m["basalt_encode_seconds_count"] >= 90.0, "{m:?}");
    assert!(m["basalt_encode_seconds_sum"] > 0.0);
    assert!(m["basalt_decode_seconds_count"] >= 1.0, "{m:?}");
    assert_eq!(
        m["basalt_voice_reconnects_total{reason=\"voice_server_crashed\"}"],
        1.0
    );
    assert_eq!(m["basalt_voice_connections{state=\"connected\"}"], 1.0);
    assert_eq!(m["basalt_voice_connections{state=\"reconnecting\"}"], 0.0);
    assert_eq!(m["basalt_players{state=\"idle\"}"], 1.0, "track ended");
    assert_eq!(m["basalt_voice_udp_send_errors_total"], 0.0);
    assert!(m["basalt_http_requests_total{route=\"/v4/sessions/{sessionId}/players/{guildId}\",status=\"200\"}"] >= 1.0);
}
