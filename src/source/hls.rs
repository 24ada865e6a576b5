//! HLS (sources.md §0.6, §8.4), one engine for every source: master → variant (or audio
//! rendition), media playlists live and VOD, segments (MPEG-TS/ADTS, fMP4/CMAF with an
//! `#EXT-X-MAP` init section, packed audio, Ogg) streamed one after another into one byte
//! stream for the decoder, AES-128 segments decrypted on the way.
//!
//! Memory: segments are streamed in range windows (`http::HttpStream`, `SEGMENT_WINDOW`),
//! never held whole: a playing HLS track keeps one window in the HTTP stack, a small head
//! buffer, the init section and (MPEG-TS) one batch of demuxed packets besides the engine's
//! read-ahead ring.
//!
//! Seeking (VOD, `#EXT-X-ENDLIST`): the decoder gets a [`SegmentIndex`] with the input; to
//! seek it finds the segment by summed `#EXTINF` durations, sends the reader a *jump*
//! (`SeekFrom::Start(JUMP | index)`), builds a fresh demuxer on what follows (init section +
//! that segment onwards) and drops decoded audio up to the target.
//! Ogg segments form one stream whose codec headers only the first segment carries: a
//! jump replays those header pages (read once from the first segment) before the segment.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use crate::net::Url;

use super::http::{HttpClient, HttpStream};
use super::probe;
use super::{mpegts, MediaInput, SourceError};
use crate::net::Outbound;

const MAX_PLAYLIST: usize = 1 << 20;
/// Init sections and keys are small; anything bigger is not one.
const MAX_INIT: usize = 1 << 20;
const POLL: Duration = Duration::from_millis(200);
/// Master → media playlist indirections followed.
const MAX_MASTER_HOPS: usize = 3;
/// Consecutive failing live segments skipped before the stream fails.
const MAX_LIVE_SKIPS: usize = 3;
/// Bytes of the first segment looked at to tell its payload.
const SNIFF_LEN: usize = 1024;
/// Bytes per range request of a segment: what the HTTP stack may buffer per playing track
/// (its read buffer grows to about twice the largest response it reads in one go).
pub const SEGMENT_WINDOW: u64 = 24 * 1024;
/// Range window for AES-128 segments (see `HlsReader::open_segment`).
pub const AES_SEGMENT_WINDOW: u64 = 12 * 1024;
/// Live segments already played that are kept to match the next poll against.
const LIVE_HISTORY: usize = 16;

/// `#EXT-X-KEY` in force for a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// `AES-128`, `SAMPLE-AES`, … (`NONE` is not stored).
    pub method: String,
    pub uri: Option<Url>,
    /// The `IV` attribute; without it the IV is the media sequence number (RFC 8216 §5.2).
    pub iv: Option<[u8; 16]>,
}

