//! The `http` source (sources.md §8): outbound requests through reqwest's blocking client
//! (proxy from `[http]`, timeouts from `[timeouts]`), redirects as references, container
//! detection, and `HttpStream`, a seekable body built on range requests.

use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::sync::Mutex;

use reqwest::Url;

use super::icy::{self, IcyReader, TitleCell};
use super::playlist::{self, Parsed, MAX_PLAYLIST_BYTES};
use super::probe::{self, Hints, ProbeKind, HEAD_LEN};
use super::{hls, mpegts, probed_track, Answer, LoadRequest, MediaInput, ProbedInfo, SourceError};
use crate::config::Config;

pub use crate::net::USER_AGENT;
use crate::net::{NetError, Outbound};

/// Most bytes asked for per range request when the server supports ranges. Bounding each
/// response bounds what the HTTP stack buffers per player (hyper grows its read buffer to
/// ~400 KiB on a fast link and hands over chunks as large), at one request per ~4 s of
/// 128 kbit/s audio on a kept-alive connection.
pub const RANGE_WINDOW: u64 = 64 * 1024;
/// Fewest bytes asked for per range request of a media stream: the read-ahead's smallest
/// read. Each next window is sized to the read that asks for it (between this and the
/// client's window), and the read-ahead reads into all the free space of its ring, so a
/// window is read to its end at once. A response left half-read keeps its chunks and its
/// connection's read buffer alive until the ring drains: a 16 KiB floor, larger than the
/// reads at the ring's wrap, left one open per player (≈ 50 KiB of hyper buffers each).
pub const MIN_RANGE_WINDOW: u64 = 4 * 1024;
/// The first window (clients without fixed windows): the ring's first fill asks for the
/// rest at once, sized to its free space.
const FIRST_WINDOW: u64 = 16 * 1024;
/// Forward seeks shorter than this read and discard instead of reconnecting.
const SKIP_LIMIT: u64 = 512 * 1024;

/// A response as the sources need it: status, lower-cased headers, and the body.
pub struct Fetched {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Box<dyn Read + Send>,
}

impl Fetched {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// 200, 203 and 206 are success; 204 and other 2xx are not (lavaplayer).
    pub fn is_success(&self) -> bool {
        matches!(self.status, 200 | 203 | 206)
    }
}

/// Media GETs shared by the http source, HLS and every source that streams a URL: the
/// outbound client (`crate::net`, so proxy, roots and per-host headers apply) plus the ICY
/// fallback. Cheap to clone.
#[derive(Clone)]
pub struct HttpClient {
    out: Outbound,
    /// Headers sent with every request of this client (e.g. Twitch's Client-ID on segments).
    headers: Vec<(String, String)>,
    /// Most bytes per range request of an `HttpStream` opened with this client.
    window: u64,
    /// Fewest bytes per range request (see `MIN_RANGE_WINDOW`); equal to `window` for
    /// fixed windows.
    min_window: u64,
}

impl HttpClient {
    pub fn new(config: &Config) -> HttpClient {
        HttpClient::from_outbound(Outbound::new(config))
    }

    pub fn from_outbound(out: Outbound) -> HttpClient {
        HttpClient {
            out,
            headers: Vec::new(),
            window: RANGE_WINDOW,
            min_window: MIN_RANGE_WINDOW,
        }
    }

    /// The same client reading `HttpStream`s in fixed windows of `bytes` (at least 4 KiB),
    /// whatever the size of the reads.
    pub fn with_window(mut self, bytes: u64) -> HttpClient {
        self.window = bytes.max(4096);
        self.min_window = self.window;
        self
    }

    /// Bytes the next range request asks for when a read of `want` bytes needs it.
    fn window_for(&self, want: usize) -> u64 {
        (want as u64).clamp(self.min_window, self.window)
    }

    /// Bytes of the first range request: a fixed window, or `FIRST_WINDOW`.
    fn first_window(&self) -> u64 {
        if self.min_window == self.window {
            self.window
        } else {
            FIRST_WINDOW.min(self.window)
        }
    }

