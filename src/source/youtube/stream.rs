//! YouTube media as a seekable `MediaSource` read in bounded `range=` chunks (sources.md
//! §6.9): open-ended reads are throttled or refused by googlevideo, so each request asks
//! for at most `CHUNK` bytes with a `range=<a>-<b>` query parameter. A 403 (expired URL,
//! stale token) re-resolves the URL through `Refresh` and resumes at the same byte.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Mutex;

use crate::net::Outbound;

/// youtube-source's chunk size: larger reads get throttled.
pub const CHUNK: u64 = 11_862_014;

/// Gets a fresh media URL for the same format (same client, new player response).
pub trait Refresh: Send + Sync {
    fn fresh_url(&self) -> Result<String, String>;
}

/// The stream. Reads happen on the engine's decode-feeding thread, never the audio path.
pub struct ChunkedStream {
    out: Outbound,
    url: String,
    refresh: Box<dyn Refresh>,
    len: u64,
    pos: u64,
    /// `Mutex` only for `Sync` (MediaSource); reached through `get_mut`, never contended.
    body: Option<Mutex<Box<dyn Read + Send>>>,
    /// Exclusive end of the chunk the body serves.
    chunk_end: u64,
    chunk: u64,
}

/// Why a chunk request failed; a 403 is told apart so the caller can switch clients.
#[derive(Debug)]
pub enum ChunkError {
    Status(u16),
    Net(String),
}

impl ChunkedStream {
    /// Opens the first chunk, so a refused URL (403) is known before playback starts.
    pub fn open(
        out: Outbound,
        url: String,
        len: u64,
        refresh: Box<dyn Refresh>,
    ) -> Result<ChunkedStream, ChunkError> {
        Self::open_with_chunk(out, url, len, refresh, CHUNK)
    }

    /// `open` with another chunk size (tests use small ones).
    pub fn open_with_chunk(
        out: Outbound,
        url: String,
        len: u64,
        refresh: Box<dyn Refresh>,
        chunk: u64,
    ) -> Result<ChunkedStream, ChunkError> {
        let mut s = ChunkedStream {
            out,
            url,
            refresh,
            len,
            pos: 0,
            body: None,
            chunk_end: 0,
            chunk: chunk.max(1),
        };
        if len > 0 {
            s.request_chunk()?;
        }
        Ok(s)
    }

    fn chunk_url(&self, from: u64, to: u64) -> String {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{sep}range={from}-{to}", self.url)
    }

    fn request_chunk(&mut self) -> Result<(), ChunkError> {
        let end = (self.pos + self.chunk).min(self.len);
        let url = self.chunk_url(self.pos, end - 1);
        let resp = self
            .out
            .get(&url)
            .send()
            .map_err(|e| ChunkError::Net(e.detail()))?;
        if !resp.is_success() {
            return Err(ChunkError::Status(resp.status()));
        }
        self.body = Some(Mutex::new(resp.into_reader()));
        self.chunk_end = end;
        Ok(())
    }

    /// Opens the chunk at `pos`; on a 403 gets a fresh URL once and tries again.
    fn reopen(&mut self) -> io::Result<()> {
        match self.request_chunk() {
            Ok(()) => Ok(()),
            Err(ChunkError::Status(403)) => {
                log::info!(
                    "youtube: media URL refused (403) at byte {}; refreshing",
                    self.pos
                );
                self.url = self.refresh.fresh_url().map_err(io::Error::other)?;
                self.request_chunk()
                    .map_err(|e| io::Error::other(format!("{e:?}")))
            }
            Err(e) => Err(io::Error::other(format!("{e:?}"))),
        }
    }
}

impl Read for ChunkedStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.pos >= self.len {
            return Ok(0);
        }
        let mut retried = false;
        loop {
            if self.body.is_none() || self.pos >= self.chunk_end {
                self.body = None;
                self.reopen()?;
            }
            let want = buf.len().min((self.chunk_end - self.pos) as usize);
            let body = self
                .body
                .as_mut()
                .map(|m| m.get_mut().unwrap_or_else(|e| e.into_inner()));
            let got = match body {
                Some(b) => b.read(&mut buf[..want]),
                None => Ok(0),
            };
            match got {
                Ok(n) if n > 0 => {
                    self.pos += n as u64;
                    return Ok(n);
                }
                // The chunk ended early or the connection broke: reconnect once at `pos`.
                Ok(_) | Err(_) if !retried => {
                    retried = true;
                    self.body = None;
                }
                Ok(_) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Err(e) => return Err(e),
            }
        }
    }
}

impl Seek for ChunkedStream {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => p as i128,
            SeekFrom::Current(d) => self.pos as i128 + d as i128,
            SeekFrom::End(d) => self.len as i128 + d as i128,
        };
        if target < 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before start",
            ));
        }
        let target = (target as u64).min(self.len);
        if target != self.pos {
            self.pos = target;
            self.body = None;
        }
        Ok(self.pos)
    }
}

impl symphonia::core::io::MediaSource for ChunkedStream {
    fn is_seekable(&self) -> bool {
        true
    }
    fn byte_len(&self) -> Option<u64> {
        Some(self.len)
    }
}
