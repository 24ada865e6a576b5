//! LavaSrc (`lavasrc-plugin`): Spotify, Apple Music and Deezer as metadata sources whose
//! tracks play through a mirror (another source's search), plus LRCLIB lyrics.
//!
//! Tracks carry LavaSrc's extra blob bytes (five nullable UTFs and a bool, sources.md
//! §0.4), so `pluginInfo` is re-derived from the blob alone and survives `decodetrack`.

pub mod applemusic;
pub mod deezer;
pub mod mirror;
pub mod spotify;

use std::collections::VecDeque;
use std::sync::Mutex;

use serde_json::{Map, Value};

use crate::track::{mutf8, TrackData, TrackInfo};

/// The Lavalink name clients check in `/v4/info.plugins`.
pub const NAME: &str = "lavasrc-plugin";
/// Source names of LavaSrc tracks whose blob extras this module reads.
pub const SOURCE_NAMES: [&str; 3] = ["spotify", "applemusic", "deezer"];

/// LavaSrc's per-track extras, stored after `sourceName` in the blob.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extras {
    pub album_name: Option<String>,
    pub album_url: Option<String>,
    pub artist_url: Option<String>,
    pub artist_artwork_url: Option<String>,
    pub preview_url: Option<String>,
    pub is_preview: bool,
}

impl Extras {
    /// Java `DataOutput`: per string a bool "present" then the UTF; then the bool.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for s in [
            &self.album_name,
            &self.album_url,
            &self.artist_url,
            &self.artist_artwork_url,
            &self.preview_url,
        ] {
            match s {
                Some(s) => {
                    out.push(1);
                    mutf8::write_utf(s, &mut out);
                }
                None => out.push(0),
            }
        }
        out.push(self.is_preview as u8);
        out
    }

    /// Older blobs have no extras (empty bytes → all null, not a preview); malformed bytes
    /// read as far as they go.
    pub fn decode(bytes: &[u8]) -> Extras {
        let mut pos = 0usize;
        let mut next = |pos: &mut usize| -> Option<String> {
            let present = *bytes.get(*pos)? != 0;
            *pos += 1;
            if !present {
                return None;
            }
            let len = u16::from_be_bytes([*bytes.get(*pos)?, *bytes.get(*pos + 1)?]) as usize;
            let s = bytes.get(*pos + 2..*pos + 2 + len)?;
            *pos += 2 + len;
            mutf8::decode(s).ok()
        };
        let album_name = next(&mut pos);
        let album_url = next(&mut pos);
        let artist_url = next(&mut pos);
        let artist_artwork_url = next(&mut pos);
        let preview_url = next(&mut pos);
        let is_preview = bytes.get(pos).is_some_and(|b| *b != 0);
        Extras {
            album_name,
            album_url,
            artist_url,
            artist_artwork_url,
            preview_url,
            is_preview,
        }
    }
}

/// A LavaSrc track: info plus extras in the blob.
pub fn track(info: TrackInfo, extras: &Extras) -> TrackData {
    TrackData {
        info,
        source_data: extras.encode(),
        position: 0,
    }
}

/// `pluginInfo` keys of a LavaSrc track (all written, nulls included).
pub fn track_plugin_info(track: &TrackData, out: &mut Map<String, Value>) {
    let source = track.info.source_name.as_str();
    if !SOURCE_NAMES.contains(&source) {
        return;
    }
    let e = Extras::decode(&track.source_data);
    out.insert("albumName".into(), e.album_name.into());
    out.insert("albumUrl".into(), e.album_url.into());
    out.insert("artistUrl".into(), e.artist_url.into());
    out.insert("artistArtworkUrl".into(), e.artist_artwork_url.into());
    out.insert("previewUrl".into(), e.preview_url.into());
    out.insert("isPreview".into(), e.is_preview.into());
    if source == "spotify" {
        out.insert("isLocal".into(), false.into());
    }
}

/// What LavaSrc adds to a playlist's `pluginInfo` (album, playlist, artist, recommendations).
#[derive(Debug, Clone, PartialEq)]
pub struct PlaylistInfo {
    pub kind: &'static str,
    pub url: Option<String>,
    pub artwork_url: Option<String>,
    pub author: Option<String>,
    pub total_tracks: Option<i64>,
}

impl PlaylistInfo {
    pub fn to_map(&self, out: &mut Map<String, Value>) {
        out.insert("type".into(), self.kind.into());
        out.insert("url".into(), self.url.clone().into());
        out.insert("artworkUrl".into(), self.artwork_url.clone().into());
        out.insert("author".into(), self.author.clone().into());
        out.insert("totalTracks".into(), self.total_tracks.into());
    }
}

/// Playlists recently produced by LavaSrc, keyed by name and tracks. The core load result
/// has no room for playlist `pluginInfo`, so the JSON writer asks here; the key includes
/// every track's identity, so only the very playlist a load produced matches.
static RECENT_PLAYLISTS: Mutex<VecDeque<(u64, PlaylistInfo)>> = Mutex::new(VecDeque::new());
const RECENT_PLAYLISTS_MAX: usize = 256;

fn playlist_key(name: &str, tracks: &[TrackData]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut h);
    for t in tracks {
        t.info.source_name.hash(&mut h);
        t.info.identifier.hash(&mut h);
    }
    tracks.len().hash(&mut h);
    h.finish()
}

/// Remembers a playlist's info for the JSON writer.
pub fn remember_playlist(name: &str, tracks: &[TrackData], info: PlaylistInfo) {
    let key = playlist_key(name, tracks);
    let mut recent = crate::session::lock(&RECENT_PLAYLISTS);
    recent.retain(|(k, _)| *k != key);
    if recent.len() >= RECENT_PLAYLISTS_MAX {
        recent.pop_front();
    }
    recent.push_back((key, info));
}

/// `pluginInfo` of a playlist load result, if LavaSrc produced it.
pub fn playlist_plugin_info(name: &str, tracks: &[TrackData], out: &mut Map<String, Value>) {
    if !tracks
        .iter()
        .all(|t| SOURCE_NAMES.contains(&t.info.source_name.as_str()))
    {
        return;
    }
    let key = playlist_key(name, tracks);
    let recent = crate::session::lock(&RECENT_PLAYLISTS);
    if let Some((_, info)) = recent.iter().rev().find(|(k, _)| *k == key) {
        info.to_map(out);
    }
}

/// `Some(json)` unless the value is absent or JSON null; strings only.
pub(crate) fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// Percent-encodes a query component (RFC 3986 unreserved kept).
pub(crate) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extras_round_trip_and_java_layout() {
        let e = Extras {
            album_name: Some("Album".into()),
            album_url: None,
            artist_url: Some("https://a/b".into()),
            artist_artwork_url: None,
            preview_url: None,
            is_preview: true,
        };
        let b = e.encode();
        assert_eq!(&b[..8], &[1, 0, 5, b'A', b'l', b'b', b'u', b'm']);
        assert_eq!(b[8], 0);
        assert_eq!(*b.last().unwrap(), 1);
        assert_eq!(Extras::decode(&b), e);
        assert_eq!(Extras::decode(&[]), Extras::default());
    }
}