    /// The same client sending `name: value` with every request.
    pub fn with_header(mut self, name: &str, value: &str) -> HttpClient {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn outbound(&self) -> &Outbound {
        &self.out
    }

    /// GETs `url` (from byte `range_from`), accepting ICY status lines on plain http.
    pub fn get(&self, url: &Url, range_from: u64, follow: bool) -> Result<Fetched, SourceError> {
        self.get_range(url, range_from, None, follow)
    }

    /// GETs bytes `from..=to` (`to` None: to the end) of `url`.
    pub fn get_range(
        &self,
        url: &Url,
        range_from: u64,
        range_to: Option<u64>,
        follow: bool,
    ) -> Result<Fetched, SourceError> {
        let mut req = self
            .out
            .get(url.as_str())
            .header("Accept", "*/*")
            .header("Icy-MetaData", "1")
            .follow_redirects(follow);
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        if range_from > 0 || range_to.is_some() {
            req = req.range(range_from, range_to);
        }
        match req.send() {
            Ok(resp) => {
                let (status, headers, body) = resp.into_parts();
                Ok(Fetched {
                    status,
                    headers,
                    body,
                })
            }
            Err(NetError::Io(e)) if url.scheme() == "http" => {
                // Most likely an `ICY 200 OK` status line that hyper refuses.
                icy::raw_get(&self.out, url, range_from).map_err(|raw| match raw {
                    SourceError::Garbage => raw,
                    _ => SourceError::Connect(e),
                })
            }
            Err(NetError::InvalidUrl(e)) => Err(SourceError::InvalidUrl(e)),
            Err(e) => Err(SourceError::Connect(e.detail())),
        }
    }
}

/// The body with ICY metadata blocks removed when the server interleaves them.
fn audio_body(f: Fetched, title: &TitleCell) -> (Vec<(String, String)>, u16, Box<dyn Read + Send>) {
    let metaint = f
        .header("icy-metaint")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let body: Box<dyn Read + Send> = if metaint > 0 {
        Box::new(IcyReader::new(f.body, metaint, title.clone()))
    } else {
        f.body
    };
    (f.headers, f.status, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Total length of the resource from a 200's Content-Length or a 206's Content-Range.
fn resource_len(status: u16, headers: &[(String, String)]) -> Option<u64> {
    if header(headers, "icy-metaint").is_some() || header(headers, "icy-name").is_some() {
        return None;
    }
    match status {
        206 => header(headers, "content-range")?
            .rsplit('/')
            .next()?
            .trim()
            .parse()
            .ok(),
        _ => header(headers, "content-length")?.trim().parse().ok(),
    }
}

/// The end (exclusive) of the bytes a 206's `Content-Range: bytes a-b/total` carries.
fn range_end(headers: &[(String, String)]) -> Option<u64> {
    let v = header(headers, "content-range")?.trim();
    let spec = v.strip_prefix("bytes")?.trim();
    let (range, _) = spec.split_once('/')?;
    let (_, b) = range.split_once('-')?;
    b.trim().parse::<u64>().ok().map(|b| b + 1)
}

/// Reads up to `limit` bytes (fewer at end of input).
pub(crate) fn read_up_to<R: Read + ?Sized>(r: &mut R, limit: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(limit.min(64 * 1024));
    r.take(limit as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// An HTTP body as a `MediaSource`: seekable through range requests when the length is
/// known (servers ignoring ranges are re-read from the start and skipped), one reconnect on
/// a network error, endless bodies readable but not seekable.
pub struct HttpStream {
    client: HttpClient,
    url: Url,
    /// `Mutex` only for `Sync`; reached through `get_mut`, never locked.
    body: Option<Mutex<Box<dyn Read + Send>>>,
    pos: u64,
    len: Option<u64>,
    retries_left: u8,
    title: TitleCell,
    /// Range mode: the server answered a bounded range, the current body ends at this byte
    /// (exclusive) and the next window is asked for there.
    window_end: Option<u64>,
}

impl HttpStream {
    /// GETs `url` (following redirects) and checks the status. The first window is asked
    /// for as a range; a server that answers 206 is read window by window from then on,
    /// one that ignores ranges (200) as one body.
    pub fn open(
        client: &HttpClient,
        url: &Url,
    ) -> Result<(HttpStream, Option<String>), SourceError> {
        let mut f = client.get_range(url, 0, Some(client.first_window() - 1), true)?;
        if f.status == 206 && resource_len(206, &f.headers).is_none() {
            // A window of a resource of unknown size: read it as one body instead.
            f = client.get(url, 0, true)?;
        }
        if f.status == 416 {
            // Only an empty resource refuses the first window.
            let mut s = HttpStream::from_parts(
                client.clone(),
                url.clone(),
                Box::new(io::empty()),
                Some(0),
                TitleCell::default(),
            );
            s.window_end = None;
            return Ok((s, f.header("content-type").map(str::to_string)));
        }
        if !f.is_success() {
            return Err(SourceError::NotPlayable { status: f.status });
        }
        let mime = f.header("content-type").map(str::to_string);
        let title = TitleCell::default();
        let (headers, status, body) = audio_body(f, &title);
        let len = resource_len(status, &headers);
        let window_end = match (status, len, range_end(&headers)) {
            (206, Some(l), Some(end)) if end < l => Some(end),
            _ => None,
        };
        let mut s = HttpStream::from_parts(client.clone(), url.clone(), body, len, title);
        s.window_end = window_end;
        Ok((s, mime))
    }

    /// Opens a progressive media URL through the outbound client (any source's audio).
    pub fn open_url(
        out: &Outbound,
        url: &Url,
    ) -> Result<(HttpStream, Option<String>), SourceError> {
        HttpStream::open(&HttpClient::from_outbound(out.clone()), url)
    }

    /// Total length, when the server said.
    pub fn total_len(&self) -> Option<u64> {
        self.len
    }

    fn from_parts(
        client: HttpClient,
        url: Url,
        body: Box<dyn Read + Send>,
        len: Option<u64>,
        title: TitleCell,
    ) -> HttpStream {
        HttpStream {
            client,
            url,
            body: Some(Mutex::new(body)),
            pos: 0,
            len,
            retries_left: 1,
            title,
            window_end: None,
        }
    }

    /// The latest ICY `StreamTitle`, if the server sends metadata.
    pub fn title_cell(&self) -> TitleCell {
        self.title.clone()
    }

    /// Reconnects at `self.pos` for a read of `want` bytes: a range request when the length
    /// is known, else (endless streams) a plain reconnect that continues wherever the
    /// stream now is.
    fn reopen(&mut self, want: usize) -> io::Result<()> {
        let from = if self.len.is_some() { self.pos } else { 0 };
        let windowed = self.window_end.is_some();
        let to = match (windowed, self.len) {
            (true, Some(l)) => Some(
                from.saturating_add(self.client.window_for(want))
                    .min(l)
                    .saturating_sub(1),
            ),
            _ => None,
        };
        let f = self
            .client
            .get_range(&self.url, from, to, true)
            .map_err(io::Error::other)?;
        if windowed {
            self.window_end = match (f.status, range_end(&f.headers)) {
                (206, Some(end)) => Some(end),
                // The server stopped honouring ranges: read the rest as one body.
                _ => None,
            };
        }
        if f.status == 416 {
            self.body = Some(Mutex::new(Box::new(io::empty())));
            return Ok(());
        }
        if !f.is_success() {
            return Err(io::Error::other(format!("Status code {}", f.status)));
        }
        let ignored_range = from > 0 && f.status != 206;
        let (_, _, mut body) = audio_body(f, &self.title);
        if ignored_range {
            // The server has no ranges: re-read from the start and skip to the position.
            let skipped = io::copy(&mut (&mut body).take(from), &mut io::sink())?;
            if skipped < from {
                self.body = Some(Mutex::new(Box::new(io::empty())));
                return Ok(());
            }
        }
        self.body = Some(Mutex::new(body));
        Ok(())
    }

    fn discard(&mut self, mut n: u64) -> io::Result<()> {
        let mut buf = [0u8; 8192];
        while n > 0 {
            let k = self.read(&mut buf[..n.min(8192) as usize])?;
            if k == 0 {
                break;
            }
            n -= k as u64;
        }
        Ok(())
    }
}

impl Read for HttpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.body.is_none() {
                if self.len.is_some_and(|l| self.pos >= l) {
                    return Ok(0);
                }
                self.reopen(buf.len())?;
            }
            let Some(body) = self.body.as_mut() else {
                return Ok(0);
            };
            let body = body.get_mut().unwrap_or_else(|p| p.into_inner());
            match body.read(buf) {
                Ok(0) if self.len.is_some_and(|l| self.pos < l) && self.retries_left > 0 => {
                    // Premature end of body: resume with a range request.
                    self.retries_left -= 1;
                    self.body = None;
                }
                Ok(n) => {
                    self.pos += n as u64;
                    if n > 0 {
                        self.retries_left = 1;
                    }
                    if self.window_end == Some(self.pos) {
                        // The window is read: drop its response now (the next read asks
                        // for the next window), not when that read comes seconds later
                        // (until then it was kept with whatever the HTTP stack held for
                        // it). All of its Content-Length was read, so the connection stays
                        // open and goes back to the pool.
                        self.body = None;
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) if self.retries_left > 0 => {
                    self.retries_left -= 1;
                    self.body = None;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Seek for HttpStream {
    fn seek(&mut self, from: SeekFrom) -> io::Result<u64> {
        let target = super::seek_target(self.pos, self.len, from)?;
        if target == self.pos {
            return Ok(target);
        }
        if target > self.pos && target - self.pos <= SKIP_LIMIT && self.body.is_some() {
            self.discard(target - self.pos)?;
            return Ok(self.pos);
        }
        if self.len.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "stream is not seekable",
            ));
        }
        // Reconnect lazily at the next read: decoders often seek several times in a row.
        self.body = None;
        self.pos = target;
        Ok(target)
    }
}

impl symphonia::core::io::MediaSource for HttpStream {
    fn is_seekable(&self) -> bool {
        self.len.is_some()
    }
    fn byte_len(&self) -> Option<u64> {
        self.len
    }
}

/// The `http` source.
pub struct HttpSource {
    client: HttpClient,
}

/// `icy://` is plain http (sources.md §8.1).
fn normalise(identifier: &str) -> Option<String> {
    let lower = identifier
        .get(..8)
        .unwrap_or(identifier)
        .to_ascii_lowercase();
    if lower.starts_with("icy://") {
        Some(format!("http://{}", &identifier[6..]))
    } else if lower.starts_with("http://") || lower.starts_with("https://") {
        Some(identifier.to_string())
    } else {
        None
    }
}

impl HttpSource {
    pub fn new(config: &Config) -> HttpSource {
        HttpSource {
            client: HttpClient::new(config),
        }
    }

    fn load_url(&self, req: &LoadRequest<'_>) -> Answer {
        let Some(ident) = normalise(req.identifier) else {
            return Answer::NotMine;
        };
        let url = match Url::parse(&ident) {
            Ok(u) if u.host_str().is_some() => u,
            _ => return Answer::Error(SourceError::InvalidUrl(ident)),
        };
        if let Some(d) = req.descriptor {
            // A media playlist handed over by a local M3U: a track without any request.
            return Answer::Track(probed_track(
                "http",
                &ident,
                req.title,
                ProbedInfo::default(),
                d,
            ));
        }
        let f = match self.client.get(&url, 0, false) {
            Ok(f) => f,
            Err(e) => return Answer::Error(e),
        };
        if matches!(f.status, 301 | 302 | 303 | 307 | 308) {
            if let Some(next) = f.header("location").and_then(|l| url.join(l.trim()).ok()) {
                return Answer::Reference {
                    identifier: next.to_string(),
                    title: None,
                    descriptor: None,
                };
            }
        }
        if f.status == 404 {
            return Answer::Empty;
        }
        if !f.is_success() {
            return Answer::Error(SourceError::NotPlayable { status: f.status });
        }
        match self.probe(&ident, &url, f, req.title) {
            Ok(a) => a,
            Err(e) => Answer::Error(e),
        }
    }

    fn probe(
        &self,
        ident: &str,
        url: &Url,
        f: Fetched,
        ref_title: Option<&str>,
    ) -> Result<Answer, SourceError> {
        let mime = f.header("content-type").map(str::to_string);
        // ICY headers: icy-description (else icy-url) → title, icy-name → author.
        let icy_title = f
            .header("icy-description")
            .or(f.header("icy-url"))
            .map(str::to_string);
        let icy_author = f.header("icy-name").map(str::to_string);
        let title = TitleCell::default();
        let (headers, status, mut body) = audio_body(f, &title);
        let len = resource_len(status, &headers);
        let head =
            read_up_to(&mut body, HEAD_LEN).map_err(|e| SourceError::Detection(e.to_string()))?;
        let hints = Hints {
            mime: mime.clone(),
            extension: None,
        };
        let kind = probe::detect(&head, &hints).ok_or(SourceError::UnknownFormat)?;
        if !kind.is_media() {
            let mut text = head;
            let rest = read_up_to(
                &mut body,
                MAX_PLAYLIST_BYTES as usize - text.len().min(HEAD_LEN),
            )
            .map_err(|e| SourceError::Detection(e.to_string()))?;
            text.extend_from_slice(&rest);
            let text = String::from_utf8_lossy(&text);
            return Ok(match playlist::parse(kind, &text)? {
                Parsed::Hls { .. } => {
                    // A VOD playlist has a length and is seekable (Lavalink calls every
                    // HLS URL a stream); live ones stay streams.
                    let vod = hls::vod_duration_ms(self.client.outbound(), &text, url);
                    Answer::Track(probed_track(
                        "http",
                        ident,
                        ref_title,
                        ProbedInfo {
                            is_stream: Some(vod.is_none()),
                            length_ms: vod.map(|d| d.min(i64::MAX as u64) as i64),
                            ..Default::default()
                        },
                        "m3u|hls-outer",
                    ))
                }
                Parsed::Entries(entries) => entries_answer(url, entries),
            });
        }
        let body: Box<dyn Read + Send> = Box::new(Cursor::new(head).chain(body));
        let stream =
            HttpStream::from_parts(self.client.clone(), url.clone(), body, len, title.clone());
        let mut info = probe::media_info(kind, Box::new(stream), &hints)?;
        if info.title.is_none() {
            info.title = title.lock().ok().and_then(|t| t.clone()).or(icy_title);
        }
        if info.author.is_none() {
            info.author = icy_author;
        }
        Ok(Answer::Track(probed_track(
            "http",
            ident,
            ref_title,
            info,
            kind.name(),
        )))
    }

    /// Opens a saved http track for decoding, using its container descriptor.
    pub fn open_target(
        &self,
        target: &str,
        descriptor: &str,
        is_stream: bool,
    ) -> Result<MediaInput, SourceError> {
        let ident = normalise(target).ok_or_else(|| SourceError::InvalidUrl(target.to_string()))?;
        let url = Url::parse(&ident).map_err(|_| SourceError::InvalidUrl(ident.clone()))?;
        let (probe_name, params) = descriptor.split_once('|').unwrap_or((descriptor, ""));
        let kind = ProbeKind::from_name(probe_name)
            .ok_or_else(|| SourceError::UnknownDescriptor(descriptor.to_string()))?;
        if kind == ProbeKind::M3u && matches!(params, "hls-outer" | "hls-inner") {
            return hls::open(self.client.outbound(), &url, params == "hls-inner");
        }
        if !kind.is_media() {
            return Err(SourceError::UnknownDescriptor(descriptor.to_string()));
        }
        let (stream, mime) = HttpStream::open(&self.client, &url)?;
        let is_stream = is_stream || stream.len.is_none();
        let reader: Box<dyn symphonia::core::io::MediaSource> = if kind == ProbeKind::MpegTs {
            Box::new(mpegts::TsReader::new(stream))
        } else {
            Box::new(stream)
        };
        Ok(MediaInput {
            reader,
            extension: Some(kind.decoder_extension().to_string()),
            mime,
            is_stream: is_stream || kind == ProbeKind::MpegTs,
            segments: None,
        })
    }
}

impl super::Source for HttpSource {
    fn name(&self) -> &'static str {
        "http"
    }
    fn load(&self, req: &LoadRequest<'_>) -> Answer {
        self.load_url(req)
    }
    fn open(&self, track: &crate::track::TrackData) -> Result<MediaInput, SourceError> {
        let descriptor = super::descriptor_of(track)
            .ok_or_else(|| SourceError::UnknownDescriptor("http".into()))?;
        let target = track.info.uri.as_deref().unwrap_or(&track.info.identifier);
        self.open_target(target, &descriptor, track.info.is_stream)
    }
    fn can_decode(&self, track: &crate::track::TrackData) -> bool {
        super::descriptor_known(track)
    }
    fn probes(&self) -> bool {
        true
    }
}

/// One link → a reference (Lavalink); several → a playlist of references, named by the file.
pub(crate) fn entries_answer(url: &Url, entries: Vec<(String, Option<String>)>) -> Answer {
    if entries.len() == 1 {
        let (identifier, title) = entries.into_iter().next().unwrap_or_default();
        return Answer::Reference {
            identifier,
            title,
            descriptor: None,
        };
    }
    let name = url
        .path_segments()
        .and_then(|mut s| s.next_back().map(str::to_string))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| url.to_string());
    Answer::References { name, entries }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex as StdMutex};

    type Seen = Arc<StdMutex<Vec<(usize, usize)>>>;

    /// A loopback server that honours bounded ranges of `len` bytes and records each
    /// request's `(from, to)`.
    fn ranged_server(len: usize) -> (Url, Seen) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/a.mp3", l.local_addr().unwrap())).unwrap();
        let seen = Arc::new(StdMutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(conn) = conn else { return };
                // A new connection is recorded as (usize::MAX, 0).
                log.lock().unwrap().push((usize::MAX, 0));
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut out = conn.try_clone().unwrap();
                    let mut r = BufReader::new(conn);
                    loop {
                        let mut range = None;
                        let mut line = String::new();
                        loop {
                            line.clear();
                            if r.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if line == "\r\n" {
                                break;
                            }
                            let lower = line.to_ascii_lowercase();
                            if let Some(spec) = lower.strip_prefix("range: bytes=") {
                                let (a, b) = spec.trim().split_once('-').unwrap();
                                let a: usize = a.parse().unwrap();
                                let b = b.parse::<usize>().map_or(len - 1, |b| b.min(len - 1));
                                range = Some((a, b));
                            }
                        }
                        let (a, b) = range.unwrap_or((0, len - 1));
                        log.lock().unwrap().push((a, b));
                        let body = vec![(a % 251) as u8; b + 1 - a];
                        let head = format!(
                            "HTTP/1.1 206 Partial Content\r\nContent-Type: audio/mpeg\r\n\
                             Content-Range: bytes {a}-{b}/{len}\r\nContent-Length: {}\r\n\r\n",
                            body.len()
                        );
                        if out.write_all(head.as_bytes()).is_err() || out.write_all(&body).is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        (url, seen)
    }

    #[test]
    fn each_next_window_is_sized_to_the_read_that_asks_for_it() {
        let (url, seen) = ranged_server(1 << 20);
        let client = HttpClient::new(&Config::default());
        let (mut s, _) = HttpStream::open(&client, &url).unwrap();
        let mut buf = vec![0u8; 200 * 1024];
        // Finish the first window, then read with three sizes of buffer.
        let mut got = 0;
        while got < FIRST_WINDOW as usize {
            got += s.read(&mut buf[..FIRST_WINDOW as usize - got]).unwrap();
        }
        for want in [40 * 1024, 1024, 200 * 1024] {
            let mut n = 0;
            let mut first = true;
            // Read the whole window, asking for what is left of it as the read-ahead does.
            loop {
                let requests = || {
                    let all = seen.lock().unwrap();
                    let list: Vec<_> = all.iter().copied().filter(|w| w.0 != usize::MAX).collect();
                    list
                };
                let windows = requests().len();
                let k = s.read(&mut buf[..want.max(1)]).unwrap();
                assert!(k > 0);
                n += k;
                let w = *requests().last().unwrap();
                let size = w.1 + 1 - w.0;
                if first {
                    assert_eq!(requests().len(), windows + 1);
                    first = false;
                }
                if n >= size {
                    let expect = (want as u64).clamp(MIN_RANGE_WINDOW, RANGE_WINDOW) as usize;
                    assert_eq!(size, expect, "a read of {want} bytes");
                    break;
                }
            }
        }
        let all = seen.lock().unwrap().clone();
        let seen: Vec<_> = all.iter().copied().filter(|w| w.0 != usize::MAX).collect();
        // Every window is read to its end, so the one kept-alive connection serves them all.
        let connections = all.len() - seen.len();
        assert_eq!(connections, 1, "{all:?}");
        assert_eq!(seen[0], (0, FIRST_WINDOW as usize - 1), "{seen:?}");
        // Windows follow each other with no gap or overlap.
        for w in seen.windows(2) {
            assert_eq!(w[1].0, w[0].1 + 1, "{seen:?}");
        }
    }

    #[test]
    fn a_fixed_window_client_ignores_the_read_size() {
        let (url, seen) = ranged_server(256 * 1024);
        let client = HttpClient::new(&Config::default()).with_window(24 * 1024);
        let (mut s, _) = HttpStream::open(&client, &url).unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        assert_eq!(all.len(), 256 * 1024);
        let all_log = seen.lock().unwrap().clone();
        let seen: Vec<_> = all_log.iter().filter(|w| w.0 != usize::MAX).collect();
        assert!(
            seen.iter()
                .all(|(a, b)| b + 1 - a == 24 * 1024 || b + 1 == 256 * 1024),
            "{seen:?}"
        );
        assert_eq!(all_log.len() - seen.len(), 1, "one connection: {all_log:?}");
    }
}
