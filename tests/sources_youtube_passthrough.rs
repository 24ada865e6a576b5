//! A YouTube Opus/WebM format (itag 251) played with no filters at volume 100 reaches the
//! sink packet for packet (passthrough: no decode, no encode), through the real source:
//! the player request and the chunked `range=` media reads go through the intercepting
//! proxy to mock upstreams.

mod audio_support;
#[path = "support/mitm.rs"]
mod mitm;

use std::sync::Arc;

use audio_support::*;
use basalt::engine::Opener;
use basalt::player::EndReason;
use basalt::source::SourceManager;
use basalt::track::{TrackData, TrackInfo};
use mitm::{Mitm, MockResponse, Router};
use serde_json::json;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

const VID: &str = "dQw4w9WgXcQ";
const MEDIA_HOST: &str = "rr5---sn-test.googlevideo.com";

fn webm() -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/sine440_48k_stereo_2s.webm",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// The Opus packets inside the WebM, as the demuxer yields them.
fn webm_packets(bytes: Vec<u8>) -> Vec<Vec<u8>> {
    let mss = MediaSourceStream::new(
        Box::new(std::io::Cursor::new(bytes)),
        MediaSourceStreamOptions::default(),
    );
    let mut hint = Hint::new();
    hint.with_extension("webm");
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .unwrap();
    let mut out = Vec::new();
    while let Ok(Some(p)) = format.next_packet() {
        out.push(p.data.to_vec());
    }
    out
}

fn router() -> Router {
    let len = webm().len();
    Router::new()
        .route("POST", "youtubei.googleapis.com", "/youtubei/v1/visitor_id", |_| {
            MockResponse::json(json!({"responseContext": {"visitorData": "V"}}))
        })
        .route("POST", "youtubei.googleapis.com", "/youtubei/v1/player", move |_| {
            MockResponse::json(json!({
                "playabilityStatus": {"status": "OK"},
                "videoDetails": {"videoId": VID, "title": "t", "author": "a", "lengthSeconds": "2"},
                "streamingData": {"adaptiveFormats": [
                    {"itag": 140, "url": format!("https://{MEDIA_HOST}/videoplayback?itag=140"), "mimeType": "audio/mp4; codecs=\"mp4a.40.2\"", "bitrate": 130000, "contentLength": "100"},
                    {"itag": 251, "url": format!("https://{MEDIA_HOST}/videoplayback?itag=251"), "mimeType": "audio/webm; codecs=\"opus\"", "bitrate": 140000, "contentLength": len.to_string()}
                ]}
            }))
        })
        .route("GET", MEDIA_HOST, "/videoplayback", |r| {
            let body = webm();
            let Some((a, b)) = r.param("range").and_then(|x| x.split_once('-')) else {
                return MockResponse::status(400);
            };
            let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
            if r.param("itag") != Some("251") || a >= body.len() {
                return MockResponse::status(403);
            }
            MockResponse {
                body: body[a..(b + 1).min(body.len())].to_vec(),
                ranges: false,
                ..MockResponse::status(200)
            }
            .header("Content-Type", "audio/webm")
        })
}

#[test]
fn youtube_opus_passes_through_untouched() {
    let expected = webm_packets(webm());
    assert!(expected.len() >= 90, "{} packets", expected.len());
    let m = Mitm::start(router());
    let sources = Arc::new(SourceManager::new(
        &m.config("[youtube]\nmedia_chunk_bytes = 3000\n"),
    ));
    let opener: Opener =
        Arc::new(move |t: &TrackData| sources.open(t).map_err(|e| e.to_exception()));
    let rig = Rig::with(test_config(), opener);
    rig.play(
        Arc::new(TrackData {
            info: TrackInfo {
                title: "t".into(),
                author: "a".into(),
                length: 2000,
                identifier: VID.into(),
                is_stream: false,
                uri: Some(format!("https://www.youtube.com/watch?v={VID}")),
                artwork_url: None,
                isrc: None,
                source_name: "youtube".into(),
            },
            source_data: Vec::new(),
            position: 0,
        }),
        0,
        None,
    );
    rig.expect_start();
    assert_eq!(rig.expect_end(10).0, EndReason::Finished);
    rig.settle();
    let frames = rig.frames();
    // Every packet of the file arrives, byte for byte and in order (the first one
    // included: Matroska blocks without a duration once made the demuxer drop it), ...
    assert_eq!(frames.len(), expected.len(), "packets lost on the way");
    for (i, (got, want)) in frames.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "packet {i} was not passed through unchanged");
    }
    // ... exactly as the same WebM file plays from a local file.
    assert_eq!(
        frames,
        local_frames(),
        "YouTube playback differs from the local file"
    );
    // Bounded chunks: more than one media request, all with `range=`.
    let media = m.requests_to(MEDIA_HOST, "/videoplayback");
    assert!(media.len() > 3 && media.iter().all(|r| r.param("range").is_some()));
    assert!(m.unrouted().is_empty(), "{:?}", m.unrouted());
}

/// The frames the engine sends for the same WebM played from a local file.
fn local_frames() -> Vec<Vec<u8>> {
    let rig = Rig::new();
    let p = std::path::PathBuf::from(format!(
        "{}/tests/fixtures/sine440_48k_stereo_2s.webm",
        env!("CARGO_MANIFEST_DIR")
    ));
    rig.play(track(&p, 2000), 0, None);
    rig.expect_start();
    assert_eq!(rig.expect_end(10).0, EndReason::Finished);
    rig.settle();
    rig.frames()
}

#[path = "audio_support/webm.rs"]
mod webm;

/// A generated WebM laid out as YouTube's (no DefaultDuration, blocks in 2 s clusters):
/// every one of its packets reaches the sink unchanged, across cluster boundaries.
#[test]
fn generated_youtube_style_webm_passes_every_packet_through() {
    let mut enc =
        opus2::Encoder::new(48_000, opus2::Channels::Stereo, opus2::Application::Audio).unwrap();
    let mut pcm = [0f32; 1920];
    let packets: Vec<Vec<u8>> = (0..300)
        .map(|i| {
            for (k, s) in pcm.iter_mut().enumerate() {
                *s = (((i * 1920 + k) as f32) * 0.0287).sin() * 0.3;
            }
            enc.encode_vec_float(&pcm, 1500).unwrap()
        })
        .collect();
    let bytes = webm::webm_opus(&packets, 100);
    assert_eq!(
        webm_packets(bytes.clone()),
        packets,
        "the demuxer reads them all"
    );
    let path = std::env::temp_dir().join(format!("basalt-yt-webm-{}.webm", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let rig = Rig::new();
    rig.play(track(&path, 6_000), 0, None);
    rig.expect_start();
    assert_eq!(rig.expect_end(30).0, EndReason::Finished);
    rig.settle();
    let frames = rig.frames();
    let _ = std::fs::remove_file(&path);
    assert_eq!(frames.len(), packets.len(), "packets lost on the way");
    assert!(frames == packets, "a packet changed on the way");
}
