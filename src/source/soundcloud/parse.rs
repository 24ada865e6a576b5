//! Pure SoundCloud parsing (sources.md §1): which identifiers are ours, api-v2 JSON →
//! `TrackInfo`, the transcoding choices (the blob's identifier and what playback streams),
//! and the scraping of the web client's `client_id`. No I/O here, so it is fuzzable.

use serde_json::Value;

use crate::track::{TrackData, TrackInfo};

/// Results of a plain `scsearch:` (lavaplayer's default) and the most it allows.
pub const DEFAULT_SEARCH_LIMIT: u32 = 10;
pub const MAX_SEARCH_LIMIT: u32 = 200;

/// What an identifier asks the SoundCloud source for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ident {
    /// `soundcloud.app.goo.gl/<id>`: its first redirect names the real page.
    Mobile(String),
    /// `https://on.soundcloud.com/<id>`: a HEAD's `Location` names the real page.
    Short(String),
    /// A track page (public or with an `s-` secret token), mobile prefix removed.
    Track(String),
    /// A set (playlist or album) page.
    Set(String),
    /// `<user>/likes`.
    Likes(String),
    Search {
        query: String,
        offset: u32,
        limit: u32,
    },
}

/// Lavaplayer rewrites `https://m.` to `https://` before matching page URLs.
pub fn non_mobile(url: &str) -> String {
    match url.strip_prefix("https://m.") {
        Some(rest) => format!("https://{rest}"),
        None => url.to_string(),
    }
}

fn is_seg_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

fn is_seg(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_seg_char)
}

/// Drops an optional `?query` and returns the path part.
fn without_query(s: &str) -> &str {
    s.split_once('?').map_or(s, |(p, _)| p)
}

/// `(http://|https://|)` then `host`; returns the rest (starting after the host) if it matches.
fn after_host<'a>(url: &'a str, hosts: &[&str]) -> Option<&'a str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url);
    hosts.iter().find_map(|h| rest.strip_prefix(h))
}

/// `soundcloud.com` with lavaplayer's optional `www.` then optional `m.`.
const PAGE_HOSTS: [&str; 4] = [
    "www.m.soundcloud.com",
    "www.soundcloud.com",
    "m.soundcloud.com",
    "soundcloud.com",
];

/// Path segments of a `soundcloud.com/…` page URL (query removed, one trailing `/` allowed
/// when `slash` says so).
fn page_segments(url: &str, slash: bool) -> Option<Vec<&str>> {
    let rest = after_host(url, &PAGE_HOSTS)?.strip_prefix('/')?;
    let mut path = without_query(rest);
    if slash {
        path = path.strip_suffix('/').unwrap_or(path);
    }
    Some(path.split('/').collect())
}

/// Classifies an identifier in lavaplayer's order (mobile, short, track, set, likes,
/// search); `None` = not SoundCloud's. `search` is `player.soundcloud_search_enabled`.
pub fn classify(identifier: &str, search: bool) -> Option<Ident> {
    if let Some(rest) = after_host(identifier, &["soundcloud.app.goo.gl/"]) {
        let path = without_query(rest);
        if is_seg(path.strip_suffix('/').unwrap_or(path)) {
            return Some(Ident::Mobile(identifier.to_string()));
        }
    }
    if let Some(rest) = identifier.strip_prefix("https://on.soundcloud.com/") {
        let path = without_query(rest);
        if is_seg(path.strip_suffix('/').unwrap_or(path)) {
            return Some(Ident::Short(identifier.to_string()));
        }
    }
    if let Some(url) = page_url(identifier) {
        return Some(url);
    }
    if search {
        return search_query(identifier);
    }
    None
}

/// A page URL (after short/mobile links are resolved): track, set or likes.
pub fn page_url(identifier: &str) -> Option<Ident> {
    let url = non_mobile(identifier);
    if let Some(segs) = page_segments(&url, true) {
        if segs.len() == 2 && is_seg(segs[0]) && is_seg(segs[1]) && segs[1] != "likes" {
            return Some(Ident::Track(url));
        }
        if segs.len() == 2 && is_seg(segs[0]) && segs[1] == "likes" {
            return Some(Ident::Likes(url));
        }
        // A set: `<user>/sets/<slug>` (slugs may hold `:`), optionally a secret token.
        let slug = |s: &str| !s.is_empty() && s.chars().all(|c| is_seg_char(c) || c == ':');
        if (segs.len() == 3 || segs.len() == 4)
            && is_seg(segs[0])
            && segs[1] == "sets"
            && slug(segs[2])
            && segs.get(3).is_none_or(|t| is_seg(t))
        {
            return Some(Ident::Set(url));
        }
    }
    // Unlisted tracks: `<user>/<track>/s-<token>` (no trailing slash in lavaplayer).
    if let Some(segs) = page_segments(&url, false) {
        if segs.len() == 3
            && is_seg(segs[0])
            && is_seg(segs[1])
            && segs[1] != "sets"
            && segs[2].strip_prefix("s-").is_some_and(is_seg)
        {
            return Some(Ident::Track(url));
        }
    }
    None
}

