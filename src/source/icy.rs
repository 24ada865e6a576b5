//! ICY (SHOUTcast/Icecast): a tolerant raw HTTP/1.0 request for servers whose status line is
//! `ICY 200 OK` (HTTP crates reject it), and the reader that strips in-band metadata blocks
//! (`icy-metaint`) from the audio, keeping the latest `StreamTitle`.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};

use reqwest::Url;

use super::http::{Fetched, USER_AGENT};
use super::SourceError;
use crate::net::Outbound;

/// Lines that are not a status line tolerated before giving up (lavaplayer's limit).
const MAX_GARBAGE_LINES: usize = 10;
const MAX_HEADER_LINE: usize = 8192;
const MAX_HEADERS: usize = 100;

/// GETs a plain-`http` URL over a raw socket, accepting `ICY 200 OK` as HTTP/1.0.
/// Through the `[http]` proxy when one is set (absolute-URI request, as any proxied
/// plain-http request), with the per-host headers and URL credentials applied.
pub fn raw_get(out: &Outbound, url: &Url, range_from: u64) -> Result<Fetched, SourceError> {
    let (connect_timeout, read_timeout) = out.timeouts();
    let host = url
        .host_str()
        .ok_or_else(|| SourceError::InvalidUrl(url.to_string()))?;
    let port = url.port_or_known_default().unwrap_or(80);
    let proxy = out.proxy();
    let (dial_host, dial_port) = match proxy.and_then(|(p, _)| Url::parse(p).ok()) {
        Some(p) => (
            p.host_str().unwrap_or_default().to_string(),
            p.port_or_known_default().unwrap_or(3128),
        ),
        None => (host.to_string(), port),
    };
    let addrs = (dial_host.as_str(), dial_port)
        .to_socket_addrs()
        .map_err(|e| SourceError::Connect(e.to_string()))?;
    let mut last_err = String::from("no address");
    let mut stream = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, connect_timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_err = e.to_string(),
        }
    }
    let mut stream = stream.ok_or(SourceError::Connect(last_err))?;
    let io_err = |e: io::Error| SourceError::Connect(e.to_string());
    stream
        .set_read_timeout(Some(read_timeout))
        .map_err(io_err)?;
    stream
        .set_write_timeout(Some(read_timeout))
        .map_err(io_err)?;
    let bare = crate::net::strip_userinfo(url);
    let path = if proxy.is_some() {
        bare.to_string()
    } else {
        let mut path = url.path().to_string();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        path
    };
    let host_header = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let mut req = format!(
        "GET {path} HTTP/1.0\r\nHost: {host_header}\r\nUser-Agent: {USER_AGENT}\r\nAccept: */*\r\nIcy-MetaData: 1\r\n"
    );
    if range_from > 0 {
        req.push_str(&format!("Range: bytes={range_from}-\r\n"));
    }
    if let Some(auth) = crate::net::userinfo_auth(url) {
        req.push_str(&format!("Authorization: {auth}\r\n"));
    }
    if let Some((_, Some((user, pass)))) = proxy {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        req.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    for (k, v) in out.headers_for(host) {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).map_err(io_err)?;
    let mut reader = BufReader::new(stream);
    let mut status = None;
    for _ in 0..=MAX_GARBAGE_LINES {
        let line = read_line(&mut reader).map_err(io_err)?;
        if let Some(code) = parse_status(&line) {
            status = Some(code);
            break;
        }
    }
    let status = status.ok_or(SourceError::Garbage)?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(&mut reader).map_err(io_err)?;
        if line.is_empty() {
            break;
        }
        if headers.len() >= MAX_HEADERS {
            return Err(SourceError::Garbage);
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    Ok(Fetched {
        status,
        headers,
        body: Box::new(reader),
    })
}

/// One header line without its line ending; an error at end of input.
fn read_line<R: BufRead>(r: &mut R) -> io::Result<String> {
    let mut buf = Vec::new();
    let n = r
        .by_ref()
        .take(MAX_HEADER_LINE as u64)
        .read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed in headers",
        ));
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// `HTTP/1.x 200 OK` or `ICY 200 OK` → 200.
fn parse_status(line: &str) -> Option<u16> {
    let mut parts = line.split_whitespace();
    let proto = parts.next()?;
    if proto != "ICY" && !proto.starts_with("HTTP/") {
        return None;
    }
    let code: u16 = parts.next()?.parse().ok()?;
    (100..1000).contains(&code).then_some(code)
}

/// The latest `StreamTitle` seen by an `IcyReader`, readable from another owner.
pub type TitleCell = Arc<Mutex<Option<String>>>;

/// Strips metadata blocks: after every `metaint` audio bytes comes a length byte `L` and
/// `16 × L` bytes of text.
pub struct IcyReader<R> {
    inner: R,
    metaint: usize,
    /// Audio bytes left before the next metadata block.
    left: usize,
    title: TitleCell,
}

impl<R: Read> IcyReader<R> {
    pub fn new(inner: R, metaint: usize, title: TitleCell) -> IcyReader<R> {
        IcyReader {
            inner,
            metaint,
            left: metaint,
            title,
        }
    }

    fn skip_metadata(&mut self) -> io::Result<bool> {
        let mut len = [0u8; 1];
        if self.inner.read(&mut len)? == 0 {
            return Ok(false);
        }
        let n = len[0] as usize * 16;
        if n > 0 {
            let mut block = vec![0u8; n];
            self.inner.read_exact(&mut block)?;
            if let Some(t) = stream_title(&block) {
                if let Ok(mut cell) = self.title.lock() {
                    *cell = Some(t);
                }
            }
        }
        self.left = self.metaint;
        Ok(true)
    }
}

impl<R: Read> Read for IcyReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.metaint == 0 {
            return self.inner.read(buf);
        }
        if self.left == 0 && !self.skip_metadata()? {
            return Ok(0);
        }
        let n = buf.len().min(self.left);
        let got = self.inner.read(&mut buf[..n])?;
        self.left -= got;
        Ok(got)
    }
}

/// `StreamTitle='…';` out of a metadata block (NUL padded).
pub fn stream_title(block: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(block);
    let text = text.trim_end_matches('\0');
    let start = text.find("StreamTitle='")? + "StreamTitle='".len();
    let rest = &text[start..];
    let end = rest.find("';").unwrap_or(rest.len());
    let t = rest[..end].trim();
    (!t.is_empty()).then(|| t.to_string())
}
