//! The `soundcloud` source (sources.md §1): track, set, likes, short and mobile links and
//! `scsearch:` through api-v2, TrackInfo exactly as lavaplayer maps it, and playback that
//! re-resolves the permalink for fresh transcodings (progressive MP3, then HLS MP3, then HLS
//! AAC in fMP4 — the format SoundCloud is moving everything to, which Java Lavalink cannot
//! play) and falls back to the lookup URL stored in the identifier.

pub mod api;
pub mod parse;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::http::HttpStream;
use super::{hls, Answer, LoadRequest, MediaInput, Source, SourceError};
use crate::config::Config;
use crate::net::{Method, Url};
use crate::track::{Severity, TrackData};
use api::{Api, ApiError, API};
use parse::{Ident, Kind};

/// `[soundcloud]` in config.toml.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SoundCloudConfig {
    /// A web client id to use instead of scraping one (scraped again if it is rejected).
    pub client_id: String,
    /// Drop Go+ 30-second previews from single loads, search and likes (Lavalink 4.2's
    /// `soundcloudFilterOutPreviewTracks`; sets keep them, as in lavaplayer).
    pub filter_previews: bool,
}

/// Set pages list at most this many ids per `/tracks?ids=` call.
const IDS_PER_BATCH: usize = 50;
/// Signed segment URLs expire; the playlist is looked up again after this long.
const HLS_REFRESH: Duration = Duration::from_secs(600);

pub struct SoundCloudSource {
    api: Arc<Api>,
    search: bool,
    filter_previews: bool,
}

fn friendly(message: &str, severity: Severity, cause: String) -> SourceError {
    SourceError::friendly(message, severity, cause)
}

/// A playback failure: lavaplayer wraps it as `Something broke when playing the track.`.
fn playback_error(cause: String) -> SourceError {
    friendly(
        "Something broke when playing the track.",
        Severity::Fault,
        cause,
    )
}

impl SoundCloudSource {
    pub fn new(config: &Config) -> SoundCloudSource {
        let net = crate::net::Outbound::new(config)
            .with_cookies()
            .with_user_agent(api::USER_AGENT);
        SoundCloudSource {
            api: Arc::new(Api::new(net, &config.soundcloud.client_id)),
            search: config.player.soundcloud_search_enabled,
            filter_previews: config.soundcloud.filter_previews,
        }
    }

    fn dispatch(&self, ident: Ident) -> Answer {
        match ident {
            Ident::Mobile(url) => self.follow_link(&url, false),
            Ident::Short(url) => self.follow_link(&url, true),
            Ident::Track(url) => self.load_track(&url),
            Ident::Set(url) => self.load_set(&url),
            Ident::Likes(url) => self.load_likes(&url),
            Ident::Search {
                query,
                offset,
                limit,
            } => self.load_search(&query, offset, limit),
        }
    }

    /// Short links answer a HEAD with the page in `Location`; mobile links redirect (the
    /// first hop names the page). The page is then loaded here, or by whichever source
    /// claims it.
    fn follow_link(&self, url: &str, short: bool) -> Answer {
        let method = if short { Method::HEAD } else { Method::GET };
        let message = if short {
            "Unable to resolve Soundcloud short URL"
        } else {
            "Unable to process soundcloud mobile link"
        };
        let severity = Severity::Suspicious;
        let resp = match self
            .api
            .net
            .request(method, url)
            .follow_redirects(false)
            .send()
        {
            Ok(r) => r,
            Err(e) => {
                return Answer::Error(friendly(
                    message,
                    severity,
                    format!("java.io.IOException: {}", e.detail()),
                ))
            }
        };
        let location = resp
            .header("location")
            .and_then(|l| Url::parse(url).ok()?.join(l.trim()).ok());
        let Some(location) = location else {
            return Answer::Error(friendly(
                message,
                severity,
                format!("java.lang.IllegalStateException: {message}"),
            ));
        };
        match parse::page_url(location.as_str()) {
            Some(ident) => self.dispatch(ident),
            None => Answer::Reference {
                identifier: location.to_string(),
                title: None,
                descriptor: None,
            },
        }
    }

