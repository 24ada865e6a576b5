//! LavaSrc's other sources through the real binary: Apple Music (`amsearch:`, song and
//! album URLs with the media API token) and Deezer recommendations (`dzrec:`, through the
//! private API session), with their `pluginInfo`.

#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/mitm.rs"]
mod mitm;
#[path = "support/plugin_node.rs"]
mod plugin_node;
#[path = "support/poll.rs"]
mod poll;

use mitm::{Mitm, MockResponse, Router};
use plugin_node::*;
use serde_json::{json, Value};

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

fn song(id: &str, name: &str) -> Value {
    json!({
        "id": id, "type": "songs", "href": format!("/v1/catalog/us/songs/{id}"),
        "attributes": {
            "name": name, "artistName": "Band & Co", "albumName": "Album \"One\"",
            "durationInMillis": 2000, "isrc": ISRC, "genreNames": ["Pop"],
            "url": format!("https://music.apple.com/us/album/album-one/1000?i={id}"),
            "artwork": {"url": "https://is1-ssl.mzstatic.com/image/thumb/a/{w}x{h}bb.jpg", "width": 3000, "height": 3000},
            "previews": [{"url": "https://audio-ssl.itunes.apple.com/preview.m4a"}]
        }
    })
}

fn apple_routes(r: Router) -> Router {
    r.route("GET", "api.music.apple.com", "/v1/*", |q| {
        if q.header("authorization") != Some("Bearer am-token") {
            return MockResponse::status(401);
        }
        match q.path.as_str() {
            "/v1/catalog/us/search" => MockResponse::json(json!({"results": {
                "songs": {"href": "x", "data": [song("2001", "Sine Song"), song("2002", "Other")]}
            }, "meta": {"results": {"order": ["songs"]}}})),
            "/v1/catalog/us/songs/2001" => MockResponse::json(json!({"data": [song("2001", "Sine Song")]})),
            "/v1/catalog/us/albums/1000" => MockResponse::json(json!({"data": [{
                "id": "1000", "type": "albums",
                "attributes": {"name": "Album \"One\"", "artistName": "Band & Co", "trackCount": 2,
                               "url": "https://music.apple.com/us/album/album-one/1000",
                               "artwork": {"url": "https://is1-ssl.mzstatic.com/image/thumb/b/{w}x{h}bb.jpg", "width": 100, "height": 100}},
                "relationships": {"tracks": {"data": [song("2001", "Sine Song"), song("2002", "Other")]}}
            }]})),
            _ => MockResponse::json(json!({"errors": [{"status": "404"}]})).with_status(404),
        }
    })
}

fn deezer_private_routes(r: Router) -> Router {
    r.route("POST", "www.deezer.com", "/ajax/gw-light.php", |q| {
        match q.param("method") {
            Some("deezer.ping") => MockResponse::json(json!({"error": [], "results": {"SESSION": "sid-1"}})),
            Some("deezer.getUserData") => {
                assert_eq!(q.header("cookie"), Some("sid=sid-1"));
                MockResponse::json(json!({"error": [], "results": {"checkForm": "api-tok", "USER": {"USER_ID": 0}}}))
            }
            Some("song.getSearchTrackMix") => {
                if q.param("api_token") != Some("api-tok") || q.body_json()["sng_id"] != "3135556" {
                    return MockResponse::json(json!({"error": {"VALID_TOKEN_REQUIRED": "bad"}, "results": {}}));
                }
                MockResponse::json(json!({"error": [], "results": {"data": [{
                    "SNG_ID": "42", "SNG_TITLE": "Mix One", "ART_NAME": "Daft & Punk", "ART_ID": "27",
                    "ALB_ID": "302127", "ALB_TITLE": "Discovery", "ALB_PICTURE": "abc", "DURATION": "200",
                    "ISRC": "GBDUW0000060", "ARTISTS": [{"ART_ID": "27", "ART_PICTURE": "def"}],
                    "MEDIA": [{"TYPE": "preview", "HREF": "https://cdnt-preview.dzcdn.net/42.mp3"}]
                }]}}))
            }
            _ => MockResponse::status(400),
        }
    })
}

