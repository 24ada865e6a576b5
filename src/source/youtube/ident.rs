//! Which YouTube identifiers this source claims and what each one asks for
//! (sources.md §6.2). Pure parsing: no I/O, so it is unit-tested and fuzzed directly.

/// What an identifier asks the source to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// One video; `start_ms` from a `t=`/`start=` parameter (kept for callers that seek).
    Video { id: String, start_ms: u64 },
    /// A playlist, optionally with the video the URL points at.
    Playlist { list: String, video: Option<String> },
    /// A mix (`RD…`): `video` is the seed video (from `v=` or the list id minus `RD`).
    Mix { list: String, video: String },
    /// `ytsearch:` (already trimmed; never empty).
    Search(String),
    /// `ytmsearch:` (already trimmed; never empty).
    MusicSearch(String),
    /// `/watch_videos?video_ids=…`: follow YouTube's redirect and route its target.
    WatchVideos(String),
    /// Ours, but nothing to load (an empty query, an invalid id).
    Nothing,
}

/// Switches from `[youtube]` that change what is claimed.
#[derive(Debug, Clone, Copy)]
pub struct Claims {
    pub search: bool,
    pub direct_video_ids: bool,
    pub direct_playlist_ids: bool,
}

/// `Some(route)` when the identifier is YouTube's, `None` when another source should get it.
pub fn parse(identifier: &str, claims: Claims) -> Option<Route> {
    let ident = identifier.trim();
    if let Some(q) = strip_prefix_ci(ident, "ytsearch:") {
        return claims.search.then(|| search_route(q, Route::Search));
    }
    if let Some(q) = strip_prefix_ci(ident, "ytmsearch:") {
        return claims.search.then(|| search_route(q, Route::MusicSearch));
    }
    if let Some(route) = parse_url(ident) {
        return Some(route);
    }
    if claims.direct_video_ids && is_video_id(ident) {
        return Some(Route::Video {
            id: ident.to_string(),
            start_ms: 0,
        });
    }
    if claims.direct_playlist_ids && is_playlist_id(ident) {
        return Some(Route::Playlist {
            list: ident.to_string(),
            video: None,
        });
    }
    None
}

