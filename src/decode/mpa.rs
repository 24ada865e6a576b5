//! MPEG audio (MP1/MP2/MP3) frame headers and the tags an encoder puts in a stream's first
//! frame (Xing/Info with LAME's gapless delay and padding, VBRI), read the way symphonia's
//! own MPEG demuxer reads them, so `mpa_reader` hands its decoder the same packets.

use symphonia::core::checksum::Crc16AnsiLe;
use symphonia::core::codecs::audio::well_known::{CODEC_ID_MP1, CODEC_ID_MP2, CODEC_ID_MP3};
use symphonia::core::codecs::audio::AudioCodecId;
use symphonia::core::io::{BufReader, FiniteStream, Monitor, ReadBytes};

/// Bytes of the fixed frame header.
pub const HEADER_LEN: usize = 4;
/// The largest frame a valid header describes: MPEG-2.5 Layer II at 160 kbit/s and 8 kHz,
/// padded.
pub const MAX_FRAME_LEN: usize = 2881;

const KBPS_V1_L1: [u16; 15] = [
    0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
];
const KBPS_V1_L2: [u16; 15] = [
    0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
];
const KBPS_V1_L3: [u16; 15] = [
    0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
];
const KBPS_V2_L1: [u16; 15] = [
    0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
];
const KBPS_V2_L23: [u16; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];

/// One parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// MPEG-1 (else MPEG-2 or 2.5: half the samples per Layer III frame, shorter side info).
    pub mpeg1: bool,
    /// 1, 2 or 3.
    pub layer: u8,
    pub sample_rate: u32,
    pub mono: bool,
    /// A 16-bit CRC follows the header.
    pub has_crc: bool,
    /// The whole frame, header included.
    pub frame_len: usize,
}

/// Whether a big-endian word starts with the 11-bit frame sync.
pub fn is_synced(word: u32) -> bool {
    word & 0xffe0_0000 == 0xffe0_0000
}

/// Parses a header word. `None` for anything symphonia's demuxer rejects: reserved version,
/// layer, bit rate or sample rate, free-format bit rate, and Layer II bit rates its channel
/// mode does not allow.
pub fn parse(word: u32) -> Option<FrameHeader> {
    if !is_synced(word) {
        return None;
    }
    let version = (word >> 19) & 3; // 0: 2.5, 2: 2, 3: 1
    let layer = match (word >> 17) & 3 {
        1 => 3u8,
        2 => 2,
        3 => 1,
        _ => return None,
    };
    if version == 1 {
        return None;
    }
    let mpeg1 = version == 3;
    let index = ((word >> 12) & 0xf) as usize;
    if index == 0 || index == 15 {
        return None;
    }
    let kbps = match (mpeg1, layer) {
        (true, 1) => KBPS_V1_L1[index],
        (true, 2) => KBPS_V1_L2[index],
        (true, _) => KBPS_V1_L3[index],
        (false, 1) => KBPS_V2_L1[index],
        (false, _) => KBPS_V2_L23[index],
    };
    let base_rate = match (word >> 10) & 3 {
        0 => 44_100,
        1 => 48_000,
        2 => 32_000,
        _ => return None,
    };
    let sample_rate = match version {
        3 => base_rate,
        2 => base_rate / 2,
        _ => base_rate / 4,
    };
    let mono = (word >> 6) & 3 == 3;
    if layer == 2 {
        let allowed = if mono {
            !matches!(kbps, 224 | 256 | 320 | 384)
        } else {
            !matches!(kbps, 32 | 48 | 56 | 80)
        };
        if !allowed {
            return None;
        }
    }
    let padded = (word >> 9) & 1 == 1;
    let bitrate = u32::from(kbps) * 1000;
    let frame_len = match layer {
        1 => (12 * bitrate / sample_rate + u32::from(padded)) as usize * 4,
        3 if !mpeg1 => (72 * bitrate / sample_rate) as usize + usize::from(padded),
        _ => (144 * bitrate / sample_rate) as usize + usize::from(padded),
    };
    Some(FrameHeader {
        mpeg1,
        layer,
        sample_rate,
        mono,
        has_crc: (word >> 16) & 1 == 0,
        frame_len,
    })
}

