//! The `http` source against local servers (tiny_http on 127.0.0.1:0, plus raw sockets for
//! ICY status lines and dropped connections): content types right, wrong and missing; range
//! support or not; chunked bodies; redirects; 404/500; ICY metadata; M3U/PLS/link lists;
//! HLS VOD (MPEG-TS and fMP4), master playlists and a live playlist that grows.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use basalt::config::Config;
use basalt::source::{descriptor_of, probe, LoadResult, MediaInput, SourceManager};
use basalt::track::{Severity, TrackData, UNKNOWN_LENGTH};
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

const MP3: &str = "sine440_48k_stereo_2s_id3.mp3";
const BARE_MP3: &str = "sine440_44k_mono_2s_bare.mp3";
const FLAC: &str = "sine440_48k_stereo_1s.flac";

fn fixture_path(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[derive(Debug, Clone)]
struct Recorded {
    url: String,
    range: Option<String>,
    icy: bool,
    proxy_auth: Option<String>,
}

/// A tiny_http server answering every request on its own thread.
struct TestServer {
    base: String,
    server: Arc<tiny_http::Server>,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

impl TestServer {
    fn start() -> TestServer {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let base = format!("http://{}", server.server_addr().to_ip().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let live = Arc::new(AtomicUsize::new(0));
        let (s, b, r) = (server.clone(), base.clone(), requests.clone());
        std::thread::spawn(move || {
            for req in s.incoming_requests() {
                let (b, r, live) = (b.clone(), r.clone(), live.clone());
                std::thread::spawn(move || handle(req, &b, &r, &live));
            }
        });
        TestServer {
            base,
            server,
            requests,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn recorded(&self, path_prefix: &str) -> Vec<Recorded> {
        let all = self.requests.lock().unwrap().clone();
        all.into_iter()
            .filter(|r| r.url.contains(path_prefix))
            .collect()
    }
}

fn header(req: &tiny_http::Request, name: &'static str) -> Option<String> {
    req.headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str().to_string())
}

fn hdr(k: &str, v: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap()
}

type Resp = tiny_http::Response<Box<dyn Read + Send>>;

fn resp(status: u16, headers: Vec<tiny_http::Header>, body: Vec<u8>, chunked: bool) -> Resp {
    let len = (!chunked).then_some(body.len());
    tiny_http::Response::new(
        status.into(),
        headers,
        Box::new(std::io::Cursor::new(body)),
        len,
        None,
    )
}

fn redirect(status: u16, to: &str) -> Resp {
    resp(status, vec![hdr("Location", to)], Vec::new(), false)
}

fn handle(req: tiny_http::Request, base: &str, rec: &Mutex<Vec<Recorded>>, live: &AtomicUsize) {
    let raw = req.url().to_string();
    rec.lock().unwrap().push(Recorded {
        url: raw.clone(),
        range: header(&req, "Range"),
        icy: header(&req, "Icy-MetaData").as_deref() == Some("1"),
        proxy_auth: header(&req, "Proxy-Authorization"),
    });
    // Through the proxy the request line carries an absolute URI.
    let path_q = match raw.strip_prefix("http://") {
        Some(rest) => rest
            .find('/')
            .map_or("/".to_string(), |i| rest[i..].to_string()),
        None => raw.clone(),
    };
    let (path, query) = path_q.split_once('?').unwrap_or((&path_q, ""));
    let q = |k: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")[..]).map(str::to_string))
    };
    let range = header(&req, "Range");
    let m3u = |s: String| {
        resp(
            200,
            vec![hdr("Content-Type", "audio/x-mpegurl")],
            s.into_bytes(),
            false,
        )
    };
    let response = if let Some(name) = path.strip_prefix("/f/") {
        let data = fixture(name);
        let ct = q("ct")
            .map(|c| c.replace("%2F", "/"))
            .unwrap_or_else(|| "audio/mpeg".into());
        let ranges = q("ranges").as_deref() != Some("0");
        let chunked = q("chunked").as_deref() == Some("1");
        let mut headers = Vec::new();
        if ct != "none" {
            headers.push(hdr("Content-Type", &ct));
        }
        let from = range
            .as_deref()
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.trim_end_matches('-').parse::<usize>().ok());
        match from {
            Some(from) if ranges && !chunked && from < data.len() => {
                headers.push(hdr("Accept-Ranges", "bytes"));
                headers.push(hdr(
                    "Content-Range",
                    &format!("bytes {from}-{}/{}", data.len() - 1, data.len()),
                ));
                resp(206, headers, data[from..].to_vec(), false)
            }
            Some(_) if ranges && !chunked => resp(416, headers, Vec::new(), false),
            _ => {
                if ranges {
                    headers.push(hdr("Accept-Ranges", "bytes"));
                }
                resp(200, headers, data, chunked)
            }
        }
    } else if let Some(file) = path.strip_prefix("/hls/") {
        let ct = if file.ends_with(".m3u8") {
            "application/vnd.apple.mpegurl"
        } else {
            "video/mp2t"
        };
        match std::fs::read(fixture_path(file)) {
            Ok(d) => resp(200, vec![hdr("Content-Type", ct)], d, false),
            Err(_) => resp(404, vec![], Vec::new(), false),
        }
    } else if let Some(n) = path.strip_prefix("/redir/") {
        match n.parse::<u32>().unwrap_or(0) {
            0 => redirect(301, &format!("{base}/f/{MP3}")),
            n => redirect(302, &format!("/redir/{}", n - 1)),
        }
    } else if path == "/loop" {
        redirect(302, "/loop")
    } else if path == "/perm" {
        redirect(308, &format!("/f/{MP3}"))
    } else if let Some(code) = path.strip_prefix("/status/") {
        resp(code.parse().unwrap_or(500), vec![], b"nope".to_vec(), false)
    } else if path == "/page.html" {
        let body = b"<!DOCTYPE html><html><body>not audio</body></html>".to_vec();
        resp(200, vec![hdr("Content-Type", "text/html")], body, false)
    } else if path == "/one.m3u" {
        m3u(format!(
            "#EXTM3U\n#EXTINF:-1,First Title\n{base}/f/{MP3}?ct=none\n"
        ))
    } else if path == "/list.m3u" {
        m3u(format!("#EXTM3U\n#EXTINF:2,Entry A\n{base}/f/{BARE_MP3}\nnot/a/link.mp3\n#EXTINF:1,Entry B\n{base}/f/{FLAC}?ct=audio%2Fflac\n"))
    } else if path == "/nolinks.m3u" {
        m3u("#EXTM3U\n#EXTINF:1,nothing\nrelative.mp3\n".into())
    } else if path == "/radio.pls" {
        let body = format!("[playlist]\nFile2={base}/f/{FLAC}\nTitle2=Second\n  File1 = {base}/f/{BARE_MP3}\nTitle1=First\nNumberOfEntries=2\n");
        resp(
            200,
            vec![hdr("Content-Type", "audio/x-scpls")],
            body.into_bytes(),
            false,
        )
    } else if path == "/one.pls" {
        let body = format!("[playlist]\nFile1={base}/f/{BARE_MP3}\nTitle1=Only\n");
        resp(200, vec![], body.into_bytes(), false)
    } else if path == "/links.txt" {
        let body = format!("{base}/f/{BARE_MP3}\n{base}/f/{FLAC}\n");
        resp(
            200,
            vec![hdr("Content-Type", "text/plain")],
            body.into_bytes(),
            false,
        )
    } else if path == "/master.m3u8" {
        let body = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000,CODECS=\"avc1.4d401e,mp4a.40.2\"\nvideo/none.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=64000,CODECS=\"mp4a.40.2\"\nhls/hls_ts/index.m3u8\n";
        resp(
            200,
            vec![hdr("Content-Type", "application/vnd.apple.mpegurl")],
            body.as_bytes().to_vec(),
            false,
        )
    } else if path == "/live.m3u8" {
        // Grows by one segment per request, never ends (no ENDLIST) after seg3.
        let k = live.fetch_add(1, Ordering::SeqCst).min(3);
        let mut body = String::from(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n",
        );
        for i in 0..=k {
            body.push_str(&format!("#EXTINF:0.5,\nhls/hls_ts/seg{i}.ts\n"));
        }
        resp(
            200,
            vec![hdr("Content-Type", "application/vnd.apple.mpegurl")],
            body.into_bytes(),
            false,
        )
    } else if path == "/live-gap.m3u8" {
        // A live window whose second entry is gone (404): it is skipped.
        let body = "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:7\n#EXTINF:0.2,\nhls/hls_ts/seg0.ts\n#EXTINF:0.2,\nhls/hls_ts/gone.ts\n#EXTINF:0.2,\nhls/hls_ts/seg1.ts\n";
        resp(
            200,
            vec![hdr("Content-Type", "application/vnd.apple.mpegurl")],
            body.as_bytes().to_vec(),
            false,
        )
    } else if path == "/hang" {
        std::thread::sleep(Duration::from_secs(3));
        resp(200, vec![], Vec::new(), false)
    } else {
        resp(404, vec![], Vec::new(), false)
    };
    let _ = req.respond(response);
}

fn config() -> Config {
    let mut c = Config::default();
    c.sources.youtube = false;
    // Generous: the suite shares two cores with everything else.
    c.timeouts.connect_timeout_ms = 5000;
    c.timeouts.socket_timeout_ms = 5000;
    c
}

fn manager() -> SourceManager {
    SourceManager::new(&config())
}

fn track(m: &SourceManager, id: &str) -> TrackData {
    match m.load(id) {
        LoadResult::Track(t) => t,
        other => panic!("{id}: expected a track, got {other:?}"),
    }
}

fn error(m: &SourceManager, id: &str) -> basalt::track::TrackException {
    match m.load(id) {
        LoadResult::Error(e) => e,
        other => panic!("{id}: expected an error, got {other:?}"),
    }
}

fn read_all(input: &mut MediaInput) -> Vec<u8> {
    let mut v = Vec::new();
    input.reader.read_to_end(&mut v).unwrap();
    v
}

/// Demuxes and counts the audio packets symphonia finds, and their total duration (s).
fn decode_check(input: MediaInput) -> (usize, f64) {
    let mut hint = Hint::new();
    if let Some(e) = &input.extension {
        hint.with_extension(e);
    }
    // As the decoder does: a segmented (HLS VOD) input seeks only by segment jumps.
    let reader: Box<dyn symphonia::core::io::MediaSource> = match input.segments {
        Some(_) => Box::new(basalt::source::hls::JumpOnly(input.reader)),
        None => input.reader,
    };
    let mss = MediaSourceStream::new(reader, Default::default());
    let mut fmt = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .expect("symphonia probes the stream");
    let track = fmt
        .first_track(TrackType::Audio)
        .expect("audio track")
        .clone();
    let sr = match &track.codec_params {
        Some(symphonia::core::codecs::CodecParameters::Audio(a)) => a.sample_rate.unwrap_or(44100),
        _ => panic!("not audio"),
    };
    let (mut packets, mut frames) = (0usize, 0u64);
    while let Ok(Some(p)) = fmt.next_packet() {
        if p.track_id == track.id {
            packets += 1;
            frames += p.dur.get();
        }
    }
    (packets, frames as f64 / sr as f64)
}

fn assert_valid_adts(b: &[u8]) {
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
fn mp3_with_id3_over_http() {
    let s = TestServer::start();
    let m = manager();
    let url = s.url(&format!("/f/{MP3}"));
    let t = track(&m, &url);
    assert_eq!(t.info.title, "Basalt-Tone");
    assert_eq!(t.info.author, "Basalt-Fixtures");
    assert_eq!(t.info.isrc.as_deref(), Some("QZTST2600001"));
    assert!((t.info.length - 2040).abs() <= 30, "{}", t.info.length);
    assert!(!t.info.is_stream);
    assert_eq!(t.info.source_name, "http");
    assert_eq!(t.info.identifier, url);
    assert_eq!(t.info.uri.as_deref(), Some(url.as_str()));
    assert_eq!(descriptor_of(&t).as_deref(), Some("mp3"));
    assert!(s.recorded("/f/").iter().all(|r| r.icy));
    let mut input = m.open(&t).unwrap();
    assert_eq!(input.extension.as_deref(), Some("mp3"));
    assert_eq!(input.mime.as_deref(), Some("audio/mpeg"));
    assert!(!input.is_stream);
    assert_eq!(read_all(&mut input), fixture(MP3));
}

#[test]
fn content_type_right_wrong_or_missing_does_not_change_detection() {
    let s = TestServer::start();
    let m = manager();
    for (file, ct, probe_name) in [
        (FLAC, "audio%2Fflac", "flac"),
        (FLAC, "text%2Fhtml", "flac"),
        (FLAC, "none", "flac"),
        (MP3, "application%2Foctet-stream", "mp3"),
        ("sine440_44k_stereo_2s.aac", "audio%2Faac", "adts"),
        ("sine440_44k_stereo_2s.aac", "audio%2Fmpeg", "adts"),
        (
            "sine440_44k_stereo_2s_aac.ts",
            "video%2Fmp2t",
            "mpegts-adts",
        ),
        ("sine440_44k_stereo_2s_aac.m4a", "audio%2Fmpeg", "mp4"),
        ("sine440_48k_stereo_2s.webm", "none", "matroska/webm"),
        ("sine440_48k_stereo_2s.opus", "audio%2Fogg", "ogg"),
        ("sine440_44k_stereo_2s.ogg", "audio%2Fogg", "ogg"),
        ("sine440_8k_mono_2s_s16.wav", "audio%2Fwav", "wav"),
        ("sine440_22k_mono_1s_alac.m4a", "none", "mp4"),
    ] {
        let t = track(&m, &s.url(&format!("/f/{file}?ct={ct}")));
        assert_eq!(
            descriptor_of(&t).as_deref(),
            Some(probe_name),
            "{file} as {ct}"
        );
    }
}

#[test]
fn mpegts_over_http_opens_as_valid_adts() {
    let s = TestServer::start();
    let m = manager();
    let t = track(
        &m,
        &s.url("/f/sine440_44k_stereo_2s_aac.ts?ct=video%2Fmp2t"),
    );
    assert!(t.info.is_stream);
    assert_eq!(t.info.length, UNKNOWN_LENGTH);
    let mut input = m.open(&t).unwrap();
    assert_eq!(input.extension.as_deref(), Some("aac"));
    assert_valid_adts(&read_all(&mut input));
    let (packets, secs) = decode_check(m.open(&t).unwrap());
    assert!(
        packets > 80 && (secs - 2.0).abs() < 0.2,
        "{packets} packets, {secs} s"
    );
}

#[test]
fn seeking_uses_ranges_or_reopens_and_skips() {
    let s = TestServer::start();
    let m = manager();
    let data = fixture(FLAC);
    for ranges in ["1", "0"] {
        let t = track(
            &m,
            &s.url(&format!("/f/{FLAC}?ct=audio%2Fflac&ranges={ranges}")),
        );
        let mut input = m.open(&t).unwrap();
        assert!(input.reader.is_seekable());
        assert_eq!(input.reader.byte_len(), Some(data.len() as u64));
        let all = read_all(&mut input);
        assert_eq!(all, data);
        // Backwards: a new request (ranged, or from the start and skipped).
        input.reader.seek(SeekFrom::Start(1000)).unwrap();
        let mut rest = Vec::new();
        input.reader.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, &data[1000..], "ranges={ranges}");
        // Forwards within the skip window: read and discard on the same connection.
        input.reader.seek(SeekFrom::Start(10)).unwrap();
        input.reader.seek(SeekFrom::Current(90)).unwrap();
        let mut b = [0u8; 16];
        input.reader.read_exact(&mut b).unwrap();
        assert_eq!(b, data[100..116]);
        assert_eq!(
            input.reader.seek(SeekFrom::End(-4)).unwrap(),
            data.len() as u64 - 4
        );
        let mut tail = Vec::new();
        input.reader.read_to_end(&mut tail).unwrap();
        assert_eq!(tail, &data[data.len() - 4..]);
    }
    let ranged = s.recorded("ranges=1");
    assert!(
        ranged
            .iter()
            .any(|r| r.range.as_deref() == Some("bytes=1000-")),
        "{ranged:?}"
    );
}

#[test]
fn chunked_bodies_without_length() {
    let s = TestServer::start();
    let m = manager();
    // A bare MP3 without Content-Length is radio: a stream of unknown length.
    let t = track(&m, &s.url(&format!("/f/{BARE_MP3}?chunked=1")));
    assert!(t.info.is_stream);
    assert_eq!(t.info.length, UNKNOWN_LENGTH);
    let mut input = m.open(&t).unwrap();
    assert!(input.is_stream);
    assert!(!input.reader.is_seekable());
    assert_eq!(read_all(&mut input), fixture(BARE_MP3));
    // A FLAC knows its length from STREAMINFO even when chunked.
    let t = track(&m, &s.url(&format!("/f/{FLAC}?chunked=1&ct=audio%2Fflac")));
    assert_eq!(t.info.length, 1000);
    assert!(!t.info.is_stream);
    let mut input = m.open(&t).unwrap();
    assert_eq!(read_all(&mut input), fixture(FLAC));
}

#[test]
fn redirects_are_references_with_a_hop_limit() {
    let s = TestServer::start();
    let m = manager();
    // 302 → 302 → 301 → file (3 hops)
    let t = track(&m, &s.url("/redir/2"));
    assert_eq!(t.info.identifier, s.url(&format!("/f/{MP3}")));
    assert_eq!(t.info.title, "Basalt-Tone");
    // 308 is followed too (lavaplayer does not; a harmless improvement).
    let t = track(&m, &s.url("/perm"));
    assert_eq!(descriptor_of(&t).as_deref(), Some("mp3"));
    // More than 5 hops → empty.
    assert!(matches!(m.load(&s.url("/redir/7")), LoadResult::Empty));
    assert!(matches!(m.load(&s.url("/loop")), LoadResult::Empty));
    assert!(matches!(m.load(&s.url("/redir/4")), LoadResult::Track(_)));
}

#[test]
fn statuses_and_bad_urls() {
    let s = TestServer::start();
    let m = manager();
    assert!(matches!(m.load(&s.url("/status/404")), LoadResult::Empty));
    for code in [500, 403, 204] {
        let e = error(&m, &s.url(&format!("/status/{code}")));
        assert_eq!(e.message.as_deref(), Some("That URL is not playable."));
        assert_eq!(e.severity, Severity::Common);
        assert_eq!(
            e.cause,
            format!("java.lang.IllegalStateException: Status code {code}")
        );
    }
    let e = error(&m, &s.url("/page.html"));
    assert_eq!(e.message.as_deref(), Some("Unknown file format."));
    assert_eq!(e.severity, Severity::Common);
    let e = error(&m, "https://");
    assert_eq!(e.message.as_deref(), Some("Not a valid URL."));
    // Nothing listens on the port of a dropped listener.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = error(&m, &format!("http://127.0.0.1:{port}/x.mp3"));
    assert_eq!(e.message.as_deref(), Some("Connecting to the URL failed."));
    assert_eq!(e.severity, Severity::Suspicious);
}

#[test]
fn socket_timeout_from_config() {
    let s = TestServer::start();
    let mut c = config();
    c.timeouts.socket_timeout_ms = 300;
    let m = SourceManager::new(&c);
    let start = Instant::now();
    let e = error(&m, &s.url("/hang"));
    assert_eq!(e.message.as_deref(), Some("Connecting to the URL failed."));
    assert!(
        start.elapsed() < Duration::from_millis(2500),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn icy_scheme_and_proxy_from_config() {
    let s = TestServer::start();
    let mut c = config();
    let port: u16 = s.base.rsplit(':').next().unwrap().parse().unwrap();
    c.http.proxy_host = "127.0.0.1".into();
    c.http.proxy_port = port;
    c.http.proxy_user = "user".into();
    c.http.proxy_password = "secret".into();
    let m = SourceManager::new(&c);
    // The host does not exist: only the proxy can answer.
    let t = track(&m, &format!("icy://basalt.invalid/f/{MP3}"));
    assert_eq!(t.info.identifier, format!("http://basalt.invalid/f/{MP3}"));
    let via = s.recorded("basalt.invalid");
    assert!(
        via.iter()
            .all(|r| r.url.starts_with("http://basalt.invalid/")),
        "{via:?}"
    );
    assert!(
        via.iter()
            .all(|r| r.proxy_auth.as_deref() == Some("Basic dXNlcjpzZWNyZXQ=")),
        "{via:?}"
    );
    let mut input = m.open(&t).unwrap();
    assert_eq!(read_all(&mut input), fixture(MP3));
}

#[test]
fn playlists_m3u_pls_and_link_lists() {
    let s = TestServer::start();
    let m = manager();
    // One entry: a reference, so the result is the entry's track with the entry's title.
    let t = track(&m, &s.url("/one.m3u"));
    assert_eq!(t.info.identifier, s.url(&format!("/f/{MP3}?ct=none")));
    assert_eq!(
        t.info.title, "Basalt-Tone",
        "container tags win over the entry title"
    );
    let t = track(&m, &s.url("/one.pls"));
    assert_eq!(t.info.title, "Only");
    assert_eq!(descriptor_of(&t).as_deref(), Some("mp3"));
    // Several entries: a playlist, in file order (PLS by number).
    for (path, titles) in [
        ("/list.m3u", ["Entry A", "Basalt-Tone"]),
        ("/radio.pls", ["First", "Basalt-Tone"]),
        ("/links.txt", ["Unknown title", "Basalt-Tone"]),
    ] {
        match m.load(&s.url(path)) {
            LoadResult::Playlist {
                name,
                selected_track,
                tracks,
            } => {
                assert_eq!(name, path.trim_start_matches('/'));
                assert_eq!(selected_track, -1);
                let got: Vec<&str> = tracks.iter().map(|t| t.info.title.as_str()).collect();
                assert_eq!(got, titles, "{path}");
                assert_eq!(descriptor_of(&tracks[0]).as_deref(), Some("mp3"));
                assert_eq!(descriptor_of(&tracks[1]).as_deref(), Some("flac"));
            }
            other => panic!("{path}: {other:?}"),
        }
    }
    let e = error(&m, &s.url("/nolinks.m3u"));
    assert_eq!(
        e.message.as_deref(),
        Some("The playlist file contains no links.")
    );
}

#[test]
fn hls_vod_mpegts_and_master() {
    let s = TestServer::start();
    let m = manager();
    for path in ["/hls/hls_ts/index.m3u8", "/master.m3u8"] {
        let url = s.url(path);
        let t = track(&m, &url);
        assert_eq!(descriptor_of(&t).as_deref(), Some("m3u|hls-outer"));
        assert_eq!(t.info.identifier, url);
        assert_eq!(t.info.title, "Unknown title");
        assert_eq!(t.info.author, "Unknown artist");
        // VOD (#EXT-X-ENDLIST): a length from the #EXTINF sum, seekable (Lavalink: a stream).
        assert!(!t.info.is_stream);
        assert_eq!(t.info.length, 3040);
        let mut input = m.open(&t).unwrap();
        assert_eq!(input.extension.as_deref(), Some("aac"));
        // A VOD playlist (#EXT-X-ENDLIST) opens seekable by segment: 4 segments, ~3 s.
        assert!(!input.is_stream);
        let index = input.segments.clone().expect("VOD segment index");
        assert_eq!(index.len(), 4);
        assert_eq!(index.total_ms(), 3040);
        let adts = read_all(&mut input);
        assert_valid_adts(&adts);
        // The concatenated segments, demuxed in one go, give the same bytes.
        let mut joined = Vec::new();
        for i in 0..4 {
            joined.extend(fixture(&format!("hls_ts/seg{i}.ts")));
        }
        let mut expect = Vec::new();
        basalt::source::mpegts::TsReader::new(&joined[..])
            .read_to_end(&mut expect)
            .unwrap();
        assert_eq!(adts, expect, "{path}");
        let (packets, secs) = decode_check(m.open(&t).unwrap());
        assert!(
            packets > 120 && (secs - 3.0).abs() < 0.15,
            "{path}: {packets} packets, {secs} s"
        );
    }
    // The master's audio-only variant was chosen, not the video one.
    assert!(s.recorded("video/none").is_empty());
}

#[test]
fn hls_vod_fmp4_with_init_section() {
    let s = TestServer::start();
    let m = manager();
    let t = track(&m, &s.url("/hls/hls_fmp4/index.m3u8"));
    let mut input = m.open(&t).unwrap();
    assert_eq!(input.extension.as_deref(), Some("mp4"));
    let mut expect = fixture("hls_fmp4/init.mp4");
    for i in 0..4 {
        expect.extend(fixture(&format!("hls_fmp4/seg{i}.m4s")));
    }
    assert_eq!(read_all(&mut input), expect);
    let (packets, secs) = decode_check(m.open(&t).unwrap());
    assert!(
        packets > 120 && (secs - 3.0).abs() < 0.15,
        "{packets} packets, {secs} s"
    );
}

/// Decoded seconds of `input` from `seek_ms` on, through the real decoder.
fn seconds_after_seek(input: MediaInput, seek_ms: i64) -> f64 {
    use basalt::decode::{self, Opened};
    let Opened::Pcm(mut dec) =
        decode::open(input, basalt::config::ResamplingQuality::Low).expect("decodable")
    else {
        panic!("PCM expected")
    };
    dec.seek(seek_ms).expect("seek");
    let (mut p, mut c) = rtrb::RingBuffer::<basalt::audio_format::PcmSample>::new(48_000);
    let mut samples = 0usize;
    loop {
        let fill = dec.fill(&mut p, 16).expect("decode");
        let n = c.slots();
        if let Ok(ch) = c.read_chunk(n) {
            ch.commit_all();
        }
        samples += n;
        if fill.eof && fill.pushed == 0 {
            return samples as f64 / 2.0 / 48_000.0;
        }
    }
}

#[test]
fn hls_vod_seeks_to_the_segment_holding_the_target() {
    let s = TestServer::start();
    let m = manager();
    for (dir, seg) in [("hls_ts", "ts"), ("hls_fmp4", "m4s")] {
        let t = track(&m, &s.url(&format!("/hls/{dir}/index.m3u8")));
        let before = s.recorded(&format!("{dir}/seg1.{seg}")).len();
        // 2.3 s lies in the third segment (2.019–3.017 s): segment 1 is skipped.
        let secs = seconds_after_seek(m.open(&t).unwrap(), 2300);
        assert!((secs - 0.74).abs() < 0.08, "{dir}: {secs} s after the seek");
        assert_eq!(
            s.recorded(&format!("{dir}/seg1.{seg}")).len(),
            before,
            "{dir}"
        );
        assert!(!s.recorded(&format!("{dir}/seg2.{seg}")).is_empty());
        // Past the end: nothing more.
        assert_eq!(seconds_after_seek(m.open(&t).unwrap(), 5000), 0.0);
    }
}

#[test]
fn hls_live_playlist_that_grows() {
    let s = TestServer::start();
    let m = manager();
    let t = track(&m, &s.url("/live.m3u8"));
    assert!(t.info.is_stream);
    let mut input = m.open(&t).unwrap();
    let start = Instant::now();
    let adts = read_all(&mut input);
    // All four segments arrived as the playlist grew, then it stopped growing and ended.
    let mut joined = Vec::new();
    for i in 0..4 {
        joined.extend(fixture(&format!("hls_ts/seg{i}.ts")));
    }
    let mut expect = Vec::new();
    basalt::source::mpegts::TsReader::new(&joined[..])
        .read_to_end(&mut expect)
        .unwrap();
    assert_eq!(adts, expect);
    assert!(s.recorded("/live.m3u8").len() >= 5);
    assert!(start.elapsed() < Duration::from_secs(5));
}

/// Accepts `n` connections on a raw socket; `reply` writes each response.
fn raw_server(n: usize, reply: impl Fn(usize, &str, &mut TcpStream) + Send + 'static) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for (i, conn) in l.incoming().take(n).enumerate() {
            let Ok(mut conn) = conn else { return };
            let mut head = String::new();
            let mut r = BufReader::new(conn.try_clone().unwrap());
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            reply(i, &head, &mut conn);
        }
    });
    format!("http://{addr}")
}

/// `audio` with a metadata block after every `metaint` bytes (the first names a title).
fn icy_interleave(audio: &[u8], metaint: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, chunk) in audio.chunks(metaint).enumerate() {
        out.extend_from_slice(chunk);
        if chunk.len() == metaint {
            if i == 0 {
                let mut meta = b"StreamTitle='Basalt FM - Song A';".to_vec();
                meta.resize(48, 0);
                out.push(3);
                out.extend(meta);
            } else {
                out.push(0);
            }
        }
    }
    out
}