impl KeyInfo {
    /// The IV for the segment with media sequence number `seq`.
    pub fn iv_for(&self, seq: u64) -> [u8; 16] {
        self.iv.unwrap_or_else(|| {
            let mut iv = [0u8; 16];
            iv[8..].copy_from_slice(&seq.to_be_bytes());
            iv
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub uri: Url,
    pub duration_ms: u64,
    pub seq: u64,
    pub key: Option<KeyInfo>,
    /// The `#EXT-X-MAP` init section in force for this segment.
    pub map: Option<Url>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct MediaPlaylist {
    pub segments: Vec<Segment>,
    pub end_list: bool,
    /// The first `#EXT-X-MAP` (most playlists have one for all segments).
    pub map: Option<Url>,
}

impl MediaPlaylist {
    /// Total of the `#EXTINF` durations.
    pub fn duration_ms(&self) -> u64 {
        self.segments.iter().map(|s| s.duration_ms).sum()
    }
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

/// `0x` + 32 hex digits.
fn parse_iv(s: &str) -> Option<[u8; 16]> {
    let hex = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    if hex.len() != 32 {
        return None;
    }
    let mut iv = [0u8; 16];
    for (i, b) in iv.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(iv)
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
    let mut key: Option<KeyInfo> = None;
    let mut map: Option<Url> = None;
    for l in &lines {
        if let Some(v) = l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            seq = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = l.strip_prefix("#EXTINF:") {
            let secs: f64 = v
                .split(',')
                .next()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0.0);
            duration_ms = if secs.is_finite() {
                (secs.clamp(0.0, 1e9) * 1000.0) as u64
            } else {
                0
            };
        } else if l.starts_with("#EXT-X-ENDLIST") {
            pl.end_list = true;
        } else if let Some(v) = l.strip_prefix("#EXT-X-MAP:") {
            map = attr(&attributes(v), "URI").and_then(|u| base.join(u).ok());
            if pl.map.is_none() {
                pl.map = map.clone();
            }
        } else if let Some(v) = l.strip_prefix("#EXT-X-KEY:") {
            let a = attributes(v);
            key = match attr(&a, "METHOD") {
                None | Some("NONE") => None,
                Some(m) => Some(KeyInfo {
                    method: m.to_string(),
                    uri: attr(&a, "URI").and_then(|u| base.join(u).ok()),
                    iv: attr(&a, "IV").and_then(parse_iv),
                }),
            };
        } else if !l.starts_with('#') {
            if let Ok(uri) = base.join(l) {
                pl.segments.push(Segment {
                    uri,
                    duration_ms,
                    seq,
                    key: key.clone(),
                    map: map.clone(),
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

/// GET → success body (any status but 200/203/206 is an error).
fn get(net: &Outbound, url: &Url) -> io::Result<crate::net::Response> {
    let resp = net.get(url.as_str()).send().map_err(io::Error::other)?;
    if !resp.is_success() {
        return Err(io::Error::other(format!("Status code {}", resp.status())));
    }
    Ok(resp)
}

fn fetch(net: &Outbound, url: &Url, limit: usize) -> io::Result<Vec<u8>> {
    get(net, url)?
        .bytes(limit)
        .map_err(|e| io::Error::other(e.to_string()))
}

/// Fetches `url` and follows masters to a media playlist. Returns its final URL.
pub fn media_playlist(net: &Outbound, url: &Url) -> Result<(Url, MediaPlaylist), SourceError> {
    let mut url = url.clone();
    for _ in 0..=MAX_MASTER_HOPS {
        let text = fetch(net, &url, MAX_PLAYLIST).map_err(|e| SourceError::Io(e.to_string()))?;
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

/// The total duration of a VOD playlist (`#EXT-X-ENDLIST`), given the text of a media or
/// master playlist (a master's chosen variant is fetched); None for live or on failure.
pub fn vod_duration_ms(net: &Outbound, text: &str, url: &Url) -> Option<u64> {
    let pl = match parse(text, url) {
        Playlist::Media(pl) => pl,
        Playlist::Master(Some(variant)) => media_playlist(net, &variant).ok()?.1,
        Playlist::Master(None) => return None,
    };
    (pl.end_list && !pl.segments.is_empty()).then(|| pl.duration_ms())
}

/// What the segments carry, sniffed from the first one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    Ts,
    Fmp4,
    /// Packed audio (ADTS or MP3, each segment with an ID3 timestamp tag) or Ogg.
    Raw(&'static str),
}

/// Tells the payload from the first bytes of the first segment (sources.md §0.6).
pub fn sniff(first: &[u8], has_map: bool) -> Payload {
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

/// Size of a leading ID3v2 tag (header + body + footer), if `b` starts with one.
fn id3_len(b: &[u8]) -> Option<usize> {
    if b.len() >= 10 && b.starts_with(b"ID3") {
        let size = b[6..10]
            .iter()
            .fold(0usize, |a, &x| (a << 7) | (x & 0x7F) as usize);
        let footer = if b[5] & 0x10 != 0 { 10 } else { 0 };
        return Some(10 + size + footer);
    }
    None
}

/// Drops a leading ID3v2 tag (packed-audio segments start with one).
fn strip_id3(b: &[u8]) -> &[u8] {
    match id3_len(b) {
        Some(n) => b.get(n..).unwrap_or(&[]),
        None => b,
    }
}

/// Where segments start in time, for seeking a VOD playlist. Travels with the
/// `MediaInput`; the decoder turns a seek into a jump (`JUMP | index`) on the reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentIndex {
    starts_ms: Vec<u64>,
    total_ms: u64,
}

impl SegmentIndex {
    /// Marks a `SeekFrom::Start` position as "restart at segment `(p & !JUMP) >> 32`". The
    /// index sits in the high half so that positions counted on from one jump can never
    /// equal (or be a short skip before) another jump's target.
    pub const JUMP: u64 = 1 << 62;

    pub fn jump_to(i: usize) -> u64 {
        Self::JUMP | ((i as u64 & 0x3FFF_FFFF) << 32)
    }

    pub fn new(durations_ms: impl IntoIterator<Item = u64>) -> SegmentIndex {
        let mut starts_ms = Vec::new();
        let mut t = 0u64;
        for d in durations_ms {
            starts_ms.push(t);
            t = t.saturating_add(d);
        }
        SegmentIndex {
            starts_ms,
            total_ms: t,
        }
    }

    /// The segment holding `ms` and how far into it `ms` is; None past the end.
    pub fn locate(&self, ms: u64) -> Option<(usize, u64)> {
        if ms >= self.total_ms {
            return None;
        }
        let i = self
            .starts_ms
            .partition_point(|&s| s <= ms)
            .checked_sub(1)?;
        Some((i, ms - self.starts_ms[i]))
    }

    pub fn total_ms(&self) -> u64 {
        self.total_ms
    }

    pub fn len(&self) -> usize {
        self.starts_ms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts_ms.is_empty()
    }
}

/// Shows a segmented input to the demuxer as unseekable (so it never seeks on its own,
/// e.g. to the end to learn a length) while letting the decoder's jumps through.
pub struct JumpOnly(pub Box<dyn symphonia::core::io::MediaSource>);

impl Read for JumpOnly {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Seek for JumpOnly {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        match to {
            SeekFrom::Start(p) if p & SegmentIndex::JUMP != 0 => self.0.seek(to),
            _ => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "segmented stream: seek by segment only",
            )),
        }
    }
}

impl symphonia::core::io::MediaSource for JumpOnly {
    fn is_seekable(&self) -> bool {
        false
    }
    fn byte_len(&self) -> Option<u64> {
        None
    }
}

/// Re-reads the media playlist when signed segment URLs may have expired (SoundCloud's are
/// good for about 10 minutes): returns a fresh playlist and its URL.
pub type Refresh = Arc<dyn Fn() -> Result<(Url, MediaPlaylist), SourceError> + Send + Sync>;

/// How an HLS input is opened.
#[derive(Clone, Default)]
pub struct Options {
    /// Re-resolve the playlist once it is older than `refresh_after`.
    pub refresh: Option<Refresh>,
    pub refresh_after: Duration,
}

/// Opens an HLS track: `inner` = the URL is the media playlist, else master or media.
pub fn open(net: &Outbound, url: &Url, inner: bool) -> Result<MediaInput, SourceError> {
    let (media_url, pl) = if inner {
        let text = fetch(net, url, MAX_PLAYLIST).map_err(|e| SourceError::Io(e.to_string()))?;
        match parse(&String::from_utf8_lossy(&text), url) {
            Playlist::Media(pl) => (url.clone(), pl),
            Playlist::Master(_) => media_playlist(net, url)?,
        }
    } else {
        media_playlist(net, url)?
    };
    open_media(net, media_url, pl, Options::default())
}

/// Opens an already fetched media playlist (sources that resolve it themselves).
pub fn open_media(
    net: &Outbound,
    url: Url,
    pl: MediaPlaylist,
    options: Options,
) -> Result<MediaInput, SourceError> {
    let vod = pl.end_list;
    let index = SegmentIndex::new(pl.segments.iter().map(|s| s.duration_ms));
    let mut reader = HlsReader::new(net.clone(), url, pl, options);
    let payload = reader.start().map_err(|e| SourceError::Io(e.to_string()))?;
    let seekable = vod && !index.is_empty();
    reader.seekable = seekable;
    let ext = match payload {
        Payload::Ts => "aac",
        Payload::Fmp4 => "mp4",
        Payload::Raw(ext) => ext,
    };
    Ok(MediaInput {
        reader: Box::new(reader),
        extension: Some(ext.to_string()),
        mime: None,
        is_stream: !vod,
        segments: seekable.then_some(index),
    })
}

/// AES-128-CBC (PKCS#7) over a segment body, block by block (RFC 8216 §5.2).
struct Aes128Cbc<R> {
    inner: Blocks<R>,
    cipher: aes::Aes128,
    prev: [u8; 16],
    /// Decrypted bytes ready to hand out (`out[pos..len]`).
    out: [u8; 16],
    pos: usize,
    len: usize,
    /// The next ciphertext block, read ahead so the last one (with padding) is known.
    next: Option<[u8; 16]>,
    done: bool,
}

impl<R: Read> Aes128Cbc<R> {
    fn new(inner: R, key: [u8; 16], iv: [u8; 16]) -> io::Result<Aes128Cbc<R>> {
        use aes::cipher::KeyInit;
        let mut inner = Blocks::new(inner);
        let next = inner.next_block()?;
        Ok(Aes128Cbc {
            inner,
            cipher: aes::Aes128::new(&key.into()),
            prev: iv,
            out: [0; 16],
            pos: 0,
            len: 0,
            next,
            done: false,
        })
    }
}

/// Ciphertext bytes taken from the body in reads of up to `CIPHER_BUF` and handed out as
/// 16-byte blocks (one body read per block would cost a blocking-client round trip each).
struct Blocks<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
}

/// Ciphertext read ahead per encrypted segment.
const CIPHER_BUF: usize = 4096;

impl<R: Read> Blocks<R> {
    fn new(inner: R) -> Blocks<R> {
        Blocks {
            inner,
            buf: vec![0; CIPHER_BUF],
            start: 0,
            end: 0,
            eof: false,
        }
    }

    /// A whole 16-byte block, None at a clean end; a partial block is an error.
    fn next_block(&mut self) -> io::Result<Option<[u8; 16]>> {
        while self.end - self.start < 16 && !self.eof {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        match self.end - self.start {
            0 => Ok(None),
            n if n < 16 => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "AES-128 segment is not a whole number of blocks",
            )),
            _ => {
                let mut b = [0u8; 16];
                b.copy_from_slice(&self.buf[self.start..self.start + 16]);
                self.start += 16;
                Ok(Some(b))
            }
        }
    }
}

impl<R: Read> Aes128Cbc<R> {
    /// Decrypts the next block into `out`; false at the end of the segment.
    fn refill(&mut self) -> io::Result<bool> {
        use aes::cipher::BlockDecrypt;
        if self.done {
            return Ok(false);
        }
        let Some(block) = self.next.take() else {
            self.done = true;
            return Ok(false);
        };
        self.next = self.inner.next_block()?;
        let mut plain = block.into();
        self.cipher.decrypt_block(&mut plain);
        let mut plain: [u8; 16] = plain.into();
        for (p, c) in plain.iter_mut().zip(self.prev) {
            *p ^= c;
        }
        self.prev = block;
        self.out = plain;
        self.pos = 0;
        self.len = 16;
        if self.next.is_none() {
            // Last block: strip the PKCS#7 padding.
            let pad = plain[15] as usize;
            if pad == 0 || pad > 16 || plain[16 - pad..].iter().any(|&b| b as usize != pad) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "AES-128 segment has bad padding (wrong key?)",
                ));
            }
            self.len = 16 - pad;
            self.done = true;
        }
        Ok(true)
    }
}

impl<R: Read> Read for Aes128Cbc<R> {
    /// Fills `buf` with as many decrypted blocks as fit (decoders read kilobytes at a time).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut written = 0;
        while written < buf.len() {
            if self.pos >= self.len && !self.refill()? {
                break;
            }
            let n = (buf.len() - written).min(self.len - self.pos);
            buf[written..written + n].copy_from_slice(&self.out[self.pos..self.pos + n]);
            self.pos += n;
            written += n;
        }
        Ok(written)
    }
}

/// AES-128-CBC with PKCS#7 padding over `body` (an HLS `METHOD=AES-128` segment), decrypted
/// as it is read. Public for sources that fetch keys their own way, and for fuzzing.
pub fn decrypt_aes128<R: Read + Send + 'static>(
    body: R,
    key: [u8; 16],
    iv: [u8; 16],
) -> io::Result<Box<dyn Read + Send>> {
    Ok(Box::new(Aes128Cbc::new(body, key, iv)?))
}

/// The AES-128 key of a segment (fetched once per key URI, then cached in `keys`).
fn aes_key(net: &Outbound, keys: &mut Vec<(Url, [u8; 16])>, key: &KeyInfo) -> io::Result<[u8; 16]> {
    if key.method != "AES-128" {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("HLS encryption {} is not supported", key.method),
        ));
    }
    let uri = key
        .uri
        .as_ref()
        .ok_or_else(|| io::Error::other("AES-128 key without URI"))?;
    if let Some((_, k)) = keys.iter().find(|(u, _)| u == uri) {
        return Ok(*k);
    }
    let bytes = fetch(net, uri, MAX_INIT)?;
    let k: [u8; 16] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| io::Error::other("AES-128 key is not 16 bytes"))?;
    keys.push((uri.clone(), k));
    Ok(k)
}

