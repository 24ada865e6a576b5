//! The lavaplayer message format of `encoded` tracks (spec: lavalink-v4.md §8).
//!
//! Byte-exact with lavaplayer's `DefaultAudioPlayerManager.encodeTrack/decodeTrack` so
//! that blobs saved from Lavalink decode here and ours decode there: a u32 header
//! (flags in bits 31–30, payload size in 29–0), a version byte when flag 1 is set, the
//! common fields, source-specific bytes, then the position.
//!
//! Source-specific bytes: for the core sources this node knows the layout of (no extra
//! bytes for youtube/soundcloud/bandcamp/twitch/vimeo/niconico, one UTF container
//! descriptor for http/local) the decoder reads exactly what lavaplayer reads, then the
//! position right after it, and skips the rest of the payload as lavaplayer does. For
//! any other source (plugins such as LavaSrc) the bytes are opaque: everything between
//! `sourceName` and the last 8 payload bytes, which hold the position — the convention
//! plugins themselves rely on. Re-encoding writes those bytes back untouched.
//!
//! Whether a registered source exists for `sourceName` is not checked here: that is the
//! source manager's call (Lavalink answers 500 with [`MISSING_SOURCE_MESSAGE`]).

use base64::Engine as _;
use thiserror::Error;

use super::jbase64::{self, Base64Error};
use super::mutf8::{self, Mutf8Error};
use super::{TrackData, TrackInfo};

/// Lavalink's text when lavaplayer yields no track: a size-0 header, or a `sourceName`
/// no registered source manager claims.
pub const MISSING_SOURCE_MESSAGE: &str =
    "Failed to decode track due to a mismatching version or missing source manager";

/// Longest `encoded` string accepted. A legitimate v3 blob is at most ~460 KB of
/// payload (seven 64 KiB strings) — about 620 K base64 characters; this cap bounds the
/// work an oversized request can cause.
pub const MAX_ENCODED_LEN: usize = 1 << 21;

/// Version the writer emits (lavaplayer's current `TRACK_INFO_VERSION`).
pub const CURRENT_VERSION: u8 = 3;

const FLAG_VERSIONED: u32 = 1;
const SIZE_MASK: u32 = 0x3FFF_FFFF;

/// Sources whose blobs carry no source-specific bytes.
const NO_EXTRA_SOURCES: [&str; 6] = [
    "youtube",
    "soundcloud",
    "bandcamp",
    "twitch",
    "vimeo",
    "niconico",
];
/// Sources whose source-specific bytes are one UTF container descriptor.
const PROBE_SOURCES: [&str; 2] = ["http", "local"];

/// A decoded blob and the version it was written with (1 when unversioned). Versions
/// above 3 are read like 3, as lavaplayer's `version >= 3` checks do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedTrack {
    pub data: TrackData,
    pub version: u8,
}

/// Why an `encoded` string cannot be decoded. Texts follow the Java exceptions
/// Lavalink would surface where Java has a message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TrackError {
    #[error(transparent)]
    Base64(#[from] Base64Error),
    #[error("Encoded track is too long ({0} characters, at most {MAX_ENCODED_LEN})")]
    TooLong(usize),
    /// Header with payload size 0: lavaplayer returns no track.
    #[error("{MISSING_SOURCE_MESSAGE}")]
    NoMessage,
    /// The header announces more payload bytes than the blob holds (Java: EOFException).
    #[error(
        "Unexpected end of track data: the header announces {expected} bytes, {available} follow"
    )]
    Truncated { expected: usize, available: usize },
    /// A field runs past the end of the payload (Java: EOFException).
    #[error("Unexpected end of track data while reading {0}")]
    Eof(&'static str),
    /// A string Java's `readUTF` rejects; the text is Java's `UTFDataFormatException`.
    #[error("{error}")]
    BadUtf {
        field: &'static str,
        error: Mutf8Error,
    },
}

