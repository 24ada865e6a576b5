//! InnerTube JSON → tracks and errors (sources.md §6.6–§6.8). Pure functions over
//! `serde_json::Value` (no I/O), so every layout is unit-tested and fuzzed.

use serde_json::Value;

use super::clients::Family;
use crate::track::{Severity, TrackData, TrackInfo, UNKNOWN_LENGTH};

/// One failure of one client, with youtube-source's message and severity.
#[derive(Debug, Clone, PartialEq)]
pub struct YtError {
    pub message: String,
    pub severity: Severity,
    /// A "cannot be loaded" verdict (private video): stops the client chain at once.
    pub final_verdict: bool,
    /// The bot wall (`LOGIN_REQUIRED` "not a bot"): the address is flagged (§6.15 item 5).
    pub bot_wall: bool,
    /// `UNPLAYABLE` because embedding is disabled: retry without the embed fields.
    pub embed_refused: bool,
    /// An HTTP status that lets playback move to the next client (400 on /player, 403 media).
    pub status: Option<u16>,
    /// A transient network failure (reset, timeout, body cut short): when the last client
    /// of a load fails this way, the whole load is tried once more (§6.3).
    pub network: bool,
}

impl YtError {
    pub fn new(message: impl Into<String>, severity: Severity) -> YtError {
        YtError {
            message: message.into(),
            severity,
            final_verdict: false,
            bot_wall: false,
            embed_refused: false,
            status: None,
            network: false,
        }
    }
    pub fn common(message: impl Into<String>) -> YtError {
        YtError::new(message, Severity::Common)
    }
    pub fn suspicious(message: impl Into<String>) -> YtError {
        YtError::new(message, Severity::Suspicious)
    }
}