#[test]
fn icy_status_line_headers_and_metadata() {
    let audio = fixture(BARE_MP3);
    let body = icy_interleave(&audio, 1000);
    let saw_icy = Arc::new(AtomicUsize::new(0));
    let seen = saw_icy.clone();
    let base = raw_server(4, move |_, head, conn| {
        if head.to_ascii_lowercase().contains("icy-metadata: 1") {
            seen.fetch_add(1, Ordering::SeqCst);
        }
        let _ = conn.write_all(
            b"ICY 200 OK\r\nicy-name: Basalt FM\r\nicy-description: Test radio\r\ncontent-type: audio/mpeg\r\nicy-metaint: 1000\r\n\r\n",
        );
        let _ = conn.write_all(&body);
    });
    let m = manager();
    let t = track(&m, &format!("{base}/stream"));
    assert!(t.info.is_stream);
    assert_eq!(t.info.length, UNKNOWN_LENGTH);
    assert_eq!(t.info.author, "Basalt FM");
    assert_eq!(t.info.title, "Basalt FM - Song A");
    assert_eq!(descriptor_of(&t).as_deref(), Some("mp3"));
    let mut input = m.open(&t).unwrap();
    assert!(input.is_stream);
    assert_eq!(read_all(&mut input), audio, "metadata blocks are stripped");
    assert!(saw_icy.load(Ordering::SeqCst) >= 2);
}

