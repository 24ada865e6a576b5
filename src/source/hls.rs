//! HLS (sources.md §0.6, §8.4): master → variant (or audio rendition), media playlists live
//! and VOD, segments (MPEG-TS/ADTS, fMP4 with an init section, packed audio) joined into one
//! continuous byte stream for the decoder. Live playlists are re-read when the known
//! segments run out; the stream ends once nothing new appears for a segment's duration.

use std::collections::VecDeque;
use std::io::{self, Read, Seek, SeekFrom};
use std::time::{Duration, Instant};

pub use reqwest::Url;

use super::http::{read_up_to, HttpClient};
use super::{mpegts, probe, MediaInput, SourceError};

const MAX_PLAYLIST: usize = 1 << 20;
const MAX_SEGMENT: usize = 32 << 20;
const POLL: Duration = Duration::from_millis(200);
/// Master → media playlist indirections followed.
const MAX_MASTER_HOPS: usize = 3;
/// Consecutive failing live segments skipped before the stream fails.
const MAX_LIVE_SKIPS: usize = 3;

#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub uri: Url,
    pub duration_ms: u64,
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct MediaPlaylist {
    pub segments: Vec<Segment>,
    pub end_list: bool,
    pub map: Option<Url>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Playlist {
    /// The chosen media playlist of a master (audio rendition, audio-only variant or first).
    Master(Option<Url>),
    Media(MediaPlaylist),
}

/// `KEY=value,KEY="quoted, value"` attribute lists.
pub fn attributes(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_string();
        rest = &rest[eq + 1..];
        let value;
        if let Some(r) = rest.strip_prefix('"') {
            let end = r.find('"').unwrap_or(r.len());
            value = r[..end].to_string();
            rest = r.get(end + 1..).unwrap_or("");
            rest = rest.trim_start_matches(',');
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_string();
            rest = rest.get(end + 1..).unwrap_or("");
        }
        out.push((key, value));
    }
    out
}

fn attr<'a>(attrs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Parses a playlist; URIs are resolved against `base` (RFC 3986).
pub fn parse(text: &str, base: &Url) -> Playlist {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.iter().any(|l| l.starts_with("#EXT-X-STREAM-INF")) {
        return Playlist::Master(choose_variant(&lines, base));
    }
    let mut pl = MediaPlaylist::default();
    let mut seq = 0u64;
    let mut duration_ms = 0u64;
    for l in &lines {
        if let Some(v) = l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            seq = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = l.strip_prefix("#EXTINF:") {
            let secs: f64 = v
                .split(',')
                .next()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0.0);
            duration_ms = (secs.max(0.0) * 1000.0) as u64;
        } else if l.starts_with("#EXT-X-ENDLIST") {
            pl.end_list = true;
        } else if let Some(v) = l.strip_prefix("#EXT-X-MAP:") {
            pl.map = attr(&attributes(v), "URI").and_then(|u| base.join(u).ok());
        } else if !l.starts_with('#') {
            if let Ok(uri) = base.join(l) {
                pl.segments.push(Segment {
                    uri,
                    duration_ms,
                    seq,
                });
            }
            seq += 1;
            duration_ms = 0;
        }
    }
    Playlist::Media(pl)
}

/// An audio rendition (`#EXT-X-MEDIA:TYPE=AUDIO`, the default one first), else the first
/// variant without a video codec, else the first variant.
fn choose_variant(lines: &[&str], base: &Url) -> Option<Url> {
    let mut audio: Vec<(bool, String)> = Vec::new();
    let mut variants: Vec<(bool, String)> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if let Some(v) = l.strip_prefix("#EXT-X-MEDIA:") {
            let a = attributes(v);
            if attr(&a, "TYPE") == Some("AUDIO") {
                if let Some(u) = attr(&a, "URI") {
                    let default = attr(&a, "DEFAULT") == Some("YES");
                    audio.push((default, u.to_string()));
                }
            }
        } else if let Some(v) = l.strip_prefix("#EXT-X-STREAM-INF:") {
            let a = attributes(v);
            let codecs = attr(&a, "CODECS").unwrap_or("").to_ascii_lowercase();
            let video = ["avc", "hvc", "hev", "vp0", "vp9", "av01", "mp4v"]
                .iter()
                .any(|c| codecs.contains(c));
            let audio_only = !codecs.is_empty() && !video;
            if let Some(uri) = lines[i + 1..].iter().find(|l| !l.starts_with('#')) {
                variants.push((audio_only, uri.to_string()));
            }
        }
    }
    let pick = audio
        .iter()
        .find(|(d, _)| *d)
        .or(audio.first())
        .or(variants.iter().find(|(a, _)| *a))
        .or(variants.first())
        .map(|(_, u)| u.as_str())?;
    base.join(pick).ok()
}

