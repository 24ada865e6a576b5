//! LavaSrc (`lavasrc-plugin`): Spotify, Apple Music and Deezer as metadata sources whose
//! tracks play through a mirror (another source's search), plus LRCLIB lyrics.
//!
//! Tracks carry LavaSrc's extra blob bytes (five nullable UTFs and a bool, sources.md
//! §0.4), so `pluginInfo` is re-derived from the blob alone and survives `decodetrack`.

pub mod applemusic;
pub mod applemusic_token;
pub mod deezer;
pub mod deezer_stream;
#[cfg(feature = "plugin-lavalyrics")]
pub mod lyrics;
pub mod mirror;
pub mod spotify;
pub mod spotify_token;
pub mod youtube;

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
        let next = |pos: &mut usize| -> Option<String> {
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
    let mut recent = crate::sync::lock(&RECENT_PLAYLISTS);
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
    let recent = crate::sync::lock(&RECENT_PLAYLISTS);
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

// ---------------------------------------------------------------------------------------
// Sources registered with the node's loader.

use std::sync::Arc;

use crate::config::Config;
use crate::source::{Answer, LoadRequest, MediaInput, Source, SourceError, SourceManager};

/// The API clients of the enabled LavaSrc sources (also used by LavaSearch).
#[derive(Clone, Default)]
pub struct Clients {
    pub spotify: Option<Arc<spotify::Spotify>>,
    pub applemusic: Option<Arc<applemusic::AppleMusic>>,
    pub deezer: Option<Arc<deezer::Deezer>>,
}

/// Clients per configuration, so the loader's sources, LavaSearch and
/// `PATCH /v4/lavasrc/config` share one token cache and one set of credentials.
static SHARED: Mutex<Vec<(String, Clients)>> = Mutex::new(Vec::new());

impl Clients {
    /// The clients of `config`, made once per distinct configuration in this process.
    pub fn shared(config: &Config) -> Clients {
        let key = format!("{config:?}");
        let mut all = crate::sync::lock(&SHARED);
        if let Some((_, c)) = all.iter().find(|(k, _)| *k == key) {
            return c.clone();
        }
        let c = Clients::new(config);
        if all.len() >= 16 {
            all.remove(0);
        }
        all.push((key, c.clone()));
        c
    }

    pub fn new(config: &Config) -> Clients {
        let c = &config.plugins.lavasrc;
        let net = crate::net::Outbound::new(config);
        Clients {
            spotify: c
                .sources
                .spotify
                .then(|| Arc::new(spotify::Spotify::new(net.clone(), c.spotify.clone()))),
            applemusic: c.sources.applemusic.then(|| {
                Arc::new(applemusic::AppleMusic::new(
                    net.clone(),
                    c.applemusic.clone(),
                ))
            }),
            deezer: c
                .sources
                .deezer
                .then(|| Arc::new(deezer::Deezer::new(net.clone(), c.deezer.clone()))),
        }
    }
}

#[derive(Clone)]
enum Catalog {
    Spotify(Arc<spotify::Spotify>),
    AppleMusic(Arc<applemusic::AppleMusic>),
    Deezer(Arc<deezer::Deezer>),
}

impl Catalog {
    fn name(&self) -> &'static str {
        match self {
            Catalog::Spotify(_) => "spotify",
            Catalog::AppleMusic(_) => "applemusic",
            Catalog::Deezer(_) => "deezer",
        }
    }

    fn claims(&self, id: &str) -> bool {
        match self {
            Catalog::Spotify(_) => spotify::Spotify::claims(id),
            Catalog::AppleMusic(_) => applemusic::AppleMusic::claims(id),
            Catalog::Deezer(_) => deezer::Deezer::claims(id),
        }
    }

    fn load(&self, id: &str) -> Result<spotify::Loaded, SourceError> {
        match self {
            Catalog::Spotify(c) => c.load(id),
            Catalog::AppleMusic(c) => c.load(id),
            Catalog::Deezer(c) => c.load(id),
        }
    }
}

/// One LavaSrc source as the loader sees it: metadata from its catalog, audio through
/// the mirror (set once the mirror's own loader exists).
struct CatalogSource {
    catalog: Catalog,
    mirror: Option<Arc<mirror::Mirror>>,
}

impl Source for CatalogSource {
    fn name(&self) -> &'static str {
        self.catalog.name()
    }

    fn load(&self, req: &LoadRequest<'_>) -> Answer {
        if req.descriptor.is_some() || !self.catalog.claims(req.identifier) {
            return Answer::NotMine;
        }
        match self.catalog.load(req.identifier) {
            Ok(spotify::Loaded::None) => Answer::Empty,
            Ok(spotify::Loaded::Track(t)) => Answer::Track(t),
            Ok(spotify::Loaded::Search(ts)) => Answer::Search(ts),
            Ok(spotify::Loaded::Playlist { name, tracks, info }) => {
                remember_playlist(&name, &tracks, info);
                Answer::Playlist {
                    name,
                    selected_track: -1,
                    tracks,
                }
            }
            Err(e) => Answer::Error(e),
        }
    }

    fn open(&self, track: &TrackData) -> Result<MediaInput, SourceError> {
        // Deezer full streams where configured (master key + arl); previews and failures
        // go through the mirror as before.
        if let Catalog::Deezer(d) = &self.catalog {
            let c = d.config();
            if !c.master_decryption_key.is_empty()
                && !c.arl.is_empty()
                && !Extras::decode(&track.source_data).is_preview
            {
                match deezer_stream::open(d, track) {
                    Ok(input) => return Ok(input),
                    Err(e) => log::warn!(
                        "deezer: full stream of {} failed ({e}); trying the mirror",
                        track.info.identifier
                    ),
                }
            }
        }
        match &self.mirror {
            Some(m) => m.open(track),
            None => Err(SourceError::friendly(
                "No mirror found for track",
                crate::track::Severity::Common,
                "com.sedmelluq.discord.lavaplayer.tools.FriendlyException: No mirror found for track",
            )),
        }
    }
}