#[test]
fn apple_music_search_and_urls() {
    let m = Mitm::start(apple_routes(Router::new()));
    let node = start(
        "apple",
        &m,
        "[plugins.lavasrc.sources]\napplemusic = true\n[plugins.lavasrc.applemusic]\nmedia_api_token = \"am-token\"\n",
    );
    let c = client(&node);
    let v = c
        .get(&format!(
            "/v4/loadtracks?identifier={}",
            enc("amsearch:sine")
        ))
        .json();
    assert_eq!(v["loadType"], "search", "{v}");
    let t = &v["data"][0];
    assert_eq!(t["info"]["sourceName"], "applemusic");
    assert_eq!(
        t["info"]["artworkUrl"],
        "https://is1-ssl.mzstatic.com/image/thumb/a/3000x3000bb.jpg"
    );
    assert_eq!(
        t["pluginInfo"]["albumUrl"],
        "https://music.apple.com/us/album/album-one/1000"
    );
    assert_eq!(
        t["pluginInfo"]["previewUrl"],
        "https://audio-ssl.itunes.apple.com/preview.m4a"
    );
    let q = m.requests_to("api.music.apple.com", "/v1/catalog/us/search");
    assert_eq!(q[0].param("term"), Some("sine"));

    let v = c
        .get(&format!(
            "/v4/loadtracks?identifier={}",
            enc("https://music.apple.com/us/album/album-one/1000?i=2001")
        ))
        .json();
    assert_eq!(v["loadType"], "track", "{v}");
    assert_eq!(v["data"]["info"]["identifier"], "2001");
    let v = c
        .get(&format!(
            "/v4/loadtracks?identifier={}",
            enc("https://music.apple.com/us/album/album-one/1000")
        ))
        .json();
    assert_eq!(v["loadType"], "playlist", "{v}");
    assert_eq!(
        v["data"]["pluginInfo"],
        json!({"type": "album", "url": "https://music.apple.com/us/album/album-one/1000",
               "artworkUrl": "https://is1-ssl.mzstatic.com/image/thumb/b/100x100bb.jpg", "author": "Band & Co", "totalTracks": 2})
    );
    // amprev: loads previews (30 s, isPreview).
    let v = c
        .get(&format!(
            "/v4/loadtracks?identifier={}",
            enc("amprev:amsearch:sine")
        ))
        .json();
    assert_eq!(v["data"][0]["info"]["length"], 30000);
    assert_eq!(v["data"][0]["pluginInfo"]["isPreview"], true);
    assert!(m.unrouted().is_empty(), "{:?}", m.unrouted());
}

#[test]
fn deezer_recommendations() {
    let m = Mitm::start(deezer_private_routes(deezer_routes(Router::new())));
    let node = start("dzrec", &m, "[plugins.lavasrc.sources]\ndeezer = true\n");
    let c = client(&node);
    let v = c
        .get(&format!(
            "/v4/loadtracks?identifier={}",
            enc("dzrec:3135556")
        ))
        .json();
    assert_eq!(v["loadType"], "playlist", "{v}");
    assert_eq!(v["data"]["info"]["name"], "Deezer Recommendations");
    assert_eq!(v["data"]["pluginInfo"]["type"], "recommendations");
    assert_eq!(v["data"]["pluginInfo"]["totalTracks"], 1);
    let t = &v["data"]["tracks"][0];
    assert_eq!(t["info"]["title"], "Mix One");
    assert_eq!(t["info"]["length"], 200_000);
    assert_eq!(
        t["info"]["artworkUrl"],
        "https://cdn-images.dzcdn.net/images/cover/abc/1000x1000-000000-80-0-0.jpg"
    );
    assert_eq!(
        t["pluginInfo"]["previewUrl"],
        "https://cdnt-preview.dzcdn.net/42.mp3"
    );
    let v = c
        .get(&format!(
            "/v4/loadtracks?identifier={}",
            enc("dzrec:notanid")
        ))
        .json();
    assert_eq!(v["loadType"], "empty");
    assert!(m.unrouted().is_empty(), "{:?}", m.unrouted());
}
