//! A mock of the Twitch endpoints a live channel needs (sources.md §3, §11.3): the home page
//! (client id, `unique_id` cookie), GQL (`StreamMetadata` as query text or persisted hash,
//! `PlaybackAccessToken_Template`), usher masters and a sliding live media playlist whose
//! MPEG-TS/ADTS segments are the `hls_ts` fixtures. Synthetic data in the services' shapes.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

use super::mitm::{MockRequest, MockResponse, Router};

pub const CLIENT_ID: &str = "tWcl1ent1d0f0rbasa1tte5tsxyz01";
pub const DEVICE_ID: &str = "Dev1ceIdBasalt0123456789abcdef0";
pub const SIGNATURE: &str = "8f1e0c2b9d5a7f3e6b4c1a0d9e8f7a6b5c4d3e2f";
/// `SERVER-TIME` in the usher master; the token expires 600 s later.
pub const SERVER_TIME: f64 = 1_767_225_600.125;
pub const TOKEN_LIFETIME_S: i64 = 600;
/// Live segments the channel produces before it stops (end of stream).
pub const LIVE_SEGMENTS: usize = 6;

/// Request counters for assertions.
#[derive(Default)]
pub struct TwitchCounters {
    pub home: AtomicUsize,
    pub tokens: AtomicUsize,
    pub ushers: AtomicUsize,
    pub playlists: AtomicUsize,
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The token value, a JSON document as a string (Twitch's field order and extra fields).
pub fn token_value(channel: &str) -> String {
    let expires = SERVER_TIME as i64 + TOKEN_LIFETIME_S;
    format!(
        "{{\"adblock\":false,\"authorization\":{{\"forbidden\":false,\"reason\":\"\"}},\"blackout_enabled\":false,\"channel\":\"{channel}\",\"channel_id\":71092938,\"chansub\":{{\"restricted_bitrates\":[],\"view_until\":1924905600}},\"ci_gb\":false,\"geoblock_reason\":\"\",\"device_id\":\"{DEVICE_ID}\",\"expires\":{expires},\"extended_history_allowed\":false,\"game\":\"\",\"hide_ads\":false,\"https_required\":true,\"mature\":false,\"partner\":false,\"platform\":\"web\",\"player_type\":\"site\",\"private\":{{\"allowed_to_view\":true}},\"privileged\":false,\"role\":\"\",\"server_ads\":true,\"show_ads\":true,\"subscriber\":false,\"turbo\":false,\"user_id\":null,\"user_ip\":\"203.0.113.7\",\"version\":2}}"
    )
}

fn home_page() -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Twitch</title>\
<link rel=\"preconnect\" href=\"https://gql.twitch.tv\"><script>window.__twilightSettings={{\"environment\":\"production\",\"spade_url\":\"https://spade.twitch.tv/track\"}};</script>\
<script>window.__twilightBuildID=\"3f9a5c1e-7d2b-4e8f-9a6c-1b2d3e4f5a6b\";window.__eventBusOptions={{appId=\"spade\"}}</script>\
<script>var commonOptions={{headers:{{\"Accept-Language\":\"en-US\"}},clientId=\"{CLIENT_ID}\",deviceId=null}};</script>\
</head><body><div id=\"root\"></div></body></html>"
    )
}

fn gql_error(message: &str) -> MockResponse {
    MockResponse::json(json!({
        "errors": [{ "message": message, "path": ["user"] }],
        "extensions": { "durationMilliseconds": 2, "requestID": "01JABCDEF" }
    }))
}

