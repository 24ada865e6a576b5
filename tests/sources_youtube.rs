//! The built-in YouTube source against synthetic InnerTube and googlevideo mocks, through
//! the intercepting proxy (real request code, offline): every identifier kind, search,
//! music search, playlists with continuations, mixes, playability errors, the client
//! chain, chunked playback with the 403 refresh, PO tokens and the bot-wall hook.

#[path = "support/mitm.rs"]
mod mitm;
#[path = "support/poll.rs"]
mod poll;

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use basalt::source::{LoadResult, SourceManager};
use basalt::track::{decode_track, encode_track, Severity, TrackData};
use mitm::{Mitm, MockRequest, MockResponse, Router};
use serde_json::{json, Value};

const VID: &str = "dQw4w9WgXcQ";
const IT: &str = "youtubei.googleapis.com";
const MEDIA_HOST: &str = "rr1---sn-test.googlevideo.com";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn client_name(r: &MockRequest) -> String {
    r.body_json()["context"]["client"]["clientName"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn details(id: &str) -> Value {
    json!({
        "videoId": id, "title": "Never \"Gonna\" Give – You Up", "lengthSeconds": "212",
        "keywords": ["a", "b"], "channelId": "UCxyz", "isOwnerViewing": false,
        "shortDescription": "line\nline", "isCrawlable": true, "isLiveContent": false,
        "author": "Rick Astley", "isPrivate": false, "isLive": false,
        "thumbnail": {"thumbnails": [
            {"url": format!("https://i.ytimg.com/vi/{id}/hqdefault.jpg?sqp=x"), "width": 480, "height": 360},
            {"url": format!("https://i.ytimg.com/vi/{id}/maxresdefault.jpg"), "width": 1920, "height": 1080}]},
        "viewCount": "1500000000"
    })
}

fn media_url(itag: u32, tag: &str) -> String {
    format!("https://{MEDIA_HOST}/videoplayback?expire=1999999999&ei=x&itag={itag}&source=youtube&tag={tag}&n=plainN")
}

/// An OK player response with Opus 251, AAC 140, a dub and a video-only format.
fn player_ok(id: &str, tag: &str) -> Value {
    let webm = fixture("sine440_48k_stereo_2s.webm").len();
    let m4a = fixture("sine440_44k_stereo_2s_aac.m4a").len();
    json!({
        "responseContext": {"visitorData": "Cgt2aXNpdG9y", "serviceTrackingParams": []},
        "playabilityStatus": {"status": "OK", "playableInEmbed": true, "miniplayer": {}},
        "streamingData": {
            "expiresInSeconds": "21540",
            "formats": [{"itag": 18, "url": media_url(18, tag), "mimeType": "video/mp4; codecs=\"avc1.42001E, mp4a.40.2\"", "bitrate": 400000}],
            "adaptiveFormats": [
                {"itag": 137, "url": media_url(137, tag), "mimeType": "video/mp4; codecs=\"avc1.640028\"", "bitrate": 4000000, "contentLength": "9000000"},
                {"itag": 140, "url": media_url(140, tag), "mimeType": "audio/mp4; codecs=\"mp4a.40.2\"", "bitrate": 130000, "contentLength": m4a.to_string(), "audioChannels": 2},
                {"itag": 251, "url": media_url(251, tag), "mimeType": "audio/webm; codecs=\"opus\"", "bitrate": 140000, "contentLength": webm.to_string(), "audioChannels": 2, "audioQuality": "AUDIO_QUALITY_MEDIUM"},
                {"itag": 251, "url": media_url(251, "dub"), "mimeType": "audio/webm; codecs=\"opus\"", "bitrate": 999999, "contentLength": "5", "audioTrack": {"displayName": "French", "audioIsDefault": false}}
            ]
        },
        "videoDetails": details(id),
        "microformat": {"playerMicroformatRenderer": {"category": "Music"}}
    })
}

fn status(status: &str, reason: &str) -> Value {
    json!({"responseContext": {}, "playabilityStatus": {"status": status, "reason": reason}})
}

/// googlevideo: answers only bounded `range=` requests; `tag=stale` URLs answer 403 past
/// the first chunk (an expired URL mid-track); `tag=denied` always 403.
fn media(r: &MockRequest) -> MockResponse {
    let itag = r.param("itag").unwrap_or_default();
    let (body, mime) = match itag {
        "251" => (fixture("sine440_48k_stereo_2s.webm"), "audio/webm"),
        "140" => (fixture("sine440_44k_stereo_2s_aac.m4a"), "audio/mp4"),
        _ => return MockResponse::status(404),
    };
    let Some((a, b)) = r.param("range").and_then(|x| x.split_once('-')) else {
        return MockResponse::status(400);
    };
    let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
    match r.param("tag") {
        Some("denied") => return MockResponse::status(403),
        Some("ciph")
            if r.param("sig") != Some(expected_sig(SIG).as_str())
                || r.param("n") != Some(expected_n(NCHAL).as_str()) =>
        {
            return MockResponse::status(403)
        }
        Some("stale") if a > 0 => return MockResponse::status(403),
        _ => {}
    }
    if a >= body.len() || b < a {
        return MockResponse::status(416);
    }
    let end = (b + 1).min(body.len());
    MockResponse {
        body: body[a..end].to_vec(),
        ranges: false,
        ..MockResponse::status(200)
    }
    .header("Content-Type", mime)
}

fn base_router() -> Router {
    Router::new()
        .route("POST", IT, "/youtubei/v1/visitor_id", |_| {
            MockResponse::json(json!({"responseContext": {"visitorData": "VISITOR123"}}))
        })
        .route("GET", MEDIA_HOST, "/videoplayback", media)
}

fn manager(m: &Mitm, extra: &str) -> SourceManager {
    let text = format!("[sources]\nhttp = false\n{extra}");
    SourceManager::new(&m.config(&text))
}

fn expect_track(r: LoadResult) -> TrackData {
    match r {
        LoadResult::Track(t) => t,
        other => panic!("expected a track, got {other:?}"),
    }
}

fn expect_error(r: LoadResult) -> basalt::track::TrackException {
    match r {
        LoadResult::Error(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn every_video_url_shape_loads_the_same_track() {
    let m = Mitm::start(base_router().route("POST", IT, "/youtubei/v1/player", |r| {
        let id = r.body_json()["videoId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        MockResponse::json(player_ok(&id, "ok"))
    }));
    let sm = manager(&m, "");
    for ident in [
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        "https://music.youtube.com/watch?v=dQw4w9WgXcQ&si=abc",
        "https://youtu.be/dQw4w9WgXcQ?t=42",
        "https://www.youtube.com/shorts/dQw4w9WgXcQ",
        "https://m.youtube.com/live/dQw4w9WgXcQ",
        "https://www.youtube.com/embed/dQw4w9WgXcQ?start=3",
        "dQw4w9WgXcQ",
    ] {
        let t = expect_track(sm.load(ident));
        let i = &t.info;
        assert_eq!(i.identifier, VID, "{ident}");
        assert_eq!(i.title, "Never \"Gonna\" Give – You Up");
        assert_eq!(i.author, "Rick Astley");
        assert_eq!(i.length, 212_000);
        assert!(!i.is_stream);
        assert_eq!(
            i.uri.as_deref(),
            Some("https://www.youtube.com/watch?v=dQw4w9WgXcQ")
        );
        assert_eq!(
            i.artwork_url.as_deref(),
            Some("https://i.ytimg.com/vi/dQw4w9WgXcQ/maxresdefault.jpg")
        );
        assert_eq!(i.isrc, None);
        assert_eq!(i.source_name, "youtube");
        assert!(t.source_data.is_empty());
        // The blob round-trips with no source bytes.
        let back = decode_track(&encode_track(&t)).unwrap();
        assert_eq!(back.data, t);
        assert!(sm.can_decode(&t));
        let mut bad = t.clone();
        bad.info.identifier = "not-an-id".into();
        assert!(!sm.can_decode(&bad));
    }
    // WEB asked first, with its context, embed fields and headers (§6.4, §6.6).
    let p = &m.requests_to(IT, "/youtubei/v1/player")[0];
    let b = p.body_json();
    assert_eq!(b["context"]["client"]["clientName"], "WEB");
    assert_eq!(b["context"]["client"]["clientScreen"], "EMBED");
    assert_eq!(b["context"]["thirdParty"]["embedUrl"], "https://google.com");
    assert_eq!(b["context"]["user"]["lockedSafetyMode"], false);
    assert_eq!(
        (b["racyCheckOk"].clone(), b["params"].clone()),
        (json!(true), json!("2AMB"))
    );
    assert_eq!(p.param("prettyPrint"), Some("false"));
    assert_eq!(p.header("x-youtube-client-name"), Some("1"));
    assert!(p
        .header("cookie")
        .unwrap()
        .contains("CONSENT=YES+cb.20210328-17-p0.en+FX+471"));
    assert!(p.header("x-goog-visitor-id").is_none());
    assert_eq!(p.scheme, "https");
    assert!(m.unrouted().is_empty(), "{:?}", m.unrouted());
}

#[test]
fn a_failing_client_is_named_and_the_next_one_answers() {
    let m = Mitm::start(base_router().route("POST", IT, "/youtubei/v1/player", |r| {
        match client_name(r).as_str() {
            "WEB" => MockResponse::json(status(
                "LOGIN_REQUIRED",
                "Sign in to confirm you’re not a bot",
            )),
            _ => MockResponse::json(player_ok(VID, "ok")),
        }
    }));
    let sm = manager(&m, "");
    let t = expect_track(sm.load(VID));
    assert_eq!(t.info.title, "Never \"Gonna\" Give – You Up");
    let players = m.requests_to(IT, "/youtubei/v1/player");
    let names: Vec<String> = players.iter().map(client_name).collect();
    assert_eq!(names, ["WEB", "VISIONOS"]);
    // An app client sends its UA and visitor data.
    let v = &players[1];
    assert!(v.header("user-agent").unwrap().contains("Safari"));
    assert_eq!(v.header("x-goog-visitor-id"), Some("VISITOR123"));
    assert_eq!(v.header("x-youtube-client-name"), Some("101"));
    assert_eq!(
        v.body_json()["context"]["client"]["deviceModel"],
        "RealityDevice17,1"
    );
}

#[test]
fn every_client_failing_gives_youtube_sources_message() {
    let m = Mitm::start(base_router().route("POST", IT, "/youtubei/v1/player", |r| {
        match client_name(r).as_str() {
            "WEB" => MockResponse::json(status("ERROR", "This video is unavailable")),
            "VISIONOS" => MockResponse::json(json!({"error": "x"})).with_status(400),
            _ => MockResponse::text("<html>", "text/html"),
        }
    }));
    let e = expect_error(manager(&m, "").load(VID));
    let msg = e.message.unwrap();
    assert_eq!(
        msg,
        format!(
            "(yts.version: {}) All clients failed to load the item.\n\n\
             Client [WEB] failed: This video is unavailable\n\
             Client [VISIONOS] failed: Invalid status code for player: 400\n\
             Client [MWEB] failed: Invalid status code for player: 200",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert_eq!(e.severity, Severity::Suspicious);
}

#[test]
fn playability_errors_keep_youtube_sources_messages() {
    let cases: Vec<(Value, &str, Severity, usize)> = vec![
        (
            status("LOGIN_REQUIRED", "This video is private"),
            "This is a private video.",
            Severity::Common,
            1,
        ),
        (
            json!({"playabilityStatus": {"status": "UNPLAYABLE", "reason": "Video unavailable",
                "errorScreen": {"playerErrorMessageRenderer": {"subreason": {"simpleText": "This video is not available in your country"}}}}}),
            "This video is not available in your country",
            Severity::Common,
            3,
        ),
        (
            status(
                "LOGIN_REQUIRED",
                "Sign in to confirm your age. This video may be inappropriate for some users.",
            ),
            "This video requires age verification.",
            Severity::Suspicious,
            3,
        ),
    ];
    for (resp, message, severity, calls) in cases {
        let r = resp.clone();
        let m = Mitm::start(
            base_router().route("POST", IT, "/youtubei/v1/player", move |_| {
                MockResponse::json(r.clone())
            }),
        );
        let e = expect_error(manager(&m, "").load(VID));
        let got = e.message.unwrap();
        assert!(got.contains(message), "{got}");
        if calls == 1 {
            // A private video stops the chain: the verdict is returned as is.
            assert_eq!(got, message);
            assert_eq!(e.severity, severity);
        }
        assert_eq!(
            m.requests_to(IT, "/youtubei/v1/player").len(),
            calls,
            "{message}"
        );
    }
}

#[test]
fn embedding_refused_is_retried_without_the_embed_fields() {
    let m = Mitm::start(base_router().route("POST", IT, "/youtubei/v1/player", |r| {
        if r.body_json()["context"]["client"]["clientScreen"] == "EMBED" {
            MockResponse::json(status(
                "UNPLAYABLE",
                "Playback on other websites has been disabled by the video owner.",
            ))
        } else {
            MockResponse::json(player_ok(VID, "ok"))
        }
    }));
    expect_track(manager(&m, "").load(VID));
    let players = m.requests_to(IT, "/youtubei/v1/player");
    assert_eq!(players.len(), 2);
    assert!(players[1].body_json()["context"]
        .get("thirdParty")
        .is_none());
}

fn search_item(id: &str, title: &str, len: Option<&str>) -> Value {
    let mut v = json!({"videoRenderer": {
        "videoId": id,
        "thumbnail": {"thumbnails": [{"url": format!("https://i.ytimg.com/vi/{id}/hq720.jpg?sqp=-oaymw"), "width": 720}]},
        "title": {"runs": [{"text": title}], "accessibility": {"accessibilityData": {"label": title}}},
        "longBylineText": {"runs": [{"text": "Some Artist", "navigationEndpoint": {"browseEndpoint": {"browseId": "UC1"}}}]},
        "viewCountText": {"simpleText": "1,234 views"}
    }});
    if let Some(l) = len {
        v["videoRenderer"]["lengthText"] =
            json!({"accessibility": {"accessibilityData": {"label": "x"}}, "simpleText": l});
    }
    v
}

#[test]
fn ytsearch_returns_web_results_and_skips_live_items() {
    let m = Mitm::start(base_router().route("POST", IT, "/youtubei/v1/search", |r| {
        assert_eq!(r.body_json()["params"], "EgIQAfABAQ==");
        MockResponse::json(json!({
            "estimatedResults": "100",
            "contents": {"twoColumnSearchResultsRenderer": {"primaryContents": {"sectionListRenderer": {"contents": [
                {"itemSectionRenderer": {"contents": [
                    {"adSlotRenderer": {}},
                    search_item("aaaaaaaaaaa", "First", Some("3:32")),
                    search_item("bbbbbbbbbbb", "Live now", None),
                    search_item("ccccccccccc", "Long one", Some("1:02:03"))
                ]}},
                {"continuationItemRenderer": {"continuationEndpoint": {}}}
            ]}}}}
        }))
    }));
    let sm = manager(&m, "");
    let tracks = match sm.load("ytsearch:  never gonna ") {
        LoadResult::Search(t) => t,
        other => panic!("{other:?}"),
    };
    assert_eq!(tracks.len(), 2);
    assert_eq!(tracks[0].info.title, "First");
    assert_eq!(tracks[0].info.author, "Some Artist");
    assert_eq!(tracks[0].info.length, 212_000);
    assert_eq!(
        tracks[0].info.artwork_url.as_deref(),
        Some("https://i.ytimg.com/vi/aaaaaaaaaaa/mqdefault.jpg")
    );
    assert_eq!(tracks[1].info.length, 3_723_000);
    assert_eq!(
        m.requests_to(IT, "/youtubei/v1/search")[0].body_json()["query"],
        "never gonna"
    );
    // Empty query → empty; search disabled → not claimed (empty with no request).
    assert!(matches!(sm.load("ytsearch:   "), LoadResult::Empty));
    let before = m.requests().len();
    let off = manager(&m, "[player]\nyoutube_search_enabled = false\n");
    assert!(matches!(off.load("ytsearch:x"), LoadResult::Empty));
    assert!(matches!(off.load("ytmsearch:x"), LoadResult::Empty));
    assert_eq!(m.requests().len(), before);
}

#[test]
fn ytmsearch_reads_the_songs_shelf() {
    let m = Mitm::start(base_router().route("POST", "music.youtube.com", "/youtubei/v1/search", |r| {
        let b = r.body_json();
        assert_eq!(b["context"]["client"]["clientName"], "WEB_REMIX");
        assert_eq!(b["params"], "Eg-KAQwIARAAGAAgACgAMABqChADEAQQCRAFEAo=");
        assert_eq!(r.header("referer"), Some("music.youtube.com"));
        let item = |id: Option<&str>, title: &str, dur: &str| {
            let mut first = json!({"text": title});
            if let Some(id) = id {
                first["navigationEndpoint"] = json!({"watchEndpoint": {"videoId": id, "watchEndpointMusicSupportedConfigs": {}}});
            }
            json!({"musicResponsiveListItemRenderer": {
                "thumbnail": {"musicThumbnailRenderer": {"thumbnail": {"thumbnails": [{"url": "https://lh3.googleusercontent.com/abc=w60-h60-l90-rj", "width": 60}]}}},
                "flexColumns": [
                    {"musicResponsiveListItemFlexColumnRenderer": {"text": {"runs": [first]}}},
                    {"musicResponsiveListItemFlexColumnRenderer": {"text": {"runs": [
                        {"text": "Artist", "navigationEndpoint": {"browseEndpoint": {}}}, {"text": " • "},
                        {"text": "Album", "navigationEndpoint": {"browseEndpoint": {}}}, {"text": " • "}, {"text": dur}]}}}
                ]}})
        };
        MockResponse::json(json!({"contents": {"tabbedSearchResultsRenderer": {"tabs": [{"tabRenderer": {"content": {"sectionListRenderer": {"contents": [
            {"itemSectionRenderer": {"contents": []}},
            {"musicShelfRenderer": {"title": {"runs": [{"text": "Songs"}]}, "contents": [
                item(Some("mmmmmmmmmmm"), "Song", "4:05"),
                item(None, "Not on YouTube", "1:00")
            ]}}
        ]}}}}]}}}))
    }));
    let tracks = match manager(&m, "").load("ytmsearch:song") {
        LoadResult::Search(t) => t,
        other => panic!("{other:?}"),
    };
    assert_eq!(tracks.len(), 1);
    let i = &tracks[0].info;
    assert_eq!(
        (
            i.identifier.as_str(),
            i.title.as_str(),
            i.author.as_str(),
            i.length
        ),
        ("mmmmmmmmmmm", "Song", "Artist", 245_000)
    );
    assert_eq!(
        i.artwork_url.as_deref(),
        Some("https://lh3.googleusercontent.com/abc=w1000-h1000")
    );
    assert_eq!(
        i.uri.as_deref(),
        Some("https://www.youtube.com/watch?v=mmmmmmmmmmm")
    );
}

fn pl_video(id: &str) -> Value {
    json!({"playlistVideoRenderer": {
        "videoId": id, "index": {"simpleText": "1"},
        "title": {"runs": [{"text": format!("Title {id}")}]},
        "shortBylineText": {"runs": [{"text": "Uploader"}]},
        "lengthSeconds": "61", "isPlayable": true,
        "thumbnail": {"thumbnails": [{"url": format!("https://i.ytimg.com/vi/{id}/hqdefault.jpg")}]}
    }})
}

fn continuation_item(token: &str) -> Value {
    json!({"continuationItemRenderer": {"trigger": "CONTINUATION_TRIGGER_ON_ITEM_SHOWN",
        "continuationEndpoint": {"commandExecutorCommand": {"commands": [{"x": 1}, {"continuationCommand": {"token": token, "request": "CONTINUATION_REQUEST_TYPE_BROWSE"}}]}}}})
}

fn playlist_router() -> Router {
    base_router().route("POST", IT, "/youtubei/v1/browse", |r| {
        let b = r.body_json();
        if b["browseId"] == "VLPLmissing" {
            return MockResponse::json(json!({"alerts": [{"alertWithButtonRenderer": {}}, {"alertRenderer": {"type": "ERROR", "text": {"runs": [{"text": "The playlist does not exist."}]}}}]}));
        }
        match b["continuation"].as_str() {
            None => MockResponse::json(json!({
                "metadata": {"playlistMetadataRenderer": {"title": "My List"}},
                "contents": {"twoColumnBrowseResultsRenderer": {"tabs": [{"tabRenderer": {"content": {"sectionListRenderer": {"contents": [{"itemSectionRenderer": {"contents": [{"playlistVideoListRenderer": {"contents": [
                    pl_video("p0000000000"),
                    {"playlistVideoRenderer": {"videoId": "removed0000", "title": {"runs": [{"text": "[Deleted video]"}]}}},
                    pl_video(VID),
                    continuation_item("TOKEN1")
                ]}}]}}]}}}}]}}
            })),
            Some("TOKEN1") => MockResponse::json(json!({"onResponseReceivedActions": [{"appendContinuationItemsAction": {"continuationItems": [
                pl_video("p1111111111"),
                {"continuationItemRenderer": {"continuationEndpoint": {"continuationCommand": {"token": "TOKEN2"}}}}
            ]}}]})),
            Some(_) => MockResponse::json(json!({"onResponseReceivedActions": [{"appendContinuationItemsAction": {"continuationItems": [pl_video("p2222222222")]}}]})),
        }
    })
}

#[test]
fn playlists_follow_continuations_up_to_the_page_limit() {
    let m = Mitm::start(playlist_router());
    let sm = manager(&m, "");
    let LoadResult::Playlist {
        name,
        selected_track,
        tracks,
    } = sm.load("https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=PLtest&index=2")
    else {
        panic!("not a playlist")
    };
    assert_eq!(name, "My List");
    let ids: Vec<&str> = tracks.iter().map(|t| t.info.identifier.as_str()).collect();
    assert_eq!(ids, ["p0000000000", VID, "p1111111111", "p2222222222"]);
    assert_eq!(selected_track, 1);
    assert_eq!(tracks[0].info.length, 61_000);
    assert_eq!(tracks[0].info.author, "Uploader");
    assert_eq!(
        m.requests_to(IT, "/youtubei/v1/browse")[0].body_json()["browseId"],
        "VLPLtest"
    );

    // A limit of 2 pages stops after the first continuation; a bare id has no selection.
    let limited = manager(&m, "[player]\nyoutube_playlist_load_limit = 2\n");
    let LoadResult::Playlist {
        selected_track,
        tracks,
        ..
    } = limited.load("PLtest")
    else {
        panic!("not a playlist")
    };
    assert_eq!((tracks.len(), selected_track), (3, -1));

    let e = expect_error(sm.load("https://www.youtube.com/playlist?list=PLmissing"));
    assert!(e
        .message
        .unwrap()
        .contains("Client [WEB] failed: The playlist does not exist."));
    assert!(m.unrouted().is_empty());
}

#[test]
fn mixes_come_from_next_with_the_seed_selected() {
    let m = Mitm::start(base_router().route("POST", IT, "/youtubei/v1/next", |r| {
        let b = r.body_json();
        assert_eq!((b["videoId"].as_str(), b["playlistId"].as_str()), (Some(VID), Some("RDdQw4w9WgXcQ")));
        let item = |id: &str| json!({"playlistPanelVideoRenderer": {"videoId": id,
            "title": {"simpleText": format!("Mix {id}")}, "longBylineText": {"runs": [{"text": "Band"}]},
            "lengthText": {"simpleText": "2:00"}, "thumbnail": {"thumbnails": []}}});
        MockResponse::json(json!({"contents": {"twoColumnWatchNextResults": {"playlist": {"playlist": {
            "title": "Mix – Never Gonna", "playlistId": "RDdQw4w9WgXcQ",
            "contents": [item("x0000000000"), item(VID), {"automixPreviewVideoRenderer": {}}]}}}}}))
    }));
    let LoadResult::Playlist {
        name,
        selected_track,
        tracks,
    } = manager(&m, "")
        .load("https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=RDdQw4w9WgXcQ&start_radio=1")
    else {
        panic!("not a mix")
    };
    assert_eq!(name, "Mix – Never Gonna");
    assert_eq!(selected_track, 1);
    assert_eq!(tracks.len(), 2);
    assert_eq!(tracks[1].info.length, 120_000);
}

#[test]
fn watch_videos_follows_the_redirect() {
    let m = Mitm::start(
        base_router()
            .route("GET", "www.youtube.com", "/watch_videos", |_| {
                MockResponse::redirect(303, "https://www.youtube.com/watch?v=dQw4w9WgXcQ")
            })
            .route("POST", IT, "/youtubei/v1/player", |_| {
                MockResponse::json(player_ok(VID, "ok"))
            }),
    );
    let t = expect_track(
        manager(&m, "")
            .load("https://www.youtube.com/watch_videos?video_ids=dQw4w9WgXcQ,aaaaaaaaaaa"),
    );
    assert_eq!(t.info.identifier, VID);
}

fn read_all(sm: &SourceManager, t: &TrackData) -> (Vec<u8>, Option<String>) {
    let mut input = sm.open(t).unwrap_or_else(|e| panic!("open: {e}"));
    let mut buf = Vec::new();
    input.reader.read_to_end(&mut buf).unwrap();
    (buf, input.extension)
}

#[test]
fn playback_prefers_opus_from_a_cipherless_client_in_bounded_chunks() {
    let m = Mitm::start(base_router().route("POST", IT, "/youtubei/v1/player", |_| {
        MockResponse::json(player_ok(VID, "ok"))
    }));
    let sm = manager(&m, "[youtube]\nmedia_chunk_bytes = 4096\n");
    let t = expect_track(sm.load(VID));
    let (bytes, ext) = read_all(&sm, &t);
    assert_eq!(bytes, fixture("sine440_48k_stereo_2s.webm"));
    assert_eq!(ext.as_deref(), Some("webm"));
    let media = m.requests_to(MEDIA_HOST, "/videoplayback");
    assert!(media.len() >= 4, "{}", media.len());
    assert_eq!(media[0].param("range"), Some("0-4095"));
    assert_eq!(media[1].param("range"), Some("4096-8191"));
    assert!(media
        .iter()
        .all(|r| r.param("itag") == Some("251") && r.header("range").is_none()));
    // Playback asked VISIONOS (no player script, no PO token).
    let last_player = m.requests_to(IT, "/youtubei/v1/player").pop().unwrap();
    assert_eq!(client_name(&last_player), "VISIONOS");
    assert!(m.unrouted().is_empty());
}

#[test]
fn an_expired_url_mid_track_is_refreshed_and_resumes_at_the_same_byte() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let m = Mitm::start(
        base_router().route("POST", IT, "/youtubei/v1/player", move |_| {
            // The first playback answer's URLs go stale after the first chunk.
            let n = c.fetch_add(1, Ordering::SeqCst);
            MockResponse::json(player_ok(VID, if n == 0 { "stale" } else { "fresh" }))
        }),
    );
    let sm = manager(
        &m,
        "[youtube]\nmedia_chunk_bytes = 5000\nplayback_clients = [\"VISIONOS\"]\n",
    );
    let t = basalt::track::TrackData {
        info: basalt::track::TrackInfo {
            title: "x".into(),
            author: "y".into(),
            length: 1,
            identifier: VID.into(),
            is_stream: false,
            uri: None,
            artwork_url: None,
            isrc: None,
            source_name: "youtube".into(),
        },
        source_data: Vec::new(),
        position: 0,
    };
    let (bytes, _) = read_all(&sm, &t);
    assert_eq!(bytes, fixture("sine440_48k_stereo_2s.webm"));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let media = m.requests_to(MEDIA_HOST, "/videoplayback");
    let refused = media
        .iter()
        .position(|r| r.param("tag") == Some("stale") && r.param("range") == Some("5000-9999"))
        .unwrap();
    let resumed = &media[refused + 1];
    assert_eq!(
        (resumed.param("tag"), resumed.param("range")),
        (Some("fresh"), Some("5000-9999"))
    );
}

#[test]
fn a_refused_format_moves_playback_to_the_next_client() {
    let m = Mitm::start(base_router().route("POST", IT, "/youtubei/v1/player", |r| {
        let tag = if client_name(r) == "VISIONOS" {
            "denied"
        } else {
            "ok"
        };
        MockResponse::json(player_ok(VID, tag))
    }));
    let sm = manager(
        &m,
        "[youtube]\nplayback_clients = [\"VISIONOS\", \"WEB\", \"IOS\"]\n[youtube.cipher]\nembedded = false\n",
    );
    let t = expect_track(sm.load(VID));
    let (bytes, _) = read_all(&sm, &t);
    assert_eq!(bytes, fixture("sine440_48k_stereo_2s.webm"));
    let names: Vec<String> = m
        .requests_to(IT, "/youtubei/v1/player")
        .iter()
        .skip(1)
        .map(client_name)
        .collect();
    // WEB needs the player script and no cipher is configured: skipped without a request.
    assert_eq!(names, ["VISIONOS", "IOS"]);
    // IOS is a streaming-PO-token client: none configured, so no `pot`.
    assert!(m
        .requests_to(MEDIA_HOST, "/")
        .iter()
        .all(|r| r.param("pot").is_none()));

    // Every client failing names each one.
    let sm = manager(
        &m,
        "[youtube]\nplayback_clients = [\"VISIONOS\", \"WEB\"]\n[youtube.cipher]\nembedded = false\n",
    );
    let err = sm.open(&t).err().unwrap().to_string();
    assert!(
        err.contains("Client [VISIONOS] failed: Invalid status code for media: 403"),
        "{err}"
    );
    assert!(
        err.contains("Client [WEB] failed: This client needs the player script"),
        "{err}"
    );
}

#[test]
fn static_po_token_and_visitor_data_are_sent() {
    let m = Mitm::start(base_router().route("POST", IT, "/youtubei/v1/player", |_| {
        MockResponse::json(player_ok(VID, "ok"))
    }));
    let sm = manager(
        &m,
        "[youtube]\npo_token = \"POT+1/x=\"\nvisitor_data = \"VD_STATIC\"\nplayback_clients = [\"IOS\"]\n",
    );
    let t = expect_track(sm.load(VID));
    read_all(&sm, &t);
    let players = m.requests_to(IT, "/youtubei/v1/player");
    // WEB (load): the player token and the paired visitor data in the context.
    let web = players[0].body_json();
    assert_eq!(web["serviceIntegrityDimensions"]["poToken"], "POT+1/x=");
    assert_eq!(web["context"]["client"]["visitorData"], "VD_STATIC");
    // IOS (playback): no visitor_id request, the static visitor data in the header.
    assert!(m.requests_to(IT, "/youtubei/v1/visitor_id").is_empty());
    assert_eq!(players[1].header("x-goog-visitor-id"), Some("VD_STATIC"));
    let media = m.requests_to(MEDIA_HOST, "/videoplayback");
    assert!(media.iter().all(|r| r.param("pot") == Some("POT+1/x=")));
}

#[test]
fn a_minting_service_supplies_streaming_tokens() {
    let m = Mitm::start(
        base_router()
            .route("POST", IT, "/youtubei/v1/player", |_| MockResponse::json(player_ok(VID, "ok")))
            .route("POST", "pot.example", "/mint", |r| {
                MockResponse::json(json!({"poToken": format!("minted-{}", r.body_json()["binding"].as_str().unwrap())}))
            }),
    );
    let sm = manager(&m, "[youtube]\npo_token_mint_url = \"https://pot.example/mint\"\nplayback_clients = [\"IOS\"]\n");
    let t = expect_track(sm.load(VID));
    read_all(&sm, &t);
    let media = m.requests_to(MEDIA_HOST, "/videoplayback");
    assert!(media
        .iter()
        .all(|r| r.param("pot") == Some("minted-dQw4w9WgXcQ")));
}

#[test]
fn client_fields_and_chains_come_from_config() {
    let m = Mitm::start(base_router().route("POST", IT, "/youtubei/v1/player", |_| {
        MockResponse::json(player_ok(VID, "ok"))
    }));
    let sm = manager(
        &m,
        "[youtube]\nvideo_clients = [\"VISIONOS\"]\n[youtube.clients.VISIONOS]\nclient_version = \"9.87\"\nuser_agent = \"TestUA/1\"\nclient_fields = { deviceModel = \"Custom\" }\n",
    );
    expect_track(sm.load(VID));
    let p = &m.requests_to(IT, "/youtubei/v1/player")[0];
    let b = p.body_json();
    assert_eq!(b["context"]["client"]["clientName"], "VISIONOS");
    assert_eq!(b["context"]["client"]["clientVersion"], "9.87");
    assert_eq!(b["context"]["client"]["deviceModel"], "Custom");
    assert_eq!(p.header("user-agent"), Some("TestUA/1"));
    assert_eq!(p.header("x-youtube-client-version"), Some("9.87"));
    // Unknown keys are refused like everywhere else in config.toml.
    let bad = basalt::config::from_parts(
        Some("[server]\npassword = \"x\"\n[youtube]\nnope = 1\n"),
        "t.toml",
        Vec::new(),
    );
    assert!(bad.is_err());
}

#[test]
fn the_bot_wall_flags_the_planner_address_and_retries_from_another() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let m = Mitm::start(
        base_router().route("POST", IT, "/youtubei/v1/player", move |_| {
            if c.fetch_add(1, Ordering::SeqCst) == 0 {
                MockResponse::json(status(
                    "LOGIN_REQUIRED",
                    "Sign in to confirm you’re not a bot",
                ))
            } else {
                MockResponse::json(player_ok(VID, "ok"))
            }
        }),
    );
    let sm = manager(
        &m,
        "[ratelimit]\nip_blocks = [\"127.0.0.0/29\"]\nstrategy = \"RotateOnBan\"\n",
    );
    expect_track(sm.load(VID));
    let players = m.requests_to(IT, "/youtubei/v1/player");
    assert_eq!(players.len(), 2);
    assert_eq!(
        client_name(&players[1]),
        "WEB",
        "retried with the same client"
    );
    assert_ne!(
        players[0].peer, players[1].peer,
        "retried from another address"
    );
}

#[test]
fn info_lists_youtube_and_the_plugin_entry() {
    let v = basalt::source::youtube::info_plugins(&["youtube", "http"]);
    assert_eq!(
        v,
        vec![json!({"name": "youtube-plugin", "version": env!("CARGO_PKG_VERSION")})]
    );
    assert!(basalt::source::youtube::info_plugins(&["http"]).is_empty());
}

const PLAYER_PATH: &str = "/s/player/test0001/player_ias.vflset/en_US/base.js";
const ALPH: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const SIG: &str =
    "AOq0QJ8wRQIhAKkQ9_mh2Kk=XWt.Jt8nFz4fQ2fQ7Yk0h1p6t9iYVg3LAiBv4sX8pVd2a7Pj1xg5M0k9Qh3a8E";
const NCHAL: &str = "kDs8fE2lQpXa9z1m";

/// The transforms of the synthetic test player script (tests/fixtures/youtube).
fn expected_sig(s: &str) -> String {
    let mut a: Vec<char> = s.chars().collect();
    let n = a.len();
    a.swap(0, 7 % n);
    a.reverse();
    a.swap(0, 11 % n);
    a.drain(..3);
    a.into_iter().collect()
}

fn expected_n(s: &str) -> String {
    s.chars()
        .enumerate()
        .map(|(d, c)| {
            let e = ALPH.find(c).unwrap();
            ALPH.as_bytes()[(e * 5 + d * 7 + 3) % 64] as char
        })
        .collect()
}

fn urlenc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn web_playback_solves_signature_and_n_with_the_embedded_cipher() {
    let script = std::fs::read_to_string(format!(
        "{}/tests/fixtures/youtube/player_test.js",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let m = Mitm::start(
        base_router()
            .route("GET", "www.youtube.com", "/embed/", |_| {
                MockResponse::text(
                    &format!("<html><script>ytcfg.set({{\"jsUrl\":\"{}\"}});</script></html>", PLAYER_PATH.replace('/', "\\/")),
                    "text/html; charset=utf-8",
                )
            })
            .route("GET", "www.youtube.com", PLAYER_PATH, move |_| MockResponse::text(&script, "text/javascript"))
            .route("POST", IT, "/youtubei/v1/player", |r| {
                let mut v = player_ok(VID, "ok");
                let sts = &r.body_json()["playbackContext"]["contentPlaybackContext"]["signatureTimestamp"];
                if sts == 20123 {
                    let len = fixture("sine440_48k_stereo_2s.webm").len();
                    let url = format!("https://{MEDIA_HOST}/videoplayback?itag=251&tag=ciph&n={NCHAL}");
                    v["streamingData"]["adaptiveFormats"] = json!([{
                        "itag": 251, "mimeType": "audio/webm; codecs=\"opus\"", "bitrate": 1, "contentLength": len.to_string(),
                        "signatureCipher": format!("s={}&sp=sig&url={}", urlenc(SIG), urlenc(&url))
                    }]);
                }
                MockResponse::json(v)
            }),
    );
    let sm = manager(
        &m,
        "[youtube]\nplayback_clients = [\"WEB\"]\nmedia_chunk_bytes = 6000\n",
    );
    let t = expect_track(sm.load(VID));
    let (bytes, _) = read_all(&sm, &t);
    assert_eq!(bytes, fixture("sine440_48k_stereo_2s.webm"));
    let media = m.requests_to(MEDIA_HOST, "/videoplayback");
    assert!(media.len() >= 3);
    assert!(media.iter().all(|r| r.param("tag") == Some("ciph")));
    // The load asked for metadata only: no player script was needed for it.
    assert!(m.requests_to(IT, "/youtubei/v1/player")[0]
        .body_json()
        .get("playbackContext")
        .is_none());
    assert!(m.unrouted().is_empty(), "{:?}", m.unrouted());
}

#[test]
fn live_videos_are_streams_played_from_the_hls_manifest() {
    let hls_host = "manifest.googlevideo.com";
    let m = Mitm::start(
        base_router()
            .route("POST", IT, "/youtubei/v1/player", move |_| {
                let mut d = details(VID);
                d["isLive"] = json!(true);
                d["lengthSeconds"] = json!("0");
                MockResponse::json(json!({
                    "playabilityStatus": {"status": "OK", "liveStreamability": {}},
                    "streamingData": {
                        "hlsManifestUrl": format!("https://{hls_host}/api/manifest/hls_playlist/id/x/index.m3u8"),
                        "adaptiveFormats": [{"itag": 140, "url": media_url(140, "live"), "mimeType": "audio/mp4; codecs=\"mp4a.40.2\"", "targetDurationSec": 5}]
                    },
                    "videoDetails": d
                }))
            })
            .route("GET", hls_host, "/api/manifest/hls_playlist/id/x/index.m3u8", |_| {
                // A live window: no ENDLIST; it stops growing, so the stream ends.
                MockResponse::text(
                    "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n\
                     #EXTINF:1.0,\nseg0.ts\n#EXTINF:1.0,\nseg1.ts\n",
                    "application/vnd.apple.mpegurl",
                )
            })
            .route("GET", hls_host, "/api/manifest/hls_playlist/id/x/seg*", |r| {
                let name = r.path.rsplit('/').next().unwrap().to_string();
                MockResponse::bytes(fixture(&format!("hls_ts/{name}")), "video/mp2t")
            }),
    );
    let sm = manager(&m, "");
    let t = expect_track(sm.load("https://www.youtube.com/live/dQw4w9WgXcQ"));
    assert!(t.info.is_stream);
    assert_eq!(t.info.length, i64::MAX);
    let mut input = sm.open(&t).unwrap_or_else(|e| panic!("{e}"));
    assert!(input.is_stream);
    let mut buf = vec![0u8; 4096];
    let n = input.reader.read(&mut buf).unwrap();
    assert!(n > 0);
    assert!(!m
        .requests_to(hls_host, "/api/manifest/hls_playlist/id/x/seg0.ts")
        .is_empty());
    assert!(m.unrouted().is_empty(), "{:?}", m.unrouted());
}

fn oauth_router(token_calls: Arc<AtomicUsize>) -> Router {
    base_router()
        .route("POST", IT, "/youtubei/v1/player", |_| MockResponse::json(player_ok(VID, "ok")))
        .route("POST", "www.youtube.com", "/o/oauth2/device/code", |r| {
            let b = r.body_json();
            assert_eq!(b["device_model"], "ytlr::");
            assert_eq!(b["device_id"].as_str().unwrap().len(), 32);
            MockResponse::json(json!({"device_code": "DEV", "user_code": "ABC-DEF",
                "verification_url": "https://www.google.com/device", "interval": 1, "expires_in": 1800}))
        })
        .route("POST", "www.youtube.com", "/o/oauth2/token", move |r| {
            let b = r.body_json();
            let n = token_calls.fetch_add(1, Ordering::SeqCst);
            match b["grant_type"].as_str().unwrap() {
                "refresh_token" => {
                    assert_eq!(b["refresh_token"], "RT-config");
                    assert_eq!(b["client_id"], "CID");
                    MockResponse::json(json!({"access_token": "AT1", "expires_in": 3600, "token_type": "Bearer", "scope": "x"}))
                }
                _ if n == 0 => MockResponse::json(json!({"error": "authorization_pending"})).with_status(428),
                _ => MockResponse::json(json!({"access_token": "AT-dev", "refresh_token": "RT-new", "expires_in": 3600, "token_type": "Bearer"})),
            }
        })
}

const TV_ONLY: &str =
    "playback_clients = [\"TV\"]\n[youtube.clients.TV]\nneeds_player_script = false\n";

#[test]
fn oauth_refresh_token_authorizes_the_tv_client_only() {
    let calls = Arc::new(AtomicUsize::new(0));
    let m = Mitm::start(oauth_router(calls.clone()));
    let sm = manager(
        &m,
        &format!("[youtube]\noauth_refresh_token = \"RT-config\"\noauth_client_id = \"CID\"\noauth_client_secret = \"SEC\"\n{TV_ONLY}"),
    );
    let t = expect_track(sm.load(VID));
    read_all(&sm, &t);
    read_all(&sm, &t);
    let players = m.requests_to(IT, "/youtubei/v1/player");
    // WEB (load) never carries the token; TV (playback) does, without the embed fields.
    assert!(players[0].header("authorization").is_none());
    let tv: Vec<_> = players
        .iter()
        .filter(|r| client_name(r) == "TVHTML5")
        .collect();
    assert_eq!(tv.len(), 2);
    for r in &tv {
        assert_eq!(r.header("authorization"), Some("Bearer AT1"));
        assert!(r.body_json()["context"].get("thirdParty").is_none());
    }
    // One refresh, reused until it nears expiry.
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn oauth_device_flow_polls_until_granted() {
    let calls = Arc::new(AtomicUsize::new(0));
    let m = Mitm::start(oauth_router(calls.clone()));
    let sm = manager(
        &m,
        &format!("[youtube]\noauth_enabled = true\noauth_client_id = \"CID\"\n{TV_ONLY}"),
    );
    poll::wait_until("the device flow to finish", poll::DEADLINE, || {
        calls.load(Ordering::SeqCst) >= 2
    });
    // The grant is stored by the flow's thread: play until a TV request carries it.
    let t = expect_track(sm.load(VID));
    poll::wait_until("the granted token to be used", poll::DEADLINE, || {
        read_all(&sm, &t);
        let tv = m
            .requests_to(IT, "/youtubei/v1/player")
            .into_iter()
            .rfind(|r| client_name(r) == "TVHTML5")
            .unwrap();
        tv.header("authorization") == Some("Bearer AT-dev")
    });
    let polls = m.requests_to("www.youtube.com", "/o/oauth2/token");
    assert_eq!(polls[0].body_json()["code"], "DEV");
    assert_eq!(
        polls[0].body_json()["grant_type"],
        "http://oauth.net/grant_type/device/1.0"
    );
}

/// `/player` answers whose body the connection cuts short for the first `cut` calls.
fn flaky_player(cut: usize) -> (Router, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let r = base_router().route("POST", IT, "/youtubei/v1/player", move |_| {
        let resp = MockResponse::json(player_ok(VID, "ok"));
        if c.fetch_add(1, Ordering::SeqCst) < cut {
            resp.cut_after(40)
        } else {
            resp
        }
    });
    (r, calls)
}

#[test]
fn a_network_error_on_the_last_client_retries_the_whole_load_once() {
    let (r, _) = flaky_player(1);
    let m = Mitm::start(r);
    let sm = manager(&m, "[youtube]\nvideo_clients = [\"WEB\"]\n");
    let t = expect_track(sm.load(VID));
    assert_eq!(t.info.identifier, VID);
    let names: Vec<String> = m
        .requests_to(IT, "/youtubei/v1/player")
        .iter()
        .map(client_name)
        .collect();
    assert_eq!(names, ["WEB", "WEB"], "the whole load ran again");

    // Only once: a second cut ends the load with the client named.
    let (r, calls) = flaky_player(2);
    let m = Mitm::start(r);
    let sm = manager(&m, "[youtube]\nvideo_clients = [\"WEB\"]\n");
    let msg = expect_error(sm.load(VID)).message.unwrap();
    assert!(
        msg.contains("Client [WEB] failed: Invalid JSON for player:"),
        "{msg}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn a_network_error_of_one_client_falls_to_the_next_client() {
    let (r, _) = flaky_player(1);
    let m = Mitm::start(r);
    expect_track(manager(&m, "").load(VID));
    let names: Vec<String> = m
        .requests_to(IT, "/youtubei/v1/player")
        .iter()
        .map(client_name)
        .collect();
    assert_eq!(
        names,
        ["WEB", "VISIONOS"],
        "no whole-load retry once one answered"
    );
}

#[test]
fn an_http_error_is_not_retried_as_a_network_error() {
    let m = Mitm::start(base_router().route("POST", IT, "/youtubei/v1/player", |_| {
        MockResponse::json(json!({"error": {"code": 500}})).with_status(500)
    }));
    let sm = manager(&m, "[youtube]\nvideo_clients = [\"WEB\"]\n");
    let msg = expect_error(sm.load(VID)).message.unwrap();
    assert!(msg.ends_with("Client [WEB] failed: Invalid status code for player: 500"));
    assert_eq!(m.requests_to(IT, "/youtubei/v1/player").len(), 1);
}

#[test]
fn ban_on_bot_wall_false_keeps_lavalinks_429_only_bans() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let m = Mitm::start(
        base_router().route("POST", IT, "/youtubei/v1/player", move |_| {
            match c.fetch_add(1, Ordering::SeqCst) {
                0 => MockResponse::json(status(
                    "LOGIN_REQUIRED",
                    "Sign in to confirm you’re not a bot",
                )),
                1 => MockResponse::status(429),
                _ => MockResponse::json(player_ok(VID, "ok")),
            }
        }),
    );
    let sm = manager(
        &m,
        "[ratelimit]\nip_blocks = [\"127.0.0.0/29\"]\nstrategy = \"RotateOnBan\"\n\
         [youtube]\nban_on_bot_wall = false\nvideo_clients = [\"WEB\", \"MWEB\"]\n",
    );
    expect_track(sm.load(VID));
    let players = m.requests_to(IT, "/youtubei/v1/player");
    let names: Vec<String> = players.iter().map(client_name).collect();
    // The bot wall is an ordinary client failure (no retry from another address); the
    // 429 that follows bans the address and the planner retries from another one.
    assert_eq!(names, ["WEB", "MWEB", "MWEB"]);
    assert_eq!(
        players[0].peer, players[1].peer,
        "the bot wall banned nothing"
    );
    assert_ne!(
        players[1].peer, players[2].peer,
        "429 moved to another address"
    );
}

/// ANDROID's playlist header: the title sits deep in a `pageHeaderViewModel` wrapped in
/// an element renderer; videos sit directly under `sectionListRenderer.contents[0]`.
fn android_playlist_page(videos: Vec<Value>, next: Option<&str>) -> Value {
    let mut list = json!({"contents": videos, "playlistId": "PLandroid", "isEditable": false,
        "canReorder": false, "trackingParams": "CAEQ"});
    if let Some(t) = next {
        list["continuations"] =
            json!([{"nextContinuationData": {"continuation": t, "clickTrackingParams": "CAA="}}]);
    }
    json!({
        "responseContext": {"visitorData": "Cgt2", "serviceTrackingParams": [{"service": "GFEEDBACK", "params": []}]},
        "header": {"pageHeaderRenderer": {"pageTitle": null, "content": {"elementRenderer": {"newElement": {"type": {"componentType": {"model": {"youtubeModel": {"viewModel": {"pageHeaderViewModel": {
            "title": {"dynamicTextViewModel": {"text": {"content": "Android \"Quoted\" List – ✓", "styleRuns": []}, "rendererContext": {}}},
            "metadata": {"contentMetadataViewModel": {"metadataRows": [{"metadataParts": [{"text": {"content": "by Someone"}}]}]}},
            "image": {"contentPreviewImageViewModel": {"image": {"sources": []}}}
        }}}}}}, "properties": {"identifierProperties": {"identifier": "playlist_header"}}}}, "loggingDirectives": {}}}},
        "contents": {"singleColumnBrowseResultsRenderer": {"tabs": [{"tabRenderer": {"selected": true, "content": {"sectionListRenderer": {"contents": [
            {"playlistVideoListRenderer": list}
        ], "trackingParams": "CAQ"}}}}]}},
        "trackingParams": "CAAQhGciEwi"
    })
}

#[test]
fn android_playlists_take_the_name_from_the_page_header_view_model() {
    let m = Mitm::start(base_router().route("POST", IT, "/youtubei/v1/browse", |r| {
        let b = r.body_json();
        assert_eq!(client_name(r), "ANDROID");
        match b["continuation"].as_str() {
            None => MockResponse::json(android_playlist_page(
                vec![pl_video("a0000000000"), pl_video(VID)],
                Some("ANDTOKEN"),
            )),
            Some("ANDTOKEN") => MockResponse::json(json!({
                "responseContext": {},
                "continuationContents": {"playlistVideoListContinuation": {"contents": [pl_video("a1111111111")], "trackingParams": "x"}}
            })),
            Some(t) => panic!("unexpected token {t}"),
        }
    }));
    let sm = manager(&m, "[youtube]\nplaylist_clients = [\"ANDROID\"]\n");
    let LoadResult::Playlist {
        name,
        selected_track,
        tracks,
    } = sm.load("https://m.youtube.com/watch?v=dQw4w9WgXcQ&list=PLandroid")
    else {
        panic!("not a playlist")
    };
    assert_eq!(name, "Android \"Quoted\" List – ✓");
    let ids: Vec<&str> = tracks.iter().map(|t| t.info.identifier.as_str()).collect();
    assert_eq!(ids, ["a0000000000", VID, "a1111111111"]);
    assert_eq!(selected_track, 1);
    assert!(m.unrouted().is_empty(), "{:?}", m.unrouted());
}

#[test]
fn android_music_mixes_come_from_the_up_next_tab() {
    let m = Mitm::start(base_router().route("POST", IT, "/youtubei/v1/next", |r| {
        assert_eq!(client_name(r), "ANDROID_MUSIC");
        let item = |id: &str, len: &str| json!({"playlistPanelVideoRenderer": {
            "title": {"runs": [{"text": format!("Song {id}")}]},
            "longBylineText": {"runs": [{"text": "Artist", "navigationEndpoint": {"browseEndpoint": {"browseId": "UCa"}}}, {"text": " • "}, {"text": "Album"}]},
            "thumbnail": {"thumbnails": [{"url": format!("https://i.ytimg.com/vi/{id}/sddefault.jpg"), "width": 640}]},
            "lengthText": {"runs": [{"text": len}], "accessibility": {"accessibilityData": {"label": "3 minutes"}}},
            "selected": false, "videoId": id, "playlistSetVideoId": "abc",
            "navigationEndpoint": {"watchEndpoint": {"videoId": id, "playlistId": "RDAMVMdQw4w9WgXcQ"}}
        }});
        MockResponse::json(json!({
            "responseContext": {"visitorData": "Cgt2"},
            "contents": {"singleColumnMusicWatchNextResultsRenderer": {"tabbedRenderer": {"watchNextTabbedResultsRenderer": {"tabs": [
                {"tabRenderer": {"title": "Up next", "content": {"musicQueueRenderer": {"content": {"playlistPanelRenderer": {
                    "title": "Mix – Rick Astley", "playlistId": "RDAMVMdQw4w9WgXcQ", "isInfinite": true,
                    "contents": [item(VID, "3:33"), {"automixPreviewVideoRenderer": {"content": {}}}, item("m0000000000", "4:05")]
                }}, "hack": true}}, "trackingParams": "a"}},
                {"tabRenderer": {"title": "Lyrics", "endpoint": {"browseEndpoint": {"browseId": "MPLY"}}, "unselectable": true}},
                {"tabRenderer": {"title": "Related", "endpoint": {"browseEndpoint": {"browseId": "MPTR"}}}}
            ]}}}},
            "currentVideoEndpoint": {"watchEndpoint": {"videoId": VID}}
        }))
    }));
    let sm = manager(&m, "[youtube]\nplaylist_clients = [\"ANDROID_MUSIC\"]\n");
    let LoadResult::Playlist {
        name,
        selected_track,
        tracks,
    } = sm.load("https://music.youtube.com/watch?v=dQw4w9WgXcQ&list=RDAMVMdQw4w9WgXcQ")
    else {
        panic!("not a mix")
    };
    assert_eq!(name, "Mix – Rick Astley");
    let ids: Vec<&str> = tracks.iter().map(|t| t.info.identifier.as_str()).collect();
    assert_eq!(ids, [VID, "m0000000000"]);
    assert_eq!(selected_track, 0);
    assert_eq!(tracks[1].info.length, 245_000);
    assert_eq!(tracks[1].info.author, "Artist");
}

/// youtube.com's home page in its real shape: several `ytcfg.set` calls, escaped
/// strings, the big configuration object last.
fn home_page(version: &str) -> String {
    format!(
        r#"<!DOCTYPE html><html style="font-size: 10px;font-family: Roboto, Arial, sans-serif;" lang="en" system-icons typography><head><script data-id="_gd" nonce="n1">window.WIZ_global_data = {{"MuJWjd":false}};</script><script nonce="n2">var ytcfg={{d:function(){{return window.yt&&yt.config_||ytcfg.data_||(ytcfg.data_={{}})}},set:function(){{}}}};
ytcfg.set({{"CSI_SERVICE_NAME": 'youtube', "TIMING_INFO": {{}}}});window.ytcfg.set('EMERGENCY_BASE_URL', '\/error_204?t\x3djserror');</script>
<script nonce="n3">(function() {{window.ytplayer={{}};
ytcfg.set({{"CLIENT_CANARY_STATE":"none","DEVICE":"cbr\u003dChrome\u0026cbrver\u003d131.0","HL":"en","INNERTUBE_API_KEY":"AIzaTest","INNERTUBE_CLIENT_NAME":"WEB","INNERTUBE_CLIENT_VERSION":"{version}","INNERTUBE_CONTEXT":{{"client":{{"hl":"en","gl":"US","remoteHost":"192.0.2.1","visitorData":"CgtWaXNpdG9y","userAgent":"Mozilla/5.0,gzip(gfe)","clientName":"WEB","clientVersion":"{version}","osName":"X11","platform":"DESKTOP","clientFormFactor":"UNKNOWN_FORM_FACTOR","originalUrl":"https://www.youtube.com/"}},"user":{{"lockedSafetyMode":false}},"request":{{"useSsl":true}}}},"LATEST_ECATCHER_SERVICE_TRACKING_PARAMS":{{"client.name":"WEB"}},"XSRF_FIELD_NAME":"session_token"}}); window.ytcfg.obfuscatedData_ = [];}})();</script></head><body></body></html>"#
    )
}

#[test]
fn web_takes_its_client_version_from_the_page_ytcfg_once() {
    let m = Mitm::start(
        base_router()
            .route("GET", "www.youtube.com", "/", |_| {
                MockResponse::text(&home_page("2.20260902.01.00"), "text/html; charset=utf-8")
            })
            .route("POST", IT, "/youtubei/v1/player", |_| {
                MockResponse::json(player_ok(VID, "ok"))
            }),
    );
    let sm = manager(
        &m,
        "[youtube]\nweb_version_from_page = true\nvideo_clients = [\"WEB\", \"MWEB\"]\n",
    );
    expect_track(sm.load(VID));
    expect_track(sm.load("https://youtu.be/dQw4w9WgXcQ"));
    let players = m.requests_to(IT, "/youtubei/v1/player");
    assert_eq!(players.len(), 2);
    for p in &players {
        assert_eq!(
            p.body_json()["context"]["client"]["clientVersion"],
            "2.20260902.01.00"
        );
        assert_eq!(
            p.header("x-youtube-client-version"),
            Some("2.20260902.01.00")
        );
    }
    let pages = m.requests_to("www.youtube.com", "/");
    assert_eq!(pages.len(), 1, "the page is fetched once per process");
    assert!(pages[0]
        .header("cookie")
        .is_some_and(|c| c.contains("CONSENT=YES")));
    assert!(m.unrouted().is_empty(), "{:?}", m.unrouted());

    // Off (the default): no page fetch, the built-in version.
    let m = Mitm::start(base_router().route("POST", IT, "/youtubei/v1/player", |_| {
        MockResponse::json(player_ok(VID, "ok"))
    }));
    expect_track(manager(&m, "").load(VID));
    assert_eq!(
        m.requests_to(IT, "/youtubei/v1/player")[0].body_json()["context"]["client"]
            ["clientVersion"],
        "2.20250403.01.00"
    );
}

#[test]
fn a_page_without_ytcfg_keeps_the_built_in_web_version() {
    let m = Mitm::start(
        base_router()
            .route("GET", "www.youtube.com", "/", |_| {
                MockResponse::text(
                    "<html><body>Before you continue to YouTube</body></html>",
                    "text/html",
                )
            })
            .route("POST", IT, "/youtubei/v1/player", |_| {
                MockResponse::json(player_ok(VID, "ok"))
            }),
    );
    let sm = manager(&m, "[youtube]\nweb_version_from_page = true\n");
    expect_track(sm.load(VID));
    assert_eq!(
        m.requests_to(IT, "/youtubei/v1/player")[0].body_json()["context"]["client"]
            ["clientVersion"],
        "2.20250403.01.00"
    );
}

const LIVE_HOST: &str = "rr3---sn-live.googlevideo.com";
const LIVE_HOST2: &str = "rr4---sn-live2.googlevideo.com";

/// One YouTube live segment: self-initialising fragmented MP4 (`ftyp`, `moov`), an
/// `emsg` carrying the sequence lines, then the fragment (`styp`, `sidx`, `moof`, `mdat`).
fn live_segment(i: usize, sequence: u64) -> Vec<u8> {
    let mut emsg_payload = vec![0u8; 4]; // version 0, flags
    emsg_payload.extend_from_slice(b"urn:mpeg:dash:event:2012\0\0");
    emsg_payload.extend_from_slice(&[0, 0, 0x03, 0xe8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    emsg_payload.extend_from_slice(
        format!(
            "Sequence-Number: {sequence}\r\nIngestion-Walltime-Us: 1764892800000000\r\n\
             Ingestion-Uncertainty-Us: 85\r\nTarget-Duration-Us: 1000000\r\n\
             Stream-Duration-Us: {}\r\nMax-Dvr-Duration-Us: 14400000000\r\n",
            sequence * 1_000_000
        )
        .as_bytes(),
    );
    let mut emsg = ((emsg_payload.len() + 8) as u32).to_be_bytes().to_vec();
    emsg.extend_from_slice(b"emsg");
    emsg.extend_from_slice(&emsg_payload);
    [
        fixture("hls_fmp4/init.mp4"),
        emsg,
        fixture(&format!("hls_fmp4/seg{i}.m4s")),
    ]
    .concat()
}

/// googlevideo's live format: no `sq` → the newest segment (sequence 7000) after a
/// redirect to another host; `sq` 7001..7003 the following ones; later ones 204.
fn live_media(r: &MockRequest) -> MockResponse {
    assert_eq!(r.param("rbuf"), Some("0"));
    assert!(r.param("rn").is_some());
    match r.param("sq").map(|s| s.parse::<u64>().unwrap()) {
        None if r.host == LIVE_HOST => MockResponse::redirect(
            302,
            &format!(
                "https://{LIVE_HOST2}/videoplayback?itag=140&source=yt_live_broadcast&rn=0&rbuf=0"
            ),
        ),
        None => MockResponse::bytes(live_segment(0, 7000), "audio/mp4"),
        Some(sq @ 7001..=7003) => {
            MockResponse::bytes(live_segment((sq - 7000) as usize, sq), "audio/mp4")
        }
        Some(_) => MockResponse::status(204),
    }
}

#[test]
fn live_without_a_manifest_plays_sq_segments_until_the_stream_ends() {
    let m = Mitm::start(
        base_router()
            .route("POST", IT, "/youtubei/v1/player", |_| {
                let mut d = details(VID);
                d["isLive"] = json!(true);
                d["isLiveContent"] = json!(true);
                d["lengthSeconds"] = json!("0");
                MockResponse::json(json!({
                    "playabilityStatus": {"status": "OK", "playableInEmbed": true, "liveStreamability": {"liveStreamabilityRenderer": {"videoId": VID, "pollDelayMs": "5000"}}},
                    "streamingData": {
                        "expiresInSeconds": "21540",
                        "adaptiveFormats": [
                            {"itag": 137, "url": format!("https://{LIVE_HOST}/videoplayback?itag=137&source=yt_live_broadcast"), "mimeType": "video/mp4; codecs=\"avc1.640028\"", "bitrate": 4000000, "targetDurationSec": 1, "maxDvrDurationSec": 14400},
                            {"itag": 140, "url": format!("https://{LIVE_HOST}/videoplayback?itag=140&source=yt_live_broadcast"), "mimeType": "audio/mp4; codecs=\"mp4a.40.2\"", "bitrate": 144000, "audioQuality": "AUDIO_QUALITY_MEDIUM", "audioSampleRate": "44100", "audioChannels": 2, "targetDurationSec": 1, "maxDvrDurationSec": 14400}
                        ]
                    },
                    "videoDetails": d
                }))
            })
            .route("GET", LIVE_HOST, "/videoplayback", live_media)
            .route("GET", LIVE_HOST2, "/videoplayback", live_media),
    );
    let sm = manager(&m, "");
    let t = expect_track(sm.load(VID));
    assert!(t.info.is_stream);
    let input = sm.open(&t).unwrap_or_else(|e| panic!("{e}"));
    assert!(input.is_stream && !input.reader.is_seekable());

    // The decoder reads one fragmented MP4 holding every segment's audio (3 s at 44.1 kHz)
    // straight from the live reader, as the engine does.
    let samples = decode_mp4_frames(input.reader);
    assert!(
        (128_000..=136_000).contains(&samples),
        "{samples} frames decoded"
    );
    let seg = m.requests_to(LIVE_HOST2, "/videoplayback");
    let sqs: Vec<Option<&str>> = seg.iter().map(|r| r.param("sq")).collect();
    assert_eq!(&sqs[..4], [None, Some("7001"), Some("7002"), Some("7003")]);
    // Ended after empty answers retried for ~400 ms (50 ms apart), all on the final host.
    assert!(sqs[4..].iter().all(|s| *s == Some("7004")) && sqs.len() >= 6);
    assert_eq!(m.requests_to(LIVE_HOST, "/videoplayback").len(), 1);
    let rns: Vec<&str> = seg.iter().map(|r| r.param("rn").unwrap()).collect();
    assert_eq!(&rns[1..4], ["1", "2", "3"]);
    assert!(m.unrouted().is_empty(), "{:?}", m.unrouted());
}

#[test]
fn a_live_webm_format_is_refused_with_youtube_sources_message() {
    let m = Mitm::start(base_router().route("POST", IT, "/youtubei/v1/player", |_| {
        let mut d = details(VID);
        d["isLive"] = json!(true);
        MockResponse::json(json!({
            "playabilityStatus": {"status": "OK"},
            "streamingData": {"adaptiveFormats": [
                {"itag": 251, "url": format!("https://{LIVE_HOST}/videoplayback?itag=251"), "mimeType": "audio/webm; codecs=\"opus\"", "bitrate": 160000}
            ]},
            "videoDetails": d
        }))
    }));
    let sm = manager(&m, "[youtube]\nplayback_clients = [\"VISIONOS\"]\n");
    let t = expect_track(sm.load(VID));
    let msg = sm.open(&t).err().expect("refused").to_string();
    assert!(
        msg.contains("Client [VISIONOS] failed: YouTube WebM streams are currently not supported."),
        "{msg}"
    );
}

/// Decodes an MP4/AAC byte stream and counts its frames.
fn decode_mp4_frames(reader: Box<dyn symphonia::core::io::MediaSource>) -> u64 {
    use symphonia::core::codecs::audio::AudioDecoderOptions;
    use symphonia::core::formats::probe::Hint;
    use symphonia::core::formats::{FormatOptions, TrackType};
    use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
    use symphonia::core::meta::MetadataOptions;
    let mss = MediaSourceStream::new(reader, MediaSourceStreamOptions::default());
    let mut hint = Hint::new();
    hint.with_extension("mp4");
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .unwrap();
    let track = format.default_track(TrackType::Audio).unwrap();
    let params = track
        .codec_params
        .as_ref()
        .unwrap()
        .audio()
        .unwrap()
        .clone();
    let mut dec = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .unwrap();
    let mut frames = 0u64;
    while let Ok(Some(p)) = format.next_packet() {
        if let Ok(b) = dec.decode(&p) {
            frames += b.frames() as u64;
        }
    }
    frames
}
