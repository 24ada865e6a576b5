//! LavaSrc's remaining pieces through the real binary, against mocks in the services'
//! shapes: LavaSearch `texts` (Apple Music term suggestions, YouTube and YouTube Music
//! suggestions) with each provider asked only for the types it supports; Spotify's
//! anonymous web-player token and share links; Apple Music's scraped developer token;
//! the Spotify, Deezer and YouTube Music lyrics providers in the configured order; Deezer
//! full streams (Blowfish-CBC stripes) decrypted and heard at the fake voice server.

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

fn texts(v: &Value) -> Vec<String> {
    v["texts"]
        .as_array()
        .unwrap_or_else(|| panic!("no texts in {v}"))
        .iter()
        .map(|t| {
            assert_eq!(t["plugin"], json!({}), "{t}");
            t["text"].as_str().unwrap().to_string()
        })
        .collect()
}

fn apple_suggest_routes(r: Router) -> Router {
    r.route("GET", "api.music.apple.com", "/v1/*", |q| {
        if q.header("authorization") != Some("Bearer am-token") {
            return MockResponse::status(401);
        }
        match q.path.as_str() {
            "/v1/catalog/us/search/suggestions" => {
                assert_eq!(q.param("kinds"), Some("terms"));
                MockResponse::json(json!({"results": {"suggestions": [
                    {"kind": "terms", "searchTerm": "sine song", "displayTerm": "sine song"},
                    {"kind": "topResults", "content": {"id": "1", "type": "songs", "attributes": {}}},
                    {"kind": "terms", "searchTerm": "sine \"waves\" é", "displayTerm": "sine waves"}
                ]}}))
            }
            "/v1/catalog/us/search" => MockResponse::json(json!({"results": {
                "albums": {"href": "x", "data": [{"id": "1000", "type": "albums", "attributes": {
                    "name": "Album \"One\"", "artistName": "Band & Co", "trackCount": 2,
                    "url": "https://music.apple.com/us/album/album-one/1000",
                    "artwork": {"url": "https://is1-ssl.mzstatic.com/image/thumb/b/{w}x{h}bb.jpg", "width": 100, "height": 100}}}]}
            }})),
            _ => MockResponse::json(json!({"errors": [{"status": "404"}]})).with_status(404),
        }
    })
}

fn youtube_suggest_routes(r: Router) -> Router {
    r.route(
        "GET",
        "suggestqueries-clients6.youtube.com",
        "/complete/search",
        |q| {
            assert_eq!(q.param("client"), Some("youtube"));
            let query = q.param("q").unwrap_or_default().to_string();
            let body = format!(
                "window.google.ac.h({})",
                json!([query, [[format!("{query} remix"), 0, [512, 433]],
                               [format!("{query} \"live\""), 0, [512]]],
                       {"k": 1, "q": "abc"}])
            );
            MockResponse::text(&body, "text/javascript; charset=UTF-8")
        },
    )
    .route(
        "POST",
        "music.youtube.com",
        "/youtubei/v1/music/get_search_suggestions",
        |q| {
            let b = q.body_json();
            assert_eq!(b["context"]["client"]["clientName"], "WEB_REMIX");
            let input = b["input"].as_str().unwrap_or_default().to_string();
            MockResponse::json(json!({"responseContext": {"visitorData": "v"}, "contents": [
                {"searchSuggestionsSectionRenderer": {"contents": [
                    {"searchSuggestionRenderer": {"suggestion": {"runs": [{"text": input, "bold": true}, {"text": " acoustic"}]}}},
                    {"searchSuggestionRenderer": {"suggestion": {"runs": [{"text": "other"}]}}}
                ]}},
                {"searchSuggestionsSectionRenderer": {"contents": [
                    {"musicResponsiveListItemRenderer": {"flexColumns": [], "navigationEndpoint": {"watchEndpoint": {"videoId": "dQw4w9WgXcQ"}}}}
                ]}}
            ]}))
        },
    )
}

