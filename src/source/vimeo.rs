//! The `vimeo` source (sources.md §4). Lavaplayer's flow (`/_next/viewer` JWT, then
//! `config_url`) has been broken since 2025-05, so this follows the one that works today
//! (§4.5, NodeLink's): anonymous player credentials from the site's Next.js page data
//! (`__NEXT_DATA__` build id → `/_next/data/…/<id>.json` → clip signature and JWT), the
//! API answer signed with them, then the player config's `dash` playlist (fMP4 AAC: base64
//! init section + segments), else its `hls`, else the tallest `progressive` file.
//!
//! TrackInfo is Lavalink's (`name`, `uploader.name`, `duration`, `pictures.base_link`, the
//! numeric id as identifier); when the API step is refused the oEmbed metadata is used.

use std::io::{self, Read};
use std::sync::Mutex;

use base64::Engine;
use serde_json::Value;

use super::http::HttpStream;
use super::{hls, Answer, LoadRequest, MediaInput, Source, SourceError};
use crate::config::Config;
use crate::net::{NetError, Outbound, Url};
use crate::track::{Severity, TrackData, TrackInfo, UNKNOWN_LENGTH};

const SITE: &str = "https://vimeo.com";
const API: &str = "https://api.vimeo.com";
const API_ACCEPT: &str = "application/vnd.vimeo.*+json;version=3.4.12";
const LOAD_FAILED: &str = "Loading Vimeo track information failed.";
/// Fields asked of the API: Lavalink's mapping plus the player config URL.
const API_FIELDS: &str = "name,uploader.name,duration,pictures.base_link,embed_player_config_url";
/// Preferred DASH/HLS CDNs (the ones the site's player picks first).
const CDN_PRIORITY: [&str; 2] = ["akfire_interconnect_quic", "fastly_skyfire"];
const MAX_JSON: usize = 4 << 20;
const MAX_SEGMENT: u64 = 32 << 20;

/// A clip reference: numeric id and, for unlisted clips, the hash (`h`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipRef {
    pub id: String,
    pub hash: Option<String>,
}

impl ClipRef {
    /// The clip's page: `https://vimeo.com/<id>` (unlisted: `…/<id>/<hash>`).
    pub fn page_url(&self) -> String {
        match &self.hash {
            Some(h) => format!("{SITE}/{}/{h}", self.id),
            None => format!("{SITE}/{}", self.id),
        }
    }
}

/// Parses a Vimeo video URL: `vimeo.com/<id>` (lavaplayer's form, optionally `www.` and a
/// query; `/<hash>` or `?h=` for unlisted clips), `player.vimeo.com/video/<id>`, and the
/// channel, group, album and showcase forms. A bare numeric id (a saved identifier) is
/// accepted only when `bare_id` is set.
pub fn parse_clip(s: &str, bare_id: bool) -> Option<ClipRef> {
    if bare_id && !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) {
        return Some(ClipRef {
            id: s.to_string(),
            hash: None,
        });
    }
    let url = Url::parse(s).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?.to_ascii_lowercase();
    let segs: Vec<&str> = url.path_segments()?.filter(|p| !p.is_empty()).collect();
    let numeric = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
    let (id, rest) = match host.as_str() {
        "vimeo.com" | "www.vimeo.com" => match segs.as_slice() {
            [id, rest @ ..] if numeric(id) => (*id, rest),
            ["channels", _, id, rest @ ..] if numeric(id) => (*id, rest),
            ["groups", _, "videos", id, rest @ ..] if numeric(id) => (*id, rest),
            ["album" | "showcase", _, "video", id, rest @ ..] if numeric(id) => (*id, rest),
            _ => return None,
        },
        "player.vimeo.com" => match segs.as_slice() {
            ["video", id, rest @ ..] if numeric(id) => (*id, rest),
            _ => return None,
        },
        _ => return None,
    };
    let path_hash = match rest {
        [] => None,
        [h] if h.len() <= 32 && h.bytes().all(|b| b.is_ascii_alphanumeric()) => Some(h.to_string()),
        _ => return None,
    };
    let query_hash = url
        .query_pairs()
        .find(|(k, _)| k == "h")
        .map(|(_, v)| v.into_owned())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric()));
    Some(ClipRef {
        id: id.to_string(),
        hash: path_hash.or(query_hash),
    })
}

