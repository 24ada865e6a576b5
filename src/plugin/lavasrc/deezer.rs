//! Deezer (`deezer`): public API metadata (no key needed), `dzsearch:`, `dzisrc:<ISRC>`,
//! `dzrec:<track id>` and deezer.com track/album/playlist/artist URLs.
//!
//! Full streams need a logged-in `arl` and a decryption key; Basalt plays Deezer tracks
//! through the mirror providers instead (and `dzisrc:` is itself a mirror provider).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::spotify::Loaded;
use super::{text, url_encode, Extras, PlaylistInfo};
use crate::net::Outbound;
use crate::plugin::config::DeezerConfig;
use crate::source::SourceError;
use crate::track::{Severity, TrackData, TrackInfo};

pub const SEARCH_PREFIX: &str = "dzsearch:";
pub const ISRC_PREFIX: &str = "dzisrc:";
pub const REC_PREFIX: &str = "dzrec:";
pub const PREVIEW_PREFIX: &str = "dzprev:";
const API: &str = "https://api.deezer.com/2.0";
const PRIVATE_API: &str = "https://www.deezer.com/ajax/gw-light.php";
const PREVIEW_LENGTH: i64 = 30_000;

pub struct Deezer {
    net: Outbound,
    /// (session id, api token, valid until) of the private API, for recommendations.
    session: Mutex<Option<(String, String, Instant)>>,
    /// `arl`, master key and formats; the arl is replaced by `PATCH /v4/lavasrc/config`.
    config: Mutex<DeezerConfig>,
    /// The logged-in session (lyrics, full streams) and the arl it was made with.
    user: Mutex<Option<(String, UserSession, Instant)>>,
}

/// A logged-in private-API session: its own cookie jar (the `arl`, then Deezer's `sid`).
#[derive(Clone)]
pub struct UserSession {
    pub net: Outbound,
    /// `checkForm`: the private API's `api_token`.
    pub api_token: String,
    /// `USER.OPTIONS.license_token`, for media URLs.
    pub license_token: String,
}

fn failure(message: &str, cause: String) -> SourceError {
    SourceError::friendly(message, Severity::Suspicious, cause)
}

impl Deezer {
    pub fn new(net: Outbound, config: DeezerConfig) -> Deezer {
        Deezer {
            net: net.with_cookies(),
            session: Mutex::new(None),
            config: Mutex::new(config),
            user: Mutex::new(None),
        }
    }

    pub fn config(&self) -> DeezerConfig {
        crate::sync::lock(&self.config).clone()
    }

    /// Applies new settings (`PATCH /v4/lavasrc/config`).
    pub fn update(&self, f: impl FnOnce(&mut DeezerConfig)) {
        f(&mut crate::sync::lock(&self.config));
    }

    /// The logged-in session for the configured `arl` (LavaSrc: `deezer.getUserData`
    /// with the arl cookie), cached for an hour or until the arl changes.
    pub fn user_session(&self) -> Result<UserSession, SourceError> {
        let arl = self.config().arl;
        if arl.is_empty() {
            return Err(failure(
                "Deezer arl must be set",
                "java.lang.NullPointerException: Deezer arl must be set".into(),
            ));
        }
        let mut cell = crate::sync::lock(&self.user);
        if let Some((from, s, until)) = cell.as_ref() {
            if *from == arl && Instant::now() < *until {
                return Ok(s.clone());
            }
        }
        let net = self.net.with_cookies();
        let url = crate::net::Url::parse("https://www.deezer.com/").expect("static URL");
        net.set_cookie(
            &format!("arl={arl}; Domain=.deezer.com; Path=/; Secure"),
            &url,
        );
        let call =
            format!("{PRIVATE_API}?method=deezer.getUserData&input=3&api_version=1.0&api_token=");
        let json = net.post(&call).send().and_then(|r| r.json()).map_err(|e| {
            failure(
                "Failed to get user token",
                format!("java.io.IOException: {e}"),
            )
        })?;
        check_private(&json, "Failed to get user token")?;
        let user = &json["results"]["USER"];
        let logged_in = user["USER_ID"]
            .as_i64()
            .or_else(|| user["USER_ID"].as_str().and_then(|s| s.parse().ok()))
            .is_some_and(|id| id != 0);
        if !logged_in {
            return Err(failure(
                "Failed to get user token",
                "java.lang.IllegalStateException: the Deezer arl is invalid or expired".into(),
            ));
        }
        let session = UserSession {
            net,
            api_token: text(&json["results"]["checkForm"]).unwrap_or_default(),
            license_token: text(&user["OPTIONS"]["license_token"]).unwrap_or_default(),
        };
        *cell = Some((
            arl,
            session.clone(),
            Instant::now() + Duration::from_secs(3600),
        ));
        Ok(session)
    }

