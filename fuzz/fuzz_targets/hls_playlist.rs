//! Any bytes to the HLS engine's pure parts: playlists (master and media, keys, maps,
//! durations) with the segment index built from them, payload sniffing, the Ogg header pages
//! replayed before a seek, and AES-128-CBC segment decryption with its padding check.
//! Never panics.
#![no_main]

use std::io::Read;

use basalt::source::hls;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let base = hls::Url::parse("https://cdn.example/a/b/index.m3u8?sig=1").unwrap();
    if let hls::Playlist::Media(pl) = hls::parse(&text, &base) {
        let index = hls::SegmentIndex::new(pl.segments.iter().map(|s| s.duration_ms));
        assert_eq!(index.len(), pl.segments.len());
        for ms in [0, 1, 999, 10_000, index.total_ms().saturating_sub(1), index.total_ms()] {
            if let Some((i, into)) = index.locate(ms) {
                assert!(i < index.len() && into <= ms);
            }
        }
        for s in &pl.segments {
            if let Some(k) = &s.key {
                let _ = k.iv_for(s.seq);
            }
        }
    }
    for has_map in [false, true] {
        let _ = hls::sniff(data, has_map);
    }
    // The Ogg header pages replayed before a seek target's segment: never more than the
    // input, never a panic.
    if let Ok(head) = hls::ogg_header_pages(&mut std::io::Cursor::new(data)) {
        assert!(head.len() <= data.len());
    }
    if data.len() >= 32 {
        let key: [u8; 16] = data[..16].try_into().unwrap();
        let iv: [u8; 16] = data[16..32].try_into().unwrap();
        if let Ok(mut r) = hls::decrypt_aes128(std::io::Cursor::new(data[32..].to_vec()), key, iv) {
            let mut out = Vec::new();
            if r.read_to_end(&mut out).is_ok() {
                assert!(out.len() < data.len() - 32 || data.len() == 32);
            }
        }
    }
});