/// Lavalink's Vimeo track from an API video object (`name`, `uploader.name`, `duration`,
/// `pictures.base_link`).
pub fn track_from_api(clip: &ClipRef, v: &Value) -> Option<TrackData> {
    let title = v["name"].as_str()?.to_string();
    let author = v["uploader"]["name"]
        .as_str()
        .unwrap_or("Unknown artist")
        .to_string();
    let artwork = v["pictures"]["base_link"].as_str().map(str::to_string);
    Some(build_track(
        clip,
        title,
        author,
        seconds(&v["duration"]),
        artwork,
    ))
}

/// The same from oEmbed (`title`, `author_name`, `duration`, `thumbnail_url`) or the v2
/// API (`title`, `user_name`, `duration`, `thumbnail_large`), when the API step fails.
pub fn track_from_oembed(clip: &ClipRef, v: &Value) -> Option<TrackData> {
    let v = if v.is_array() { &v[0] } else { v };
    let title = v["title"].as_str()?.to_string();
    let author = v["author_name"]
        .as_str()
        .or(v["user_name"].as_str())
        .unwrap_or("Unknown artist")
        .to_string();
    let artwork = v["thumbnail_url"]
        .as_str()
        .or(v["thumbnail_large"].as_str())
        .map(str::to_string);
    Some(build_track(
        clip,
        title,
        author,
        seconds(&v["duration"]),
        artwork,
    ))
}

fn seconds(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
        .filter(|s| *s >= 0)
}

fn build_track(
    clip: &ClipRef,
    title: String,
    author: String,
    duration_s: Option<i64>,
    artwork: Option<String>,
) -> TrackData {
    TrackData {
        info: TrackInfo {
            title,
            author,
            length: duration_s.map_or(UNKNOWN_LENGTH, |s| s.saturating_mul(1000)),
            identifier: clip.id.clone(),
            is_stream: false,
            uri: Some(clip.page_url()),
            artwork_url: artwork,
            isrc: None,
            source_name: "vimeo".into(),
        },
        source_data: Vec::new(),
        position: 0,
    }
}

/// `buildId` and `locale` from the `__NEXT_DATA__` script of a page.
pub fn next_data(html: &str) -> Option<(String, String)> {
    let at = html.find("id=\"__NEXT_DATA__\"")?;
    let open = at + html[at..].find('>')? + 1;
    let close = open + html[open..].find("</script>")?;
    let v: Value = serde_json::from_str(html[open..close].trim()).ok()?;
    let build = v["buildId"].as_str()?.to_string();
    let locale = v["locale"]
        .as_str()
        .or(v["defaultLocale"].as_str())
        .unwrap_or("en")
        .to_string();
    if build.is_empty() || build.contains(['/', '?', '#']) || locale.contains(['/', '?', '#']) {
        return None;
    }
    Some((build, locale))
}

/// Anonymous credentials in the Next.js page data of a clip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub clip_id: String,
    pub signature: String,
    pub jwt: String,
}

pub fn credentials(page: &Value) -> Option<Credentials> {
    let p = &page["pageProps"];
    let clip_id = match &p["clipId"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    Some(Credentials {
        clip_id,
        signature: p["pageMetadata"]["clipSignature"].as_str()?.to_string(),
        jwt: p["viewerBootstrap"]["jwt"].as_str()?.to_string(),
    })
}

/// What the player config offers, in the order tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    Dash(String),
    Hls(String),
    Progressive(String),
}

