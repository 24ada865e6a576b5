//! Vimeo unlisted clips (`vimeo.com/<id>/<hash>` and `?h=<hash>`, sources.md §4.5: the hash
//! goes to the page data and the player config, and travels in the track's uri to
//! playback) and Niconico's `nico.ms` short links and `ncsearch:` search (§5.3), against
//! the mocks through the intercepting proxy. (Vimeo has no search in Lavalink/lavaplayer,
//! so none is offered.)

#![recursion_limit = "256"]

#[path = "support/mitm.rs"]
mod mitm;
#[path = "support/nico_mock.rs"]
mod nico_mock;
#[path = "support/vimeo_mock.rs"]
mod vimeo_mock;

use std::sync::Arc;

use basalt::config::ResamplingQuality;
use basalt::decode::{self, Opened};
use basalt::source::vimeo::VimeoSource;
use basalt::source::{Answer, LoadRequest, LoadResult, MediaInput, Source, SourceManager};
use basalt::track::{Severity, TrackData};
use mitm::{Mitm, MockResponse};
use serde_json::json;

fn req(identifier: &str) -> LoadRequest<'_> {
    LoadRequest {
        identifier,
        title: None,
        descriptor: None,
    }
}

fn track(a: Answer) -> TrackData {
    match a {
        Answer::Track(t) => t,
        Answer::Error(e) => panic!("expected a track, got error {e} ({e:?})"),
        _ => panic!("expected a track"),
    }
}

/// Decoded seconds of an input.
fn seconds(input: MediaInput) -> f64 {
    let Opened::Pcm(mut dec) = decode::open(input, ResamplingQuality::Low).expect("decodable")
    else {
        panic!("PCM expected")
    };
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
    samples as f64 / 2.0 / 48_000.0
}

#[test]
fn vimeo_unlisted_clips_load_and_play_with_their_hash() {
    let hash = vimeo_mock::UNLISTED_HASH;
    let mitm = Mitm::start(vimeo_mock::router());
    let source = VimeoSource::new(&mitm.config(""));

    let page = format!("https://vimeo.com/400/{hash}");
    let t = track(source.load(&req(&page)));
    assert_eq!(t.info.identifier, "400");
    assert_eq!(t.info.uri.as_deref(), Some(page.as_str()));
    assert_eq!(t.info.source_name, "vimeo");
    let data = mitm.requests_to("vimeo.com", "/_next/data/");
    assert_eq!(data.last().and_then(|r| r.param("h")), Some(hash));

    // The `?h=` form (share links, player URLs) is the same clip.
    for url in [
        format!("https://vimeo.com/400?h={hash}&share=copy"),
        format!("https://player.vimeo.com/video/400?h={hash}"),
    ] {
        let other = track(source.load(&req(&url)));
        assert_eq!(other.info.identifier, "400", "{url}");
        assert_eq!(other.info.uri.as_deref(), Some(page.as_str()), "{url}");
    }

    // Without the hash the clip is private: nothing to load.
    assert!(matches!(
        source.load(&req("https://vimeo.com/400")),
        Answer::Empty
    ));

    // Playback re-resolves with the hash from the uri; the player config wants it too.
    let secs = seconds(source.open(&t).expect("opens the unlisted clip"));
    assert!((secs - 2.0).abs() < 0.15, "{secs} s");
    let cfg = mitm.requests_to("player.vimeo.com", "/video/400/config");
    assert_eq!(cfg.last().and_then(|r| r.param("h")), Some(hash));
    assert_eq!(
        cfg.last().and_then(|r| r.header("referer")),
        Some(page.as_str())
    );
    assert!(mitm.unrouted().is_empty(), "{:#?}", mitm.unrouted());
}

const SEARCH_HOST: &str = "snapshot.search.nicovideo.jp";
const SEARCH_PATH: &str = "/api/v2/snapshot/video/contents/search";