fn gql(req: &MockRequest, counters: &TwitchCounters) -> MockResponse {
    if req.header("client-id") != Some(CLIENT_ID) {
        return MockResponse::json(json!({"error":"Bad Request","status":400,"message":"The \"Client-ID\" header is missing from the request."}))
            .with_status(400);
    }
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let op = body["operationName"].as_str().unwrap_or("");
    match op {
        "StreamMetadata" => {
            let login = body["variables"]["channelLogin"].as_str().unwrap_or("");
            let by_text = body["query"].is_string();
            let persisted = body["extensions"]["persistedQuery"]["sha256Hash"].is_string();
            if login == "hashonly" && by_text {
                return gql_error("failed integrity check");
            }
            if login == "stale" {
                return gql_error("PersistedQueryNotFound");
            }
            if !by_text && !persisted {
                return gql_error("no query");
            }
            match login {
                "livechan" | "hashonly" | "notitle" => {
                    let title = if login == "notitle" {
                        Value::Null
                    } else {
                        json!("Lo-fi beats \u{2615} \"24/7\" & chill | !discord")
                    };
                    MockResponse::json(json!({
                        "data": { "user": {
                            "id": "71092938",
                            "primaryColorHex": "9146FF",
                            "isPartner": true,
                            "profileImageURL": "https://static-cdn.jtvnw.net/jtv_user_pictures/x-profile_image-70x70.png",
                            "primaryTeam": null,
                            "squadStream": null,
                            "stream": { "id": "40792920123", "type": "live", "createdAt": "2026-01-01T00:00:00Z", "viewersCount": 1234, "__typename": "Stream" },
                            "lastBroadcast": { "id": "40792920123", "title": title, "__typename": "Broadcast" },
                            "__typename": "User"
                        }},
                        "extensions": { "durationMilliseconds": 41, "operationName": "StreamMetadata", "requestID": "01JXYZ" }
                    }))
                }
                "offline" => MockResponse::json(json!({
                    "data": { "user": {
                        "id": "5555",
                        "stream": null,
                        "lastBroadcast": { "id": "1", "title": "yesterday", "__typename": "Broadcast" },
                        "__typename": "User"
                    }},
                    "extensions": { "durationMilliseconds": 12, "requestID": "01JOFF" }
                })),
                _ => MockResponse::json(json!({
                    "data": { "user": null },
                    "extensions": { "durationMilliseconds": 9, "requestID": "01JNONE" }
                })),
            }
        }
        "PlaybackAccessToken_Template" => {
            counters.tokens.fetch_add(1, Ordering::SeqCst);
            let v = &body["variables"];
            let ok = body["query"]
                .as_str()
                .is_some_and(|q| q.contains("streamPlaybackAccessToken"))
                && v["isLive"] == json!(true)
                && v["isVod"] == json!(false)
                && v["vodID"] == json!("")
                && v["playerType"] == json!("site");
            if !ok {
                return gql_error("bad token request");
            }
            let login = v["login"].as_str().unwrap_or("");
            MockResponse::json(json!({
                "data": { "streamPlaybackAccessToken": {
                    "value": token_value(login),
                    "signature": SIGNATURE,
                    "authorization": { "isForbidden": false, "forbiddenReasonCode": "NONE" },
                    "__typename": "PlaybackAccessToken"
                }},
                "extensions": { "durationMilliseconds": 30, "operationName": "PlaybackAccessToken_Template", "requestID": "01JTOK" }
            }))
        }
        _ => gql_error("unknown operation"),
    }
}

fn usher(req: &MockRequest, counters: &TwitchCounters) -> MockResponse {
    let n = counters.ushers.fetch_add(1, Ordering::SeqCst);
    let channel = req
        .path
        .strip_prefix("/api/channel/hls/")
        .and_then(|p| p.strip_suffix(".m3u8"))
        .unwrap_or("");
    // The token must arrive exactly as GQL gave it (the signature covers it).
    let expected = token_value(channel);
    let ok = req.param("token") == Some(expected.as_str())
        && req.param("sig") == Some(SIGNATURE)
        && req.param("allow_audio_only") == Some("true")
        && req.param("allow_source") == Some("true")
        && req.param("player_backend") == Some("html5");
    if !ok {
        return MockResponse::json(json!([{"url":"https://usher.ttvnw.net/api/channel/hls/x.m3u8","error":"Invalid token","error_code":"invalid_token","type":"error"}]))
            .with_status(403);
    }
    if channel == "notime" {
        return MockResponse::text(
            "#EXTM3U\n#EXT-X-TWITCH-INFO:NODE=\"video-edge-1\",CLUSTER=\"fra05\"\n#EXT-X-STREAM-INF:BANDWIDTH=160000,CODECS=\"mp4a.40.2\",VIDEO=\"audio_only\"\nhttps://video-weaver.fra05.hls.ttvnw.net/v1/playlist/a.m3u8\n",
            "application/vnd.apple.mpegurl",
        );
    }
    // A new playlist URL per token, as Twitch does.
    let text = format!(
        "#EXTM3U\n\
#EXT-X-TWITCH-INFO:NODE=\"video-weaver.fra05\",MANIFEST-NODE-TYPE=\"weaver_cluster\",MANIFEST-NODE=\"video-weaver.fra05\",SUPPRESS=\"false\",SERVER-TIME=\"{SERVER_TIME}\",TRANSCODESTACK=\"2023-Transcode-QS-V1\",USER-IP=\"203.0.113.7\",SERVING-ID=\"abc123\",CLUSTER=\"fra05\",ABS=\"true\",VIDEO-SESSION-ID=\"1234567890\",BROADCAST-ID=\"40792920123\",STREAM-TIME=\"3600.5\",B=\"false\",USER-COUNTRY=\"DE\",MANIFEST-CLUSTER=\"fra05\",ORIGIN=\"s3\",C=\"aHR0cHM6Ly9leGFtcGxlLmNvbQ==\",D=\"false\"\n\
#EXT-X-MEDIA:TYPE=VIDEO,GROUP-ID=\"chunked\",NAME=\"1080p60 (source)\",AUTOSELECT=YES,DEFAULT=YES\n\
#EXT-X-STREAM-INF:BANDWIDTH=8534030,RESOLUTION=1920x1080,CODECS=\"avc1.64002A,mp4a.40.2\",VIDEO=\"chunked\",FRAME-RATE=60.000\n\
https://video-weaver.fra05.hls.ttvnw.net/v1/playlist/Cq{n}chunked.m3u8\n\
#EXT-X-MEDIA:TYPE=VIDEO,GROUP-ID=\"720p30\",NAME=\"720p\",AUTOSELECT=YES,DEFAULT=YES\n\
#EXT-X-STREAM-INF:BANDWIDTH=2373000,RESOLUTION=1280x720,CODECS=\"avc1.4D401F,mp4a.40.2\",VIDEO=\"720p30\",FRAME-RATE=30.000\n\
https://video-weaver.fra05.hls.ttvnw.net/v1/playlist/Cq{n}720p30.m3u8\n\
#EXT-X-MEDIA:TYPE=VIDEO,GROUP-ID=\"audio_only\",NAME=\"audio_only\",AUTOSELECT=NO,DEFAULT=NO\n\
#EXT-X-STREAM-INF:BANDWIDTH=160000,CODECS=\"mp4a.40.2\",VIDEO=\"audio_only\"\n\
https://video-weaver.fra05.hls.ttvnw.net/v1/playlist/Cq{n}audio_only.m3u8\n"
    );
    MockResponse::text(&text, "application/vnd.apple.mpegurl")
}

