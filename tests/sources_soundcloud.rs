//! The SoundCloud source against a mock of the service reached through the intercepting
//! proxy (`[http] proxy_*` + `ca_file`): identifiers, TrackInfo and encoded tracks as
//! Lavalink writes them, sets re-sorted from `/tracks?ids=`, likes, search, short links, the
//! client id scraped and refreshed on 401, errors, and playback of each format (progressive
//! MP3, HLS MP3, HLS AAC in fMP4) with a seek into a later HLS segment.

#![recursion_limit = "256"]

#[path = "support/mitm.rs"]
mod mitm;
#[path = "support/sc_mock.rs"]
mod sc_mock;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use basalt::config::ResamplingQuality;
use basalt::decode::{self, Opened};
use basalt::source::{LoadResult, MediaInput, SourceManager};
use basalt::track::{encode_track, Severity, TrackData};
use mitm::Mitm;
use sc_mock::*;
use serde_json::json;

const SOURCES: &str = "[sources]\nhttp = false\nbandcamp = false\n";

fn talk_a_lot() -> TrackSpec<'static> {
    // The real track behind tracks.json's SoundCloud vector, re-created in a mock.
    let mut t = TrackSpec::new(851421076, "Talk a Lot", "404vincent", "talk-a-lot");
    t.full_duration = 125910;
    t.artwork = Some("https://i1.sndcdn.com/artworks-E3uzNFsF8C0W-0-large.jpg");
    t.isrc = Some("QZHNA1985784");
    t.formats = vec![&CTR_AAC, &HLS_OPUS_OLD, &HLS_MP3, &PROGRESSIVE];
    t
}

fn tone(id: u64, slug: &'static str, formats: Vec<&'static Fmt>) -> TrackSpec<'static> {
    let mut t = TrackSpec::new(id, "Tone – ünïcode “quotes”", "Basalt-Fixtures", slug);
    t.formats = formats;
    t
}

struct Setup {
    mitm: Mitm,
    manager: SourceManager,
    counters: Arc<Counters>,
}

fn setup(
    tracks: Vec<serde_json::Value>,
    sets: Vec<(String, serde_json::Value)>,
    extra: &str,
) -> Setup {
    let counters = Arc::new(Counters::default());
    let mock = ScMock {
        tracks,
        sets,
        counters: counters.clone(),
    };
    let mitm = Mitm::start(mock.router());
    let config = mitm.config(&format!("{SOURCES}{extra}"));
    Setup {
        manager: SourceManager::new(&config),
        mitm,
        counters,
    }
}

fn no_stray(s: &Setup) {
    assert!(s.mitm.unrouted().is_empty(), "{:#?}", s.mitm.unrouted());
    for r in s.mitm.requests() {
        if r.host.ends_with("sndcdn.com") || r.host.ends_with("soundcloud.cloud") {
            assert!(
                r.param("client_id").is_none(),
                "client_id sent to the CDN: {}",
                r.url()
            );
        }
        assert!(
            r.header("user-agent")
                .is_some_and(|ua| ua.contains("Chrome/")),
            "desktop Chrome UA on {}",
            r.url()
        );
    }
}

fn track(res: LoadResult) -> TrackData {
    match res {
        LoadResult::Track(t) => t,
        other => panic!("expected a track, got {other:?}"),
    }
}

