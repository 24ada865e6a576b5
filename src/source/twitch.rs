//! The `twitch` source (sources.md §3): live channels only, as in Lavalink.
//!
//! Load: the site's client id (scraped once from `www.twitch.tv`), then one GQL query for the
//! channel's stream state and last broadcast title. The metadata query is sent as query text,
//! not as a persisted-query hash, because Twitch rotates those hashes; the hash form is tried
//! only when the text form is refused.
//!
//! Playback: a playback access token (GQL), the usher master playlist, its **last** variant
//! (the `audio_only` rendition), then the live media playlist, re-read before every segment
//! the way lavaplayer steps a live window. The token is renewed before it expires, measured
//! on an injectable clock; a playlist that stops growing for one segment's duration ends the
//! track. Segments are MPEG-TS carrying ADTS AAC, demuxed by [`super::mpegts`].

use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::http::{HttpClient, HttpStream};
use super::{hls, mpegts, Answer, LoadRequest, MediaInput, Source, SourceError};
use crate::config::Config;
use crate::net::{Outbound, Url};
use crate::track::{Severity, TrackData, TrackInfo, UNKNOWN_LENGTH};

const HOME_URL: &str = "https://www.twitch.tv";
const GQL_URL: &str = "https://gql.twitch.tv/gql";
const USHER_URL: &str = "https://usher.ttvnw.net/api/channel/hls/";
const PREVIEW_URL: &str = "https://static-cdn.jtvnw.net/previews-ttv/live_user_";
/// Twitch's public web client id, used when the home page does not show one (NodeLink does
/// the same); a scraped id always wins.
const FALLBACK_CLIENT_ID: &str = "kimne78kx3ncx6brgo4mv6wki5h1ko";
/// lavaplayer 2.2.7's persisted hash of `StreamMetadata` (fallback only).
const METADATA_HASH: &str = "ad022ca32220d5523d03a23cbcb5beaa1e0999889c1f8f78f9f2520dafb5cae6";
const METADATA_QUERY: &str = "query StreamMetadata($channelLogin: String!) { user(login: $channelLogin) { stream { type } lastBroadcast { title } } }";
const TOKEN_QUERY: &str = "query PlaybackAccessToken_Template($login: String!, $isLive: Boolean!, $vodID: ID!, $isVod: Boolean!, $playerType: String!) { streamPlaybackAccessToken(channelName: $login, params: {platform: \"web\", playerBackend: \"mediaplayer\", playerType: $playerType}) @include(if: $isLive) { value signature __typename } videoPlaybackAccessToken(id: $vodID, params: {platform: \"web\", playerBackend: \"mediaplayer\", playerType: $playerType}) @include(if: $isVod) { value signature __typename } }";
/// Largest playlist or segment read.
const MAX_PLAYLIST: usize = 1 << 20;
const MAX_SEGMENT: u64 = 16 << 20;
/// Live playlist re-poll interval while waiting for a new segment (lavaplayer's).
const POLL: Duration = Duration::from_millis(200);
/// The token is renewed this long before Twitch says it expires.
const EXPIRY_MARGIN_MS: i64 = 5000;

/// Milliseconds since the Unix epoch; injectable so token expiry is testable without sleeping.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    })
}

/// Headers every GQL, playlist and segment request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    pub client_id: String,
    pub device_id: Option<String>,
}

pub struct TwitchSource {
    out: Outbound,
    keys: Mutex<Option<Keys>>,
    clock: Clock,
}

impl TwitchSource {
    pub fn new(config: &Config) -> TwitchSource {
        TwitchSource::with_clock(config, system_clock())
    }

    pub fn with_clock(config: &Config, clock: Clock) -> TwitchSource {
        TwitchSource {
            out: Outbound::new(config),
            keys: Mutex::new(None),
            clock,
        }
    }