/// Cursor over the payload; every read is bounds-checked (never panics).
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], TrackError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or(TrackError::Eof(field))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, TrackError> {
        Ok(self.take(1, field)?[0])
    }

    fn bool(&mut self, field: &'static str) -> Result<bool, TrackError> {
        Ok(self.u8(field)? != 0)
    }

    fn i64(&mut self, field: &'static str) -> Result<i64, TrackError> {
        let b = self.take(8, field)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    /// Raw bytes of one Java UTF, length prefix included.
    fn utf_raw(&mut self, field: &'static str) -> Result<&'a [u8], TrackError> {
        let start = self.pos;
        let len = self.take(2, field)?;
        let n = u16::from_be_bytes([len[0], len[1]]) as usize;
        self.take(n, field)?;
        Ok(&self.buf[start..self.pos])
    }

    fn utf(&mut self, field: &'static str) -> Result<String, TrackError> {
        let raw = self.utf_raw(field)?;
        mutf8::decode(&raw[2..]).map_err(|error| TrackError::BadUtf { field, error })
    }

    fn nullable_utf(&mut self, field: &'static str) -> Result<Option<String>, TrackError> {
        if self.bool(field)? {
            self.utf(field).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// Decodes an `encoded` track string.
pub fn decode_track(encoded: &str) -> Result<DecodedTrack, TrackError> {
    if encoded.len() > MAX_ENCODED_LEN {
        return Err(TrackError::TooLong(encoded.len()));
    }
    let bytes = jbase64::decode(encoded)?;
    decode_message(&bytes)
}

/// Decodes one binary message (the base64-decoded form).
pub fn decode_message(bytes: &[u8]) -> Result<DecodedTrack, TrackError> {
    let mut outer = Reader { buf: bytes, pos: 0 };
    let h = outer.take(4, "the message header")?;
    let header = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    let flags = header >> 30;
    let size = (header & SIZE_MASK) as usize;
    if size == 0 {
        return Err(TrackError::NoMessage);
    }
    let available = bytes.len() - 4;
    if size > available {
        return Err(TrackError::Truncated {
            expected: size,
            available,
        });
    }
    let payload = &bytes[4..4 + size];
    let mut r = Reader {
        buf: payload,
        pos: 0,
    };

    let version = if flags & FLAG_VERSIONED != 0 {
        r.u8("the version")?
    } else {
        1
    };
    let title = r.utf("title")?;
    let author = r.utf("author")?;
    let length = r.i64("length")?;
    let identifier = r.utf("identifier")?;
    let is_stream = r.bool("isStream")?;
    let uri = if version >= 2 {
        r.nullable_utf("uri")?
    } else {
        None
    };
    let (artwork_url, isrc) = if version >= 3 {
        (r.nullable_utf("artworkUrl")?, r.nullable_utf("isrc")?)
    } else {
        (None, None)
    };
    let source_name = r.utf("sourceName")?;

    let (source_data, position) = if NO_EXTRA_SOURCES.contains(&source_name.as_str()) {
        (Vec::new(), r.i64("position")?)
    } else if PROBE_SOURCES.contains(&source_name.as_str()) {
        let raw = r.utf_raw("the container descriptor")?;
        mutf8::decode(&raw[2..]).map_err(|error| TrackError::BadUtf {
            field: "the container descriptor",
            error,
        })?;
        (raw.to_vec(), r.i64("position")?)
    } else {
        // Opaque plugin data: the position is the last 8 bytes of the payload.
        let rest = payload.len() - r.pos;
        if rest < 8 {
            return Err(TrackError::Eof("position"));
        }
        let data = r.take(rest - 8, "source data")?.to_vec();
        (data, r.i64("position")?)
    };
    // Anything left in the payload is skipped, as lavaplayer's skipRemainingBytes does.

    Ok(DecodedTrack {
        data: TrackData {
            info: TrackInfo {
                title,
                author,
                length,
                identifier,
                is_stream,
                uri,
                artwork_url,
                isrc,
                source_name,
            },
            source_data,
            position,
        },
        version,
    })
}

/// Encodes a track as lavaplayer's current writer does: version 3, flags 1, standard
/// base64 with padding, `track.position` as the stored position.
pub fn encode_track(track: &TrackData) -> String {
    base64::engine::general_purpose::STANDARD.encode(encode_message(track))
}

/// The binary message `encode_track` base64-encodes.
pub fn encode_message(track: &TrackData) -> Vec<u8> {
    let i = &track.info;
    let mut out = Vec::with_capacity(
        64 + i.title.len()
            + i.author.len()
            + i.identifier.len()
            + i.source_name.len()
            + i.uri.as_ref().map_or(0, String::len)
            + i.artwork_url.as_ref().map_or(0, String::len)
            + i.isrc.as_ref().map_or(0, String::len)
            + track.source_data.len(),
    );
    out.extend_from_slice(&[0; 4]);
    out.push(CURRENT_VERSION);
    mutf8::write_utf(&i.title, &mut out);
    mutf8::write_utf(&i.author, &mut out);
    out.extend_from_slice(&i.length.to_be_bytes());
    mutf8::write_utf(&i.identifier, &mut out);
    out.push(i.is_stream as u8);
    for field in [&i.uri, &i.artwork_url, &i.isrc] {
        match field {
            Some(s) => {
                out.push(1);
                mutf8::write_utf(s, &mut out);
            }
            None => out.push(0),
        }
    }
    mutf8::write_utf(&i.source_name, &mut out);
    out.extend_from_slice(&track.source_data);
    out.extend_from_slice(&track.position.to_be_bytes());
    // The payload always fits the 30-bit size: strings are capped at 64 KiB each and
    // source data comes from a capped decode or `utf_source_data`.
    let size = (out.len() - 4) as u32 & SIZE_MASK;
    let header = (FLAG_VERSIONED << 30) | size;
    out[..4].copy_from_slice(&header.to_be_bytes());
    out
}

/// The container descriptor (`probeName` or `probeName|parameters`) of an http/local
/// track, which Lavalink also reports as `pluginInfo.probeInfo`.
pub fn probe_info(track: &TrackData) -> Option<String> {
    if !PROBE_SOURCES.contains(&track.info.source_name.as_str()) {
        return None;
    }
    let mut r = Reader {
        buf: &track.source_data,
        pos: 0,
    };
    r.utf("the container descriptor").ok()
}

/// Sources whose blobs carry nothing after `sourceName` (sources.md §0.4).
const PLAIN_SOURCES: [&str; 6] = [
    "youtube",
    "soundcloud",
    "bandcamp",
    "twitch",
    "vimeo",
    "niconico",
];

/// LavaSrc's mirroring sources, whose blobs may carry its extras (sources.md §7).
const MIRROR_SOURCES: [&str; 12] = [
    "spotify",
    "applemusic",
    "deezer",
    "yandexmusic",
    "flowerytts",
    "vkmusic",
    "tidal",
    "qobuz",
    "ytdlp",
    "jiosaavn",
    "pandora",
    "amazonmusic",
];

/// Whether Basalt knows the layout of this blob's source bytes, so it decodes whether or
/// not that source is enabled: the plain online sources (nothing), http/local (one UTF
/// descriptor), LavaSrc mirrors (nothing, or five nullable UTFs and a bool), and any other
/// source with nothing after its name. Only unreadable trailing bytes are unknown.
pub fn known_layout(track: &TrackData) -> bool {
    let name = track.info.source_name.as_str();
    let data = track.source_data.as_slice();
    if PROBE_SOURCES.contains(&name) {
        return probe_info(track).is_some();
    }
    if data.is_empty() {
        return true;
    }
    if PLAIN_SOURCES.contains(&name) {
        return false;
    }
    if MIRROR_SOURCES.contains(&name) {
        let mut r = Reader { buf: data, pos: 0 };
        let extras = (0..5).try_for_each(|_| r.nullable_utf("mirror extras").map(|_| ()));
        return extras.is_ok() && r.bool("isPreview").is_ok() && r.pos == data.len();
    }
    false
}

/// Source data holding one Java UTF (http/local: the container descriptor).
pub fn utf_source_data(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + s.len());
    mutf8::write_utf(s, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TrackData {
        TrackData {
            info: TrackInfo {
                title: "t🌿\0".into(),
                author: "a".into(),
                length: 1234,
                identifier: "id".into(),
                is_stream: false,
                uri: Some("u".into()),
                artwork_url: None,
                isrc: Some("X".into()),
                source_name: "http".into(),
            },
            source_data: utf_source_data("m3u|hls-outer"),
            position: 42,
        }
    }

    #[test]
    fn round_trip() {
        let t = sample();
        let s = encode_track(&t);
        let d = decode_track(&s).unwrap();
        assert_eq!(d.version, 3);
        assert_eq!(d.data, t);
        assert_eq!(probe_info(&d.data).as_deref(), Some("m3u|hls-outer"));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = encode_message(&sample());
        for n in 0..bytes.len() {
            assert!(decode_message(&bytes[..n]).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn size_zero_and_short_header() {
        assert_eq!(decode_message(&[0x40, 0, 0, 0]), Err(TrackError::NoMessage));
        assert_eq!(
            decode_message(&[0x40, 0]),
            Err(TrackError::Eof("the message header"))
        );
        assert_eq!(
            decode_track("").unwrap_err().to_string(),
            "Unexpected end of track data while reading the message header"
        );
    }

    #[test]
    fn trailing_bytes_after_payload_are_ignored() {
        let mut bytes = encode_message(&sample());
        bytes.extend_from_slice(b"junk");
        assert_eq!(decode_message(&bytes).unwrap().data, sample());
    }

    #[test]
    fn unversioned_and_future_versions() {
        // v1: flags 0, no version byte, no uri/artwork/isrc.
        let mut p = Vec::new();
        mutf8::write_utf("T", &mut p);
        mutf8::write_utf("A", &mut p);
        p.extend_from_slice(&5i64.to_be_bytes());
        mutf8::write_utf("I", &mut p);
        p.push(1);
        mutf8::write_utf("youtube", &mut p);
        p.extend_from_slice(&7i64.to_be_bytes());
        let mut m = (p.len() as u32).to_be_bytes().to_vec();
        m.extend_from_slice(&p);
        let d = decode_message(&m).unwrap();
        assert_eq!(d.version, 1);
        assert!(d.data.info.is_stream);
        assert_eq!(d.data.position, 7);
        assert_eq!(d.data.info.uri, None);

        let mut v9 = encode_message(&sample());
        v9[4] = 9;
        let d = decode_message(&v9).unwrap();
        assert_eq!(d.version, 9);
        assert_eq!(d.data, sample());
    }

    #[test]
    fn opaque_plugin_bytes_kept() {
        let mut t = sample();
        t.info.source_name = "spotify".into();
        t.source_data = vec![1, 2, 3, 0, 0xFF];
        let d = decode_track(&encode_track(&t)).unwrap();
        assert_eq!(d.data, t);
        assert_eq!(probe_info(&d.data), None);
    }

    #[test]
    fn oversize_rejected() {
        let s = "A".repeat(MAX_ENCODED_LEN + 4);
        assert!(matches!(decode_track(&s), Err(TrackError::TooLong(_))));
    }
}

#[cfg(test)]
mod layout_tests {
    use super::*;
    use crate::track::TrackInfo;

    fn track(source: &str, data: Vec<u8>) -> TrackData {
        TrackData {
            info: TrackInfo {
                title: "t".into(),
                author: "a".into(),
                length: 1,
                identifier: "id".into(),
                is_stream: false,
                uri: None,
                artwork_url: None,
                isrc: None,
                source_name: source.into(),
            },
            source_data: data,
            position: 0,
        }
    }

    #[test]
    fn layouts_basalt_knows() {
        assert!(known_layout(&track("youtube", vec![])));
        assert!(!known_layout(&track("youtube", vec![0])));
        assert!(known_layout(&track("http", utf_source_data("mp3"))));
        assert!(!known_layout(&track("http", vec![])));
        assert!(known_layout(&track("unheard-of", vec![])));
        assert!(!known_layout(&track("unheard-of", vec![0, 1])));
        // LavaSrc: album name and url set, three nulls, isPreview.
        let mut extras = vec![1];
        mutf8::write_utf("Album", &mut extras);
        extras.push(1);
        mutf8::write_utf("https://open.spotify.com/album/x", &mut extras);
        extras.extend_from_slice(&[0, 0, 0, 1]);
        assert!(known_layout(&track("spotify", extras.clone())));
        assert!(known_layout(&track("deezer", vec![])));
        extras.push(9);
        assert!(!known_layout(&track("spotify", extras)));
    }
}
