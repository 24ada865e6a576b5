//! Plugin REST routes through the real binary, with their status-code matrices:
//! LavaSearch (`/v4/loadsearch`), LavaLyrics (four routes) and SponsorBlock (categories),
//! plus the core `pluginFilters` rule (unknown names dropped, not echoed).

#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/mitm.rs"]
mod mitm;
#[path = "support/plugin_node.rs"]
mod plugin_node;
#[path = "support/poll.rs"]
mod poll;

use basalt::track::{encode_track, utf_source_data, TrackData, TrackInfo};
use mitm::{Mitm, Router};
use plugin_node::*;
use serde_json::json;

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

fn config() -> String {
    format!(
        "{LAVASRC_SPOTIFY}deezer = true\n[plugins.lavasrc.lyrics_sources]\nlrc_lib = true\n"
    )
    .replace("[plugins.lavasrc.sources]\nspotify = true\n[plugins.lavasrc.spotify]\nclient_id = \"id\"\nclient_secret = \"secret\"\ndeezer = true\n",
             "[plugins.lavasrc.sources]\nspotify = true\ndeezer = true\n[plugins.lavasrc.spotify]\nclient_id = \"id\"\nclient_secret = \"secret\"\n")
}

fn upstreams() -> Router {
    lrclib_routes(deezer_routes(media_routes(spotify_routes(Router::new()))))
}

/// An http track whose encoding contains a `+`, with `title`.
fn plus_track(title: &str) -> String {
    for i in 0..10_000 {
        let t = TrackData {
            info: TrackInfo {
                title: title.to_string(),
                author: format!("Author{}", "é".repeat(i % 7)),
                // Non-ASCII bytes make `+` likely in the base64 text.
                length: 0x00FB_FBFB + i as i64,
                identifier: "https://media.example/song.mp3".into(),
                is_stream: false,
                uri: Some("https://media.example/song.mp3".into()),
                artwork_url: None,
                isrc: None,
                source_name: "http".into(),
            },
            source_data: utf_source_data("mp3"),
            position: 0,
        };
        let e = encode_track(&t);
        if e.contains('+') {
            return e;
        }
    }
    panic!("no encoding with a plus");
}

#[test]
fn loadsearch_matrix() {
    let m = Mitm::start(upstreams());
    let node = start("search", &m, &config());
    let c = client(&node);

    let r = c.get("/v4/loadsearch");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.json()["message"].as_str().unwrap().contains("'query'"));

    // No provider claims the prefix → 204.
    let r = c.get(&format!("/v4/loadsearch?query={}", enc("zzsearch:x")));
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());

    // All types by default: six keys, playlists with empty tracks and LavaSrc pluginInfo.
    let r = c.get(&format!("/v4/loadsearch?query={}", enc("spsearch:sine")));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "tracks",
            "albums",
            "artists",
            "playlists",
            "texts",
            "plugin"
        ]
    );
    assert_eq!(v["tracks"].as_array().unwrap().len(), 2);
    assert_eq!(v["tracks"][0]["pluginInfo"]["isPreview"], false);
    assert_eq!(
        v["albums"][0],
        json!({"info": {"name": "Album \"One\"", "selectedTrack": -1},
               "pluginInfo": {"type": "album", "url": "https://open.spotify.com/album/alb1",
                              "artworkUrl": "https://i.scdn.co/image/alb1-640", "author": "Band & Co", "totalTracks": 2},
               "tracks": []})
    );
    assert_eq!(v["artists"][0]["info"]["name"], "Band & Co's Top Tracks");
    assert_eq!(
        v["playlists"].as_array().unwrap().len(),
        1,
        "a null item is skipped"
    );
    assert_eq!(v["texts"], json!([]));
    assert_eq!(v["plugin"], json!({}));
    let q = m.requests_to("api.spotify.com", "/v1/search");
    assert_eq!(
        q.last().unwrap().param("type"),
        Some("album,artist,playlist,track")
    );
    assert_eq!(q.last().unwrap().param("limit"), Some("10"));

    // Only the asked types are requested; unknown ones are dropped.
    let r = c.get(&format!(
        "/v4/loadsearch?query={}&types=track,%20bogus",
        enc("spsearch:sine")
    ));
    let v = r.json();
    assert_eq!(v["tracks"].as_array().unwrap().len(), 2);
    assert_eq!(v["albums"], json!([]));
    assert_eq!(
        m.requests_to("api.spotify.com", "/v1/search")
            .last()
            .unwrap()
            .param("type"),
        Some("track")
    );

    // `text` is not a Spotify type: empty lists, not an error, and no request.
    let before = m.requests_to("api.spotify.com", "/v1/search").len();
    let r = c.get(&format!(
        "/v4/loadsearch?query={}&types=text",
        enc("spsearch:sine")
    ));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["tracks"], json!([]));
    assert_eq!(m.requests_to("api.spotify.com", "/v1/search").len(), before);

    // Deezer autocomplete.
    let r = c.get(&format!(
        "/v4/loadsearch?query={}&types=album,track",
        enc("dzsearch:daft")
    ));
    let v = r.json();
    assert_eq!(v["albums"][0]["pluginInfo"]["totalTracks"], 14);
    assert_eq!(v["tracks"][0]["info"]["sourceName"], "deezer");
    assert_eq!(
        v["tracks"][0]["pluginInfo"]["artistUrl"],
        "https://www.deezer.com/artist/27"
    );

    let r = c.post("/v4/loadsearch?query=spsearch:x", "{}");
    assert_eq!(r.status, 405);
    assert!(m.unrouted().is_empty(), "{:?}", m.unrouted());
}