/// The live window: each fetch shows one more segment (up to three), until the channel
/// has produced `LIVE_SEGMENTS`; then it stops growing (the stream ended).
fn media_playlist(req: &MockRequest, counters: &TwitchCounters) -> MockResponse {
    if !req.path.ends_with("audio_only.m3u8") {
        return MockResponse::status(404);
    }
    let c = counters.playlists.fetch_add(1, Ordering::SeqCst);
    let newest = c.min(LIVE_SEGMENTS - 1);
    let oldest = newest.saturating_sub(2);
    let mut text = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:{oldest}\n\
#EXT-X-TWITCH-LIVE-SEQUENCE:{}\n#EXT-X-TWITCH-ELAPSED-SECS:{}.000\n#EXT-X-TWITCH-TOTAL-SECS:{}.000\n\
#EXT-X-DATERANGE:ID=\"playlist-creation-1\",CLASS=\"timestamp\",START-DATE=\"2026-01-01T00:00:00.000Z\",END-ON-NEXT=YES,X-SERVER-TIME=\"{SERVER_TIME}\"\n\
#EXT-X-DATERANGE:ID=\"playlist-session-1\",CLASS=\"twitch-session\",START-DATE=\"2026-01-01T00:00:00.000Z\",END-ON-NEXT=YES,X-TV-TWITCH-SESSIONID=\"1234\"\n",
        oldest + 100,
        oldest,
        newest + 1
    );
    for i in oldest..=newest {
        text.push_str(&format!(
            "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:{i:02}.000Z\n#EXTINF:1.000,live\n\
https://video-edge-c2a1b3.fra05.abs.hls.ttvnw.net/v1/segment/CvAE{i}xYz_seg.ts?dna=1\n"
        ));
    }
    MockResponse::text(&text, "application/vnd.apple.mpegurl")
}

fn segment(req: &MockRequest) -> MockResponse {
    if req.header("client-id") != Some(CLIENT_ID) || req.header("x-device-id") != Some(DEVICE_ID) {
        return MockResponse::status(403);
    }
    let i: usize = req
        .path
        .trim_start_matches("/v1/segment/CvAE")
        .split('x')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    MockResponse::bytes(fixture(&format!("hls_ts/seg{}.ts", i % 3)), "video/mp2t")
}

/// Routes for every Twitch host, sharing `counters`.
pub fn router(counters: Arc<TwitchCounters>) -> Router {
    routes(Router::new(), counters)
}

/// The Twitch routes added after those already in `base` (which win).
pub fn routes(base: Router, counters: Arc<TwitchCounters>) -> Router {
    let (c1, c2, c3, c4) = (
        counters.clone(),
        counters.clone(),
        counters.clone(),
        counters.clone(),
    );
    base.route("GET", "www.twitch.tv", "/", move |_| {
            c1.home.fetch_add(1, Ordering::SeqCst);
            MockResponse::text(&home_page(), "text/html; charset=utf-8")
                .header("Set-Cookie", "server_session_id=0a1b2c3d; domain=.twitch.tv; path=/; secure; samesite=none")
                .header("Set-Cookie", &format!("unique_id={DEVICE_ID}; domain=.twitch.tv; path=/; expires=Sat, 01 Jan 2028 00:00:00 GMT; secure; samesite=none"))
        })
        .route("POST", "gql.twitch.tv", "/gql", move |r| gql(r, &c2))
        .route("GET", "usher.ttvnw.net", "/api/channel/hls/*", move |r| usher(r, &c3))
        .route("GET", "video-weaver.fra05.hls.ttvnw.net", "/v1/playlist/*", move |r| {
            media_playlist(r, &c4)
        })
        .route("GET", "*.abs.hls.ttvnw.net", "/v1/segment/*", segment)
}
