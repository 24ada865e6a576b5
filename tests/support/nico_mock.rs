//! A mock of Niconico's DMS delivery (sources.md §5.3, §11.3): the watch JSON, the
//! access-rights call (201, `contentUrl`, `Set-Cookie: domand_bid`), a master with an audio
//! rendition, an audio playlist with `#EXT-X-MAP` and AES-128 keys (one with `IV`, one
//! without), a key endpoint that wants the cookie, and fMP4 AAC segments (the `hls_fmp4`
//! fixtures) encrypted here with a fixed key. Videos: sm9 (playable), so77 (no `domand`),
//! sm404 (missing).
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aes::cipher::{BlockEncrypt, KeyInit};
use serde_json::{json, Value};

use super::mitm::{MockRequest, MockResponse, Router};

pub const KEY: [u8; 16] = *b"basalt-nico-key!";
pub const IV: [u8; 16] = [
    0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0,
];
pub const ACCESS_KEY: &str =
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJqdGkiOiI2NTQzMjEiLCJleHAiOjE3NjcyMjk0MDB9.YWNjZXNz";
pub const TRACK_ID: &str = "Xz9_Ab3dEf_1767225600123";
pub const BID: &str = "7a6b5c4d3e2f1a0b_1767229200_0123456789abcdef";
const ASSET: &str = "asset.domand.nicovideo.jp";
const DELIVERY: &str = "delivery.domand.nicovideo.jp";
const BASE: &str = "/hlsbid/6543210fedcba9876543210f/playlists/variants";

#[derive(Default)]
pub struct NicoCounters {
    pub access: AtomicUsize,
    pub keys: AtomicUsize,
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// AES-128-CBC with PKCS#7 padding.
pub fn encrypt(plain: &[u8], key: [u8; 16], iv: [u8; 16]) -> Vec<u8> {
    let cipher = aes::Aes128::new(&key.into());
    let pad = 16 - plain.len() % 16;
    let mut data = plain.to_vec();
    data.extend(std::iter::repeat_n(pad as u8, pad));
    let mut prev = iv;
    for chunk in data.chunks_mut(16) {
        for (b, p) in chunk.iter_mut().zip(prev) {
            *b ^= p;
        }
        let mut block = aes::Block::clone_from_slice(chunk);
        cipher.encrypt_block(&mut block);
        chunk.copy_from_slice(&block);
        prev.copy_from_slice(chunk);
    }
    data
}

/// The IV of segment `seq` when the key line has none: its media sequence number.
fn seq_iv(seq: u64) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[8..].copy_from_slice(&seq.to_be_bytes());
    iv
}

fn has_bid(req: &MockRequest) -> bool {
    req.header("cookie").is_some_and(|c| {
        c.split(';')
            .any(|p| p.trim() == format!("domand_bid={BID}"))
    })
}