    /// The client and device ids, fetched once (lavaplayer retries lazily after a failure).
    fn keys(&self) -> Result<Keys, SourceError> {
        let mut cached = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = cached.as_ref() {
            return Ok(k.clone());
        }
        let failed = |cause: String| {
            SourceError::friendly(
                "Loading Twitch main page failed.",
                Severity::Suspicious,
                format!("java.io.IOException: {cause}"),
            )
        };
        let resp = self
            .out
            .get(HOME_URL)
            .header("Accept", "text/html")
            .send()
            .map_err(|e| failed(e.detail()))?;
        if !resp.is_success() {
            return Err(failed(format!(
                "Invalid status code for twitch main page: {}",
                resp.status()
            )));
        }
        let device_id = resp
            .headers_all("set-cookie")
            .iter()
            .find_map(|c| device_id_from_cookie(c));
        let html = resp.text().map_err(|e| failed(e.detail()))?;
        let keys = Keys {
            client_id: client_id_from_page(&html).unwrap_or_else(|| FALLBACK_CLIENT_ID.into()),
            device_id,
        };
        *cached = Some(keys.clone());
        Ok(keys)
    }

    fn gql(&self, keys: &Keys, body: &Value, io_message: &str) -> Result<Value, SourceError> {
        let io_err = |cause: String| {
            SourceError::friendly(
                io_message,
                Severity::Suspicious,
                format!("java.io.IOException: {cause}"),
            )
        };
        // Sent as text/plain like lavaplayer: Twitch reads the JSON either way.
        let resp = with_keys(self.out.post(GQL_URL), keys)
            .body(body.to_string().into_bytes(), "text/plain; charset=UTF-8")
            .send()
            .map_err(|e| io_err(e.detail()))?;
        if !resp.is_success() {
            return Err(SourceError::friendly(
                "Server responded with an error.",
                Severity::Suspicious,
                format!(
                    "java.lang.IllegalStateException: Response code from channel info is {}",
                    resp.status()
                ),
            ));
        }
        resp.json().map_err(|e| io_err(e.detail()))
    }

    fn load_channel(&self, identifier: &str, channel: &str) -> Result<Answer, SourceError> {
        let keys = self.keys()?;
        const INFO_FAILED: &str = "Loading Twitch channel information failed.";
        let mut answer = self.gql(&keys, &metadata_query(channel), INFO_FAILED)?;
        if answer.get("data").is_none_or(Value::is_null) {
            log::debug!("twitch: query text refused ({answer}); trying the persisted query");
            answer = self.gql(&keys, &metadata_persisted(channel), INFO_FAILED)?;
        }
        match parse_metadata(&answer) {
            Ok(Some(title)) => Ok(Answer::Track(channel_track(identifier, channel, title))),
            Ok(None) => Ok(Answer::Empty),
            Err(e) => Err(SourceError::friendly(
                INFO_FAILED,
                Severity::Suspicious,
                format!("java.lang.IllegalStateException: {e}"),
            )),
        }
    }
}

fn with_keys(req: crate::net::Request, keys: &Keys) -> crate::net::Request {
    let req = req.header("Client-ID", &keys.client_id);
    match &keys.device_id {
        Some(d) => req.header("X-Device-ID", d),
        None => req,
    }
}

impl Source for TwitchSource {
    fn name(&self) -> &'static str {
        "twitch"
    }

    fn load(&self, req: &LoadRequest<'_>) -> Answer {
        let Some(channel) = channel_from_url(req.identifier) else {
            return Answer::NotMine;
        };
        match self.load_channel(req.identifier, &channel) {
            Ok(a) => a,
            Err(e) => Answer::Error(e),
        }
    }

    fn open(&self, track: &TrackData) -> Result<MediaInput, SourceError> {
        let channel = channel_from_url(&track.info.identifier)
            .or_else(|| track.info.uri.as_deref().and_then(channel_from_url))
            .ok_or_else(|| {
                SourceError::friendly(
                    "Something broke when playing the track.",
                    Severity::Fault,
                    format!(
                        "java.lang.IllegalArgumentException: Not a Twitch channel URL: {}",
                        track.info.identifier
                    ),
                )
            })?;
        let keys = self.keys()?;
        let mut live = LiveStream {
            source: Resolver {
                out: self.out.clone(),
                keys,
                channel,
                clock: self.clock.clone(),
            },
            media_url: None,
            expires_at: 0,
            last: None,
            body: None,
            ended: false,
        };
        // Resolve up front so an offline channel or a refused token fails the open, not
        // the first read.
        live.ensure_playlist().map_err(|e| match e {
            Resolve::Friendly(e) => e,
            Resolve::Io(e) => next_part_failed(&e),
        })?;
        Ok(MediaInput {
            reader: Box::new(mpegts::TsReader::new(live)),
            extension: Some("aac".into()),
            mime: None,
            is_stream: true,
            segments: None,
        })
    }
}