    /// The Deezer id for any track: its own for Deezer tracks, else by ISRC, else the
    /// first search hit for `title author` (LavaSrc's lyrics lookup).
    pub fn find_id(&self, track: &TrackData) -> Result<Option<String>, SourceError> {
        if track.info.source_name == "deezer" {
            return Ok(Some(track.info.identifier.clone()));
        }
        if let Some(isrc) = track.info.isrc.as_deref().filter(|i| !i.is_empty()) {
            if let Some(json) = self.api(&format!("/track/isrc:{}", url_encode(isrc)))? {
                if let Some(id) = json["id"].as_i64() {
                    return Ok(Some(id.to_string()));
                }
            }
        }
        let q = format!("{} {}", track.info.title, track.info.author);
        let Some(json) = self.api(&format!("/search?q={}", url_encode(&q)))? else {
            return Ok(None);
        };
        Ok(json["data"][0]["id"].as_i64().map(|id| id.to_string()))
    }

    pub fn claims(identifier: &str) -> bool {
        let id = identifier
            .strip_prefix(PREVIEW_PREFIX)
            .unwrap_or(identifier);
        id.starts_with(SEARCH_PREFIX)
            || id.starts_with(ISRC_PREFIX)
            || id.starts_with(REC_PREFIX)
            || parse_url(id).is_some()
    }

    /// GET a public API path. Deezer answers 200 with `{"error": …}` for unknown ids.
    fn api(&self, path: &str) -> Result<Option<Value>, SourceError> {
        let resp = self
            .net
            .get(&format!("{API}{path}"))
            .header("Accept", "application/json")
            .send()
            .map_err(|e| {
                failure(
                    "Failed to load from Deezer.",
                    format!("java.io.IOException: {e}"),
                )
            })?;
        let status = resp.status();
        if status == 404 {
            return Ok(None);
        }
        if status != 200 {
            return Err(failure(
                "Failed to load from Deezer.",
                format!("java.lang.IllegalStateException: Server responded with an error (status {status})"),
            ));
        }
        let json = resp.json().map_err(|e| {
            failure(
                "Failed to parse the Deezer response.",
                format!("java.io.IOException: {e}"),
            )
        })?;
        if json["error"].is_object() {
            // code 800: "no data" (unknown id) → nothing found; others are failures.
            if json["error"]["code"].as_i64() == Some(800) {
                return Ok(None);
            }
            return Err(failure(
                "Failed to load from Deezer.",
                format!("java.lang.IllegalStateException: {}", json["error"]),
            ));
        }
        Ok(Some(json))
    }

