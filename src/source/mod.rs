//! Sources: turning an identifier into tracks (`load`) and a track into bytes to decode
//! (`open`). The dispatcher asks each registered source in Lavalink's order.
//!
//! Every source — built in or from a plugin — implements one interface, `Source`, and is
//! asked through one loader path in Lavalink's registration order (youtube, soundcloud,
//! bandcamp, twitch, vimeo, niconico, local, plugin sources, http last). A source that is
//! not registered claims nothing and is not listed in `/v4/info`.

pub mod bandcamp;
pub mod hls;
pub mod http;
pub mod icy;
pub mod local;
pub mod mpegts;
pub mod niconico;
pub mod playlist;
pub mod plugin_info;
pub mod probe;
mod reload;
pub mod soundcloud;
pub mod twitch;
pub mod vimeo;
pub mod youtube;
pub mod ytcipher;

use std::sync::Arc;

use crate::config::Config;
use crate::track::{Severity, TrackData, TrackException, TrackInfo};

/// The outcome of `/v4/loadtracks`, before JSON.
#[derive(Debug, Clone)]
pub enum LoadResult {
    Track(TrackData),
    Playlist {
        name: String,
        selected_track: i32,
        tracks: Vec<TrackData>,
    },
    Search(Vec<TrackData>),
    Empty,
    Error(TrackException),
}

/// Where a `SeekFrom` lands for a stream at `pos` of `len` bytes (if known); an error for a
/// position before the start or from the end of a stream of unknown length. Shared by our
/// `Seek` implementations.
pub fn seek_target(pos: u64, len: Option<u64>, to: std::io::SeekFrom) -> std::io::Result<u64> {
    use std::io::SeekFrom;
    match to {
        SeekFrom::Start(p) => Some(p),
        SeekFrom::Current(d) => pos.checked_add_signed(d),
        SeekFrom::End(d) => len.and_then(|l| l.checked_add_signed(d)),
    }
    .ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "seek before the start, or from the end of a stream of unknown length",
        )
    })
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
    /// Segmented VOD (HLS): where segments start in time, so the decoder can seek by
    /// restarting at a segment (`decode/segmented.rs`). None for ordinary byte streams.
    pub segments: Option<hls::SegmentIndex>,
}

/// Why a load or an open failed, carrying Lavalink's friendly message and severity
/// (sources.md §0.2) so the control plane and the engine can report it unchanged.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("That URL is not playable.")]
    NotPlayable { status: u16 },
    #[error("Not a valid URL.")]
    InvalidUrl(String),
    #[error("Connecting to the URL failed.")]
    Connect(String),
    #[error("The server is giving us garbage.")]
    Garbage,
    #[error("Unknown file format.")]
    UnknownFormat,
    /// A probe recognised the container but refused its content (its own message, common).
    #[error("{0}")]
    Unsupported(&'static str),
    #[error("The playlist file contains no links.")]
    NoLinks,
    #[error("Could not read the file for detecting file type.")]
    Detection(String),
    #[error("Failed to open file for reading.")]
    FileOpen(String),
    /// A saved track names a source or probe this node does not have.
    #[error("Unknown source or container '{0}'.")]
    UnknownDescriptor(String),
    /// Reading the media failed after it was opened (network, truncated file).
    #[error("Something broke when playing the track.")]
    Io(String),
    /// A source's own message and severity (lavaplayer's `FriendlyException`), with the
    /// Java-style cause text clients print.
    #[error("{message}")]
    Friendly {
        message: String,
        severity: Severity,
        cause: String,
    },
}

impl SourceError {
    pub fn severity(&self) -> Severity {
        match self {
            SourceError::NotPlayable { .. }
            | SourceError::InvalidUrl(_)
            | SourceError::UnknownFormat
            | SourceError::Unsupported(_)
            | SourceError::NoLinks => Severity::Common,
            SourceError::Connect(_)
            | SourceError::Garbage
            | SourceError::Detection(_)
            | SourceError::FileOpen(_) => Severity::Suspicious,
            SourceError::UnknownDescriptor(_) | SourceError::Io(_) => Severity::Fault,
            SourceError::Friendly { severity, .. } => *severity,
        }
    }