    fn resolve(&self, page: &str) -> Result<Option<Value>, ApiError> {
        self.api
            .json(&format!("{API}/resolve"), &[("url", page)], "video page")
    }

    fn load_track(&self, url: &str) -> Answer {
        let root = match self.resolve(url) {
            Ok(r) => r,
            Err(e) => {
                return Answer::Error(friendly(
                    "Loading track from SoundCloud failed.",
                    Severity::Suspicious,
                    e.cause(),
                ))
            }
        };
        let Some(track) = root.as_ref().and_then(|r| parse::of_kind(r, "track")) else {
            return Answer::Error(friendly(
                "This track is not available",
                Severity::Common,
                String::new(),
            ));
        };
        if self.filter_previews && parse::is_preview(track) {
            return Answer::Empty;
        }
        match map_track(track) {
            Ok(t) => Answer::Track(t),
            Err(parse::MapError::NoFormat) => Answer::Error(friendly(
                "Did not detect any supported formats",
                Severity::Fault,
                "java.lang.RuntimeException: Did not detect any supported formats".into(),
            )),
        }
    }

    /// A set: every listed id through `/tracks?ids=` (50 a call), back in the set's order,
    /// geo-blocked ones dropped. A full object in the set stands in for one the batch
    /// call did not return.
    fn load_set(&self, url: &str) -> Answer {
        let fail = |e: ApiError| {
            Answer::Error(friendly(
                "Loading playlist from SoundCloud failed.",
                Severity::Suspicious,
                e.cause(),
            ))
        };
        let root = match self.resolve(url) {
            Ok(Some(r)) => r,
            Ok(None) => return Answer::Empty,
            Err(e) => return fail(e),
        };
        let kind = root["kind"].as_str().unwrap_or("");
        if !matches!(kind, "playlist" | "system-playlist") || !root.is_object() {
            return Answer::Empty;
        }
        let ids = parse::set_track_ids(&root);
        let mut fetched: Vec<Value> = Vec::with_capacity(ids.len());
        for batch in ids.chunks(IDS_PER_BATCH) {
            let joined = batch.join(",");
            match self
                .api
                .json(&format!("{API}/tracks"), &[("ids", &joined)], "track list")
            {
                Ok(Some(Value::Array(list))) => fetched.extend(list),
                Ok(Some(Value::Object(o))) => {
                    // Some answers wrap the list: `{"collection": [...]}`.
                    if let Some(Value::Array(list)) = o.get("collection") {
                        fetched.extend(list.iter().cloned());
                    }
                }
                Ok(_) => {}
                Err(e) => return fail(e),
            }
        }
        let listed = root["tracks"].as_array().cloned().unwrap_or_default();
        for t in listed {
            let id = parse::track_id(&t);
            let full = t.get("media").is_some() && t.get("title").is_some();
            if full && !fetched.iter().any(|f| parse::track_id(f) == id) {
                fetched.push(t);
            }
        }
        parse::sort_by_ids(&mut fetched, &ids);
        let mut tracks = Vec::with_capacity(fetched.len());
        let mut blocked = 0;
        for t in &fetched {
            if parse::is_blocked(t) {
                blocked += 1;
                continue;
            }
            match map_track(t) {
                Ok(t) => tracks.push(t),
                Err(_) => log::warn!(
                    "In soundcloud playlist {}, track {} has no supported format",
                    parse::safe_text(&root["permalink"]),
                    parse::track_id(t)
                ),
            }
        }
        if blocked > 0 {
            log::debug!("{blocked} blocked tracks omitted from a SoundCloud set");
        }
        Answer::Playlist {
            name: parse::safe_text(&root["title"]),
            selected_track: -1,
            tracks,
        }
    }

    /// Tracks of a list answer (search, likes), skipping nulls, blocked and previews.
    fn collect(&self, items: impl Iterator<Item = Value>, skip_blocked: bool) -> Vec<TrackData> {
        items
            .filter(|t| t.is_object())
            .filter(|t| !(skip_blocked && parse::is_blocked(t)))
            .filter(|t| !(self.filter_previews && parse::is_preview(t)))
            .filter_map(|t| map_track(&t).ok())
            .collect()
    }