    pub fn load(&self, identifier: &str) -> Result<Loaded, SourceError> {
        let (id, preview) = match identifier.strip_prefix(PREVIEW_PREFIX) {
            Some(rest) => (rest, true),
            None => (identifier, false),
        };
        if let Some(q) = id.strip_prefix(SEARCH_PREFIX) {
            let Some(json) = self.api(&format!("/search?q={}", url_encode(q.trim())))? else {
                return Ok(Loaded::None);
            };
            let tracks = parse_tracks(&json["data"], preview);
            return Ok(if tracks.is_empty() {
                Loaded::None
            } else {
                Loaded::Search(tracks)
            });
        }
        if let Some(isrc) = id.strip_prefix(ISRC_PREFIX) {
            let Some(json) = self.api(&format!("/track/isrc:{}", url_encode(isrc.trim())))? else {
                return Ok(Loaded::None);
            };
            if json["id"].is_null() {
                return Ok(Loaded::None);
            }
            return Ok(parse_track(&json, preview).map_or(Loaded::None, Loaded::Track));
        }
        if let Some(q) = id.strip_prefix(REC_PREFIX) {
            return self.recommendations(q.trim(), preview);
        }
        match parse_url(id) {
            Some(("track", sid)) => {
                let Some(json) = self.api(&format!("/track/{sid}"))? else {
                    return Ok(Loaded::None);
                };
                Ok(parse_track(&json, preview).map_or(Loaded::None, Loaded::Track))
            }
            Some(("album", sid)) => self.album(sid, preview),
            Some(("playlist", sid)) => self.playlist(sid, preview),
            Some(("artist", sid)) => self.artist(sid, preview),
            _ => Ok(Loaded::None),
        }
    }

    fn album(&self, id: &str, preview: bool) -> Result<Loaded, SourceError> {
        let Some(album) = self.api(&format!("/album/{id}"))? else {
            return Ok(Loaded::None);
        };
        let Some(mut page) = self.api(&format!("/album/{id}/tracks?limit=10000"))? else {
            return Ok(Loaded::None);
        };
        for t in page["data"].as_array_mut().into_iter().flatten() {
            // Album track entries lack the album and the artist picture.
            if !t["album"].is_object() {
                t["album"] = json!({"id": album["id"], "title": album["title"], "cover_xl": album["cover_xl"]});
            }
            if t["artist"].is_object() && t["artist"]["picture_xl"].is_null() {
                t["artist"]["picture_xl"] = album["artist"]["picture_xl"].clone();
            }
        }
        let tracks = parse_tracks(&page["data"], preview);
        if tracks.is_empty() {
            return Ok(Loaded::None);
        }
        let author =
            text(&album["contributors"][0]["name"]).or_else(|| text(&album["artist"]["name"]));
        Ok(Loaded::Playlist {
            name: text(&album["title"]).unwrap_or_default(),
            tracks,
            info: PlaylistInfo {
                kind: "album",
                url: text(&album["link"]),
                artwork_url: text(&album["cover_xl"]),
                author,
                total_tracks: album["nb_tracks"].as_i64(),
            },
        })
    }

    fn playlist(&self, id: &str, preview: bool) -> Result<Loaded, SourceError> {
        let Some(pl) = self.api(&format!("/playlist/{id}"))? else {
            return Ok(Loaded::None);
        };
        // The tracks endpoint carries ISRCs, unlike the playlist's embedded list.
        let Some(page) = self.api(&format!("/playlist/{id}/tracks?limit=10000"))? else {
            return Ok(Loaded::None);
        };
        let tracks = parse_tracks(&page["data"], preview);
        if tracks.is_empty() {
            return Ok(Loaded::None);
        }
        Ok(Loaded::Playlist {
            name: text(&pl["title"]).unwrap_or_default(),
            tracks,
            info: PlaylistInfo {
                kind: "playlist",
                url: text(&pl["link"]),
                artwork_url: text(&pl["picture_xl"]),
                author: text(&pl["creator"]["name"]),
                total_tracks: pl["nb_tracks"].as_i64(),
            },
        })
    }

