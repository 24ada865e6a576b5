//! Spotify (`spotify`): Web API metadata (as of 2026: playlist entries at `/items`,
//! search `limit` ≤ 10), tracks played through the mirror.
//!
//! Identifiers: `spsearch:<query>`, `sprec:<seed query>`, `spprev:<any of these>` (load as
//! 30 s previews) and open.spotify.com track/album/playlist/artist URLs.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{text, url_encode, Extras, PlaylistInfo};
use crate::net::Outbound;
use crate::plugin::config::SpotifyConfig;
use crate::source::SourceError;
use crate::track::{Severity, TrackData, TrackInfo};

pub const SEARCH_PREFIX: &str = "spsearch:";
pub const REC_PREFIX: &str = "sprec:";
pub const PREVIEW_PREFIX: &str = "spprev:";
/// Share links (`https://spotify.link/<code>`) redirect to an open.spotify.com URL.
pub const SHARE_URL: &str = "https://spotify.link/";
const API: &str = "https://api.spotify.com/v1/";
const TOKEN_URL: &str = "https://accounts.spotify.com/api/token";
const PREVIEW_LENGTH: i64 = 30_000;
/// The Web API's 2026 ceiling for `search?limit=`.
pub const SEARCH_LIMIT: usize = 10;
const PLAYLIST_PAGE: usize = 100;
const ALBUM_PAGE: usize = 50;

/// What a Spotify load produced.
pub enum Loaded {
    None,
    Track(TrackData),
    Search(Vec<TrackData>),
    Playlist {
        name: String,
        tracks: Vec<TrackData>,
        info: PlaylistInfo,
    },
}

/// Playlist-like search hits for LavaSearch (no tracks, their info only).
pub struct SearchHits {
    pub tracks: Vec<TrackData>,
    pub albums: Vec<(String, PlaylistInfo)>,
    pub artists: Vec<(String, PlaylistInfo)>,
    pub playlists: Vec<(String, PlaylistInfo)>,
    /// Suggested search terms (LavaSearch `texts`); empty for catalogs without them.
    pub texts: Vec<String>,
}

pub struct Spotify {
    net: Outbound,
    /// Replaced by `PATCH /v4/lavasrc/config`.
    config: Mutex<SpotifyConfig>,
    token: Mutex<Option<(String, Instant)>>,
    /// The account's web-player token (`sp_dc`), for lyrics, and the cookie it came from.
    account: Mutex<Option<(String, String, Instant)>>,
}

fn failure(message: &str, severity: Severity, cause: String) -> SourceError {
    SourceError::Friendly {
        message: message.into(),
        severity,
        cause,
    }
}

impl Spotify {
    pub fn new(net: Outbound, config: SpotifyConfig) -> Spotify {
        Spotify {
            net,
            config: Mutex::new(config),
            token: Mutex::new(None),
            account: Mutex::new(None),
        }
    }

    pub fn outbound(&self) -> &Outbound {
        &self.net
    }

    /// The account's web-player token from the `sp_dc` cookie (lyrics), cached until a
    /// minute before it expires.
    pub fn account_token(&self) -> Result<String, SourceError> {
        let c = self.config();
        if c.sp_dc.is_empty() {
            return Err(token_error("Spotify spDc must be set".into()));
        }
        let mut cell = crate::sync::lock(&self.account);
        if let Some((dc, t, until)) = cell.as_ref() {
            if *dc == c.sp_dc && Instant::now() < *until {
                return Ok(t.clone());
            }
        }
        let t = super::spotify_token::fetch(&self.net, &c.custom_token_endpoint, Some(&c.sp_dc))
            .map_err(token_error)?;
        let left = Duration::from_millis((t.expires_ms - crate::server::now_ms()).max(0) as u64);
        let until = Instant::now() + left.saturating_sub(Duration::from_secs(60));
        *cell = Some((c.sp_dc.clone(), t.access_token.clone(), until));
        Ok(t.access_token)
    }