    /// The Java-style `cause` text: the underlying throwable lavaplayer attaches.
    fn cause(&self) -> String {
        const FRIENDLY: &str = "com.sedmelluq.discord.lavaplayer.tools.FriendlyException";
        match self {
            SourceError::NotPlayable { status } => {
                format!("java.lang.IllegalStateException: Status code {status}")
            }
            SourceError::InvalidUrl(s) => format!("java.net.URISyntaxException: {s}"),
            SourceError::Connect(s) | SourceError::Detection(s) | SourceError::Io(s) => {
                format!("java.io.IOException: {s}")
            }
            SourceError::FileOpen(s) => format!("java.io.FileNotFoundException: {s}"),
            SourceError::Friendly { cause, .. } if !cause.is_empty() => cause.clone(),
            other => format!("{FRIENDLY}: {other}"),
        }
    }

    /// The exception object of a load result or a `TrackExceptionEvent`.
    pub fn to_exception(&self) -> TrackException {
        let cause = self.cause();
        TrackException {
            message: Some(self.to_string()),
            severity: self.severity(),
            cause_stack_trace: format!("{cause}\n"),
            cause,
        }
    }
}

impl SourceError {
    /// A friendly error with a plain cause (`FriendlyException: <message>` when `cause` is "").
    pub fn friendly(
        message: impl Into<String>,
        severity: Severity,
        cause: impl Into<String>,
    ) -> SourceError {
        SourceError::Friendly {
            message: message.into(),
            severity,
            cause: cause.into(),
        }
    }
}

/// One source of tracks, built in or from a plugin. Loads and opens block (network, disk)
/// and run on loader/helper threads, never on an audio thread.
pub trait Source: Send + Sync {
    /// The `sourceName` of its tracks and its name in `/v4/info` `sourceManagers`.
    fn name(&self) -> &'static str;
    /// Resolves an identifier; `Answer::NotMine` when it is not this source's.
    fn load(&self, req: &LoadRequest<'_>) -> Answer;
    /// Opens one of its tracks for decoding.
    fn open(&self, track: &TrackData) -> Result<MediaInput, SourceError>;
    /// Whether a saved track of this source can be replayed (decodetrack's check).
    fn can_decode(&self, _track: &TrackData) -> bool {
        true
    }
    /// Whether it resolves references that carry a container descriptor (http, local).
    fn probes(&self) -> bool {
        false
    }
    /// The concrete source, for routes of its own (YouTube's `/youtube…`).
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
}

/// What one source answers for an identifier (sources.md §0.1).
pub enum Answer {
    /// Not this source's identifier: ask the next one.
    NotMine,
    Empty,
    Track(TrackData),
    /// A playlist (album, set, mix…); `selected_track` −1 when none.
    Playlist {
        name: String,
        selected_track: i32,
        tracks: Vec<TrackData>,
    },
    /// Search results.
    Search(Vec<TrackData>),
    /// Another identifier to resolve through all sources; the title becomes the default
    /// title of what it resolves to; a descriptor restricts it to the probing sources.
    Reference {
        identifier: String,
        title: Option<String>,
        descriptor: Option<String>,
    },
    /// Several references (a playlist file with more than one entry).
    References {
        name: String,
        entries: Vec<(String, Option<String>)>,
    },
    Error(SourceError),
}

/// A load request as the sources see it.
pub struct LoadRequest<'a> {
    pub identifier: &'a str,
    pub title: Option<&'a str>,
    pub descriptor: Option<&'a str>,
}

/// Most entries of a multi-entry playlist file that are resolved (each costs a request).
const MAX_PLAYLIST_ENTRIES: usize = 50;
/// Reference hops before a load gives up with `empty` (Lavalink's limit).
const MAX_HOPS: usize = 5;

/// All registered sources, in registration order. Send + Sync; loads may run
/// concurrently from many threads. A config reload (`reload`) swaps the active list.
pub struct SourceManager {
    sources: std::sync::RwLock<Arc<Vec<Arc<dyn Source>>>>,
    /// Sources a reload switched off, kept to come back without being rebuilt.
    retired: std::sync::Mutex<Vec<Arc<dyn Source>>>,
}

impl SourceManager {
    pub fn new(config: &Config) -> SourceManager {
        SourceManager::with_plugin_sources(config, crate::plugin::sources(config))
    }