/// `scsearch:<q>` or `scsearch[<offset>,<limit>]:<q>`; anything else → not ours.
fn search_query(identifier: &str) -> Option<Ident> {
    if let Some(q) = identifier.strip_prefix("scsearch:") {
        return Some(Ident::Search {
            query: q.trim().to_string(),
            offset: 0,
            limit: DEFAULT_SEARCH_LIMIT,
        });
    }
    let rest = identifier.strip_prefix("scsearch[")?;
    let (nums, query) = rest.split_once("]:")?;
    let (offset, limit) = nums.split_once(',')?;
    let num = |s: &str| -> Option<u32> {
        (!s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    Some(Ident::Search {
        query: query.trim().to_string(),
        offset: num(offset)?,
        limit: num(limit)?.min(MAX_SEARCH_LIMIT),
    })
}

/// Java `JsonBrowser.text()`: strings as they are, numbers and booleans as text, else none.
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `safeText()`: `text()` or the empty string.
pub fn safe_text(v: &Value) -> String {
    text(v).unwrap_or_default()
}

/// The track id as lavaplayer compares it (`id` as text).
pub fn track_id(track: &Value) -> String {
    safe_text(&track["id"])
}

/// `policy: BLOCK`: geo-blocked; skipped in sets and likes.
pub fn is_blocked(track: &Value) -> bool {
    track["policy"].as_str() == Some("BLOCK")
}

/// A Go+ track whose stream is a 30-second preview (sources.md §1.8).
pub fn is_preview(track: &Value) -> bool {
    track["monetization_model"].as_str() == Some("SUB_HIGH_TIER")
        || track["policy"].as_str() == Some("SNIP")
}

/// One entry of `media.transcodings`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcoding {
    pub url: String,
    pub protocol: String,
    pub mime: String,
    pub snipped: bool,
}

pub fn transcodings(track: &Value) -> Vec<Transcoding> {
    let Some(list) = track["media"]["transcodings"].as_array() else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|t| {
            let url = safe_text(&t["url"]);
            let protocol = safe_text(&t["format"]["protocol"]);
            let mime = safe_text(&t["format"]["mime_type"]);
            // A URL that is not http(s) can be neither fetched nor written into an
            // identifier the source reads back (found by fuzzing).
            let fetchable = url.starts_with("http://") || url.starts_with("https://");
            (fetchable && !protocol.is_empty() && !mime.is_empty()).then(|| Transcoding {
                url,
                protocol,
                mime,
                snipped: t["snipped"].as_bool().unwrap_or(false),
            })
        })
        .collect()
}

/// How a transcoding is streamed; the letter is the identifier prefix lavaplayer uses
/// (`A` is Basalt's own, for AAC in fMP4 over HLS, which lavaplayer cannot play).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `O:` HLS, Ogg/Opus segments.
    HlsOpus,
    /// `U:` HLS, MP3 segments.
    HlsMp3,
    /// `M:` one progressive MP3.
    ProgressiveMp3,
    /// `A:` HLS, AAC in fMP4 (CMAF) segments with an init section.
    HlsAac,
}

impl Kind {
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::HlsOpus => "O:",
            Kind::HlsMp3 => "U:",
            Kind::ProgressiveMp3 => "M:",
            Kind::HlsAac => "A:",
        }
    }

    /// Splits `X:<lookup url>`; None for bare ids and unknown prefixes (old blobs).
    pub fn split_identifier(identifier: &str) -> Option<(Kind, &str)> {
        let (p, url) = identifier.split_at_checked(2)?;
        let kind = match p {
            "O:" => Kind::HlsOpus,
            "U:" => Kind::HlsMp3,
            "M:" => Kind::ProgressiveMp3,
            "A:" => Kind::HlsAac,
            _ => return None,
        };
        url.starts_with("http").then_some((kind, url))
    }
}