/// The segments of a media playlist as one byte stream (see the module docs for seeking).
pub struct HlsReader {
    net: Outbound,
    /// Segment requests (range windows through `net`; live: `Outbound::live_segments`).
    seg_client: HttpClient,
    /// The same for AES-128 segments, in smaller windows (see `open_segment`).
    aes_client: HttpClient,
    url: Url,
    live: bool,
    /// VOD: the whole list. Live: recent history plus what is still to play.
    segments: Vec<Segment>,
    next: usize,
    last_seq: Option<u64>,
    /// Wait for new live segments this long before calling the stream ended.
    wait: Duration,
    payload: Payload,
    /// The init section last emitted (URL and bytes), re-emitted after jumps and changes.
    init: Option<(Url, Vec<u8>)>,
    /// Bytes to hand out before the body: init section, a sniffed head.
    prefix: Vec<u8>,
    prefix_pos: usize,
    /// `Mutex` only for `Sync` (symphonia's `MediaSource`); reached through `get_mut`,
    /// never locked.
    body: Option<Mutex<Box<dyn Read + Send>>>,
    ts: mpegts::TsDemuxer,
    ts_pkt: [u8; mpegts::PACKET],
    ts_out: Vec<u8>,
    ts_pos: usize,
    keys: Vec<(Url, [u8; 16])>,
    /// Ogg VOD: the header pages of the first segment, once a jump needed them.
    ogg_head: Option<Vec<u8>>,
    /// Logical position: bytes handed out since the start or the last jump.
    pos: u64,
    ended: bool,
    seekable: bool,
    options: Options,
    loaded_at: Instant,
}