#[test]
fn lavasearch_texts_from_providers_that_have_them() {
    let m = Mitm::start(youtube_suggest_routes(apple_suggest_routes(
        spotify_routes(Router::new()),
    )));
    let node = start_with_env(
        "texts",
        &m,
        "[plugins.lavasrc.sources]\nspotify = true\napplemusic = true\n\
         [plugins.lavasrc.spotify]\nclient_id = \"id\"\nclient_secret = \"secret\"\n\
         [plugins.lavasrc.applemusic]\nmedia_api_token = \"am-token\"\n",
        &[("BASALT_SOURCES_YOUTUBE", "true")],
    );
    let c = client(&node);

    // Apple Music: `text` alone asks only for the term suggestions.
    let v = c
        .get(&format!(
            "/v4/loadsearch?query={}&types=text",
            enc("amsearch:sine")
        ))
        .json();
    assert_eq!(texts(&v), ["sine song", "sine \"waves\" é"]);
    assert_eq!(v["albums"], json!([]));
    assert!(!m
        .requests()
        .iter()
        .any(|r| r.path == "/v1/catalog/us/search"));
    // All types: the catalog search and the suggestions.
    let v = c
        .get(&format!("/v4/loadsearch?query={}", enc("amsearch:sine")))
        .json();
    assert_eq!(v["albums"][0]["info"]["name"], "Album \"One\"");
    assert_eq!(texts(&v).len(), 2);

    // Spotify knows no text type: `texts: []`, no request.
    let v = c
        .get(&format!(
            "/v4/loadsearch?query={}&types=text,album",
            enc("spsearch:sine")
        ))
        .json();
    assert_eq!(v["texts"], json!([]));
    assert_eq!(v["albums"].as_array().unwrap().len(), 1);
    let s = m.requests_to("api.spotify.com", "/v1/search");
    assert_eq!(s.last().unwrap().param("type"), Some("album"));

    // YouTube: suggestions from the suggest service (JSONP).
    let v = c
        .get(&format!(
            "/v4/loadsearch?query={}&types=text",
            enc("ytsearch:daft punk")
        ))
        .json();
    assert_eq!(texts(&v), ["daft punk remix", "daft punk \"live\""]);
    assert_eq!(v["tracks"], json!([]));
    // YouTube Music: InnerTube suggestions, text entries only.
    let v = c
        .get(&format!(
            "/v4/loadsearch?query={}&types=text",
            enc("ytmsearch:daft")
        ))
        .json();
    assert_eq!(texts(&v), ["daft acoustic", "other"]);
    // YouTube has no albums: asked only for that, nothing is requested.
    let before = m.requests().len();
    let v = c
        .get(&format!(
            "/v4/loadsearch?query={}&types=album",
            enc("ytsearch:daft")
        ))
        .json();
    assert_eq!(v["albums"], json!([]));
    assert_eq!(m.requests().len(), before);
    assert!(m.unrouted().is_empty(), "{:?}", m.unrouted());
}

// ---------------------------------------------------------------------------------------
// Spotify without client credentials: the web player's anonymous token (TOTP from the
// player script's secret), refreshed on expiry; `spotify.link` share links.

/// The secret array the mock player script carries, and the key it yields.
const SECRET: [i64; 6] = [59, 91, 66, 74, 30, 66];

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn spotify_web_routes(r: Router) -> Router {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let issued = Arc::new(AtomicUsize::new(0));
    r.route("GET", "open.spotify.com", "/", |_| {
        MockResponse::text(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\">\
             <script src=\"https://open.spotifycdn.com/cdn/build/mobile-web-player/vendor~mobile-web-player.9f.js\"></script>\
             <script src=\"https://open.spotifycdn.com/cdn/build/mobile-web-player/mobile-web-player.3c1d.js\" defer></script>\
             </head><body><div id=\"main\"></div></body></html>",
            "text/html; charset=utf-8",
        )
    })
    .route("GET", "open.spotifycdn.com", "/cdn/build/mobile-web-player/*", |q| {
        if q.path.contains("vendor") {
            return MockResponse::text("var v={\"secret\":[1]};", "text/javascript");
        }
        MockResponse::text(
            &format!(
                "(()=>{{var e={{\"version\":7,\"secret\":[{}]}},t=[];}})();",
                SECRET.map(|n| n.to_string()).join(",")
            ),
            "text/javascript",
        )
    })
    .route("GET", "open.spotify.com", "/api/token", move |q| {
        let ts: i64 = q.param("ts").and_then(|t| t.parse().ok()).unwrap_or(0);
        let key = basalt::plugin::lavasrc::spotify_token::secret_key(&SECRET);
        let expected = basalt::plugin::lavasrc::spotify_token::totp(&key, (ts / 1000) as u64);
        if q.param("reason") != Some("init")
            || q.param("productType") != Some("web-player")
            || q.param("totpVer") != Some("7")
            || q.param("totp") != Some(expected.as_str())
            || (now_ms() - ts).abs() > 60_000
        {
            return MockResponse::json(json!({"error": {"code": 400, "message": "Invalid TOTP"}}))
                .with_status(400);
        }
        if let Some(dc) = q.header("cookie") {
            assert_eq!(dc, "sp_dc=dc-cookie");
            return MockResponse::json(json!({"clientId": "c", "accessToken": "acct-1",
                "accessTokenExpirationTimestampMs": now_ms() + 3_600_000, "isAnonymous": false}));
        }
        // The first token is already (nearly) expired, the second lasts an hour.
        let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
        let exp = if n == 1 { now_ms() + 1_000 } else { now_ms() + 3_600_000 };
        MockResponse::json(json!({"clientId": "d8a5ed958d274c2e8ee717e6a4b0971d",
            "accessToken": format!("anon-{n}"), "accessTokenExpirationTimestampMs": exp,
            "isAnonymous": true, "_notes": "Usage of this endpoint is not permitted under the Spotify Developer Terms"}))
    })
    .route("HEAD", "spotify.link", "/*", |q| match q.path.as_str() {
        "/AbCdEf123" => MockResponse::redirect(307, "https://open.spotify.com/track/trk1?si=abc&context=spotify%3Aalbum"),
        "/elsewhere" => MockResponse::redirect(307, "https://example.com/phish"),
        _ => MockResponse::status(404),
    })
    .route("GET", "api.spotify.com", "/v1/*", |q| {
        let auth = q.header("authorization").unwrap_or_default();
        if auth != "Bearer anon-1" && auth != "Bearer anon-2" {
            return MockResponse::json(json!({"error": {"status": 401, "message": "Invalid access token"}}))
                .with_status(401);
        }
        match q.path.as_str() {
            "/v1/tracks/trk1" => MockResponse::json(spotify_track("trk1", "Sine Song", ISRC)),
            "/v1/artists/art1" => MockResponse::json(json!({"id": "art1", "name": "Band & Co",
                "images": [{"url": "https://i.scdn.co/image/art1", "height": 640, "width": 640}]})),
            _ => MockResponse::json(json!({"error": {"status": 404, "message": "Resource not found"}}))
                .with_status(404),
        }
    })
}

