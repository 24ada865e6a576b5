//! A mock of SoundCloud for tests (sources.md §11.3): the home page with asset scripts, one
//! of them holding the web client id; api-v2 `resolve`, `tracks?ids=`, `search/tracks`,
//! `users/<id>/likes` and media lookups answering in the service's full JSON shapes (extra
//! fields, nulls, unicode, escaped slashes); the CDN serving a progressive MP3, an HLS MP3
//! playlist and an HLS AAC (fMP4 with init section) playlist with signed-looking URLs.
//! Everything is synthetic; the audio is the repository's sine fixtures.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

use super::mitm::{MockResponse, Router};

pub const CLIENT_ID: &str = "TESTCLIENTID000000000000000000000";
pub const STALE_ID: &str = "STALECLIENTID0000000000000000000";
const SIG: &str = "Policy=eyJTdGF0ZW1lbnQiOlt7IlJlc291cmNlIjoiKiJ9XX0_&Signature=Zm9vYmFy~c2lnbmF0dXJl&Key-Pair-Id=APKAI6TU7MMXM5DG6EPQ";

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// MPEG-1 Layer III frames of an MP3 file (ID3 tag skipped).
pub fn mp3_frames(file: &[u8]) -> Vec<&[u8]> {
    let mut pos = 0;
    if file.starts_with(b"ID3") {
        let size = file[6..10]
            .iter()
            .fold(0usize, |a, &x| (a << 7) | (x & 0x7F) as usize);
        pos = 10 + size;
    }
    const BITRATES: [u32; 15] = [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    ];
    const RATES: [u32; 3] = [44100, 48000, 32000];
    let mut frames = Vec::new();
    while pos + 4 <= file.len() {
        let h = &file[pos..pos + 4];
        assert!(
            h[0] == 0xFF && h[1] & 0xFE == 0xFA,
            "MPEG-1 Layer III frame"
        );
        let br = BITRATES[(h[2] >> 4) as usize] * 1000;
        let sr = RATES[((h[2] >> 2) & 3) as usize];
        let pad = ((h[2] >> 1) & 1) as u32;
        let len = (144 * br / sr + pad) as usize;
        frames.push(&file[pos..(pos + len).min(file.len())]);
        pos += len;
    }
    frames
}

/// The 48 kHz MP3 fixture cut into `n` HLS segments at frame boundaries, each with an ID3
/// timestamp tag as packed-audio segments carry: (bytes, seconds).
pub fn mp3_segments(n: usize) -> Vec<(Vec<u8>, f64)> {
    let file = fixture("sine440_48k_stereo_2s_id3.mp3");
    let frames = mp3_frames(&file);
    let per = frames.len().div_ceil(n);
    frames
        .chunks(per)
        .map(|c| {
            // ID3v2.4 with one PRIV frame (the HLS timestamp owner), 63 bytes of body.
            let mut seg = b"ID3\x04\x00\x00\x00\x00\x00\x3F".to_vec();
            seg.extend_from_slice(b"PRIV\x00\x00\x00\x35\x00\x00");
            seg.extend_from_slice(b"com.apple.streaming.transportStreamTimestamp\x00");
            seg.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
            for f in c {
                seg.extend_from_slice(f);
            }
            (seg, c.len() as f64 * 1152.0 / 48000.0)
        })
        .collect()
}

pub struct Fmt {
    pub protocol: &'static str,
    pub mime: &'static str,
    pub preset: &'static str,
    pub path: &'static str,
}

pub const PROGRESSIVE: Fmt = Fmt {
    protocol: "progressive",
    mime: "audio/mpeg",
    preset: "mp3_1_0",
    path: "stream/progressive",
};
pub const HLS_MP3: Fmt = Fmt {
    protocol: "hls",
    mime: "audio/mpeg",
    preset: "mp3_1_0",
    path: "stream/hls",
};
pub const HLS_AAC: Fmt = Fmt {
    protocol: "hls",
    mime: "audio/mp4; codecs=\"mp4a.40.2\"",
    preset: "aac_160k",
    path: "stream/hls",
};
pub const HLS_OPUS_OLD: Fmt = Fmt {
    protocol: "hls",
    mime: "audio/ogg",
    preset: "opus_0_0",
    path: "stream/hls",
};
pub const HLS_OPUS: Fmt = Fmt {
    protocol: "hls",
    mime: "audio/ogg; codecs=\"opus\"",
    preset: "opus_0_0",
    path: "stream/hls",
};
pub const CTR_AAC: Fmt = Fmt {
    protocol: "ctr-encrypted-hls",
    mime: "audio/mp4; codecs=\"mp4a.40.2\"",
    preset: "aac_160k",
    path: "stream/hls",
};