/// The mirror providers in effect: the configured list, with `dzisrc:%ISRC%` first when
/// the Deezer source is on and the list does not name it already.
pub fn effective_providers(config: &Config) -> Vec<String> {
    let c = &config.plugins.lavasrc;
    let mut providers = c.providers.clone();
    if c.sources.deezer && !providers.iter().any(|p| p.starts_with(deezer::ISRC_PREFIX)) {
        providers.insert(0, format!("{}%ISRC%", deezer::ISRC_PREFIX));
    }
    providers
}

/// LavaSrc's sources for `SourceManager`, in LavaSrc's order (Spotify, Apple Music,
/// Deezer). Their mirror resolves through a second loader holding every other source
/// (and Deezer, for `dzisrc:`), so a mirrored track never resolves to itself.
pub fn sources(config: &Config) -> Vec<Box<dyn Source>> {
    let clients = Clients::shared(config);
    let deezer_source = |mirror: Option<Arc<mirror::Mirror>>| -> Option<Box<dyn Source>> {
        clients.deezer.clone().map(|d| {
            Box::new(CatalogSource {
                catalog: Catalog::Deezer(d),
                mirror,
            }) as Box<dyn Source>
        })
    };
    let inner =
        SourceManager::with_plugin_sources(config, deezer_source(None).into_iter().collect());
    let mirror = Arc::new(mirror::Mirror::new(effective_providers(config), inner));
    let mut out: Vec<Box<dyn Source>> = Vec::new();
    if let Some(s) = clients.spotify.clone() {
        out.push(Box::new(CatalogSource {
            catalog: Catalog::Spotify(s),
            mirror: Some(mirror.clone()),
        }));
    }
    if let Some(a) = clients.applemusic.clone() {
        out.push(Box::new(CatalogSource {
            catalog: Catalog::AppleMusic(a),
            mirror: Some(mirror.clone()),
        }));
    }
    out.extend(deezer_source(Some(mirror)));
    out
}

// ---------------------------------------------------------------------------------------
// `PATCH /v4/lavasrc/config`: credentials at run time (not persisted).

/// Applies a `PATCH /v4/lavasrc/config` body. Every field is optional; only present ones
/// change anything; Spotify's id and secret only as a pair; sections of sources that are
/// off are ignored, as are sections Basalt has no source for.
pub fn patch_config(clients: &Clients, body: &Value) -> Result<(), String> {
    let Value::Object(root) = body else {
        return Err("Request body must be a JSON object".into());
    };
    let field = |section: &Value, key: &str| -> Result<Option<String>, String> {
        match &section[key] {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            _ => Err(format!("Field '{key}' must be a string")),
        }
    };
    if let (Some(sp), Some(section)) = (&clients.spotify, root.get("spotify")) {
        let id = field(section, "clientId")?;
        let secret = field(section, "clientSecret")?;
        let sp_dc = field(section, "spDc")?;
        let endpoint = field(section, "customTokenEndpoint")?;
        sp.update(|c| {
            if let (Some(id), Some(secret)) = (id, secret) {
                c.client_id = id;
                c.client_secret = secret;
            }
            if let Some(v) = sp_dc {
                c.sp_dc = v;
            }
            if let Some(v) = endpoint {
                c.custom_token_endpoint = v;
            }
        });
    }
    if let (Some(dz), Some(section)) = (&clients.deezer, root.get("deezer")) {
        let arl = field(section, "arl")?;
        let formats = match &section["formats"] {
            Value::Null => None,
            Value::Array(items) => {
                let mut out = Vec::new();
                for f in items {
                    match f.as_str() {
                        Some(f) if crate::plugin::config::DEEZER_FORMATS.contains(&f) => {
                            out.push(f.to_string())
                        }
                        _ => return Err(format!("Unknown Deezer format {f}")),
                    }
                }
                Some(out)
            }
            _ => return Err("Field 'formats' must be an array of strings".into()),
        };
        dz.update(|c| {
            if let Some(a) = arl {
                c.arl = a;
            }
            if let Some(f) = formats {
                c.formats = f;
            }
        });
    }
    if let (Some(am), Some(section)) = (&clients.applemusic, root.get("appleMusic")) {
        if let Some(token) = field(section, "mediaAPIToken")? {
            am.update(|c| c.media_api_token = token);
        }
    }
    Ok(())
}