/// The leading media type of a MIME value (`audio/ogg; codecs="opus"` → `audio/ogg`).
fn base_mime(mime: &str) -> &str {
    mime.split(';').next().unwrap_or("").trim()
}

/// The kind a transcoding is playable as by loose matching (playback order below).
fn kind_of(t: &Transcoding) -> Option<Kind> {
    let mime = base_mime(&t.mime).to_ascii_lowercase();
    match (t.protocol.as_str(), mime.as_str()) {
        ("progressive", "audio/mpeg") => Some(Kind::ProgressiveMp3),
        ("hls", "audio/mpeg") => Some(Kind::HlsMp3),
        ("hls", "audio/mp4" | "audio/aac" | "audio/x-m4a") => Some(Kind::HlsAac),
        ("hls", "audio/ogg") => Some(Kind::HlsOpus),
        _ => None,
    }
}

/// The identifier lavaplayer would write: the first of `O:` (exact `audio/ogg`), `U:`,
/// `M:` (exact MIME equality since 2.2.5, so a Java node plays it too); else Basalt's `A:`
/// for AAC. None: no supported format at all.
pub fn identifier(track: &Value) -> Option<String> {
    let ts = transcodings(track);
    let exact = |protocol: &str, mime: &str| {
        ts.iter()
            .find(|t| t.protocol == protocol && t.mime == mime)
            .map(|t| t.url.clone())
    };
    if let Some(u) = exact("hls", "audio/ogg") {
        return Some(format!("O:{u}"));
    }
    if let Some(u) = exact("hls", "audio/mpeg") {
        return Some(format!("U:{u}"));
    }
    if let Some(u) = exact("progressive", "audio/mpeg") {
        return Some(format!("M:{u}"));
    }
    ts.iter()
        .find(|t| kind_of(t) == Some(Kind::HlsAac))
        .map(|t| format!("A:{}", t.url))
}

/// What playback streams, best first: progressive MP3, HLS MP3, HLS AAC (fMP4). Opus is
/// left out (a seek into a later Ogg segment needs the first one's headers), so are DRM
/// (`encrypted-hls`, `ctr-encrypted-hls`, …) and, unless nothing else exists, previews.
pub fn playback_choices(track: &Value) -> Vec<(Kind, String)> {
    let ts = transcodings(track);
    let preview = |t: &Transcoding| {
        t.snipped || t.url.contains("/preview/") || t.url.contains("cf-preview-media.sndcdn.com")
    };
    let full: Vec<&Transcoding> = ts.iter().filter(|t| !preview(t)).collect();
    let pool: Vec<&Transcoding> = if full.is_empty() {
        ts.iter().collect()
    } else {
        full
    };
    let mut out = Vec::new();
    for want in [Kind::ProgressiveMp3, Kind::HlsMp3, Kind::HlsAac] {
        for t in &pool {
            if kind_of(t) == Some(want) {
                out.push((want, t.url.clone()));
            }
        }
    }
    out
}

/// `artwork_url`, else the uploader's avatar, with `large.jpg` → `original.jpg`.
pub fn artwork(track: &Value) -> Option<String> {
    let art = text(&track["artwork_url"]).or_else(|| text(&track["user"]["avatar_url"]))?;
    Some(art.replace("large.jpg", "original.jpg"))
}

/// Why a track object cannot become a track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapError {
    /// Lavaplayer's `RuntimeException("Did not detect any supported formats")`.
    NoFormat,
}

/// Track JSON → track (sources.md §1.4). Length is `full_duration` (a Go+ preview's
/// `duration` is the snippet's), falling back to `duration` when it is missing.
pub fn track(track: &Value) -> Result<TrackData, MapError> {
    let identifier = identifier(track).ok_or(MapError::NoFormat)?;
    let length = track["full_duration"]
        .as_i64()
        .or_else(|| track["duration"].as_i64())
        .unwrap_or(0);
    Ok(TrackData {
        info: TrackInfo {
            title: safe_text(&track["title"]),
            author: safe_text(&track["user"]["username"]),
            length,
            identifier,
            is_stream: false,
            uri: text(&track["permalink_url"]),
            artwork_url: artwork(track),
            isrc: text(&track["publisher_metadata"]["isrc"]),
            source_name: "soundcloud".into(),
        },
        source_data: Vec::new(),
        position: 0,
    })
}

