//! youtube-source's REST routes (`/youtube`, `/youtube/oauth/{refreshToken}`,
//! `/youtube/stream/{videoId}`) through the real binary: authenticated like every route,
//! with the plugin's shapes and status codes, upstream calls through the intercepting
//! proxy to mock InnerTube, OAuth and googlevideo hosts.

#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/mitm.rs"]
mod mitm;
#[path = "support/poll.rs"]
mod poll;
#[path = "support/proxied_node.rs"]
mod proxied_node;

use http_client::{request, Client};
use mitm::{Mitm, MockRequest, MockResponse, Router};
use proxied_node::{start_node, PW};
use serde_json::{json, Value};

const VID: &str = "dQw4w9WgXcQ";
const IT: &str = "youtubei.googleapis.com";
const MEDIA_HOST: &str = "rr2---sn-rest.googlevideo.com";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn player(_: &MockRequest) -> MockResponse {
    let webm = fixture("sine440_48k_stereo_2s.webm").len();
    let m4a = fixture("sine440_44k_stereo_2s_aac.m4a").len();
    MockResponse::json(json!({
        "responseContext": {"visitorData": "Cgt2"},
        "playabilityStatus": {"status": "OK", "playableInEmbed": true},
        "streamingData": {"expiresInSeconds": "21540", "adaptiveFormats": [
            {"itag": 140, "url": format!("https://{MEDIA_HOST}/videoplayback?itag=140&expire=1999999999"), "mimeType": "audio/mp4; codecs=\"mp4a.40.2\"", "bitrate": 130000, "contentLength": m4a.to_string()},
            {"itag": 251, "url": format!("https://{MEDIA_HOST}/videoplayback?itag=251&expire=1999999999"), "mimeType": "audio/webm; codecs=\"opus\"", "bitrate": 140000, "contentLength": webm.to_string()}
        ]},
        "videoDetails": {"videoId": VID, "title": "T", "author": "A", "lengthSeconds": "2", "isLive": false}
    }))
}

fn media(r: &MockRequest) -> MockResponse {
    let (body, mime) = match r.param("itag") {
        Some("251") => (fixture("sine440_48k_stereo_2s.webm"), "audio/webm"),
        Some("140") => (fixture("sine440_44k_stereo_2s_aac.m4a"), "audio/mp4"),
        _ => return MockResponse::status(404),
    };
    let Some((a, b)) = r.param("range").and_then(|x| x.split_once('-')) else {
        return MockResponse::status(400);
    };
    let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
    if a >= body.len() {
        return MockResponse::status(416);
    }
    MockResponse {
        body: body[a..(b + 1).min(body.len())].to_vec(),
        ranges: false,
        ..MockResponse::status(200)
    }
    .header("Content-Type", mime)
}

fn token(r: &MockRequest) -> MockResponse {
    let b: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(b["grant_type"], "refresh_token");
    assert_eq!(b["client_id"], "tv-client.apps.googleusercontent.com");
    match b["refresh_token"].as_str() {
        Some("1//good-rt") => MockResponse::json(json!({
            "access_token": "ya29.fresh", "expires_in": 3599,
            "scope": "https://www.googleapis.com/auth/youtube", "token_type": "Bearer"
        })),
        _ => MockResponse::json(
            json!({"error": "invalid_grant", "error_description": "Bad Request"}),
        )
        .with_status(400),
    }
}

fn router() -> Router {
    Router::new()
        .route("POST", IT, "/youtubei/v1/visitor_id", |_| {
            MockResponse::json(json!({"responseContext": {"visitorData": "VIS"}}))
        })
        .route("POST", IT, "/youtubei/v1/player", player)
        .route("GET", MEDIA_HOST, "/videoplayback", media)
        .route("POST", "www.youtube.com", "/o/oauth2/token", token)
}

const YT: &str = "youtube = true\n\n[youtube]\nvideo_clients = [\"WEB\"]\n\
    playback_clients = [\"VISIONOS\"]\noauth_client_id = \"tv-client.apps.googleusercontent.com\"\n\
    oauth_client_secret = \"tv-secret\"\n";

#[test]
fn youtube_routes_answer_with_youtube_sources_shapes() {
    let m = Mitm::start(router());
    let node = start_node("yt-rest", &m, YT);
    let c = Client::new(node.addr, PW);

    // Authenticated like every other route.
    assert_eq!(request(node.addr, "GET", "/youtube", &[], None).status, 401);
    assert_eq!(
        request(
            node.addr,
            "GET",
            "/youtube",
            &[("Authorization", "nope")],
            None
        )
        .status,
        403
    );

    // Config: no refresh token yet; POST sets one (204); the placeholder "x" keeps it.
    let r = c.get("/youtube");
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"refreshToken": null}));
    let r = c.post(
        "/youtube",
        r#"{"refreshToken": "1//good-rt", "skipInitialization": true}"#,
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(
        c.get("/youtube").json(),
        json!({"refreshToken": "1//good-rt"})
    );
    assert_eq!(c.post("/youtube", r#"{"refreshToken": "x"}"#).status, 204);
    assert_eq!(c.get("/youtube").json()["refreshToken"], "1//good-rt");
    let bad = c.post("/youtube", r#"{"poToken": 5}"#);
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["path"], "/youtube");

    // PO token + visitor data set together, then sent by WEB's /player.
    let r = c.post(
        "/youtube",
        r#"{"poToken": "PO-REST", "visitorData": "VD-REST"}"#,
    );
    assert_eq!(r.status, 204);
    let loaded = c.get(&format!("/v4/loadtracks?identifier={VID}")).json();
    assert_eq!(loaded["loadType"], "track", "{loaded}");
    let web = m.requests_to(IT, "/youtubei/v1/player");
    let body = web.last().unwrap().body_json();
    assert_eq!(body["serviceIntegrityDimensions"]["poToken"], "PO-REST");
    assert_eq!(body["context"]["client"]["visitorData"], "VD-REST");

    // A fresh access token for any refresh token; the token endpoint's error → 500.
    let r = c.get("/youtube/oauth/1%2F%2Fgood-rt");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["access_token"], "ya29.fresh");
    assert_eq!(r.json()["token_type"], "Bearer");
    let r = c.get("/youtube/oauth/revoked");
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["error"], "Internal Server Error");

    // Raw media: the best format, or the one with `itag`.
    let r = c.get(&format!("/youtube/stream/{VID}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("audio/webm"));
    assert_eq!(r.body, fixture("sine440_48k_stereo_2s.webm"));
    let r = c.get(&format!(
        "/youtube/stream/{VID}?itag=140&withClient=visionos"
    ));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("audio/mp4"));
    assert_eq!(r.body, fixture("sine440_44k_stereo_2s_aac.m4a"));
    let r = c.get(&format!("/youtube/stream/{VID}?itag=999"));
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        "No formats found with the requested itag."
    );
    let r = c.get("/youtube/stream/not-an-id");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        "Could not find formats for the requested videoId."
    );
    let r = c.get(&format!("/youtube/stream/{VID}?withClient=TV"));
    assert_eq!(r.status, 400, "no client of that name in the chain");

    assert_eq!(c.send_json("PUT", "/youtube", "{}").status, 405);
    assert_eq!(c.get("/youtube/nothing").status, 404);
    assert!(m.unrouted().is_empty(), "{:?}", m.unrouted());
}

#[test]
fn youtube_routes_without_the_source_say_so() {
    let m = Mitm::start(Router::new());
    let node = start_node("yt-rest-off", &m, "youtube = false\n");
    let r = Client::new(node.addr, PW).get("/youtube");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        "The YouTube source manager is not registered."
    );
}