#[test]
fn spotify_anonymous_token_refresh_and_share_links() {
    let m = Mitm::start(spotify_web_routes(Router::new()));
    let node = start("anon", &m, "[plugins.lavasrc.sources]\nspotify = true\n");
    let c = client(&node);
    let load = |id: &str| {
        c.get(&format!("/v4/loadtracks?identifier={}", enc(id)))
            .json()
    };

    let v = load("https://open.spotify.com/track/trk1");
    assert_eq!(v["loadType"], "track", "{v}");
    assert_eq!(v["data"]["info"]["title"], "Sine Song");
    let api = m.requests_to("api.spotify.com", "/v1/tracks/trk1");
    assert_eq!(api[0].header("authorization"), Some("Bearer anon-1"));

    // The first token expired: the next load fetches a new one (new TOTP) and uses it.
    let v = load("https://open.spotify.com/track/trk1");
    assert_eq!(v["loadType"], "track", "{v}");
    let api = m.requests_to("api.spotify.com", "/v1/tracks/trk1");
    assert_eq!(
        api.last().unwrap().header("authorization"),
        Some("Bearer anon-2")
    );
    assert_eq!(m.requests_to("open.spotify.com", "/api/token").len(), 2);
    // Still valid: no third token.
    load("https://open.spotify.com/track/trk1");
    assert_eq!(m.requests_to("open.spotify.com", "/api/token").len(), 2);

    // A share link: its redirect is read (not followed) and the target loaded.
    let v = load("https://spotify.link/AbCdEf123");
    assert_eq!(v["loadType"], "track", "{v}");
    assert_eq!(v["data"]["info"]["identifier"], "trk1");
    let head = m.requests_to("spotify.link", "/AbCdEf123");
    assert_eq!(head[0].method, "HEAD");
    // As a preview, and links that lead off Spotify or nowhere load nothing.
    let v = load("spprev:https://spotify.link/AbCdEf123");
    assert_eq!(v["data"]["info"]["length"], 30000, "{v}");
    assert_eq!(load("https://spotify.link/elsewhere")["loadType"], "empty");
    assert_eq!(load("https://spotify.link/missing")["loadType"], "empty");
    assert!(m.requests_to("example.com", "/").is_empty());
    assert!(m.unrouted().is_empty(), "{:?}", m.unrouted());
}

// ---------------------------------------------------------------------------------------
// Apple Music without a configured token: the web player's developer JWT, cached until
// its `exp`.

