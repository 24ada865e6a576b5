//! Memory of a playing HLS track (issue 9: at most one read-ahead ring, 64 KiB): segments
//! are read in range windows, so the HTTP client's adaptive read buffer (hyper's, which
//! grows to ~400 KiB on a whole body) stays small, and AES-128 segments decrypt block by
//! block as they stream. Measured with a counting allocator over the whole process (one
//! test at a time) while a slow reader runs through three 512 KiB segments from a loopback
//! server, everything from opening the playlist on included; one plain body of the same
//! bytes is measured for comparison, and a server that ignores ranges still plays.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicIsize, Ordering};

use basalt::config::Config;
use basalt::net::Outbound;
use basalt::source::hls;

struct Counting;

static CURRENT: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);
/// Connections the test server accepted (the pool may open a second one when a request
/// races the return of the previous one).
static ACCEPTED: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(l.size() as isize, Ordering::Relaxed) + l.size() as isize;
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        CURRENT.fetch_sub(l.size() as isize, Ordering::Relaxed);
    }
}

#[global_allocator]
static A: Counting = Counting;

const SEG: usize = 512 * 1024;

/// Serves the playlist and three segments of MPEG audio frame bytes from prebuilt buffers.
fn serve() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    // One valid MPEG-1 Layer III frame header repeated (the payload is never decoded here).
    let mut seg = Vec::with_capacity(SEG);
    while seg.len() < SEG {
        seg.extend_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
        seg.resize(seg.len() + 413, 0);
    }
    seg.truncate(SEG);
    let enc: &'static [u8] = Box::leak(encrypt(&seg).into_boxed_slice());
    let aes_list = "#EXTM3U\n#EXT-X-TARGETDURATION:30\n#EXT-X-MEDIA-SEQUENCE:4\n#EXT-X-KEY:METHOD=AES-128,URI=\"/key\",IV=0x00000000000000000000000000000004\n#EXTINF:30.0,\ne0.bin\n#EXTINF:30.0,\ne1.bin\n#EXTINF:30.0,\ne2.bin\n#EXT-X-ENDLIST\n";
    let aes_list_resp: &'static [u8] = Box::leak(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.apple.mpegurl\r\nContent-Length: {}\r\n\r\n{aes_list}",
            aes_list.len()
        )
        .into_bytes()
        .into_boxed_slice(),
    );
    let key_resp: &'static [u8] = Box::leak(
        [
            b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 16\r\n\r\n"
                .to_vec(),
            KEY.to_vec(),
        ]
        .concat()
        .into_boxed_slice(),
    );
    let seg_resp: &'static [u8] = Box::leak(
        [
            format!("HTTP/1.1 200 OK\r\nContent-Type: audio/mpeg\r\nContent-Length: {SEG}\r\n\r\n")
                .into_bytes(),
            seg,
        ]
        .concat()
        .into_boxed_slice(),
    );
    let big_resp: &'static [u8] = Box::leak(
        [
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: audio/mpeg\r\nContent-Length: {}\r\n\r\n",
                3 * SEG
            )
            .into_bytes(),
            seg_resp[seg_resp.len() - SEG..].repeat(3),
        ]
        .concat()
        .into_boxed_slice(),
    );
    let list = "#EXTM3U\n#EXT-X-TARGETDURATION:30\n#EXTINF:30.0,\ns0.mp3\n#EXTINF:30.0,\ns1.mp3\n#EXTINF:30.0,\ns2.mp3\n#EXT-X-ENDLIST\n";
    let list_resp: &'static [u8] = Box::leak(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.apple.mpegurl\r\nContent-Length: {}\r\n\r\n{list}",
            list.len()
        )
        .into_bytes()
        .into_boxed_slice(),
    );
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            ACCEPTED.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    let Ok(n) = c.read(&mut buf) else { return };
                    if n == 0 {
                        return;
                    }
                    let head = &buf[..n];
                    let sent = if head.starts_with(b"GET /list.m3u8")
                        || head.starts_with(b"GET /norange/list.m3u8")
                    {
                        c.write_all(list_resp)
                    } else if head.starts_with(b"GET /big") {
                        c.write_all(big_resp)
                    } else if head.starts_with(b"GET /aes.m3u8") {
                        c.write_all(aes_list_resp)
                    } else if head.starts_with(b"GET /key") {
                        c.write_all(key_resp)
                    } else if head.starts_with(b"GET /e") {
                        // Encrypted segments, always by range.
                        let (from, to) = range(head).unwrap_or((0, None));
                        let to = to.unwrap_or(enc.len() - 1).min(enc.len() - 1);
                        let h = format!(
                            "HTTP/1.1 206 Partial Content\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes {from}-{to}/{}\r\nContent-Length: {}\r\n\r\n",
                            enc.len(),
                            to + 1 - from
                        );
                        c.write_all(h.as_bytes())
                            .and_then(|_| c.write_all(&enc[from..=to]))
                    } else {
                        // /s*.mp3 honours ranges; /norange/s*.mp3 ignores them.
                        match range(head).filter(|_| !head.starts_with(b"GET /norange/")) {
                            Some((from, to)) => {
                                let body = &seg_resp[seg_resp.len() - SEG..];
                                let to = to.unwrap_or(SEG - 1).min(SEG - 1);
                                let h = format!(
                                    "HTTP/1.1 206 Partial Content\r\nContent-Type: audio/mpeg\r\nContent-Range: bytes {from}-{to}/{SEG}\r\nContent-Length: {}\r\n\r\n",
                                    to + 1 - from
                                );
                                c.write_all(h.as_bytes())
                                    .and_then(|_| c.write_all(&body[from..=to]))
                            }
                            None => c.write_all(seg_resp),
                        }
                    };
                    if sent.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