    fn artist(&self, id: &str, preview: bool) -> Result<Loaded, SourceError> {
        let Some(artist) = self.api(&format!("/artist/{id}"))? else {
            return Ok(Loaded::None);
        };
        let Some(mut top) = self.api(&format!("/artist/{id}/top?limit=50"))? else {
            return Ok(Loaded::None);
        };
        for t in top["data"].as_array_mut().into_iter().flatten() {
            if t["artist"].is_object() {
                t["artist"]["picture_xl"] = artist["picture_xl"].clone();
            }
        }
        let tracks = parse_tracks(&top["data"], preview);
        if tracks.is_empty() {
            return Ok(Loaded::None);
        }
        let name = text(&artist["name"]).unwrap_or_default();
        let total = tracks.len() as i64;
        Ok(Loaded::Playlist {
            name: format!("{name}'s Top Tracks"),
            tracks,
            info: PlaylistInfo {
                kind: "artist",
                url: text(&artist["link"]),
                artwork_url: text(&artist["picture_xl"]),
                author: Some(name),
                total_tracks: Some(total),
            },
        })
    }

    /// The private API's session (id, api token), refreshed hourly.
    fn private_session(&self) -> Result<(String, String), SourceError> {
        let mut guard = crate::sync::lock(&self.session);
        if let Some((sid, tok, until)) = guard.as_ref() {
            if Instant::now() < *until {
                return Ok((sid.clone(), tok.clone()));
            }
        }
        let call = |method: &str, sid: Option<&str>| -> Result<Value, SourceError> {
            let url = format!("{PRIVATE_API}?method={method}&input=3&api_version=1.0&api_token=");
            let mut req = self.net.post(&url);
            if let Some(sid) = sid {
                req = req.header("Cookie", &format!("sid={sid}"));
            }
            let json = req.send().and_then(|r| r.json()).map_err(|e| {
                failure(
                    "Failed to get a Deezer session.",
                    format!("java.io.IOException: {e}"),
                )
            })?;
            check_private(&json, "Failed to get a Deezer session.")?;
            Ok(json)
        };
        let ping = call("deezer.ping", None)?;
        let sid = text(&ping["results"]["SESSION"]).unwrap_or_default();
        let user = call("deezer.getUserData", Some(&sid))?;
        let token = text(&user["results"]["checkForm"]).unwrap_or_default();
        *guard = Some((
            sid.clone(),
            token.clone(),
            Instant::now() + Duration::from_secs(3600),
        ));
        Ok((sid, token))
    }