#[test]
fn a_track_maps_like_lavaplayer_and_encodes_byte_exact() {
    let t = talk_a_lot();
    let s = setup(vec![t.json()], vec![], "");
    let tr = track(
        s.manager
            .load("https://soundcloud.com/404vincent/talk-a-lot"),
    );
    assert_eq!(tr.info.title, "Talk a Lot");
    assert_eq!(tr.info.author, "404vincent");
    assert_eq!(tr.info.length, 125910);
    assert_eq!(
        tr.info.identifier,
        "O:https://api-v2.soundcloud.com/media/soundcloud:tracks:851421076/352a4b90-7619-43a9-bb8b-221314c1c63a/stream/hls"
    );
    assert!(!tr.info.is_stream);
    assert_eq!(
        tr.info.uri.as_deref(),
        Some("https://soundcloud.com/404vincent/talk-a-lot")
    );
    assert_eq!(
        tr.info.artwork_url.as_deref(),
        Some("https://i1.sndcdn.com/artworks-E3uzNFsF8C0W-0-original.jpg")
    );
    assert_eq!(tr.info.isrc.as_deref(), Some("QZHNA1985784"));
    assert_eq!(tr.info.source_name, "soundcloud");
    assert!(tr.source_data.is_empty());
    // The blob Lavalink wrote for this track (tests/data/tracks.json).
    assert_eq!(
        encode_track(&tr),
        "QAABJAMAClRhbGsgYSBMb3QACjQwNHZpbmNlbnQAAAAAAAHr1gBxTzpodHRwczovL2FwaS12Mi5zb3VuZGNsb3VkLmNvbS9tZWRpYS9zb3VuZGNsb3VkOnRyYWNrczo4NTE0MjEwNzYvMzUyYTRiOTAtNzYxOS00M2E5LWJiOGItMjIxMzE0YzFjNjNhL3N0cmVhbS9obHMAAQAsaHR0cHM6Ly9zb3VuZGNsb3VkLmNvbS80MDR2aW5jZW50L3RhbGstYS1sb3QBADpodHRwczovL2kxLnNuZGNkbi5jb20vYXJ0d29ya3MtRTN1ek5Gc0Y4QzBXLTAtb3JpZ2luYWwuanBnAQAMUVpITkExOTg1Nzg0AApzb3VuZGNsb3VkAAAAAAAAAAA="
    );
    // The client id was scraped once, from the ninth script, and sent to the api.
    assert_eq!(s.counters.scrapes.load(Ordering::SeqCst), 1);
    let resolve = s.mitm.requests_to("api-v2.soundcloud.com", "/resolve");
    assert_eq!(resolve[0].param("client_id"), Some(CLIENT_ID));
    assert_eq!(
        resolve[0].param("url"),
        Some("https://soundcloud.com/404vincent/talk-a-lot")
    );
    no_stray(&s);
}

#[test]
fn identifier_prefers_hls_mp3_then_progressive_then_aac() {
    let a = tone(11, "a", vec![&HLS_AAC, &HLS_OPUS, &PROGRESSIVE, &HLS_MP3]);
    let b = tone(12, "b", vec![&HLS_AAC, &PROGRESSIVE]);
    let mut c = tone(13, "c", vec![&CTR_AAC, &HLS_OPUS, &HLS_AAC]);
    c.artwork = None;
    let s = setup(vec![a.json(), b.json(), c.json()], vec![], "");
    let ta = track(s.manager.load(&a.permalink()));
    assert_eq!(
        ta.info.identifier,
        format!("U:{}", lookup_url(11, &HLS_MP3))
    );
    assert_eq!(ta.info.title, "Tone – ünïcode “quotes”");
    let tb = track(s.manager.load(&b.permalink()));
    assert_eq!(
        tb.info.identifier,
        format!("M:{}", lookup_url(12, &PROGRESSIVE))
    );
    let tc = track(s.manager.load(&c.permalink()));
    assert_eq!(
        tc.info.identifier,
        format!("A:{}", lookup_url(13, &HLS_AAC))
    );
    // No artwork: the uploader's avatar, full size.
    assert_eq!(
        tc.info.artwork_url.as_deref(),
        Some("https://i1.sndcdn.com/avatars-0001013-x1y2z3-original.jpg")
    );
    assert_eq!(tc.info.isrc, None);
    // Mobile and www forms and a query resolve the same page.
    let m = track(
        s.manager
            .load("https://m.soundcloud.com/basalt-fixtures/a?si=abc&utm_source=clipboard"),
    );
    assert_eq!(m.info.identifier, ta.info.identifier);
    no_stray(&s);
}