fn next_part_failed(e: &io::Error) -> SourceError {
    SourceError::friendly(
        "Failed to get next part of the stream.",
        Severity::Suspicious,
        format!("java.io.IOException: {e}"),
    )
}

/// The Lavalink track of a live channel (sources.md §3.4).
pub fn channel_track(identifier: &str, channel: &str, title: Option<String>) -> TrackData {
    TrackData {
        info: TrackInfo {
            title: title.unwrap_or_else(|| "Unknown title".into()),
            author: channel.to_string(),
            length: UNKNOWN_LENGTH,
            identifier: identifier.to_string(),
            is_stream: true,
            uri: Some(identifier.to_string()),
            artwork_url: Some(format!("{PREVIEW_URL}{channel}-440x248.jpg")),
            isrc: None,
            source_name: "twitch".into(),
        },
        source_data: Vec::new(),
        position: 0,
    }
}

/// The channel of `https://[www.|go.|m.]twitch.tv/<channel>`, lower-cased; None when the
/// identifier is not a channel URL. A query or fragment is dropped (lavaplayer would make
/// it part of the name).
pub fn channel_from_url(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://")?;
    let rest = ["www.", "go.", "m."]
        .iter()
        .find_map(|p| rest.strip_prefix(p))
        .unwrap_or(rest);
    let name = rest.strip_prefix("twitch.tv/")?;
    let name = name.split(['?', '#']).next().unwrap_or("");
    if name.is_empty() || name.contains('/') {
        return None;
    }
    Some(name.to_lowercase())
}

/// `clientId="…"` in the home page.
pub fn client_id_from_page(html: &str) -> Option<String> {
    let start = html.find("clientId=\"")? + "clientId=\"".len();
    let end = html[start..].find('"')?;
    let id = &html[start..start + end];
    (!id.is_empty()).then(|| id.to_string())
}

/// The `unique_id` value of a `Set-Cookie` header.
pub fn device_id_from_cookie(cookie: &str) -> Option<String> {
    let start = cookie.find("unique_id=")? + "unique_id=".len();
    let value = cookie[start..].split(';').next()?.trim();
    (!value.is_empty()).then(|| value.to_string())
}

/// The metadata request with the query text.
pub fn metadata_query(channel: &str) -> Value {
    json!({
        "operationName": "StreamMetadata",
        "query": METADATA_QUERY,
        "variables": { "channelLogin": channel },
    })
}

/// The metadata request by persisted-query hash (lavaplayer's form).
pub fn metadata_persisted(channel: &str) -> Value {
    json!({
        "operationName": "StreamMetadata",
        "variables": { "channelLogin": channel },
        "extensions": { "persistedQuery": { "version": 1, "sha256Hash": METADATA_HASH } },
    })
}

/// The playback access token request for a live channel.
pub fn token_query(channel: &str) -> Value {
    json!({
        "operationName": "PlaybackAccessToken_Template",
        "query": TOKEN_QUERY,
        "variables": {
            "isLive": true,
            "login": channel,
            "isVod": false,
            "vodID": "",
            "playerType": "site",
        },
    })
}

/// `Ok(Some(title))` when the channel is live, `Ok(None)` when it is offline or unknown,
/// `Err` when the answer carries GQL errors and no data.
pub fn parse_metadata(v: &Value) -> Result<Option<Option<String>>, String> {
    let data = v.get("data").filter(|d| !d.is_null());
    let Some(data) = data else {
        return Err(gql_errors(v));
    };
    let user = &data["user"];
    if user["stream"]["type"].is_null() {
        return Ok(None);
    }
    let title = user["lastBroadcast"]["title"].as_str().map(str::to_string);
    Ok(Some(title))
}

fn gql_errors(v: &Value) -> String {
    let messages: Vec<&str> = v["errors"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["message"].as_str()).collect())
        .unwrap_or_default();
    if messages.is_empty() {
        "GQL answer has no data".into()
    } else {
        format!("GQL errors: {}", messages.join(", "))
    }
}