    /// The Spotify id for any track: its own for Spotify tracks, else the first search hit
    /// for `isrc:<ISRC>`, else for `title author` (LavaSrc's lyrics lookup).
    pub fn find_id(&self, track: &TrackData) -> Result<Option<String>, SourceError> {
        if track.info.source_name == "spotify" {
            return Ok(Some(track.info.identifier.clone()));
        }
        let mut queries = Vec::new();
        if let Some(isrc) = track.info.isrc.as_deref().filter(|i| !i.is_empty()) {
            queries.push(format!("isrc:{isrc}"));
        }
        queries.push(format!("{} {}", track.info.title, track.info.author));
        for q in queries {
            if let Loaded::Search(ts) = self.search(&q, false)? {
                if let Some(t) = ts.first() {
                    return Ok(Some(t.info.identifier.clone()));
                }
            }
        }
        Ok(None)
    }

    /// The settings in effect now.
    pub fn config(&self) -> SpotifyConfig {
        crate::sync::lock(&self.config).clone()
    }

    /// Applies new settings (`PATCH /v4/lavasrc/config`); a new credential drops the token.
    pub fn update(&self, f: impl FnOnce(&mut SpotifyConfig)) {
        let mut c = crate::sync::lock(&self.config);
        let before = (
            c.client_id.clone(),
            c.client_secret.clone(),
            c.custom_token_endpoint.clone(),
        );
        f(&mut c);
        if before
            != (
                c.client_id.clone(),
                c.client_secret.clone(),
                c.custom_token_endpoint.clone(),
            )
        {
            *crate::sync::lock(&self.token) = None;
        }
    }

    /// A bearer token: client credentials when configured, else the web player's
    /// anonymous token; cached until a minute before it expires (then refreshed).
    fn token(&self) -> Result<String, SourceError> {
        let mut guard = crate::sync::lock(&self.token);
        if let Some((t, until)) = guard.as_ref() {
            if Instant::now() < *until {
                return Ok(t.clone());
            }
        }
        let c = self.config();
        let c = &c;
        let (token, ttl) = if !c.client_id.is_empty() {
            let basic = base64_encode(format!("{}:{}", c.client_id, c.client_secret).as_bytes());
            let resp = self
                .net
                .post(TOKEN_URL)
                .header("Authorization", &format!("Basic {basic}"))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .map_err(|e| token_error(e.to_string()))?;
            let status = resp.status();
            let json = resp.json().map_err(|e| token_error(e.to_string()))?;
            if status != 200 {
                return Err(token_error(format!("status {status}: {json}")));
            }
            let tok = text(&json["access_token"]).ok_or_else(|| token_error(json.to_string()))?;
            let secs = json["expires_in"].as_u64().unwrap_or(3600);
            (tok, Duration::from_secs(secs))
        } else {
            // No client credentials: the web player's anonymous token (the custom
            // endpoint when configured, else Spotify's own with the TOTP).
            let t = super::spotify_token::fetch(&self.net, &c.custom_token_endpoint, None)
                .map_err(token_error)?;
            let left = t.expires_ms - crate::server::now_ms();
            (t.access_token, Duration::from_millis(left.max(0) as u64))
        };
        let until = Instant::now() + ttl.saturating_sub(Duration::from_secs(60));
        *guard = Some((token.clone(), until));
        Ok(token)
    }

    /// GET an API path; `Ok(None)` for 404 (LavaSrc: nothing found).
    fn api(&self, path: &str) -> Result<Option<Value>, SourceError> {
        let token = self.token()?;
        let url = format!("{API}{path}");
        let resp = self
            .net
            .get(&url)
            .header("Authorization", &format!("Bearer {token}"))
            .send()
            .map_err(|e| {
                failure(
                    "Failed to load from Spotify.",
                    Severity::Suspicious,
                    format!("java.io.IOException: {e}"),
                )
            })?;
        let status = resp.status();
        if status == 404 {
            return Ok(None);
        }
        if status == 401 {
            *crate::sync::lock(&self.token) = None;
        }
        if status != 200 {
            let body = resp.text().unwrap_or_default();
            return Err(failure(
                "Failed to load from Spotify.",
                Severity::Suspicious,
                format!("java.lang.IllegalStateException: Server responded with an error (status {status}): {body}"),
            ));
        }
        resp.json().map(Some).map_err(|e| {
            failure(
                "Failed to parse the Spotify response.",
                Severity::Suspicious,
                format!("java.io.IOException: {e}"),
            )
        })
    }

