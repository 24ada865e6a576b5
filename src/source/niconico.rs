//! The `niconico` source (sources.md §5), enabled by `[sources] nico` (off by default, as in
//! Lavalink). Lavaplayer's DMC flow is dead since 2024; this is the current "DMS" (domand)
//! one: the watch data as JSON (`?responseType=json`), an access-rights request answered
//! with the HLS master URL and a `domand_bid` session cookie, the master's audio rendition,
//! then a VOD media playlist of fMP4 (CMAF) AAC segments encrypted with AES-128, decrypted
//! by the shared HLS engine (key fetched with the same cookie jar). The signed URLs last
//! about an hour; a playing track re-runs the access rights when its playlist gets old.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::{hls, Answer, LoadRequest, MediaInput, Source, SourceError};
use crate::config::Config;
use crate::net::{Outbound, Url};
use crate::track::{Severity, TrackData, TrackInfo, UNKNOWN_LENGTH};

const WATCH: &str = "https://www.nicovideo.jp/watch/";
/// The snapshot search API (sources.md §5.3, NodeLink's `ncsearch:`; the site's documented
/// host today).
const SEARCH: &str = "https://snapshot.search.nicovideo.jp/api/v2/snapshot/video/contents/search";
const SEARCH_PREFIX: &str = "ncsearch:";
/// Results asked for per search.
const SEARCH_LIMIT: &str = "25";
const SEARCH_FAILED: &str = "Loading search results from Niconico failed.";
const NVAPI: &str = "https://nvapi.nicovideo.jp/v1/watch/";
const INFO_FAILED: &str = "Error occurred when extracting video info.";
/// Re-run the access rights before the signed segment URLs (about an hour) run out.
const REFRESH_AFTER: Duration = Duration::from_secs(40 * 60);

/// The video id of `[http[s]://][www.]nicovideo.jp/watch/<xx><digits>[?…]` (lavaplayer's
/// pattern: any two characters, then digits) or of the short link `[http[s]://]nico.ms/<id>`
/// (what the site's share button gives; the id is in the link, so no request follows it).
pub fn video_id(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url);
    let rest = match rest.strip_prefix("nico.ms/") {
        Some(short) => short,
        None => {
            let rest = rest.strip_prefix("www.").unwrap_or(rest);
            rest.strip_prefix("nicovideo.jp/watch/")?
        }
    };
    let id = rest.split_once('?').map_or(rest, |(id, _)| id);
    bare_id(id).then(|| id.to_string())
}

/// `<xx><digits>` (`sm9`, `so123`, `nm…`).
fn bare_id(id: &str) -> bool {
    let mut chars = id.chars();
    let two = chars.next().is_some() && chars.next().is_some();
    let digits = chars.as_str();
    two && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// What the watch JSON gives for playback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domand {
    pub watch_id: String,
    pub track_id: String,
    pub access_key: String,
    /// `[videoId, audioId]` pairs for the access-rights request.
    pub outputs: Vec<[String; 2]>,
}

/// The `data.response` of the watch JSON, or why it is missing (`meta` status/code).
pub fn watch_response(v: &Value) -> Result<&Value, String> {
    let r = &v["data"]["response"];
    if r.is_object() {
        return Ok(r);
    }
    Err(format!(
        "watch data has no response (status {}, code {})",
        v["meta"]["status"], v["meta"]["code"]
    ))
}

/// Lavalink's Niconico track: title, uploader (channel) name, duration, thumbnail.
pub fn track_from_watch(id: &str, r: &Value) -> Option<TrackData> {
    let video = &r["video"];
    let title = video["title"].as_str()?.to_string();
    let author = r["owner"]["nickname"]
        .as_str()
        .or(r["channel"]["name"].as_str())
        .unwrap_or("Unknown artist")
        .to_string();
    let length = video["duration"]
        .as_i64()
        .or_else(|| video["duration"].as_f64().map(|f| f as i64))
        .filter(|d| *d >= 0)
        .map_or(UNKNOWN_LENGTH, |d| d.saturating_mul(1000));
    let thumb = &video["thumbnail"];
    let artwork = ["url", "largeUrl", "middleUrl", "ogp"]
        .iter()
        .find_map(|k| thumb[*k].as_str().filter(|s| !s.is_empty()))
        .map(str::to_string);
    let id = r["client"]["watchId"]
        .as_str()
        .filter(|w| bare_id(w))
        .unwrap_or(id);
    Some(TrackData {
        info: TrackInfo {
            title,
            author,
            length,
            identifier: id.to_string(),
            is_stream: false,
            uri: Some(format!("{WATCH}{id}")),
            artwork_url: artwork,
            isrc: None,
            source_name: "niconico".into(),
        },
        source_data: Vec::new(),
        position: 0,
    })
}