    fn load_likes(&self, url: &str) -> Answer {
        let fail = |cause: String| {
            Answer::Error(friendly(
                "Loading liked tracks from SoundCloud failed.",
                Severity::Suspicious,
                cause,
            ))
        };
        let page = match self.api.net.get(url).send() {
            Ok(r) if r.status() == 404 => return Answer::Empty,
            Ok(r) if r.is_success() => match r.text() {
                Ok(t) => t,
                Err(e) => return fail(format!("java.io.IOException: {}", e.detail())),
            },
            Ok(r) => {
                return fail(format!(
                    "java.io.IOException: Invalid status code for track list response: {}",
                    r.status()
                ))
            }
            Err(e) => return fail(format!("java.io.IOException: {}", e.detail())),
        };
        let Some((id, name)) = parse::liked_user(&page) else {
            return Answer::Empty;
        };
        let likes = match self.api.json(
            &format!("{API}/users/{id}/likes"),
            &[("limit", "200"), ("offset", "0")],
            "liked tracks",
        ) {
            Ok(Some(v)) => v,
            Ok(None) => {
                return fail(
                    "java.io.IOException: Invalid status code for liked tracks response: 404"
                        .into(),
                )
            }
            Err(e) => return fail(e.cause()),
        };
        let items = likes["collection"]
            .as_array()
            .map(|c| c.iter().map(|i| i["track"].clone()).collect::<Vec<_>>())
            .unwrap_or_default();
        let tracks = self.collect(items.into_iter(), true);
        if tracks.is_empty() {
            return Answer::Empty;
        }
        Answer::Playlist {
            name: format!("Liked by {name}"),
            selected_track: -1,
            tracks,
        }
    }

    fn load_search(&self, query: &str, offset: u32, limit: u32) -> Answer {
        let (offset, limit) = (offset.to_string(), limit.to_string());
        let result = self.api.json(
            &format!("{API}/search/tracks"),
            &[("q", query), ("offset", &offset), ("limit", &limit)],
            "search",
        );
        let v = match result {
            Ok(Some(v)) => v,
            Ok(None) => return Answer::Empty,
            Err(e) => {
                return Answer::Error(friendly(
                    "Loading search results from SoundCloud failed.",
                    Severity::Suspicious,
                    e.cause(),
                ))
            }
        };
        let items = v["collection"].as_array().cloned().unwrap_or_default();
        let tracks = self.collect(items.into_iter(), false);
        if tracks.is_empty() {
            Answer::Empty
        } else {
            Answer::Search(tracks)
        }
    }

    /// The permalink a track can be re-resolved from: its `uri`, else a page identifier.
    fn permalink(track: &TrackData) -> Option<String> {
        let uri = track.info.uri.as_deref().unwrap_or(&track.info.identifier);
        match parse::page_url(uri) {
            Some(Ident::Track(u)) => Some(u),
            _ => None,
        }
    }

    /// Lookup URL → the signed media URL (`{"url": …}`), with the track's authorization.
    fn lookup(api: &Api, lookup: &str, auth: Option<&str>) -> Result<String, SourceError> {
        let query: Vec<(&str, &str)> = auth
            .map(|a| ("track_authorization", a))
            .into_iter()
            .collect();
        let resp = api
            .get(lookup, &query)
            .map_err(|e| playback_error(e.cause()))?;
        if !resp.is_success() {
            return Err(playback_error(format!(
                "java.lang.IllegalStateException: Invalid status code for soundcloud stream: {}",
                resp.status()
            )));
        }
        let v = resp
            .json()
            .map_err(|e| playback_error(format!("java.io.IOException: {}", e.detail())))?;
        parse::text(&v["url"]).ok_or_else(|| {
            playback_error(
                "java.lang.IllegalStateException: No stream URL in the lookup answer".into(),
            )
        })
    }