/// The lookup URL of a transcoding (what identifiers carry after their prefix).
pub fn lookup_url(id: u64, f: &Fmt) -> String {
    let uuid = match (f.protocol, f.preset) {
        ("progressive", _) => "1d3c2b8e-7c55-4f5a-9d3e-0b1f2c3d4e5f",
        ("hls", "mp3_1_0") => "0a9b8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d",
        ("hls", "aac_160k") => "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a",
        (_, "aac_160k") => "c0ffee00-1111-4222-8333-444455556666",
        _ => "352a4b90-7619-43a9-bb8b-221314c1c63a",
    };
    format!(
        "https://api-v2.soundcloud.com/media/soundcloud:tracks:{id}/{uuid}/{}",
        f.path
    )
}

fn user(username: &str, id: u64) -> Value {
    json!({
        "avatar_url": format!("https://i1.sndcdn.com/avatars-000{id}-x1y2z3-large.jpg"),
        "first_name": "",
        "followers_count": 1234,
        "full_name": "",
        "id": id,
        "kind": "user",
        "last_modified": "2024-11-02T10:11:12Z",
        "last_name": "",
        "permalink": username.to_lowercase(),
        "permalink_url": format!("https://soundcloud.com/{}", username.to_lowercase()),
        "uri": format!("https://api.soundcloud.com/users/{id}"),
        "urn": format!("soundcloud:users:{id}"),
        "username": username,
        "verified": false,
        "city": "Zürich",
        "country_code": null,
        "badges": {"pro": false, "creator_mid_tier": false, "pro_unlimited": true, "verified": false},
        "station_urn": format!("soundcloud:system-playlists:artist-stations:{id}"),
        "station_permalink": format!("artist-stations:{id}")
    })
}

/// A track object as api-v2 returns it.
pub struct TrackSpec<'a> {
    pub id: u64,
    pub title: &'a str,
    pub user: &'a str,
    pub slug: &'a str,
    pub full_duration: u64,
    pub artwork: Option<&'a str>,
    pub isrc: Option<&'a str>,
    pub formats: Vec<&'a Fmt>,
    pub policy: &'a str,
    pub monetization: &'a str,
}

