//! The HLS engine through the intercepting proxy: AES-128 segments (key fetched once, IV
//! from the tag or from the media sequence number) decrypted to the clear fMP4 bytes, and
//! the refresh hook that re-reads a VOD playlist whose signed segment URLs expire.

#[path = "support/mitm.rs"]
mod mitm;

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aes::cipher::{BlockEncrypt, KeyInit};
use basalt::net::Outbound;
use basalt::source::hls::{self, Options, Playlist};
use mitm::{Mitm, MockResponse, Router};

const KEY: [u8; 16] = *b"0123456789abcdef";
const IV: [u8; 16] = [0xA5; 16];

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// AES-128-CBC with PKCS#7, as a packager writes HLS segments.
fn encrypt(plain: &[u8], iv: [u8; 16]) -> Vec<u8> {
    let cipher = aes::Aes128::new(&KEY.into());
    let pad = 16 - plain.len() % 16;
    let mut data = plain.to_vec();
    data.extend(std::iter::repeat_n(pad as u8, pad));
    let mut prev = iv;
    let mut out = Vec::with_capacity(data.len());
    for chunk in data.chunks(16) {
        let mut b = [0u8; 16];
        for i in 0..16 {
            b[i] = chunk[i] ^ prev[i];
        }
        let mut block = b.into();
        cipher.encrypt_block(&mut block);
        prev = block.into();
        out.extend_from_slice(&prev);
    }
    out
}

fn seq_iv(seq: u64) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[8..].copy_from_slice(&seq.to_be_bytes());
    iv
}

#[test]
fn aes_128_segments_are_decrypted_with_tag_or_sequence_ivs() {
    let keys = Arc::new(AtomicUsize::new(0));
    let k = keys.clone();
    let playlist = format!(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:40\n\
         #EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MAP:URI=\"init.mp4\"\n\
         #EXT-X-KEY:METHOD=AES-128,URI=\"https://keys.example/v1/key?id=7\",IV=0x{}\n\
         #EXTINF:1.021678,\nseg0.m4s\n#EXTINF:0.998458,\nseg1.m4s\n\
         #EXT-X-KEY:METHOD=AES-128,URI=\"https://keys.example/v1/key?id=7\"\n\
         #EXTINF:0.998458,\nseg2.m4s\n#EXTINF:0.023220,\nseg3.m4s\n#EXT-X-ENDLIST\n",
        IV.iter().map(|b| format!("{b:02X}")).collect::<String>()
    );
    let router = Router::new()
        .route("GET", "cdn.example", "/vod/index.m3u8", move |_| {
            MockResponse::text(&playlist, "application/vnd.apple.mpegurl")
        })
        .route("GET", "cdn.example", "/vod/init.mp4", |_| {
            MockResponse::bytes(fixture("hls_fmp4/init.mp4"), "video/mp4")
        })
        .route("GET", "cdn.example", "/vod/*", |r| {
            let i: u64 = r.path["/vod/seg".len()..]
                .trim_end_matches(".m4s")
                .parse()
                .unwrap_or(9);
            let plain = fixture(&format!("hls_fmp4/seg{i}.m4s"));
            let iv = if i < 2 { IV } else { seq_iv(40 + i) };
            MockResponse::bytes(encrypt(&plain, iv), "video/mp4")
        })
        .route("GET", "keys.example", "/v1/key", move |r| {
            k.fetch_add(1, Ordering::SeqCst);
            assert_eq!(r.param("id"), Some("7"));
            MockResponse::bytes(KEY.to_vec(), "application/octet-stream")
        });
    let m = Mitm::start(router);
    let net = Outbound::new(&m.config(""));
    let url = hls::Url::parse("https://cdn.example/vod/index.m3u8").unwrap();
    let mut input = hls::open(&net, &url, false).expect("opens");
    assert_eq!(input.extension.as_deref(), Some("mp4"));
    let mut got = Vec::new();
    input.reader.read_to_end(&mut got).unwrap();
    let mut expect = fixture("hls_fmp4/init.mp4");
    for i in 0..4 {
        expect.extend(fixture(&format!("hls_fmp4/seg{i}.m4s")));
    }
    assert_eq!(got, expect, "decrypted stream");
    assert_eq!(keys.load(Ordering::SeqCst), 1, "the key is fetched once");
    assert!(m.unrouted().is_empty(), "{:#?}", m.unrouted());
}

#[test]
fn a_vod_playlist_is_refreshed_when_its_signatures_expire() {
    let served = Arc::new(AtomicUsize::new(0));
    let router = Router::new().route("GET", "cdn.example", "/sig/*", |r| {
        // Only the newest signature is accepted.
        if r.param("sig") != Some("2") && !r.path.ends_with("seg0.m4s") {
            return MockResponse::status(403);
        }
        let name = r.path.rsplit('/').next().unwrap_or("");
        MockResponse::bytes(fixture(&format!("hls_fmp4/{name}")), "video/mp4")
    });
    let m = Mitm::start(router);
    let net = Outbound::new(&m.config(""));
    let list = |sig: u32, n: usize| {
        let mut t = String::from("#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4?sig=2\"\n");
        for (i, d) in ["1.021678", "0.998458", "0.998458", "0.023220"][..n]
            .iter()
            .enumerate()
        {
            t.push_str(&format!("#EXTINF:{d},\nseg{i}.m4s?sig={sig}\n"));
        }
        t.push_str("#EXT-X-ENDLIST\n");
        t
    };
    let base = hls::Url::parse("https://cdn.example/sig/index.m3u8").unwrap();
    let Playlist::Media(first) = hls::parse(&list(1, 4), &base) else {
        panic!("media playlist")
    };
    let calls = served.clone();
    let b2 = base.clone();
    let refresh: hls::Refresh = Arc::new(move || {
        // The first refresh returns a different list (ignored), later ones the re-signed one.
        let n = calls.fetch_add(1, Ordering::SeqCst);
        let text = if n == 0 { list(2, 3) } else { list(2, 4) };
        match hls::parse(&text, &b2) {
            Playlist::Media(pl) => Ok((b2.clone(), pl)),
            Playlist::Master(_) => unreachable!(),
        }
    });
    let mut input = hls::open_media(
        &net,
        base,
        first,
        Options {
            refresh: Some(refresh),
            refresh_after: Duration::ZERO,
        },
    )
    .expect("opens");
    let mut got = Vec::new();
    input.reader.read_to_end(&mut got).unwrap();
    let mut expect = fixture("hls_fmp4/init.mp4");
    for i in 0..4 {
        expect.extend(fixture(&format!("hls_fmp4/seg{i}.m4s")));
    }
    assert_eq!(got, expect);
    assert!(served.load(Ordering::SeqCst) >= 2);
    let late = m.requests_to("cdn.example", "/sig/seg3.m4s");
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].param("sig"), Some("2"));
}