    /// Whether this identifier is Spotify's (before any request is made).
    pub fn claims(identifier: &str) -> bool {
        let id = identifier
            .strip_prefix(PREVIEW_PREFIX)
            .unwrap_or(identifier);
        id.starts_with(SEARCH_PREFIX)
            || id.starts_with(REC_PREFIX)
            || id.starts_with(SHARE_URL)
            || parse_url(id).is_some()
    }

    /// Where a share link points: its redirect (not followed) when that is an
    /// open.spotify.com URL; `None` otherwise (LavaSrc: nothing found).
    fn resolve_share(&self, link: &str) -> Result<Option<String>, SourceError> {
        let resp = self
            .net
            .request(crate::net::Method::HEAD, link)
            .follow_redirects(false)
            .send()
            .map_err(|e| {
                failure(
                    "Failed to load from Spotify.",
                    Severity::Suspicious,
                    format!("java.io.IOException: {e}"),
                )
            })?;
        if !(300..400).contains(&resp.status()) {
            return Ok(None);
        }
        Ok(resp
            .header("location")
            .filter(|l| l.starts_with("https://open.spotify.com/"))
            .map(str::to_string))
    }

    pub fn load(&self, identifier: &str) -> Result<Loaded, SourceError> {
        let (id, preview) = match identifier.strip_prefix(PREVIEW_PREFIX) {
            Some(rest) => (rest, true),
            None => (identifier, false),
        };
        if let Some(q) = id.strip_prefix(SEARCH_PREFIX) {
            return self.search(q.trim(), preview);
        }
        if let Some(q) = id.strip_prefix(REC_PREFIX) {
            return self.recommendations(q.trim(), preview);
        }
        if id.starts_with(SHARE_URL) {
            let Some(target) = self.resolve_share(id)? else {
                return Ok(Loaded::None);
            };
            if target.starts_with(SHARE_URL) {
                return Ok(Loaded::None); // a link to a link: no loop
            }
            return self.load(&if preview {
                format!("{PREVIEW_PREFIX}{target}")
            } else {
                target
            });
        }
        match parse_url(id) {
            Some(("track", sid)) => self.track(sid, preview),
            Some(("album", sid)) => self.album(sid, preview),
            Some(("playlist", sid)) => self.playlist(sid, preview),
            Some(("artist", sid)) => self.artist(sid, preview),
            _ => Ok(Loaded::None),
        }
    }

    fn search(&self, query: &str, preview: bool) -> Result<Loaded, SourceError> {
        let path = format!(
            "search?q={}&type=track&limit={SEARCH_LIMIT}",
            url_encode(query)
        );
        let Some(json) = self.api(&path)? else {
            return Ok(Loaded::None);
        };
        let tracks = parse_items(&json["tracks"]["items"], preview);
        if tracks.is_empty() {
            return Ok(Loaded::None);
        }
        Ok(Loaded::Search(tracks))
    }

    fn recommendations(&self, query: &str, preview: bool) -> Result<Loaded, SourceError> {
        let Some(json) = self.api(&format!("recommendations?{query}"))? else {
            return Ok(Loaded::None);
        };
        let tracks = parse_items(&json["tracks"], preview);
        if tracks.is_empty() {
            return Ok(Loaded::None);
        }
        Ok(Loaded::Playlist {
            name: "Spotify Recommendations:".into(),
            tracks,
            info: PlaylistInfo {
                kind: "recommendations",
                url: None,
                artwork_url: None,
                author: None,
                total_tracks: None,
            },
        })
    }

    fn artist_images(&self, artist: &Value) -> Option<String> {
        let id = artist["id"].as_str()?;
        let json = self.api(&format!("artists/{id}")).ok()??;
        text(&json["images"][0]["url"])
    }

