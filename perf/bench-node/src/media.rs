//! The benchmark's media: a 16-bit 48 kHz stereo WAV (a container every Lavalink v4 node's
//! HTTP source plays) generated on the fly from a one-period table, served over a tiny
//! HTTP/1.1 server on loopback with keep-alive and byte ranges (nodes read in range windows
//! and seek with ranges). Nothing is held in memory but the table.
//!
//! The audio carries the markers the change-latency tests look for:
//! - left channel at amplitude [`LEFT_AMP`], right at [`RIGHT_AMP`] (a channel swap shows),
//! - a [`LOW_HZ`] tone before [`MARKER_MS`] and a [`HIGH_HZ`] tone after it (a seek shows).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

pub const RATE: u64 = 48_000;
/// Track length: longer than any run, so no player ever reaches the end.
pub const TRACK_MS: u64 = 60 * 60 * 1000;
/// Where the high tone starts (a seek target beyond it is recognisable).
pub const MARKER_MS: u64 = 40 * 60 * 1000;
/// Seek target used by the seek-latency test.
pub const SEEK_TARGET_MS: u64 = MARKER_MS + 5 * 60 * 1000;
pub const LOW_HZ: f64 = 400.0;
pub const HIGH_HZ: f64 = 800.0;
pub const LEFT_AMP: f64 = 0.5;
pub const RIGHT_AMP: f64 = 0.125;
/// Frames in the table: a whole number of periods of both tones.
const PERIOD: u64 = 120;
const HEADER_LEN: u64 = 44;
const FRAME_BYTES: u64 = 4;
const DATA_LEN: u64 = TRACK_MS * RATE / 1000 * FRAME_BYTES;
pub const FILE_LEN: u64 = HEADER_LEN + DATA_LEN;
const MARKER_FRAME: u64 = MARKER_MS * RATE / 1000;

/// One period (120 frames) of each tone, as little-endian stereo i16 bytes.
struct Tables {
    low: Vec<u8>,
    high: Vec<u8>,
    header: [u8; HEADER_LEN as usize],
}

fn table(hz: f64) -> Vec<u8> {
    let mut out = Vec::with_capacity((PERIOD * FRAME_BYTES) as usize);
    for n in 0..PERIOD {
        let phase = 2.0 * std::f64::consts::PI * hz * n as f64 / RATE as f64;
        for amp in [LEFT_AMP, RIGHT_AMP] {
            let v = (phase.sin() * amp * 32767.0).round() as i16;
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

fn header() -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    let mut put = |at: usize, b: &[u8]| h[at..at + b.len()].copy_from_slice(b);
    put(0, b"RIFF");
    put(4, &((FILE_LEN - 8) as u32).to_le_bytes());
    put(8, b"WAVEfmt ");
    put(16, &16u32.to_le_bytes());
    put(20, &1u16.to_le_bytes()); // PCM
    put(22, &2u16.to_le_bytes()); // channels
    put(24, &(RATE as u32).to_le_bytes());
    put(28, &((RATE * FRAME_BYTES) as u32).to_le_bytes());
    put(32, &(FRAME_BYTES as u16).to_le_bytes());
    put(34, &16u16.to_le_bytes());
    put(36, b"data");
    put(40, &(DATA_LEN as u32).to_le_bytes());
    h
}

impl Tables {
    fn new() -> Tables {
        Tables {
            low: table(LOW_HZ),
            high: table(HIGH_HZ),
            header: header(),
        }
    }

    /// Fills `out` with the file's bytes from `offset`.
    fn fill(&self, offset: u64, out: &mut [u8]) {
        for (i, b) in out.iter_mut().enumerate() {
            let at = offset + i as u64;
            *b = if at < HEADER_LEN {
                self.header[at as usize]
            } else {
                let d = at - HEADER_LEN;
                let frame = d / FRAME_BYTES;
                let t = if frame < MARKER_FRAME {
                    &self.low
                } else {
                    &self.high
                };
                t[(d % (PERIOD * FRAME_BYTES)) as usize]
            };
        }
    }
}

/// The running media server.
pub struct MediaServer {
    pub addr: SocketAddr,
}

impl MediaServer {
    pub fn start() -> std::io::Result<MediaServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let tables = Arc::new(Tables::new());
        std::thread::Builder::new()
            .name("media-accept".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    let tables = tables.clone();
                    let _ =
                        std::thread::Builder::new()
                            .name("media-conn".into())
                            .spawn(move || {
                                let _ = serve(stream, &tables);
                            });
                }
            })?;
        Ok(MediaServer { addr })
    }

    /// The URL players load.
    pub fn url(&self) -> String {
        format!("http://{}/basalt-perf-tone.wav", self.addr)
    }
}