fn jwt(exp: i64, n: usize) -> String {
    use base64::Engine;
    let e = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.{}",
        e(r#"{"alg":"ES256","typ":"JWT","kid":"WEBPLAY"}"#),
        e(&format!(
            r#"{{"iss":"AMPWebPlay","iat":{},"exp":{exp},"root_https_origin":["apple.com"],"n":{n}}}"#,
            exp - 100
        )),
        e(&format!("signature-{n}"))
    )
}

fn apple_web_routes(r: Router) -> Router {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    let scraped = Arc::new(AtomicUsize::new(0));
    let current = Arc::new(Mutex::new(String::new()));
    let cur2 = current.clone();
    r.route("GET", "music.apple.com", "/", |_| {
        MockResponse::text(
            "<!DOCTYPE html><html lang=\"en-US\"><head>\
             <script src=\"/assets/web-vitals~1.js\"></script>\
             <script type=\"module\" crossorigin src=\"/assets/index~8c9e7a3b1f.js\"></script>\
             <link rel=\"stylesheet\" href=\"/assets/index~0a1b.css\"></head><body></body></html>",
            "text/html",
        )
    })
    .route("GET", "music.apple.com", "/assets/index~8c9e7a3b1f.js", move |_| {
        // The first token has seconds left; later ones last an hour.
        let n = scraped.fetch_add(1, Ordering::SeqCst) + 1;
        let exp = now_ms() / 1000 + if n == 1 { 8 } else { 3600 };
        let t = jwt(exp, n);
        *current.lock().unwrap() = t.clone();
        MockResponse::text(
            &format!("const e=\"ey\",a={{x:1}};const Ct=\"{t}\";export{{Ct as t}};"),
            "text/javascript",
        )
    })
    .route("GET", "api.music.apple.com", "/v1/*", move |q| {
        let want = format!("Bearer {}", cur2.lock().unwrap());
        if q.header("authorization") != Some(want.as_str())
            || q.header("origin") != Some("https://apple.com")
        {
            return MockResponse::json(json!({"errors": [{"status": "401"}]})).with_status(401);
        }
        MockResponse::json(json!({"results": {"songs": {"href": "x", "data": [{
            "id": "2001", "type": "songs",
            "attributes": {"name": "Sine Song", "artistName": "Band & Co", "albumName": "A",
                "durationInMillis": 2000, "isrc": ISRC,
                "url": "https://music.apple.com/us/album/a/1000?i=2001",
                "artwork": {"url": "https://is1-ssl.mzstatic.com/image/thumb/a/{w}x{h}bb.jpg", "width": 100, "height": 100}}
        }]}}}))
    })
}

#[test]
fn apple_music_token_scraped_and_renewed_at_exp() {
    let m = Mitm::start(apple_web_routes(Router::new()));
    let node = start(
        "amtoken",
        &m,
        "[plugins.lavasrc.sources]\napplemusic = true\n",
    );
    let c = client(&node);
    let search = || {
        let v = c
            .get(&format!(
                "/v4/loadtracks?identifier={}",
                enc("amsearch:sine")
            ))
            .json();
        assert_eq!(v["loadType"], "search", "{v}");
    };
    let scrapes = || m.requests_to("music.apple.com", "/assets/index~").len();
    search();
    search();
    assert_eq!(scrapes(), 1, "cached while valid");
    assert!(m
        .requests()
        .iter()
        .any(|r| r.host == "music.apple.com" && r.path == "/"));
    // Past the first token's exp (minus five seconds): scraped again. Waiting out a clock,
    // not a condition the node could signal.
    std::thread::sleep(std::time::Duration::from_millis(3_500));
    search();
    assert_eq!(scrapes(), 2);
    search();
    assert_eq!(scrapes(), 2);
    assert!(m.unrouted().is_empty(), "{:?}", m.unrouted());
}

// ---------------------------------------------------------------------------------------
// LavaSrc's lyrics providers beyond LRCLIB, in the configured order: YouTube Music,
// Deezer (logged-in `arl`), Spotify (`sp_dc`).

fn track_blob(source: &str, id: &str, title: &str, author: &str, isrc: Option<&str>) -> String {
    use basalt::track::{encode_track, utf_source_data, TrackData, TrackInfo};
    let http = source == "http";
    encode_track(&TrackData {
        info: TrackInfo {
            title: title.into(),
            author: author.into(),
            length: 200_000,
            identifier: id.into(),
            is_stream: false,
            uri: Some(if http {
                id.to_string()
            } else {
                format!("https://www.youtube.com/watch?v={id}")
            }),
            artwork_url: None,
            isrc: isrc.map(str::to_string),
            source_name: source.into(),
        },
        source_data: if http {
            utf_source_data("mp3")
        } else {
            Vec::new()
        },
        position: 0,
    })
}