    /// `dzrec:<track id>`: the track mix of the private API.
    fn recommendations(&self, query: &str, preview: bool) -> Result<Loaded, SourceError> {
        let track_id = query.strip_prefix("track=").unwrap_or(query).trim();
        if track_id.is_empty() || !track_id.chars().all(|c| c.is_ascii_digit()) {
            return Ok(Loaded::None);
        }
        let (sid, token) = self.private_session()?;
        let url = format!(
            "{PRIVATE_API}?method=song.getSearchTrackMix&input=3&api_version=1.0&api_token={token}"
        );
        let json = self
            .net
            .post(&url)
            .header("Cookie", &format!("sid={sid}"))
            .json(&json!({"sng_id": track_id, "start_with_input_track": "true"}))
            .send()
            .and_then(|r| r.json())
            .map_err(|e| {
                failure(
                    "Failed to get recommendations.",
                    format!("java.io.IOException: {e}"),
                )
            })?;
        check_private(&json, "Failed to get recommendations.")?;
        let tracks: Vec<TrackData> = json["results"]["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| parse_private_track(t, preview))
            .collect();
        if tracks.is_empty() {
            return Ok(Loaded::None);
        }
        let total = tracks.len() as i64;
        Ok(Loaded::Playlist {
            name: "Deezer Recommendations".into(),
            tracks,
            info: PlaylistInfo {
                kind: "recommendations",
                url: None,
                artwork_url: None,
                author: None,
                total_tracks: Some(total),
            },
        })
    }

    /// LavaSearch: the autocomplete endpoint, filtered to the asked types.
    pub fn search_hits(
        &self,
        query: &str,
        types: &[&str],
    ) -> Result<super::spotify::SearchHits, SourceError> {
        let all = types.is_empty();
        let want = |t: &str| all || types.contains(&t);
        let json = self
            .api(&format!("/search/autocomplete?q={}", url_encode(query)))?
            .unwrap_or(Value::Null);
        let list = |k: &str| json[k]["data"].as_array().cloned().unwrap_or_default();
        let albums = if want("album") {
            list("albums")
                .iter()
                .map(|a| {
                    (
                        text(&a["title"]).unwrap_or_default(),
                        PlaylistInfo {
                            kind: "album",
                            url: text(&a["link"]),
                            artwork_url: text(&a["cover_xl"]),
                            author: text(&a["artist"]["name"]),
                            total_tracks: a["nb_tracks"].as_i64(),
                        },
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        let artists = if want("artist") {
            list("artists")
                .iter()
                .map(|a| {
                    let name = text(&a["name"]).unwrap_or_default();
                    (
                        format!("{name}'s Top Tracks"),
                        PlaylistInfo {
                            kind: "artist",
                            url: text(&a["link"]),
                            artwork_url: text(&a["picture_xl"]),
                            author: Some(name),
                            total_tracks: None,
                        },
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        let playlists = if want("playlist") {
            list("playlists")
                .iter()
                .map(|p| {
                    (
                        text(&p["title"]).unwrap_or_default(),
                        PlaylistInfo {
                            kind: "playlist",
                            url: text(&p["link"]),
                            artwork_url: text(&p["picture_xl"]),
                            author: text(&p["creator"]["name"]),
                            total_tracks: p["nb_tracks"].as_i64(),
                        },
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        let tracks = if want("track") {
            parse_tracks(&json["tracks"]["data"], false)
        } else {
            Vec::new()
        };
        Ok(super::spotify::SearchHits {
            tracks,
            albums,
            artists,
            playlists,
            texts: Vec::new(),
        })
    }
}

pub(crate) fn check_private(json: &Value, message: &str) -> Result<(), SourceError> {
    let err = &json["error"];
    let has_error = match err {
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    };
    if has_error {
        return Err(failure(
            message,
            format!("java.lang.IllegalStateException: {err}"),
        ));
    }
    Ok(())
}

/// `(type, id)` of a deezer.com URL (optional language segment).
pub fn parse_url(s: &str) -> Option<(&'static str, &str)> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))?;
    let rest = rest.strip_prefix("www.").unwrap_or(rest);
    let rest = rest.strip_prefix("deezer.com/")?;
    let mut parts = rest.split('/');
    let mut kind = parts.next()?;
    if kind.len() == 2 && kind.chars().all(|c| c.is_ascii_alphabetic()) {
        kind = parts.next()?;
    }
    let kind = match kind {
        "track" => "track",
        "album" => "album",
        "playlist" => "playlist",
        "artist" => "artist",
        _ => return None,
    };
    let id = parts.next()?.split(['?', '#']).next()?;
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((kind, id))
}

fn parse_tracks(v: &Value, preview: bool) -> Vec<TrackData> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["type"].as_str().is_none_or(|ty| ty == "track"))
        .filter(|t| t["readable"].as_bool().unwrap_or(true))
        .filter_map(|t| parse_track(t, preview))
        .collect()
}

/// A public-API track object → a LavaSrc track.
pub fn parse_track(json: &Value, preview: bool) -> Option<TrackData> {
    let id = match &json["id"] {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return None,
    };
    let id_text = |v: &Value| match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    };
    let info = TrackInfo {
        title: text(&json["title"]).unwrap_or_else(|| "Unknown title".into()),
        author: text(&json["artist"]["name"]).unwrap_or_else(|| "Unknown artist".into()),
        length: if preview {
            PREVIEW_LENGTH
        } else {
            json["duration"].as_i64().unwrap_or(0) * 1000
        },
        identifier: id.clone(),
        is_stream: false,
        uri: Some(format!("https://deezer.com/track/{id}")),
        artwork_url: text(&json["album"]["cover_xl"]),
        isrc: text(&json["isrc"]),
        source_name: "deezer".into(),
    };
    let extras = Extras {
        album_name: text(&json["album"]["title"]),
        album_url: id_text(&json["album"]["id"])
            .map(|a| format!("https://www.deezer.com/album/{a}")),
        artist_url: id_text(&json["artist"]["id"])
            .map(|a| format!("https://www.deezer.com/artist/{a}")),
        artist_artwork_url: text(&json["artist"]["picture_xl"]),
        preview_url: text(&json["preview"]).filter(|p| !p.is_empty()),
        is_preview: preview,
    };
    Some(super::track(info, &extras))
}

/// A private-API (`gw-light`) song object → a LavaSrc track.
fn parse_private_track(json: &Value, preview: bool) -> Option<TrackData> {
    let id = text(&json["SNG_ID"])?;
    let cover = |hash: Option<String>| {
        hash.map(|h| {
            format!("https://cdn-images.dzcdn.net/images/cover/{h}/1000x1000-000000-80-0-0.jpg")
        })
    };
    let secs = match &json["DURATION"] {
        Value::String(s) => s.parse::<i64>().unwrap_or(0),
        v => v.as_i64().unwrap_or(0),
    };
    let info = TrackInfo {
        title: text(&json["SNG_TITLE"]).unwrap_or_else(|| "Unknown title".into()),
        author: text(&json["ART_NAME"]).unwrap_or_else(|| "Unknown artist".into()),
        length: if preview { PREVIEW_LENGTH } else { secs * 1000 },
        identifier: id.clone(),
        is_stream: false,
        uri: Some(format!("https://deezer.com/track/{id}")),
        artwork_url: cover(text(&json["ALB_PICTURE"])),
        isrc: text(&json["ISRC"]),
        source_name: "deezer".into(),
    };
    let extras = Extras {
        album_name: text(&json["ALB_TITLE"]),
        album_url: text(&json["ALB_ID"]).map(|a| format!("https://www.deezer.com/album/{a}")),
        artist_url: text(&json["ART_ID"]).map(|a| format!("https://www.deezer.com/artist/{a}")),
        artist_artwork_url: cover(text(&json["ARTISTS"][0]["ART_PICTURE"])),
        preview_url: text(&json["MEDIA"][0]["HREF"]),
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
            parse_url("https://www.deezer.com/en/track/3135556"),
            Some(("track", "3135556"))
        );
        assert_eq!(
            parse_url("https://deezer.com/album/302127?x=1"),
            Some(("album", "302127"))
        );
        assert_eq!(parse_url("https://www.deezer.com/track/abc"), None);
        assert_eq!(parse_url("https://www.deezer.com/show/1"), None);
    }

    #[test]
    fn track_mapping() {
        let j: Value = serde_json::from_str(
            r#"{"id":3135556,"readable":true,"title":"Harder, Better","isrc":"GBDUW0000059",
                "link":"https://www.deezer.com/track/3135556","duration":224,"rank":1,
                "preview":"https://cdnt-preview.dzcdn.net/api/1/1/a/b/c/0/abc.mp3?hdnea=exp=1~acl=/*~hmac=x",
                "artist":{"id":27,"name":"Daft Punk","picture_xl":"https://e-cdns-images.dzcdn.net/images/artist/x/1000x1000.jpg","type":"artist"},
                "album":{"id":302127,"title":"Discovery","cover_xl":"https://e-cdns-images.dzcdn.net/images/cover/y/1000x1000.jpg","type":"album"},
                "type":"track"}"#,
        )
        .unwrap();
        let t = parse_track(&j, false).unwrap();
        assert_eq!(t.info.identifier, "3135556");
        assert_eq!(t.info.length, 224_000);
        assert_eq!(
            t.info.uri.as_deref(),
            Some("https://deezer.com/track/3135556")
        );
        let e = Extras::decode(&t.source_data);
        assert_eq!(
            e.album_url.as_deref(),
            Some("https://www.deezer.com/album/302127")
        );
        assert_eq!(
            e.artist_url.as_deref(),
            Some("https://www.deezer.com/artist/27")
        );
        assert!(e.preview_url.unwrap().contains("hmac=x"));
    }
}