fn nico_router() -> mitm::Router {
    nico_mock::router(Arc::new(nico_mock::NicoCounters::default())).route(
        "GET",
        SEARCH_HOST,
        SEARCH_PATH,
        |r| {
            if r.param("_context").is_none_or(str::is_empty) {
                return MockResponse::json(json!({"meta": {"status": 400, "errorCode": "QUERY_PARSE_ERROR", "errorMessage": "_context is required"}})).with_status(400);
            }
            match r.param("q") {
                Some("nothing here") => MockResponse::json(
                    json!({"meta": {"status": 200, "totalCount": 0, "id": "0c1d2e3f"}, "data": []}),
                ),
                Some("broken") => MockResponse::json(json!({"meta": {"status": 503, "errorCode": "MAINTENANCE", "errorMessage": "please retry later"}})).with_status(503),
                _ => MockResponse::json(json!({
                    "meta": {"status": 200, "totalCount": 2, "id": "9f8e7d6c-5b4a-3c2d-1e0f-a9b8c7d6e5f4"},
                    "data": [
                        {"contentId": "sm9", "title": "\u{3010}\u{30c6}\u{30b9}\u{30c8}\u{3011}440Hz &amp; \"quotes\"",
                         "userId": 4, "channelId": null, "lengthSeconds": 319,
                         "thumbnailUrl": "https://nicovideo.cdn.nimg.jp/thumbnails/9/9"},
                        {"contentId": "so1234567", "title": "Channel video", "userId": null,
                         "channelId": 2632720, "lengthSeconds": 95,
                         "thumbnailUrl": "https://nicovideo.cdn.nimg.jp/thumbnails/1234567/1234567.8"},
                        {"contentId": "lv99", "title": null, "lengthSeconds": null}
                    ]
                })),
            }
        },
    )
}

fn nico_manager(mitm: &Mitm) -> SourceManager {
    SourceManager::new(&mitm.config("[sources]\nhttp = false\nnico = true\n"))
}

#[test]
fn niconico_short_links_load_the_same_track() {
    let mitm = Mitm::start(nico_router());
    let m = nico_manager(&mitm);
    let full = match m.load("https://www.nicovideo.jp/watch/sm9") {
        LoadResult::Track(t) => t,
        other => panic!("{other:?}"),
    };
    for short in [
        "https://nico.ms/sm9",
        "nico.ms/sm9?ref=share_x",
        "http://nico.ms/sm9",
    ] {
        match m.load(short) {
            LoadResult::Track(t) => assert_eq!(t, full, "{short}"),
            other => panic!("{short}: {other:?}"),
        }
    }
    assert_eq!(
        full.info.uri.as_deref(),
        Some("https://www.nicovideo.jp/watch/sm9")
    );
    // No request ever goes to nico.ms: the id is in the link.
    assert!(mitm.requests().iter().all(|r| r.host != "nico.ms"));
    assert!(mitm.unrouted().is_empty(), "{:#?}", mitm.unrouted());
}

#[test]
fn niconico_search_lists_videos_as_search_results() {
    let mitm = Mitm::start(nico_router());
    let m = nico_manager(&mitm);
    let hits = match m.load("ncsearch:440Hz test") {
        LoadResult::Search(t) => t,
        other => panic!("{other:?}"),
    };
    assert_eq!(hits.len(), 2, "the entry without a title is skipped");
    assert_eq!(hits[0].info.identifier, "sm9");
    assert_eq!(
        hits[0].info.title,
        "\u{3010}\u{30c6}\u{30b9}\u{30c8}\u{3011}440Hz &amp; \"quotes\""
    );
    assert_eq!(hits[0].info.length, 319_000);
    assert_eq!(
        hits[0].info.uri.as_deref(),
        Some("https://www.nicovideo.jp/watch/sm9")
    );
    assert_eq!(
        hits[0].info.artwork_url.as_deref(),
        Some("https://nicovideo.cdn.nimg.jp/thumbnails/9/9")
    );
    assert_eq!(hits[1].info.identifier, "so1234567");
    assert!(hits.iter().all(|t| t.info.source_name == "niconico"
        && !t.info.is_stream
        && t.info.author == "Unknown artist"));
    let sent = mitm.requests_to(SEARCH_HOST, SEARCH_PATH);
    assert_eq!(sent[0].param("q"), Some("440Hz test"));
    assert_eq!(sent[0].param("targets"), Some("title,tags"));
    assert_eq!(sent[0].param("_sort"), Some("-viewCounter"));

    assert!(matches!(m.load("ncsearch:nothing here"), LoadResult::Empty));
    match m.load("ncsearch:broken") {
        LoadResult::Error(e) => {
            assert_eq!(
                e.message.as_deref(),
                Some("Loading search results from Niconico failed.")
            );
            assert_eq!(e.severity, Severity::Suspicious);
            assert!(e.cause.contains("503"), "{}", e.cause);
        }
        other => panic!("{other:?}"),
    }
    // A search hit plays like a loaded video (same identifier → same DMS flow).
    let source = basalt::source::niconico::NicoSource::new(&mitm.config(""));
    let secs = seconds(source.open(&hits[0]).expect("opens"));
    assert!(secs > 2.5, "{secs} s");
    assert!(mitm.unrouted().is_empty(), "{:#?}", mitm.unrouted());

    // With the source off the prefix is nobody's.
    let off = SourceManager::new(&mitm.config("[sources]\nhttp = false\n"));
    assert!(matches!(off.load("ncsearch:440Hz"), LoadResult::Empty));
}