fn pick_cdn(files: &Value) -> Option<String> {
    let cdns = files["cdns"].as_object()?;
    let chosen = CDN_PRIORITY
        .iter()
        .find_map(|n| cdns.get(*n))
        .or_else(|| files["default_cdn"].as_str().and_then(|d| cdns.get(d)))
        .or_else(|| cdns.values().next())?;
    chosen["url"]
        .as_str()
        .or(chosen["avc_url"].as_str())
        .map(str::to_string)
}

/// The formats of a player config (`request.files`), best first.
pub fn formats(config: &Value) -> Vec<Format> {
    let files = &config["request"]["files"];
    let mut out = Vec::new();
    if let Some(u) = pick_cdn(&files["dash"]) {
        out.push(Format::Dash(u));
    }
    if let Some(u) = pick_cdn(&files["hls"]) {
        out.push(Format::Hls(u));
    }
    let mut progressive: Vec<&Value> = files["progressive"]
        .as_array()
        .map(|a| a.iter().filter(|p| p["url"].is_string()).collect())
        .unwrap_or_default();
    progressive.sort_by_key(|p| std::cmp::Reverse(p["height"].as_i64().unwrap_or(0)));
    if let Some(p) = progressive.first().and_then(|p| p["url"].as_str()) {
        out.push(Format::Progressive(p.to_string()));
    }
    out
}

/// The audio of a DASH "playlist.json": init section and segment URLs (fMP4 AAC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashAudio {
    pub init: Vec<u8>,
    pub segments: Vec<Url>,
    /// Each segment's duration (`end − start`), when every segment states its times.
    pub durations_ms: Option<Vec<u64>>,
}

/// Picks the AAC audio track (highest sample rate, then bitrate) of a DASH playlist; its
/// segment URLs are `playlist.base_url + audio.base_url + segment.url` resolved against the
/// playlist's directory.
pub fn dash_audio(playlist: &Value, playlist_url: &Url) -> Result<DashAudio, String> {
    let mut tracks: Vec<&Value> = playlist["audio"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|t| {
                    t["init_segment"].is_string()
                        && t["segments"].as_array().is_some_and(|s| !s.is_empty())
                        && t["codecs"].as_str().is_some_and(|c| {
                            let c = c.to_ascii_lowercase();
                            c.contains("mp4a") || c.contains("aac")
                        })
                })
                .collect()
        })
        .unwrap_or_default();
    let rate = |t: &Value| {
        t["sample_rate"]
            .as_i64()
            .or(t["audio_sample_rate"].as_i64())
            .unwrap_or(0)
    };
    let bitrate = |t: &Value| {
        t["avg_bitrate"]
            .as_i64()
            .or(t["bitrate"].as_i64())
            .unwrap_or(0)
    };
    tracks.sort_by_key(|t| std::cmp::Reverse((rate(t), bitrate(t))));
    let track = tracks
        .first()
        .ok_or("the DASH playlist has no AAC audio track")?;
    let init = base64::engine::general_purpose::STANDARD
        .decode(track["init_segment"].as_str().unwrap_or(""))
        .map_err(|e| format!("bad init segment: {e}"))?;
    let slash = |s: &str| {
        if s.is_empty() || s.ends_with('/') {
            s.to_string()
        } else {
            format!("{s}/")
        }
    };
    let prefix = format!(
        "{}{}",
        slash(playlist["base_url"].as_str().unwrap_or("")),
        slash(track["base_url"].as_str().unwrap_or(""))
    );
    let mut segments = Vec::new();
    let mut durations = Some(Vec::new());
    for s in track["segments"].as_array().into_iter().flatten() {
        let Some(u) = s["url"].as_str() else { continue };
        let span = match (s["start"].as_f64(), s["end"].as_f64()) {
            (Some(a), Some(b)) if b >= a && b.is_finite() && a.is_finite() => {
                Some(((b - a) * 1000.0).min(1e9) as u64)
            }
            _ => None,
        };
        match (span, durations.as_mut()) {
            (Some(d), Some(list)) => list.push(d),
            _ => durations = None,
        }
        let url = if u.starts_with("http://") || u.starts_with("https://") {
            Url::parse(u)
        } else {
            playlist_url.join(&format!("{prefix}{u}"))
        };
        segments.push(url.map_err(|e| format!("bad segment URL {u}: {e}"))?);
    }
    if segments.is_empty() {
        return Err("the DASH audio track has no segments".into());
    }
    Ok(DashAudio {
        init,
        segments,
        durations_ms: durations,
    })
}