/// The DMS delivery of a watch response: the best available audio paired with every
/// available video (NodeLink's choice), the access key and the tracking id.
pub fn domand(r: &Value) -> Result<Domand, String> {
    let d = &r["media"]["domand"];
    let access_key = d["accessRightKey"]
        .as_str()
        .ok_or("no DMS delivery for this video")?
        .to_string();
    let available = |list: &Value| -> Vec<(String, i64, i64)> {
        list.as_array()
            .map(|a| {
                a.iter()
                    .filter(|x| x["isAvailable"].as_bool().unwrap_or(false))
                    .filter_map(|x| {
                        Some((
                            x["id"].as_str()?.to_string(),
                            x["qualityLevel"].as_i64().unwrap_or(0),
                            x["bitRate"].as_i64().unwrap_or(0),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let audio = available(&d["audios"])
        .into_iter()
        .max_by_key(|a| (a.1, a.2))
        .ok_or("no available audio")?
        .0;
    let videos = available(&d["videos"]);
    if videos.is_empty() {
        return Err("no available video".into());
    }
    let watch_id = r["client"]["watchId"].as_str().unwrap_or("").to_string();
    Ok(Domand {
        watch_id,
        track_id: r["client"]["watchTrackId"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        access_key,
        outputs: videos.into_iter().map(|v| [v.0, audio.clone()]).collect(),
    })
}

/// `data.contentUrl` of an access-rights answer.
pub fn content_url(v: &Value) -> Option<&str> {
    v["data"]["contentUrl"].as_str()
}

/// Tracks of a snapshot search answer (`data[]`: `contentId`, `title`, `lengthSeconds`,
/// `thumbnailUrl`). The API names no uploader (only `userId`/`channelId`), so the author is
/// lavaplayer's "Unknown artist" until the track is loaded by its URL.
pub fn search_tracks(v: &Value) -> Vec<TrackData> {
    let Some(items) = v["data"].as_array() else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let id = item["contentId"].as_str().filter(|id| bare_id(id))?;
            let title = item["title"].as_str()?.to_string();
            let length = item["lengthSeconds"]
                .as_i64()
                .filter(|s| *s >= 0)
                .map_or(UNKNOWN_LENGTH, |s| s.saturating_mul(1000));
            Some(TrackData {
                info: TrackInfo {
                    title,
                    author: "Unknown artist".into(),
                    length,
                    identifier: id.to_string(),
                    is_stream: false,
                    uri: Some(format!("{WATCH}{id}")),
                    artwork_url: item["thumbnailUrl"]
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .map(str::to_string),
                    isrc: None,
                    source_name: "niconico".into(),
                },
                source_data: Vec::new(),
                position: 0,
            })
        })
        .collect()
}

pub struct NicoSource {
    out: Outbound,
}

fn api_headers(req: crate::net::Request) -> crate::net::Request {
    req.header("X-Frontend-Id", "6")
        .header("X-Frontend-Version", "0")
        .header("X-Request-With", "https://www.nicovideo.jp")
        .header("X-Niconico-Language", "en-us")
        .header("Referer", "https://www.nicovideo.jp/")
}

fn info_failed(cause: String) -> SourceError {
    SourceError::friendly(INFO_FAILED, Severity::Suspicious, cause)
}

impl NicoSource {
    pub fn new(config: &Config) -> NicoSource {
        NicoSource {
            out: Outbound::new(config).with_cookies(),
        }
    }

    /// The watch JSON's `data.response`; None when the video does not exist.
    fn watch(out: &Outbound, id: &str) -> Result<Option<Value>, SourceError> {
        let resp = api_headers(out.get(&format!("{WATCH}{id}")))
            .query(&[("responseType", "json")])
            .header("Accept", "application/json")
            .send()
            .map_err(|e| info_failed(format!("java.io.IOException: {}", e.detail())))?;
        if matches!(resp.status(), 404 | 410) {
            return Ok(None);
        }
        let status = resp.status();
        let v = resp
            .json()
            .map_err(|e| info_failed(format!("java.io.IOException: {}", e.detail())))?;
        if !matches!(status, 200 | 203 | 206) && v["data"]["response"].is_null() {
            return Err(info_failed(format!(
                "java.io.IOException: Invalid status code for watch data: {status} ({})",
                v["meta"]["code"]
            )));
        }
        match watch_response(&v) {
            Ok(r) => Ok(Some(r.clone())),
            Err(e) => Err(info_failed(format!("java.lang.IllegalStateException: {e}"))),
        }
    }

    /// `ncsearch:<query>`: the most viewed videos matching title or tags.
    fn search(&self, query: &str) -> Answer {
        let failed = |cause: String| {
            Answer::Error(SourceError::friendly(
                SEARCH_FAILED,
                Severity::Suspicious,
                cause,
            ))
        };
        let resp = self
            .out
            .get(SEARCH)
            .query(&[
                ("q", query),
                ("targets", "title,tags"),
                (
                    "fields",
                    "contentId,title,userId,channelId,lengthSeconds,thumbnailUrl",
                ),
                ("_sort", "-viewCounter"),
                ("_limit", SEARCH_LIMIT),
                ("_context", "basalt"),
            ])
            .header("Accept", "application/json")
            .search(true)
            .send();
        let resp = match resp {
            Ok(r) => r,
            Err(e) => return failed(format!("java.io.IOException: {}", e.detail())),
        };
        if !resp.is_success() {
            return failed(format!(
                "java.io.IOException: Invalid status code for search response: {}",
                resp.status()
            ));
        }
        match resp.json() {
            Ok(v) => match search_tracks(&v) {
                tracks if tracks.is_empty() => Answer::Empty,
                tracks => Answer::Search(tracks),
            },
            Err(e) => failed(format!("java.io.IOException: {}", e.detail())),
        }
    }

    /// Watch data → access rights → the audio media playlist (URL and parsed list).
    fn resolve(out: &Outbound, id: &str) -> Result<(Url, hls::MediaPlaylist), SourceError> {
        let r = Self::watch(out, id)?.ok_or_else(|| {
            SourceError::friendly(
                "This video is not available.",
                Severity::Common,
                "java.lang.IllegalStateException: the watch page answered 404",
            )
        })?;
        let d = domand(&r).map_err(|e| {
            SourceError::friendly(
                "This video cannot be played.",
                Severity::Common,
                format!("java.lang.IllegalStateException: {e}"),
            )
        })?;
        let watch_id = if d.watch_id.is_empty() {
            id
        } else {
            &d.watch_id
        };
        let body = json!({ "outputs": d.outputs });
        let resp = api_headers(out.post(&format!("{NVAPI}{watch_id}/access-rights/hls")))
            .query(&[("actionTrackId", d.track_id.as_str())])
            .header("X-Access-Right-Key", &d.access_key)
            .header("Accept", "application/json")
            .json(&body)
            .send()
            .map_err(|e| info_failed(format!("java.io.IOException: {}", e.detail())))?;
        let status = resp.status();
        let v = resp.json().unwrap_or(Value::Null);
        let url = match (status, content_url(&v)) {
            (200 | 201, Some(u)) => u.to_string(),
            _ => {
                return Err(SourceError::friendly(
                    "Niconico refused access to the stream.",
                    Severity::Suspicious,
                    format!(
                        "java.lang.IllegalStateException: access rights answered {status} ({})",
                        v["meta"]["errorCode"].as_str().unwrap_or("no error code")
                    ),
                ))
            }
        };
        let url = Url::parse(&url).map_err(|e| SourceError::InvalidUrl(e.to_string()))?;
        hls::media_playlist(out, &url)
    }
}

impl Source for NicoSource {
    fn name(&self) -> &'static str {
        "niconico"
    }

    fn load(&self, req: &LoadRequest<'_>) -> Answer {
        if let Some(q) = req.identifier.strip_prefix(SEARCH_PREFIX) {
            let q = q.trim();
            return if q.is_empty() {
                Answer::Empty
            } else {
                self.search(q)
            };
        }
        let Some(id) = video_id(req.identifier) else {
            return Answer::NotMine;
        };
        match Self::watch(&self.out, &id) {
            Ok(Some(r)) => match track_from_watch(&id, &r) {
                Some(t) => Answer::Track(t),
                None => Answer::Error(info_failed(
                    "java.lang.IllegalStateException: watch data has no video title".into(),
                )),
            },
            Ok(None) => Answer::Empty,
            Err(e) => Answer::Error(e),
        }
    }

    fn open(&self, track: &TrackData) -> Result<MediaInput, SourceError> {
        let ident = &track.info.identifier;
        let id = if bare_id(ident) {
            ident.clone()
        } else {
            video_id(ident)
                .or_else(|| track.info.uri.as_deref().and_then(video_id))
                .ok_or_else(|| {
                    SourceError::friendly(
                        "Something broke when playing the track.",
                        Severity::Fault,
                        format!(
                            "java.lang.IllegalArgumentException: Not a Niconico video: {ident}"
                        ),
                    )
                })?
        };
        // One cookie jar per playing track: its `domand_bid` goes with every playlist, key
        // and segment request.
        let out = self.out.with_cookies();
        let (url, pl) = Self::resolve(&out, &id)?;
        let refresh_out = out.clone();
        let options = hls::Options {
            refresh: Some(Arc::new(move || Self::resolve(&refresh_out, &id))),
            refresh_after: REFRESH_AFTER,
        };
        hls::open_media(&out, url, pl, options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert_eq!(
            video_id("https://www.nicovideo.jp/watch/sm9").as_deref(),
            Some("sm9")
        );
        assert_eq!(
            video_id("nicovideo.jp/watch/so123?ref=x").as_deref(),
            Some("so123")
        );
        assert_eq!(
            video_id("http://nicovideo.jp/watch/nm42").as_deref(),
            Some("nm42")
        );
        assert_eq!(video_id("https://www.nicovideo.jp/watch/sm"), None);
        assert_eq!(video_id("https://www.nicovideo.jp/watch/sm9x"), None);
        assert_eq!(video_id("https://sp.nicovideo.jp/watch/sm9"), None);
        assert_eq!(video_id("https://nico.ms/sm9").as_deref(), Some("sm9"));
        assert_eq!(
            video_id("nico.ms/so123?ref=share").as_deref(),
            Some("so123")
        );
        assert_eq!(video_id("https://nico.ms/sm9/x"), None);
        assert_eq!(video_id("https://www.nicovideo.jp/watch/sm9/"), None);
    }

    fn response() -> Value {
        json!({
            "client": {"watchId": "sm9", "watchTrackId": "AbC_1700000000000"},
            "media": {"domand": {"accessRightKey": "key.jwt",
                "videos": [{"id":"video-h264-360p","isAvailable":true,"qualityLevel":1},
                           {"id":"video-h264-1080p","isAvailable":false,"qualityLevel":4},
                           {"id":"video-h264-144p","isAvailable":true,"qualityLevel":0}],
                "audios": [{"id":"audio-aac-64kbps","isAvailable":true,"qualityLevel":0,"bitRate":64000},
                           {"id":"audio-aac-192kbps","isAvailable":true,"qualityLevel":1,"bitRate":192000}]}},
            "video": {"title": "Title", "duration": 319, "thumbnail": {"url": "https://nicovideo.cdn.nimg.jp/thumbnails/9/9"}},
            "owner": {"nickname": "Owner"}
        })
    }

    #[test]
    fn mapping_and_outputs() {
        let r = response();
        let t = track_from_watch("sm9", &r).unwrap();
        assert_eq!(t.info.title, "Title");
        assert_eq!(t.info.author, "Owner");
        assert_eq!(t.info.length, 319_000);
        assert_eq!(
            t.info.uri.as_deref(),
            Some("https://www.nicovideo.jp/watch/sm9")
        );
        let d = domand(&r).unwrap();
        assert_eq!(d.access_key, "key.jwt");
        assert_eq!(
            d.outputs,
            vec![
                [
                    "video-h264-360p".to_string(),
                    "audio-aac-192kbps".to_string()
                ],
                [
                    "video-h264-144p".to_string(),
                    "audio-aac-192kbps".to_string()
                ]
            ]
        );
        assert!(domand(&json!({"media": {"domand": null}})).is_err());
        assert!(watch_response(&json!({"meta": {"status": 404}})).is_err());
    }
}