impl<'a> TrackSpec<'a> {
    pub fn new(id: u64, title: &'a str, user: &'a str, slug: &'a str) -> TrackSpec<'a> {
        TrackSpec {
            id,
            title,
            user,
            slug,
            full_duration: 2040,
            artwork: None,
            isrc: None,
            formats: vec![&HLS_AAC, &HLS_MP3, &PROGRESSIVE],
            policy: "ALLOW",
            monetization: "AD_SUPPORTED",
        }
    }

    pub fn permalink(&self) -> String {
        format!(
            "https://soundcloud.com/{}/{}",
            self.user.to_lowercase(),
            self.slug
        )
    }

    pub fn json(&self) -> Value {
        let preview = self.monetization == "SUB_HIGH_TIER";
        let duration = if preview { 30000 } else { self.full_duration };
        let transcodings: Vec<Value> = self
            .formats
            .iter()
            .map(|f| {
                json!({
                    "url": lookup_url(self.id, f),
                    "preset": f.preset,
                    "duration": duration,
                    "snipped": preview,
                    "format": {"protocol": f.protocol, "mime_type": f.mime},
                    "quality": if f.preset == "aac_160k" { "hq" } else { "sq" },
                    "is_legacy_transcoding": f.preset != "aac_160k"
                })
            })
            .collect();
        json!({
            "artwork_url": self.artwork,
            "caption": null,
            "commentable": true,
            "comment_count": 12,
            "created_at": "2023-05-06T07:08:09Z",
            "description": "line one\nline two \u{2014} \"quoted\" & <b>tags</b>",
            "downloadable": false,
            "download_count": 0,
            "duration": duration,
            "full_duration": self.full_duration,
            "embeddable_by": "all",
            "genre": "Electronic",
            "has_downloads_left": false,
            "id": self.id,
            "kind": "track",
            "label_name": null,
            "last_modified": "2024-01-02T03:04:05Z",
            "license": "all-rights-reserved",
            "likes_count": 4321,
            "permalink": self.slug,
            "permalink_url": self.permalink(),
            "playback_count": 98765,
            "public": true,
            "publisher_metadata": {
                "id": self.id,
                "urn": format!("soundcloud:tracks:{}", self.id),
                "artist": self.user,
                "album_title": "Synthetic Album",
                "contains_music": true,
                "upc_or_ean": "0000000000000",
                "isrc": self.isrc,
                "explicit": false,
                "p_line": "2023 Basalt Fixtures",
                "p_line_for_display": "\u{2117} 2023 Basalt Fixtures",
                "c_line": "2023 Basalt Fixtures",
                "c_line_for_display": "\u{a9} 2023 Basalt Fixtures",
                "release_title": self.title
            },
            "purchase_title": null,
            "purchase_url": null,
            "release_date": "2023-05-05T00:00:00Z",
            "reposts_count": 21,
            "secret_token": null,
            "sharing": "public",
            "state": "finished",
            "streamable": true,
            "tag_list": "synthetic \"test tone\"",
            "title": self.title,
            "track_format": "single-track",
            "uri": format!("https://api.soundcloud.com/tracks/{}", self.id),
            "urn": format!("soundcloud:tracks:{}", self.id),
            "user_id": 1000 + self.id,
            "visuals": null,
            "waveform_url": format!("https://wave.sndcdn.com/w{}_m.json", self.id),
            "display_date": "2023-05-06T07:08:09Z",
            "media": {"transcodings": transcodings},
            "station_urn": format!("soundcloud:system-playlists:track-stations:{}", self.id),
            "station_permalink": format!("track-stations:{}", self.id),
            "track_authorization": format!("eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.{}.sig", self.id),
            "monetization_model": self.monetization,
            "policy": self.policy,
            "user": user(self.user, 1000 + self.id)
        })
    }
}

/// The home page: a dozen asset scripts; the id sits in the ninth (lavaplayer takes the last
/// of the first nine), a decoy `_client_id` in another.
pub fn home_html() -> String {
    let mut s = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\" class=\"no-js\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>SoundCloud \u{2013} Hear the world\u{2019}s sounds</title>\n\
         <link rel=\"preconnect\" href=\"https://a-v2.sndcdn.com\" crossorigin>\n\
         <script>window.__sc_version=\"1733300000\"</script>\n</head>\n<body>\n<div id=\"app\"></div>\n",
    );
    for i in 0..12 {
        s.push_str(&format!(
            "<script crossorigin src=\"https://a-v2.sndcdn.com/assets/{i}-{:08x}.js\"></script>\n",
            0x3c9e_4d57u32.wrapping_mul(i + 1)
        ));
    }
    s.push_str("</body>\n</html>\n");
    s
}

fn script(i: u32) -> String {
    if i == 8 {
        format!(
            "(self.webpackChunk=self.webpackChunk||[]).push([[{i}],{{77:function(e,t,n){{\"use strict\";\
             var r={{_client_id:\"NOT_THIS_ONE\",api:\"https://api-v2.soundcloud.com\"}};\
             e.exports={{env:\"production\",client_id:\"{CLIENT_ID}\",sentry:{{dsn:\"x\"}}}}}}}}]);"
        )
    } else {
        format!("(self.webpackChunk=self.webpackChunk||[]).push([[{i}],{{1:function(){{}}}}]);")
    }
}

/// CDN URLs of the media behind each lookup.
pub fn media_url(id: u64, f: &Fmt) -> String {
    match (f.protocol, f.preset) {
        ("progressive", _) => format!("https://cf-media.sndcdn.com/aBcD{id}.128.mp3?{SIG}"),
        ("hls", "aac_160k") => format!(
            "https://playback.media-streaming.soundcloud.cloud/aBcD{id}/aac_160k/9f8e7d6c/playlist.m3u8?expires=1733300000&{SIG}"
        ),
        _ => format!("https://cf-hls-media.sndcdn.com/playlist/aBcD{id}.128.mp3/playlist.m3u8?{SIG}"),
    }
}

