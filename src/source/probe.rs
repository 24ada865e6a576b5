//! Container detection (sources.md §8.3): magic bytes first, hints only to order the probes,
//! then symphonia for the track info of media containers. Probe names are lavaplayer's,
//! because they are stored in encoded tracks.

use symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS;
use symphonia::core::codecs::CodecParameters;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::{MetadataOptions, StandardTag};

use super::{mpegts, ProbedInfo, SourceError};

/// Bytes buffered before detection (lavaplayer buffers 1024; more does not change results
/// for the magic-byte probes and lets the MPEG-TS probe see its PMT).
pub const HEAD_LEN: usize = 4096;
/// How far into the head frame-sync probes and the link-list probe look (lavaplayer's limit).
const SCAN_LEN: usize = 1000;

/// A recognised container, named as lavaplayer names its probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    Wav,
    Matroska,
    Mp4,
    Flac,
    Ogg,
    M3u,
    Pls,
    Plain,
    Mp3,
    Adts,
    MpegTs,
}

/// Registry order of lavaplayer's probes.
const ORDER: [ProbeKind; 11] = [
    ProbeKind::Wav,
    ProbeKind::Matroska,
    ProbeKind::Mp4,
    ProbeKind::Flac,
    ProbeKind::Ogg,
    ProbeKind::M3u,
    ProbeKind::Pls,
    ProbeKind::Plain,
    ProbeKind::Mp3,
    ProbeKind::Adts,
    ProbeKind::MpegTs,
];

impl ProbeKind {
    pub fn name(self) -> &'static str {
        match self {
            ProbeKind::Wav => "wav",
            ProbeKind::Matroska => "matroska/webm",
            ProbeKind::Mp4 => "mp4",
            ProbeKind::Flac => "flac",
            ProbeKind::Ogg => "ogg",
            ProbeKind::M3u => "m3u",
            ProbeKind::Pls => "pls",
            ProbeKind::Plain => "plain",
            ProbeKind::Mp3 => "mp3",
            ProbeKind::Adts => "adts",
            ProbeKind::MpegTs => "mpegts-adts",
        }
    }

    pub fn from_name(name: &str) -> Option<ProbeKind> {
        ORDER.into_iter().find(|k| k.name() == name)
    }

    /// Whether the container holds audio (as opposed to a playlist).
    pub fn is_media(self) -> bool {
        !matches!(self, ProbeKind::M3u | ProbeKind::Pls | ProbeKind::Plain)
    }

    /// The extension hint the decoder gets (MPEG-TS is demuxed to ADTS before decoding).
    pub fn decoder_extension(self) -> &'static str {
        match self {
            ProbeKind::Wav => "wav",
            ProbeKind::Matroska => "webm",
            ProbeKind::Mp4 => "mp4",
            ProbeKind::Flac => "flac",
            ProbeKind::Ogg => "ogg",
            ProbeKind::Mp3 => "mp3",
            ProbeKind::Adts | ProbeKind::MpegTs => "aac",
            ProbeKind::M3u | ProbeKind::Pls | ProbeKind::Plain => "m3u",
        }
    }

    /// Pass-1 hint test (only mp3, adts and mpegts-adts have one in lavaplayer).
    fn hint_matches(self, hints: &Hints) -> bool {
        let mime = hints.mime.as_deref().map(str::to_ascii_lowercase);
        let ext = hints.extension.as_deref().map(str::to_ascii_lowercase);
        let all = |m: &str, e: &str| {
            (mime.is_some() || ext.is_some())
                && mime.as_deref().is_none_or(|x| x == m)
                && ext.as_deref().is_none_or(|x| x == e)
        };
        match self {
            ProbeKind::Mp3 => all("audio/mpeg", "mp3"),
            ProbeKind::Adts => {
                mime.as_deref() == Some("audio/aac") || ext.as_deref() == Some("aac")
            }
            ProbeKind::MpegTs => ext.as_deref() == Some("ts"),
            _ => false,
        }
    }

    /// Whether the head of the data is this container.
    fn matches(self, head: &[u8]) -> bool {
        match self {
            ProbeKind::Wav => head.starts_with(b"RIFF") && head.get(8..12) == Some(b"WAVE"),
            ProbeKind::Matroska => head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]),
            ProbeKind::Mp4 => head.starts_with(&[0, 0, 0]) && head.get(4..8) == Some(b"ftyp"),
            ProbeKind::Flac => head.starts_with(b"fLaC"),
            ProbeKind::Ogg => head.starts_with(b"OggS"),
            ProbeKind::M3u => {
                let h = strip_bom(head);
                h.starts_with(b"#EXTM3U") || h.starts_with(b"#EXTINF")
            }
            ProbeKind::Pls => {
                let h = strip_bom(head);
                h.len() >= 10 && h[0] == b'[' && &h[2..10] == b"laylist]"
            }
            ProbeKind::Plain => {
                let h = &head[..head.len().min(SCAN_LEN)];
                let text = String::from_utf8_lossy(strip_bom(h));
                let t = text.trim_start();
                ["http://", "https://", "icy://"]
                    .iter()
                    .any(|p| t.starts_with(p))
            }
            // Frame syncs inside MPEG-TS packets are not a bare elementary stream.
            ProbeKind::Mp3 => {
                head.starts_with(b"ID3") || (!looks_like_ts(head) && find_mp3_frame(head).is_some())
            }
            ProbeKind::Adts => !looks_like_ts(head) && find_adts_frame(head).is_some(),
            ProbeKind::MpegTs => mpegts::head_has_adts(head),
        }
    }
}

