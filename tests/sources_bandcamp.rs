//! The Bandcamp source against a mock of the site reached through the intercepting proxy:
//! track and album pages (`data-tralbum`, HTML-escaped JSON with `&quot;` and `&amp;`), the
//! search page, playback of the signed `mp3-128` URL (which only works unescaped), errors.

#![recursion_limit = "256"]

#[path = "support/bandcamp_mock.rs"]
mod bandcamp_mock;
#[path = "support/mitm.rs"]
mod mitm;

use bandcamp_mock::*;
use basalt::source::{LoadResult, SourceManager};
use basalt::track::{encode_track, Severity, TrackData, UNKNOWN_LENGTH};
use mitm::Mitm;

fn setup() -> (Mitm, SourceManager) {
    let mitm = Mitm::start(router());
    let m = SourceManager::new(&mitm.config("[sources]\nhttp = false\nsoundcloud = false\n"));
    (mitm, m)
}

fn track(res: LoadResult) -> TrackData {
    match res {
        LoadResult::Track(t) => t,
        other => panic!("expected a track, got {other:?}"),
    }
}

#[test]
fn track_and_album_pages() {
    let (mitm, m) = setup();
    let t = track(m.load("https://basalt.bandcamp.com/track/sine-tone?from=embed"));
    assert_eq!(t.info.title, "Sine & Tone");
    assert_eq!(t.info.author, "Basalt & The Fixtures");
    assert_eq!(t.info.length, 2040);
    assert_eq!(
        t.info.identifier,
        "https://basalt.bandcamp.com/track/sine-tone"
    );
    assert_eq!(
        t.info.uri.as_deref(),
        Some("https://basalt.bandcamp.com/track/sine-tone")
    );
    assert!(!t.info.is_stream);
    assert_eq!(
        t.info.artwork_url.as_deref(),
        Some("https://f4.bcbits.com/img/a0001234567_1.png")
    );
    assert_eq!(t.info.isrc.as_deref(), Some("QZTST2600001"));
    assert_eq!(t.info.source_name, "bandcamp");
    assert!(t.source_data.is_empty());
    // The blob: v3, no source bytes, round-trips.
    let enc = encode_track(&t);
    let dec = basalt::track::decode_track(&enc).unwrap();
    assert_eq!(dec.data, t);

    match m.load("https://basalt.bandcamp.com/album/synthetic") {
        LoadResult::Playlist {
            name,
            selected_track,
            tracks,
        } => {
            assert_eq!(name, "Synthetic “Album”");
            assert_eq!(selected_track, -1);
            assert_eq!(tracks.len(), 3);
            assert_eq!(tracks[2].info.title, "Ünïcode <Third>");
            assert_eq!(tracks[2].info.length, 61250);
            assert_eq!(
                tracks[2].info.identifier,
                "https://basalt.bandcamp.com/track/unicode-third"
            );
            assert!(tracks.iter().all(|t| t.info.isrc.is_none()));
        }
        other => panic!("album: {other:?}"),
    }
    assert!(mitm.unrouted().is_empty(), "{:#?}", mitm.unrouted());
}

#[test]
fn search_keeps_tracks_only() {
    let (mitm, m) = setup();
    match m.load("bcsearch:sine & tone") {
        LoadResult::Search(ts) => {
            assert_eq!(ts.len(), 1);
            let i = &ts[0].info;
            assert_eq!(i.title, "Sine & Tone");
            assert_eq!(i.author, "Basalt & The Fixtures");
            assert_eq!(i.identifier, "https://basalt.bandcamp.com/track/sine-tone");
            assert_eq!(i.length, UNKNOWN_LENGTH);
            assert!(!i.is_stream);
            assert_eq!(
                i.artwork_url.as_deref(),
                Some("https://f4.bcbits.com/img/a0001234567_7.jpg")
            );
        }
        other => panic!("search: {other:?}"),
    }
    let q = mitm.requests_to("bandcamp.com", "/search");
    assert_eq!(q[0].param("q"), Some("sine & tone"));
    assert_eq!(q[0].param("item_type"), Some("t"));
}

#[test]
fn errors() {
    let (mitm, m) = setup();
    assert!(matches!(
        m.load("https://basalt.bandcamp.com/track/missing"),
        LoadResult::Empty
    ));
    match m.load("https://basalt.bandcamp.com/track/no-data") {
        LoadResult::Error(e) => {
            assert_eq!(
                e.message.as_deref(),
                Some("Track information not found on the Bandcamp page.")
            );
            assert_eq!(e.severity, Severity::Suspicious);
        }
        other => panic!("{other:?}"),
    }
    match m.load("https://basalt.bandcamp.com/track/broken") {
        LoadResult::Error(e) => {
            assert_eq!(
                e.message.as_deref(),
                Some("Loading information for a Bandcamp resource failed.")
            );
            assert_eq!(e.severity, Severity::Fault);
            assert!(e.cause.contains("500"));
        }
        other => panic!("{other:?}"),
    }
    // Not Bandcamp's: custom domains and other paths.
    assert!(matches!(
        m.load("https://basalt.bandcamp.com/merch"),
        LoadResult::Empty
    ));
    let t = track(m.load("https://basalt.bandcamp.com/track/pre-order-only"));
    match m.open(&t) {
        Err(e) => {
            assert_eq!(e.to_string(), "This track is not streamable.");
            assert_eq!(e.severity(), Severity::Common);
        }
        Ok(_) => panic!("a track without mp3-128 must not play"),
    }
    assert!(mitm.unrouted().is_empty());
}

#[test]
fn playback_refetches_the_page_and_unescapes_the_stream_url() {
    let (mitm, m) = setup();
    let t = track(m.load("https://basalt.bandcamp.com/track/sine-tone"));
    let pages = mitm
        .requests_to("basalt.bandcamp.com", "/track/sine-tone")
        .len();
    let mut input = m.open(&t).expect("opens");
    assert_eq!(input.extension.as_deref(), Some("mp3"));
    assert!(!input.is_stream);
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut input.reader, &mut bytes).unwrap();
    assert_eq!(bytes, fixture("sine440_48k_stereo_2s_id3.mp3"));
    assert_eq!(
        mitm.requests_to("basalt.bandcamp.com", "/track/sine-tone")
            .len(),
        pages + 1
    );
    let s = mitm.requests_to("t4.bcbits.com", "/stream/");
    assert_eq!(s[0].param("p"), Some("0"));
    assert!(mitm.unrouted().is_empty());
}