    fn track(&self, id: &str, preview: bool) -> Result<Loaded, SourceError> {
        let Some(json) = self.api(&format!("tracks/{id}"))? else {
            return Ok(Loaded::None);
        };
        let artwork = self.artist_images(&json["artists"][0]);
        match parse_track(&json, preview, artwork) {
            Some(t) => Ok(Loaded::Track(t)),
            None => Ok(Loaded::None),
        }
    }

    fn album(&self, id: &str, preview: bool) -> Result<Loaded, SourceError> {
        let Some(album) = self.api(&format!("albums/{id}"))? else {
            return Ok(Loaded::None);
        };
        let artwork = self.artist_images(&album["artists"][0]);
        let mut tracks = Vec::new();
        let mut offset = 0;
        for _ in 0..self.config().album_load_limit.max(1) {
            let Some(page) = self.api(&format!(
                "albums/{id}/tracks?limit={ALBUM_PAGE}&offset={offset}"
            ))?
            else {
                break;
            };
            for item in page["items"].as_array().into_iter().flatten() {
                // Album pages hold simplified tracks: the album comes from the parent.
                let mut full = item.clone();
                if let Value::Object(m) = &mut full {
                    m.insert("album".into(), album.clone());
                }
                tracks.extend(parse_track(&full, preview, artwork.clone()));
            }
            offset += ALBUM_PAGE;
            if page["next"].as_str().is_none() {
                break;
            }
        }
        if tracks.is_empty() {
            return Ok(Loaded::None);
        }
        Ok(Loaded::Playlist {
            name: text(&album["name"]).unwrap_or_default(),
            tracks,
            info: PlaylistInfo {
                kind: "album",
                url: text(&album["external_urls"]["spotify"]),
                artwork_url: text(&album["images"][0]["url"]),
                author: text(&album["artists"][0]["name"]),
                total_tracks: album["total_tracks"].as_i64(),
            },
        })
    }

    fn playlist(&self, id: &str, preview: bool) -> Result<Loaded, SourceError> {
        let Some(pl) = self.api(&format!("playlists/{id}"))? else {
            return Ok(Loaded::None);
        };
        let mut tracks = Vec::new();
        let mut offset = 0;
        for _ in 0..self.config().playlist_load_limit.max(1) {
            let Some(page) = self.api(&format!(
                "playlists/{id}/items?limit={PLAYLIST_PAGE}&offset={offset}"
            ))?
            else {
                break;
            };
            for entry in page["items"].as_array().into_iter().flatten() {
                // 2026: the entry's object is `item` (formerly `track`).
                let t = if entry["item"].is_object() {
                    &entry["item"]
                } else {
                    &entry["track"]
                };
                if !t.is_object() || t["is_local"].as_bool().unwrap_or(false) {
                    continue;
                }
                if t["type"].as_str().is_some_and(|ty| ty != "track") {
                    continue; // podcast episodes
                }
                tracks.extend(parse_track(t, preview, None));
            }
            offset += PLAYLIST_PAGE;
            if page["next"].as_str().is_none() {
                break;
            }
        }
        if tracks.is_empty() {
            return Ok(Loaded::None);
        }
        let total = pl["items"]["total"]
            .as_i64()
            .or_else(|| pl["tracks"]["total"].as_i64());
        Ok(Loaded::Playlist {
            name: text(&pl["name"]).unwrap_or_default(),
            tracks,
            info: PlaylistInfo {
                kind: "playlist",
                url: text(&pl["external_urls"]["spotify"]),
                artwork_url: text(&pl["images"][0]["url"]),
                author: text(&pl["owner"]["display_name"]),
                total_tracks: total,
            },
        })
    }

