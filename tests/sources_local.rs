//! The `local` source over the committed fixtures: load results (probe name, info fields),
//! refusals, identifiers that are not ours, and `open()` giving the file's bytes back.

use std::io::Read;

use basalt::config::Config;
use basalt::source::{descriptor_of, probe, LoadResult, SourceManager};
use basalt::track::{Severity, TrackData, UNKNOWN_LENGTH};

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn manager() -> SourceManager {
    let mut c = Config::default();
    c.sources.local = true;
    // Online sources stay out: these tests never leave the machine.
    c.sources.youtube = false;
    c.sources.soundcloud = false;
    c.sources.bandcamp = false;
    c.sources.twitch = false;
    c.sources.vimeo = false;
    SourceManager::new(&c)
}

fn track(m: &SourceManager, id: &str) -> TrackData {
    match m.load(id) {
        LoadResult::Track(t) => t,
        other => panic!("{id}: expected a track, got {other:?}"),
    }
}

/// (file, probe name, tagged, length ms or None for streams)
const CASES: &[(&str, &str, bool, Option<i64>)] = &[
    ("sine440_48k_stereo_2s_id3.mp3", "mp3", true, Some(2040)),
    ("sine440_44k_stereo_2s_xing.mp3", "mp3", false, Some(2000)),
    ("sine440_44k_mono_2s_bare.mp3", "mp3", false, Some(2037)),
    ("sine440_48k_stereo_1s.flac", "flac", true, Some(1000)),
    ("sine440_48k_stereo_0.25s_s16.wav", "wav", false, Some(250)),
    ("sine440_8k_mono_2s_s16.wav", "wav", false, Some(2000)),
    ("sine440_8k_mono_2s_u8.wav", "wav", false, Some(2000)),
    ("sine440_44k_stereo_2s.ogg", "ogg", true, Some(2000)),
    ("sine440_48k_stereo_2s.opus", "ogg", true, Some(2006)),
    (
        "sine440_48k_stereo_2s.webm",
        "matroska/webm",
        true,
        Some(2008),
    ),
    ("sine440_44k_stereo_2s_aac.m4a", "mp4", true, Some(2023)),
    ("sine440_22k_mono_1s_alac.m4a", "mp4", true, Some(1000)),
    ("sine440_44k_stereo_2s.aac", "adts", false, None),
    ("sine440_44k_stereo_2s_aac.ts", "mpegts-adts", false, None),
];

#[test]
fn every_fixture_loads_with_lavaplayer_probe_names_and_info() {
    let m = manager();
    for &(file, probe_name, tagged, length) in CASES {
        let path = fixture(file);
        let t = track(&m, &path);
        assert_eq!(descriptor_of(&t).as_deref(), Some(probe_name), "{file}");
        assert_eq!(
            basalt::track::probe_info(&t).as_deref(),
            Some(probe_name),
            "{file}"
        );
        assert_eq!(t.info.source_name, "local");
        assert_eq!(t.info.identifier, path);
        assert_eq!(t.info.uri.as_deref(), Some(path.as_str()));
        if probe_name == "matroska/webm" {
            // ffmpeg writes the title into Segment Info, not Tags; the artist is a tag.
            assert_eq!(t.info.title, "Unknown title", "{file}");
            assert_eq!(t.info.author, "Basalt-Fixtures", "{file}");
        } else if tagged {
            assert_eq!(t.info.title, "Basalt-Tone", "{file}");
            assert_eq!(t.info.author, "Basalt-Fixtures", "{file}");
        } else {
            assert_eq!(t.info.title, "Unknown title", "{file}");
            assert_eq!(t.info.author, "Unknown artist", "{file}");
        }
        match length {
            Some(ms) => {
                assert!(
                    (t.info.length - ms).abs() <= 50,
                    "{file}: length {}",
                    t.info.length
                );
                assert!(!t.info.is_stream, "{file}");
            }
            None => {
                assert_eq!(t.info.length, UNKNOWN_LENGTH, "{file}");
                assert!(t.info.is_stream, "{file}");
            }
        }
        // The encoded track carries the descriptor, so a saved track opens without probing.
        let enc = basalt::track::encode_track(&t);
        let dec = basalt::track::decode_track(&enc).expect("round trip").data;
        assert_eq!(dec, t, "{file}");
    }
}

#[test]
fn id3_isrc_is_read() {
    let t = track(&manager(), &fixture("sine440_48k_stereo_2s_id3.mp3"));
    assert_eq!(t.info.isrc.as_deref(), Some("QZTST2600001"));
}

#[test]
fn refusals_have_lavaplayer_messages() {
    let m = manager();
    for (file, msg) in [
        (
            "video_only.mp4",
            "No supported audio format in the MP4 file.",
        ),
        (
            "video_only.mkv",
            "No supported audio tracks present in the file.",
        ),
        ("README.md", "Unknown file format."),
    ] {
        match m.load(&fixture(file)) {
            LoadResult::Error(e) => {
                assert_eq!(e.message.as_deref(), Some(msg), "{file}");
                assert_eq!(e.severity, Severity::Common, "{file}");
                assert!(e.cause.contains(msg), "{file}: {}", e.cause);
            }
            other => panic!("{file}: {other:?}"),
        }
    }
}