/// What is known about the data besides its bytes.
#[derive(Debug, Clone, Default)]
pub struct Hints {
    /// The whole Content-Type value (HTTP).
    pub mime: Option<String>,
    /// The file extension (local files).
    pub extension: Option<String>,
}

/// Runs the probes in lavaplayer's two passes over the buffered head.
pub fn detect(head: &[u8], hints: &Hints) -> Option<ProbeKind> {
    let first = ORDER.into_iter().filter(|k| k.hint_matches(hints));
    let second = ORDER.into_iter().filter(|k| !k.hint_matches(hints));
    first.chain(second).find(|k| k.matches(head))
}

fn looks_like_ts(head: &[u8]) -> bool {
    head.len() > mpegts::PACKET && head[0] == 0x47 && head[mpegts::PACKET] == 0x47
}

fn strip_bom(b: &[u8]) -> &[u8] {
    b.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(b)
}

/// Length of the MPEG audio frame whose header is `h`, if it is a valid header.
pub fn mp3_frame_len(h: &[u8]) -> Option<usize> {
    if h.len() < 4 || h[0] != 0xFF || h[1] & 0xE0 != 0xE0 {
        return None;
    }
    let version = (h[1] >> 3) & 3; // 0 = 2.5, 1 reserved, 2 = 2, 3 = 1
    let layer = (h[1] >> 1) & 3; // 1 = III, 2 = II, 3 = I
    let br_idx = (h[2] >> 4) as usize;
    let sr_idx = ((h[2] >> 2) & 3) as usize;
    if version == 1 || layer == 0 || br_idx == 0 || br_idx == 15 || sr_idx == 3 {
        return None;
    }
    const BR_V1: [[u32; 14]; 3] = [
        [
            32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
        ],
        [
            32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
        ],
        [
            32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
        ],
    ];
    const BR_V2: [[u32; 14]; 2] = [
        [
            32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
        ],
        [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
    ];
    const SR: [u32; 3] = [44100, 48000, 32000];
    let layer_i = (3 - layer) as usize; // 0 = I, 1 = II, 2 = III
    let (kbps, sr) = if version == 3 {
        (BR_V1[layer_i][br_idx - 1], SR[sr_idx])
    } else {
        let div = if version == 2 { 2 } else { 4 };
        (BR_V2[layer_i.min(1)][br_idx - 1], SR[sr_idx] / div)
    };
    let pad = ((h[2] >> 1) & 1) as u32;
    let br = kbps * 1000;
    let len = match layer_i {
        0 => (12 * br / sr + pad) * 4,
        2 if version != 3 => 72 * br / sr + pad,
        _ => 144 * br / sr + pad,
    };
    Some(len as usize)
}

/// Offset of the first MPEG audio frame within the scan window whose successor (when it
/// lies inside the head) is also a frame: one false sync in other data is not enough.
pub fn find_mp3_frame(head: &[u8]) -> Option<usize> {
    find_chained(head, mp3_frame_len)
}

/// Length of the ADTS frame whose header is `h`, if valid.
pub fn adts_frame_len(h: &[u8]) -> Option<usize> {
    if h.len() < 7 || h[0] != 0xFF || h[1] & 0xF6 != 0xF0 {
        return None;
    }
    if (h[2] >> 2) & 0xF >= 13 {
        return None;
    }
    let len = (((h[3] & 3) as usize) << 11) | ((h[4] as usize) << 3) | ((h[5] as usize) >> 5);
    let header = if h[1] & 1 == 1 { 7 } else { 9 };
    (len >= header).then_some(len)
}

pub fn find_adts_frame(head: &[u8]) -> Option<usize> {
    find_chained(head, adts_frame_len)
}

fn find_chained(head: &[u8], frame_len: fn(&[u8]) -> Option<usize>) -> Option<usize> {
    let limit = head.len().min(SCAN_LEN);
    (0..limit).find(|&i| match frame_len(&head[i..]) {
        Some(len) => {
            let next = i + len;
            next + 4 > head.len() || frame_len(&head[next..]).is_some()
        }
        None => false,
    })
}

/// Reads the track info of a media container with symphonia (tags, length) and refuses
/// containers without a playable audio track, with lavaplayer's reasons.
pub fn media_info(
    kind: ProbeKind,
    source: Box<dyn MediaSource>,
    hints: &Hints,
) -> Result<ProbedInfo, SourceError> {
    match kind {
        // lavaplayer gives ADTS and MPEG-TS streams no metadata and no length.
        ProbeKind::Adts | ProbeKind::MpegTs => return Ok(ProbedInfo::default()),
        ProbeKind::M3u | ProbeKind::Pls | ProbeKind::Plain => return Ok(ProbedInfo::default()),
        _ => {}
    }
    let known_len = source.byte_len();
    let seekable = source.is_seekable();
    let mut hint = Hint::new();
    hint.with_extension(kind.decoder_extension());
    if let Some(m) = &hints.mime {
        hint.mime_type(m);
    }
    let mss = MediaSourceStream::new(source, Default::default());
    let probed = symphonia::default::get_probe().probe(
        &hint,
        mss,
        FormatOptions::default(),
        MetadataOptions::default(),
    );
    let mut reader = match probed {
        Ok(r) => r,
        Err(symphonia::core::errors::Error::Unsupported(_)) => return Err(refusal(kind)),
        Err(e) => return Err(SourceError::Detection(e.to_string())),
    };
    let (playable, mut length_ms) = audio_track(reader.as_ref());
    if length_ms.is_none() {
        let mi = reader.media_info();
        length_ms = match (mi.time_base, mi.duration) {
            (Some(tb), Some(d)) => tb
                .calc_duration(d)
                .map(|x| x.as_millis() as i64)
                .filter(|l| *l > 0),
            _ => None,
        };
    }
    if !playable {
        return Err(refusal(kind));
    }
    let mut info = ProbedInfo {
        length_ms,
        ..Default::default()
    };
    if kind != ProbeKind::Wav {
        read_tags(reader.as_mut(), &mut info);
    }
    if kind == ProbeKind::Mp3 {
        // An MP3 without a known byte length is radio (no seek table, no estimate).
        let stream = known_len.is_none() || !seekable;
        info.is_stream = Some(stream);
        if stream {
            info.length_ms = None;
        }
    }
    Ok(info)
}

fn refusal(kind: ProbeKind) -> SourceError {
    match kind {
        ProbeKind::Mp4 => SourceError::Unsupported("No supported audio format in the MP4 file."),
        ProbeKind::Matroska => {
            SourceError::Unsupported("No supported audio tracks present in the file.")
        }
        _ => SourceError::UnknownFormat,
    }
}

/// Whether there is an audio track we can decode (symphonia's codecs, or Opus through
/// libopus), and its length in ms.
fn audio_track(reader: &dyn FormatReader) -> (bool, Option<i64>) {
    let codecs = symphonia::default::get_codecs();
    for t in reader.tracks() {
        let Some(CodecParameters::Audio(a)) = &t.codec_params else {
            continue;
        };
        if a.codec != CODEC_ID_OPUS && codecs.get_audio_decoder(a.codec).is_none() {
            continue;
        }
        let from_tb = match (t.time_base, t.duration) {
            (Some(tb), Some(d)) => tb.calc_duration(d).map(|x| x.as_millis() as i64),
            _ => None,
        };
        let from_frames = match (t.num_frames, a.sample_rate) {
            (Some(n), Some(sr)) if sr > 0 => Some((n as u128 * 1000 / sr as u128) as i64),
            _ => None,
        };
        return (true, from_tb.or(from_frames).filter(|l| *l > 0));
    }
    (false, None)
}

fn read_tags(reader: &mut dyn FormatReader, info: &mut ProbedInfo) {
    let mut md = reader.metadata();
    loop {
        if let Some(rev) = md.current() {
            let tags = rev
                .media
                .tags
                .iter()
                .chain(rev.per_track.iter().flat_map(|p| p.metadata.tags.iter()));
            for tag in tags {
                match &tag.std {
                    Some(StandardTag::TrackTitle(s)) if info.title.is_none() => {
                        info.title = Some(s.to_string())
                    }
                    Some(StandardTag::Artist(s)) if info.author.is_none() => {
                        info.author = Some(s.to_string())
                    }
                    Some(StandardTag::IdentIsrc(s)) if info.isrc.is_none() => {
                        info.isrc = Some(s.to_string())
                    }
                    // Raw keys too: symphonia maps an untargeted Matroska TITLE to the album.
                    _ => {
                        // Matroska raw keys carry their target level: `ALBUM@ARTIST`.
                        let key = tag.raw.key.to_ascii_lowercase();
                        let key = key.rsplit('@').next().unwrap_or(&key);
                        let slot = match key {
                            "title" => &mut info.title,
                            "artist" => &mut info.author,
                            "isrc" => &mut info.isrc,
                            _ => continue,
                        };
                        if slot.is_none() {
                            *slot = Some(tag.raw.value.to_string());
                        }
                    }
                }
            }
        }
        if md.pop().is_none() {
            break;
        }
    }
}
