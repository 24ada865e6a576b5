//! A mock of the Vimeo endpoints of today's anonymous flow (sources.md §4.5, §11.3): the
//! `/watch` page with `__NEXT_DATA__`, the clip's Next.js page data, the signed API answer,
//! the player config, a DASH "playlist.json" (base64 init section, relative segment URLs),
//! an HLS master with a `TYPE=AUDIO` rendition, a progressive MP4 and oEmbed.
//! Clips: 76979871 (DASH + HLS + progressive), 100 (HLS only), 200 (progressive only),
//! 300 (API refuses → oEmbed), 400 (unlisted: page data and player config only with its
//! hash `h`, progressive only), anything else 404.
#![allow(dead_code)]

use base64::Engine;
use serde_json::{json, Value};

use super::mitm::{MockRequest, MockResponse, Router};

pub const BUILD_ID: &str = "vX3k9_Lq2ZbR8tYw1mN0p";
pub const JWT: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJleHAiOjE3NjcyMjU2MDAsInVzZXJfaWQiOm51bGx9.c2lnbmF0dXJl";
pub const SIGNATURE: &str = "1767225600-6f1c2a9e4b7d3c5a8e0f2b4d6a8c0e1f3a5b7c9d";
/// The hash (`h`) of the unlisted clip 400.
pub const UNLISTED_HASH: &str = "d3adb33f01";
const DASH_HOST: &str = "vod-adaptive-ak.vimeocdn.com";
const DASH_DIR: &str = "/exp=1767229200~acl=%2Fa1b2c3d4%2F%2A~hmac=9e8d7c6b5a/a1b2c3d4/v2/playlist/av/primary/prot/cXNyPTE/";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn watch_page() -> String {
    let next = json!({
        "props": {
            "pageProps": {
                "viewerBootstrap": { "jwt": "ignored-on-watch", "user": null },
                "headerConfig": { "showSearch": true, "links": [{ "label": "Watch", "href": "/watch" }] }
            },
            "__N_SSP": true
        },
        "page": "/watch",
        "query": {},
        "buildId": BUILD_ID,
        "isFallback": false,
        "isExperimentalCompile": false,
        "gssp": true,
        "locale": "en",
        "locales": ["en", "es", "fr", "de", "ja", "ko", "pt"],
        "defaultLocale": "en",
        "scriptLoader": []
    });
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charSet=\"utf-8\"/><title>Watch &amp; discover on Vimeo</title>\
<script src=\"/_next/static/chunks/webpack-1a2b3c.js\" defer=\"\"></script></head><body><div id=\"__next\"><main>\u{2026}</main></div>\
<script id=\"__NEXT_DATA__\" type=\"application/json\">{next}</script></body></html>"
    )
}

fn page_data(id: &str) -> Value {
    json!({
        "pageProps": {
            "clipId": id.parse::<u64>().unwrap_or(0),
            "pageMetadata": {
                "title": "on Vimeo",
                "clipSignature": SIGNATURE,
                "robots": "index, follow",
                "canonicalUrl": format!("https://vimeo.com/{id}")
            },
            "viewerBootstrap": { "jwt": JWT, "user": null, "teamOwner": null },
            "experiments": { "ai_player": false }
        },
        "__N_SSP": true
    })
}

fn api_video(req: &MockRequest, id: &str) -> MockResponse {
    if req.header("authorization") != Some(&format!("jwt {JWT}"))
        || req.param("anon_signature") != Some(SIGNATURE)
    {
        return MockResponse::json(json!({"error":"You must provide a valid authenticated access token.","error_code":8003})).with_status(401);
    }
    if id == "300" {
        return MockResponse::json(json!({"error":"Something strange occurred. Please try again.","error_code":2204,"developer_message":"anon signature expired"})).with_status(403);
    }
    if !matches!(id, "76979871" | "100" | "200" | "400") {
        return MockResponse::json(json!({"error":"The requested video couldn't be found.","link":null,"developer_message":"The requested video couldn't be found.","error_code":5000})).with_status(404);
    }
    let fields = req.param("fields").unwrap_or("");
    let mut v = json!({
        "uri": format!("/videos/{id}"),
        "name": "Ocean Tones \u{2014} a \"study\" in 440 Hz",
        "duration": 3,
        "uploader": { "name": "Basalt Fixtures & Co", "link": "https://vimeo.com/basaltfixtures" },
        "pictures": {
            "uri": "/videos/76979871/pictures/1234567",
            "active": true,
            "type": "custom",
            "base_link": "https://i.vimeocdn.com/video/1234567-abcdef0123456789-d",
            "sizes": [{ "width": 100, "height": 75, "link": "https://i.vimeocdn.com/video/1234567-abcdef0123456789-d_100x75?r=pad" }]
        },
        "embed_player_config_url": format!("https://player.vimeo.com/video/{id}/config?autoplay=0&byline=0&collections=1&context=Vimeo%5CController%5CClipController.main&default_to_hd=1&h={}&outro=beginning&portrait=0&share=1&title=0&watch_trailer=0&s=0123456789abcdef0123456789abcdef01234567_1767229200", if id == "400" { UNLISTED_HASH } else { "9a8b7c" })
    });
    // Only the requested fields, as the API does.
    if let Value::Object(map) = &mut v {
        map.retain(|k, _| fields.split(',').any(|f| f.split('.').next() == Some(k)));
    }
    MockResponse::json(v)
}