pub struct VimeoSource {
    out: Outbound,
}

fn suspicious(message: &str, cause: String) -> SourceError {
    SourceError::friendly(message, Severity::Suspicious, cause)
}

fn io_cause(e: &NetError) -> String {
    format!("java.io.IOException: {}", e.detail())
}

impl VimeoSource {
    pub fn new(config: &Config) -> VimeoSource {
        VimeoSource {
            out: Outbound::new(config).with_cookies(),
        }
    }

    fn get_json(&self, req: crate::net::Request, what: &str) -> Result<Value, SourceError> {
        let resp = req
            .send()
            .map_err(|e| suspicious(LOAD_FAILED, io_cause(&e)))?;
        if !resp.is_success() {
            return Err(suspicious(
                LOAD_FAILED,
                format!(
                    "java.io.IOException: Invalid status code for {what}: {}",
                    resp.status()
                ),
            ));
        }
        let body = resp
            .bytes(MAX_JSON)
            .map_err(|e| suspicious(LOAD_FAILED, io_cause(&e)))?;
        serde_json::from_slice(&body)
            .map_err(|e| suspicious(LOAD_FAILED, format!("java.io.IOException: {what}: {e}")))
    }

    /// The anonymous credentials for a clip (Next.js bootstrap, then the clip's page data).
    fn credentials(&self, clip: &ClipRef) -> Result<Credentials, SourceError> {
        let resp = self
            .out
            .get(&format!("{SITE}/watch"))
            .header(
                "Accept",
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            )
            .send()
            .map_err(|e| suspicious(LOAD_FAILED, io_cause(&e)))?;
        if !resp.is_success() {
            return Err(suspicious(
                LOAD_FAILED,
                format!(
                    "java.io.IOException: Invalid status code for vimeo bootstrap: {}",
                    resp.status()
                ),
            ));
        }
        let html = resp
            .text()
            .map_err(|e| suspicious(LOAD_FAILED, io_cause(&e)))?;
        let (build, locale) = next_data(&html).ok_or_else(|| {
            suspicious(
                LOAD_FAILED,
                "java.lang.IllegalStateException: Next.js bootstrap data not found".into(),
            )
        })?;
        let mut req = self
            .out
            .get(&format!(
                "{SITE}/_next/data/{build}/{locale}/{}.json",
                clip.id
            ))
            .header("Accept", "application/json")
            .header("x-nextjs-data", "1")
            .header("Referer", &format!("{SITE}/watch"));
        if let Some(h) = &clip.hash {
            req = req.query(&[("h", h)]);
        }
        let page = self.get_json(req, "clip page data")?;
        credentials(&page).ok_or_else(|| {
            suspicious(
                LOAD_FAILED,
                "java.lang.IllegalStateException: anonymous credentials not found".into(),
            )
        })
    }

    /// The API's video object, signed with the anonymous credentials; None on 404.
    fn video(&self, clip: &ClipRef) -> Result<Option<Value>, SourceError> {
        let cred = self.credentials(clip)?;
        let resp = self
            .out
            .get(&format!("{API}/videos/{}", cred.clip_id))
            .query(&[
                ("anon_signature", cred.signature.as_str()),
                ("fields", API_FIELDS),
            ])
            .header("Authorization", &format!("jwt {}", cred.jwt))
            .header("Accept", API_ACCEPT)
            .header("Referer", &format!("{SITE}/"))
            .send()
            .map_err(|e| suspicious(LOAD_FAILED, io_cause(&e)))?;
        if resp.status() == 404 {
            return Ok(None);
        }
        if !resp.is_success() {
            return Err(suspicious(
                LOAD_FAILED,
                format!(
                    "java.io.IOException: Invalid status code for fetch video api: {}",
                    resp.status()
                ),
            ));
        }
        let v = resp
            .json()
            .map_err(|e| suspicious(LOAD_FAILED, io_cause(&e)))?;
        Ok(Some(v))
    }