#[test]
fn deezer_loads_and_isrc() {
    let m = Mitm::start(upstreams());
    let node = start("deezer", &m, &config());
    let c = client(&node);
    let v = c
        .get(&format!(
            "/v4/loadtracks?identifier={}",
            enc(&format!("dzisrc:{ISRC}"))
        ))
        .json();
    assert_eq!(v["loadType"], "track", "{v}");
    assert_eq!(v["data"]["info"]["uri"], "https://deezer.com/track/3135557");
    assert_eq!(v["data"]["info"]["length"], 2000);
    assert_eq!(
        v["data"]["pluginInfo"]["albumUrl"],
        "https://www.deezer.com/album/302127"
    );
    let v = c
        .get(&format!("/v4/loadtracks?identifier={}", enc("dzisrc:NOPE")).to_string())
        .json();
    assert_eq!(v["loadType"], "empty");
    let v = c
        .get(&format!(
            "/v4/loadtracks?identifier={}",
            enc("dzsearch:harder")
        ))
        .json();
    assert_eq!(v["loadType"], "search");
    let info = c.get("/v4/info").json();
    // LavaSrc's enabled sources sit between the built-in online sources and http.
    let names: Vec<&str> = info["sourceManagers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let tail = &names[names.len().saturating_sub(3)..];
    assert_eq!(tail, ["spotify", "deezer", "http"], "{names:?}");
    assert!(!names.contains(&"applemusic"));
}

#[test]
fn lyrics_matrix() {
    let m = Mitm::start(upstreams());
    let node = start("lyrics", &m, &config());
    let c = client(&node);

    // An encoded track whose `+` arrived as a space (lavalink-client sends it unescaped).
    let e = plus_track("Sine Song");
    let r = c.get(&format!("/v4/lyrics?track={e}"));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["sourceName"], "LRCLIB");
    assert_eq!(v["provider"], "LRCLIB");
    assert_eq!(v["text"], "First \"line\"\nSecond\nThird\nFourth");
    assert_eq!(
        v["lines"][0],
        json!({"timestamp": 0, "duration": 400, "line": "First \"line\"", "plugin": {}})
    );
    assert_eq!(v["lines"][3]["duration"], json!(null));
    assert_eq!(v["plugin"], json!({}));
    let q = m.requests_to("lrclib.net", "/api/search");
    assert_eq!(q[0].param("track_name"), Some("Sine Song"));

    // Properly escaped, no lyrics → 204; undecodable → 500; missing → 400.
    let r = c.get(&format!(
        "/v4/lyrics?encodedTrack={}",
        enc(&plus_track("No Lyrics"))
    ));
    assert_eq!(r.status, 204);
    assert_eq!(c.get("/v4/lyrics?track=notatrack").status, 500);
    assert_eq!(c.get("/v4/lyrics").status, 400);

    // Player routes.
    let (_ws, sid) = session(&node);
    let g = GUILD;
    let r = c.get(&format!("/v4/sessions/nope/players/{g}/track/lyrics"));
    assert_eq!(
        (r.status, r.json()["message"].clone()),
        (404, json!("Session not found"))
    );
    let r = c.get(&format!("/v4/sessions/{sid}/players/{g}/track/lyrics"));
    assert_eq!(
        (r.status, r.json()["message"].clone()),
        (404, json!("Player not found"))
    );
    assert_eq!(
        c.patch(
            &format!("/v4/sessions/{sid}/players/{g}"),
            "{\"volume\": 50}"
        )
        .status,
        200
    );
    let r = c.get(&format!("/v4/sessions/{sid}/players/{g}/track/lyrics"));
    assert_eq!(
        (r.status, r.json()["message"].clone()),
        (404, json!("No track playing"))
    );
    // Subscribe: unknown session → 204 (nothing happens); unknown player → 404.
    assert_eq!(
        c.post(
            &format!("/v4/sessions/nope/players/{g}/lyrics/subscribe"),
            ""
        )
        .status,
        204
    );
    assert_eq!(
        c.post(
            &format!("/v4/sessions/{sid}/players/1/lyrics/subscribe"),
            ""
        )
        .status,
        404
    );
    assert_eq!(
        c.post(
            &format!("/v4/sessions/{sid}/players/{g}/lyrics/subscribe"),
            ""
        )
        .status,
        204
    );
    assert_eq!(
        c.delete(&format!("/v4/sessions/{sid}/players/{g}/lyrics/subscribe"))
            .status,
        204
    );
    assert_eq!(
        c.delete(&format!("/v4/sessions/nope/players/{g}/lyrics/subscribe"))
            .status,
        204
    );
    assert_eq!(
        c.get(&format!("/v4/sessions/{sid}/players/{g}/lyrics/subscribe"))
            .status,
        405
    );
    assert!(m.unrouted().is_empty(), "{:?}", m.unrouted());
}