    /// The built-in sources enabled in `[sources]`, with plugin sources placed where
    /// Lavalink puts them: after `local`, before `http`.
    pub fn with_plugin_sources(config: &Config, plugins: Vec<Box<dyn Source>>) -> SourceManager {
        let mut sources: Vec<Box<dyn Source>> = Vec::new();
        // Built-in online sources register here, in Lavalink's order:
        // youtube, soundcloud, bandcamp, twitch, vimeo, niconico.
        if config.sources.youtube {
            sources.push(Box::new(youtube::YoutubeSource::new(config)));
        }
        if config.sources.soundcloud {
            sources.push(Box::new(soundcloud::SoundCloudSource::new(config)));
        }
        if config.sources.bandcamp {
            sources.push(Box::new(bandcamp::BandcampSource::new(config)));
        }
        if config.sources.twitch {
            sources.push(Box::new(twitch::TwitchSource::new(config)));
        }
        if config.sources.vimeo {
            sources.push(Box::new(vimeo::VimeoSource::new(config)));
        }
        if config.sources.nico {
            sources.push(Box::new(niconico::NicoSource::new(config)));
        }
        if config.sources.local {
            sources.push(Box::new(local::LocalSource::new()));
        }
        sources.extend(plugins);
        if config.sources.http {
            sources.push(Box::new(http::HttpSource::new(config)));
        }
        SourceManager {
            sources: std::sync::RwLock::new(Arc::new(sources.into_iter().map(Arc::from).collect())),
            retired: Default::default(),
        }
    }

    /// The active sources now (a snapshot: a reload does not disturb a load under way).
    fn list(&self) -> Arc<Vec<Arc<dyn Source>>> {
        self.sources
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A registered source by its name.
    pub fn source(&self, name: &str) -> Option<Arc<dyn Source>> {
        self.list().iter().find(|s| s.name() == name).cloned()
    }

    /// Registration order, for `/v4/info` (Lavalink: …, local, plugins, http last).
    pub fn source_names(&self) -> Vec<&'static str> {
        self.list().iter().map(|s| s.name()).collect()
    }

    /// Resolves an identifier (blocking; network and disk I/O happen here).
    pub fn load(&self, identifier: &str) -> LoadResult {
        self.load_inner(identifier, true)
    }

    fn load_inner(&self, identifier: &str, allow_playlist: bool) -> LoadResult {
        let mut ident = identifier.to_string();
        let mut title: Option<String> = None;
        let mut descriptor: Option<String> = None;
        for _ in 0..=MAX_HOPS {
            let req = LoadRequest {
                identifier: &ident,
                title: title.as_deref(),
                descriptor: descriptor.as_deref(),
            };
            match self.ask_all(&req) {
                Answer::NotMine | Answer::Empty => return LoadResult::Empty,
                Answer::Track(t) => return LoadResult::Track(t),
                Answer::Playlist {
                    name,
                    selected_track,
                    tracks,
                } => {
                    if !allow_playlist {
                        return match tracks.into_iter().next() {
                            Some(t) => LoadResult::Track(t),
                            None => LoadResult::Empty,
                        };
                    }
                    return LoadResult::Playlist {
                        name,
                        selected_track,
                        tracks,
                    };
                }
                Answer::Search(tracks) => return LoadResult::Search(tracks),
                Answer::Error(e) => return LoadResult::Error(e.to_exception()),
                Answer::Reference {
                    identifier,
                    title: t,
                    descriptor: d,
                } => {
                    ident = identifier;
                    title = t.or(title);
                    descriptor = d;
                }
                Answer::References { name, entries } => {
                    if !allow_playlist {
                        let (first, t) = entries.into_iter().next().unwrap_or_default();
                        ident = first;
                        title = t.or(title);
                        descriptor = None;
                        continue;
                    }
                    return self.load_entries(name, entries);
                }
            }
        }
        LoadResult::Empty
    }

    /// A playlist file with several entries: each entry resolved (no nested playlists).
    fn load_entries(&self, name: String, entries: Vec<(String, Option<String>)>) -> LoadResult {
        let mut tracks = Vec::new();
        let mut first_error = None;
        for (ident, title) in entries.into_iter().take(MAX_PLAYLIST_ENTRIES) {
            let res = match &title {
                Some(t) => self.load_titled(&ident, t),
                None => self.load_inner(&ident, false),
            };
            match res {
                LoadResult::Track(t) => tracks.push(t),
                LoadResult::Playlist { tracks: ts, .. } | LoadResult::Search(ts) => {
                    tracks.extend(ts)
                }
                LoadResult::Error(e) => {
                    first_error.get_or_insert(e);
                }
                LoadResult::Empty => {}
            }
        }
        match (tracks.is_empty(), first_error) {
            (false, _) => LoadResult::Playlist {
                name,
                selected_track: -1,
                tracks,
            },
            (true, Some(e)) => LoadResult::Error(e),
            (true, None) => LoadResult::Empty,
        }
    }