    fn artist(&self, id: &str, preview: bool) -> Result<Loaded, SourceError> {
        let Some(artist) = self.api(&format!("artists/{id}"))? else {
            return Ok(Loaded::None);
        };
        let market = self.config().country_code;
        let Some(top) = self.api(&format!("artists/{id}/top-tracks?market={market}"))? else {
            return Ok(Loaded::None);
        };
        let artwork = text(&artist["images"][0]["url"]);
        let tracks: Vec<TrackData> = top["tracks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| parse_track(t, preview, artwork.clone()))
            .collect();
        if tracks.is_empty() {
            return Ok(Loaded::None);
        }
        let name = text(&artist["name"]).unwrap_or_default();
        Ok(Loaded::Playlist {
            name: format!("{name}'s Top Tracks"),
            tracks,
            info: PlaylistInfo {
                kind: "artist",
                url: text(&artist["external_urls"]["spotify"]),
                artwork_url: artwork,
                author: Some(name),
                total_tracks: None,
            },
        })
    }

    /// LavaSearch: one `search` call for the asked types (all four when none asked).
    pub fn search_hits(&self, query: &str, types: &[&str]) -> Result<SearchHits, SourceError> {
        let kinds: Vec<&str> = if types.is_empty() {
            vec!["album", "artist", "playlist", "track"]
        } else {
            types.to_vec()
        };
        let path = format!(
            "search?q={}&type={}&limit={SEARCH_LIMIT}",
            url_encode(query),
            kinds.join(",")
        );
        let json = self.api(&path)?.unwrap_or(Value::Null);
        let list = |k: &str| json[k]["items"].as_array().cloned().unwrap_or_default();
        let albums = list("albums")
            .iter()
            .filter(|a| a.is_object())
            .map(|a| {
                (
                    text(&a["name"]).unwrap_or_default(),
                    PlaylistInfo {
                        kind: "album",
                        url: text(&a["external_urls"]["spotify"]),
                        artwork_url: text(&a["images"][0]["url"]),
                        author: text(&a["artists"][0]["name"]),
                        total_tracks: a["total_tracks"].as_i64(),
                    },
                )
            })
            .collect();
        let artists = list("artists")
            .iter()
            .filter(|a| a.is_object())
            .map(|a| {
                let name = text(&a["name"]).unwrap_or_default();
                (
                    format!("{name}'s Top Tracks"),
                    PlaylistInfo {
                        kind: "artist",
                        url: text(&a["external_urls"]["spotify"]),
                        artwork_url: text(&a["images"][0]["url"]),
                        author: Some(name),
                        total_tracks: None,
                    },
                )
            })
            .collect();
        let playlists = list("playlists")
            .iter()
            .filter(|p| p.is_object())
            .map(|p| {
                (
                    text(&p["name"]).unwrap_or_default(),
                    PlaylistInfo {
                        kind: "playlist",
                        url: text(&p["external_urls"]["spotify"]),
                        artwork_url: text(&p["images"][0]["url"]),
                        author: text(&p["owner"]["display_name"]),
                        total_tracks: p["items"]["total"]
                            .as_i64()
                            .or_else(|| p["tracks"]["total"].as_i64()),
                    },
                )
            })
            .collect();
        Ok(SearchHits {
            tracks: parse_items(&json["tracks"]["items"], false),
            albums,
            artists,
            playlists,
            texts: Vec::new(),
        })
    }
}

fn token_error(cause: String) -> SourceError {
    failure(
        "Failed to get a Spotify access token.",
        Severity::Suspicious,
        format!("java.lang.RuntimeException: Access token refreshing failed: {cause}"),
    )
}

/// `(type, id)` of an open.spotify.com URL (optional locale and `user/<name>/` parts).
pub fn parse_url(s: &str) -> Option<(&'static str, &str)> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))?;
    let rest = rest.strip_prefix("www.").unwrap_or(rest);
    let rest = rest.strip_prefix("open.spotify.com/")?;
    let mut parts = rest.split('/').peekable();
    let mut kind = parts.next()?;
    if kind.starts_with("intl-")
        || (kind.len() == 2 && kind.chars().all(|c| c.is_ascii_alphabetic()))
    {
        kind = parts.next()?;
    }
    if kind == "user" {
        parts.next()?;
        kind = parts.next()?;
    }
    let kind = match kind {
        "track" => "track",
        "album" => "album",
        "playlist" => "playlist",
        "artist" => "artist",
        _ => return None,
    };
    let id = parts.next()?;
    let id = id.split(['?', '#']).next()?;
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return None;
    }
    Some((kind, id))
}