/// The access token: (`value` exactly as received, `signature`).
pub fn parse_token(v: &Value) -> Result<(String, String), String> {
    let t = &v["data"]["streamPlaybackAccessToken"];
    match (t["value"].as_str(), t["signature"].as_str()) {
        (Some(value), Some(sig)) => Ok((value.to_string(), sig.to_string())),
        _ => Err(match v.get("data").filter(|d| !d.is_null()) {
            Some(_) => "No playback access token in the answer".into(),
            None => gql_errors(v),
        }),
    }
}

/// `expires` (Unix seconds) inside the token's value, itself a JSON document.
pub fn token_expires(value: &str) -> Option<i64> {
    let v: Value = serde_json::from_str(value).ok()?;
    v["expires"]
        .as_i64()
        .or_else(|| v["expires"].as_f64().map(|f| f as i64))
}

/// What the usher master gives: the server's clock and the chosen (last) variant.
#[derive(Debug, Clone, PartialEq)]
pub struct Usher {
    pub server_time_ms: i64,
    pub variant: Url,
    /// The `VIDEO` attribute of the chosen variant (`audio_only` when offered).
    pub quality: Option<String>,
}

/// Parses the usher master: `#EXT-X-TWITCH-INFO` `SERVER-TIME` is required, the last
/// `#EXT-X-STREAM-INF` entry is taken (lavaplayer's messages on failure).
pub fn parse_usher(text: &str, base: &Url) -> Result<Usher, &'static str> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut server_time = None;
    let mut last: Option<(Option<String>, &str)> = None;
    for (i, l) in lines.iter().enumerate() {
        if let Some(a) = l.strip_prefix("#EXT-X-TWITCH-INFO:") {
            server_time = hls::attributes(a)
                .into_iter()
                .find(|(k, _)| k == "SERVER-TIME")
                .and_then(|(_, v)| v.parse::<f64>().ok())
                .filter(|t| t.is_finite());
        } else if let Some(a) = l.strip_prefix("#EXT-X-STREAM-INF:") {
            let quality = hls::attributes(a)
                .into_iter()
                .find(|(k, _)| k == "VIDEO")
                .map(|(_, v)| v);
            if let Some(uri) = lines.get(i + 1).filter(|u| !u.starts_with('#')) {
                last = Some((quality, uri));
            }
        }
    }
    let server_time = server_time.ok_or("Required server time information not available.")?;
    let (quality, uri) = last.ok_or("No streams available on channel.")?;
    let variant = base
        .join(uri)
        .map_err(|_| "No streams available on channel.")?;
    Ok(Usher {
        server_time_ms: (server_time * 1000.0) as i64,
        variant,
        quality,
    })
}

/// Everything a playing stream needs to (re)resolve its media playlist.
struct Resolver {
    out: Outbound,
    keys: Keys,
    channel: String,
    clock: Clock,
}

enum Resolve {
    /// A failure with lavaplayer's own message (token, offline, no variants).
    Friendly(SourceError),
    Io(io::Error),
}

impl Resolver {
    /// Token, then usher: the media playlist URL and when (local clock) to renew it.
    fn resolve(&self) -> Result<(Url, i64), Resolve> {
        let token_failed = |cause: String| {
            Resolve::Friendly(SourceError::friendly(
                "Loading Twitch channel access token failed.",
                Severity::Suspicious,
                cause,
            ))
        };
        let resp = with_keys(self.out.post(GQL_URL), &self.keys)
            .body(
                token_query(&self.channel).to_string().into_bytes(),
                "text/plain; charset=UTF-8",
            )
            .send()
            .map_err(|e| token_failed(format!("java.io.IOException: {}", e.detail())))?;
        if !resp.is_success() {
            return Err(Resolve::Friendly(SourceError::friendly(
                "Server responded with an error.",
                Severity::Suspicious,
                format!(
                    "java.lang.IllegalStateException: Response code from access token is {}",
                    resp.status()
                ),
            )));
        }
        let answer = resp
            .json()
            .map_err(|e| token_failed(format!("java.io.IOException: {}", e.detail())))?;
        let (value, sig) = parse_token(&answer)
            .map_err(|e| token_failed(format!("java.lang.IllegalStateException: {e}")))?;
        let expires = token_expires(&value).unwrap_or(0);

        let url = format!("{USHER_URL}{}.m3u8", self.channel);
        let resp = with_keys(self.out.get(&url), &self.keys)
            .query(&[
                ("token", value.as_str()),
                ("sig", sig.as_str()),
                ("allow_source", "true"),
                ("allow_spectre", "true"),
                ("allow_audio_only", "true"),
                ("player_backend", "html5"),
                ("expgroup", "regular"),
            ])
            .send()
            .map_err(|e| Resolve::Io(io::Error::other(e.detail())))?;
        if !resp.is_success() {
            return Err(Resolve::Io(io::Error::other(format!(
                "Unexpected response code from channel streams list {}",
                resp.status()
            ))));
        }
        let base = resp.url().clone();
        let text = resp
            .bytes(MAX_PLAYLIST)
            .map_err(|e| Resolve::Io(io::Error::other(e.detail())))?;
        let usher = parse_usher(&String::from_utf8_lossy(&text), &base).map_err(|m| {
            Resolve::Friendly(SourceError::friendly(
                "Something broke when playing the track.",
                Severity::Fault,
                format!("java.lang.IllegalStateException: {m}"),
            ))
        })?;
        log::debug!(
            "twitch {}: variant {:?} at {}",
            self.channel,
            usher.quality,
            usher.variant
        );
        let renew_at = (self.clock)() + (expires.saturating_mul(1000) - usher.server_time_ms)
            - EXPIRY_MARGIN_MS;
        Ok((usher.variant, renew_at))
    }