/// `runs[0].text`, or `simpleText`.
pub fn text(v: &Value) -> Option<String> {
    v.pointer("/runs/0/text")
        .or_else(|| v.get("simpleText"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// All `runs[].text` joined by newlines, or `simpleText`.
fn joined_text(v: &Value) -> Option<String> {
    if let Some(s) = v.get("simpleText").and_then(Value::as_str) {
        return Some(s.to_string());
    }
    let runs = v.get("runs")?.as_array()?;
    let parts: Vec<&str> = runs
        .iter()
        .filter_map(|r| r.get("text").and_then(Value::as_str))
        .collect();
    (!parts.is_empty()).then(|| parts.join("\n"))
}

/// `h:mm:ss` / `m:ss` / `s` → milliseconds.
pub fn duration_ms(s: &str) -> Option<i64> {
    let mut total: i64 = 0;
    for part in s.trim().split(':') {
        let n: i64 = part.trim().parse().ok()?;
        if n < 0 {
            return None;
        }
        total = total.checked_mul(60)?.checked_add(n)?;
    }
    total.checked_mul(1000)
}

/// The watch URL every YouTube track carries.
pub fn watch_url(id: &str) -> String {
    format!("https://www.youtube.com/watch?v={id}")
}

/// The last thumbnail if it is a `maxresdefault` one, else `mqdefault` (§6.7).
pub fn artwork(thumbnails: Option<&Value>, id: &str) -> String {
    let last = thumbnails
        .and_then(Value::as_array)
        .and_then(|a| a.last())
        .and_then(|t| t.get("url"))
        .and_then(Value::as_str);
    match last {
        Some(url) if url.contains("maxresdefault") => url.to_string(),
        _ => format!("https://i.ytimg.com/vi/{id}/mqdefault.jpg"),
    }
}

/// A YouTube track (source bytes: none).
pub fn track(
    id: &str,
    title: String,
    author: String,
    length: i64,
    is_stream: bool,
    artwork: String,
) -> TrackData {
    TrackData {
        info: TrackInfo {
            title,
            author,
            length,
            identifier: id.to_string(),
            is_stream,
            uri: Some(watch_url(id)),
            artwork_url: Some(artwork),
            isrc: None,
            source_name: "youtube".into(),
        },
        source_data: Vec::new(),
        position: 0,
    }
}

/// `playabilityStatus` → Ok or youtube-source's error (§6.8).
pub fn playability(resp: &Value) -> Result<(), YtError> {
    let Some(ps) = resp.get("playabilityStatus") else {
        return Err(YtError::suspicious("No playability status block."));
    };
    let status = ps.get("status").and_then(Value::as_str).unwrap_or_default();
    let reason = ps.get("reason").and_then(Value::as_str).map(str::to_string);
    match status {
        "OK" => Ok(()),
        "ERROR" => Err(YtError::common(
            reason.unwrap_or_else(|| "This video is unavailable".into()),
        )),
        "UNPLAYABLE" => {
            let sub = ps
                .pointer("/errorScreen/playerErrorMessageRenderer/subreason")
                .and_then(joined_text);
            let embed = reason
                .as_deref()
                .is_some_and(|r| r.contains("on other websites"));
            let mut e = match sub.or(reason) {
                Some(msg) => YtError::common(msg),
                None => YtError::suspicious("This video is unplayable."),
            };
            e.embed_refused = embed;
            Err(e)
        }
        "LOGIN_REQUIRED" => {
            let r = reason.unwrap_or_default();
            if r.contains("private video") || r.contains("This video is private") {
                let mut e = YtError::common("This is a private video.");
                e.final_verdict = true;
                Err(e)
            } else if r.contains("inappropriate for some users") {
                Err(YtError::suspicious("This video requires age verification."))
            } else {
                let mut e = YtError::common("This video requires login.");
                e.bot_wall = r.contains("not a bot");
                Err(e)
            }
        }
        "CONTENT_CHECK_REQUIRED" => {
            Err(YtError::common(reason.unwrap_or_else(|| {
                "This video cannot be viewed anonymously.".into()
            })))
        }
        "LIVE_STREAM_OFFLINE" => {
            if ps.pointer("/errorScreen/ypcTrailerRenderer").is_some() {
                Err(YtError::common("This trailer cannot be loaded."))
            } else {
                Err(YtError::common(
                    reason.unwrap_or_else(|| "This live stream is offline.".into()),
                ))
            }
        }
        _ => Err(YtError::common("This video cannot be viewed anonymously.")),
    }
}

/// Whether the player response is a live stream (or a post-live VOD still processing).
pub fn is_live(resp: &Value) -> bool {
    let live = resp
        .pointer("/videoDetails/isLive")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let ended = resp
        .pointer("/playabilityStatus/reason")
        .and_then(Value::as_str)
        .is_some_and(|r| r.contains("live event has ended"));
    live || ended
}

/// A `/player` response → the track (§6.7). The status is only enforced when
/// `videoDetails` is missing (load time, §6.6).
pub fn video_track(resp: &Value, requested: &str) -> Result<TrackData, YtError> {
    let Some(d) = resp.get("videoDetails") else {
        playability(resp)?;
        return Err(YtError::suspicious(
            "No video details in the player response.",
        ));
    };
    let id = d.get("videoId").and_then(Value::as_str).unwrap_or_default();
    if id != requested {
        return Err(YtError::suspicious(
            "The video returned is not what was requested.",
        ));
    }
    let title = d
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or("Unknown title")
        .to_string();
    let author = d
        .get("author")
        .and_then(Value::as_str)
        .unwrap_or("Unknown artist")
        .to_string();
    let live = d.get("isLive").and_then(Value::as_bool).unwrap_or(false);
    let secs = match d.get("lengthSeconds") {
        Some(Value::String(s)) => s.trim().parse::<i64>().unwrap_or(0),
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        _ => 0,
    };
    let length = if live || secs <= 0 {
        UNKNOWN_LENGTH
    } else {
        secs.saturating_mul(1000)
    };
    let art = artwork(d.pointer("/thumbnail/thumbnails"), id);
    Ok(track(id, title, author, length, live, art))
}

/// A search/mix list item (`videoRenderer`, `compactVideoRenderer`,
/// `videoWithContextRenderer`, `playlistPanelVideoRenderer`) → track; None to skip.
pub fn list_item(r: &Value) -> Option<TrackData> {
    if r.get("unplayableText").is_some() {
        return None;
    }
    let length = duration_ms(&text(r.get("lengthText")?)?)?;
    let id = r.get("videoId")?.as_str()?;
    let title = r
        .get("title")
        .and_then(text)
        .or_else(|| r.get("headline").and_then(text))
        .unwrap_or_else(|| "Unknown title".into());
    let author = r
        .get("longBylineText")
        .and_then(text)
        .or_else(|| r.get("shortBylineText").and_then(text))
        .unwrap_or_else(|| "Unknown artist".into());
    let art = artwork(r.pointer("/thumbnail/thumbnails"), id);
    Some(track(id, title, author, length, false, art))
}

fn array<'a>(v: &'a Value, ptr: &str) -> &'a [Value] {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// `/search` results (first page), per client family.
pub fn search_results(resp: &Value, family: Family) -> Vec<TrackData> {
    let (sections, key) = match family {
        Family::Web => (
            "/contents/twoColumnSearchResultsRenderer/primaryContents/sectionListRenderer/contents",
            "videoRenderer",
        ),
        Family::Mweb => (
            "/contents/sectionListRenderer/contents",
            "videoWithContextRenderer",
        ),
        Family::App | Family::Music => (
            "/contents/sectionListRenderer/contents",
            "compactVideoRenderer",
        ),
    };
    array(resp, sections)
        .iter()
        .flat_map(|s| array(s, "/itemSectionRenderer/contents"))
        .filter_map(|item| item.get(key))
        .filter_map(list_item)
        .collect()
}

/// YouTube Music `/search` (songs) results.
pub fn music_search_results(resp: &Value) -> Vec<TrackData> {
    let sections = array(
        resp,
        "/contents/tabbedSearchResultsRenderer/tabs/0/tabRenderer/content/sectionListRenderer/contents",
    );
    let Some(shelf) = sections.iter().find_map(|s| s.get("musicShelfRenderer")) else {
        return Vec::new();
    };
    array(shelf, "/contents")
        .iter()
        .filter_map(|i| i.get("musicResponsiveListItemRenderer"))
        .filter_map(music_item)
        .collect()
}

fn music_item(r: &Value) -> Option<TrackData> {
    let first =
        r.pointer("/flexColumns/0/musicResponsiveListItemFlexColumnRenderer/text/runs/0")?;
    let title = first.get("text")?.as_str()?.to_string();
    let id = first
        .pointer("/navigationEndpoint/watchEndpoint/videoId")?
        .as_str()?;
    let runs = array(
        r,
        "/flexColumns/1/musicResponsiveListItemFlexColumnRenderer/text/runs",
    );
    let author = runs
        .first()
        .and_then(|x| x.get("text"))
        .and_then(Value::as_str)
        .unwrap_or("Unknown artist")
        .to_string();
    let last = runs.last()?;
    if last.get("navigationEndpoint").is_some() {
        return None;
    }
    let length = duration_ms(last.get("text")?.as_str()?)?;
    let art = r
        .pointer("/thumbnail/musicThumbnailRenderer/thumbnail/thumbnails/0/url")
        .and_then(Value::as_str)
        .map(|u| match u.find('=') {
            Some(i) => format!("{}=w1000-h1000", &u[..i]),
            None => u.to_string(),
        })
        .unwrap_or_else(|| format!("https://i.ytimg.com/vi/{id}/mqdefault.jpg"));
    Some(track(id, title, author, length, false, art))
}

/// One page of a playlist.
#[derive(Debug, Default)]
pub struct PlaylistPage {
    pub name: Option<String>,
    pub tracks: Vec<TrackData>,
    pub continuation: Option<String>,
}

/// An `ERROR` alert of a `/browse` answer (private or missing list), as a common error.
pub fn browse_alert(resp: &Value) -> Option<YtError> {
    array(resp, "/alerts").iter().find_map(|a| {
        let r = a.get("alertRenderer")?;
        (r.get("type")?.as_str()? == "ERROR")
            .then(|| YtError::common(r.get("text").and_then(joined_text).unwrap_or_default()))
    })
}

fn playlist_name(resp: &Value) -> Option<String> {
    resp.pointer("/metadata/playlistMetadataRenderer/title")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            resp.pointer("/header/pageHeaderRenderer/pageTitle")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .or_else(|| {
            resp.pointer("/header/playlistHeaderRenderer/title")
                .and_then(text)
        })
        .or_else(|| page_header_view_model_title(resp))
}

/// The playlist title of view-model headers: ANDROID wraps `pageHeaderViewModel` in an
/// element renderer (youtube-source's Android `extractPlaylistName`); the newer WEB
/// header puts it directly under `pageHeaderRenderer.content`.
fn page_header_view_model_title(resp: &Value) -> Option<String> {
    const ANDROID: &str = "/header/pageHeaderRenderer/content/elementRenderer/newElement/type/componentType/model/youtubeModel/viewModel/pageHeaderViewModel";
    const WEB: &str = "/header/pageHeaderRenderer/content/pageHeaderViewModel";
    [ANDROID, WEB].iter().find_map(|p| {
        resp.pointer(p)?
            .pointer("/title/dynamicTextViewModel/text/content")?
            .as_str()
            .map(str::to_string)
    })
}

fn playlist_entry(r: &Value) -> Option<TrackData> {
    r.get("isPlayable")?;
    let author = text(r.get("shortBylineText")?)?;
    let id = r.get("videoId")?.as_str()?;
    let title = r
        .get("title")
        .and_then(text)
        .unwrap_or_else(|| "Unknown title".into());
    let length = match r.get("lengthSeconds") {
        Some(Value::String(s)) => s.trim().parse::<i64>().ok()?.saturating_mul(1000),
        Some(Value::Number(n)) => n.as_i64()?.saturating_mul(1000),
        _ => return None,
    };
    let art = artwork(r.pointer("/thumbnail/thumbnails"), id);
    Some(track(id, title, author, length, false, art))
}

/// Entries of a playlist list (first page or continuation), with the next token.
fn playlist_entries(entries: &[Value]) -> (Vec<TrackData>, Option<String>) {
    let mut tracks = Vec::new();
    let mut next = None;
    for e in entries {
        if let Some(r) = e
            .get("playlistVideoRenderer")
            .or_else(|| e.get("videoRenderer"))
        {
            tracks.extend(playlist_entry(r));
        } else if let Some(c) = e.get("continuationItemRenderer") {
            next = c
                .pointer("/continuationEndpoint/continuationCommand/token")
                .or_else(|| {
                    c.pointer(
                        "/continuationEndpoint/commandExecutorCommand/commands/1/continuationCommand/token",
                    )
                })
                .and_then(Value::as_str)
                .map(str::to_string);
        }
    }
    (tracks, next)
}

/// The first `/browse` page of a playlist.
pub fn playlist_first_page(resp: &Value, family: Family) -> Result<PlaylistPage, YtError> {
    if let Some(e) = browse_alert(resp) {
        return Err(e);
    }
    let name = playlist_name(resp);
    let list = match family {
        Family::Web => resp.pointer("/contents/twoColumnBrowseResultsRenderer/tabs/0/tabRenderer/content/sectionListRenderer/contents/0/itemSectionRenderer/contents/0/playlistVideoListRenderer"),
        Family::Mweb => resp.pointer("/contents/singleColumnBrowseResultsRenderer/tabs/0/tabRenderer/content/sectionListRenderer/contents/0/itemSectionRenderer/contents/0/playlistVideoListRenderer"),
        Family::App | Family::Music => resp
            .pointer("/contents/singleColumnBrowseResultsRenderer/tabs/0/tabRenderer/content/sectionListRenderer/contents/0/playlistVideoListRenderer")
            .or_else(|| resp.pointer("/contents/sectionListRenderer/contents/0/playlistVideoListRenderer")),
    };
    let Some(list) = list else {
        return Err(YtError::suspicious("Could not find tracks from playlist."));
    };
    let (tracks, mut continuation) = playlist_entries(array(list, "/contents"));
    if continuation.is_none() {
        continuation = list
            .pointer("/continuations/0/nextContinuationData/continuation")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    Ok(PlaylistPage {
        name,
        tracks,
        continuation,
    })
}

/// A continuation page (`/browse` with `continuation`).
pub fn playlist_continuation(resp: &Value) -> PlaylistPage {
    if let Some(items) = resp
        .pointer("/onResponseReceivedActions/0/appendContinuationItemsAction/continuationItems")
        .and_then(Value::as_array)
    {
        let (tracks, continuation) = playlist_entries(items);
        return PlaylistPage {
            name: None,
            tracks,
            continuation,
        };
    }
    let cont = resp.pointer("/continuationContents/playlistVideoListContinuation");
    let (tracks, _) = playlist_entries(cont.map_or(&[][..], |c| array(c, "/contents")));
    let continuation = cont
        .and_then(|c| c.pointer("/continuations/0/nextContinuationData/continuation"))
        .and_then(Value::as_str)
        .map(str::to_string);
    PlaylistPage {
        name: None,
        tracks,
        continuation,
    }
}

/// ANDROID_MUSIC's mix: the "Up next" tab of `singleColumnMusicWatchNextResultsRenderer`,
/// its `musicQueueRenderer.content.playlistPanelRenderer` (same item shape as the others).
fn music_up_next(resp: &Value) -> Option<&Value> {
    array(
        resp,
        "/contents/singleColumnMusicWatchNextResultsRenderer/tabbedRenderer/watchNextTabbedResultsRenderer/tabs",
    )
    .iter()
    .find(|t| {
        t.pointer("/tabRenderer/title")
            .and_then(Value::as_str)
            .is_some_and(|s| s.eq_ignore_ascii_case("Up next"))
    })?
    .pointer("/tabRenderer/content/musicQueueRenderer/content/playlistPanelRenderer")
}

/// A mix (`/next` with an `RD…` list): name and tracks.
pub fn mix(resp: &Value) -> Result<(String, Vec<TrackData>), YtError> {
    let pl = resp
        .pointer("/contents/twoColumnWatchNextResults/playlist/playlist")
        .or_else(|| resp.pointer("/contents/singleColumnWatchNextResults/playlist/playlist"))
        .or_else(|| music_up_next(resp));
    let Some(pl) = pl else {
        return Err(YtError::suspicious("Could not find tracks from mix."));
    };
    let name = pl
        .get("title")
        .and_then(|t| t.as_str().map(str::to_string).or_else(|| text(t)))
        .unwrap_or_else(|| "YouTube mix".into());
    let tracks: Vec<TrackData> = array(pl, "/contents")
        .iter()
        .filter_map(|i| i.get("playlistPanelVideoRenderer"))
        .filter_map(list_item)
        .collect();
    if tracks.is_empty() {
        return Err(YtError::suspicious("Could not find tracks from mix."));
    }
    Ok((name, tracks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations() {
        assert_eq!(duration_ms("3:32"), Some(212_000));
        assert_eq!(duration_ms("1:00:01"), Some(3_601_000));
        assert_eq!(duration_ms("45"), Some(45_000));
        assert_eq!(duration_ms("LIVE"), None);
        assert_eq!(duration_ms(""), None);
    }

    #[test]
    fn playability_table() {
        let st = |s: Value| playability(&json!({ "playabilityStatus": s }));
        assert!(st(json!({"status": "OK"})).is_ok());
        assert_eq!(
            st(json!({"status": "ERROR", "reason": "This video is unavailable"}))
                .unwrap_err()
                .message,
            "This video is unavailable"
        );
        let e =
            st(json!({"status": "LOGIN_REQUIRED", "reason": "This video is private"})).unwrap_err();
        assert_eq!(
            (e.message.as_str(), e.final_verdict),
            ("This is a private video.", true)
        );
        let e = st(json!({"status": "LOGIN_REQUIRED", "reason": "Sign in to confirm you\u{2019}re not a bot"}))
            .unwrap_err();
        assert_eq!(e.message, "This video requires login.");
        assert!(e.bot_wall && e.severity == Severity::Common);
        let e = st(json!({"status": "LOGIN_REQUIRED", "reason": "Sign in to confirm your age. This video may be inappropriate for some users."}))
            .unwrap_err();
        assert_eq!(e.message, "This video requires age verification.");
        assert_eq!(e.severity, Severity::Suspicious);
        let e = st(json!({"status": "UNPLAYABLE", "reason": "Video unavailable",
            "errorScreen": {"playerErrorMessageRenderer": {"subreason": {"runs": [{"text": "Line one"}, {"text": "line two"}]}}}}))
            .unwrap_err();
        assert_eq!(e.message, "Line one\nline two");
        let e = st(json!({"status": "UNPLAYABLE"})).unwrap_err();
        assert_eq!(e.message, "This video is unplayable.");
        let e = st(json!({"status": "UNPLAYABLE", "reason": "Playback on other websites has been disabled by the video owner."}))
            .unwrap_err();
        assert!(e.embed_refused);
        let e =
            st(json!({"status": "LIVE_STREAM_OFFLINE", "errorScreen": {"ypcTrailerRenderer": {}}}))
                .unwrap_err();
        assert_eq!(e.message, "This trailer cannot be loaded.");
        let e = st(json!({"status": "WHATEVER"})).unwrap_err();
        assert_eq!(e.message, "This video cannot be viewed anonymously.");
        assert_eq!(
            playability(&json!({})).unwrap_err().message,
            "No playability status block."
        );
    }

    #[test]
    fn video_details_mapping() {
        let resp = json!({
            "playabilityStatus": {"status": "OK"},
            "videoDetails": {"videoId": "abcdefghijk", "title": "T \"q\"", "author": "A",
                "lengthSeconds": "212", "isLive": false,
                "thumbnail": {"thumbnails": [{"url": "https://i.ytimg.com/vi/abcdefghijk/default.jpg"},
                    {"url": "https://i.ytimg.com/vi/abcdefghijk/maxresdefault.jpg"}]}}
        });
        let t = video_track(&resp, "abcdefghijk").unwrap();
        assert_eq!(t.info.length, 212_000);
        assert_eq!(
            t.info.artwork_url.as_deref(),
            Some("https://i.ytimg.com/vi/abcdefghijk/maxresdefault.jpg")
        );
        assert_eq!(
            video_track(&resp, "zzzzzzzzzzz").unwrap_err().message,
            "The video returned is not what was requested."
        );
        let live = json!({"videoDetails": {"videoId": "abcdefghijk", "title": "L", "author": "A",
            "lengthSeconds": "0", "isLive": true}});
        let t = video_track(&live, "abcdefghijk").unwrap();
        assert!(t.info.is_stream);
        assert_eq!(t.info.length, UNKNOWN_LENGTH);
        assert_eq!(
            t.info.artwork_url.as_deref(),
            Some("https://i.ytimg.com/vi/abcdefghijk/mqdefault.jpg")
        );
    }

    #[test]
    fn garbage_never_panics() {
        for v in [
            json!(null),
            json!([]),
            json!({"contents": 5}),
            json!({"alerts": [1]}),
        ] {
            let _ = search_results(&v, Family::Web);
            let _ = search_results(&v, Family::App);
            let _ = music_search_results(&v);
            let _ = playlist_first_page(&v, Family::Web);
            let _ = playlist_continuation(&v);
            let _ = mix(&v);
            let _ = video_track(&v, "x");
        }
    }
}