fn fetch(client: &HttpClient, url: &Url, limit: usize) -> io::Result<Vec<u8>> {
    let f = client.get(url, 0, true).map_err(io::Error::other)?;
    if !f.is_success() {
        return Err(io::Error::other(format!("Status code {}", f.status)));
    }
    let mut body = f.body;
    read_up_to(&mut body, limit)
}

/// Fetches `url` and follows masters to a media playlist. Returns its final URL.
fn media_playlist(client: &HttpClient, url: &Url) -> Result<(Url, MediaPlaylist), SourceError> {
    let mut url = url.clone();
    for _ in 0..=MAX_MASTER_HOPS {
        let text = fetch(client, &url, MAX_PLAYLIST).map_err(|e| SourceError::Io(e.to_string()))?;
        match parse(&String::from_utf8_lossy(&text), &url) {
            Playlist::Media(pl) => return Ok((url, pl)),
            Playlist::Master(Some(next)) => url = next,
            Playlist::Master(None) => break,
        }
    }
    Err(SourceError::Unsupported(
        "No playable variant in the HLS playlist.",
    ))
}

/// What the segments carry, sniffed from the first one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Payload {
    Ts,
    Fmp4,
    /// Packed audio (ADTS or MP3, each segment with an ID3 timestamp tag) or Ogg.
    Raw(&'static str),
}

fn sniff(first: &[u8], has_map: bool) -> Payload {
    if first.first() == Some(&0x47) && (first.len() <= 188 || first[188] == 0x47) {
        return Payload::Ts;
    }
    if has_map || matches!(first.get(4..8), Some(b"ftyp" | b"styp" | b"moof" | b"sidx")) {
        return Payload::Fmp4;
    }
    let body = strip_id3(first);
    if body.starts_with(b"OggS") {
        Payload::Raw("ogg")
    } else if probe::adts_frame_len(body).is_some() {
        Payload::Raw("aac")
    } else {
        Payload::Raw("mp3")
    }
}

/// Drops a leading ID3v2 tag (packed-audio segments start with one).
fn strip_id3(b: &[u8]) -> &[u8] {
    if b.len() >= 10 && b.starts_with(b"ID3") {
        let size = b[6..10]
            .iter()
            .fold(0usize, |a, &x| (a << 7) | (x & 0x7F) as usize);
        let footer = if b[5] & 0x10 != 0 { 10 } else { 0 };
        return b.get(10 + size + footer..).unwrap_or(&[]);
    }
    b
}

/// Opens an HLS track: `inner` = the URL is the media playlist, else master or media.
pub fn open(client: &HttpClient, url: &Url, inner: bool) -> Result<MediaInput, SourceError> {
    let (media_url, pl) = if inner {
        let text = fetch(client, url, MAX_PLAYLIST).map_err(|e| SourceError::Io(e.to_string()))?;
        match parse(&String::from_utf8_lossy(&text), url) {
            Playlist::Media(pl) => (url.clone(), pl),
            Playlist::Master(_) => media_playlist(client, url)?,
        }
    } else {
        media_playlist(client, url)?
    };
    let mut reader = HlsReader::new(client.clone(), media_url, pl);
    let first = reader
        .next_segment()
        .map_err(|e| SourceError::Io(e.to_string()))?;
    let Some(first) = first else {
        return Err(SourceError::Io("The HLS playlist has no segments.".into()));
    };
    let payload = sniff(&first, reader.map.is_some());
    reader.payload = payload;
    reader
        .start_with(first)
        .map_err(|e| SourceError::Io(e.to_string()))?;
    let (reader, ext): (Box<dyn symphonia::core::io::MediaSource>, &str) = match payload {
        Payload::Ts => (Box::new(mpegts::TsReader::new(reader)), "aac"),
        Payload::Fmp4 => (Box::new(reader), "mp4"),
        Payload::Raw(ext) => (Box::new(reader), ext),
    };
    Ok(MediaInput {
        reader,
        extension: Some(ext.to_string()),
        mime: None,
        is_stream: true,
    })
}

