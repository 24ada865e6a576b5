//! Live streams through the adaptive MP4 format's `sq=` segments (sources.md §6.9 "Live"),
//! for answers without an HLS manifest. The format URL without `sq` gives the newest
//! segment; every segment is a self-contained fragmented MP4 (`ftyp`, `moov`, an `emsg`
//! whose message carries `Sequence-Number:` and `Target-Duration-Us:` lines, `moof`,
//! `mdat`), so the next one is `sq = sequence + 1`, with `rn` counting requests and
//! `rbuf=0`. A 204 or empty answer is asked again every 50 ms for up to 400 ms before the
//! stream counts as ended; after a redirect the final URL is the base from then on.
//!
//! The decoder sees one fragmented MP4: the first segment's `ftyp` + `moov`, then only the
//! `moof` + `mdat` boxes of every segment (the repeated init boxes and the `emsg`/`styp`/
//! `sidx` boxes are dropped), which is the shape symphonia's MP4 reader plays.

use std::io::{self, Read};
use std::time::{Duration, Instant};

use crate::net::{Outbound, Url};

/// How long an empty answer is retried before the stream counts as ended.
const EMPTY_RETRY_FOR: Duration = Duration::from_millis(400);
const EMPTY_RETRY_EVERY: Duration = Duration::from_millis(50);
/// YouTube holds a segment request until the segment exists; bound each one.
const SEGMENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest segment accepted (a few seconds of audio are ~100 KB).
const MAX_SEGMENT: usize = 8 << 20;

/// What a segment's `emsg` says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceInfo {
    pub sequence: u64,
    pub target_duration_us: u64,
}

/// A segment split into what the decoder needs.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SplitSegment {
    /// `ftyp` and `moov` boxes, in order.
    pub init: Vec<u8>,
    /// `moof` and `mdat` boxes, in order.
    pub media: Vec<u8>,
    pub info: Option<SequenceInfo>,
}

/// Splits one segment into its top-level boxes. A truncated last box is dropped.
pub fn split_segment(data: &[u8]) -> SplitSegment {
    let mut out = SplitSegment::default();
    let mut pos = 0usize;
    while data.len() - pos >= 8 {
        let size32 = u32::from_be_bytes([data[pos], data[pos + 1], data[pos + 2], data[pos + 3]]);
        let kind = &data[pos + 4..pos + 8];
        let (size, header) = match size32 {
            0 => (data.len() - pos, 8),
            1 => {
                if data.len() - pos < 16 {
                    break;
                }
                let mut b = [0u8; 8];
                b.copy_from_slice(&data[pos + 8..pos + 16]);
                (
                    usize::try_from(u64::from_be_bytes(b)).unwrap_or(usize::MAX),
                    16,
                )
            }
            n => (n as usize, 8),
        };
        if size < header || size > data.len() - pos {
            break;
        }
        let bx = &data[pos..pos + size];
        match kind {
            b"ftyp" | b"moov" => out.init.extend_from_slice(bx),
            b"moof" | b"mdat" => out.media.extend_from_slice(bx),
            b"emsg" if out.info.is_none() => out.info = sequence_info(&bx[header..]),
            _ => {}
        }
        pos += size;
    }
    out
}

/// `Sequence-Number:` and `Target-Duration-Us:` from an `emsg` payload (its message data
/// is text with CRLF lines; the box's own fields before it are skipped by the search).
pub fn sequence_info(payload: &[u8]) -> Option<SequenceInfo> {
    let text = String::from_utf8_lossy(payload);
    let field = |name: &str| -> Option<u64> {
        let start = text.find(name)? + name.len();
        let rest = &text[start..];
        let end = rest.find(['\r', '\n']).unwrap_or(rest.len());
        rest[..end].trim().parse().ok()
    };
    Some(SequenceInfo {
        sequence: field("Sequence-Number:")?,
        target_duration_us: field("Target-Duration-Us:").unwrap_or(0),
    })
}

/// The live byte stream handed to the decoder.
pub struct LiveSegments {
    out: Outbound,
    base: Url,
    /// Sequence number of the next segment; None until the first segment told it.
    next_sq: Option<u64>,
    /// Requests made so far (`rn`).
    requests: u64,
    buf: Vec<u8>,
    pos: usize,
    have_init: bool,
    ended: bool,
}

impl LiveSegments {
    /// Fetches the newest segment now, so a dead URL fails the open instead of playing
    /// nothing.
    pub fn open(out: Outbound, url: &str) -> Result<LiveSegments, String> {
        let base = Url::parse(url).map_err(|e| format!("bad live format URL: {e}"))?;
        let mut s = LiveSegments {
            out,
            base,
            next_sq: None,
            requests: 0,
            buf: Vec::new(),
            pos: 0,
            have_init: false,
            ended: false,
        };
        let start = Instant::now();
        while !s.fetch()? {
            if start.elapsed() >= EMPTY_RETRY_FOR {
                return Err("the live stream has no segment".into());
            }
            std::thread::sleep(EMPTY_RETRY_EVERY);
        }
        Ok(s)
    }

