//! Tracks: the metadata Lavalink exposes as `TrackInfo`, and the lavaplayer binary
//! message format that `encoded` strings carry (see `codec`).

pub mod codec;
pub mod jbase64;
pub mod mutf8;

pub use codec::{
    decode_track, encode_track, known_layout, probe_info, utf_source_data, DecodedTrack, TrackError,
};

/// Length Lavalink reports for streams and unknown durations (`Long.MAX_VALUE`).
pub const UNKNOWN_LENGTH: i64 = i64::MAX;

/// The fields stored in an encoded track, in the blob's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInfo {
    pub title: String,
    pub author: String,
    /// Milliseconds; `UNKNOWN_LENGTH` for streams.
    pub length: i64,
    pub identifier: String,
    pub is_stream: bool,
    pub uri: Option<String>,
    pub artwork_url: Option<String>,
    pub isrc: Option<String>,
    pub source_name: String,
}

/// A decoded track blob: its info, the source-specific bytes (opaque unless the
/// source is ours) and the stored position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackData {
    pub info: TrackInfo,
    /// Raw bytes between `sourceName` and the trailing position (field 10 of the format).
    /// For `http`/`local` this is one Java UTF holding the container descriptor (probe info).
    pub source_data: Vec<u8>,
    /// Milliseconds.
    pub position: i64,
}

/// A failure as Lavalink reports it (load results and `TrackExceptionEvent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackException {
    pub message: Option<String>,
    pub severity: Severity,
    /// `<qualified.ClassName>: <message>` in Java; a comparable text here.
    pub cause: String,
    pub cause_stack_trace: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Common,
    Suspicious,
    Fault,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Common => "common",
            Severity::Suspicious => "suspicious",
            Severity::Fault => "fault",
        }
    }
}