impl HlsReader {
    fn new(net: Outbound, url: Url, pl: MediaPlaylist, options: Options) -> HlsReader {
        let wait =
            Duration::from_millis(pl.segments.first().map_or(1000, |s| s.duration_ms).max(200));
        let seg_client = HttpClient::from_outbound(if pl.end_list {
            net.clone()
        } else {
            net.live_segments()
        });
        HlsReader {
            aes_client: seg_client.clone().with_window(AES_SEGMENT_WINDOW),
            seg_client: seg_client.with_window(SEGMENT_WINDOW),
            net,
            url,
            live: !pl.end_list,
            segments: pl.segments,
            next: 0,
            last_seq: None,
            wait,
            payload: Payload::Ts,
            init: None,
            prefix: Vec::new(),
            prefix_pos: 0,
            body: None,
            ts: mpegts::TsDemuxer::new(),
            ts_pkt: [0; mpegts::PACKET],
            ts_out: Vec::new(),
            ts_pos: 0,
            keys: Vec::new(),
            ogg_head: None,
            pos: 0,
            ended: false,
            seekable: false,
            options,
            loaded_at: Instant::now(),
        }
    }

    /// Opens the first segment and sniffs its payload.
    fn start(&mut self) -> io::Result<Payload> {
        let Some((seg, mut body)) = self.open_next()? else {
            return Err(io::Error::other("The HLS playlist has no segments."));
        };
        let mut head = Vec::with_capacity(SNIFF_LEN);
        (&mut body).take(SNIFF_LEN as u64).read_to_end(&mut head)?;
        self.payload = sniff(&head, seg.map.is_some());
        let head_reader = io::Cursor::new(head).chain(body);
        self.begin_segment(&seg, Box::new(head_reader))?;
        Ok(self.payload)
    }

