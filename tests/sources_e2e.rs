//! End to end through the real `basalt` binary, its outbound HTTP pointed at the
//! intercepting proxy by the operator's keys only (`BASALT_HTTP_PROXY_*`, `..._CA_FILE`): a
//! SoundCloud track loaded with `/v4/loadtracks` and played to the fake Discord voice server
//! (audio decoded and checked there), and a seek inside an HLS VOD (AAC in fMP4) track.

#![recursion_limit = "256"]

#[path = "support/fake_voice/mod.rs"]
mod fake_voice;
#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/mitm.rs"]
mod mitm;
#[path = "support/poll.rs"]
mod poll;
#[path = "support/proxied_node.rs"]
mod proxied_node;
#[path = "support/sc_mock.rs"]
mod sc_mock;

use std::sync::Arc;
use std::time::Duration;

use fake_voice::{FakeConfig, FakeVoice, SILENCE};
use http_client::Client;
use mitm::Mitm;
use proxied_node::*;
use sc_mock::*;
use serde_json::{json, Value};

fn voice_body(f: &FakeVoice) -> Value {
    json!({
        "token": f.config.token,
        "endpoint": f.endpoint,
        "sessionId": f.config.session_id,
        "channelId": f.config.channel_id.to_string(),
    })
}

fn fake() -> FakeVoice {
    FakeVoice::start(FakeConfig {
        guild_id: GUILD,
        user_id: USER,
        ..FakeConfig::default()
    })
}

fn setup(tag: &str) -> (Mitm, Node) {
    let mp3 = tone_spec(71, "hls-mp3", vec![&HLS_AAC, &HLS_OPUS, &HLS_MP3]);
    let aac = tone_spec(72, "hls-aac", vec![&CTR_AAC, &HLS_AAC]);
    let mock = ScMock {
        tracks: vec![mp3.json(), aac.json()],
        sets: vec![],
        counters: Arc::new(Counters::default()),
    };
    let mitm = Mitm::start(mock.router());
    let node = start_node(tag, &mitm, "");
    (mitm, node)
}

fn tone_spec(id: u64, slug: &'static str, formats: Vec<&'static Fmt>) -> TrackSpec<'static> {
    let mut t = TrackSpec::new(id, "E2E Tone", "Basalt-Fixtures", slug);
    t.formats = formats;
    t
}

fn audio(f: &FakeVoice) -> Vec<fake_voice::Packet> {
    f.packets()
        .into_iter()
        .filter(|p| p.payload != SILENCE)
        .collect()
}

#[test]
fn a_soundcloud_track_loads_and_plays_to_discord() {
    let (mitm, node) = setup("play");
    let f = fake();
    let (mut ws, sid) = client_ws(node.addr, "basalt-sources-e2e/1.0");
    let c = Client::new(node.addr, PW);
    let res = load_tracks(&c, "https://soundcloud.com/basalt-fixtures/hls-mp3");
    assert_eq!(res["loadType"], json!("track"), "{res}");
    let info = &res["data"]["info"];
    assert_eq!(info["sourceName"], json!("soundcloud"));
    assert_eq!(info["title"], json!("E2E Tone"));
    assert_eq!(info["length"], json!(2040));
    assert_eq!(info["isSeekable"], json!(true));
    assert_eq!(info["isStream"], json!(false));
    let encoded = res["data"]["encoded"].as_str().unwrap().to_string();

    let path = format!("/v4/sessions/{sid}/players/{GUILD}");
    let body = json!({"track": {"encoded": encoded}, "voice": voice_body(&f)});
    let r = c.patch(&path, &body.to_string());
    assert_eq!(r.status, 200, "PATCH: {}", r.text());
    ws.expect("event", Some("TrackStartEvent"), Duration::from_secs(10));
    let end = ws.expect("event", Some("TrackEndEvent"), Duration::from_secs(15));
    assert_eq!(end["reason"], json!("finished"));
    assert!(f.wait(Duration::from_secs(10), |s| s
        .packets
        .iter()
        .filter(|p| p.payload == SILENCE)
        .count()
        >= 5));
    let audio = audio(&f);
    // 2.04 s of MP3 in three HLS segments: ~102 frames of 20 ms.
    assert!(
        (96..=108).contains(&audio.len()),
        "audio frames {}",
        audio.len()
    );
    let pcm = fake_voice::decode(&audio);
    let hz = fake_voice::frequency(&pcm);
    assert!((hz - 440.0).abs() < 9.0, "decoded frequency {hz}");
    assert!(fake_voice::rms(&pcm) > 1000.0);
    assert!(f.state().errors.is_empty(), "{:#?}", f.state().errors);
    // Every request went through the proxy to a mocked host; the CDN saw the segments.
    assert!(mitm.unrouted().is_empty(), "{:#?}", mitm.unrouted());
    assert_eq!(
        mitm.requests_to("cf-hls-media.sndcdn.com", "/media/").len(),
        3
    );
}

#[test]
fn seeking_inside_an_hls_vod_track() {
    let (mitm, node) = setup("seek");
    let f = fake();
    let (mut ws, sid) = client_ws(node.addr, "basalt-sources-e2e/1.0");
    let c = Client::new(node.addr, PW);
    let res = load_tracks(&c, "https://soundcloud.com/basalt-fixtures/hls-aac");
    assert_eq!(res["loadType"], json!("track"), "{res}");
    assert!(res["data"]["info"]["identifier"]
        .as_str()
        .unwrap()
        .starts_with("A:"));
    let encoded = res["data"]["encoded"].as_str().unwrap().to_string();
    let path = format!("/v4/sessions/{sid}/players/{GUILD}");
    let body = json!({"track": {"encoded": encoded}, "voice": voice_body(&f)});
    assert_eq!(c.patch(&path, &body.to_string()).status, 200);
    ws.expect("event", Some("TrackStartEvent"), Duration::from_secs(10));
    assert!(f.wait(Duration::from_secs(5), |s| s.packets.len() >= 10));
    let at_seek = audio(&f).len();
    let r = c.patch(&path, &json!({"position": 2200}).to_string());
    assert_eq!(r.status, 200, "seek PATCH: {}", r.text());
    let end = ws.expect("event", Some("TrackEndEvent"), Duration::from_secs(15));
    assert_eq!(end["reason"], json!("finished"));
    poll::wait_quiet(
        "the last audio to arrive",
        poll::QUIET,
        poll::DEADLINE,
        || audio(&f).len(),
    );
    let total = audio(&f).len();
    // Before the seek ~at_seek frames; after it 3.04 − 2.2 s ≈ 42 frames (not the 3 s track).
    let after = total - at_seek;
    assert!(
        (30..=60).contains(&after),
        "{at_seek} frames before the seek, {after} after"
    );
    assert!(total < 140, "the seek skipped audio: {total} frames in all");
    // The seek jumped: the segment holding 2.2 s was fetched after the init section again.
    let init = mitm.requests_to(
        "playback.media-streaming.soundcloud.cloud",
        "/aBcD72/aac_160k/9f8e7d6c/init.mp4",
    );
    assert!(init.len() >= 2, "init section re-read for the jump");
    // The frames right at the jump and at the end carry splices; judge the pitch between.
    let all = audio(&f);
    let pcm = fake_voice::decode(&all[at_seek + 4..total - 4]);
    let hz = fake_voice::frequency(&pcm);
    assert!((hz - 440.0).abs() < 9.0, "{hz} Hz after the seek");
    assert!(fake_voice::rms(&pcm) > 1000.0);
    assert!(mitm.unrouted().is_empty(), "{:#?}", mitm.unrouted());
}