/// Counters the tests look at.
#[derive(Default)]
pub struct Counters {
    pub scrapes: AtomicUsize,
    pub rejected: AtomicUsize,
}

/// A mock SoundCloud serving `tracks` (resolvable by permalink) plus sets, likes, search.
pub struct ScMock {
    pub tracks: Vec<Value>,
    pub sets: Vec<(String, Value)>,
    pub counters: Arc<Counters>,
}

fn find_track(tracks: &[Value], id: &str) -> Option<Value> {
    let id: u64 = id.parse().ok()?;
    tracks
        .iter()
        .find(|t| t["id"].as_u64() == Some(id))
        .cloned()
}

impl ScMock {
    pub fn router(&self) -> Router {
        let tracks = Arc::new(self.tracks.clone());
        let sets = Arc::new(self.sets.clone());
        let counters = self.counters.clone();
        let c2 = counters.clone();
        let (t1, t2, t3, t4, t5) = (
            tracks.clone(),
            tracks.clone(),
            tracks.clone(),
            tracks.clone(),
            tracks.clone(),
        );
        let check_id = move |r: &super::mitm::MockRequest| -> Option<MockResponse> {
            match r.param("client_id") {
                Some(CLIENT_ID) => None,
                _ => {
                    c2.rejected.fetch_add(1, Ordering::SeqCst);
                    Some(
                        MockResponse::json(json!({"code": 401, "message": "", "link": "https://developers.soundcloud.com/docs/api/explorer/open-api", "status": "401 - Unauthorized", "errors": [{"error_message": "invalid_client"}], "error": null}))
                            .with_status(401),
                    )
                }
            }
        };
        let check = Arc::new(check_id);
        let (k1, k2, k3, k4, k5) = (
            check.clone(),
            check.clone(),
            check.clone(),
            check.clone(),
            check.clone(),
        );
        Router::new()
            .route("GET", "soundcloud.com", "/", move |_| {
                counters.scrapes.fetch_add(1, Ordering::SeqCst);
                MockResponse::text(&home_html(), "text/html; charset=utf-8")
            })
            .route("GET", "a-v2.sndcdn.com", "/assets/*", |r| {
                let i: u32 = r.path["/assets/".len()..]
                    .split('-')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(99);
                MockResponse::text(&script(i), "application/javascript")
            })
            .route("GET", "api-v2.soundcloud.com", "/resolve", move |r| {
                if let Some(resp) = k1(r) {
                    return resp;
                }
                let url = r.param("url").unwrap_or("").replace("://m.", "://");
                let url = url.split('?').next().unwrap_or("").trim_end_matches('/').to_string();
                if let Some(t) = t1.iter().find(|t| t["permalink_url"] == json!(url)) {
                    return MockResponse::json(t.clone());
                }
                if let Some((_, s)) = sets.iter().find(|(u, _)| *u == url) {
                    return MockResponse::json(s.clone());
                }
                MockResponse::json(json!({"code": 404, "message": "404 - Not Found", "link": "https://developers.soundcloud.com/docs/api/explorer/open-api", "status": "404 - Not Found", "errors": [], "error": null})).with_status(404)
            })
            .route("GET", "api-v2.soundcloud.com", "/tracks", move |r| {
                if let Some(resp) = k2(r) {
                    return resp;
                }
                // Answers in its own order (by id descending), not the order asked.
                let mut found: Vec<Value> = r
                    .param("ids")
                    .unwrap_or("")
                    .split(',')
                    .filter_map(|id| find_track(&t2, id))
                    .collect();
                found.sort_by_key(|t| std::cmp::Reverse(t["id"].as_u64()));
                MockResponse::json(Value::Array(found))
            })
            .route("GET", "api-v2.soundcloud.com", "/search/tracks", move |r| {
                if let Some(resp) = k3(r) {
                    return resp;
                }
                let q = r.param("q").unwrap_or("");
                let hits: Vec<Value> = if q == "nothing at all" {
                    Vec::new()
                } else {
                    t3.iter().take(2).cloned().collect()
                };
                let mut collection: Vec<Value> = hits;
                collection.insert(1.min(collection.len()), Value::Null);
                MockResponse::json(json!({
                    "collection": collection,
                    "total_results": 2,
                    "next_href": format!("https://api-v2.soundcloud.com/search/tracks?query_urn=soundcloud%3Asearch%3Aabc&offset=2&q={q}&limit=2"),
                    "query_urn": "soundcloud:search:9c8f2b"
                }))
            })
            .route("GET", "api-v2.soundcloud.com", "/users/*", move |r| {
                if let Some(resp) = k4(r) {
                    return resp;
                }
                if !r.path.ends_with("/likes") {
                    return MockResponse::status(404);
                }
                let collection: Vec<Value> = t4
                    .iter()
                    .map(|t| json!({"created_at": "2024-02-03T04:05:06Z", "kind": "like", "track": t}))
                    .chain([json!({"created_at": "2024-02-03T04:05:06Z", "kind": "like", "playlist": {"id": 1, "kind": "playlist"}, "track": null})])
                    .collect();
                MockResponse::json(json!({"collection": collection, "next_href": null, "query_urn": null}))
            })
            .route("GET", "api-v2.soundcloud.com", "/media/*", move |r| {
                if let Some(resp) = k5(r) {
                    return resp;
                }
                // /media/soundcloud:tracks:<id>/<uuid>/stream/<protocol>
                let id: u64 = r.path["/media/soundcloud:tracks:".len()..]
                    .split('/')
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let Some(t) = find_track(&t5, &id.to_string()) else {
                    return MockResponse::status(404);
                };
                let want = format!("https://api-v2.soundcloud.com{}", r.path);
                for f in [&PROGRESSIVE, &HLS_MP3, &HLS_AAC] {
                    if lookup_url(id, f) == want
                        && t["media"]["transcodings"]
                            .as_array()
                            .is_some_and(|ts| ts.iter().any(|x| x["url"] == json!(want)))
                    {
                        return MockResponse::json(json!({"url": media_url(id, f)}));
                    }
                }
                MockResponse::status(404)
            })
            .route("GET", "cf-media.sndcdn.com", "/*", |_| {
                MockResponse::bytes(fixture("sine440_48k_stereo_2s_id3.mp3"), "audio/mpeg")
            })
            .route("GET", "cf-hls-media.sndcdn.com", "/playlist/*", |r| {
                let id = r.path.split("aBcD").nth(1).and_then(|s| s.split('.').next()).unwrap_or("0");
                let mut text = String::from(
                    "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n",
                );
                for (i, (_, secs)) in mp3_segments(3).iter().enumerate() {
                    text.push_str(&format!(
                        "#EXTINF:{secs:.6},\nhttps://cf-hls-media.sndcdn.com/media/{}/{}/aBcD{id}.128.mp3?{SIG}\n",
                        i * 1000,
                        (i + 1) * 1000
                    ));
                }
                text.push_str("#EXT-X-ENDLIST\n");
                MockResponse::text(&text, "application/vnd.apple.mpegurl")
            })
            .route("GET", "cf-hls-media.sndcdn.com", "/media/*", |r| {
                let i = r.path["/media/".len()..]
                    .split('/')
                    .next()
                    .and_then(|s| s.parse::<usize>().ok())
                    .unwrap_or(0)
                    / 1000;
                match mp3_segments(3).into_iter().nth(i) {
                    Some((b, _)) => MockResponse::bytes(b, "audio/mpeg"),
                    None => MockResponse::status(404),
                }
            })
            .route("GET", "playback.media-streaming.soundcloud.cloud", "/*", |r| {
                let name = r.path.rsplit('/').next().unwrap_or("");
                if name == "playlist.m3u8" {
                    let text = String::from_utf8(fixture("hls_fmp4/index.m3u8")).unwrap();
                    // Relative URIs as in the fixture, plus the signature on each.
                    let text: String = text
                        .lines()
                        .map(|l| {
                            if l.ends_with(".m4s") {
                                format!("{l}?expires=1733300000&{SIG}\n")
                            } else {
                                format!("{}\n", l.replace("init.mp4", &format!("init.mp4?{SIG}")))
                            }
                        })
                        .collect();
                    return MockResponse::text(&text, "application/vnd.apple.mpegurl");
                }
                MockResponse::bytes(fixture(&format!("hls_fmp4/{name}")), "video/mp4")
            })
    }
}
