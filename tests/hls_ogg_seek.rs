//! Seeking in an HLS VOD of Ogg/Opus segments (SoundCloud's `O:` format, sources.md §1.6):
//! only the first segment carries the OpusHead/OpusTags pages, so a seek into a later
//! segment restarts the demuxer on the remembered header pages followed by that segment.
//! The segments are cut at page boundaries from a real Ogg Opus file and served through the
//! intercepting proxy.

#[path = "support/mitm.rs"]
mod mitm;

use std::sync::Arc;

use basalt::config::ResamplingQuality;
use basalt::decode::{self, Opened};
use basalt::net::Outbound;
use basalt::source::hls;
use mitm::{Mitm, MockResponse, Router};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// (offset, length, granule position) of every page.
fn pages(ogg: &[u8]) -> Vec<(usize, usize, u64)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 27 <= ogg.len() {
        assert_eq!(&ogg[at..at + 4], b"OggS");
        let n = ogg[at + 26] as usize;
        let body: usize = ogg[at + 27..at + 27 + n].iter().map(|&l| l as usize).sum();
        let granule = u64::from_le_bytes(ogg[at + 6..at + 14].try_into().unwrap());
        let len = 27 + n + body;
        out.push((at, len, granule));
        at += len;
    }
    out
}

/// Splits the file into a header+audio first segment and audio-only later ones, each about
/// `target_ms` long, with `#EXTINF` durations from the granule positions (48 kHz).
fn segments(ogg: &[u8], target_ms: u64) -> Vec<(Vec<u8>, f64)> {
    let ps = pages(ogg);
    let mut segs = Vec::new();
    let (mut start, mut start_granule) = (0usize, 0u64);
    let mut headers_done = false;
    for (i, &(off, len, granule)) in ps.iter().enumerate() {
        if granule == 0 {
            continue; // header pages stay in the first segment
        }
        if !headers_done {
            headers_done = true;
            start_granule = 0;
        }
        let last = i + 1 == ps.len();
        if (granule - start_granule) * 1000 / 48_000 >= target_ms || last {
            let end = off + len;
            let secs = (granule - start_granule) as f64 / 48_000.0;
            segs.push((ogg[start..end].to_vec(), secs));
            start = end;
            start_granule = granule;
        }
    }
    segs
}

/// Opus packets (20 ms each in the fixture) left after seeking to `seek_ms`.
fn packets_after(input: basalt::source::MediaInput, seek_ms: Option<i64>) -> usize {
    let Opened::Opus(mut dem) = decode::open(input, ResamplingQuality::Low).expect("decodable")
    else {
        panic!("Opus passthrough expected")
    };
    if let Some(ms) = seek_ms {
        dem.seek(ms).expect("seek");
    }
    let (mut p, mut c) = rtrb::RingBuffer::new(64);
    let mut n = 0;
    loop {
        let fill = dem.fill(&mut p, 16).expect("demux");
        while c.pop().is_ok() {
            n += 1;
        }
        if fill.eof && fill.pushed == 0 {
            break;
        }
    }
    n
}

#[test]
fn an_ogg_opus_vod_seeks_into_a_later_segment() {
    let ogg = fixture("sine440_48k_stereo_2s.opus");
    let segs = Arc::new(segments(&ogg, 500));
    assert!(segs.len() >= 3, "{} segments", segs.len());
    let mut list = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n");
    for (i, (_, secs)) in segs.iter().enumerate() {
        list.push_str(&format!("#EXTINF:{secs:.6},\n/media/{i}.opus?sig=a%2Fb\n"));
    }
    list.push_str("#EXT-X-ENDLIST\n");
    let s2 = segs.clone();
    let router = Router::new()
        .route(
            "GET",
            "cf-hls-opus-media.sndcdn.com",
            "/playlist/*",
            move |_| MockResponse::text(&list, "application/vnd.apple.mpegurl"),
        )
        .route(
            "GET",
            "cf-hls-opus-media.sndcdn.com",
            "/media/*",
            move |r| {
                let i: usize = r.path["/media/".len()..]
                    .trim_end_matches(".opus")
                    .parse()
                    .unwrap_or(usize::MAX);
                match s2.get(i) {
                    Some((bytes, _)) => MockResponse::bytes(bytes.clone(), "audio/ogg"),
                    None => MockResponse::status(404),
                }
            },
        );
    let m = Mitm::start(router);
    let net = Outbound::new(&m.config(""));
    let url = hls::Url::parse(
        "https://cf-hls-opus-media.sndcdn.com/playlist/aBcD.64.opus/playlist.m3u8?sig=x",
    )
    .unwrap();
    let open = || hls::open(&net, &url, false).expect("opens");
    let input = open();
    assert_eq!(input.extension.as_deref(), Some("ogg"));
    let idx = input.segments.clone().expect("an Ogg VOD is seekable");
    let all = packets_after(input, None);
    let total_ms = idx.total_ms() as i64;
    assert!((95..=105).contains(&all), "{all} packets in 2 s");

    // Into a later segment: header pages + that segment, audio before the target dropped.
    let target = total_ms * 3 / 4;
    let (seg, _) = idx.locate(target as u64).unwrap();
    assert!(
        seg >= 1,
        "target past the first segment (no Ogg headers of its own)"
    );
    let left = packets_after(open(), Some(target));
    let expect = ((total_ms - target) / 20) as usize;
    assert!(
        left.abs_diff(expect) <= 2,
        "{left} packets after seeking to {target} ms of {total_ms}, expected about {expect}"
    );
    // The header pages were fetched from the first segment, the rest from the target on.
    assert!(!m
        .requests_to("cf-hls-opus-media.sndcdn.com", "/media/0.opus")
        .is_empty());
    assert!(m.unrouted().is_empty(), "{:#?}", m.unrouted());
}