/// The segments of a media playlist as one byte stream. Not seekable.
pub struct HlsReader {
    client: HttpClient,
    url: Url,
    live: bool,
    queue: VecDeque<Segment>,
    last_seq: Option<u64>,
    /// Wait for new segments this long before calling a live stream ended.
    wait: Duration,
    map: Option<Url>,
    payload: Payload,
    buf: Vec<u8>,
    pos: usize,
    ended: bool,
}

impl HlsReader {
    fn new(client: HttpClient, url: Url, pl: MediaPlaylist) -> HlsReader {
        let wait =
            Duration::from_millis(pl.segments.first().map_or(1000, |s| s.duration_ms).max(200));
        HlsReader {
            client,
            url,
            live: !pl.end_list,
            queue: pl.segments.into(),
            last_seq: None,
            wait,
            map: pl.map,
            payload: Payload::Ts,
            buf: Vec::new(),
            pos: 0,
            ended: false,
        }
    }

    /// The first segment, preceded by the init section for fMP4.
    fn start_with(&mut self, first: Vec<u8>) -> io::Result<()> {
        self.buf = match (&self.map, self.payload) {
            (Some(map), Payload::Fmp4) => {
                let mut init = fetch(&self.client, map, MAX_SEGMENT)?;
                init.extend_from_slice(&first);
                init
            }
            (_, Payload::Raw(_)) => strip_id3(&first).to_vec(),
            _ => first,
        };
        self.pos = 0;
        Ok(())
    }

    /// Downloads the next segment; None when the playlist is finished.
    /// A live segment that fails (expired, scrolled out) is skipped, a few in a row at most;
    /// a failing VOD segment is an error.
    fn next_segment(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut failures = 0;
        loop {
            let seg = match self.queue.pop_front() {
                Some(s) => Some(s),
                None if self.live => self.poll_live()?,
                None => None,
            };
            let Some(seg) = seg else { return Ok(None) };
            self.last_seq = Some(seg.seq);
            match fetch(&self.client, &seg.uri, MAX_SEGMENT) {
                Ok(b) => return Ok(Some(b)),
                Err(e) if !self.live || failures >= MAX_LIVE_SKIPS => return Err(e),
                Err(e) => {
                    log::debug!("skipping live HLS segment {}: {e}", seg.uri);
                    failures += 1;
                }
            }
        }
    }

    /// Re-reads a live playlist until a segment after the last one appears.
    fn poll_live(&mut self) -> io::Result<Option<Segment>> {
        let deadline = Instant::now() + self.wait;
        loop {
            let text = fetch(&self.client, &self.url, MAX_PLAYLIST)?;
            if let Playlist::Media(pl) = parse(&String::from_utf8_lossy(&text), &self.url) {
                let fresh: Vec<Segment> = match self.last_seq {
                    Some(last) => pl.segments.into_iter().filter(|s| s.seq > last).collect(),
                    None => pl.segments,
                };
                if !fresh.is_empty() {
                    self.queue.extend(fresh);
                    return Ok(self.queue.pop_front());
                }
                if pl.end_list {
                    self.live = false;
                    return Ok(None);
                }
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Read for HlsReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.buf.len() {
            if self.ended {
                return Ok(0);
            }
            match self.next_segment()? {
                Some(seg) => {
                    self.buf = match self.payload {
                        Payload::Raw(_) => strip_id3(&seg).to_vec(),
                        _ => seg,
                    };
                    self.pos = 0;
                }
                None => self.ended = true,
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Seek for HlsReader {
    fn seek(&mut self, _: SeekFrom) -> io::Result<u64> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "HLS streams are not seekable",
        ))
    }
}

impl symphonia::core::io::MediaSource for HlsReader {
    fn is_seekable(&self) -> bool {
        false
    }
    fn byte_len(&self) -> Option<u64> {
        None
    }
}