const ISRC_B: &str = "GBDUW0000059";

fn lyrics_routes(r: Router) -> Router {
    // YouTube Music (as ANDROID_MUSIC): visitor data, a songs-only search that finds a
    // song only for ISRC, the watch page's lyrics tab, the timed lyrics.
    r.route("POST", "youtubei.googleapis.com", "/youtubei/v1/visitor_id", |_| {
        MockResponse::json(json!({"responseContext": {"visitorData": "CgtWaXNpdG9yRGF0YQ%3D%3D"}}))
    })
    .route("POST", "music.youtube.com", "/youtubei/v1/search", |q| {
        let b = q.body_json();
        assert_eq!(b["context"]["client"]["clientName"], "ANDROID_MUSIC");
        assert_eq!(b["params"], "EgWKAQIIAWoQEAMQBBAJEAoQBRAREBAQFQ%3D%3D");
        if b["query"] != ISRC {
            return MockResponse::json(json!({"contents": {"tabbedSearchResultsRenderer": {"tabs": [
                {"tabRenderer": {"content": {"sectionListRenderer": {"contents": [
                    {"itemSectionRenderer": {"contents": [{"messageRenderer": {"text": {"runs": [{"text": "No results"}]}}}]}}]}}}}]}}}));
        }
        MockResponse::json(json!({"contents": {"tabbedSearchResultsRenderer": {"tabs": [
            {"tabRenderer": {"title": "Songs", "content": {"sectionListRenderer": {"contents": [
                {"musicShelfRenderer": {"title": {"runs": [{"text": "Songs"}]}, "contents": [
                    {"musicTwoColumnItemRenderer": {"title": {"runs": [{"text": "Sine Song"}]},
                        "navigationEndpoint": {"watchEndpoint": {"videoId": "vidFromIsrc1", "playlistId": "RDAMVM"}}}}]}}]}}}}]}}}))
    })
    .route("POST", "music.youtube.com", "/youtubei/v1/next", |q| {
        let b = q.body_json();
        let vid = b["videoId"].as_str().unwrap_or_default().to_string();
        MockResponse::json(json!({"contents": {"singleColumnMusicWatchNextResultsRenderer": {"tabbedRenderer": {
            "watchNextTabbedResultsRenderer": {"tabs": [
                {"tabRenderer": {"title": "Up next", "content": {"musicQueueRenderer": {}}}},
                {"tabRenderer": {"title": "Lyrics", "endpoint": {"browseEndpoint": {"browseId": format!("MPLYt_{vid}"),
                    "browseEndpointContextSupportedConfigs": {"browseEndpointContextMusicConfig": {"pageType": "MUSIC_PAGE_TYPE_TRACK_LYRICS"}}}}}},
                {"tabRenderer": {"title": "Related"}}]}}}}}))
    })
    .route("POST", "music.youtube.com", "/youtubei/v1/browse", |q| {
        let id = q.body_json()["browseId"].as_str().unwrap_or_default().to_string();
        MockResponse::json(json!({"contents": {"elementRenderer": {"newElement": {"type": {"componentType": {"model": {
            "timedLyricsModel": {"lyricsData": {"timedLyricsData": [
                {"lyricLine": format!("From {id}"), "cueRange": {"startTimeMilliseconds": "500", "endTimeMilliseconds": "1500", "metadata": {"id": "1"}}},
                {"lyricLine": "Second \"line\"", "cueRange": {"startTimeMilliseconds": "1500", "endTimeMilliseconds": "2600", "metadata": {"id": "2"}}}],
              "sourceMessage": "Source: LyricFind", "backgroundColor": 4278190080u32}}}}}}}}}))
    })
    // Deezer: the public API for ids, the private API with the arl for lyrics.
    .route("GET", "api.deezer.com", "/2.0/*", |q| {
        if q.path == format!("/2.0/track/isrc:{ISRC_B}") {
            return MockResponse::json(deezer_track(3135556, "Harder", ISRC_B));
        }
        if q.path == "/2.0/search" {
            return MockResponse::json(json!({"data": [], "total": 0}));
        }
        MockResponse::json(json!({"error": {"type": "DataException", "message": "no data", "code": 800}}))
    })
    .route("POST", "www.deezer.com", "/ajax/gw-light.php", |q| {
        assert_eq!(q.param("method"), Some("deezer.getUserData"));
        if !q.header("cookie").unwrap_or_default().contains("arl=arl-cookie") {
            return MockResponse::json(json!({"error": [], "results": {"USER": {"USER_ID": 0}, "checkForm": "x"}}));
        }
        MockResponse::json(json!({"error": [], "results": {"USER": {"USER_ID": 4242, "BLOG_NAME": "u",
            "OPTIONS": {"license_token": "lic-1", "web_hq": true}}, "checkForm": "user-api-tok"}})
        ).header("Set-Cookie", "sid=fr-user-sid; Domain=.deezer.com; Path=/; Secure; HttpOnly")
    })
    .route("GET", "www.deezer.com", "/ajax/gw-light.php", |q| {
        assert_eq!(q.param("method"), Some("song.getLyrics"));
        let cookie = q.header("cookie").unwrap_or_default().to_string();
        if q.param("api_token") != Some("user-api-tok") || !cookie.contains("sid=fr-user-sid") {
            return MockResponse::json(json!({"error": {"VALID_TOKEN_REQUIRED": "Invalid CSRF token"}, "results": {}}));
        }
        if q.param("sng_id") != Some("3135556") {
            return MockResponse::json(json!({"error": {"DATA_ERROR": "No lyrics"}, "results": {}}));
        }
        MockResponse::json(json!({"error": [], "results": {"LYRICS_ID": "1", "LYRICS_COPYRIGHTS": "c",
            "LYRICS_TEXT": "Work it\r\nMake it",
            "LYRICS_SYNC_JSON": [
                {"lrc_timestamp": "[00:01.00]", "milliseconds": "1000", "duration": "1200", "line": "Work it"},
                {"line": ""},
                {"lrc_timestamp": "[00:02.20]", "milliseconds": "2200", "duration": "800", "line": "Make it"}]}}))
    })
    // Spotify: color-lyrics with the account token.
    .route("GET", "spclient.wg.spotify.com", "/color-lyrics/v2/track/*", |q| {
        assert_eq!(q.param("format"), Some("json"));
        if q.header("authorization") != Some("Bearer acct-1") || q.header("app-platform") != Some("WebPlayer") {
            return MockResponse::status(401);
        }
        if q.path != "/color-lyrics/v2/track/trk1" {
            return MockResponse::status(404);
        }
        MockResponse::json(json!({"lyrics": {"syncType": "LINE_SYNCED", "lines": [
            {"startTimeMs": "960", "words": "Spot one", "syllables": [], "endTimeMs": "0"},
            {"startTimeMs": "2040", "words": "♪", "syllables": [], "endTimeMs": "0"}],
            "provider": "MusixMatch", "providerLyricsId": "1", "providerDisplayName": "Musixmatch",
            "language": "en", "isRtlLanguage": false}, "colors": {"background": -9000000}, "hasVocalRemoval": false}))
    })
}