#[test]
fn a_set_is_fetched_by_ids_resorted_and_blocked_tracks_dropped() {
    let specs: Vec<TrackSpec> = (0..5)
        .map(|i| {
            let mut t = tone(
                100 + i,
                ["s0", "s1", "s2", "s3", "s4"][i as usize],
                vec![&HLS_MP3],
            );
            if i == 3 {
                t.policy = "BLOCK";
            }
            t
        })
        .collect();
    let tracks: Vec<_> = specs.iter().map(|t| t.json()).collect();
    // Set order: 102, 100, 104, 103, 101 — two full objects, three id-only stubs.
    let order = [2usize, 0, 4, 3, 1];
    let listed: Vec<_> = order
        .iter()
        .enumerate()
        .map(|(n, &i)| {
            if n < 2 {
                tracks[i].clone()
            } else {
                json!({"id": 100 + i as u64, "kind": "track", "monetization_model": "NOT_APPLICABLE", "policy": specs[i].policy})
            }
        })
        .collect();
    let set = json!({
        "artwork_url": null, "created_at": "2024-01-01T00:00:00Z", "description": null,
        "duration": 10200, "embeddable_by": "all", "genre": "", "id": 777, "kind": "playlist",
        "label_name": null, "last_modified": "2024-01-02T00:00:00Z", "license": "all-rights-reserved",
        "likes_count": 3, "managed_by_feeds": false, "permalink": "my-set",
        "permalink_url": "https://soundcloud.com/basalt-fixtures/sets/my-set", "public": true,
        "purchase_title": null, "purchase_url": null, "release_date": null, "reposts_count": 0,
        "secret_token": null, "sharing": "public", "tag_list": "", "title": "My Set: “Ünïcode” & more",
        "uri": "https://api.soundcloud.com/playlists/777", "user_id": 1, "set_type": "",
        "is_album": false, "published_at": "2024-01-01T00:00:00Z", "display_date": "2024-01-01T00:00:00Z",
        "user": {"id": 1, "kind": "user", "username": "Basalt-Fixtures"},
        "tracks": listed, "track_count": 5
    });
    let s = setup(
        tracks.clone(),
        vec![(
            "https://soundcloud.com/basalt-fixtures/sets/my-set".into(),
            set,
        )],
        "",
    );
    match s
        .manager
        .load("https://soundcloud.com/basalt-fixtures/sets/my-set")
    {
        LoadResult::Playlist {
            name,
            selected_track,
            tracks,
        } => {
            assert_eq!(name, "My Set: “Ünïcode” & more");
            assert_eq!(selected_track, -1);
            let ids: Vec<&str> = tracks
                .iter()
                .map(|t| t.info.uri.as_deref().unwrap())
                .collect();
            assert_eq!(
                ids,
                [
                    "https://soundcloud.com/basalt-fixtures/s2",
                    "https://soundcloud.com/basalt-fixtures/s0",
                    "https://soundcloud.com/basalt-fixtures/s4",
                    "https://soundcloud.com/basalt-fixtures/s1"
                ]
            );
        }
        other => panic!("expected a playlist, got {other:?}"),
    }
    let calls = s.mitm.requests_to("api-v2.soundcloud.com", "/tracks");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].param("ids"), Some("102,100,104,103,101"));
    // A set that does not exist: empty.
    assert!(matches!(
        s.manager
            .load("https://soundcloud.com/basalt-fixtures/sets/gone"),
        LoadResult::Empty
    ));
    no_stray(&s);
}