#[test]
fn icy_headers_over_plain_http_without_metadata() {
    let audio = fixture(BARE_MP3);
    let base = raw_server(2, move |_, _, conn| {
        let _ = conn.write_all(
            b"HTTP/1.0 200 OK\r\nicy-name: Basalt FM\r\nicy-description: Test radio\r\ncontent-type: audio/mpeg\r\n\r\n",
        );
        let _ = conn.write_all(&audio);
    });
    let t = track(&manager(), &format!("{base}/stream"));
    assert_eq!(t.info.title, "Test radio");
    assert_eq!(t.info.author, "Basalt FM");
    assert!(t.info.is_stream);
}

#[test]
fn garbage_before_the_status_line() {
    let base = raw_server(2, |_, _, conn| {
        let _ = conn.write_all(&b"garbage\r\n".repeat(12));
    });
    let e = error(&manager(), &format!("{base}/x"));
    assert_eq!(
        e.message.as_deref(),
        Some("The server is giving us garbage.")
    );
    assert_eq!(e.severity, Severity::Suspicious);
}

#[test]
fn a_dropped_connection_resumes_with_a_range_request() {
    let data = fixture(FLAC);
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let seen = ranges.clone();
    let base = raw_server(20, move |_, head, conn| {
        let range = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("range: bytes=")
                    .map(|r| r.trim_end_matches('-').to_string())
            })
            .and_then(|r| r.parse::<usize>().ok());
        let n = data.len();
        match range {
            None => {
                let h = format!("HTTP/1.1 200 OK\r\nContent-Type: audio/flac\r\nContent-Length: {n}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n");
                let _ = conn.write_all(h.as_bytes());
                let _ = conn.write_all(&data[..n / 2]); // then drop the connection
            }
            Some(from) => {
                seen.lock().unwrap().push(from);
                let h = format!("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {from}-{}/{n}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", n - 1, n - from);
                let _ = conn.write_all(h.as_bytes());
                let _ = conn.write_all(&data[from..]);
            }
        }
    });
    let m = manager();
    let t = track(&m, &format!("{base}/song.flac"));
    assert_eq!(t.info.length, 1000);
    let mut input = m.open(&t).unwrap();
    assert_eq!(read_all(&mut input), fixture(FLAC));
    assert!(ranges.lock().unwrap().contains(&(fixture(FLAC).len() / 2)));
}