#[test]
fn lyrics_providers_in_configured_order() {
    let m = Mitm::start(lyrics_routes(spotify_web_routes(spotify_routes(
        Router::new(),
    ))));
    let node = start_with_env(
        "lyrics",
        &m,
        "[plugins.lavasrc.sources]\nspotify = true\n\
         [plugins.lavasrc.spotify]\nclient_id = \"id\"\nclient_secret = \"secret\"\nsp_dc = \"dc-cookie\"\n\
         [plugins.lavasrc.deezer]\narl = \"arl-cookie\"\n\
         [plugins.lavasrc.lyrics_sources]\nyoutube = true\ndeezer = true\nspotify = true\nlrc_lib = true\n\
         [plugins.lavalyrics]\nsources = [\"youtube\", \"deezer\", \"spotify\", \"lrclib\"]\n",
        &[("BASALT_SOURCES_YOUTUBE", "true")],
    );
    let c = client(&node);
    let lyrics = |blob: String, skip: bool| {
        let r = c.get(&format!(
            "/v4/lyrics?track={}&skipTrackSource={skip}",
            enc(&blob)
        ));
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    };

    // First in order: YouTube Music finds the song by ISRC; lines with cue-range timings.
    let v = lyrics(
        track_blob(
            "http",
            "https://media.example/a.mp3",
            "Sine Song",
            "Band",
            Some(ISRC),
        ),
        false,
    );
    assert_eq!(v["sourceName"], "youtube", "{v}");
    assert_eq!(v["provider"], "LyricFind");
    assert_eq!(
        v["lines"],
        json!([{"timestamp": 500, "duration": 1000, "line": "From MPLYt_vidFromIsrc1", "plugin": {}},
               {"timestamp": 1500, "duration": 1100, "line": "Second \"line\"", "plugin": {}}])
    );
    assert_eq!(v["text"], "From MPLYt_vidFromIsrc1\nSecond \"line\"");

    // YouTube finds nothing for this ISRC: Deezer (by ISRC, logged in with the arl).
    let v = lyrics(
        track_blob(
            "http",
            "https://media.example/b.mp3",
            "Harder",
            "Daft",
            Some(ISRC_B),
        ),
        false,
    );
    assert_eq!(v["sourceName"], "deezer", "{v}");
    assert_eq!(v["provider"], "LyricFind");
    assert_eq!(v["text"], "Work it\r\nMake it");
    assert_eq!(
        v["lines"][0],
        json!({"timestamp": 1000, "duration": 1200, "line": "Work it", "plugin": {}})
    );
    assert_eq!(v["lines"][2]["timestamp"], 2200);

    // Neither: Spotify (search, then color-lyrics with the sp_dc account token).
    let v = lyrics(
        track_blob(
            "http",
            "https://media.example/c.mp3",
            "Spot Only",
            "X",
            None,
        ),
        false,
    );
    assert_eq!(v["sourceName"], "spotify", "{v}");
    assert_eq!(v["provider"], "Musixmatch");
    assert_eq!(v["text"], json!(null));
    assert_eq!(
        v["lines"][0],
        json!({"timestamp": 960, "duration": null, "line": "Spot one", "plugin": {}})
    );
    let tok = m.requests_to("open.spotify.com", "/api/token");
    assert!(
        tok.iter()
            .all(|r| r.header("cookie") == Some("sp_dc=dc-cookie")),
        "only the account token"
    );
    assert_eq!(tok[0].header("app-platform"), Some("WebPlayer"));

    // A YouTube track: its own video id, no search.
    let searches = m
        .requests_to("music.youtube.com", "/youtubei/v1/search")
        .len();
    let v = lyrics(
        track_blob("youtube", "dQw4w9WgXcQ", "Own", "Chan", None),
        false,
    );
    assert_eq!(v["lines"][0]["line"], "From MPLYt_dQw4w9WgXcQ", "{v}");
    assert_eq!(
        m.requests_to("music.youtube.com", "/youtubei/v1/search")
            .len(),
        searches
    );
    let next = m.requests_to("music.youtube.com", "/youtubei/v1/next");
    assert_eq!(
        next.last().unwrap().body_json()["context"]["client"]["clientName"],
        "ANDROID_MUSIC"
    );
    assert!(m.unrouted().is_empty(), "{:?}", m.unrouted());
}