fn watch_json(id: &str) -> MockResponse {
    if id == "sm404" {
        return MockResponse::json(json!({
            "meta": {"status": 404, "code": "NOT_FOUND", "errorCode": "NOT_FOUND"},
            "data": {"metadata": null, "response": null}
        }))
        .with_status(404);
    }
    let domand = if id == "so77" {
        Value::Null
    } else {
        json!({
            "videos": [
                {"id": "video-h264-1080p", "isAvailable": false, "label": "1080p", "bitRate": 4000000, "width": 1920, "height": 1080, "qualityLevel": 4, "recommendedHighestAudioQualityLevel": 1},
                {"id": "video-h264-360p", "isAvailable": true, "label": "360p", "bitRate": 600000, "width": 640, "height": 360, "qualityLevel": 1, "recommendedHighestAudioQualityLevel": 1},
                {"id": "video-h264-144p", "isAvailable": true, "label": "144p", "bitRate": 100000, "width": 256, "height": 144, "qualityLevel": 0, "recommendedHighestAudioQualityLevel": 0}
            ],
            "audios": [
                {"id": "audio-aac-64kbps", "isAvailable": true, "bitRate": 64000, "samplingRate": 44100, "integratedLoudness": -17.2, "truePeak": -1.0, "qualityLevel": 0, "loudnessCollection": [{"type": "video", "value": 0.8}], "label": {"quality": "normal"}},
                {"id": "audio-aac-192kbps", "isAvailable": true, "bitRate": 192000, "samplingRate": 48000, "integratedLoudness": -17.1, "truePeak": -0.9, "qualityLevel": 1, "loudnessCollection": [{"type": "video", "value": 0.8}], "label": {"quality": "high"}}
            ],
            "isStoryboardAvailable": true,
            "accessRightKey": ACCESS_KEY
        })
    };
    MockResponse::json(json!({
        "meta": {"status": 200, "code": "HTTP_200"},
        "data": {
            "metadata": {
                "title": "\u{3010}\u{30c6}\u{30b9}\u{30c8}\u{3011}440Hz - \u{30cb}\u{30b3}\u{30cb}\u{30b3}\u{52d5}\u{753b}",
                "linkTags": [{"rel": "canonical", "href": format!("https://www.nicovideo.jp/watch/{id}")}],
                "jsonLds": [{
                    "@context": "http://schema.org", "@type": "VideoObject",
                    "@id": format!("https://www.nicovideo.jp/watch/{id}"),
                    "name": "\u{3010}\u{30c6}\u{30b9}\u{30c8}\u{3011}440Hz",
                    "duration": "PT3S",
                    "thumbnailUrl": ["https://nicovideo.cdn.nimg.jp/thumbnails/9/9.12345678"],
                    "author": {"@type": "Person", "name": "\u{30d0}\u{30b5}\u{30eb}\u{30c8}", "url": "https://www.nicovideo.jp/user/4"}
                }]
            },
            "response": {
                "ads": null,
                "category": null,
                "channel": null,
                "client": {"nicosid": "1767225600.123456789", "watchId": id, "watchTrackId": TRACK_ID},
                "comment": {"server": {"url": "https://public.nvcomment.nicovideo.jp"}, "keys": {"userKey": ""}},
                "genre": {"key": "music_sound", "label": "\u{97f3}\u{697d}\u{30fb}\u{30b5}\u{30a6}\u{30f3}\u{30c9}"},
                "media": {"domand": domand, "delivery": null, "deliveryLegacy": null},
                "owner": {"id": 4, "nickname": "\u{30d0}\u{30b5}\u{30eb}\u{30c8}", "iconUrl": "https://secure-dcdn.cdn.nimg.jp/nicoaccount/usericon/0/4.jpg", "channel": null, "live": null, "isVideosPublic": true},
                "payment": {"video": {"isPpv": false, "isAdmission": false, "isPremium": false}},
                "tag": {"items": [{"name": "\u{97f3}\u{697d}", "isLocked": true}], "hasR18Tag": false},
                "video": {
                    "id": id,
                    "title": "\u{3010}\u{30c6}\u{30b9}\u{30c8}\u{3011}440Hz",
                    "description": "<a href=\"https://example.invalid\">&quot;test&quot;</a>",
                    "count": {"view": 123, "comment": 4, "mylist": 5, "like": 6},
                    "duration": 3,
                    "thumbnail": {
                        "url": "https://nicovideo.cdn.nimg.jp/thumbnails/9/9.12345678",
                        "middleUrl": "https://nicovideo.cdn.nimg.jp/thumbnails/9/9.12345678.M",
                        "largeUrl": "https://nicovideo.cdn.nimg.jp/thumbnails/9/9.12345678.L",
                        "player": "https://img.cdn.nimg.jp/s/nicovideo/thumbnails/9/9.12345678.L",
                        "ogp": "https://img.cdn.nimg.jp/s/nicovideo/thumbnails/9/9.12345678.OGP"
                    },
                    "registeredAt": "2007-03-06T00:33:00+09:00",
                    "isDeleted": false
                },
                "viewer": null
            }
        }
    }))
}

fn access_rights(req: &MockRequest, counters: &NicoCounters) -> MockResponse {
    counters.access.fetch_add(1, Ordering::SeqCst);
    let body = req.body_json();
    let outputs_ok = body["outputs"]
        == json!([
            ["video-h264-360p", "audio-aac-192kbps"],
            ["video-h264-144p", "audio-aac-192kbps"]
        ]);
    let ok = req.header("x-access-right-key") == Some(ACCESS_KEY)
        && req.header("x-frontend-id") == Some("6")
        && req.param("actionTrackId") == Some(TRACK_ID)
        && req
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
        && outputs_ok;
    if !ok {
        return MockResponse::json(
            json!({"meta": {"status": 400, "errorCode": "INVALID_PARAMETER"}}),
        )
        .with_status(400);
    }
    MockResponse::json(json!({
        "meta": {"status": 201},
        "data": {
            "contentUrl": format!("https://{DELIVERY}/hlsbid/6543210fedcba9876543210f/playlists/variants/master.m3u8?session=abcdef&Expires=1767229200&Signature=sig~x&Key-Pair-Id=K1"),
            "createTime": "2026-01-01T09:00:00+09:00",
            "expireTime": "2026-01-02T09:00:00+09:00"
        }
    }))
    .with_status(201)
    .header("Set-Cookie", &format!("domand_bid={BID}; Max-Age=86400; Domain=.nicovideo.jp; Path=/; Secure; HttpOnly"))
}