    /// Metadata without credentials: oEmbed, then the v2 API. None when neither knows it.
    fn oembed(&self, clip: &ClipRef) -> Result<Option<TrackData>, SourceError> {
        let oembed = self
            .out
            .get(&format!("{SITE}/api/oembed.json"))
            .query(&[("url", clip.page_url().as_str())])
            .header("Accept", "application/json");
        let v2 = self
            .out
            .get(&format!("{SITE}/api/v2/video/{}.json", clip.id))
            .header("Accept", "application/json");
        let mut last = None;
        for req in [oembed, v2] {
            match req.send() {
                Ok(r) if r.is_success() => {
                    let v = r
                        .json()
                        .map_err(|e| suspicious(LOAD_FAILED, io_cause(&e)))?;
                    if let Some(t) = track_from_oembed(clip, &v) {
                        return Ok(Some(t));
                    }
                }
                Ok(r) if matches!(r.status(), 403 | 404) => {}
                Ok(r) => {
                    last = Some(suspicious(
                        LOAD_FAILED,
                        format!("java.io.IOException: Invalid status code {}", r.status()),
                    ))
                }
                Err(e) => last = Some(suspicious(LOAD_FAILED, io_cause(&e))),
            }
        }
        match last {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }

    fn load_clip(&self, clip: &ClipRef) -> Result<Answer, SourceError> {
        match self.video(clip) {
            Ok(Some(v)) => {
                if let Some(t) = track_from_api(clip, &v) {
                    return Ok(Answer::Track(t));
                }
            }
            Ok(None) => return Ok(Answer::Empty),
            Err(e) => log::debug!("vimeo {}: API step failed ({e}); trying oEmbed", clip.id),
        }
        Ok(match self.oembed(clip)? {
            Some(t) => Answer::Track(t),
            None => Answer::Empty,
        })
    }

    /// The player config of a clip, freshly signed.
    fn player_config(&self, clip: &ClipRef) -> Result<Value, SourceError> {
        let video = self.video(clip)?.ok_or_else(|| {
            suspicious(
                LOAD_FAILED,
                "java.lang.IllegalStateException: the video no longer exists".into(),
            )
        })?;
        let url = video["embed_player_config_url"].as_str().ok_or_else(|| {
            suspicious(
                LOAD_FAILED,
                "java.lang.IllegalStateException: no player config URL".into(),
            )
        })?;
        let req = self
            .out
            .get(url)
            .header("Accept", "application/json")
            .header("Referer", &clip.page_url())
            .header("Origin", SITE);
        self.get_json(req, "player config")
    }

    fn open_format(&self, f: &Format) -> Result<MediaInput, SourceError> {
        match f {
            Format::Dash(u) => {
                let url = Url::parse(u).map_err(|e| SourceError::InvalidUrl(e.to_string()))?;
                let req = self
                    .out
                    .get(u)
                    .header("Accept", "*/*")
                    .header("Origin", SITE)
                    .header("Referer", &format!("{SITE}/"));
                let resp = req
                    .send()
                    .map_err(|e| suspicious("Server responded with an error.", io_cause(&e)))?;
                if !resp.is_success() {
                    return Err(suspicious(
                        "Server responded with an error.",
                        format!(
                            "java.lang.IllegalStateException: Response code for playlist is {}",
                            resp.status()
                        ),
                    ));
                }
                let base = resp.url().clone();
                let body = resp
                    .bytes(MAX_JSON)
                    .map_err(|e| suspicious("Server responded with an error.", io_cause(&e)))?;
                let v: Value = serde_json::from_slice(&body).map_err(|e| {
                    suspicious(LOAD_FAILED, format!("java.io.IOException: playlist: {e}"))
                })?;
                let audio = dash_audio(
                    &v,
                    if base.as_str().is_empty() {
                        &url
                    } else {
                        &base
                    },
                )
                .map_err(|e| {
                    suspicious(
                        "Failed to find audio playlist URL.",
                        format!("java.lang.IllegalStateException: {e}"),
                    )
                })?;
                let index = audio
                    .durations_ms
                    .clone()
                    .map(hls::SegmentIndex::new)
                    .filter(|i| !i.is_empty());
                Ok(MediaInput {
                    reader: Box::new(Segments::new(self.out.clone(), audio)),
                    extension: Some("mp4".into()),
                    mime: Some("audio/mp4".into()),
                    is_stream: false,
                    segments: index,
                })
            }
            Format::Hls(u) => {
                let url = Url::parse(u).map_err(|e| SourceError::InvalidUrl(e.to_string()))?;
                hls::open(&self.out, &url, false)
            }
            Format::Progressive(u) => {
                let url = Url::parse(u).map_err(|e| SourceError::InvalidUrl(e.to_string()))?;
                let (stream, mime) = HttpStream::open_url(&self.out, &url)?;
                Ok(MediaInput {
                    reader: Box::new(stream),
                    extension: Some("mp4".into()),
                    mime,
                    is_stream: false,
                    segments: None,
                })
            }
        }
    }
}

impl Source for VimeoSource {
    fn name(&self) -> &'static str {
        "vimeo"
    }