    fn get(&self, url: &Url, limit: usize) -> io::Result<Vec<u8>> {
        self.send(url)?
            .bytes(limit)
            .map_err(|e| io::Error::other(e.detail()))
    }

    /// A segment body, read in range windows (`HttpStream`) with the live-segment
    /// timeouts and the two key headers.
    fn open(&self, url: &Url) -> io::Result<Box<dyn Read + Send>> {
        let mut client = HttpClient::from_outbound(self.out.live_segments())
            .with_window(hls::SEGMENT_WINDOW)
            .with_header("Client-ID", &self.keys.client_id);
        if let Some(d) = &self.keys.device_id {
            client = client.with_header("X-Device-ID", d);
        }
        let (stream, _) = HttpStream::open(&client, url).map_err(|e| match e {
            SourceError::NotPlayable { status } => io::Error::other(format!(
                "Status code {status} for {}",
                crate::net::strip_userinfo(url)
            )),
            e => io::Error::other(e.to_string()),
        })?;
        Ok(Box::new(stream))
    }

    fn send(&self, url: &Url) -> io::Result<crate::net::Response> {
        let resp = with_keys(self.out.get(url.as_str()), &self.keys)
            .send()
            .map_err(|e| io::Error::other(e.detail()))?;
        if !resp.is_success() {
            return Err(io::Error::other(format!(
                "Status code {} for {}",
                resp.status(),
                crate::net::strip_userinfo(url)
            )));
        }
        Ok(resp)
    }
}

/// The live segments of a channel as one MPEG-TS byte stream.
struct LiveStream {
    source: Resolver,
    media_url: Option<Url>,
    /// Local-clock time (ms) after which the token is renewed.
    expires_at: i64,
    /// URI of the last segment handed out.
    last: Option<Url>,
    /// `Mutex` only for `Sync` (symphonia's `MediaSource`); reached through `get_mut`.
    body: Option<Mutex<Box<dyn Read + Send>>>,
    ended: bool,
}

impl LiveStream {
    /// Renews token and playlist URL when none is known or the token is about to expire.
    fn ensure_playlist(&mut self) -> Result<Url, Resolve> {
        match &self.media_url {
            Some(u) if (self.source.clock)() < self.expires_at => Ok(u.clone()),
            _ => {
                let (url, expires_at) = self.source.resolve()?;
                self.media_url = Some(url.clone());
                self.expires_at = expires_at;
                Ok(url)
            }
        }
    }

