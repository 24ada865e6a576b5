//! LavaSrc through the real binary: a Spotify link loads with LavaSrc's `pluginInfo` and
//! blob extras, plays through the mirror (the configured provider resolved by the normal
//! loader) and is heard at the fake Discord voice server; `spsearch:` and a playlist at
//! the 2026 `/items` endpoint; `/v4/info` per config; bad plugin config refused.

#[path = "support/fake_voice/mod.rs"]
mod fake_voice;
#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/mitm.rs"]
mod mitm;
#[path = "support/plugin_node.rs"]
mod plugin_node;
#[path = "support/poll.rs"]
mod poll;

use std::process::Command;
use std::time::Duration;

use fake_voice::{FakeConfig, FakeVoice, SILENCE};
use mitm::{Mitm, Router};
use plugin_node::*;
use serde_json::json;

fn upstreams() -> Router {
    media_routes(spotify_routes(Router::new()))
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[test]
fn spotify_link_is_mirrored_and_heard_at_the_voice_server() {
    let m = Mitm::start(upstreams());
    let node = start("mirror", &m, LAVASRC_SPOTIFY);
    let c = client(&node);

    let r = c.get(&format!(
        "/v4/loadtracks?identifier={}",
        enc("https://open.spotify.com/track/trk1?si=abc")
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["loadType"], "track", "{v}");
    let t = &v["data"];
    assert_eq!(t["info"]["sourceName"], "spotify");
    assert_eq!(t["info"]["identifier"], "trk1");
    assert_eq!(t["info"]["author"], "Band & Co");
    assert_eq!(t["info"]["isrc"], "US-UM7-17-03861");
    assert_eq!(t["info"]["artworkUrl"], "https://i.scdn.co/image/alb1-640");
    assert_eq!(t["info"]["uri"], "https://open.spotify.com/track/trk1");
    let pi = &t["pluginInfo"];
    assert_eq!(
        pi,
        &json!({
            "albumName": "Album \"One\"",
            "albumUrl": "https://open.spotify.com/album/alb1",
            "artistUrl": "https://open.spotify.com/artist/art1",
            "artistArtworkUrl": "https://i.scdn.co/image/art1",
            "previewUrl": null,
            "isPreview": false,
            "isLocal": false
        })
    );
    // The extras live in the blob: decodetrack re-derives the same pluginInfo.
    let encoded = t["encoded"].as_str().unwrap().to_string();
    let d = c.get(&format!("/v4/decodetrack?encodedTrack={}", enc(&encoded)));
    assert_eq!(d.status, 200, "{}", d.text());
    assert_eq!(d.json()["pluginInfo"], *pi);

    // Play it: mirrored at playback to the media mock, heard at the fake voice server.
    let f = FakeVoice::start(FakeConfig {
        guild_id: GUILD,
        user_id: USER,
        ..FakeConfig::default()
    });
    let (mut ws, sid) = session(&node);
    let body = json!({
        "track": {"encoded": encoded, "userData": {"req": 1}},
        "voice": {"token": f.config.token, "endpoint": f.endpoint, "sessionId": f.config.session_id,
                  "channelId": f.config.channel_id.to_string()}
    });
    let r = c.patch(
        &format!("/v4/sessions/{sid}/players/{GUILD}"),
        &body.to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let start = ws.expect("event", Some("TrackStartEvent"), Duration::from_secs(10));
    assert_eq!(start["track"]["info"]["sourceName"], "spotify");
    assert_eq!(start["track"]["pluginInfo"]["albumName"], "Album \"One\"");
    let end = ws.expect("event", Some("TrackEndEvent"), Duration::from_secs(15));
    assert_eq!(end["reason"], "finished", "{end}");
    assert!(f.wait(Duration::from_secs(10), |s| s
        .packets
        .iter()
        .filter(|p| p.payload == SILENCE)
        .count()
        >= 5));
    let audio: Vec<_> = f
        .packets()
        .into_iter()
        .filter(|p| p.payload != SILENCE)
        .collect();
    assert!(
        (95..=105).contains(&audio.len()),
        "2 s of audio: {} frames",
        audio.len()
    );
    let pcm = fake_voice::decode(&audio);
    let hz = fake_voice::frequency(&pcm);
    assert!((hz - 440.0).abs() < 9.0, "decoded frequency {hz}");

    // The mirror used the ISRC without dashes; nothing left the mocks.
    assert!(!m
        .requests_to("media.example", &format!("/{ISRC}.mp3"))
        .is_empty());
    assert!(m.unrouted().is_empty(), "{:?}", m.unrouted());

    // A second play of the same track reuses the cached mirror: the media is opened
    // again but not probed again, so it costs fewer requests than the first play.
    let first = m
        .requests_to("media.example", &format!("/{ISRC}.mp3"))
        .len();
    let r = c.patch(
        &format!("/v4/sessions/{sid}/players/{GUILD}"),
        &json!({"track": {"encoded": encoded}}).to_string(),
    );
    assert_eq!(r.status, 200);
    ws.expect("event", Some("TrackStartEvent"), Duration::from_secs(10));
    let end = ws.expect("event", Some("TrackEndEvent"), Duration::from_secs(15));
    assert_eq!(end["reason"], "finished", "{end}");
    let second = m
        .requests_to("media.example", &format!("/{ISRC}.mp3"))
        .len()
        - first;
    assert!(
        second >= 1 && second < first,
        "first play {first} requests, second {second}"
    );
}

#[test]
fn spsearch_and_playlists() {
    let m = Mitm::start(upstreams());
    let node = start("spsearch", &m, LAVASRC_SPOTIFY);
    let c = client(&node);

    let r = c.get(&format!(
        "/v4/loadtracks?identifier={}",
        enc("spsearch:sine song")
    ));
    let v = r.json();
    assert_eq!(v["loadType"], "search", "{v}");
    let tracks = v["data"].as_array().unwrap();
    assert_eq!(tracks.len(), 2);
    assert_eq!(tracks[0]["info"]["title"], "Sine Song");
    assert_eq!(
        tracks[1]["pluginInfo"]["albumUrl"],
        "https://open.spotify.com/album/alb1"
    );
    let s = m.requests_to("api.spotify.com", "/v1/search");
    assert_eq!(s[0].param("q"), Some("sine song"));
    assert_eq!(s[0].param("type"), Some("track"));
    assert_eq!(s[0].param("limit"), Some("10"));

    // A playlist: entries at /items (2026), local files skipped, playlist pluginInfo.
    let r = c.get(&format!(
        "/v4/loadtracks?identifier={}",
        enc("https://open.spotify.com/playlist/pl1")
    ));
    let v = r.json();
    assert_eq!(v["loadType"], "playlist", "{v}");
    assert_eq!(
        v["data"]["info"],
        json!({"name": "Mix", "selectedTrack": -1})
    );
    assert_eq!(
        v["data"]["pluginInfo"],
        json!({"type": "playlist", "url": "https://open.spotify.com/playlist/pl1",
               "artworkUrl": "https://i.scdn.co/image/pl1", "author": "dj", "totalTracks": 3})
    );
    assert_eq!(v["data"]["tracks"].as_array().unwrap().len(), 2);

    // Unknown id → empty; not a Spotify URL → not claimed by LavaSrc.
    let r = c.get(&format!(
        "/v4/loadtracks?identifier={}",
        enc("https://open.spotify.com/track/nope")
    ));
    assert_eq!(r.json()["loadType"], "empty");
    assert!(m.unrouted().is_empty(), "{:?}", m.unrouted());
}

#[test]
fn info_lists_plugins_and_sources_per_config() {
    let m = Mitm::start(upstreams());
    let node = start(
        "info-on",
        &m,
        &format!("{LAVASRC_SPOTIFY}[plugins.lavasrc.lyrics_sources]\nlrc_lib = true\n"),
    );
    let v = client(&node).get("/v4/info").json();
    let names: Vec<&str> = v["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        // The native LavaDSPX filters' entry is always there.
        .filter(|n| *n != "lavadspx-plugin")
        .collect();
    assert_eq!(
        names,
        [
            "lavasrc-plugin",
            "lavasearch-plugin",
            "lavalyrics-plugin",
            "sponsorblock-plugin"
        ]
    );
    assert!(v["plugins"][1]["version"].is_string());
    let sources: Vec<&str> = v["sourceManagers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(sources, ["spotify", "http"]);
    drop(node);

    // Default plugin config: only SponsorBlock has something to serve.
    let node = start("info-default", &m, "");
    let v = client(&node).get("/v4/info").json();
    // (after the native LavaDSPX filters' entry, always listed)
    assert_eq!(v["plugins"][0]["name"], "lavadspx-plugin");
    assert_eq!(v["plugins"][1]["name"], "sponsorblock-plugin");
    assert_eq!(v["plugins"].as_array().unwrap().len(), 2);
    drop(node);
    // LavaSrc on but LavaSearch and LavaLyrics switched off (and no lyrics source).
    let node = start(
        "info-partial",
        &m,
        &format!("{LAVASRC_SPOTIFY}[plugins.lavasearch]\nenabled = false\n"),
    );
    let v = client(&node).get("/v4/info").json();
    let names: Vec<&str> = v["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["lavadspx-plugin", "lavasrc-plugin", "sponsorblock-plugin"]
    );
    drop(node);

    let node = start(
        "info-off",
        &m,
        "[plugins.lavasearch]\nenabled = false\n[plugins.lavalyrics]\nenabled = false\n[plugins.sponsorblock]\nenabled = false\n",
    );
    let v = client(&node).get("/v4/info").json();
    assert_eq!(v["plugins"].as_array().unwrap().len(), 1);
    assert_eq!(v["plugins"][0]["name"], "lavadspx-plugin");
    assert_eq!(v["sourceManagers"], json!(["http"]));
}

#[test]
fn bad_plugin_config_is_refused_naming_key_and_file() {
    let m = Mitm::start(Router::new());
    for (extra, key) in [
        (
            "[plugins.lavasrc.spotify]\nclientId = \"x\"\n",
            "plugins.lavasrc.spotify.clientId",
        ),
        (
            "[plugins.lavasrc.lyrics_sources]\nspotify = true\n",
            "plugins.lavasrc.lyrics_sources.spotify",
        ),
        (
            "[plugins.sponsorblock]\nenabled = \"yes\"\n",
            "plugins.sponsorblock.enabled",
        ),
    ] {
        let (dir, _) = write_config("bad", &m, extra);
        let cfg = dir.join("config.toml");
        let out = Command::new(env!("CARGO_BIN_EXE_basalt"))
            .arg("--config")
            .arg(&cfg)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{err}");
        assert!(err.contains(&cfg.display().to_string()), "{err}");
    }
}

#[test]
fn patch_lavasrc_config_replaces_spotify_credentials() {
    let m = Mitm::start(upstreams());
    let node = start(
        "patch-config",
        &m,
        &LAVASRC_SPOTIFY.replace("client_secret = \"secret\"", "client_secret = \"wrong\""),
    );
    let c = client(&node);
    let search = || {
        c.get(&format!(
            "/v4/loadtracks?identifier={}",
            enc("spsearch:sine")
        ))
        .json()
    };
    let v = search();
    assert_eq!(v["loadType"], "error", "{v}");
    assert_eq!(
        v["data"]["message"],
        "Failed to get a Spotify access token."
    );

    // Half a pair is ignored; a wrong type is a 400; the pair applies; 200 with no body.
    let r = c.patch(
        "/v4/lavasrc/config",
        "{\"spotify\": {\"clientId\": \"id\"}}",
    );
    assert_eq!(r.status, 200);
    assert_eq!(search()["loadType"], "error");
    assert_eq!(
        c.patch("/v4/lavasrc/config", "{\"spotify\": {\"clientId\": 5}}")
            .status,
        400
    );
    assert_eq!(c.patch("/v4/lavasrc/config", "[]").status, 400);
    let r = c.patch(
        "/v4/lavasrc/config",
        "{\"spotify\": {\"clientId\": \"id\", \"clientSecret\": \"secret\"}, \"deezer\": {\"arl\": \"x\"}, \"bogus\": 1}",
    );
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(search()["loadType"], "search");
    assert_eq!(c.get("/v4/lavasrc/config").status, 405);
}

#[test]
fn with_deezer_on_the_mirror_asks_dzisrc_first_and_counts_lookups() {
    let m = Mitm::start(deezer_routes(upstreams()));
    let cfg = LAVASRC_SPOTIFY.replace("spotify = true\n", "spotify = true\ndeezer = true\n")
        + "[metrics]\nprometheus = true\n";
    let node = start("mirror-dz", &m, &cfg);
    let c = client(&node);
    let v = c
        .get(&format!(
            "/v4/loadtracks?identifier={}",
            enc("https://open.spotify.com/track/trk1")
        ))
        .json();
    let encoded = v["data"]["encoded"].as_str().unwrap().to_string();
    let f = FakeVoice::start(FakeConfig {
        guild_id: GUILD,
        user_id: USER,
        ..FakeConfig::default()
    });
    let (mut ws, sid) = session(&node);
    let body = json!({
        "track": {"encoded": encoded},
        "voice": {"token": f.config.token, "endpoint": f.endpoint, "sessionId": f.config.session_id,
                  "channelId": f.config.channel_id.to_string()}
    });
    assert_eq!(
        c.patch(
            &format!("/v4/sessions/{sid}/players/{GUILD}"),
            &body.to_string()
        )
        .status,
        200
    );
    let end = ws.expect("event", Some("TrackEndEvent"), Duration::from_secs(15));
    assert_eq!(end["reason"], "finished", "{end}");
    // dzisrc: (exact ISRC) first; the Deezer hit is itself mirrored to the media URL.
    assert_eq!(
        m.requests_to("api.deezer.com", &format!("/2.0/track/isrc:{ISRC}"))
            .len(),
        1
    );
    assert!(!m
        .requests_to("media.example", &format!("/{ISRC}.mp3"))
        .is_empty());
    let metrics = c.get("/metrics").text();
    assert!(
        metrics.contains("basalt_plugin_lavasrc_mirror_lookups_total{result=\"found\"} 2"),
        "{metrics}"
    );
    assert!(m.unrouted().is_empty(), "{:?}", m.unrouted());
}
