//! Any bytes to the sources' parsers: container detection (both hint passes), the
//! playlist parsers (M3U, PLS, link lists, HLS master/media), the MPEG-TS demuxer, the ICY
//! metadata stripper and symphonia's probing of whatever was detected. Never panics.
#![no_main]

use std::io::Read;

use basalt::source::icy::{stream_title, IcyReader, TitleCell};
use basalt::source::mpegts::TsReader;
use basalt::source::probe::{self, Hints, ProbeKind};
use basalt::source::{hls, playlist};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let hint_sets = [
        Hints::default(),
        Hints {
            mime: Some("audio/mpeg".into()),
            extension: None,
        },
        Hints {
            mime: Some("audio/aac".into()),
            extension: Some("aac".into()),
        },
        Hints {
            mime: None,
            extension: Some("ts".into()),
        },
    ];
    let head = &data[..data.len().min(probe::HEAD_LEN)];
    for hints in &hint_sets {
        if let Some(kind) = probe::detect(head, hints) {
            assert_eq!(ProbeKind::from_name(kind.name()), Some(kind));
            if kind.is_media() && data.len() < 64 * 1024 {
                let _ =
                    probe::media_info(kind, Box::new(std::io::Cursor::new(data.to_vec())), hints);
            }
        }
    }
    let text = String::from_utf8_lossy(data);
    for kind in [ProbeKind::M3u, ProbeKind::Pls, ProbeKind::Plain] {
        if let Ok(playlist::Parsed::Entries(e)) = playlist::parse(kind, &text) {
            assert!(!e.is_empty());
        }
    }
    let base = hls::Url::parse("http://127.0.0.1/a/b/index.m3u8").unwrap();
    let _ = hls::parse(&text, &base);
    let _ = hls::attributes(&text);
    let mut out = Vec::new();
    let _ = TsReader::new(data).read_to_end(&mut out);
    let _ = stream_title(data);
    if let Some((&m, rest)) = data.split_first() {
        let mut icy = IcyReader::new(rest, m as usize, TitleCell::default());
        out.clear();
        let _ = icy.read_to_end(&mut out);
        assert!(out.len() <= rest.len());
    }
});