    /// The next segment after the last one played (the oldest when it scrolled out or at
    /// the start); None once the playlist stops growing for one segment's duration.
    fn next_segment(&mut self) -> io::Result<Option<Url>> {
        let mut deadline: Option<Instant> = None;
        loop {
            let url = self.ensure_playlist().map_err(|e| match e {
                Resolve::Io(e) => e,
                Resolve::Friendly(e) => io::Error::other(e.to_string()),
            })?;
            let text = self.source.get(&url, MAX_PLAYLIST)?;
            let segments: VecDeque<(Url, u64)> =
                match hls::parse(&String::from_utf8_lossy(&text), &url) {
                    hls::Playlist::Media(pl) => pl
                        .segments
                        .into_iter()
                        .map(|s| (s.uri, s.duration_ms))
                        .collect(),
                    hls::Playlist::Master(_) => VecDeque::new(),
                };
            if let Some(next) = pick_next(&segments, self.last.as_ref()) {
                return Ok(Some(next));
            }
            let wait = Duration::from_millis(segments.front().map_or(1000, |s| s.1).max(200));
            let deadline = *deadline.get_or_insert_with(|| Instant::now() + wait);
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(POLL);
        }
    }

    fn advance(&mut self) -> io::Result<bool> {
        self.body = None;
        let Some(seg) = self.next_segment()? else {
            return Ok(false);
        };
        let body = self.source.open(&seg)?;
        self.last = Some(seg);
        self.body = Some(Mutex::new(Box::new(body.take(MAX_SEGMENT))));
        Ok(true)
    }
}

/// lavaplayer's live stepping: the segment after `last` (matched by URI), else the oldest.
fn pick_next(segments: &VecDeque<(Url, u64)>, last: Option<&Url>) -> Option<Url> {
    let Some(last) = last else {
        return segments.front().map(|s| s.0.clone());
    };
    match segments.iter().position(|s| &s.0 == last) {
        Some(i) => segments.get(i + 1).map(|s| s.0.clone()),
        None => segments.front().map(|s| s.0.clone()),
    }
}