    /// Re-reads the playlist of a VOD whose signed URLs may have expired; the new list is
    /// used only if it has the same segments (count and durations).
    fn maybe_refresh(&mut self) {
        let Some(refresh) = self.options.refresh.clone() else {
            return;
        };
        if self.live || self.loaded_at.elapsed() < self.options.refresh_after {
            return;
        }
        self.loaded_at = Instant::now();
        match refresh() {
            Ok((url, pl))
                if pl.segments.len() == self.segments.len()
                    && pl
                        .segments
                        .iter()
                        .zip(&self.segments)
                        .all(|(a, b)| a.duration_ms == b.duration_ms) =>
            {
                self.url = url;
                self.segments = pl.segments;
            }
            Ok(_) => log::debug!("HLS refresh skipped: the segment list changed"),
            Err(e) => log::debug!("HLS refresh failed: {e}"),
        }
    }

    /// Requests the next segment; None when the playlist is finished. A live segment that
    /// fails (expired, scrolled out) is skipped, a few in a row at most; a failing VOD
    /// segment is an error.
    fn open_next(&mut self) -> io::Result<Option<(Segment, Box<dyn Read + Send>)>> {
        let mut failures = 0;
        loop {
            self.maybe_refresh();
            if self.next >= self.segments.len() && (!self.live || !self.poll_live()?) {
                return Ok(None);
            }
            let seg = self.segments[self.next].clone();
            self.next += 1;
            self.last_seq = Some(seg.seq);
            if self.live && self.next > LIVE_HISTORY {
                let drop = self.next - LIVE_HISTORY;
                self.segments.drain(..drop);
                self.next -= drop;
            }
            match self.open_body(&seg) {
                Ok(b) => return Ok(Some((seg, b))),
                Err(e) if !self.live || failures >= MAX_LIVE_SKIPS => return Err(e),
                Err(e) => {
                    log::debug!("skipping live HLS segment {}: {e}", seg.uri);
                    failures += 1;
                }
            }
        }
    }

    /// A segment's (decrypted) body. The key is fetched before the segment is requested,
    /// so both go over the same kept-alive connection instead of opening a second one.
    fn open_body(&mut self, seg: &Segment) -> io::Result<Box<dyn Read + Send>> {
        let key = match &seg.key {
            Some(k) => Some((aes_key(&self.net, &mut self.keys, k)?, k.iv_for(seg.seq))),
            None => None,
        };
        let body = self.open_segment(&seg.uri, key.is_some())?;
        match key {
            Some((k, iv)) => decrypt_aes128(body, k, iv),
            None => Ok(body),
        }
    }