#[test]
fn sponsorblock_matrix_and_resume() {
    let m = Mitm::start(upstreams());
    let node = start("sb", &m, &config());
    let c = client(&node);
    let (ws, sid) = session(&node);
    let g = GUILD;
    let path = format!("/v4/sessions/{sid}/players/{g}/sponsorblock/categories");

    let r = c.get(&format!(
        "/v4/sessions/nope/players/{g}/sponsorblock/categories"
    ));
    assert_eq!(
        (r.status, r.json()["message"].clone()),
        (404, json!("Session not found"))
    );
    let r = c.send_json(
        "PUT",
        &format!("/v4/sessions/nope/players/{g}/sponsorblock/categories"),
        "[\"sponsor\"]",
    );
    assert_eq!(
        (r.status, r.json()["message"].clone()),
        (404, json!("Session not found"))
    );
    let r = c.get(&path);
    assert_eq!(
        (r.status, r.json()["message"].clone()),
        (404, json!("Guild not found"))
    );
    // PUT needs no player; duplicates collapse; 200 with an empty body.
    let r = c.send_json("PUT", &path, "[\"sponsor\", \"selfpromo\", \"sponsor\"]");
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(c.get(&path).json(), json!(["sponsor", "selfpromo"]));
    assert_eq!(c.send_json("PUT", &path, "{\"a\": 1}").status, 400);

    // Categories survive a resume.
    assert_eq!(
        c.patch(
            &format!("/v4/sessions/{sid}"),
            "{\"resuming\": true, \"timeout\": 30}"
        )
        .status,
        200
    );
    ws.close();
    // Until the close is noticed (a paused session is invisible over REST), so the
    // reconnect is a resume and not a race with the old socket.
    poll::wait_until("the session to pause", poll::DEADLINE, || {
        c.get(&format!("/v4/sessions/{sid}/players")).status == 404
    });
    let _ws = resume(&node, &sid);
    assert_eq!(c.get(&path).json(), json!(["sponsor", "selfpromo"]));

    let r = c.delete(&path);
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(c.get(&path).status, 404);
    assert_eq!(c.delete(&path).status, 200, "deleting nothing is fine");
}

#[test]
fn unknown_plugin_filters_are_dropped_not_echoed() {
    let m = Mitm::start(upstreams());
    let node = start("pf", &m, "");
    let c = client(&node);
    let (_ws, sid) = session(&node);
    let r = c.patch(
        &format!("/v4/sessions/{sid}/players/{GUILD}"),
        &json!({"filters": {"volume": 0.5, "pluginFilters": {"nobody": {"x": 1}}}}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let f = &r.json()["filters"];
    assert_eq!(f["volume"], 0.5);
    assert!(f.get("pluginFilters").is_none(), "{f}");
    let r = c.patch(
        &format!("/v4/sessions/{sid}/players/{GUILD}"),
        &json!({"filters": {"pluginFilters": null}}).to_string(),
    );
    assert_eq!(r.status, 400);
}