fn delivery(req: &MockRequest, counters: &NicoCounters) -> MockResponse {
    if !has_bid(req) {
        return MockResponse::status(403);
    }
    let p = req.path.as_str();
    if p == format!("{BASE}/master.m3u8") {
        return MockResponse::text(
            "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n\
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio-aac-192kbps\",NAME=\"Main Audio\",DEFAULT=YES,URI=\"audio-aac-192kbps.m3u8?session=abcdef\"\n\
#EXT-X-STREAM-INF:BANDWIDTH=792000,AVERAGE-BANDWIDTH=700000,CODECS=\"avc1.4d401e,mp4a.40.2\",RESOLUTION=640x360,FRAME-RATE=29.970,AUDIO=\"audio-aac-192kbps\"\n\
video-h264-360p.m3u8?session=abcdef\n\
#EXT-X-STREAM-INF:BANDWIDTH=292000,AVERAGE-BANDWIDTH=250000,CODECS=\"avc1.42c00c,mp4a.40.2\",RESOLUTION=256x144,FRAME-RATE=29.970,AUDIO=\"audio-aac-192kbps\"\n\
video-h264-144p.m3u8?session=abcdef\n",
            "application/vnd.apple.mpegurl",
        );
    }
    if p == format!("{BASE}/audio-aac-192kbps.m3u8") {
        let iv_hex: String = IV.iter().map(|b| format!("{b:02X}")).collect();
        let text = format!(
            "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-PLAYLIST-TYPE:VOD\n\
#EXT-X-MAP:URI=\"https://{ASSET}/hlsbid/6543210fedcba9876543210f/audio/12/3/init01.cmfa?session=abcdef&Policy=x\"\n\
#EXT-X-KEY:METHOD=AES-128,URI=\"https://{DELIVERY}/hlsbid/6543210fedcba9876543210f/keys/audio-aac-192kbps.key?session=abcdef\",IV=0x{iv_hex}\n\
#EXTINF:1.021678,\nhttps://{ASSET}/hlsbid/6543210fedcba9876543210f/audio/12/3/01.cmfa?session=abcdef&Policy=x\n\
#EXTINF:0.998458,\nhttps://{ASSET}/hlsbid/6543210fedcba9876543210f/audio/12/3/02.cmfa?session=abcdef&Policy=x\n\
#EXT-X-KEY:METHOD=AES-128,URI=\"https://{DELIVERY}/hlsbid/6543210fedcba9876543210f/keys/audio-aac-192kbps.key?session=abcdef\"\n\
#EXTINF:0.998458,\nhttps://{ASSET}/hlsbid/6543210fedcba9876543210f/audio/12/3/03.cmfa?session=abcdef&Policy=x\n\
#EXTINF:0.023220,\nhttps://{ASSET}/hlsbid/6543210fedcba9876543210f/audio/12/3/04.cmfa?session=abcdef&Policy=x\n\
#EXT-X-ENDLIST\n"
        );
        return MockResponse::text(&text, "application/vnd.apple.mpegurl");
    }
    if p.ends_with("/keys/audio-aac-192kbps.key") {
        counters.keys.fetch_add(1, Ordering::SeqCst);
        return MockResponse::bytes(KEY.to_vec(), "binary/octet-stream");
    }
    MockResponse::status(404)
}

fn asset(req: &MockRequest) -> MockResponse {
    if !has_bid(req) {
        return MockResponse::status(403);
    }
    let name = req.path.rsplit('/').next().unwrap_or("");
    if name == "init01.cmfa" {
        return MockResponse::bytes(fixture("hls_fmp4/init.mp4"), "video/mp4");
    }
    let Some(n) = name
        .strip_suffix(".cmfa")
        .and_then(|n| n.parse::<u64>().ok())
    else {
        return MockResponse::status(404);
    };
    if !(1..=4).contains(&n) {
        return MockResponse::status(404);
    }
    let plain = fixture(&format!("hls_fmp4/seg{}.m4s", n - 1));
    // Segments 1 and 2 use the IV attribute; 3 and 4 their media sequence number.
    let iv = if n <= 2 { IV } else { seq_iv(n) };
    MockResponse::bytes(encrypt(&plain, KEY, iv), "video/mp4")
}

pub fn router(counters: Arc<NicoCounters>) -> Router {
    let (c1, c2) = (counters.clone(), counters);
    Router::new()
        .route("GET", "www.nicovideo.jp", "/watch/*", |r| {
            if r.param("responseType") != Some("json") || r.header("x-frontend-id") != Some("6") {
                return MockResponse::text("<html>watch page</html>", "text/html");
            }
            watch_json(r.path.trim_start_matches("/watch/"))
        })
        .route("POST", "nvapi.nicovideo.jp", "/v1/watch/*", move |r| {
            if r.path.ends_with("/access-rights/hls") {
                access_rights(r, &c1)
            } else {
                MockResponse::status(404)
            }
        })
        .route("GET", DELIVERY, "/hlsbid/*", move |r| delivery(r, &c2))
        .route("GET", ASSET, "/hlsbid/*", asset)
}
