//! Bandcamp, Vimeo and Niconico end to end through the real `basalt` binary, outbound HTTP
//! through the intercepting proxy by the operator's keys only: a track loaded with
//! `/v4/loadtracks`, played to the fake Discord voice server (audio decoded and checked
//! there), then played again from a later start position (a seek in the stream).

#![recursion_limit = "256"]

#[path = "support/bandcamp_mock.rs"]
mod bandcamp_mock;
#[path = "support/fake_voice/mod.rs"]
mod fake_voice;
#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/mitm.rs"]
mod mitm;
#[path = "support/nico_mock.rs"]
mod nico_mock;
#[path = "support/poll.rs"]
mod poll;
#[path = "support/proxied_node.rs"]
mod proxied_node;
#[path = "support/vimeo_mock.rs"]
mod vimeo_mock;

use std::sync::Arc;
use std::time::Duration;

use fake_voice::{FakeConfig, FakeVoice, SILENCE};
use http_client::{Client, Ws};
use mitm::Mitm;
use proxied_node::*;
use serde_json::json;

/// Plays `encoded` from `position` ms to the end at a fresh fake voice server; returns the
/// audio packets it decrypted.
fn play(
    c: &Client,
    ws: &mut Ws,
    sid: &str,
    encoded: &str,
    position: i64,
) -> Vec<fake_voice::Packet> {
    let f = FakeVoice::start(FakeConfig {
        guild_id: GUILD,
        user_id: USER,
        ..FakeConfig::default()
    });
    let path = format!("/v4/sessions/{sid}/players/{GUILD}");
    let body = json!({
        "track": {"encoded": encoded},
        "position": position,
        "voice": {
            "token": f.config.token,
            "endpoint": f.endpoint,
            "sessionId": f.config.session_id,
            "channelId": f.config.channel_id.to_string(),
        },
    });
    let r = c.patch(&path, &body.to_string());
    assert_eq!(r.status, 200, "PATCH: {}", r.text());
    ws.expect("event", Some("TrackStartEvent"), Duration::from_secs(10));
    let end = loop {
        let ev = ws.expect("event", None, Duration::from_secs(15));
        assert_ne!(ev["type"], json!("TrackExceptionEvent"), "{ev}");
        if ev["type"] == json!("TrackEndEvent") {
            break ev;
        }
    };
    assert_eq!(end["reason"], json!("finished"), "{end}");
    assert!(f.wait(Duration::from_secs(10), |s| s
        .packets
        .iter()
        .filter(|p| p.payload == SILENCE)
        .count()
        >= 5));
    assert!(f.state().errors.is_empty(), "{:#?}", f.state().errors);
    let audio: Vec<_> = f
        .packets()
        .into_iter()
        .filter(|p| p.payload != SILENCE)
        .collect();
    let r = c.delete(&path);
    assert_eq!(r.status, 204, "DELETE: {}", r.text());
    audio
}

/// A 440 Hz tone of about `secs` seconds (20 ms frames, ± 8 frames for the pipeline's
/// edges and the codec's priming).
fn assert_tone(audio: &[fake_voice::Packet], secs: f64, what: &str) {
    let expected = (secs * 50.0).round() as usize;
    assert!(
        audio.len() + 8 >= expected && audio.len() <= expected + 8,
        "{what}: {} audio frames, expected about {expected}",
        audio.len()
    );
    // The tone's pitch away from the edges (a decoder restarted mid-stream may open with
    // a few milliseconds of transient).
    let pcm = fake_voice::decode(&audio[5..audio.len() - 2]);
    let hz = fake_voice::frequency(&pcm);
    assert!((hz - 440.0).abs() < 9.0, "{what}: decoded frequency {hz}");
    assert!(fake_voice::rms(&pcm) > 1000.0, "{what}: silent");
}

fn run(tag: &str, mitm: &Mitm, sources: &str, url: &str, source: &str, secs: f64, from_ms: i64) {
    let node = start_node(tag, mitm, sources);
    let (mut ws, sid) = client_ws(node.addr, "basalt-sources-e2e/1.0");
    let c = Client::new(node.addr, PW);
    let res = load_tracks(&c, url);
    assert_eq!(res["loadType"], json!("track"), "{res}");
    assert_eq!(res["data"]["info"]["sourceName"], json!(source));
    assert_eq!(res["data"]["info"]["isSeekable"], json!(true));
    let encoded = res["data"]["encoded"].as_str().unwrap().to_string();
    let whole = play(&c, &mut ws, &sid, &encoded, 0);
    assert_tone(&whole, secs, "whole track");
    let tail = play(&c, &mut ws, &sid, &encoded, from_ms);
    assert_tone(&tail, secs - from_ms as f64 / 1000.0, "after a later start");
    assert!(mitm.unrouted().is_empty(), "{:#?}", mitm.unrouted());
}

#[test]
fn a_vimeo_clip_plays_to_discord_and_seeks() {
    let mitm = Mitm::start(vimeo_mock::router());
    // DASH audio: AAC in fMP4 segments, 3.04 s.
    run(
        "vimeo",
        &mitm,
        "",
        "https://vimeo.com/76979871",
        "vimeo",
        3.04,
        2_200,
    );
    assert!(!mitm
        .requests()
        .iter()
        .filter(|r| r.path.contains("/parcel/audio/aac/segment-"))
        .collect::<Vec<_>>()
        .is_empty());
}

#[test]
fn a_niconico_video_plays_to_discord_and_seeks() {
    let counters = Arc::new(nico_mock::NicoCounters::default());
    let mitm = Mitm::start(nico_mock::router(counters));
    // DMS: AES-128 encrypted fMP4 AAC segments with the session cookie, 3.04 s.
    run(
        "nico",
        &mitm,
        "nico = true",
        "https://www.nicovideo.jp/watch/sm9",
        "niconico",
        3.04,
        2_200,
    );
}

#[test]
fn a_bandcamp_track_plays_to_discord_and_seeks() {
    let mitm = Mitm::start(bandcamp_mock::router());
    // The signed mp3-128 stream: 2 s of MP3.
    run(
        "bandcamp",
        &mitm,
        "",
        "https://basalt.bandcamp.com/track/sine-tone",
        "bandcamp",
        2.0,
        1_000,
    );
}
