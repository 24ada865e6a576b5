//! Sources: turning an identifier into tracks (`load`) and a track into bytes to decode
//! (`open`). The dispatcher asks each registered source in Lavalink's order.

use crate::track::{TrackData, TrackException};

/// The outcome of `/v4/loadtracks`, before JSON.
#[derive(Debug, Clone)]
pub enum LoadResult {
    Track(TrackData),
    Playlist { name: String, selected_track: i32, tracks: Vec<TrackData> },
    Search(Vec<TrackData>),
    Empty,
    Error(TrackException),
}

/// A readable, possibly seekable byte stream of one track plus what is known of its
/// container, ready for the decoder.
pub struct MediaInput {
    /// The bytes. `is_seekable()` tells whether byte seeks work (range requests, files).
    pub reader: Box<dyn symphonia::core::io::MediaSource>,
    /// File extension hint for the prober (`mp3`, `flac`, `aac`, `ogg`, `webm`, `mp4`, `wav`…).
    pub extension: Option<String>,
    /// MIME type hint (from Content-Type).
    pub mime: Option<String>,
    /// Live or endless: no seeking, no length.
    pub is_stream: bool,
}