#[test]
fn an_endless_radio_stream_loads_and_opens_without_reading_to_the_end() {
    let audio = fixture(BARE_MP3);
    let served = audio.clone();
    let base = raw_server(8, move |_, _, conn| {
        let _ =
            conn.write_all(b"ICY 200 OK\r\nicy-name: Endless\r\ncontent-type: audio/mpeg\r\n\r\n");
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if conn.write_all(&served).is_err() {
                return;
            }
        }
    });
    let m = manager();
    let start = Instant::now();
    let t = track(&m, &format!("{base}/live"));
    assert!(t.info.is_stream);
    assert_eq!(t.info.author, "Endless");
    assert_eq!(t.info.title, "Unknown title");
    let mut input = m.open(&t).unwrap();
    let mut buf = vec![0u8; 100_000];
    input.reader.read_exact(&mut buf).unwrap();
    assert_eq!(&buf[..audio.len()], &audio[..]);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn source_manager_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<SourceManager>();
}

#[test]
fn a_local_hls_m3u_refers_to_the_http_media_playlist() {
    let s = TestServer::start();
    let mut c = config();
    c.sources.local = true;
    let m = SourceManager::new(&c);
    let dir = std::env::temp_dir().join(format!("basalt-hls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("radio.m3u");
    let url = s.url("/hls/hls_ts/index.m3u8");
    std::fs::write(
        &path,
        format!("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,Radio X\n{url}\n"),
    )
    .unwrap();
    let t = track(&m, path.to_str().unwrap());
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(t.info.source_name, "http");
    assert_eq!(t.info.identifier, url);
    assert_eq!(t.info.title, "Radio X");
    assert!(t.info.is_stream);
    assert_eq!(descriptor_of(&t).as_deref(), Some("m3u|hls-inner"));
    // Built without a request; playback fetches the media playlist.
    assert!(s.recorded("/hls/").is_empty());
    let mut input = m.open(&t).unwrap();
    assert_valid_adts(&read_all(&mut input));
}

#[test]
fn a_missing_live_segment_is_skipped() {
    let s = TestServer::start();
    let m = manager();
    let t = track(&m, &s.url("/live-gap.m3u8"));
    let mut input = m.open(&t).unwrap();
    let got = read_all(&mut input);
    let mut joined = fixture("hls_ts/seg0.ts");
    joined.extend(fixture("hls_ts/seg1.ts"));
    let mut expect = Vec::new();
    basalt::source::mpegts::TsReader::new(&joined[..])
        .read_to_end(&mut expect)
        .unwrap();
    assert_eq!(got, expect);
    assert_eq!(s.recorded("gone.ts").len(), 1);
}