#[test]
fn likes_search_and_short_links() {
    let a = tone(21, "a", vec![&HLS_MP3]);
    let mut b = tone(22, "b", vec![&PROGRESSIVE]);
    b.policy = "BLOCK";
    let c = tone(23, "c", vec![&HLS_AAC]);
    let counters = Arc::new(Counters::default());
    let mock = ScMock {
        tracks: vec![a.json(), b.json(), c.json()],
        sets: vec![],
        counters,
    };
    let likes_page = "<!DOCTYPE html><html><head><title>Likes</title></head><body><script>window.__sc_hydration = [{\"hydratable\":\"anonymousId\",\"data\":\"1-2-3\"},{\"hydratable\":\"user\",\"data\":{\"avatar_url\":\"https:\\/\\/i1.sndcdn.com\\/avatars-x-large.jpg\",\"city\":\"\",\"comments_count\":0,\"id\":4242,\"kind\":\"user\",\"permalink\":\"liker\",\"urn\":\"soundcloud:users:4242\",\"username\":\"The Liker ♥\",\"verified\":false}}];</script></body></html>";
    let router = mock
        .router()
        .route("GET", "soundcloud.com", "/liker/likes", move |_| {
            mitm::MockResponse::text(likes_page, "text/html; charset=utf-8")
        })
        .route("GET", "soundcloud.com", "/nobody/likes", |_| mitm::MockResponse::status(404))
        .route("HEAD", "on.soundcloud.com", "/AbCd9", |_| {
            mitm::MockResponse::redirect(
                302,
                "https://soundcloud.com/basalt-fixtures/a?ref=clipboard&p=i&c=1&si=x&utm_source=clipboard",
            )
        })
        .route("HEAD", "on.soundcloud.com", "/NoLoc", |_| mitm::MockResponse::status(200))
        .route("GET", "soundcloud.app.goo.gl", "/xYz", |_| {
            mitm::MockResponse::redirect(301, "https://m.soundcloud.com/basalt-fixtures/c")
        })
        .route("GET", "soundcloud.app.goo.gl", "/dead", |_| {
            mitm::MockResponse::text("<html>gone</html>", "text/html")
        });
    let mitm = Mitm::start(router);
    let m = SourceManager::new(&mitm.config(SOURCES));
    match m.load("https://soundcloud.com/liker/likes") {
        LoadResult::Playlist { name, tracks, .. } => {
            assert_eq!(name, "Liked by The Liker ♥");
            // The blocked track and the null entry are skipped.
            assert_eq!(tracks.len(), 2);
        }
        other => panic!("likes: {other:?}"),
    }
    let likes = mitm.requests_to("api-v2.soundcloud.com", "/users/4242/likes");
    assert_eq!(likes[0].param("limit"), Some("200"));
    assert_eq!(likes[0].param("offset"), Some("0"));
    assert!(matches!(
        m.load("https://soundcloud.com/nobody/likes"),
        LoadResult::Empty
    ));

    match m.load("scsearch:sine tone & more") {
        LoadResult::Search(ts) => assert_eq!(ts.len(), 2),
        other => panic!("search: {other:?}"),
    }
    let q = mitm.requests_to("api-v2.soundcloud.com", "/search/tracks");
    assert_eq!(q[0].param("q"), Some("sine tone & more"));
    assert_eq!(q[0].param("limit"), Some("10"));
    assert_eq!(q[0].param("offset"), Some("0"));
    assert!(matches!(
        m.load("scsearch[5,500]:tone"),
        LoadResult::Search(_)
    ));
    let q = mitm.requests_to("api-v2.soundcloud.com", "/search/tracks");
    assert_eq!(q[1].param("limit"), Some("200"));
    assert_eq!(q[1].param("offset"), Some("5"));
    assert!(matches!(
        m.load("scsearch:nothing at all"),
        LoadResult::Empty
    ));

    let t = track(m.load("https://on.soundcloud.com/AbCd9"));
    assert_eq!(
        t.info.uri.as_deref(),
        Some("https://soundcloud.com/basalt-fixtures/a")
    );
    match m.load("https://on.soundcloud.com/NoLoc") {
        LoadResult::Error(e) => {
            assert_eq!(
                e.message.as_deref(),
                Some("Unable to resolve Soundcloud short URL")
            );
            assert_eq!(e.severity, Severity::Suspicious);
        }
        other => panic!("short link without Location: {other:?}"),
    }
    // Mobile share links: the first redirect names the page.
    let t = track(m.load("https://soundcloud.app.goo.gl/xYz"));
    assert_eq!(
        t.info.uri.as_deref(),
        Some("https://soundcloud.com/basalt-fixtures/c")
    );
    match m.load("https://soundcloud.app.goo.gl/dead") {
        LoadResult::Error(e) => {
            assert_eq!(
                e.message.as_deref(),
                Some("Unable to process soundcloud mobile link")
            )
        }
        other => panic!("mobile link without redirect: {other:?}"),
    }
    assert!(mitm.unrouted().is_empty(), "{:#?}", mitm.unrouted());

    // Search disabled: `scsearch:` is nobody's.
    let off = SourceManager::new(&mitm.config(&format!(
        "{SOURCES}[player]\nsoundcloud_search_enabled = false\n"
    )));
    let before = mitm.requests().len();
    assert!(matches!(off.load("scsearch:tone"), LoadResult::Empty));
    assert_eq!(mitm.requests().len(), before);
}

