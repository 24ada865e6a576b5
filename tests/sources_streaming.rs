//! The Twitch, Vimeo and Niconico sources against mock upstreams reached through the
//! intercepting proxy (`[http] proxy_*` + `ca_file`), so the real request code runs: exact
//! TrackInfo and blobs, errors, playback decoded through `basalt::decode`, and (Twitch) one
//! run through the real binary to the fake Discord voice server.

#![recursion_limit = "256"]

#[path = "support/fake_voice/mod.rs"]
mod fake_voice;
#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/mitm.rs"]
mod mitm;
#[path = "support/nico_mock.rs"]
mod nico_mock;
#[path = "support/poll.rs"]
mod poll;
#[path = "support/proxied_node.rs"]
mod proxied_node;
#[path = "support/twitch_mock.rs"]
mod twitch_mock;
#[path = "support/vimeo_mock.rs"]
mod vimeo_mock;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use basalt::config::ResamplingQuality;
use basalt::decode::{self, Opened};
use basalt::source::niconico::NicoSource;
use basalt::source::twitch::TwitchSource;
use basalt::source::vimeo::VimeoSource;
use basalt::source::{Answer, LoadRequest, LoadResult, MediaInput, Source, SourceManager};
use basalt::track::{decode_track, encode_track, Severity, TrackData};
use base64::Engine;
use fake_voice::{FakeConfig, FakeVoice, SILENCE};
use http_client::Client;
use mitm::Mitm;
use proxied_node::*;
use serde_json::{json, Value};
use twitch_mock::TwitchCounters;

fn track(res: LoadResult) -> TrackData {
    match res {
        LoadResult::Track(t) => t,
        other => panic!("expected a track, got {other:?}"),
    }
}

fn answer_track(a: Answer) -> TrackData {
    match a {
        Answer::Track(t) => t,
        Answer::Error(e) => panic!("expected a track, got error {e} ({e:?})"),
        _ => panic!("expected a track"),
    }
}

fn load_req(identifier: &str) -> LoadRequest<'_> {
    LoadRequest {
        identifier,
        title: None,
        descriptor: None,
    }
}

/// Decodes a media input to the end: (seconds of 48 kHz stereo, rms).
fn decode_all(input: MediaInput) -> (f64, f32) {
    let Opened::Pcm(mut dec) = decode::open(input, ResamplingQuality::Low).expect("decodable")
    else {
        panic!("PCM expected")
    };
    let (mut p, mut c) = rtrb::RingBuffer::<basalt::audio_format::PcmSample>::new(48_000);
    let (mut samples, mut energy) = (0usize, 0f64);
    loop {
        let fill = dec.fill(&mut p, 16).expect("decode");
        let n = c.slots();
        if let Ok(ch) = c.read_chunk(n) {
            let (a, b) = ch.as_slices();
            for &s in a.iter().chain(b) {
                let x = basalt::audio_format::from_pcm(s);
                energy += (x as f64) * (x as f64);
            }
            samples += n;
            ch.commit_all();
        }
        if fill.eof && c.slots() == 0 && fill.pushed == 0 {
            break;
        }
    }
    let secs = samples as f64 / 2.0 / 48_000.0;
    (secs, (energy / samples.max(1) as f64).sqrt() as f32)
}

/// Seconds decoded after a seek to `ms`.
fn seconds_after_seek(input: MediaInput, ms: i64) -> f64 {
    let Opened::Pcm(mut dec) = decode::open(input, ResamplingQuality::Low).unwrap() else {
        panic!("PCM expected")
    };
    dec.seek(ms).expect("seek");
    let (mut p, mut c) = rtrb::RingBuffer::<basalt::audio_format::PcmSample>::new(48_000);
    let mut samples = 0usize;
    loop {
        let fill = dec.fill(&mut p, 16).expect("decode");
        let n = c.slots();
        if let Ok(ch) = c.read_chunk(n) {
            samples += n;
            ch.commit_all();
        }
        if fill.eof && c.slots() == 0 && fill.pushed == 0 {
            break;
        }
    }
    samples as f64 / 96_000.0
}