// ---------------------------------------------------------------------------------------
// Deezer full streams: license token, media URL, Blowfish-CBC every third 2048-byte chunk.

const MASTER: &str = "g4el58wc0zvf9na1";

/// Encrypts like Deezer's CDN: chunks 0, 3, 6… (full ones) Blowfish-CBC, IV 0..7, with
/// the key from the track id's MD5 hex halves XOR'ed with the master key.
fn deezer_encrypt(track_id: &str, plain: &[u8]) -> Vec<u8> {
    use blowfish::cipher::{BlockEncryptMut, KeyIvInit};
    use md5::Digest;
    let hex = format!("{:x}", md5::Md5::digest(track_id.as_bytes()));
    let h = hex.as_bytes();
    let key: Vec<u8> = (0..16)
        .map(|i| h[i] ^ h[i + 16] ^ MASTER.as_bytes()[i])
        .collect();
    let mut out = plain.to_vec();
    for (i, chunk) in out.chunks_mut(2048).enumerate() {
        if i % 3 == 0 && chunk.len() == 2048 {
            let mut e = cbc::Encryptor::<blowfish::Blowfish>::new_from_slices(
                &key,
                &[0, 1, 2, 3, 4, 5, 6, 7],
            )
            .unwrap();
            for b in chunk.chunks_exact_mut(8) {
                e.encrypt_block_mut(b.into());
            }
        }
    }
    out
}