    fn load(&self, req: &LoadRequest<'_>) -> Answer {
        let Some(clip) = parse_clip(req.identifier, false) else {
            return Answer::NotMine;
        };
        match self.load_clip(&clip) {
            Ok(a) => a,
            Err(e) => Answer::Error(e),
        }
    }

    fn open(&self, track: &TrackData) -> Result<MediaInput, SourceError> {
        // The identifier is the numeric id (older lavaplayer versions stored the page URL);
        // an unlisted clip's hash travels in the uri.
        let mut clip = parse_clip(&track.info.identifier, true)
            .or_else(|| track.info.uri.as_deref().and_then(|u| parse_clip(u, false)))
            .ok_or_else(|| {
                SourceError::friendly(
                    "Something broke when playing the track.",
                    Severity::Fault,
                    format!(
                        "java.lang.IllegalArgumentException: Not a Vimeo video: {}",
                        track.info.identifier
                    ),
                )
            })?;
        if clip.hash.is_none() {
            clip.hash = track
                .info
                .uri
                .as_deref()
                .and_then(|u| parse_clip(u, false))
                .filter(|c| c.id == clip.id)
                .and_then(|c| c.hash);
        }
        let config = self.player_config(&clip)?;
        let formats = formats(&config);
        let mut last = None;
        for f in &formats {
            match self.open_format(f) {
                Ok(input) => return Ok(input),
                Err(e) => {
                    log::debug!("vimeo {}: {f:?} failed: {e}", clip.id);
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| {
            SourceError::friendly(
                "Something broke when playing the track.",
                Severity::Fault,
                "java.lang.RuntimeException: No supported formats",
            )
        }))
    }
}

/// The init section then each segment, streamed one after another (fMP4 for the decoder).
/// A decoder seek jumps to a segment (`hls::SegmentIndex::JUMP`): the init section and
/// that segment onwards follow.
struct Segments {
    out: Outbound,
    init: Vec<u8>,
    init_pos: usize,
    urls: Vec<Url>,
    next: usize,
    /// `Mutex` only for `Sync` (symphonia's `MediaSource`); reached through `get_mut`.
    body: Option<Mutex<Box<dyn Read + Send>>>,
    /// Bytes handed out since the start or the last jump.
    pos: u64,
}

impl Segments {
    fn new(out: Outbound, audio: DashAudio) -> Segments {
        Segments {
            out,
            init: audio.init,
            init_pos: 0,
            urls: audio.segments,
            next: 0,
            body: None,
            pos: 0,
        }
    }

