//! The real `basalt` binary started for plugin tests: its outbound HTTP goes through the
//! MITM proxy (`[http]` proxy + `ca_file`, as an operator configures it), so every plugin
//! talks to the real service host names and the mocks answer. Synthetic upstream answers
//! in the services' shapes live here too.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::http_client::{ws_connect, Client, Ws};
use crate::mitm::{Mitm, MockResponse, Router};

pub const PW: &str = "plugin-pass";
pub const USER: u64 = 170_939_974_227_541_168;
pub const GUILD: u64 = 817_327_181_659_111_454;

pub struct Node {
    pub child: Child,
    pub addr: SocketAddr,
    pub dir: std::path::PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        crate::poll::stop(&mut self.child, Duration::from_secs(5));
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes a config (server, voice, logging, the MITM's `[http]`, then `extra`).
pub fn write_config(tag: &str, mitm: &Mitm, extra: &str) -> (std::path::PathBuf, u16) {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("basalt-plugins-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\naddress = \"127.0.0.1\"\nport = {port}\npassword = \"{PW}\"\n\n\
             [voice]\nallow_insecure_endpoints = true\n\n\
             [logging]\nlevel = \"warn\"\nrequest_logging = false\n\n\
             [sources]\nyoutube = false\nsoundcloud = false\nbandcamp = false\ntwitch = false\nvimeo = false\n\n{}\n{extra}\n",
            mitm.config_toml()
        ),
    )
    .unwrap();
    (dir, port)
}

pub fn start(tag: &str, mitm: &Mitm, extra: &str) -> Node {
    start_with_env(tag, mitm, extra, &[])
}

/// `start` with extra environment (`BASALT_SOURCES_YOUTUBE=true` turns on a source the
/// base config turns off).
pub fn start_with_env(tag: &str, mitm: &Mitm, extra: &str, env: &[(&str, &str)]) -> Node {
    let (dir, port) = write_config(tag, mitm, extra);
    let mut child = Command::new(env!("CARGO_BIN_EXE_basalt"))
        .envs(env.iter().copied())
        .arg("--config")
        .arg(dir.join("config.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn basalt");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    crate::poll::wait_listening(&mut child, addr);
    Node { child, addr, dir }
}

pub fn client(node: &Node) -> Client {
    Client::new(node.addr, PW)
}

pub fn session(node: &Node) -> (Ws, String) {
    let user = USER.to_string();
    let mut ws = ws_connect(
        node.addr,
        &[
            ("Authorization", PW),
            ("User-Id", &user),
            ("Client-Name", "basalt-plugin-tests/1.0"),
        ],
    )
    .expect("websocket");
    let ready = ws.expect("ready", None, Duration::from_secs(5));
    let sid = ready["sessionId"].as_str().unwrap().to_string();
    (ws, sid)
}

/// Resumes `sid` on a new socket.
pub fn resume(node: &Node, sid: &str) -> Ws {
    let user = USER.to_string();
    let mut ws = ws_connect(
        node.addr,
        &[
            ("Authorization", PW),
            ("User-Id", &user),
            ("Client-Name", "basalt-plugin-tests/1.0"),
            ("Session-Id", sid),
        ],
    )
    .expect("websocket");
    let ready = ws.expect("ready", None, Duration::from_secs(5));
    assert_eq!(ready["resumed"], json!(true), "{ready}");
    ws
}

pub fn fixture(name: &str) -> Vec<u8> {
    let p = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// Waits for the next `event` of `kind`, collecting every message before it.
pub fn wait_event(ws: &mut Ws, kind: &str, timeout: Duration) -> (Value, Vec<Value>) {
    let end = Instant::now() + timeout;
    let mut seen = Vec::new();
    while Instant::now() < end {
        if let Ok(Some(m)) = ws.next(end.saturating_duration_since(Instant::now())) {
            if m["op"] == "event" && m["type"] == kind {
                return (m, seen);
            }
            seen.push(m);
        }
    }
    panic!("no {kind} within {timeout:?}; saw {seen:#?}");
}

// ---------------------------------------------------------------------------------------
// Synthetic upstreams (shapes of the real services, with extra fields and escaping).

pub const ISRC: &str = "USUM71703861";

pub fn spotify_track(id: &str, name: &str, isrc: &str) -> Value {
    json!({
        "album": {
            "album_type": "album", "id": "alb1", "name": "Album \"One\"", "release_date": "2020-01-01",
            "external_urls": {"spotify": "https://open.spotify.com/album/alb1"},
            "images": [{"url": "https://i.scdn.co/image/alb1-640", "height": 640, "width": 640},
                       {"url": "https://i.scdn.co/image/alb1-300", "height": 300, "width": 300}],
            "artists": [{"id": "art1", "name": "Band & Co", "type": "artist"}],
            "total_tracks": 2
        },
        "artists": [{"id": "art1", "name": "Band & Co", "type": "artist",
                     "external_urls": {"spotify": "https://open.spotify.com/artist/art1"}},
                    {"id": "art2", "name": "Feat", "type": "artist"}],
        "available_markets": ["US"], "disc_number": 1, "duration_ms": 2000, "explicit": false,
        "external_ids": {"isrc": isrc},
        "external_urls": {"spotify": format!("https://open.spotify.com/track/{id}")},
        "href": format!("https://api.spotify.com/v1/tracks/{id}"),
        "id": id, "is_local": false, "name": name, "popularity": 42, "preview_url": null,
        "track_number": 1, "type": "track", "uri": format!("spotify:track:{id}")
    })
}

/// Spotify: client-credentials token, tracks, artist, search, a playlist at `/items`.
pub fn spotify_routes(r: Router) -> Router {
    r.route("POST", "accounts.spotify.com", "/api/token", |q| {
        if q.header("authorization") != Some("Basic aWQ6c2VjcmV0") || !q.body_text().contains("grant_type=client_credentials") {
            return MockResponse::json(json!({"error": "invalid_client"})).with_status(400);
        }
        MockResponse::json(json!({"access_token": "tok-123", "token_type": "Bearer", "expires_in": 3600}))
    })
    .route("GET", "api.spotify.com", "/v1/*", |q| {
        if q.header("authorization") != Some("Bearer tok-123") {
            return MockResponse::json(json!({"error": {"status": 401, "message": "No token"}})).with_status(401);
        }
        match q.path.as_str() {
            "/v1/tracks/trk1" => MockResponse::json(spotify_track("trk1", "Sine Song", "US-UM7-17-03861")),
            "/v1/artists/art1" => MockResponse::json(json!({
                "id": "art1", "name": "Band & Co", "followers": {"total": 5},
                "images": [{"url": "https://i.scdn.co/image/art1", "height": 640, "width": 640}],
                "external_urls": {"spotify": "https://open.spotify.com/artist/art1"}
            })),
            "/v1/search" => {
                let limit: usize = q.param("limit").and_then(|l| l.parse().ok()).unwrap_or(20);
                if limit > 10 {
                    return MockResponse::json(json!({"error": {"status": 400, "message": "Invalid limit"}})).with_status(400);
                }
                let types = q.param("type").unwrap_or_default().to_string();
                let mut body = serde_json::Map::new();
                if types.contains("track") {
                    body.insert("tracks".into(), json!({"href": "x", "limit": limit, "offset": 0, "total": 2, "next": null,
                        "items": [spotify_track("trk1", "Sine Song", ISRC), spotify_track("trk2", "Other", "GBAYE0601498")]}));
                }
                if types.contains("album") {
                    body.insert("albums".into(), json!({"items": [{"id": "alb1", "name": "Album \"One\"", "total_tracks": 2,
                        "external_urls": {"spotify": "https://open.spotify.com/album/alb1"},
                        "images": [{"url": "https://i.scdn.co/image/alb1-640"}],
                        "artists": [{"name": "Band & Co"}]}]}));
                }
                if types.contains("artist") {
                    body.insert("artists".into(), json!({"items": [{"id": "art1", "name": "Band & Co",
                        "external_urls": {"spotify": "https://open.spotify.com/artist/art1"},
                        "images": [{"url": "https://i.scdn.co/image/art1"}]}]}));
                }
                if types.contains("playlist") {
                    body.insert("playlists".into(), json!({"items": [null, {"id": "pl1", "name": "Mix",
                        "external_urls": {"spotify": "https://open.spotify.com/playlist/pl1"},
                        "images": [{"url": "https://i.scdn.co/image/pl1"}],
                        "owner": {"display_name": "dj"}, "items": {"total": 3}}]}));
                }
                MockResponse::json(Value::Object(body))
            }
            "/v1/playlists/pl1" => MockResponse::json(json!({
                "id": "pl1", "name": "Mix", "owner": {"display_name": "dj"},
                "external_urls": {"spotify": "https://open.spotify.com/playlist/pl1"},
                "images": [{"url": "https://i.scdn.co/image/pl1"}], "items": {"total": 3}
            })),
            "/v1/playlists/pl1/items" => MockResponse::json(json!({
                "limit": 100, "offset": 0, "total": 3, "next": null,
                "items": [
                    {"added_at": "2024-01-01T00:00:00Z", "is_local": false, "item": spotify_track("trk1", "Sine Song", ISRC)},
                    {"added_at": "2024-01-01T00:00:00Z", "is_local": true, "item": {"id": null, "name": "local.mp3", "is_local": true, "type": "track"}},
                    {"added_at": "2024-01-01T00:00:00Z", "is_local": false, "item": spotify_track("trk2", "Other", "GBAYE0601498")}
                ]
            })),
            _ => MockResponse::json(json!({"error": {"status": 404, "message": "Resource not found"}})).with_status(404),
        }
    })
}

/// The mirror target: `https://media.example/<ISRC>.mp3` serving a 2 s 440 Hz MP3.
pub fn media_routes(r: Router) -> Router {
    r.route("GET", "media.example", "/*", |q| {
        if q.path == format!("/{ISRC}.mp3") || q.path == "/song.mp3" {
            MockResponse::bytes(fixture("sine440_48k_stereo_2s_id3.mp3"), "audio/mpeg")
        } else {
            MockResponse::status(404)
        }
    })
    .route("GET", "www.youtube.com", "/watch", |_| {
        MockResponse::bytes(fixture("sine440_48k_stereo_2s_id3.mp3"), "audio/mpeg")
    })
}

/// LavaSrc config with Spotify on and the mirror pointed at the media mock.
pub const LAVASRC_SPOTIFY: &str =
    "[plugins.lavasrc]\nproviders = [\"https://media.example/%ISRC%.mp3\", \"ytsearch:%QUERY%\"]\n\
    [plugins.lavasrc.sources]\nspotify = true\n\
    [plugins.lavasrc.spotify]\nclient_id = \"id\"\nclient_secret = \"secret\"\n";

pub fn deezer_track(id: i64, title: &str, isrc: &str) -> Value {
    json!({
        "id": id, "readable": true, "title": title, "title_short": title, "isrc": isrc,
        "link": format!("https://www.deezer.com/track/{id}"), "duration": 2, "rank": 1000,
        "explicit_lyrics": false,
        "preview": format!("https://cdnt-preview.dzcdn.net/api/1/1/a/b/c/0/{id}.mp3?hdnea=exp=1~acl=/api/1/*~data=user_id=0,application_id=42~hmac=ab"),
        "artist": {"id": 27, "name": "Daft & Punk", "link": "https://www.deezer.com/artist/27",
                   "picture_xl": "https://e-cdns-images.dzcdn.net/images/artist/x/1000x1000-000000-80-0-0.jpg", "type": "artist"},
        "album": {"id": 302127, "title": "Discovery", "cover_xl": "https://e-cdns-images.dzcdn.net/images/cover/y/1000x1000-000000-80-0-0.jpg", "type": "album"},
        "type": "track"
    })
}

/// Deezer's public API: search, ISRC lookup (unknown → `{"error": … code 800}`),
/// autocomplete.
pub fn deezer_routes(r: Router) -> Router {
    r.route("GET", "api.deezer.com", "/2.0/*", |q| {
        let p = q.path.as_str();
        if p == "/2.0/search" {
            return MockResponse::json(json!({"data": [deezer_track(3135556, "Harder", "GBDUW0000059")], "total": 1}));
        }
        if p == format!("/2.0/track/isrc:{ISRC}") {
            return MockResponse::json(deezer_track(3135557, "Sine Song", ISRC));
        }
        if p == "/2.0/search/autocomplete" {
            return MockResponse::json(json!({
                "tracks": {"data": [deezer_track(3135556, "Harder", "GBDUW0000059")], "total": 1},
                "albums": {"data": [{"id": 302127, "title": "Discovery", "link": "https://www.deezer.com/album/302127",
                                     "cover_xl": "https://e-cdns-images.dzcdn.net/images/cover/y/1000x1000.jpg",
                                     "nb_tracks": 14, "artist": {"name": "Daft & Punk"}, "type": "album"}], "total": 1},
                "artists": {"data": [], "total": 0},
                "playlists": {"data": [], "total": 0},
                "podcasts": {"data": []}
            }));
        }
        MockResponse::json(json!({"error": {"type": "DataException", "message": "no data", "code": 800}}))
    })
}

/// LRCLIB: synced lyrics at 0, 400, 800 and 1200 ms for any track except one titled
/// `No Lyrics`.
pub fn lrclib_routes(r: Router) -> Router {
    r.route("GET", "lrclib.net", "/api/search", |q| {
        if q.param("track_name") == Some("No Lyrics") {
            return MockResponse::json(json!([]));
        }
        MockResponse::json(json!([{
            "id": 1, "trackName": q.param("track_name"), "artistName": q.param("artist_name"),
            "albumName": "A", "duration": 2.0, "instrumental": false,
            "plainLyrics": "First \"line\"\nSecond\nThird\nFourth",
            "syncedLyrics": "[00:00.00] First \"line\"\n[00:00.40] Second\n[00:00.80] Third\n[00:01.20] Fourth\n"
        }]))
    })
}