    /// Opens one transcoding: progressive through range requests, HLS through the engine
    /// (seekable by segment, the playlist looked up again when its signatures expire).
    fn open_format(
        &self,
        kind: Kind,
        lookup: &str,
        auth: Option<String>,
    ) -> Result<MediaInput, SourceError> {
        let media = Self::lookup(&self.api, lookup, auth.as_deref())?;
        let url = Url::parse(&media)
            .map_err(|_| playback_error(format!("java.net.URISyntaxException: {media}")))?;
        if kind == Kind::ProgressiveMp3 {
            let (stream, mime) = HttpStream::open_url(&self.api.net, &url)?;
            let seekable = stream.total_len().is_some();
            return Ok(MediaInput {
                reader: Box::new(stream),
                extension: Some("mp3".into()),
                mime,
                is_stream: !seekable,
                segments: None,
            });
        }
        let (media_url, pl) = hls::media_playlist(&self.api.net, &url)?;
        let api = self.api.clone();
        let lookup = lookup.to_string();
        let refresh: hls::Refresh = Arc::new(move || {
            let media = Self::lookup(&api, &lookup, auth.as_deref())?;
            let url = Url::parse(&media).map_err(|_| SourceError::InvalidUrl(media.clone()))?;
            hls::media_playlist(&api.net, &url)
        });
        hls::open_media(
            &self.api.net,
            media_url,
            pl,
            hls::Options {
                refresh: Some(refresh),
                refresh_after: HLS_REFRESH,
            },
        )
    }

    /// Fresh transcodings from the permalink, best first; falls back to the stored lookup
    /// URL when the permalink cannot be resolved.
    fn open_track(&self, track: &TrackData) -> Result<MediaInput, SourceError> {
        let mut last_err = None;
        if let Some(page) = Self::permalink(track) {
            match self.resolve(&page) {
                Ok(Some(v)) if parse::of_kind(&v, "track").is_some() => {
                    if parse::is_blocked(&v) {
                        return Err(friendly(
                            "This track is not available",
                            Severity::Common,
                            "java.lang.IllegalStateException: The track is blocked in this region (policy BLOCK)".into(),
                        ));
                    }
                    let auth = parse::text(&v["track_authorization"]);
                    for (kind, lookup) in parse::playback_choices(&v) {
                        match self.open_format(kind, &lookup, auth.clone()) {
                            Ok(input) => return Ok(input),
                            Err(e) => {
                                log::debug!("SoundCloud format {kind:?} failed: {e}");
                                last_err = Some(e);
                            }
                        }
                    }
                }
                Ok(_) => {
                    return Err(friendly(
                        "This track is not available",
                        Severity::Common,
                        String::new(),
                    ))
                }
                Err(e) => log::debug!("SoundCloud re-resolve of {page} failed: {e}"),
            }
        }
        if let Some((kind, lookup)) = Kind::split_identifier(&track.info.identifier) {
            if kind != Kind::HlsOpus {
                return self.open_format(kind, lookup, None);
            }
        }
        Err(last_err.unwrap_or_else(|| {
            playback_error(
                "java.lang.RuntimeException: Did not detect any supported formats".into(),
            )
        }))
    }
}

/// Track JSON → track; a Go+ preview is reported as `pluginInfo.isPreview` (sources.md §1.9:
/// even when previews are not filtered, clients can tell a 30-second snippet).
fn map_track(json: &Value) -> Result<TrackData, parse::MapError> {
    let t = parse::track(json)?;
    if parse::is_preview(json) {
        let mut info = serde_json::Map::new();
        info.insert("isPreview".into(), Value::Bool(true));
        super::plugin_info::attach(&t, info);
    }
    Ok(t)
}

impl Source for SoundCloudSource {
    fn name(&self) -> &'static str {
        "soundcloud"
    }

    fn load(&self, req: &LoadRequest<'_>) -> Answer {
        match parse::classify(req.identifier, self.search) {
            Some(ident) => self.dispatch(ident),
            None => Answer::NotMine,
        }
    }

    fn open(&self, track: &TrackData) -> Result<MediaInput, SourceError> {
        self.open_track(track)
    }
}