    fn segment_url(&self) -> Url {
        let mut u = self.base.clone();
        let kept: Vec<(String, String)> = u
            .query_pairs()
            .filter(|(k, _)| k != "sq" && k != "rn" && k != "rbuf")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        {
            let mut q = u.query_pairs_mut();
            q.clear();
            for (k, v) in &kept {
                q.append_pair(k, v);
            }
            if let Some(sq) = self.next_sq {
                q.append_pair("sq", &sq.to_string());
            }
            q.append_pair("rn", &self.requests.to_string());
            q.append_pair("rbuf", "0");
        }
        u
    }

    /// One request for the next segment: Ok(true) with its bytes appended to `buf`,
    /// Ok(false) when the answer was empty (204, no body), Err on a failed request.
    fn fetch(&mut self) -> Result<bool, String> {
        let url = self.segment_url();
        self.requests += 1;
        let resp = self
            .out
            .get(url.as_str())
            .timeout(SEGMENT_TIMEOUT)
            .send()
            .map_err(|e| e.detail())?;
        let status = resp.status();
        if status == 204 {
            return Ok(false);
        }
        if !resp.is_success() {
            return Err(format!("Invalid status code for live segment: {status}"));
        }
        let final_url = resp.url().clone();
        let body = resp.bytes(MAX_SEGMENT).map_err(|e| e.detail())?;
        if body.is_empty() {
            return Ok(false);
        }
        if final_url != url {
            // Later segments go straight to the host the redirect chose.
            self.base = final_url;
        }
        let seg = split_segment(&body);
        let sequence = match (seg.info, self.next_sq) {
            (Some(i), _) => i.sequence,
            (None, Some(n)) => n,
            (None, None) => return Err("live segment without a sequence number".into()),
        };
        self.next_sq = Some(sequence + 1);
        if !self.have_init {
            if seg.init.is_empty() {
                return Err("live segment without an init section".into());
            }
            self.buf.extend_from_slice(&seg.init);
            self.have_init = true;
        }
        self.buf.extend_from_slice(&seg.media);
        Ok(true)
    }

    /// The next segment, retrying empty answers for a while; false once the stream ended.
    fn next_segment(&mut self) -> bool {
        let start = Instant::now();
        loop {
            match self.fetch() {
                Ok(true) => return true,
                Ok(false) => {}
                Err(e) => log::debug!("youtube live: {e}; treating as the end soon"),
            }
            if start.elapsed() >= EMPTY_RETRY_FOR {
                return false;
            }
            std::thread::sleep(EMPTY_RETRY_EVERY);
        }
    }
}

impl Read for LiveSegments {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.buf.len() {
            if self.ended {
                return Ok(0);
            }
            self.buf.clear();
            self.pos = 0;
            if !self.next_segment() {
                self.ended = true;
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut v = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn splits_init_media_and_reads_the_sequence() {
        let mut emsg = vec![0u8; 4];
        emsg.extend_from_slice(b"urn:mpeg:dash:event:2012\0\0");
        emsg.extend_from_slice(
            b"Sequence-Number: 4821\r\nIngestion-Walltime-Us: 1\r\nTarget-Duration-Us: 2000000\r\n",
        );
        let data = [
            bx(b"ftyp", b"dash"),
            bx(b"moov", b"M"),
            bx(b"emsg", &emsg),
            bx(b"moof", b"F"),
            bx(b"mdat", b"D"),
        ]
        .concat();
        let s = split_segment(&data);
        assert_eq!(s.init, [bx(b"ftyp", b"dash"), bx(b"moov", b"M")].concat());
        assert_eq!(s.media, [bx(b"moof", b"F"), bx(b"mdat", b"D")].concat());
        assert_eq!(
            s.info,
            Some(SequenceInfo {
                sequence: 4821,
                target_duration_us: 2_000_000
            })
        );
    }

    #[test]
    fn hostile_boxes_never_panic() {
        for data in [
            &[][..],
            &[0, 0, 0, 1, b'm', b'o', b'o', b'f'][..],
            &[0xff, 0xff, 0xff, 0xff, b'm', b'd', b'a', b't', 1][..],
            &[0, 0, 0, 4, b'm', b'd', b'a', b't'][..],
            &[0, 0, 0, 0, b'm', b'd', b'a', b't', 9, 9][..],
        ] {
            let _ = split_segment(data);
        }
        assert_eq!(sequence_info(b"Sequence-Number: x\r\n"), None);
    }
}