fn player_config(req: &MockRequest, id: &str) -> MockResponse {
    if req.header("origin") != Some("https://vimeo.com") {
        return MockResponse::status(403);
    }
    if id == "400" && req.param("h") != Some(UNLISTED_HASH) {
        return MockResponse::json(json!({"message": "Because of its privacy settings, this video cannot be played here.", "title": "Sorry", "view": 7})).with_status(403);
    }
    let dash = json!({
        "separate_av": true,
        "streams": [{ "profile": "d0b41bac-2bf2-4310-8113-df764d486192", "id": "a1", "fps": 25, "quality": "360p" }],
        "cdns": {
            "akfire_interconnect_quic": {
                "url": format!("https://{DASH_HOST}{DASH_DIR}playlist.json?omit=av1-hevc&pathsig=8c953e4f~abc&r=dXM%3D&rh=2Ux0pE"),
                "avc_url": format!("https://{DASH_HOST}{DASH_DIR}playlist.json?omit=av1-hevc-opus&pathsig=8c953e4f~abc&r=dXM%3D&rh=2Ux0pE"),
                "origin": "gcs"
            },
            "fastly_skyfire": { "url": "https://skyfire.vimeocdn.com/1767229200-0x1/a1b2c3d4/v2/playlist/av/primary/playlist.json", "origin": "gcs" }
        },
        "default_cdn": "akfire_interconnect_quic"
    });
    let hls = json!({
        "separate_av": true,
        "cdns": {
            "akfire_interconnect_quic": {
                "url": "https://vod-adaptive-ak.vimeocdn.com/exp=1767229200~hmac=77/a1b2c3d4/v2/playlist/av/primary/prot/cXNyPTE/playlist.m3u8?omit=opus&pathsig=8c9",
                "avc_url": "https://vod-adaptive-ak.vimeocdn.com/exp=1767229200~hmac=77/a1b2c3d4/v2/playlist/av/primary/prot/cXNyPTE/playlist.m3u8",
                "origin": "gcs"
            }
        },
        "default_cdn": "akfire_interconnect_quic",
        "captions": "https://vod-adaptive-ak.vimeocdn.com/captions.m3u8"
    });
    let progressive = json!([
        { "profile": "164", "width": 640, "height": 360, "mime": "video/mp4", "fps": 25,
          "url": "https://vod-progressive.akamaized.net/exp=1767229200~hmac=55/vimeo-prod-skyfire-std-us/01/1/12/360p.mp4", "cdn": "akamai_interconnect", "quality": "360p", "id": "p360", "origin": "gcs" },
        { "profile": "174", "width": 1280, "height": 720, "mime": "video/mp4", "fps": 25,
          "url": "https://vod-progressive.akamaized.net/exp=1767229200~hmac=55/vimeo-prod-skyfire-std-us/01/1/12/720p.mp4", "cdn": "akamai_interconnect", "quality": "720p", "id": "p720", "origin": "gcs" }
    ]);
    let mut files = serde_json::Map::new();
    match id {
        "76979871" => {
            files.insert("dash".into(), dash);
            files.insert("hls".into(), hls);
            files.insert("progressive".into(), json!([]));
        }
        "100" => {
            files.insert("hls".into(), hls);
            files.insert("progressive".into(), json!([]));
        }
        _ => {
            files.insert("progressive".into(), progressive);
        }
    }
    MockResponse::json(json!({
        "cdn_url": "https://f.vimeocdn.com",
        "vimeo_api_url": "api.vimeo.com",
        "request": {
            "files": Value::Object(files),
            "lang": "en",
            "sentry": { "enabled": false },
            "ab_tests": {},
            "referrer": "https://vimeo.com/",
            "cookie_domain": ".vimeo.com",
            "signature": "0123abcd",
            "timestamp": 1767225600,
            "expires": 3600,
            "text_tracks": []
        },
        "player_url": "player.vimeo.com",
        "video": {
            "id": id.parse::<u64>().unwrap_or(0),
            "title": "Ocean Tones",
            "duration": 3,
            "owner": { "name": "Basalt Fixtures & Co", "id": 1 },
            "thumbs": { "base": "https://i.vimeocdn.com/video/1234567-abcdef0123456789-d" }
        },
        "user": { "id": 0, "logged_in": 0 },
        "view": 1,
        "vimeo_url": "vimeo.com"
    }))
}