fn search_route(q: &str, make: fn(String) -> Route) -> Route {
    let q = q.trim();
    if q.is_empty() {
        Route::Nothing
    } else {
        make(q.to_string())
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// An 11-character video id.
pub fn is_video_id(s: &str) -> bool {
    s.len() == 11 && s.chars().all(id_char)
}

/// A bare playlist id: `PL…` or `UU…` (LL/FL are not accepted, §6.2).
pub fn is_playlist_id(s: &str) -> bool {
    (s.starts_with("PL") || s.starts_with("UU")) && s.len() > 2 && s.chars().all(id_char)
}

/// The first 11 characters as a video id (so `youtu.be/<id>?si=…` works), else `Nothing`.
fn video_route(raw: &str, start_ms: u64) -> Route {
    match raw.get(..11) {
        Some(id) if is_video_id(id) => Route::Video {
            id: id.to_string(),
            start_ms,
        },
        _ => Route::Nothing,
    }
}

/// Splits `scheme://host/path?query#frag` without a URL library (identifiers may lack a
/// scheme). Returns lower-cased host, path and raw query.
fn split_url(s: &str) -> Option<(String, &str, &str)> {
    let rest = match s.find("://") {
        Some(i) => {
            let scheme = &s[..i];
            if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
                return None;
            }
            &s[i + 3..]
        }
        None => s,
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let (authority, path_query) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let host = authority.rsplit('@').next().unwrap_or_default();
    let host = host
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let (path, query) = match path_query.split_once('?') {
        Some((p, q)) => (p, q),
        None => (path_query, ""),
    };
    Some((host, path, query))
}

/// One query parameter, percent-decoded.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `t=1m30s`, `t=90`, `t=90s`, `start=90` → milliseconds.
fn start_ms(query: &str) -> u64 {
    let raw = query_param(query, "t").or_else(|| query_param(query, "start"));
    let Some(raw) = raw else { return 0 };
    let mut total = 0u64;
    let mut num = 0u64;
    let mut any = false;
    for c in raw.chars() {
        match c {
            '0'..='9' => {
                num = num
                    .saturating_mul(10)
                    .saturating_add(u64::from(c as u8 - b'0'));
                any = true;
            }
            'h' => total = total.saturating_add(num.saturating_mul(3600)),
            'm' => total = total.saturating_add(num.saturating_mul(60)),
            's' => total = total.saturating_add(num),
            _ => return 0,
        }
        if matches!(c, 'h' | 'm' | 's') {
            num = 0;
        }
    }
    if !any {
        return 0;
    }
    total.saturating_add(num).saturating_mul(1000)
}

fn parse_url(s: &str) -> Option<Route> {
    let (host, path, query) = split_url(s)?;
    if host == "youtu.be" || host == "www.youtu.be" {
        let id = path.trim_start_matches('/');
        return Some(with_list(video_route(id, start_ms(query)), query));
    }
    let base = host
        .strip_prefix("www.")
        .or_else(|| host.strip_prefix("m."))
        .or_else(|| host.strip_prefix("music."))
        .unwrap_or(&host);
    if base != "youtube.com" {
        return None;
    }
    let lower = path.to_ascii_lowercase();
    for prefix in ["/live/", "/embed/", "/shorts/"] {
        if lower.starts_with(prefix) {
            return Some(video_route(&path[prefix.len()..], start_ms(query)));
        }
    }
    match lower.trim_end_matches('/') {
        "/watch" => Some(watch_route(query)),
        "/playlist" => {
            let list = query_param(query, "list")?;
            Some(list_route(list, None))
        }
        "/watch_videos" => {
            query_param(query, "video_ids")?;
            Some(Route::WatchVideos(format!(
                "https://www.youtube.com/watch_videos?{query}"
            )))
        }
        _ => None,
    }
}

/// `/watch?v=…[&list=…]` (§6.2).
fn watch_route(query: &str) -> Route {
    let video = query_param(query, "v").unwrap_or_default();
    let list = query_param(query, "list").filter(|l| !l.is_empty());
    match list {
        Some(l) if l.starts_with("RD") => match video_route(&video, 0) {
            Route::Video { id, .. } => Route::Mix { list: l, video: id },
            _ => list_route(l, None),
        },
        Some(l) if !(l.starts_with("LL") || l.starts_with("WL") || l.starts_with("LM")) => {
            match video_route(&video, 0) {
                Route::Video { id, .. } => Route::Playlist {
                    list: l,
                    video: Some(id),
                },
                _ => Route::Playlist {
                    list: l,
                    video: None,
                },
            }
        }
        _ => video_route(&video, start_ms(query)),
    }
}

/// `youtu.be/<id>?list=…` behaves like `/watch?v=<id>&list=…`.
fn with_list(route: Route, query: &str) -> Route {
    match (&route, query_param(query, "list")) {
        (Route::Video { id, .. }, Some(l)) if !l.is_empty() => {
            watch_route(&format!("v={id}&list={l}"))
        }
        _ => route,
    }
}

fn list_route(list: String, video: Option<String>) -> Route {
    if let Some(seed) = list.strip_prefix("RD") {
        let video = video.or_else(|| {
            seed.get(..11)
                .filter(|v| is_video_id(v))
                .map(str::to_string)
        });
        return match video {
            Some(video) => Route::Mix { list, video },
            None => Route::Nothing,
        };
    }
    Route::Playlist { list, video }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Claims = Claims {
        search: true,
        direct_video_ids: true,
        direct_playlist_ids: true,
    };

    fn video(id: &str, start_ms: u64) -> Option<Route> {
        Some(Route::Video {
            id: id.into(),
            start_ms,
        })
    }

    #[test]
    fn video_urls_of_every_shape() {
        let id = "dQw4w9WgXcQ";
        for url in [
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
            "http://youtube.com/watch?feature=share&v=dQw4w9WgXcQ",
            "youtube.com/watch?v=dQw4w9WgXcQ",
            "https://m.youtube.com/watch?v=dQw4w9WgXcQ",
            "https://music.youtube.com/watch?v=dQw4w9WgXcQ&si=abc",
            "https://youtu.be/dQw4w9WgXcQ?si=xyz",
            "https://www.youtu.be/dQw4w9WgXcQ",
            "https://www.youtube.com/shorts/dQw4w9WgXcQ",
            "https://www.youtube.com/live/dQw4w9WgXcQ?feature=shared",
            "https://www.youtube.com/embed/dQw4w9WgXcQ",
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=LLabcdef",
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=WL",
            "dQw4w9WgXcQ",
        ] {
            assert_eq!(parse(url, ALL), video(id, 0), "{url}");
        }
    }

    #[test]
    fn start_positions() {
        assert_eq!(
            parse("https://youtu.be/dQw4w9WgXcQ?t=90", ALL),
            video("dQw4w9WgXcQ", 90_000)
        );
        assert_eq!(
            parse("https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=1m5s", ALL),
            video("dQw4w9WgXcQ", 65_000)
        );
        assert_eq!(
            parse("https://www.youtube.com/embed/dQw4w9WgXcQ?start=12", ALL),
            video("dQw4w9WgXcQ", 12_000)
        );
        assert_eq!(
            parse("https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=1h", ALL),
            video("dQw4w9WgXcQ", 3_600_000)
        );
        assert_eq!(
            parse("https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=x", ALL),
            video("dQw4w9WgXcQ", 0)
        );
    }

    #[test]
    fn playlists_and_mixes() {
        assert_eq!(
            parse("https://www.youtube.com/playlist?list=PLabc_-123", ALL),
            Some(Route::Playlist {
                list: "PLabc_-123".into(),
                video: None
            })
        );
        assert_eq!(
            parse(
                "https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=PLabc&index=3",
                ALL
            ),
            Some(Route::Playlist {
                list: "PLabc".into(),
                video: Some("dQw4w9WgXcQ".into())
            })
        );
        assert_eq!(
            parse("https://youtu.be/dQw4w9WgXcQ?list=PLabc", ALL),
            Some(Route::Playlist {
                list: "PLabc".into(),
                video: Some("dQw4w9WgXcQ".into())
            })
        );
        assert_eq!(
            parse(
                "https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=RDdQw4w9WgXcQ",
                ALL
            ),
            Some(Route::Mix {
                list: "RDdQw4w9WgXcQ".into(),
                video: "dQw4w9WgXcQ".into()
            })
        );
        assert_eq!(
            parse("https://www.youtube.com/playlist?list=RDdQw4w9WgXcQ", ALL),
            Some(Route::Mix {
                list: "RDdQw4w9WgXcQ".into(),
                video: "dQw4w9WgXcQ".into()
            })
        );
        assert_eq!(
            parse("PLxyz", ALL),
            Some(Route::Playlist {
                list: "PLxyz".into(),
                video: None
            })
        );
        assert_eq!(
            parse("UUxyz", ALL),
            Some(Route::Playlist {
                list: "UUxyz".into(),
                video: None
            })
        );
        assert_eq!(parse("LLxyz", ALL), None);
    }

    #[test]
    fn searches() {
        assert_eq!(
            parse("ytsearch: a b ", ALL),
            Some(Route::Search("a b".into()))
        );
        assert_eq!(parse("YTSEARCH:x", ALL), Some(Route::Search("x".into())));
        assert_eq!(
            parse("ytmsearch:song", ALL),
            Some(Route::MusicSearch("song".into()))
        );
        assert_eq!(parse("ytsearch:   ", ALL), Some(Route::Nothing));
        let off = Claims {
            search: false,
            ..ALL
        };
        assert_eq!(parse("ytsearch:x", off), None);
        assert_eq!(parse("ytmsearch:x", off), None);
    }

    #[test]
    fn not_ours_or_nothing() {
        assert_eq!(parse("https://www.youtube.com/@somechannel", ALL), None);
        assert_eq!(parse("https://example.com/watch?v=dQw4w9WgXcQ", ALL), None);
        assert_eq!(parse("ftp://youtube.com/watch?v=dQw4w9WgXcQ", ALL), None);
        assert_eq!(parse("scsearch:x", ALL), None);
        assert_eq!(parse("https://youtu.be/short", ALL), Some(Route::Nothing));
        assert_eq!(
            parse("https://www.youtube.com/watch?v=bad", ALL),
            Some(Route::Nothing)
        );
        let no_ids = Claims {
            direct_video_ids: false,
            direct_playlist_ids: false,
            ..ALL
        };
        assert_eq!(parse("dQw4w9WgXcQ", no_ids), None);
        assert_eq!(parse("PLxyz", no_ids), None);
        assert_eq!(
            parse("https://www.youtube.com/watch_videos?video_ids=a,b", ALL),
            Some(Route::WatchVideos(
                "https://www.youtube.com/watch_videos?video_ids=a,b".into()
            ))
        );
        // Odd bytes never panic.
        for s in [
            "%",
            "youtube.com/watch?v=%E",
            "https://",
            "youtu.be/é€abcdefghij",
        ] {
            let _ = parse(s, ALL);
        }
    }
}