/// Java `writeUTF` for ASCII/BMP test strings.
fn utf(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// A version-3 blob assembled field by field (lavalink-v4.md §8), independent of the codec.
fn v3_blob(
    title: &str,
    author: &str,
    length: i64,
    identifier: &str,
    stream: bool,
    (uri, artwork): (Option<&str>, Option<&str>),
    source: &str,
) -> String {
    let mut p = vec![3u8];
    utf(&mut p, title);
    utf(&mut p, author);
    p.extend_from_slice(&length.to_be_bytes());
    utf(&mut p, identifier);
    p.push(stream as u8);
    for opt in [uri, artwork, None] {
        match opt {
            Some(s) => {
                p.push(1);
                utf(&mut p, s);
            }
            None => p.push(0),
        }
    }
    utf(&mut p, source);
    p.extend_from_slice(&0i64.to_be_bytes());
    let mut msg = ((p.len() as u32) | (1 << 30)).to_be_bytes().to_vec();
    msg.extend_from_slice(&p);
    base64::engine::general_purpose::STANDARD.encode(msg)
}

// ---------------------------------------------------------------------------------------
// Twitch

struct TwitchSetup {
    mitm: Mitm,
    counters: Arc<TwitchCounters>,
    clock: Arc<AtomicI64>,
    source: TwitchSource,
}

fn twitch() -> TwitchSetup {
    let counters = Arc::new(TwitchCounters::default());
    let mitm = Mitm::start(twitch_mock::router(counters.clone()));
    let clock = Arc::new(AtomicI64::new(1_800_000_000_000));
    let c = clock.clone();
    let source =
        TwitchSource::with_clock(&mitm.config(""), Arc::new(move || c.load(Ordering::SeqCst)));
    TwitchSetup {
        mitm,
        counters,
        clock,
        source,
    }
}

#[test]
fn twitch_live_channel_maps_like_lavaplayer_and_encodes_byte_exact() {
    let s = twitch();
    let url = "https://www.twitch.tv/LiveChan";
    let t = answer_track(s.source.load(&load_req(url)));
    let title = "Lo-fi beats \u{2615} \"24/7\" & chill | !discord";
    assert_eq!(t.info.title, title);
    assert_eq!(t.info.author, "livechan");
    assert_eq!(t.info.length, i64::MAX);
    assert_eq!(t.info.identifier, url);
    assert!(t.info.is_stream);
    assert_eq!(t.info.uri.as_deref(), Some(url));
    assert_eq!(
        t.info.artwork_url.as_deref(),
        Some("https://static-cdn.jtvnw.net/previews-ttv/live_user_livechan-440x248.jpg")
    );
    assert_eq!(t.info.isrc, None);
    assert_eq!(t.info.source_name, "twitch");
    assert!(t.source_data.is_empty());
    // The title has a BMP non-ASCII character: 3 bytes in modified UTF-8 as in UTF-8.
    assert_eq!(
        encode_track(&t),
        v3_blob(
            title,
            "livechan",
            i64::MAX,
            url,
            true,
            (
                Some(url),
                Some("https://static-cdn.jtvnw.net/previews-ttv/live_user_livechan-440x248.jpg")
            ),
            "twitch"
        )
    );
    // The metadata went as query text with the scraped client id and device id.
    let gql = s.mitm.requests_to("gql.twitch.tv", "/gql");
    assert_eq!(gql.len(), 1);
    let body = gql[0].body_json();
    assert_eq!(body["operationName"], json!("StreamMetadata"));
    assert!(body["query"].as_str().unwrap().contains("lastBroadcast"));
    assert_eq!(body["variables"]["channelLogin"], json!("livechan"));
    assert_eq!(gql[0].header("client-id"), Some(twitch_mock::CLIENT_ID));
    assert_eq!(gql[0].header("x-device-id"), Some(twitch_mock::DEVICE_ID));
    assert_eq!(
        s.mitm.requests_to("www.twitch.tv", "/")[0].header("accept"),
        Some("text/html")
    );
    // Keys are scraped once.
    s.source.load(&load_req("https://twitch.tv/offline"));
    assert_eq!(s.counters.home.load(Ordering::SeqCst), 1);
    assert!(s.mitm.unrouted().is_empty(), "{:#?}", s.mitm.unrouted());
}

#[test]
fn twitch_real_v2_blob_decodes_and_replays_by_identifier() {
    // Lavalink's own Twitch blob (lavalink-v4.md §8.8 vectors): version 2, no artwork.
    let blob = "QAAApAIAN01vbnN0ZXJjYXQgRk0gLSAyNC83IE11c2ljIFN0cmVhbSAtIGxpdmUubW9uc3RlcmNhdC5jb20ACk1vbnN0ZXJjYXR//////////wAgaHR0cHM6Ly93d3cudHdpdGNoLnR2L21vbnN0ZXJjYXQBAQAgaHR0cHM6Ly93d3cudHdpdGNoLnR2L21vbnN0ZXJjYXQABnR3aXRjaAAAAAAAAAAA";
    let d = decode_track(blob).unwrap();
    assert_eq!(d.data.info.source_name, "twitch");
    assert_eq!(
        basalt::source::twitch::channel_from_url(&d.data.info.identifier).as_deref(),
        Some("monstercat")
    );
}

#[test]
fn twitch_offline_unknown_and_foreign_urls() {
    let s = twitch();
    assert!(matches!(
        s.source.load(&load_req("https://twitch.tv/offline")),
        Answer::Empty
    ));
    assert!(matches!(
        s.source.load(&load_req("https://twitch.tv/nobody_here")),
        Answer::Empty
    ));
    for url in [
        "https://twitch.tv/livechan/videos",
        "http://twitch.tv/livechan",
        "https://clips.twitch.tv/Abc",
        "twitch.tv/livechan",
    ] {
        assert!(
            matches!(s.source.load(&load_req(url)), Answer::NotMine),
            "{url}"
        );
    }
    // Title null → Unknown title.
    let t = answer_track(s.source.load(&load_req("https://m.twitch.tv/notitle")));
    assert_eq!(t.info.title, "Unknown title");
    assert!(s.mitm.unrouted().is_empty());
}

#[test]
fn twitch_persisted_query_fallback_and_errors() {
    let s = twitch();
    // The text query refused → the persisted-hash form answers.
    let t = answer_track(s.source.load(&load_req("https://go.twitch.tv/hashonly")));
    assert_eq!(t.info.author, "hashonly");
    let gql = s.mitm.requests_to("gql.twitch.tv", "/gql");
    assert_eq!(gql.len(), 2);
    assert_eq!(
        gql[1].body_json()["extensions"]["persistedQuery"]["sha256Hash"],
        json!("ad022ca32220d5523d03a23cbcb5beaa1e0999889c1f8f78f9f2520dafb5cae6")
    );
    // Both forms refused → an error naming the GQL error, suspicious.
    match s.source.load(&load_req("https://twitch.tv/stale")) {
        Answer::Error(e) => {
            let ex = e.to_exception();
            assert_eq!(
                ex.message.as_deref(),
                Some("Loading Twitch channel information failed.")
            );
            assert_eq!(ex.severity, Severity::Suspicious);
            assert!(ex.cause.contains("PersistedQueryNotFound"), "{}", ex.cause);
        }
        _ => panic!("error expected"),
    }
}

#[test]
fn twitch_main_page_failure_is_lavaplayers_error() {
    let mitm = Mitm::start(mitm::Router::new().route("GET", "www.twitch.tv", "/", |_| {
        mitm::MockResponse::status(503)
    }));
    let source = TwitchSource::new(&mitm.config(""));
    match source.load(&load_req("https://twitch.tv/livechan")) {
        Answer::Error(e) => {
            let ex = e.to_exception();
            assert_eq!(
                ex.message.as_deref(),
                Some("Loading Twitch main page failed.")
            );
            assert_eq!(ex.severity, Severity::Suspicious);
        }
        _ => panic!("error expected"),
    }
    // Through the manager: a load error, not empty.
    let m = SourceManager::new(&mitm.config(""));
    match m.load("https://www.twitch.tv/livechan") {
        LoadResult::Error(ex) => {
            assert_eq!(
                ex.message.as_deref(),
                Some("Loading Twitch main page failed.")
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn twitch_plays_the_audio_only_variant_renews_the_token_and_ends_with_the_stream() {
    let s = twitch();
    let t = answer_track(s.source.load(&load_req("https://www.twitch.tv/livechan")));
    let mut input = s.source.open(&t).expect("open");
    assert!(input.is_stream);
    // Read the first two segments' worth, then move the clock past the token's expiry.
    let mut head = vec![0u8; 4096];
    let n = std::io::Read::read(&mut input.reader, &mut head).unwrap();
    assert!(n > 0);
    assert_eq!(s.counters.tokens.load(Ordering::SeqCst), 1);
    s.clock.fetch_add(
        (twitch_mock::TOKEN_LIFETIME_S * 1000) - 4000,
        Ordering::SeqCst,
    );
    let started = Instant::now();
    let (secs, rms) = decode_all(input);
    // The channel produced 6 one-second segments; 4 KiB were read before decoding.
    assert!(
        (4.5..=6.2).contains(&secs),
        "decoded {secs} s of the live stream"
    );
    assert!(rms > 0.03, "rms {rms}");
    // The stream ended after the playlist stopped growing for one segment duration.
    assert!(started.elapsed() < Duration::from_secs(8));
    // The token was renewed once the clock passed expiry − 5 s, and usher asked again.
    assert_eq!(s.counters.tokens.load(Ordering::SeqCst), 2);
    assert_eq!(s.counters.ushers.load(Ordering::SeqCst), 2);
    // Only the audio_only rendition was read; every segment once, with both headers.
    let playlists = s
        .mitm
        .requests_to("video-weaver.fra05.hls.ttvnw.net", "/v1/playlist/");
    assert!(playlists
        .iter()
        .all(|r| r.path.ends_with("audio_only.m3u8")));
    assert!(playlists
        .iter()
        .any(|r| r.path.starts_with("/v1/playlist/Cq1")));
    let segs: Vec<_> = s
        .mitm
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/v1/segment/"))
        .collect();
    assert_eq!(segs.len(), twitch_mock::LIVE_SEGMENTS);
    for (i, r) in segs.iter().enumerate() {
        assert_eq!(r.path, format!("/v1/segment/CvAE{i}xYz_seg.ts"));
        assert_eq!(r.header("client-id"), Some(twitch_mock::CLIENT_ID));
        assert_eq!(r.header("x-device-id"), Some(twitch_mock::DEVICE_ID));
    }
    let usher = s
        .mitm
        .requests_to("usher.ttvnw.net", "/api/channel/hls/livechan.m3u8");
    assert_eq!(usher[0].param("expgroup"), Some("regular"));
    assert_eq!(usher[0].param("allow_spectre"), Some("true"));
    assert!(s.mitm.unrouted().is_empty(), "{:#?}", s.mitm.unrouted());
}

#[test]
fn twitch_playback_errors() {
    let s = twitch();
    // Usher without SERVER-TIME.
    let t = basalt::source::twitch::channel_track("https://twitch.tv/notime", "notime", None);
    let e = s.source.open(&t).err().expect("error");
    assert!(
        e.to_exception()
            .cause
            .contains("Required server time information not available."),
        "{:?}",
        e.to_exception()
    );
    // A channel that went offline between load and play: usher refuses → next part fails.
    let t = basalt::source::twitch::channel_track("https://twitch.tv/gone", "gone", None);
    // The usher route given first wins over the mock's own.
    let first = mitm::Router::new().route("GET", "usher.ttvnw.net", "/api/channel/hls/*", |_| {
        mitm::MockResponse::json(json!([{"error":"twirp error not_found: transcode does not exist","error_code":"vod_manifest_restricted","type":"error"}])).with_status(404)
    });
    let s2 = Mitm::start(twitch_mock::routes(
        first,
        Arc::new(TwitchCounters::default()),
    ));
    let source = TwitchSource::new(&s2.config(""));
    let e = source.open(&t).err().expect("error");
    let ex = e.to_exception();
    assert_eq!(
        ex.message.as_deref(),
        Some("Failed to get next part of the stream.")
    );
    assert_eq!(ex.severity, Severity::Suspicious);
    assert!(ex.cause.contains("404"), "{}", ex.cause);
}

// ---------------------------------------------------------------------------------------
// Vimeo

const VIMEO_TITLE: &str = "Ocean Tones \u{2014} a \"study\" in 440 Hz";
const VIMEO_ART: &str = "https://i.vimeocdn.com/video/1234567-abcdef0123456789-d";

fn vimeo() -> (Mitm, VimeoSource) {
    let mitm = Mitm::start(vimeo_mock::router());
    let source = VimeoSource::new(&mitm.config(""));
    (mitm, source)
}

#[test]
fn vimeo_clip_maps_like_lavalink_and_encodes_byte_exact() {
    let (mitm, source) = vimeo();
    let t = answer_track(source.load(&load_req("https://vimeo.com/76979871")));
    assert_eq!(t.info.title, VIMEO_TITLE);
    assert_eq!(t.info.author, "Basalt Fixtures & Co");
    assert_eq!(t.info.length, 3000);
    assert_eq!(t.info.identifier, "76979871");
    assert!(!t.info.is_stream);
    assert_eq!(t.info.uri.as_deref(), Some("https://vimeo.com/76979871"));
    assert_eq!(t.info.artwork_url.as_deref(), Some(VIMEO_ART));
    assert_eq!(t.info.isrc, None);
    assert_eq!(t.info.source_name, "vimeo");
    assert_eq!(
        encode_track(&t),
        v3_blob(
            VIMEO_TITLE,
            "Basalt Fixtures & Co",
            3000,
            "76979871",
            false,
            (Some("https://vimeo.com/76979871"), Some(VIMEO_ART)),
            "vimeo"
        )
    );
    let api = mitm.requests_to("api.vimeo.com", "/videos/76979871");
    assert_eq!(api.len(), 1);
    assert_eq!(
        api[0].header("accept"),
        Some("application/vnd.vimeo.*+json;version=3.4.12")
    );
    assert!(api[0]
        .param("fields")
        .unwrap()
        .contains("pictures.base_link"));
    // Other URL forms name the same clip.
    for url in [
        "https://player.vimeo.com/video/76979871",
        "https://www.vimeo.com/76979871?share=copy",
        "https://vimeo.com/channels/staffpicks/76979871",
    ] {
        assert_eq!(
            answer_track(source.load(&load_req(url))).info.identifier,
            "76979871"
        );
    }
    for url in ["https://vimeo.com/basaltfixtures", "https://vimeo.com/"] {
        assert!(
            matches!(source.load(&load_req(url)), Answer::NotMine),
            "{url}"
        );
    }
    assert!(mitm.unrouted().is_empty(), "{:#?}", mitm.unrouted());
}

#[test]
fn vimeo_missing_clips_and_the_oembed_fallback() {
    let (mitm, source) = vimeo();
    assert!(matches!(
        source.load(&load_req("https://vimeo.com/999")),
        Answer::Empty
    ));
    // The signed API refuses: metadata from oEmbed.
    let t = answer_track(source.load(&load_req("https://vimeo.com/300")));
    assert_eq!(t.info.title, "Embed-only \u{e9}tude");
    assert_eq!(t.info.author, "Someone Else");
    assert_eq!(t.info.length, 42_000);
    assert_eq!(
        t.info.artwork_url.as_deref(),
        Some("https://i.vimeocdn.com/video/999-abc-d_640x360?region=us")
    );
    assert!(mitm.unrouted().is_empty(), "{:#?}", mitm.unrouted());
}

#[test]
fn vimeo_plays_dash_then_hls_then_progressive() {
    let (mitm, source) = vimeo();
    let t = answer_track(source.load(&load_req("https://vimeo.com/76979871")));
    let input = source.open(&t).expect("open DASH");
    assert_eq!(input.extension.as_deref(), Some("mp4"));
    let (secs, rms) = decode_all(input);
    assert!((secs - 3.04).abs() < 0.15, "DASH {secs} s");
    assert!(rms > 0.03, "rms {rms}");
    let segs: Vec<_> = mitm
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/parcel/audio/aac/segment-"))
        .collect();
    assert_eq!(segs.len(), 4);
    assert_eq!(segs[0].header("origin"), Some("https://vimeo.com"));
    let input = source.open(&t).expect("open DASH again");
    assert!(input.segments.is_some(), "DASH segments carry their times");
    let after = seconds_after_seek(input, 2_200);
    assert!((after - 0.84).abs() < 0.15, "{after} s after the DASH seek");
    let cfg = mitm.requests_to("player.vimeo.com", "/video/76979871/config");
    assert_eq!(cfg[0].header("referer"), Some("https://vimeo.com/76979871"));

    let hls = answer_track(source.load(&load_req("https://vimeo.com/100")));
    let (secs, rms) = decode_all(source.open(&hls).expect("open HLS"));
    assert!((secs - 3.04).abs() < 0.15, "HLS {secs} s");
    assert!(rms > 0.03);

    // A blob from an older lavaplayer whose identifier is the page URL still plays.
    let mut legacy = answer_track(source.load(&load_req("https://vimeo.com/200")));
    legacy.info.identifier = "https://vimeo.com/200".into();
    let (secs, rms) = decode_all(source.open(&legacy).expect("open progressive"));
    assert!((secs - 2.0).abs() < 0.15, "progressive {secs} s");
    assert!(rms > 0.03);
    assert!(mitm.unrouted().is_empty(), "{:#?}", mitm.unrouted());
}

// ---------------------------------------------------------------------------------------
// Niconico

const NICO_TITLE: &str = "\u{3010}\u{30c6}\u{30b9}\u{30c8}\u{3011}440Hz";
const NICO_AUTHOR: &str = "\u{30d0}\u{30b5}\u{30eb}\u{30c8}";
const NICO_ART: &str = "https://nicovideo.cdn.nimg.jp/thumbnails/9/9.12345678";

fn nico() -> (Mitm, Arc<nico_mock::NicoCounters>, NicoSource) {
    let counters = Arc::new(nico_mock::NicoCounters::default());
    let mitm = Mitm::start(nico_mock::router(counters.clone()));
    let source = NicoSource::new(&mitm.config(""));
    (mitm, counters, source)
}

#[test]
fn niconico_is_off_by_default_and_on_with_sources_nico() {
    let (mitm, _, _) = nico();
    let off = SourceManager::new(&mitm.config(""));
    assert!(!off.source_names().contains(&"niconico"));
    let on = SourceManager::new(&mitm.config("[sources]\nnico = true\n"));
    let names = on.source_names();
    let pos = |n: &str| names.iter().position(|x| *x == n);
    assert!(
        pos("twitch") < pos("vimeo") && pos("vimeo") < pos("niconico"),
        "{names:?}"
    );
    let t = track(on.load("https://www.nicovideo.jp/watch/sm9"));
    assert_eq!(t.info.source_name, "niconico");
}

#[test]
fn niconico_video_maps_like_lavalink_and_encodes_byte_exact() {
    let (mitm, _, source) = nico();
    let t = answer_track(source.load(&load_req("https://www.nicovideo.jp/watch/sm9")));
    assert_eq!(t.info.title, NICO_TITLE);
    assert_eq!(t.info.author, NICO_AUTHOR);
    assert_eq!(t.info.length, 3000);
    assert_eq!(t.info.identifier, "sm9");
    assert!(!t.info.is_stream);
    assert_eq!(
        t.info.uri.as_deref(),
        Some("https://www.nicovideo.jp/watch/sm9")
    );
    assert_eq!(t.info.artwork_url.as_deref(), Some(NICO_ART));
    assert_eq!(t.info.source_name, "niconico");
    // Japanese text: 3 bytes per character in modified UTF-8, as in UTF-8.
    assert_eq!(
        encode_track(&t),
        v3_blob(
            NICO_TITLE,
            NICO_AUTHOR,
            3000,
            "sm9",
            false,
            (Some("https://www.nicovideo.jp/watch/sm9"), Some(NICO_ART)),
            "niconico"
        )
    );
    let w = mitm.requests_to("www.nicovideo.jp", "/watch/sm9");
    assert_eq!(w[0].header("x-frontend-version"), Some("0"));
    assert_eq!(
        w[0].header("x-request-with"),
        Some("https://www.nicovideo.jp")
    );
    assert!(matches!(
        source.load(&load_req("nicovideo.jp/watch/sm404")),
        Answer::Empty
    ));
    assert!(matches!(
        source.load(&load_req("https://sp.nicovideo.jp/watch/sm9")),
        Answer::NotMine
    ));
    assert!(mitm.unrouted().is_empty(), "{:#?}", mitm.unrouted());
}

#[test]
fn niconico_plays_encrypted_fmp4_with_the_session_cookie_and_seeks() {
    let (mitm, counters, source) = nico();
    let t = answer_track(source.load(&load_req("https://www.nicovideo.jp/watch/sm9")));
    let input = source.open(&t).expect("open");
    assert_eq!(input.extension.as_deref(), Some("mp4"));
    assert!(!input.is_stream);
    assert!(input.segments.is_some(), "VOD HLS is seekable");
    let (secs, rms) = decode_all(input);
    assert!((secs - 3.04).abs() < 0.15, "decoded {secs} s");
    assert!(rms > 0.03, "rms {rms}");
    assert_eq!(counters.access.load(Ordering::SeqCst), 1);
    assert_eq!(
        counters.keys.load(Ordering::SeqCst),
        1,
        "the key is fetched once"
    );
    // Every delivery and asset request carried the cookie (the mock answers 403 without).
    let media: Vec<_> = mitm
        .requests()
        .into_iter()
        .filter(|r| r.host.ends_with("domand.nicovideo.jp"))
        .collect();
    assert!(media.len() >= 7, "{}", media.len());
    assert!(media.iter().all(|r| r
        .header("cookie")
        .is_some_and(|c| c.contains(nico_mock::BID))));

    // A seek into the third segment decodes only what follows.
    let after = seconds_after_seek(source.open(&t).expect("open again"), 2_200);
    assert!((after - 0.84).abs() < 0.15, "{after} s after the seek");
    assert!(mitm.unrouted().is_empty(), "{:#?}", mitm.unrouted());
}

#[test]
fn niconico_without_dms_delivery_fails_clearly() {
    let (_mitm, _, source) = nico();
    let t = answer_track(source.load(&load_req("https://www.nicovideo.jp/watch/so77")));
    let ex = source.open(&t).err().expect("error").to_exception();
    assert_eq!(ex.message.as_deref(), Some("This video cannot be played."));
    assert_eq!(ex.severity, Severity::Common);
    assert!(ex.cause.contains("no DMS delivery"), "{}", ex.cause);
}

// ---------------------------------------------------------------------------------------
// End to end through the binary (Twitch)

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn twitch_live_channel_plays_to_discord_through_the_binary() {
    let counters = Arc::new(TwitchCounters::default());
    let mitm = Mitm::start(twitch_mock::router(counters.clone()));
    let node = start_node("twitch", &mitm, "");
    let f = FakeVoice::start(FakeConfig {
        guild_id: GUILD,
        user_id: USER,
        ..FakeConfig::default()
    });
    let (mut ws, sid) = client_ws(node.addr, "basalt-streaming-e2e/1.0");
    let c = Client::new(node.addr, PW);
    let r = c.get(&format!(
        "/v4/loadtracks?identifier={}",
        url_encode("https://www.twitch.tv/livechan")
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    let res: Value = r.json();
    assert_eq!(res["loadType"], json!("track"), "{res}");
    let info = &res["data"]["info"];
    assert_eq!(info["sourceName"], json!("twitch"));
    assert_eq!(info["isStream"], json!(true));
    assert_eq!(info["isSeekable"], json!(false));
    assert_eq!(info["length"], json!(9223372036854775807i64));
    assert_eq!(info["author"], json!("livechan"));
    let encoded = res["data"]["encoded"].as_str().unwrap().to_string();

    let path = format!("/v4/sessions/{sid}/players/{GUILD}");
    let body = json!({"track": {"encoded": encoded}, "voice": {
        "token": f.config.token,
        "endpoint": f.endpoint,
        "sessionId": f.config.session_id,
        "channelId": f.config.channel_id.to_string(),
    }});
    let r = c.patch(&path, &body.to_string());
    assert_eq!(r.status, 200, "PATCH: {}", r.text());
    ws.expect("event", Some("TrackStartEvent"), Duration::from_secs(10));
    // The channel's six one-second segments play, then the stream ends the track.
    let end = ws.expect("event", Some("TrackEndEvent"), Duration::from_secs(20));
    assert_eq!(end["reason"], json!("finished"));
    let audio: Vec<_> = f
        .packets()
        .into_iter()
        .filter(|p| p.payload != SILENCE)
        .collect();
    assert!(
        (270..=310).contains(&audio.len()),
        "audio frames {}",
        audio.len()
    );
    let pcm = fake_voice::decode(&audio[5..audio.len() - 5]);
    let hz = fake_voice::frequency(&pcm);
    assert!((hz - 440.0).abs() < 9.0, "decoded frequency {hz}");
    assert!(fake_voice::rms(&pcm) > 1000.0);
    assert!(f.state().errors.is_empty(), "{:#?}", f.state().errors);
    assert!(mitm.unrouted().is_empty(), "{:#?}", mitm.unrouted());
}