    fn next_body(&mut self) -> io::Result<bool> {
        self.body = None;
        let Some(url) = self.urls.get(self.next) else {
            return Ok(false);
        };
        self.next += 1;
        let resp = self
            .out
            .get(url.as_str())
            .header("Accept", "*/*")
            .header("Origin", SITE)
            .header("Referer", &format!("{SITE}/"))
            .send()
            .map_err(|e| io::Error::other(e.detail()))?;
        if !resp.is_success() {
            return Err(io::Error::other(format!(
                "Vimeo segment returned status {}",
                resp.status()
            )));
        }
        self.body = Some(Mutex::new(Box::new(resp.into_reader().take(MAX_SEGMENT))));
        Ok(true)
    }

    fn read_inner(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.init_pos < self.init.len() {
            let n = buf.len().min(self.init.len() - self.init_pos);
            buf[..n].copy_from_slice(&self.init[self.init_pos..self.init_pos + n]);
            self.init_pos += n;
            return Ok(n);
        }
        loop {
            if let Some(body) = self.body.as_mut() {
                let n = body
                    .get_mut()
                    .unwrap_or_else(|p| p.into_inner())
                    .read(buf)?;
                if n > 0 {
                    return Ok(n);
                }
            }
            if !self.next_body()? {
                return Ok(0);
            }
        }
    }
}

impl Read for Segments {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.read_inner(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl io::Seek for Segments {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        let target = match to {
            io::SeekFrom::Start(p) if p & hls::SegmentIndex::JUMP != 0 => {
                let i = ((p & !hls::SegmentIndex::JUMP) >> 32) as usize;
                if i >= self.urls.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "no such DASH segment",
                    ));
                }
                self.body = None;
                self.init_pos = 0;
                self.next = i;
                self.pos = 0;
                return Ok(0);
            }
            io::SeekFrom::Start(p) => Some(p),
            io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            io::SeekFrom::End(_) => None,
        };
        match target {
            Some(t) if t >= self.pos => {
                let skip = t - self.pos;
                io::copy(&mut self.by_ref().take(skip), &mut io::sink())?;
                Ok(self.pos)
            }
            _ => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "Vimeo DASH audio seeks by segment only",
            )),
        }
    }
}

impl symphonia::core::io::MediaSource for Segments {
    /// Yes (a VOD with a segment index), so the engine's read-ahead forwards the decoder's
    /// segment jumps; byte seeks other than forward skips are still refused.
    fn is_seekable(&self) -> bool {
        true
    }
    fn byte_len(&self) -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn clip(id: &str, hash: Option<&str>) -> Option<ClipRef> {
        Some(ClipRef {
            id: id.into(),
            hash: hash.map(str::to_string),
        })
    }

    #[test]
    fn identifiers() {
        assert_eq!(
            parse_clip("https://vimeo.com/76979871", false),
            clip("76979871", None)
        );
        assert_eq!(
            parse_clip("http://vimeo.com/1?share=copy", false),
            clip("1", None)
        );
        assert_eq!(
            parse_clip("https://www.vimeo.com/22", false),
            clip("22", None)
        );
        assert_eq!(
            parse_clip("https://vimeo.com/22/abc123ef", false),
            clip("22", Some("abc123ef"))
        );
        assert_eq!(
            parse_clip("https://player.vimeo.com/video/22?h=ff00", false),
            clip("22", Some("ff00"))
        );
        assert_eq!(
            parse_clip("https://vimeo.com/channels/staffpicks/33", false),
            clip("33", None)
        );
        assert_eq!(
            parse_clip("https://vimeo.com/showcase/9/video/44", false),
            clip("44", None)
        );
        assert_eq!(parse_clip("https://vimeo.com/user123", false), None);
        assert_eq!(parse_clip("https://vimeo.com.evil/22", false), None);
        assert_eq!(parse_clip("76979871", false), None);
        assert_eq!(parse_clip("76979871", true), clip("76979871", None));
    }

