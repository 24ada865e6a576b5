//! Apple Music (`applemusic`): catalog metadata with a MusicKit media API token,
//! `amsearch:`, `amprev:` and music.apple.com song/album/playlist/artist URLs; tracks
//! play through the mirror.

use serde_json::Value;

use super::applemusic_token::{parse_jwt, AmToken};
use super::spotify::{Loaded, SearchHits};
use super::{text, url_encode, Extras, PlaylistInfo};
use crate::net::Outbound;
use crate::plugin::config::AppleMusicConfig;
use crate::source::SourceError;
use crate::track::{Severity, TrackData, TrackInfo};

pub const SEARCH_PREFIX: &str = "amsearch:";
pub const PREVIEW_PREFIX: &str = "amprev:";
const API: &str = "https://api.music.apple.com/v1/";
const PREVIEW_LENGTH: i64 = 30_000;
const SEARCH_LIMIT: usize = 25;

pub struct AppleMusic {
    net: Outbound,
    /// Replaced by `PATCH /v4/lavasrc/config`.
    config: std::sync::Mutex<AppleMusicConfig>,
    /// The token in use and the configured value it came from (a scraped one when none
    /// is configured or the configured JWT expired).
    token: std::sync::Mutex<Option<(String, AmToken)>>,
}

fn failure(message: &str, cause: String) -> SourceError {
    SourceError::friendly(message, Severity::Suspicious, cause)
}

impl AppleMusic {
    pub fn new(net: Outbound, config: AppleMusicConfig) -> AppleMusic {
        AppleMusic {
            net,
            config: std::sync::Mutex::new(config),
            token: std::sync::Mutex::new(None),
        }
    }

    /// The developer token: the configured one while valid (a non-JWT value is used as
    /// is), else one signed with the configured team key, else one scraped from the web
    /// player; cached until its `exp`.
    fn token(&self) -> Result<AmToken, SourceError> {
        let configured = self.config().media_api_token;
        let now = crate::server::now_ms() / 1000;
        let mut cell = crate::sync::lock(&self.token);
        if let Some((from, t)) = cell.as_ref() {
            if *from == configured && !t.expired(now) {
                return Ok(t.clone());
            }
        }
        let own = (!configured.is_empty()).then(|| {
            parse_jwt(&configured).unwrap_or(AmToken {
                jwt: configured.clone(),
                origin: None,
                exp: None,
            })
        });
        // No valid configured token: sign one with the team's key when configured
        // (keyID + teamID + musicKitKey), else take the web player's.
        let cfg = self.config();
        let has_key =
            !cfg.key_id.is_empty() && !cfg.team_id.is_empty() && !cfg.music_kit_key.is_empty();
        let t = match own.filter(|t| !t.expired(now)) {
            Some(t) => t,
            None if has_key => {
                super::applemusic_token::sign(&cfg.key_id, &cfg.team_id, &cfg.music_kit_key, now)
                    .map_err(|e| {
                        failure(
                            "Failed to get an Apple Music token.",
                            format!("java.lang.IllegalArgumentException: {e}"),
                        )
                    })?
            }
            None => super::applemusic_token::fetch(&self.net).map_err(|e| {
                failure(
                    "Failed to get an Apple Music token.",
                    format!("java.lang.IllegalStateException: {e}"),
                )
            })?,
        };
        *cell = Some((configured, t.clone()));
        Ok(t)
    }

    pub fn config(&self) -> AppleMusicConfig {
        crate::sync::lock(&self.config).clone()
    }

    /// Applies new settings (`PATCH /v4/lavasrc/config`).
    pub fn update(&self, f: impl FnOnce(&mut AppleMusicConfig)) {
        f(&mut crate::sync::lock(&self.config));
    }

    pub fn claims(identifier: &str) -> bool {
        let id = identifier
            .strip_prefix(PREVIEW_PREFIX)
            .unwrap_or(identifier);
        id.starts_with(SEARCH_PREFIX) || parse_url(id).is_some()
    }

    fn api(&self, path: &str) -> Result<Option<Value>, SourceError> {
        let token = self.token()?;
        let resp = self
            .net
            .get(&format!("{API}{path}"))
            .header("Authorization", &format!("Bearer {}", token.jwt))
            .header("Origin", &token.origin_header())
            .send()
            .map_err(|e| {
                failure(
                    "Failed to load from Apple Music.",
                    format!("java.io.IOException: {e}"),
                )
            })?;
        match resp.status() {
            200 => resp.json().map(Some).map_err(|e| {
                failure(
                    "Failed to parse the Apple Music response.",
                    format!("java.io.IOException: {e}"),
                )
            }),
            404 => Ok(None),
            s => {
                if s == 401 {
                    // A scraped token may have been revoked early: scrape again next time.
                    *crate::sync::lock(&self.token) = None;
                }
                Err(failure(
                    "Failed to load from Apple Music.",
                    format!(
                    "java.lang.IllegalStateException: Server responded with an error (status {s})"
                ),
                ))
            }
        }
    }