impl FrameHeader {
    /// Audio frames (samples per channel) the frame decodes to.
    pub fn samples(&self) -> u64 {
        match (self.layer, self.mpeg1) {
            (1, _) => 384,
            (2, _) | (3, true) => 1152,
            _ => 576,
        }
    }

    pub fn codec(&self) -> AudioCodecId {
        match self.layer {
            1 => CODEC_ID_MP1,
            2 => CODEC_ID_MP2,
            _ => CODEC_ID_MP3,
        }
    }

    /// Another header word that belongs to the same stream: same version, layer, rate and
    /// channel count (a false sync in the audio data rarely matches all of them).
    pub fn is_similar(&self, word: u32) -> bool {
        parse(word).is_some_and(|o| {
            o.mpeg1 == self.mpeg1
                && o.layer == self.layer
                && o.sample_rate == self.sample_rate
                && o.mono == self.mono
        })
    }

    /// Header plus CRC.
    fn header_size(&self) -> usize {
        HEADER_LEN + if self.has_crc { 2 } else { 0 }
    }

    /// Layer III side information (where a Xing/Info tag starts, counted without the CRC).
    fn side_info_len(&self) -> usize {
        match (self.mpeg1, self.mono) {
            (true, true) => 17,
            (true, false) => 32,
            (false, true) => 9,
            (false, false) => 17,
        }
    }

    /// Layer III `main_data_begin`: how far back (in main-data bytes) this frame's audio
    /// starts in earlier frames. `frame` starts at the header; 0 when it is too short or
    /// the layer has no bit reservoir.
    pub fn main_data_begin(&self, frame: &[u8]) -> u16 {
        let at = self.header_size();
        if self.layer != 3 || frame.len() < at + 2 {
            return 0;
        }
        let two = u16::from_be_bytes([frame[at], frame[at + 1]]);
        if self.mpeg1 {
            two >> 7
        } else {
            two >> 8
        }
    }
}

/// What a stream's first frame may say about the whole stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamInfo {
    /// MPEG frames in the stream (Xing/Info or VBRI).
    pub frames: Option<u32>,
    /// LAME's encoder delay and padding, in samples, as symphonia counts them (the
    /// decoder's own 529-sample delay included).
    pub delay: Option<u32>,
    pub padding: Option<u32>,
}

/// Reads a Xing/Info tag (with LAME's extension) from a whole frame; `None` when the frame
/// carries none, so it is audio.
pub fn info_tag(frame: &[u8], h: &FrameHeader) -> Option<StreamInfo> {
    if h.layer != 3 {
        return None;
    }
    let at = HEADER_LEN + h.side_info_len();
    let id = frame.get(at..at + 4)?;
    if frame.len() < at + 8 || (id != b"Xing" && id != b"Info") {
        return None;
    }
    // The side information of a tag frame is all zero.
    if frame[h.header_size()..at].iter().any(|&b| b != 0) {
        return None;
    }
    let mut r = BufReader::new(&frame[at + 4..]);
    let flags = r.read_be_u32().ok()?;
    let frames = if flags & 1 != 0 {
        Some(r.read_be_u32().ok()?)
    } else {
        None
    };
    // Byte count, table of contents, quality.
    for (bit, len) in [(2, 4), (4, 100), (8, 4)] {
        if flags & bit != 0 {
            r.ignore_bytes(len).ok()?;
        }
    }
    let plain = StreamInfo {
        frames,
        ..StreamInfo::default()
    };
    // LAME's extension: the encoder name, then (at +21) the 12-bit delay and padding.
    const LAME_MIN: usize = 24;
    const LAME_FULL: usize = 36;
    if (r.bytes_available() as usize) < LAME_MIN {
        return Some(plain);
    }
    let ext = at + 4 + r.pos() as usize;
    let encoder = &frame[ext..ext + 4];
    let trim = u32::from_be_bytes([0, frame[ext + 21], frame[ext + 22], frame[ext + 23]]);
    let (delay, padding) = if matches!(encoder, b"LAME" | b"Lavf" | b"Lavc") {
        let delay = 528 + 1 + (trim >> 12);
        (delay, (trim & 0xfff).saturating_sub(528 + 1))
    } else {
        (0, 0)
    };
    // The tag's CRC covers the frame up to itself; LAME always writes it, other encoders
    // only with the header's CRC bit. A mismatch means this is not a LAME tag; 0 means
    // "not computed".
    if frame.len() - ext >= LAME_FULL && (h.has_crc || encoder == b"LAME") {
        let crc_at = ext + LAME_FULL - 2;
        let written = u16::from_be_bytes([frame[crc_at], frame[crc_at + 1]]);
        let mut crc = Crc16AnsiLe::new(0);
        crc.process_buf_bytes(&frame[..crc_at]);
        if written != 0 && written != crc.crc() {
            return Some(plain);
        }
    }
    Some(StreamInfo {
        frames,
        delay: Some(delay),
        padding: Some(padding),
    })
}