    #[test]
    fn mapping() {
        let c = ClipRef {
            id: "42".into(),
            hash: None,
        };
        let v = json!({"name":"A \"film\"","uploader":{"name":"Studio"},"duration":125,
            "pictures":{"base_link":"https://i.vimeocdn.com/video/1-a-d","sizes":[]}});
        let t = track_from_api(&c, &v).unwrap();
        assert_eq!(t.info.title, "A \"film\"");
        assert_eq!(t.info.author, "Studio");
        assert_eq!(t.info.length, 125_000);
        assert_eq!(t.info.identifier, "42");
        assert_eq!(t.info.uri.as_deref(), Some("https://vimeo.com/42"));
        assert_eq!(
            t.info.artwork_url.as_deref(),
            Some("https://i.vimeocdn.com/video/1-a-d")
        );
        let bare = track_from_api(&c, &json!({"name":"x"})).unwrap();
        assert_eq!(bare.info.author, "Unknown artist");
        assert_eq!(bare.info.length, UNKNOWN_LENGTH);
        let o = track_from_oembed(
            &c,
            &json!({"type":"video","title":"T","author_name":"A","duration":3,"thumbnail_url":"https://i.vimeocdn.com/video/1_295x166"}),
        )
        .unwrap();
        assert_eq!((o.info.title.as_str(), o.info.length), ("T", 3000));
    }

    #[test]
    fn next_data_and_credentials() {
        let html = r#"<html><script id="__NEXT_DATA__" type="application/json">{"props":{"pageProps":{}},"page":"/watch","buildId":"b-1","locale":"en"}</script></html>"#;
        assert_eq!(next_data(html), Some(("b-1".into(), "en".into())));
        assert_eq!(next_data("<html></html>"), None);
        let page = json!({"pageProps":{"clipId":42,"pageMetadata":{"clipSignature":"s"},"viewerBootstrap":{"jwt":"j"}}});
        assert_eq!(
            credentials(&page),
            Some(Credentials {
                clip_id: "42".into(),
                signature: "s".into(),
                jwt: "j".into()
            })
        );
    }

    #[test]
    fn dash_segments_resolve_against_the_playlist() {
        let url = Url::parse("https://vod-adaptive-ak.vimeocdn.com/exp=1~hmac=2/a/v2/playlist/av/primary/playlist.json?r=1").unwrap();
        let pl = json!({"clip_id":"x","base_url":"../../../","video":[],
            "audio":[{"id":"a","base_url":"parcel/audio/","codecs":"opus","init_segment":"AA==","segments":[{"url":"o.m4s"}]},
                     {"id":"b","base_url":"parcel/aac","codecs":"mp4a.40.2","sample_rate":48000,"init_segment":"AAEC","segments":[{"start":0,"end":1,"url":"segment-1.m4s"},{"url":"segment-2.m4s"}]}]});
        let a = dash_audio(&pl, &url).unwrap();
        assert_eq!(a.init, vec![0, 1, 2]);
        assert_eq!(
            a.segments[0].as_str(),
            "https://vod-adaptive-ak.vimeocdn.com/exp=1~hmac=2/a/v2/parcel/aac/segment-1.m4s"
        );
        assert!(dash_audio(&json!({"audio":[]}), &url).is_err());
    }

    #[test]
    fn formats_in_order() {
        let cfg = json!({"request":{"files":{
            "dash":{"cdns":{"fastly_skyfire":{"url":"https://d/f"},"akamai":{"url":"https://d/a"}},"default_cdn":"akamai"},
            "hls":{"cdns":{"akamai":{"url":"https://h/a"}},"default_cdn":"akamai"},
            "progressive":[{"url":"https://p/360","height":360},{"url":"https://p/720","height":720}]}}});
        assert_eq!(
            formats(&cfg),
            vec![
                Format::Dash("https://d/f".into()),
                Format::Hls("https://h/a".into()),
                Format::Progressive("https://p/720".into())
            ]
        );
        assert!(formats(&json!({})).is_empty());
    }
}