fn parse_items(v: &Value, preview: bool) -> Vec<TrackData> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter(|t| !t["is_local"].as_bool().unwrap_or(false))
        .filter_map(|t| parse_track(t, preview, None))
        .collect()
}

/// A Web API track object → a LavaSrc track (sources.md §7 mapping).
pub fn parse_track(
    json: &Value,
    preview: bool,
    artist_artwork: Option<String>,
) -> Option<TrackData> {
    let id = json["id"].as_str()?;
    let title = text(&json["name"]).unwrap_or_else(|| "Unknown title".into());
    let author = text(&json["artists"][0]["name"]).unwrap_or_else(|| "Unknown".into());
    let length = if preview {
        PREVIEW_LENGTH
    } else {
        json["duration_ms"].as_i64().unwrap_or(0)
    };
    let info = TrackInfo {
        title,
        author,
        length,
        identifier: id.to_string(),
        is_stream: false,
        uri: text(&json["external_urls"]["spotify"]),
        artwork_url: text(&json["album"]["images"][0]["url"]),
        isrc: text(&json["external_ids"]["isrc"]),
        source_name: "spotify".into(),
    };
    let extras = Extras {
        album_name: text(&json["album"]["name"]),
        album_url: text(&json["album"]["external_urls"]["spotify"]),
        artist_url: text(&json["artists"][0]["external_urls"]["spotify"]),
        artist_artwork_url: artist_artwork
            .or_else(|| text(&json["artists"][0]["images"][0]["url"])),
        preview_url: text(&json["preview_url"]),
        is_preview: preview,
    };
    Some(super::track(info, &extras))
}

/// Standard base64 with padding (for the client-credentials Basic header).
fn base64_encode(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for chunk in b.chunks(3) {
        let n = (chunk[0] as u32) << 16
            | (*chunk.get(1).unwrap_or(&0) as u32) << 8
            | *chunk.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC?si=x"),
            Some(("track", "4uLU6hMCjMI75M1A2tKUQC"))
        );
        assert_eq!(
            parse_url("https://open.spotify.com/intl-de/album/abc"),
            Some(("album", "abc"))
        );
        assert_eq!(
            parse_url("https://open.spotify.com/user/bob/playlist/p1"),
            Some(("playlist", "p1"))
        );
        assert_eq!(parse_url("https://open.spotify.com/show/x"), None);
        assert_eq!(parse_url("https://example.com/track/x"), None);
    }

    #[test]
    fn basic_auth() {
        assert_eq!(base64_encode(b"id:secret"), "aWQ6c2VjcmV0");
        assert_eq!(base64_encode(b"a"), "YQ==");
    }

    #[test]
    fn track_mapping() {
        let j: Value = serde_json::from_str(
            r#"{"album":{"name":"Al","external_urls":{"spotify":"https://open.spotify.com/album/a1"},
               "images":[{"url":"https://i.scdn.co/image/big","height":640},{"url":"small"}]},
               "artists":[{"id":"ar1","name":"Artist \"Q\"","external_urls":{"spotify":"https://open.spotify.com/artist/ar1"}},{"name":"B"}],
               "duration_ms":201000,"external_ids":{"isrc":"USUM71703861"},
               "external_urls":{"spotify":"https://open.spotify.com/track/t1"},"id":"t1",
               "is_local":false,"name":"Song","preview_url":null,"type":"track","popularity":5}"#,
        )
        .unwrap();
        let t = parse_track(&j, false, Some("https://art".into())).unwrap();
        assert_eq!(t.info.author, "Artist \"Q\"");
        assert_eq!(t.info.length, 201000);
        assert_eq!(t.info.isrc.as_deref(), Some("USUM71703861"));
        assert_eq!(
            t.info.artwork_url.as_deref(),
            Some("https://i.scdn.co/image/big")
        );
        let e = Extras::decode(&t.source_data);
        assert_eq!(
            e.album_url.as_deref(),
            Some("https://open.spotify.com/album/a1")
        );
        assert_eq!(e.artist_artwork_url.as_deref(), Some("https://art"));
        assert_eq!(e.preview_url, None);
        assert!(!e.is_preview);
    }
}
