//! LavaSearch (`lavasearch-plugin`): `GET /v4/loadsearch?query=<prefix:query>&types=…`
//! answering tracks, albums, artists, playlists and texts from the first search provider
//! that claims the prefix (plugins.md §3.2). Providers are asked only for the types they
//! support, so `types=text` against Spotify gives empty lists, not a 500.

use serde_json::{json, Map, Value};

use super::lavasrc::{spotify, Clients, PlaylistInfo};
use super::{json_reply, method_not_allowed, param, Ctx, Plugin};
use crate::config::Config;
use crate::server::routes::{Body, Reply, Req};
use crate::server::ApiError;
use crate::source::{LoadResult, SourceError};
use crate::track::TrackData;

pub const NAME: &str = "lavasearch-plugin";
/// Type names in the order `types` are matched.
pub const TYPES: [&str; 5] = ["track", "album", "artist", "playlist", "text"];

pub struct LavaSearch {
    clients: Clients,
    youtube: super::lavasrc::youtube::YoutubeExtras,
}

/// A provider's answer.
struct Found {
    tracks: Vec<TrackData>,
    albums: Vec<(String, PlaylistInfo)>,
    artists: Vec<(String, PlaylistInfo)>,
    playlists: Vec<(String, PlaylistInfo)>,
    texts: Vec<String>,
}

/// `types` as LavaSearch parses it: comma-separated, exact names, unknown ones dropped.
pub fn parse_types(s: Option<&str>) -> Vec<&'static str> {
    let mut out = Vec::new();
    for item in s.unwrap_or_default().split(',') {
        let item = item.trim();
        if let Some(t) = TYPES.iter().find(|t| **t == item) {
            if !out.contains(t) {
                out.push(*t);
            }
        }
    }
    out
}

impl LavaSearch {
    pub fn new(config: &Config) -> LavaSearch {
        LavaSearch {
            clients: Clients::shared(config),
            youtube: super::lavasrc::youtube::YoutubeExtras::new(config),
        }
    }

    /// Which provider claims `query`; `None` when none does.
    fn search(
        &self,
        ctx: &Ctx,
        query: &str,
        types: &[&'static str],
    ) -> Option<Result<Found, SourceError>> {
        // Types each provider supports (as LavaSrc's); asked types it does not know are
        // not passed on, so they come back empty.
        const CATALOG: [&str; 4] = ["track", "album", "artist", "playlist"];
        const CATALOG_TEXT: [&str; 5] = ["track", "album", "artist", "playlist", "text"];
        let asked = |supported: &[&str]| -> Option<Vec<&'static str>> {
            if types.is_empty() {
                return Some(Vec::new());
            }
            let kept: Vec<&'static str> = types
                .iter()
                .copied()
                .filter(|t| supported.contains(t))
                .collect();
            (!kept.is_empty()).then_some(kept)
        };
        let hits = |r: Result<spotify::SearchHits, SourceError>| {
            r.map(|h| Found {
                tracks: h.tracks,
                albums: h.albums,
                artists: h.artists,
                playlists: h.playlists,
                texts: h.texts,
            })
        };
        let empty = || {
            Ok(Found {
                tracks: Vec::new(),
                albums: Vec::new(),
                artists: Vec::new(),
                playlists: Vec::new(),
                texts: Vec::new(),
            })
        };
        if let (Some(c), Some(q)) = (
            &self.clients.spotify,
            query.strip_prefix(spotify::SEARCH_PREFIX),
        ) {
            return Some(match asked(&CATALOG) {
                Some(t) => hits(c.search_hits(q, &t)),
                None => empty(),
            });
        }
        if let (Some(c), Some(q)) = (
            &self.clients.applemusic,
            query.strip_prefix(super::lavasrc::applemusic::SEARCH_PREFIX),
        ) {
            return Some(match asked(&CATALOG_TEXT) {
                Some(t) => hits(c.search_hits(q, &t)),
                None => empty(),
            });
        }
        if let (Some(c), Some(q)) = (
            &self.clients.deezer,
            query.strip_prefix(super::lavasrc::deezer::SEARCH_PREFIX),
        ) {
            return Some(match asked(&CATALOG) {
                Some(t) => hits(c.search_hits(q, &t)),
                None => empty(),
            });
        }
        // YouTube / YouTube Music: tracks through the node's loader, texts from the
        // suggestion services (LavaSrc's YouTube search manager), once a YouTube source
        // is registered.
        let loader = &ctx.node.backend.loader;
        let music = query.starts_with("ytmsearch:");
        if (query.starts_with("ytsearch:") || music) && loader.source_names().contains(&"youtube") {
            let Some(asked) = asked(&["track", "text"]) else {
                return Some(empty());
            };
            let want = |t: &str| asked.is_empty() || asked.contains(&t);
            let mut found = Found {
                tracks: Vec::new(),
                albums: Vec::new(),
                artists: Vec::new(),
                playlists: Vec::new(),
                texts: Vec::new(),
            };
            if want("track") {
                match loader.load(query) {
                    LoadResult::Search(tracks) | LoadResult::Playlist { tracks, .. } => {
                        found.tracks = tracks
                    }
                    LoadResult::Track(t) => found.tracks = vec![t],
                    LoadResult::Empty => {}
                    LoadResult::Error(e) => {
                        return Some(Err(SourceError::friendly(
                            e.message.unwrap_or_default(),
                            e.severity,
                            e.cause,
                        )))
                    }
                }
            }
            if want("text") {
                let q = query.split_once(':').map_or("", |(_, q)| q).trim();
                let texts = if music {
                    self.youtube.music_suggestions(q)
                } else {
                    self.youtube.search_suggestions(q)
                };
                match texts {
                    Ok(t) => found.texts = t,
                    // Suggestions are a bonus: tracks still answer when they fail.
                    Err(e) => log::warn!("lavasearch: YouTube suggestions failed: {e}"),
                }
            }
            return Some(Ok(found));
        }
        None
    }