    /// A segment body read in bounded range windows (`HttpStream`), so the HTTP stack never
    /// buffers more than one window per track; a server that ignores ranges is read as one
    /// body. One reconnect on a broken body, resuming where it broke.
    fn open_segment(&self, uri: &Url, encrypted: bool) -> io::Result<Box<dyn Read + Send>> {
        // Decryption keeps a ciphertext block and the HTTP stack may briefly hold two read
        // buffers: smaller windows keep an encrypted track within the same bound.
        let client = if encrypted {
            &self.aes_client
        } else {
            &self.seg_client
        };
        let (stream, _) = HttpStream::open(client, uri).map_err(|e| match e {
            SourceError::NotPlayable { status } => {
                io::Error::other(format!("Status code {status}"))
            }
            e => io::Error::other(e.to_string()),
        })?;
        Ok(Box::new(stream))
    }

    /// Re-reads a live playlist until a segment after the last one appears.
    fn poll_live(&mut self) -> io::Result<bool> {
        let deadline = Instant::now() + self.wait;
        loop {
            let text = fetch(&self.net, &self.url, MAX_PLAYLIST)?;
            if let Playlist::Media(pl) = parse(&String::from_utf8_lossy(&text), &self.url) {
                let end_list = pl.end_list;
                let fresh: Vec<Segment> = match self.last_seq {
                    Some(last) => pl.segments.into_iter().filter(|s| s.seq > last).collect(),
                    None => pl.segments,
                };
                if !fresh.is_empty() {
                    self.segments.extend(fresh);
                    return Ok(true);
                }
                if end_list {
                    self.live = false;
                    return Ok(false);
                }
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(POLL);
        }
    }

    /// Makes `body` the current segment: the init section goes first when it is new (or
    /// after a jump), a packed-audio segment loses its ID3 tag.
    fn begin_segment(&mut self, seg: &Segment, mut body: Box<dyn Read + Send>) -> io::Result<()> {
        self.prefix.clear();
        self.prefix_pos = 0;
        if self.payload == Payload::Fmp4 {
            if let Some(map) = &seg.map {
                if self.init.as_ref().is_none_or(|(u, _)| u != map) {
                    let bytes = fetch(&self.net, map, MAX_INIT)?;
                    self.init = Some((map.clone(), bytes));
                    self.prefix
                        .extend_from_slice(self.init.as_ref().map_or(&[][..], |(_, b)| b));
                }
            }
        }
        if let Payload::Raw(_) = self.payload {
            let mut head = [0u8; 10];
            let n = read_some(&mut body, &mut head)?;
            match id3_len(&head[..n]) {
                Some(len) => {
                    io::copy(&mut (&mut body).take((len - n) as u64), &mut io::sink())?;
                }
                None => self.prefix.extend_from_slice(&head[..n]),
            }
        }
        self.body = Some(Mutex::new(body));
        Ok(())
    }

    /// Moves to the next segment; false at the end.
    fn advance(&mut self) -> io::Result<bool> {
        self.body = None;
        match self.open_next()? {
            Some((seg, body)) => {
                self.begin_segment(&seg, body)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Reads from the current segment (demuxing MPEG-TS to ADTS); 0 = segment finished.
    fn read_segment(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.prefix_pos < self.prefix.len() && self.payload != Payload::Ts {
            let n = out.len().min(self.prefix.len() - self.prefix_pos);
            out[..n].copy_from_slice(&self.prefix[self.prefix_pos..self.prefix_pos + n]);
            self.prefix_pos += n;
            return Ok(n);
        }
        let Some(body) = self.body.as_mut() else {
            return Ok(0);
        };
        let body = body.get_mut().unwrap_or_else(|p| p.into_inner());
        if self.payload != Payload::Ts {
            return body.read(out);
        }
        while self.ts_pos >= self.ts_out.len() {
            self.ts_out.clear();
            self.ts_pos = 0;
            // A batch of packets, so small reads do not cost a packet each.
            for _ in 0..32 {
                let n = read_some(body, &mut self.ts_pkt)?;
                if n < mpegts::PACKET {
                    if self.ts_out.is_empty() {
                        return Ok(0);
                    }
                    break;
                }
                let pkt = self.ts_pkt;
                self.ts.push(&pkt, &mut self.ts_out);
            }
        }
        let n = out.len().min(self.ts_out.len() - self.ts_pos);
        out[..n].copy_from_slice(&self.ts_out[self.ts_pos..self.ts_pos + n]);
        self.ts_pos += n;
        Ok(n)
    }

    /// Restarts at segment `i` (a decoder seek): its init section and the segment follow.
    fn jump(&mut self, i: usize) -> io::Result<()> {
        if self.live || i >= self.segments.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no such HLS segment",
            ));
        }
        self.body = None;
        self.prefix.clear();
        self.prefix_pos = 0;
        self.ts = mpegts::TsDemuxer::new();
        self.ts_out.clear();
        self.ts_pos = 0;
        self.init = None;
        let ogg_head = match (self.payload, i) {
            (Payload::Raw("ogg"), 1..) => Some(self.ogg_head()?),
            _ => None,
        };
        self.next = i;
        self.pos = 0;
        self.ended = false;
        if !self.advance()? {
            self.ended = true;
        }
        if let Some(mut head) = ogg_head {
            head.extend_from_slice(&self.prefix);
            self.prefix = head;
        }
        Ok(())
    }

    /// The Ogg stream's header pages, read once from the first segment: only it carries
    /// them (sources.md §1.6), and a demuxer restarted at a later segment needs them first.
    fn ogg_head(&mut self) -> io::Result<Vec<u8>> {
        if let Some(h) = &self.ogg_head {
            return Ok(h.clone());
        }
        let first = self
            .segments
            .first()
            .cloned()
            .ok_or_else(|| io::Error::other("no first HLS segment"))?;
        let mut body = self.open_body(&first)?;
        let mut tag = [0u8; 10];
        let n = read_some(&mut body, &mut tag)?;
        let mut rest: Box<dyn Read + Send> = match id3_len(&tag[..n]) {
            Some(len) => {
                io::copy(&mut (&mut body).take((len - n) as u64), &mut io::sink())?;
                body
            }
            None => Box::new(io::Cursor::new(tag[..n].to_vec()).chain(body)),
        };
        let head = ogg_header_pages(&mut rest)?;
        self.ogg_head = Some(head.clone());
        Ok(head)
    }
}

/// The leading pages of an Ogg stream that carry its codec headers: two packets for Opus
/// (OpusHead, OpusTags), three for Vorbis. Audio starts on a fresh page (RFC 7845 §3), so
/// the pages up to the last header packet are exactly the header.
pub fn ogg_header_pages<R: Read + ?Sized>(r: &mut R) -> io::Result<Vec<u8>> {
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, format!("Ogg header: {m}"));
    let mut out = Vec::new();
    let mut packets = 0usize;
    let mut needed = 2usize;
    loop {
        let mut h = [0u8; 27];
        if read_some(r, &mut h)? < 27 || &h[..4] != b"OggS" {
            return Err(bad("not an Ogg page"));
        }
        let mut table = vec![0u8; h[26] as usize];
        if read_some(r, &mut table)? < table.len() {
            return Err(bad("truncated page"));
        }
        let body_len: usize = table.iter().map(|&l| l as usize).sum();
        if out.len() + 27 + table.len() + body_len > MAX_INIT {
            return Err(bad("headers too large"));
        }
        let start = out.len();
        out.extend_from_slice(&h);
        out.extend_from_slice(&table);
        let body_at = out.len();
        out.resize(body_at + body_len, 0);
        if read_some(r, &mut out[body_at..])? < body_len {
            return Err(bad("truncated page"));
        }
        if start == 0 && out[body_at..].starts_with(b"\x01vorbis") {
            needed = 3;
        }
        packets += table.iter().filter(|&&l| l < 255).count();
        if packets >= needed {
            return Ok(out);
        }
    }
}

