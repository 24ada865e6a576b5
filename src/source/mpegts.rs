//! A small MPEG-TS demuxer: finds the first ADTS AAC elementary stream through PAT and PMT
//! and hands out its bytes, which symphonia's ADTS reader then decodes. Symphonia has no TS
//! reader, and lavaplayer's `mpegts-adts` container is exactly this.

use std::io::{self, Read, Seek, SeekFrom};

pub const PACKET: usize = 188;
const SYNC: u8 = 0x47;
/// PMT stream type of ADTS AAC (ISO 13818-7).
const STREAM_TYPE_ADTS: u8 = 0x0F;

/// Demuxer state: which PIDs carry the program map and the audio.
#[derive(Debug, Default)]
pub struct TsDemuxer {
    pmt_pid: Option<u16>,
    es_pid: Option<u16>,
    /// Set while the current PES packet's header is still to be skipped.
    in_pes: bool,
}

impl TsDemuxer {
    pub fn new() -> TsDemuxer {
        TsDemuxer::default()
    }

    /// Whether an ADTS stream was found in the PMT.
    pub fn has_audio(&self) -> bool {
        self.es_pid.is_some()
    }

    /// Feeds one 188-byte packet; audio payload bytes are appended to `out`.
    pub fn push(&mut self, pkt: &[u8], out: &mut Vec<u8>) {
        if pkt.len() < PACKET || pkt[0] != SYNC {
            return;
        }
        let pusi = pkt[1] & 0x40 != 0;
        let pid = (((pkt[1] & 0x1F) as u16) << 8) | pkt[2] as u16;
        let afc = (pkt[3] >> 4) & 3;
        if afc & 1 == 0 {
            return;
        }
        let mut off = 4;
        if afc & 2 != 0 {
            off += 1 + pkt[4] as usize;
        }
        if off >= PACKET {
            return;
        }
        let payload = &pkt[off..PACKET];
        if pid == 0 {
            if pusi {
                self.parse_pat(payload);
            }
        } else if Some(pid) == self.pmt_pid {
            if pusi {
                self.parse_pmt(payload);
            }
        } else if Some(pid) == self.es_pid {
            if pusi {
                match pes_payload_offset(payload) {
                    Some(o) => {
                        self.in_pes = true;
                        out.extend_from_slice(&payload[o..]);
                    }
                    None => self.in_pes = false,
                }
            } else if self.in_pes {
                out.extend_from_slice(payload);
            }
        }
    }

    fn parse_pat(&mut self, payload: &[u8]) {
        let Some(s) = section(payload, 0x00) else {
            return;
        };
        let end = s.len().saturating_sub(4);
        let mut i = 8;
        while i + 4 <= end {
            let program = u16::from_be_bytes([s[i], s[i + 1]]);
            let pid = (((s[i + 2] & 0x1F) as u16) << 8) | s[i + 3] as u16;
            if program != 0 {
                self.pmt_pid = Some(pid);
                return;
            }
            i += 4;
        }
    }

    fn parse_pmt(&mut self, payload: &[u8]) {
        let Some(s) = section(payload, 0x02) else {
            return;
        };
        if s.len() < 12 {
            return;
        }
        let end = s.len().saturating_sub(4);
        let pil = (((s[10] & 0x0F) as usize) << 8) | s[11] as usize;
        let mut i = 12 + pil;
        while i + 5 <= end {
            let stream_type = s[i];
            let pid = (((s[i + 1] & 0x1F) as u16) << 8) | s[i + 2] as u16;
            let info_len = (((s[i + 3] & 0x0F) as usize) << 8) | s[i + 4] as usize;
            if stream_type == STREAM_TYPE_ADTS {
                if self.es_pid != Some(pid) {
                    self.in_pes = false;
                }
                self.es_pid = Some(pid);
                return;
            }
            i += 5 + info_len;
        }
    }
}

/// The PSI section with this table id at the start of a payload (after the pointer field),
/// cut to its declared length.
fn section(payload: &[u8], table_id: u8) -> Option<&[u8]> {
    let ptr = *payload.first()? as usize;
    let s = payload.get(1 + ptr..)?;
    if *s.first()? != table_id || s.len() < 3 {
        return None;
    }
    let len = (((s[1] & 0x0F) as usize) << 8) | s[2] as usize;
    s.get(..(3 + len).min(s.len()))
}

/// Where the elementary-stream bytes start in a PES packet's first TS payload.
fn pes_payload_offset(p: &[u8]) -> Option<usize> {
    if p.len() < 9 || p[0..3] != [0, 0, 1] {
        return None;
    }
    let o = 9 + p[8] as usize;
    (o <= p.len()).then_some(o)
}

/// Whether the buffered head is MPEG-TS whose program map lists an ADTS stream.
pub fn head_has_adts(head: &[u8]) -> bool {
    if head.first() != Some(&SYNC) || (head.len() > PACKET && head[PACKET] != SYNC) {
        return false;
    }
    let mut d = TsDemuxer::new();
    let mut sink = Vec::new();
    for pkt in head.chunks_exact(PACKET) {
        d.push(pkt, &mut sink);
        if d.has_audio() {
            return true;
        }
    }
    false
}

/// A reader of the ADTS bytes inside an MPEG-TS byte stream. Not seekable.
pub struct TsReader<R> {
    inner: R,
    demux: TsDemuxer,
    pkt: [u8; PACKET],
    out: Vec<u8>,
    out_pos: usize,
    eof: bool,
}

impl<R: Read> TsReader<R> {
    pub fn new(inner: R) -> TsReader<R> {
        TsReader {
            inner,
            demux: TsDemuxer::new(),
            pkt: [0; PACKET],
            out: Vec::with_capacity(64 * 1024),
            out_pos: 0,
            eof: false,
        }
    }

    /// Reads one packet, resynchronising on the sync byte; false at end of input.
    fn next_packet(&mut self) -> io::Result<bool> {
        if !read_full(&mut self.inner, &mut self.pkt[..1])? {
            return Ok(false);
        }
        // Resync: skip bytes until a sync byte (bounded by the input's length).
        while self.pkt[0] != SYNC {
            if !read_full(&mut self.inner, &mut self.pkt[..1])? {
                return Ok(false);
            }
        }
        read_full(&mut self.inner, &mut self.pkt[1..])
    }
}

/// Fills `buf`; Ok(false) on a clean or partial end of input.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<bool> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => return Ok(false),
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

impl<R: Read> Read for TsReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_pos >= self.out.len() {
            if self.eof {
                return Ok(0);
            }
            self.out.clear();
            self.out_pos = 0;
            // Demux a batch of packets so small reads do not cost a packet each.
            for _ in 0..64 {
                if !self.next_packet()? {
                    self.eof = true;
                    break;
                }
                let pkt = self.pkt;
                self.demux.push(&pkt, &mut self.out);
            }
        }
        let n = buf.len().min(self.out.len() - self.out_pos);
        buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

impl<R: Read> Seek for TsReader<R> {
    fn seek(&mut self, _: SeekFrom) -> io::Result<u64> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "MPEG-TS streams are not seekable",
        ))
    }
}

impl<R: Read + Send + Sync> symphonia::core::io::MediaSource for TsReader<R> {
    fn is_seekable(&self) -> bool {
        false
    }
    fn byte_len(&self) -> Option<u64> {
        None
    }
}