fn dash_playlist() -> MockResponse {
    let b64 = base64::engine::general_purpose::STANDARD;
    let seg = |i: usize, start: f64, end: f64| json!({ "start": start, "end": end, "url": format!("segment-{i}.m4s?r=dXM%3D"), "size": 8400 });
    MockResponse::json(json!({
        "clip_id": "a1b2c3d4-0000-4000-8000-000000000001",
        "base_url": "../../../../../",
        "video": [{
            "id": "v360", "base_url": "parcel/video/v360/", "format": "dash", "mime_type": "video/mp4",
            "codecs": "avc1.64001E", "bitrate": 700000, "avg_bitrate": 650000, "duration": 3.04,
            "framerate": 25, "width": 640, "height": 360, "max_segment_duration": 1,
            "init_segment": b64.encode(b"not audio"), "index_segment": "../video/v360/segment.mp4?r=1",
            "segments": [{ "start": 0, "end": 1, "url": "segment-1.m4s", "size": 100 }]
        }],
        "audio": [
            {
                "id": "a-opus", "base_url": "parcel/audio/opus/", "format": "dash", "mime_type": "audio/mp4",
                "codecs": "opus", "bitrate": 100000, "avg_bitrate": 90000, "duration": 3.04, "channels": 2,
                "sample_rate": 48000, "max_segment_duration": 1, "init_segment": b64.encode(b"opus"),
                "segments": [{ "start": 0, "end": 1, "url": "segment-1.m4s", "size": 10 }]
            },
            {
                "id": "a-aac-low", "base_url": "parcel/audio/aac64", "format": "dash", "mime_type": "audio/mp4",
                "codecs": "mp4a.40.2", "bitrate": 64000, "avg_bitrate": 60000, "duration": 3.04, "channels": 2,
                "sample_rate": 22050, "max_segment_duration": 1, "init_segment": b64.encode(b"low"),
                "segments": [{ "start": 0, "end": 1, "url": "segment-1.m4s", "size": 10 }]
            },
            {
                "id": "a-aac", "base_url": "parcel/audio/aac/", "format": "dash", "mime_type": "audio/mp4",
                "codecs": "mp4a.40.2", "bitrate": 128000, "avg_bitrate": 126000, "duration": 3.04, "channels": 2,
                "sample_rate": 44100, "max_segment_duration": 1,
                "init_segment": b64.encode(fixture("hls_fmp4/init.mp4")),
                "index_segment": "../../parcel/audio/aac/segment.mp4?r=1",
                "segments": [seg(0, 0.0, 1.021678), seg(1, 1.021678, 2.020136), seg(2, 2.020136, 3.018594), seg(3, 3.018594, 3.041814)]
            }
        ]
    }))
}