/// `bytes=a-b` / `bytes=a-` → inclusive range within the file.
fn parse_range(v: &str) -> Option<(u64, u64)> {
    let spec = v.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let last = FILE_LEN - 1;
    let (start, end) = if a.trim().is_empty() {
        let n: u64 = b.trim().parse().ok()?;
        (FILE_LEN.saturating_sub(n), last)
    } else {
        let start: u64 = a.trim().parse().ok()?;
        let end = if b.trim().is_empty() {
            last
        } else {
            b.trim().parse::<u64>().ok()?.min(last)
        };
        (start, end)
    };
    (start <= end && start < FILE_LEN).then_some((start, end))
}

/// Serves requests on one connection until the client closes it.
fn serve(stream: TcpStream, tables: &Tables) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let mut range = None;
        let mut close = false;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("range") {
                    range = Some(v.to_string());
                } else if k.eq_ignore_ascii_case("connection") && v.trim() == "close" {
                    close = true;
                }
            }
        }
        if method != "GET" && method != "HEAD" {
            out.write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")?;
            continue;
        }
        let (status, start, end) = match range.as_deref().map(parse_range) {
            None => ("200 OK", 0, FILE_LEN - 1),
            Some(Some((a, b))) => ("206 Partial Content", a, b),
            Some(None) => {
                let head = format!(
                    "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{FILE_LEN}\r\nContent-Length: 0\r\n\r\n"
                );
                out.write_all(head.as_bytes())?;
                continue;
            }
        };
        let len = end + 1 - start;
        let mut head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: audio/wav\r\nAccept-Ranges: bytes\r\nContent-Length: {len}\r\n"
        );
        if range.is_some() {
            head.push_str(&format!(
                "Content-Range: bytes {start}-{end}/{FILE_LEN}\r\n"
            ));
        }
        head.push_str("\r\n");
        out.write_all(head.as_bytes())?;
        if method == "GET" {
            let mut at = start;
            while at <= end {
                let n = ((end + 1 - at) as usize).min(buf.len());
                tables.fill(at, &mut buf[..n]);
                out.write_all(&buf[..n])?;
                at += n as u64;
            }
        }
        if close {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_within_the_file() {
        assert_eq!(parse_range("bytes=0-"), Some((0, FILE_LEN - 1)));
        assert_eq!(parse_range("bytes=10-19"), Some((10, 19)));
        assert_eq!(parse_range("bytes=-4"), Some((FILE_LEN - 4, FILE_LEN - 1)));
        assert_eq!(parse_range("bytes=5-1"), None);
        assert_eq!(parse_range(&format!("bytes={FILE_LEN}-")), None);
    }

    #[test]
    fn bytes_are_a_wav_with_the_marker_tone_after_the_marker() {
        let t = Tables::new();
        let mut h = [0u8; 44];
        t.fill(0, &mut h);
        assert_eq!(&h[0..4], b"RIFF");
        assert_eq!(&h[36..40], b"data");
        // The same bytes whatever the chunking.
        let mut a = [0u8; 1000];
        t.fill(30, &mut a);
        let mut b = [0u8; 500];
        t.fill(530, &mut b);
        assert_eq!(&a[500..], &b[..]);
        // Left sample a quarter period in: low tone peaks at frame 30, high at frame 15.
        let sample = |frame: u64| {
            let mut s = [0u8; 2];
            t.fill(HEADER_LEN + frame * 4, &mut s);
            i16::from_le_bytes(s)
        };
        assert!(sample(30) > 16_000);
        assert!(sample(MARKER_FRAME + 15) > 16_000);
    }
}