#[test]
fn corrupt_and_truncated_files_give_errors_not_panics() {
    let dir = std::env::temp_dir().join(format!("basalt-src-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let m = manager();
    for &(file, _, _, _) in CASES {
        let bytes = std::fs::read(fixture(file)).unwrap();
        for cut in [8usize, 64, 300, bytes.len() / 2] {
            let p = dir.join(format!("cut{cut}_{file}"));
            std::fs::write(&p, &bytes[..cut.min(bytes.len())]).unwrap();
            // Any outcome but a panic or hang is acceptable; errors carry a message.
            if let LoadResult::Error(e) = m.load(p.to_str().unwrap()) {
                assert!(e.message.is_some());
            }
        }
        let mut garbage = bytes.clone();
        for (i, b) in garbage.iter_mut().enumerate().skip(16) {
            *b ^= (i as u8).wrapping_mul(31) | 1;
        }
        let p = dir.join(format!("garbled_{file}"));
        std::fs::write(&p, &garbage).unwrap();
        let _ = m.load(p.to_str().unwrap());
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn identifiers_that_are_not_files_are_empty() {
    let m = manager();
    for id in [
        fixture("hls_ts"),                         // a directory
        fixture("does-not-exist.mp3"),             // missing
        "ytsearch:never gonna give you up".into(), // unregistered source's prefix
        "scsearch:anything".into(),
        "".into(),
    ] {
        assert!(matches!(m.load(&id), LoadResult::Empty), "{id}");
    }
}

#[test]
fn local_is_off_by_default_and_registration_order_is_lavalinks() {
    let off = SourceManager::new(&Config::default());
    assert_eq!(
        off.source_names(),
        vec![
            "youtube",
            "soundcloud",
            "bandcamp",
            "twitch",
            "vimeo",
            "http"
        ]
    );
    assert!(matches!(
        off.load(&fixture("sine440_48k_stereo_1s.flac")),
        LoadResult::Empty
    ));
    assert_eq!(manager().source_names(), vec!["local", "http"]);
}

#[test]
fn open_returns_the_file_bytes_with_hints() {
    let m = manager();
    for &(file, probe_name, _, length) in CASES {
        let t = track(&m, &fixture(file));
        let mut input = m.open(&t).expect("open");
        let mut got = Vec::new();
        input.reader.read_to_end(&mut got).unwrap();
        let ext = input.extension.clone().unwrap();
        assert_eq!(input.is_stream, length.is_none(), "{file}");
        if probe_name == "mpegts-adts" {
            assert_eq!(ext, "aac");
            assert_valid_adts(&got);
        } else {
            assert_eq!(got, std::fs::read(fixture(file)).unwrap(), "{file}");
            assert!(input.reader.is_seekable(), "{file}");
        }
    }
}

#[test]
fn open_of_a_missing_file_fails_cleanly() {
    let m = manager();
    let mut t = track(&m, &fixture("sine440_48k_stereo_1s.flac"));
    t.info.identifier = fixture("gone.flac");
    let err = m.open(&t).err().expect("must fail");
    let ex = err.to_exception();
    assert_eq!(
        ex.message.as_deref(),
        Some("Failed to open file for reading.")
    );
    assert_eq!(ex.severity, Severity::Suspicious);
    t.source_data = basalt::track::utf_source_data("no-such-probe");
    assert!(m.open(&t).is_err());
}

/// The whole buffer is a chain of ADTS frames starting at byte 0.
pub fn assert_valid_adts(b: &[u8]) {
    assert!(b.len() > 1000, "too little audio: {}", b.len());
    let mut i = 0;
    let mut frames = 0;
    while i < b.len() {
        let len = probe::adts_frame_len(&b[i..]).unwrap_or_else(|| panic!("no ADTS header at {i}"));
        i += len;
        frames += 1;
    }
    assert_eq!(i, b.len());
    assert!(frames > 40, "{frames} frames");
}

#[test]
fn can_decode_checks_source_and_probe_name() {
    let m = manager();
    let mut t = track(&m, &fixture("sine440_48k_stereo_1s.flac"));
    assert!(m.can_decode(&t));
    t.source_data = basalt::track::utf_source_data("m3u|hls-outer");
    assert!(m.can_decode(&t));
    t.source_data = basalt::track::utf_source_data("nonsense");
    assert!(!m.can_decode(&t));
    t.source_data.clear();
    assert!(!m.can_decode(&t));
    t.source_data = basalt::track::utf_source_data("flac");
    t.info.source_name = "youtube".into();
    assert!(!m.can_decode(&t));
    let http_only = SourceManager::new(&Config::default());
    t.info.source_name = "local".into();
    assert!(!http_only.can_decode(&t));
}