#[test]
fn a_rejected_client_id_is_scraped_again_and_the_request_retried_once() {
    let a = tone(31, "a", vec![&HLS_MP3]);
    let s = setup(
        vec![a.json()],
        vec![],
        &format!("[soundcloud]\nclient_id = \"{STALE_ID}\"\n"),
    );
    let t = track(s.manager.load(&a.permalink()));
    assert!(t.info.identifier.starts_with("U:"));
    let resolve = s.mitm.requests_to("api-v2.soundcloud.com", "/resolve");
    assert_eq!(resolve.len(), 2);
    assert_eq!(resolve[0].param("client_id"), Some(STALE_ID));
    assert_eq!(resolve[1].param("client_id"), Some(CLIENT_ID));
    assert_eq!(s.counters.scrapes.load(Ordering::SeqCst), 1);
    assert_eq!(s.counters.rejected.load(Ordering::SeqCst), 1);
    // The new id is kept.
    track(s.manager.load(&a.permalink()));
    assert_eq!(s.counters.scrapes.load(Ordering::SeqCst), 1);
    assert_eq!(s.counters.rejected.load(Ordering::SeqCst), 1);
    no_stray(&s);
}

#[test]
fn errors_and_previews() {
    let mut preview = tone(41, "preview", vec![&HLS_AAC]);
    preview.monetization = "SUB_HIGH_TIER";
    let broken = tone(42, "no-formats", vec![&CTR_AAC]);
    let s = setup(vec![preview.json(), broken.json()], vec![], "");
    match s
        .manager
        .load("https://soundcloud.com/someone/removed-track")
    {
        LoadResult::Error(e) => {
            assert_eq!(e.message.as_deref(), Some("This track is not available"));
            assert_eq!(e.severity, Severity::Common);
        }
        other => panic!("{other:?}"),
    }
    match s.manager.load(&broken.permalink()) {
        LoadResult::Error(e) => {
            assert_eq!(
                e.message.as_deref(),
                Some("Did not detect any supported formats")
            );
            assert_eq!(e.severity, Severity::Fault);
        }
        other => panic!("{other:?}"),
    }
    // A Go+ preview: full length reported, loads unless filtered.
    let t = track(s.manager.load(&preview.permalink()));
    assert_eq!(t.info.length, 2040);
    let filtered = SourceManager::new(
        &s.mitm
            .config(&format!("{SOURCES}[soundcloud]\nfilter_previews = true\n")),
    );
    assert!(matches!(
        filtered.load(&preview.permalink()),
        LoadResult::Empty
    ));

    // The API failing: suspicious, with the status in the cause.
    let mitm = Mitm::start(
        mitm::Router::new().route("GET", "api-v2.soundcloud.com", "/*", |_| {
            mitm::MockResponse::status(503)
        }),
    );
    let m = SourceManager::new(&mitm.config(&format!(
        "{SOURCES}[soundcloud]\nclient_id = \"{CLIENT_ID}\"\n"
    )));
    match m.load("https://soundcloud.com/a/b") {
        LoadResult::Error(e) => {
            assert_eq!(
                e.message.as_deref(),
                Some("Loading track from SoundCloud failed.")
            );
            assert_eq!(e.severity, Severity::Suspicious);
            assert!(e.cause.contains("503"), "{}", e.cause);
        }
        other => panic!("{other:?}"),
    }
    match m.load("scsearch:x") {
        LoadResult::Error(e) => {
            assert_eq!(
                e.message.as_deref(),
                Some("Loading search results from SoundCloud failed.")
            )
        }
        other => panic!("{other:?}"),
    }
    match m.load("https://soundcloud.com/a/sets/b") {
        LoadResult::Error(e) => {
            assert_eq!(
                e.message.as_deref(),
                Some("Loading playlist from SoundCloud failed.")
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(mitm.unrouted().is_empty());
}

/// Decodes a media input to the end (or after a seek to `seek_ms`): (seconds, rms).
fn decode_all(input: MediaInput, seek_ms: Option<i64>) -> (f64, f32) {
    let Opened::Pcm(mut dec) = decode::open(input, ResamplingQuality::Low).expect("decodable")
    else {
        panic!("PCM expected")
    };
    if let Some(ms) = seek_ms {
        dec.seek(ms).expect("seek");
    }
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

#[test]
fn playback_chooses_progressive_then_hls_mp3_then_aac_and_seeks_in_hls() {
    let prog = tone(51, "prog", vec![&HLS_AAC, &HLS_MP3, &PROGRESSIVE]);
    let mp3 = tone(52, "mp3", vec![&HLS_AAC, &HLS_OPUS, &HLS_MP3]);
    let aac = tone(53, "aac", vec![&CTR_AAC, &HLS_OPUS, &HLS_AAC]);
    let s = setup(vec![prog.json(), mp3.json(), aac.json()], vec![], "");

    let t = track(s.manager.load(&prog.permalink()));
    let input = s.manager.open(&t).unwrap();
    assert_eq!(input.extension.as_deref(), Some("mp3"));
    assert!(input.segments.is_none());
    let (secs, rms) = decode_all(input, None);
    assert!((secs - 2.0).abs() < 0.1, "progressive {secs} s");
    assert!(rms > 0.03, "rms {rms}");
    // The lookup carried the track authorization.
    let look = s
        .mitm
        .requests_to("api-v2.soundcloud.com", "/media/soundcloud:tracks:51/");
    assert!(look[0]
        .param("track_authorization")
        .is_some_and(|a| a.starts_with("eyJ")));

    let t = track(s.manager.load(&mp3.permalink()));
    let input = s.manager.open(&t).unwrap();
    assert_eq!(input.extension.as_deref(), Some("mp3"));
    let idx = input.segments.clone().expect("HLS VOD index");
    assert_eq!(idx.len(), 3);
    let (secs, rms) = decode_all(input, None);
    assert!((secs - 2.0).abs() < 0.1, "HLS MP3 {secs} s");
    assert!(rms > 0.03, "rms {rms}");
    // Seek to 1.5 s: the third segment (from ~1.39 s) is fetched, the second is skipped.
    let before = s
        .mitm
        .requests_to("cf-hls-media.sndcdn.com", "/media/1000/")
        .len();
    let (secs, rms) = decode_all(s.manager.open(&t).unwrap(), Some(1500));
    assert!((secs - 0.54).abs() < 0.06, "after the seek: {secs} s");
    assert!(rms > 0.03);
    let second = s
        .mitm
        .requests_to("cf-hls-media.sndcdn.com", "/media/1000/")
        .len();
    assert_eq!(second, before, "the seek jumped over segment 1");
    assert!(!s
        .mitm
        .requests_to("cf-hls-media.sndcdn.com", "/media/2000/")
        .is_empty());

    let t = track(s.manager.load(&aac.permalink()));
    assert!(t.info.identifier.starts_with("A:"));
    let input = s.manager.open(&t).unwrap();
    assert_eq!(input.extension.as_deref(), Some("mp4"));
    let (secs, rms) = decode_all(input, None);
    assert!((secs - 3.0).abs() < 0.1, "HLS AAC {secs} s");
    assert!(rms > 0.03, "rms {rms}");
    let (secs, _) = decode_all(s.manager.open(&t).unwrap(), Some(2200));
    assert!((secs - 0.84).abs() < 0.08, "AAC after the seek: {secs} s");
    // Init section and segments came with their signatures, never with a client id.
    let init = s.mitm.requests_to(
        "playback.media-streaming.soundcloud.cloud",
        "/aBcD53/aac_160k/9f8e7d6c/init.mp4",
    );
    assert!(
        init.len() >= 3,
        "init fetched on open and again after the seek"
    );
    assert!(init[0].param("Signature").is_some());
    no_stray(&s);
}

#[test]
fn playback_falls_back_to_the_stored_lookup_url() {
    let a = tone(61, "a", vec![&HLS_MP3]);
    let s = setup(vec![a.json()], vec![], "");
    let t = track(s.manager.load(&a.permalink()));
    // A blob whose uri no longer resolves (the track was renamed): the identifier's
    // lookup URL is used.
    let mut moved = t.clone();
    moved.info.uri = Some("https://soundcloud.com/basalt-fixtures/renamed".into());
    match s.manager.open(&moved) {
        Err(e) => assert_eq!(e.to_string(), "This track is not available"),
        Ok(_) => panic!("a removed track must not play"),
    }
    let mut bare = t.clone();
    bare.info.uri = None;
    let input = s
        .manager
        .open(&bare)
        .expect("lookup URL from the identifier");
    assert_eq!(input.segments.as_ref().map(|i| i.len()), Some(3));
    no_stray(&s);
}

#[test]
fn a_failed_client_id_scrape_fails_the_load_cleanly() {
    let mitm = Mitm::start(
        mitm::Router::new()
            .route("GET", "soundcloud.com", "/", |_| {
                mitm::MockResponse::status(503)
            })
            .route("GET", "api-v2.soundcloud.com", "/*", |_| {
                panic!("no api call without a client id")
            }),
    );
    let m = SourceManager::new(&mitm.config(SOURCES));
    match m.load("https://soundcloud.com/a/b") {
        LoadResult::Error(e) => {
            assert_eq!(
                e.message.as_deref(),
                Some("Loading track from SoundCloud failed.")
            );
            assert_eq!(e.severity, Severity::Suspicious);
            assert!(e.cause.contains("main page response: 503"), "{}", e.cause);
        }
        other => panic!("{other:?}"),
    }
    assert!(mitm.requests_to("api-v2.soundcloud.com", "/").is_empty());
}

#[test]
fn a_failing_stream_lookup_is_a_playback_fault() {
    let a = tone(81, "a", vec![&HLS_MP3]);
    let s = setup(vec![a.json()], vec![], "");
    let mut t = track(s.manager.load(&a.permalink()));
    // A blob from another node whose lookup URL no longer exists, and no permalink.
    t.info.uri = None;
    t.info.identifier = format!(
        "U:https://api-v2.soundcloud.com/media/soundcloud:tracks:81/{}/stream/hls",
        "00000000-dead-4bad-8bad-000000000000"
    );
    match s.manager.open(&t) {
        Err(e) => {
            let ex = e.to_exception();
            assert_eq!(
                ex.message.as_deref(),
                Some("Something broke when playing the track.")
            );
            assert_eq!(ex.severity, Severity::Fault);
            assert!(
                ex.cause
                    .contains("Invalid status code for soundcloud stream: 404"),
                "{}",
                ex.cause
            );
        }
        Ok(_) => panic!("a dead lookup URL must not play"),
    }
}