    fn cc(&self) -> String {
        self.config().country_code.to_ascii_lowercase()
    }

    pub fn load(&self, identifier: &str) -> Result<Loaded, SourceError> {
        let (id, preview) = match identifier.strip_prefix(PREVIEW_PREFIX) {
            Some(rest) => (rest, true),
            None => (identifier, false),
        };
        let cc = self.cc();
        if let Some(q) = id.strip_prefix(SEARCH_PREFIX) {
            let path = format!(
                "catalog/{cc}/search?term={}&limit={SEARCH_LIMIT}&types=songs",
                url_encode(q.trim())
            );
            let Some(json) = self.api(&path)? else {
                return Ok(Loaded::None);
            };
            let tracks = parse_songs(&json["results"]["songs"]["data"], preview);
            return Ok(if tracks.is_empty() {
                Loaded::None
            } else {
                Loaded::Search(tracks)
            });
        }
        let Some((kind, sid, song)) = parse_url(id) else {
            return Ok(Loaded::None);
        };
        // An album URL with `?i=<song id>` names one song of it.
        if let Some(song) = song {
            return self.song(&cc, song, preview);
        }
        match kind {
            "song" => self.song(&cc, sid, preview),
            "album" | "playlist" => self.collection(&cc, kind, sid, preview),
            "artist" => self.artist(&cc, sid, preview),
            _ => Ok(Loaded::None),
        }
    }

    fn song(&self, cc: &str, id: &str, preview: bool) -> Result<Loaded, SourceError> {
        let Some(json) = self.api(&format!("catalog/{cc}/songs/{id}"))? else {
            return Ok(Loaded::None);
        };
        Ok(parse_song(&json["data"][0], preview).map_or(Loaded::None, Loaded::Track))
    }

    fn collection(
        &self,
        cc: &str,
        kind: &str,
        id: &str,
        preview: bool,
    ) -> Result<Loaded, SourceError> {
        let plural = if kind == "album" {
            "albums"
        } else {
            "playlists"
        };
        let Some(json) = self.api(&format!("catalog/{cc}/{plural}/{id}"))? else {
            return Ok(Loaded::None);
        };
        let item = &json["data"][0];
        let a = &item["attributes"];
        let tracks = parse_songs(&item["relationships"]["tracks"]["data"], preview);
        if tracks.is_empty() {
            return Ok(Loaded::None);
        }
        let author = if kind == "album" {
            text(&a["artistName"])
        } else {
            text(&a["curatorName"])
        };
        let total = item["relationships"]["tracks"]["data"]
            .as_array()
            .map(|v| v.len() as i64)
            .or_else(|| a["trackCount"].as_i64());
        Ok(Loaded::Playlist {
            name: text(&a["name"]).unwrap_or_default(),
            tracks,
            info: PlaylistInfo {
                kind: if kind == "album" { "album" } else { "playlist" },
                url: text(&a["url"]),
                artwork_url: artwork(&a["artwork"]),
                author,
                total_tracks: total,
            },
        })
    }

    fn artist(&self, cc: &str, id: &str, preview: bool) -> Result<Loaded, SourceError> {
        let Some(json) = self.api(&format!("catalog/{cc}/artists/{id}/view/top-songs"))? else {
            return Ok(Loaded::None);
        };
        let tracks = parse_songs(&json["data"], preview);
        if tracks.is_empty() {
            return Ok(Loaded::None);
        }
        let author = tracks[0].info.author.clone();
        let total = tracks.len() as i64;
        Ok(Loaded::Playlist {
            name: format!("{author}'s Top Tracks"),
            tracks,
            info: PlaylistInfo {
                kind: "artist",
                url: Some(format!("https://music.apple.com/{cc}/artist/{id}")),
                artwork_url: None,
                author: Some(author),
                total_tracks: Some(total),
            },
        })
    }