    fn has_providers(&self) -> bool {
        let c = &self.clients;
        c.spotify.is_some() || c.applemusic.is_some() || c.deezer.is_some()
    }
}

fn playlist_json((name, info): &(String, PlaylistInfo)) -> Value {
    let mut pi = Map::new();
    info.to_map(&mut pi);
    json!({
        "info": {"name": name, "selectedTrack": -1},
        "pluginInfo": pi,
        "tracks": [],
    })
}

/// The response body: all six keys, always.
fn result_json(f: &Found) -> Value {
    let empty = Map::new();
    json!({
        "tracks": f.tracks.iter().map(|t| crate::server::dto::live_track(t, t.position, &empty)).collect::<Vec<_>>(),
        "albums": f.albums.iter().map(playlist_json).collect::<Vec<_>>(),
        "artists": f.artists.iter().map(playlist_json).collect::<Vec<_>>(),
        "playlists": f.playlists.iter().map(playlist_json).collect::<Vec<_>>(),
        "texts": f.texts.iter().map(|t| json!({"text": t, "plugin": {}})).collect::<Vec<_>>(),
        "plugin": {},
    })
}

impl Plugin for LavaSearch {
    fn name(&self) -> &'static str {
        NAME
    }

    fn route(&self, ctx: &Ctx, req: &Req, segs: &[&str]) -> Option<Result<Reply, ApiError>> {
        if segs != ["v4", "loadsearch"] {
            return None;
        }
        if *req.method != crate::server::method::Method::Get {
            return Some(Err(method_not_allowed(req)));
        }
        Some((|| {
            let query = param(req, "query").ok_or_else(|| {
                ApiError::bad_request(
                    "Required request parameter 'query' for method parameter type String is not present",
                )
            })?;
            let types = parse_types(param(req, "types"));
            let has_yt = ctx.node.backend.loader.source_names().contains(&"youtube");
            if !self.has_providers() && !has_yt {
                return Err(ApiError::internal("No search providers registered"));
            }
            match self.search(ctx, query, &types) {
                None => Ok(Reply {
                    status: 204,
                    body: Body::Empty,
                }),
                Some(Ok(found)) => Ok(json_reply(result_json(&found))),
                Some(Err(e)) => Err(ApiError::internal(e.to_string())),
            }
        })())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_parsing() {
        assert_eq!(
            parse_types(Some("track, album,artist ,bogus,Track,text")),
            vec!["track", "album", "artist", "text"]
        );
        assert!(parse_types(None).is_empty());
        assert!(parse_types(Some("")).is_empty());
    }
}