/// Reads a VBRI tag (Fraunhofer's encoder) from a whole frame: the stream's frame count.
pub fn vbri_frames(frame: &[u8], h: &FrameHeader) -> Option<u32> {
    const AT: usize = HEADER_LEN + 32;
    if h.layer != 3 || frame.len() < AT + 26 || &frame[AT..AT + 4] != b"VBRI" {
        return None;
    }
    if frame[h.header_size()..AT].iter().any(|&b| b != 0) {
        return None;
    }
    if u16::from_be_bytes([frame[AT + 4], frame[AT + 5]]) != 1 {
        return None;
    }
    BufReader::new(&frame[AT + 14..]).read_be_u32().ok()
}

/// The length of an ID3v2 tag starting `head` (10 bytes at least), footer included.
pub fn id3v2_len(head: &[u8]) -> Option<u64> {
    if head.len() < 10 || &head[..3] != b"ID3" || head[3] == 0xff || head[4] == 0xff {
        return None;
    }
    let size = head[6..10].iter().try_fold(0u64, |acc, &b| {
        (b < 0x80).then_some((acc << 7) | u64::from(b))
    })?;
    let footer = if head[5] & 0x10 != 0 { 10 } else { 0 };
    Some(10 + size + footer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_to_the_standard_frame_sizes() {
        // MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, no CRC, unpadded / padded.
        let h = parse(0xfffb_9000).unwrap();
        assert_eq!(
            (h.layer, h.mpeg1, h.sample_rate, h.frame_len),
            (3, true, 44_100, 417)
        );
        assert_eq!(parse(0xfffb_9200).unwrap().frame_len, 418);
        assert_eq!(h.samples(), 1152);
        // MPEG-2 Layer III, 64 kbit/s, 22.05 kHz, mono.
        let h = parse(0xfff3_80c0).unwrap();
        assert_eq!(
            (h.mpeg1, h.sample_rate, h.mono, h.samples()),
            (false, 22_050, true, 576)
        );
        assert_eq!(h.frame_len, 72 * 64_000 / 22_050);
        // MPEG-1 Layer I, 448 kbit/s, 32 kHz, padded: the slot is 4 bytes.
        let h = parse(0xffff_ea00).unwrap();
        assert_eq!((h.layer, h.frame_len), (1, (12 * 448_000 / 32_000 + 1) * 4));
        // The largest frame: MPEG-2.5 Layer II, 160 kbit/s, 8 kHz, padded.
        assert_eq!(parse(0xffe5_ea00).unwrap().frame_len, MAX_FRAME_LEN);
    }

    #[test]
    fn reserved_and_unsupported_headers_are_rejected() {
        assert!(parse(0xfffb_0000).is_none(), "free format");
        assert!(parse(0xfffb_f000).is_none(), "bit rate 15");
        assert!(parse(0xfffb_9c00).is_none(), "sample rate 3");
        assert!(parse(0xffeb_9000).is_none(), "version 01");
        assert!(parse(0xfff9_9000).is_none(), "layer 00 (ADTS-like)");
        assert!(parse(0xfffd_1000).is_none(), "Layer II 32 kbit/s stereo");
        assert!(parse(0x7ffb_9000).is_none(), "no sync");
    }

    #[test]
    fn id3v2_sizes_are_syncsafe() {
        let mut head = *b"ID3\x04\x00\x00\x00\x00\x02\x01";
        assert_eq!(id3v2_len(&head), Some(10 + 257));
        head[5] = 0x10;
        assert_eq!(id3v2_len(&head), Some(10 + 257 + 10));
        head[9] = 0x80;
        assert_eq!(id3v2_len(&head), None);
        assert_eq!(id3v2_len(b"ID3"), None);
    }
}