/// The object itself when it is of `kind` (lavaplayer's `findEntryOfKind`).
pub fn of_kind<'a>(v: &'a Value, kind: &str) -> Option<&'a Value> {
    (v.is_object() && v["kind"].as_str() == Some(kind)).then_some(v)
}

/// The ids of a set's `tracks[]` (full objects and id-only stubs alike), in order.
pub fn set_track_ids(set: &Value) -> Vec<String> {
    set["tracks"]
        .as_array()
        .map(|ts| ts.iter().map(track_id).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default()
}

/// Sorts fetched track objects back into the set's order; unknown ids go last.
pub fn sort_by_ids(tracks: &mut [Value], ids: &[String]) {
    tracks.sort_by_key(|t| {
        let id = track_id(t);
        ids.iter().position(|i| *i == id).unwrap_or(usize::MAX)
    });
}

/// The last of the first nine `https://<host>/assets/<hex-and-dashes>.js` URLs in the home
/// page (lavaplayer), then the others before it, as candidates for the client id script.
pub fn script_urls(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = html;
    while found.len() < 9 {
        let Some(at) = rest.find("https://") else {
            break;
        };
        let cand = &rest[at..];
        rest = &cand[8..];
        let host_len = cand[8..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
            .unwrap_or(cand.len() - 8);
        if host_len == 0 {
            continue;
        }
        let Some(after) = cand[8 + host_len..].strip_prefix("/assets/") else {
            continue;
        };
        let name_len = after
            .find(|c: char| !(c.is_ascii_digit() || ('a'..='f').contains(&c) || c == '-'))
            .unwrap_or(after.len());
        if name_len > 0 && after[name_len..].starts_with(".js") {
            let end = 8 + host_len + "/assets/".len() + name_len + 3;
            found.push(cand[..end].to_string());
        }
    }
    found.reverse();
    found
}

/// The first `client_id:"…"` not preceded by `_` (lavaplayer's pattern; `[A-Za-z0-9_-]`).
pub fn client_id(script: &str) -> Option<String> {
    const KEY: &str = "client_id:\"";
    let mut from = 0;
    while let Some(i) = script[from..].find(KEY) {
        let at = from + i;
        from = at + KEY.len();
        if at == 0 || script.as_bytes()[at - 1] == b'_' {
            continue;
        }
        let value = &script[from..];
        let len = value.find(|c: char| !is_seg_char(c)).unwrap_or(value.len());
        if len > 0 && value[len..].starts_with('"') {
            return Some(value[..len].to_string());
        }
    }
    None
}

/// `"urn":"soundcloud:users:<digits>","username":"<name>"` on a likes page → (id, name).
pub fn liked_user(html: &str) -> Option<(String, String)> {
    const KEY: &str = "\"urn\":\"soundcloud:users:";
    let mut from = 0;
    while let Some(i) = html[from..].find(KEY) {
        let at = from + i + KEY.len();
        from = at;
        let rest = &html[at..];
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(0);
        if digits == 0 {
            continue;
        }
        let Some(after) = rest[digits..].strip_prefix("\",\"username\":\"") else {
            continue;
        };
        let Some(end) = after.find('"') else { continue };
        if end > 0 {
            return Some((rest[..digits].to_string(), after[..end].to_string()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Found by fuzzing: a transcoding whose URL is not http(s) made an identifier the
    /// source could not read back; such transcodings are ignored.
    #[test]
    fn transcodings_that_are_not_http_are_ignored() {
        let t = json!({"media": {"transcodings": [
            {"url": "httkindle}i-v2.soundcloud.com/x", "format": {"protocol": "hls", "mime_type": "audio/mpeg"}},
            {"url": "https://api-v2.soundcloud.com/y", "format": {"protocol": "progressive", "mime_type": "audio/mpeg"}},
        ]}});
        let id = identifier(&t).unwrap();
        assert_eq!(id, "M:https://api-v2.soundcloud.com/y");
        assert!(Kind::split_identifier(&id).is_some());
        assert_eq!(playback_choices(&t).len(), 1);
    }

    #[test]
    fn classifies_like_lavaplayer() {
        let t = |s: &str| classify(s, true);
        assert_eq!(
            t("https://soundcloud.com/404vincent/talk-a-lot"),
            Some(Ident::Track(
                "https://soundcloud.com/404vincent/talk-a-lot".into()
            ))
        );
        assert_eq!(
            t("https://m.soundcloud.com/a/b/?in=x"),
            Some(Ident::Track("https://soundcloud.com/a/b/?in=x".into()))
        );
        assert_eq!(
            t("soundcloud.com/a/b/s-AbC12"),
            Some(Ident::Track("soundcloud.com/a/b/s-AbC12".into()))
        );
        assert!(matches!(
            t("https://www.soundcloud.com/a/sets/my-set"),
            Some(Ident::Set(_))
        ));
        assert!(matches!(
            t("https://soundcloud.com/a/sets/my:set/s-tok"),
            Some(Ident::Set(_))
        ));
        assert!(matches!(
            t("https://soundcloud.com/a/likes"),
            Some(Ident::Likes(_))
        ));
        assert!(matches!(
            t("https://on.soundcloud.com/AbCd9"),
            Some(Ident::Short(_))
        ));
        assert!(matches!(
            t("https://soundcloud.app.goo.gl/xYz"),
            Some(Ident::Mobile(_))
        ));
        assert_eq!(
            t("scsearch: lofi beats "),
            Some(Ident::Search {
                query: "lofi beats".into(),
                offset: 0,
                limit: 10
            })
        );
        assert_eq!(
            t("scsearch[5,900]:x"),
            Some(Ident::Search {
                query: "x".into(),
                offset: 5,
                limit: 200
            })
        );
        assert_eq!(t("scsearch[a,1]:x"), None);
        assert_eq!(classify("scsearch:x", false), None);
        assert_eq!(t("https://soundcloud.com/a"), None);
        assert_eq!(t("https://soundcloud.com/a/b/c/d"), None);
        assert_eq!(t("https://evil.com/soundcloud.com/a/b"), None);
    }

    #[test]
    fn formats_and_identifier() {
        let v = json!({"id": 5, "media": {"transcodings": [
            {"url": "https://api-v2.soundcloud.com/media/x/ctr/stream/hls", "format": {"protocol": "ctr-encrypted-hls", "mime_type": "audio/mp4; codecs=\"mp4a.40.2\""}},
            {"url": "https://a/aac", "format": {"protocol": "hls", "mime_type": "audio/mp4; codecs=\"mp4a.40.2\""}},
            {"url": "https://a/opus", "format": {"protocol": "hls", "mime_type": "audio/ogg; codecs=\"opus\""}},
            {"url": "https://a/prog", "format": {"protocol": "progressive", "mime_type": "audio/mpeg"}},
            {"url": "https://a/hlsmp3", "format": {"protocol": "hls", "mime_type": "audio/mpeg"}}
        ]}});
        assert_eq!(identifier(&v).as_deref(), Some("U:https://a/hlsmp3"));
        let kinds: Vec<Kind> = playback_choices(&v).into_iter().map(|(k, _)| k).collect();
        assert_eq!(kinds, [Kind::ProgressiveMp3, Kind::HlsMp3, Kind::HlsAac]);
        let aac_only = json!({"media": {"transcodings": [
            {"url": "https://a/aac", "format": {"protocol": "hls", "mime_type": "audio/mp4; codecs=\"mp4a.40.2\""}}
        ]}});
        assert_eq!(identifier(&aac_only).as_deref(), Some("A:https://a/aac"));
        assert_eq!(
            Kind::split_identifier("A:https://a/aac"),
            Some((Kind::HlsAac, "https://a/aac"))
        );
        assert_eq!(Kind::split_identifier("851421076"), None);
        assert_eq!(identifier(&json!({"media": {}})), None);
    }

    #[test]
    fn client_id_scrape() {
        let html = r#"<script crossorigin src="https://a-v2.sndcdn.com/assets/0-1a2b.js"></script>
<script src="https://a-v2.sndcdn.com/assets/49-4e5f6-a.js"></script><a href="https://x.com/assets/NOT.js">"#;
        assert_eq!(
            script_urls(html),
            [
                "https://a-v2.sndcdn.com/assets/49-4e5f6-a.js",
                "https://a-v2.sndcdn.com/assets/0-1a2b.js"
            ]
        );
        assert_eq!(
            client_id(r#"x={_client_id:"no"},y={client_id:"Yes_1-2",env:"p"}"#).as_deref(),
            Some("Yes_1-2")
        );
        assert_eq!(client_id("client_id:\"at-start\""), None);
        assert_eq!(
            liked_user(
                r#"{"urn":"soundcloud:users:","x":1}{"urn":"soundcloud:users:123","username":"Some One"}"#
            ),
            Some(("123".into(), "Some One".into()))
        );
    }
}