fn deezer_stream_routes(r: Router) -> Router {
    let plain = fixture("sine440_48k_stereo_2s_id3.mp3");
    let encrypted = deezer_encrypt("3135556", &plain);
    assert_ne!(encrypted, plain);
    r.route("GET", "api.deezer.com", "/2.0/*", |q| {
        if q.path == "/2.0/track/3135556" {
            return MockResponse::json(deezer_track(3135556, "Harder", ISRC_B));
        }
        MockResponse::json(json!({"error": {"type": "DataException", "message": "no data", "code": 800}}))
    })
    .route("POST", "www.deezer.com", "/ajax/gw-light.php", |q| {
        if !q.header("cookie").unwrap_or_default().contains("arl=arl-cookie") {
            return MockResponse::json(json!({"error": [], "results": {"USER": {"USER_ID": 0}, "checkForm": "x"}}));
        }
        match q.param("method") {
            Some("deezer.getUserData") => MockResponse::json(json!({"error": [], "results": {
                "USER": {"USER_ID": 4242, "OPTIONS": {"license_token": "lic-1"}}, "checkForm": "user-api-tok"}}))
            .header("Set-Cookie", "sid=fr-user-sid; Domain=.deezer.com; Path=/"),
            Some("song.getData") => {
                assert_eq!(q.param("api_token"), Some("user-api-tok"));
                assert_eq!(q.body_json()["sng_id"], "3135556");
                MockResponse::json(json!({"error": [], "results": {"SNG_ID": "3135556", "SNG_TITLE": "Harder",
                    "TRACK_TOKEN": "track-tok-1", "TRACK_TOKEN_EXPIRE": 1999999999,
                    "RIGHTS": {"STREAM_ADS_AVAILABLE": true, "STREAM_SUB_AVAILABLE": true},
                    "FILESIZE_MP3_128": "32000", "MD5_ORIGIN": "abc"}}))
            }
            other => panic!("unexpected private method {other:?}"),
        }
    })
    .route("POST", "media.deezer.com", "/v1/get_url", |q| {
        let b = q.body_json();
        assert_eq!(b["license_token"], "lic-1");
        assert_eq!(b["track_tokens"], json!(["track-tok-1"]));
        assert_eq!(
            b["media"],
            json!([{"type": "FULL", "formats": [{"cipher": "BF_CBC_STRIPE", "format": "MP3_320"},
                                                 {"cipher": "BF_CBC_STRIPE", "format": "MP3_128"}]}])
        );
        MockResponse::json(json!({"data": [{"media": [{"media_type": "FULL", "cipher": {"type": "BF_CBC_STRIPE"},
            "format": "MP3_128", "sources": [{"url": "https://e-cdns-proxy-7.dzcdn.net/mobile/1/f00d?hdnea=exp%3D1", "provider": "ak"}],
            "nbf": 1700000000, "exp": 1999999999}]}]}))
    })
    .route("GET", "e-cdns-proxy-7.dzcdn.net", "/mobile/1/f00d", move |_| {
        MockResponse::bytes(encrypted.clone(), "audio/mpeg")
    })
}

#[test]
fn deezer_full_stream_decrypted_and_heard() {
    use fake_voice::{FakeConfig, FakeVoice, SILENCE};
    use std::time::Duration;
    let m = Mitm::start(deezer_stream_routes(Router::new()));
    let node = start(
        "dzfull",
        &m,
        &format!(
            "[plugins.lavasrc]\nproviders = [\"https://media.example/none.mp3\"]\n\
             [plugins.lavasrc.sources]\ndeezer = true\n\
             [plugins.lavasrc.deezer]\nmaster_decryption_key = \"{MASTER}\"\narl = \"arl-old\"\n"
        ),
    );
    let c = client(&node);
    // The arl and the formats arrive at run time (`PATCH /v4/lavasrc/config`).
    let bad = c.patch(
        "/v4/lavasrc/config",
        r#"{"deezer": {"formats": ["MP3_999"]}}"#,
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
    let r = c.patch(
        "/v4/lavasrc/config",
        r#"{"deezer": {"arl": "arl-cookie", "formats": ["MP3_320", "MP3_128"]}}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = c
        .get(&format!(
            "/v4/loadtracks?identifier={}",
            enc("https://www.deezer.com/track/3135556")
        ))
        .json();
    assert_eq!(v["loadType"], "track", "{v}");
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
    let r = c.patch(
        &format!("/v4/sessions/{sid}/players/{GUILD}"),
        &body.to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let start = ws.expect("event", Some("TrackStartEvent"), Duration::from_secs(10));
    assert_eq!(start["track"]["info"]["sourceName"], "deezer");
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
    let hz = fake_voice::frequency(&fake_voice::decode(&audio));
    assert!((hz - 440.0).abs() < 9.0, "decoded frequency {hz}");
    // Played from the decrypted stream, not the mirror.
    assert!(m.requests_to("media.example", "/").is_empty());
    assert!(!m
        .requests_to("e-cdns-proxy-7.dzcdn.net", "/mobile/1/f00d")
        .is_empty());
    assert!(m.unrouted().is_empty(), "{:?}", m.unrouted());
}
