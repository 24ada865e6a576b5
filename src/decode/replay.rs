//! A source with its first bytes given back: what a demuxer sniffed and rejected is read
//! again by the next one, without asking the source (a live stream cannot seek back; an
//! HTTP file would need another request).

use std::io::{self, Read, Seek, SeekFrom};

use symphonia::core::io::MediaSource;

pub struct Replay {
    /// Bytes already taken from `src`, starting at stream position `head_pos`; dropped once
    /// read through.
    head: Vec<u8>,
    head_pos: u64,
    /// Position of the next read.
    pos: u64,
    /// Where `src` is.
    src_pos: u64,
    src: Box<dyn MediaSource>,
}

impl Replay {
    /// `head` holds the bytes from `head_pos` up to where `src` now is.
    pub fn new(head: Vec<u8>, head_pos: u64, src: Box<dyn MediaSource>) -> Replay {
        let src_pos = head_pos + head.len() as u64;
        Replay {
            head,
            head_pos,
            pos: head_pos,
            src_pos,
            src,
        }
    }

    fn in_head(&self, pos: u64) -> bool {
        pos >= self.head_pos && pos < self.head_pos + self.head.len() as u64
    }
}

impl Read for Replay {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.in_head(self.pos) {
            let from = (self.pos - self.head_pos) as usize;
            let n = buf.len().min(self.head.len() - from);
            buf[..n].copy_from_slice(&self.head[from..from + n]);
            self.pos += n as u64;
            if from + n == self.head.len() {
                self.head = Vec::new();
            }
            return Ok(n);
        }
        if self.src_pos != self.pos {
            self.src_pos = self.src.seek(SeekFrom::Start(self.pos))?;
        }
        let n = self.src.read(buf)?;
        self.pos += n as u64;
        self.src_pos = self.pos;
        Ok(n)
    }
}

impl Seek for Replay {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        if let SeekFrom::End(_) = to {
            self.head = Vec::new();
            self.src_pos = self.src.seek(to)?;
            self.pos = self.src_pos;
            return Ok(self.pos);
        }
        let target = crate::source::seek_target(self.pos, None, to)?;
        if !self.in_head(target) && target != self.src_pos {
            self.head = Vec::new();
            self.src_pos = self.src.seek(SeekFrom::Start(target))?;
            self.pos = self.src_pos;
            return Ok(self.pos);
        }
        self.pos = target;
        Ok(target)
    }
}

impl MediaSource for Replay {
    fn is_seekable(&self) -> bool {
        self.src.is_seekable()
    }

    fn byte_len(&self) -> Option<u64> {
        self.src.byte_len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(len: usize) -> Box<dyn MediaSource> {
        let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
        Box::new(io::Cursor::new(bytes))
    }

    #[test]
    fn the_head_is_read_again_then_the_source_continues() {
        let mut src = source(100);
        let mut head = vec![0u8; 30];
        src.read_exact(&mut head).unwrap();
        let mut r = Replay::new(head, 0, src);
        let mut all = Vec::new();
        r.read_to_end(&mut all).unwrap();
        assert_eq!(all, (0..100).map(|i| i as u8).collect::<Vec<_>>());
    }

    #[test]
    fn seeks_inside_and_past_the_head_land_where_asked() {
        let mut src = source(100);
        src.seek(SeekFrom::Start(10)).unwrap();
        let mut head = vec![0u8; 20];
        src.read_exact(&mut head).unwrap();
        let mut r = Replay::new(head, 10, src);
        let mut b = [0u8; 4];
        assert_eq!(r.seek(SeekFrom::Current(5)).unwrap(), 15);
        r.read_exact(&mut b).unwrap();
        assert_eq!(b, [15, 16, 17, 18]);
        assert_eq!(r.seek(SeekFrom::Start(50)).unwrap(), 50);
        r.read_exact(&mut b).unwrap();
        assert_eq!(b, [50, 51, 52, 53]);
        assert_eq!(r.seek(SeekFrom::Start(2)).unwrap(), 2);
        r.read_exact(&mut b).unwrap();
        assert_eq!(b, [2, 3, 4, 5]);
        assert_eq!(r.seek(SeekFrom::End(-1)).unwrap(), 99);
    }
}