    /// Resolves one playlist entry whose title comes from the playlist file.
    fn load_titled(&self, identifier: &str, title: &str) -> LoadResult {
        let req = LoadRequest {
            identifier,
            title: Some(title),
            descriptor: None,
        };
        match self.ask_all(&req) {
            Answer::Reference {
                identifier: next, ..
            } => self.load_inner(&next, false),
            Answer::Track(t) => LoadResult::Track(t),
            Answer::Playlist { tracks, .. } | Answer::Search(tracks) => {
                match tracks.into_iter().next() {
                    Some(t) => LoadResult::Track(t),
                    None => LoadResult::Empty,
                }
            }
            Answer::Error(e) => LoadResult::Error(e.to_exception()),
            _ => LoadResult::Empty,
        }
    }

    /// Asks each source in registration order; the first that claims the identifier
    /// answers. A reference carrying a container descriptor goes to probing sources only.
    fn ask_all(&self, req: &LoadRequest<'_>) -> Answer {
        for source in self.list().iter() {
            if req.descriptor.is_some() && !source.probes() {
                continue;
            }
            match source.load(req) {
                Answer::NotMine => {}
                other => return other,
            }
        }
        Answer::NotMine
    }

    /// Whether `open` can serve this track: its source is registered and can replay it
    /// (for http/local: its container descriptor names a known probe). Lavalink fails
    /// `decodetrack` (500) for blobs it cannot replay; the control plane uses this check.
    pub fn can_decode(&self, track: &TrackData) -> bool {
        self.source(&track.info.source_name)
            .is_some_and(|s| s.can_decode(track))
    }

    /// Opens a track for decoding (blocking; called by the engine off the hot path).
    pub fn open(&self, track: &TrackData) -> Result<MediaInput, SourceError> {
        match self.source(&track.info.source_name) {
            Some(s) => s.open(track),
            None => Err(SourceError::UnknownDescriptor(
                track.info.source_name.clone(),
            )),
        }
    }
}

/// Whether a http/local track's container descriptor names a known probe.
pub fn descriptor_known(track: &TrackData) -> bool {
    descriptor_of(track).is_some_and(|d| {
        let name = d.split('|').next().unwrap_or(&d);
        probe::ProbeKind::from_name(name).is_some()
    })
}

/// The container descriptor (`mp3`, `m3u|hls-outer`…) stored in an http/local track.
pub fn descriptor_of(track: &TrackData) -> Option<String> {
    crate::track::probe_info(track)
}

/// Track info of a probed item, before it becomes a `TrackData` (sources.md §8.3 assembly).
#[derive(Debug, Clone, Default)]
pub struct ProbedInfo {
    pub title: Option<String>,
    pub author: Option<String>,
    pub length_ms: Option<i64>,
    pub is_stream: Option<bool>,
    pub isrc: Option<String>,
}

/// Builds a probed http/local track: defaults, then the reference title, then `info`.
pub(crate) fn probed_track(
    source_name: &str,
    identifier: &str,
    ref_title: Option<&str>,
    info: ProbedInfo,
    descriptor: &str,
) -> TrackData {
    let nonempty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    let title = nonempty(info.title)
        .or_else(|| ref_title.map(str::to_string))
        .unwrap_or_else(|| "Unknown title".into());
    let author = nonempty(info.author).unwrap_or_else(|| "Unknown artist".into());
    let length = info
        .length_ms
        .filter(|l| *l >= 0)
        .unwrap_or(crate::track::UNKNOWN_LENGTH);
    let is_stream = info
        .is_stream
        .unwrap_or(length == crate::track::UNKNOWN_LENGTH);
    TrackData {
        info: TrackInfo {
            title,
            author,
            length,
            identifier: identifier.to_string(),
            is_stream,
            uri: Some(identifier.to_string()),
            artwork_url: None,
            isrc: nonempty(info.isrc),
            source_name: source_name.to_string(),
        },
        source_data: crate::track::utf_source_data(descriptor),
        position: 0,
    }
}