/// Reads until `buf` is full or the input ends; returns how much was read.
fn read_some<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl Read for HlsReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if self.ended {
                return Ok(0);
            }
            let n = self.read_segment(out)?;
            if n > 0 {
                self.pos += n as u64;
                return Ok(n);
            }
            if !self.advance()? {
                self.ended = true;
            }
        }
    }
}

impl Seek for HlsReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) if p & SegmentIndex::JUMP != 0 => {
                self.jump(((p & !SegmentIndex::JUMP) >> 32) as usize)?;
                return Ok(0);
            }
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(_) => None,
        };
        match target {
            Some(t) if t == self.pos => Ok(t),
            Some(t) if t > self.pos => {
                let skip = t - self.pos;
                io::copy(&mut self.by_ref().take(skip), &mut io::sink())?;
                Ok(self.pos)
            }
            _ => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "HLS streams seek by segment only",
            )),
        }
    }
}

impl symphonia::core::io::MediaSource for HlsReader {
    /// VOD: yes, so the engine's read-ahead forwards the decoder's segment jumps.
    fn is_seekable(&self) -> bool {
        self.seekable
    }
    fn byte_len(&self) -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://cdn.example/a/b/list.m3u8?tok=1").unwrap()
    }

    #[test]
    fn parses_keys_maps_and_durations() {
        let text = "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:7\n\
            #EXT-X-MAP:URI=\"init.mp4\"\n\
            #EXT-X-KEY:METHOD=AES-128,URI=\"/keys/k1\",IV=0x000102030405060708090A0B0C0D0E0F\n\
            #EXTINF:9.985,\nseg7.m4s?x=1\n\
            #EXT-X-KEY:METHOD=NONE\n#EXTINF:10,\n../c/seg8.m4s\n#EXT-X-ENDLIST\n";
        let Playlist::Media(pl) = parse(text, &base()) else {
            panic!("media expected")
        };
        assert!(pl.end_list);
        assert_eq!(
            pl.map.as_ref().unwrap().as_str(),
            "https://cdn.example/a/b/init.mp4"
        );
        assert_eq!(pl.segments.len(), 2);
        let k = pl.segments[0].key.as_ref().unwrap();
        assert_eq!(
            k.uri.as_ref().unwrap().as_str(),
            "https://cdn.example/keys/k1"
        );
        assert_eq!(k.iv.unwrap()[15], 0x0F);
        assert_eq!(pl.segments[0].seq, 7);
        assert_eq!(pl.segments[0].duration_ms, 9985);
        assert!(pl.segments[1].key.is_none());
        assert_eq!(
            pl.segments[1].uri.as_str(),
            "https://cdn.example/a/c/seg8.m4s"
        );
        assert_eq!(pl.duration_ms(), 19985);
    }

    #[test]
    fn iv_defaults_to_the_sequence_number() {
        let k = KeyInfo {
            method: "AES-128".into(),
            uri: None,
            iv: None,
        };
        let iv = k.iv_for(0x0102);
        assert_eq!(&iv[..14], &[0; 14]);
        assert_eq!(&iv[14..], &[1, 2]);
    }

    #[test]
    fn index_locates_segments() {
        let idx = SegmentIndex::new([1000, 1000, 500]);
        assert_eq!(idx.locate(0), Some((0, 0)));
        assert_eq!(idx.locate(999), Some((0, 999)));
        assert_eq!(idx.locate(1000), Some((1, 0)));
        assert_eq!(idx.locate(2499), Some((2, 499)));
        assert_eq!(idx.locate(2500), None);
        assert_eq!(SegmentIndex::new([]).locate(0), None);
    }

    /// One Ogg page carrying `packets` (each shorter than 255 bytes).
    fn page(granule: u64, packets: &[&[u8]]) -> Vec<u8> {
        let mut p = b"OggS\0\0".to_vec();
        p.extend_from_slice(&granule.to_le_bytes());
        p.extend_from_slice(&[0; 12]);
        p.push(packets.len() as u8);
        p.extend(packets.iter().map(|x| x.len() as u8));
        for x in packets {
            p.extend_from_slice(x);
        }
        p
    }

    #[test]
    fn ogg_header_pages_stop_after_the_codec_headers() {
        let head = [page(0, &[b"OpusHead...."]), page(0, &[b"OpusTags.."])].concat();
        let audio = page(960, &[b"audio"]);
        let got = ogg_header_pages(&mut io::Cursor::new([head.clone(), audio].concat()));
        assert_eq!(got.unwrap(), head);
        // Vorbis has three header packets (here the last two share a page).
        let vorbis = [
            page(0, &[b"\x01vorbis.."]),
            page(0, &[b"\x03vorbis", b"\x05vorbis"]),
        ]
        .concat();
        let got = ogg_header_pages(&mut io::Cursor::new(
            [vorbis.clone(), page(1, &[b"a"])].concat(),
        ));
        assert_eq!(got.unwrap(), vorbis);
        // Not Ogg, truncated: errors, not panics.
        assert!(ogg_header_pages(&mut io::Cursor::new(
            b"ID3 not ogg at all....................".to_vec()
        ))
        .is_err());
        let cut = &head[..head.len() - 3];
        assert!(ogg_header_pages(&mut io::Cursor::new(cut.to_vec())).is_err());
        assert!(ogg_header_pages(&mut io::Cursor::new(Vec::new())).is_err());
    }

    #[test]
    fn aes_128_cbc_round_trip() {
        use aes::cipher::{BlockEncrypt, KeyInit};
        let key = [7u8; 16];
        let iv = [9u8; 16];
        for len in [0usize, 5, 16, 33] {
            let plain: Vec<u8> = (0..len as u8).collect();
            let pad = 16 - len % 16;
            let mut padded = plain.clone();
            padded.extend(std::iter::repeat_n(pad as u8, pad));
            let cipher = aes::Aes128::new(&key.into());
            let mut prev = iv;
            let mut enc = Vec::new();
            for chunk in padded.chunks(16) {
                let mut b = [0u8; 16];
                for i in 0..16 {
                    b[i] = chunk[i] ^ prev[i];
                }
                let mut block = b.into();
                cipher.encrypt_block(&mut block);
                prev = block.into();
                enc.extend_from_slice(&prev);
            }
            let mut r = Aes128Cbc::new(io::Cursor::new(enc), key, iv).unwrap();
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            assert_eq!(out, plain, "len {len}");
        }
        let mut bad = Aes128Cbc::new(io::Cursor::new(vec![1u8; 16]), key, iv).unwrap();
        assert!(bad.read_to_end(&mut Vec::new()).is_err());
    }
}