    /// LavaSearch: songs, albums, artists and playlists of one catalog search.
    /// LavaSearch: the catalog search for the asked catalog types and, when `text` is
    /// asked (or nothing is), the search-term suggestions (LavaSrc's `kinds=terms`).
    pub fn search_hits(&self, query: &str, types: &[&str]) -> Result<SearchHits, SourceError> {
        let all = types.is_empty();
        let want = |t: &str| all || types.contains(&t);
        let mut kinds = Vec::new();
        for (t, k) in [
            ("track", "songs"),
            ("album", "albums"),
            ("artist", "artists"),
            ("playlist", "playlists"),
        ] {
            if want(t) {
                kinds.push(k);
            }
        }
        let json = if kinds.is_empty() {
            Value::Null
        } else {
            let path = format!(
                "catalog/{}/search?term={}&limit={SEARCH_LIMIT}&types={}",
                self.cc(),
                url_encode(query),
                kinds.join(",")
            );
            self.api(&path)?.unwrap_or(Value::Null)
        };
        let texts = if want("text") {
            let path = format!(
                "catalog/{}/search/suggestions?term={}&kinds=terms",
                self.cc(),
                url_encode(query)
            );
            let json = self.api(&path)?.unwrap_or(Value::Null);
            suggested_terms(&json)
        } else {
            Vec::new()
        };
        let coll = |k: &str, kind: &'static str| -> Vec<(String, PlaylistInfo)> {
            json["results"][k]["data"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|i| {
                    let a = &i["attributes"];
                    let name = text(&a["name"]).unwrap_or_default();
                    let (title, author) = match kind {
                        "artist" => (format!("{name}'s Top Tracks"), Some(name.clone())),
                        "album" => (name.clone(), text(&a["artistName"])),
                        _ => (name.clone(), text(&a["curatorName"])),
                    };
                    (
                        title,
                        PlaylistInfo {
                            kind,
                            url: text(&a["url"]),
                            artwork_url: artwork(&a["artwork"]),
                            author,
                            total_tracks: a["trackCount"].as_i64(),
                        },
                    )
                })
                .collect()
        };
        Ok(SearchHits {
            tracks: parse_songs(&json["results"]["songs"]["data"], false),
            albums: coll("albums", "album"),
            artists: coll("artists", "artist"),
            playlists: coll("playlists", "playlist"),
            texts,
        })
    }
}

/// `searchTerm`s of a `search/suggestions` answer's `terms` entries, in order.
fn suggested_terms(json: &Value) -> Vec<String> {
    json["results"]["suggestions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["kind"] == "terms")
        .filter_map(|s| text(&s["searchTerm"]))
        .collect()
}

/// `(type, id, song id from ?i=)` of a music.apple.com URL.
pub fn parse_url(s: &str) -> Option<(&'static str, &str, Option<&str>)> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))?;
    let rest = rest.strip_prefix("music.apple.com/")?;
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    // <cc>/<type>/[<slug>/]<id>
    if parts.len() < 3 {
        return None;
    }
    let kind = match parts[1] {
        "song" => "song",
        "album" => "album",
        "playlist" => "playlist",
        "artist" => "artist",
        _ => return None,
    };
    let id = *parts.last()?;
    let song = query.and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("i="))
            .filter(|v| v.chars().all(|c| c.is_ascii_digit()) && !v.is_empty())
    });
    Some((kind, id, song))
}

/// `{w}x{h}` in Apple's artwork template replaced by the image's own size.
fn artwork(a: &Value) -> Option<String> {
    let url = a["url"].as_str()?;
    let w = a["width"].as_i64().unwrap_or(1000).to_string();
    let h = a["height"].as_i64().unwrap_or(1000).to_string();
    Some(url.replace("{w}", &w).replace("{h}", &h))
}

fn parse_songs(v: &Value, preview: bool) -> Vec<TrackData> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["type"].as_str().is_none_or(|t| t == "songs"))
        .filter_map(|s| parse_song(s, preview))
        .collect()
}

/// A catalog `songs` resource → a LavaSrc track.
pub fn parse_song(json: &Value, preview: bool) -> Option<TrackData> {
    let id = json["id"].as_str()?;
    let a = &json["attributes"];
    let song_url = text(&a["url"]);
    // The album URL is the song URL without its `?i=` part.
    let album_url = song_url
        .as_deref()
        .map(|u| u.split('?').next().unwrap_or(u).to_string());
    let info = TrackInfo {
        title: text(&a["name"]).unwrap_or_else(|| "Unknown title".into()),
        author: text(&a["artistName"]).unwrap_or_else(|| "Unknown artist".into()),
        length: if preview {
            PREVIEW_LENGTH
        } else {
            a["durationInMillis"].as_i64().unwrap_or(0)
        },
        identifier: id.to_string(),
        is_stream: false,
        uri: song_url,
        artwork_url: artwork(&a["artwork"]),
        isrc: text(&a["isrc"]),
        source_name: "applemusic".into(),
    };
    let extras = Extras {
        album_name: text(&a["albumName"]),
        album_url,
        artist_url: text(&json["relationships"]["artists"]["data"][0]["attributes"]["url"]),
        artist_artwork_url: artwork(
            &json["relationships"]["artists"]["data"][0]["attributes"]["artwork"],
        ),
        preview_url: text(&a["previews"][0]["url"]),
        is_preview: preview,
    };
    Some(super::track(info, &extras))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("https://music.apple.com/us/album/discovery/697194953?i=697195462"),
            Some(("album", "697194953", Some("697195462")))
        );
        assert_eq!(
            parse_url("https://music.apple.com/us/playlist/x/pl.abc"),
            Some(("playlist", "pl.abc", None))
        );
        assert_eq!(parse_url("https://music.apple.com/us/browse"), None);
    }
}