impl Read for LiveStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.ended {
                return Ok(0);
            }
            if let Some(body) = self.body.as_mut() {
                let body = body.get_mut().unwrap_or_else(|p| p.into_inner());
                let n = body.read(buf)?;
                if n > 0 {
                    return Ok(n);
                }
            }
            match self.advance() {
                Ok(true) => {}
                Ok(false) => self.ended = true,
                Err(e) => {
                    return Err(io::Error::other(format!(
                        "Failed to get next part of the stream: {e}"
                    )))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_urls() {
        assert_eq!(
            channel_from_url("https://www.twitch.tv/Monstercat").as_deref(),
            Some("monstercat")
        );
        assert_eq!(
            channel_from_url("https://twitch.tv/abc").as_deref(),
            Some("abc")
        );
        assert_eq!(
            channel_from_url("https://m.twitch.tv/x").as_deref(),
            Some("x")
        );
        assert_eq!(
            channel_from_url("https://go.twitch.tv/x").as_deref(),
            Some("x")
        );
        assert_eq!(
            channel_from_url("https://www.twitch.tv/abc?ref=x").as_deref(),
            Some("abc")
        );
        assert_eq!(channel_from_url("http://twitch.tv/abc"), None);
        assert_eq!(channel_from_url("https://twitch.tv/abc/videos"), None);
        assert_eq!(channel_from_url("https://twitch.tv/"), None);
        assert_eq!(channel_from_url("https://www.twitch.tv/abc/"), None);
        assert_eq!(channel_from_url("https://clips.twitch.tv/abc"), None);
    }

    #[test]
    fn keys_from_page_and_cookie() {
        let html =
            r#"<script>window.__twilightBuildID="x";clientId="abc123def",foo="bar"</script>"#;
        assert_eq!(client_id_from_page(html).as_deref(), Some("abc123def"));
        assert_eq!(client_id_from_page("<html></html>"), None);
        assert_eq!(
            device_id_from_cookie("unique_id=Xy12; domain=.twitch.tv; path=/").as_deref(),
            Some("Xy12")
        );
        assert_eq!(device_id_from_cookie("server_session_id=1; path=/"), None);
    }

    #[test]
    fn metadata_and_token() {
        let live = json!({"data":{"user":{"id":"1","stream":{"id":"2","type":"live"},
            "lastBroadcast":{"id":"3","title":"Hi \"there\""}}},"extensions":{}});
        assert_eq!(
            parse_metadata(&live),
            Ok(Some(Some("Hi \"there\"".to_string())))
        );
        let offline =
            json!({"data":{"user":{"id":"1","stream":null,"lastBroadcast":{"title":"x"}}}});
        assert_eq!(parse_metadata(&offline), Ok(None));
        let unknown = json!({"data":{"user":null}});
        assert_eq!(parse_metadata(&unknown), Ok(None));
        let stale = json!({"errors":[{"message":"PersistedQueryNotFound"}]});
        assert!(parse_metadata(&stale)
            .unwrap_err()
            .contains("PersistedQueryNotFound"));

        let value = r#"{"adblock":false,"channel":"abc","expires":1700000600,"user_id":null}"#;
        let tok = json!({"data":{"streamPlaybackAccessToken":{"value":value,"signature":"5ig","__typename":"PlaybackAccessToken"}}});
        assert_eq!(
            parse_token(&tok),
            Ok((value.to_string(), "5ig".to_string()))
        );
        assert_eq!(token_expires(value), Some(1_700_000_600));
        assert!(parse_token(&json!({"data":{"streamPlaybackAccessToken":null}})).is_err());
    }

    #[test]
    fn usher_takes_the_last_variant_and_needs_server_time() {
        let base = Url::parse("https://usher.ttvnw.net/api/channel/hls/abc.m3u8?token=x").unwrap();
        let master = "#EXTM3U\n#EXT-X-TWITCH-INFO:NODE=\"video-edge-1\",SERVER-TIME=\"1700000000.25\",USER-IP=\"1.2.3.4\"\n\
#EXT-X-MEDIA:TYPE=VIDEO,GROUP-ID=\"chunked\",NAME=\"1080p60 (source)\",AUTOSELECT=YES,DEFAULT=YES\n\
#EXT-X-STREAM-INF:BANDWIDTH=6000000,RESOLUTION=1920x1080,CODECS=\"avc1.64002A,mp4a.40.2\",VIDEO=\"chunked\",FRAME-RATE=60.000\n\
https://video-weaver.fra05.hls.ttvnw.net/v1/playlist/chunked.m3u8\n\
#EXT-X-MEDIA:TYPE=VIDEO,GROUP-ID=\"audio_only\",NAME=\"audio_only\",AUTOSELECT=NO,DEFAULT=NO\n\
#EXT-X-STREAM-INF:BANDWIDTH=160000,CODECS=\"mp4a.40.2\",VIDEO=\"audio_only\"\n\
https://video-weaver.fra05.hls.ttvnw.net/v1/playlist/audio.m3u8\n";
        let u = parse_usher(master, &base).unwrap();
        assert_eq!(u.server_time_ms, 1_700_000_000_250);
        assert_eq!(u.quality.as_deref(), Some("audio_only"));
        assert_eq!(
            u.variant.as_str(),
            "https://video-weaver.fra05.hls.ttvnw.net/v1/playlist/audio.m3u8"
        );
        let no_time = master.replace("SERVER-TIME=\"1700000000.25\",", "");
        assert_eq!(
            parse_usher(&no_time, &base),
            Err("Required server time information not available.")
        );
        assert_eq!(
            parse_usher("#EXTM3U\n#EXT-X-TWITCH-INFO:SERVER-TIME=\"1.0\"\n", &base),
            Err("No streams available on channel.")
        );
    }

    #[test]
    fn live_stepping_follows_the_last_uri() {
        let u = |n: u32| (Url::parse(&format!("https://e.x/{n}.ts")).unwrap(), 2000u64);
        let w: VecDeque<_> = [u(3), u(4), u(5)].into_iter().collect();
        assert_eq!(pick_next(&w, None), Some(u(3).0));
        assert_eq!(pick_next(&w, Some(&u(4).0)), Some(u(5).0));
        assert_eq!(pick_next(&w, Some(&u(5).0)), None);
        assert_eq!(pick_next(&w, Some(&u(1).0)), Some(u(3).0));
    }

    #[test]
    fn track_info() {
        let t = channel_track(
            "https://www.twitch.tv/Monstercat",
            "monstercat",
            Some("Monstercat FM".into()),
        );
        assert_eq!(t.info.author, "monstercat");
        assert_eq!(t.info.length, UNKNOWN_LENGTH);
        assert!(t.info.is_stream);
        assert_eq!(
            t.info.artwork_url.as_deref(),
            Some("https://static-cdn.jtvnw.net/previews-ttv/live_user_monstercat-440x248.jpg")
        );
        let untitled = channel_track("https://twitch.tv/a", "a", None);
        assert_eq!(untitled.info.title, "Unknown title");
    }
}