/// Routes for every Vimeo host.
pub fn router() -> Router {
    Router::new()
        .route("GET", "vimeo.com", "/watch", |_| {
            MockResponse::text(&watch_page(), "text/html; charset=utf-8")
                .header("Set-Cookie", "vuid=pl123.456; domain=.vimeo.com; path=/; secure")
        })
        .route("GET", "vimeo.com", "/_next/data/*", |r| {
            let rest = r.path.trim_start_matches("/_next/data/");
            let mut parts = rest.splitn(3, '/');
            let (build, locale, file) = (parts.next(), parts.next(), parts.next());
            if build != Some(BUILD_ID) || locale != Some("en") || r.header("x-nextjs-data") != Some("1") {
                return MockResponse::text("<html>404</html>", "text/html").with_status(404);
            }
            let id = file.unwrap_or("").trim_end_matches(".json");
            if id == "400" && r.param("h") != Some(UNLISTED_HASH) {
                // An unlisted clip without its hash: the site's "private video" page data.
                return MockResponse::json(json!({"pageProps": {"statusCode": 404, "clipId": null, "pageMetadata": {"title": "Private Video on Vimeo", "robots": "noindex"}}, "__N_SSP": true}));
            }
            MockResponse::json(page_data(id))
        })
        .route("GET", "vimeo.com", "/api/oembed.json", |r| {
            let url = r.param("url").unwrap_or("");
            if url != "https://vimeo.com/300" {
                return MockResponse::text("404 Not Found", "text/html").with_status(404);
            }
            MockResponse::json(json!({
                "type": "video", "version": "1.0", "provider_name": "Vimeo", "provider_url": "https://vimeo.com/",
                "title": "Embed-only \u{00e9}tude", "author_name": "Someone Else", "author_url": "https://vimeo.com/someone",
                "is_plus": "0", "account_type": "basic", "html": "<iframe src=\"https://player.vimeo.com/video/300?h=ab\"></iframe>",
                "width": 640, "height": 360, "duration": 42, "description": "",
                "thumbnail_url": "https://i.vimeocdn.com/video/999-abc-d_640x360?region=us",
                "thumbnail_width": 640, "thumbnail_height": 360, "video_id": 300, "uri": "/videos/300"
            }))
        })
        .route("GET", "vimeo.com", "/api/v2/video/*", |_| {
            // The old simple API knows no private or unlisted clip.
            MockResponse::text("400.json not found.", "text/html; charset=UTF-8").with_status(404)
        })
        .route("GET", "api.vimeo.com", "/videos/*", |r| {
            let id = r.path.trim_start_matches("/videos/").to_string();
            api_video(r, &id)
        })
        .route("GET", "player.vimeo.com", "/video/*", |r| {
            let id = r
                .path
                .trim_start_matches("/video/")
                .trim_end_matches("/config")
                .to_string();
            player_config(r, &id)
        })
        .route("GET", DASH_HOST, "*", |r| {
            let p = r.path.as_str();
            if p.ends_with("/playlist.json") && p.contains("/primary/prot/") {
                return dash_playlist();
            }
            if p.ends_with("/playlist.m3u8") {
                return MockResponse::text(
                    "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n\
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio-high\",NAME=\"Original\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"../../../../../parcel/audio/ts/audio.m3u8?r=1\"\n\
#EXT-X-STREAM-INF:CLOSED-CAPTIONS=NONE,BANDWIDTH=800000,AVERAGE-BANDWIDTH=700000,RESOLUTION=640x360,FRAME-RATE=25.000,CODECS=\"avc1.64001E,mp4a.40.2\",AUDIO=\"audio-high\"\n\
../../../../../parcel/video/v360.m3u8?r=1\n",
                    "application/vnd.apple.mpegurl",
                );
            }
            if p.ends_with("/parcel/audio/ts/audio.m3u8") {
                return MockResponse::text(
                    &String::from_utf8(fixture("hls_ts/index.m3u8")).unwrap(),
                    "application/vnd.apple.mpegurl",
                );
            }
            if let Some(name) = p.strip_prefix("/exp=1767229200~hmac=77/a1b2c3d4/v2/parcel/audio/ts/") {
                return MockResponse::bytes(fixture(&format!("hls_ts/{name}")), "video/mp2t");
            }
            // DASH segments: playlist base "../../../../../" from the playlist directory.
            if let Some(name) = p
                .strip_prefix("/exp=1767229200~acl=%2Fa1b2c3d4%2F%2A~hmac=9e8d7c6b5a/a1b2c3d4/v2/parcel/audio/aac/segment-")
                .and_then(|n| n.strip_suffix(".m4s"))
            {
                if r.param("r") != Some("dXM=") {
                    return MockResponse::status(403);
                }
                return MockResponse::bytes(fixture(&format!("hls_fmp4/seg{name}.m4s")), "video/mp4");
            }
            MockResponse::status(404)
        })
        .route("GET", "vod-progressive.akamaized.net", "*", |r| {
            if r.path.ends_with("/720p.mp4") {
                MockResponse::bytes(fixture("sine440_44k_stereo_2s_aac.m4a"), "video/mp4")
            } else {
                MockResponse::status(404)
            }
        })
}