const KEY: [u8; 16] = *b"hls-memory-key!!";

/// AES-128-CBC with PKCS#7 padding and the playlist's fixed IV (one ciphertext serves all
/// three segments).
fn encrypt(plain: &[u8]) -> Vec<u8> {
    use aes::cipher::{BlockEncrypt, KeyInit};
    let cipher = aes::Aes128::new(&KEY.into());
    let mut iv = [0u8; 16];
    iv[15] = 4;
    let pad = 16 - plain.len() % 16;
    let mut data = plain.to_vec();
    data.extend(std::iter::repeat_n(pad as u8, pad));
    let mut prev = iv;
    for block in data.chunks_mut(16) {
        for (b, p) in block.iter_mut().zip(prev) {
            *b ^= p;
        }
        let mut b = aes::Block::clone_from_slice(block);
        cipher.encrypt_block(&mut b);
        block.copy_from_slice(&b);
        prev.copy_from_slice(&b);
    }
    data
}

/// `Range: bytes=a-[b]` of a request head.
fn range(head: &[u8]) -> Option<(usize, Option<usize>)> {
    let text = std::str::from_utf8(head).ok()?;
    let line = text
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("range:"))?;
    let spec = line.split_once('=')?.1.trim();
    let (a, b) = spec.split_once('-')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()))
}

/// The allocator counts the whole process: measurements run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Peak heap growth while `reader` is read to its end slowly; returns (bytes read, growth).
fn drain(reader: &mut dyn Read) -> (usize, isize) {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let mut buf = [0u8; 2048];
    let mut total = 0usize;
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        total += n;
        // A slow consumer, like a decoder fed 20 ms at a time.
        if total % (64 * 1024) < 2048 {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
    (total, PEAK.load(Ordering::Relaxed) - base)
}

/// Bytes a playing HLS track may add besides the engine's read-ahead ring: the issue's
/// bound (one ring's worth, 64 KiB) — one range window in flight plus the reader's small
/// buffers must fit in it.
const BOUND: isize = 64 * 1024;

#[test]
fn streaming_a_vod_of_large_segments_holds_one_range_window() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let port = serve();
    let net = Outbound::new(&Config::default());
    let plain = net
        .get(&format!("http://127.0.0.1:{port}/big"))
        .send()
        .unwrap();
    let (n, plain_growth) = drain(&mut plain.into_reader());
    assert_eq!(n, 3 * SEG);
    let url = hls::Url::parse(&format!("http://127.0.0.1:{port}/list.m3u8")).unwrap();
    let mut input = hls::open(&net, &url, false).expect("opens");
    assert!(input.segments.is_some());
    let (n, hls_growth) = drain(&mut input.reader);
    assert_eq!(n, 3 * SEG);
    eprintln!(
        "peak heap growth reading 1.5 MiB: one plain HTTP body {plain_growth} B, HLS (3 x 512 KiB segments in range windows) {hls_growth} B"
    );
    assert!(
        hls_growth <= BOUND,
        "HLS reader grew by {hls_growth} B (bound {BOUND} B; plain body {plain_growth} B)"
    );
}

#[test]
fn a_server_that_ignores_ranges_still_plays_every_segment() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let port = serve();
    let net = Outbound::new(&Config::default());
    let url = hls::Url::parse(&format!("http://127.0.0.1:{port}/norange/list.m3u8")).unwrap();
    let mut input = hls::open(&net, &url, false).expect("opens");
    let (n, growth) = drain(&mut input.reader);
    assert_eq!(n, 3 * SEG, "whole segments when ranges are ignored");
    eprintln!("peak heap growth without ranges: {growth} B");
}

#[test]
fn aes_128_segments_decrypt_as_they_stream_within_the_bound() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let port = serve();
    let net = Outbound::new(&Config::default());
    let url = hls::Url::parse(&format!("http://127.0.0.1:{port}/aes.m3u8")).unwrap();
    let mut input = hls::open(&net, &url, false).expect("opens");
    let (n, growth) = drain(&mut input.reader);
    assert_eq!(n, 3 * SEG, "three whole decrypted segments");
    eprintln!(
        "peak heap growth, AES-128 HLS (3 x 512 KiB): {growth} B over {} connections",
        ACCEPTED.load(Ordering::SeqCst)
    );
    // Measured 20-53 KB over one connection (12 KiB windows for encrypted segments: the
    // decryption holds 4 KiB, and hyper may briefly hold two read buffers).
    assert!(
        growth <= BOUND,
        "AES HLS grew by {growth} B (bound {BOUND} B)"
    );
}
