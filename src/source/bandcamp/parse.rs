//! Pure Bandcamp parsing (sources.md §2): page URLs, the `data-tralbum` attribute (HTML-escaped
//! JSON) → tracks, and the search page's result list. No I/O here, so it is fuzzable.

use serde_json::Value;

use crate::track::{TrackData, TrackInfo, UNKNOWN_LENGTH};

/// What an identifier asks the Bandcamp source for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ident {
    Search(String),
    /// A track or album page: the URL, the band base URL (scheme + host), album or not.
    Page {
        url: String,
        base: String,
        album: bool,
    },
}

/// `bcsearch:<q>` (untrimmed) or `http(s)://[<one label>.]bandcamp.com/(track|album)/<slug>`.
pub fn classify(identifier: &str) -> Option<Ident> {
    if let Some(q) = identifier.strip_prefix("bcsearch:") {
        return Some(Ident::Search(q.to_string()));
    }
    let scheme_len = if identifier.starts_with("https://") {
        8
    } else if identifier.starts_with("http://") {
        7
    } else {
        return None;
    };
    let rest = &identifier[scheme_len..];
    let host_end = rest.find('/')?;
    let host = &rest[..host_end];
    let label_ok = match host.strip_suffix("bandcamp.com")? {
        "" => true,
        label => label
            .strip_suffix('.')
            .is_some_and(|l| !l.is_empty() && !l.contains('.')),
    };
    if !label_ok {
        return None;
    }
    let path = &rest[host_end + 1..];
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let path = path.strip_suffix('/').unwrap_or(path);
    let (kind, slug) = path.split_once('/')?;
    let slug_ok = !slug.is_empty()
        && slug
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !slug_ok || !matches!(kind, "track" | "album") {
        return None;
    }
    Some(Ident::Page {
        url: identifier.to_string(),
        base: identifier[..scheme_len + host_end].to_string(),
        album: kind == "album",
    })
}

/// Decodes HTML character references: the named ones pages use and numeric ones.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest[1..].find(';').map(|e| e + 1).filter(|e| *e <= 12) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let name = &rest[1..end];
        let ch = match name {
            "quot" => Some('"'),
            "amp" => Some('&'),
            "apos" => Some('\''),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "nbsp" => Some('\u{a0}'),
            _ => name.strip_prefix('#').and_then(|n| {
                let code = match n.strip_prefix(['x', 'X']) {
                    Some(h) => u32::from_str_radix(h, 16).ok(),
                    None => n.parse().ok(),
                };
                code.and_then(char::from_u32)
            }),
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The `data-tralbum` JSON of a track or album page; None when the attribute is absent or
/// does not hold JSON.
pub fn tralbum(html: &str) -> Option<Value> {
    const KEY: &str = "data-tralbum=\"";
    let start = html.find(KEY)? + KEY.len();
    let end = html[start..].find('"')?;
    serde_json::from_str(&unescape(&html[start..start + end])).ok()
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `https://f4.bcbits.com/img/a<art_id left-padded to 10 digits>_1.png`.
pub fn artwork(tralbum: &Value) -> Option<String> {
    let id = text(&tralbum["art_id"])?;
    Some(format!("https://f4.bcbits.com/img/a{id:0>10}_1.png"))
}

fn track_from(
    info: &Value,
    base: &str,
    artist: &str,
    art: Option<String>,
    isrc: Option<String>,
) -> TrackData {
    let url = format!("{base}{}", text(&info["title_link"]).unwrap_or_default());
    let length = info["duration"].as_f64().map_or(0, |d| (d * 1000.0) as i64);
    TrackData {
        info: TrackInfo {
            title: text(&info["title"]).unwrap_or_default(),
            author: artist.to_string(),
            length,
            identifier: url.clone(),
            is_stream: false,
            uri: Some(url),
            artwork_url: art,
            isrc,
            source_name: "bandcamp".into(),
        },
        source_data: Vec::new(),
        position: 0,
    }
}

/// A track page → its one track (`trackinfo[0]`, ISRC from `current.isrc`).
pub fn page_track(tralbum: &Value, base: &str) -> Option<TrackData> {
    let first = tralbum["trackinfo"].as_array()?.first()?;
    let artist = text(&tralbum["artist"]).unwrap_or_default();
    Some(track_from(
        first,
        base,
        &artist,
        artwork(tralbum),
        text(&tralbum["current"]["isrc"]),
    ))
}

/// An album page → (name = `current.title`, one track per `trackinfo[]`, no ISRC).
pub fn album(tralbum: &Value, base: &str) -> (String, Vec<TrackData>) {
    let artist = text(&tralbum["artist"]).unwrap_or_default();
    let art = artwork(tralbum);
    let tracks = tralbum["trackinfo"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .map(|t| track_from(t, base, &artist, art.clone(), None))
                .collect()
        })
        .unwrap_or_default();
    (
        text(&tralbum["current"]["title"]).unwrap_or_default(),
        tracks,
    )
}

/// The signed `mp3-128` URL of the page's first track, HTML-unescaped; None = not streamable.
pub fn stream_url(tralbum: &Value) -> Option<String> {
    let url = tralbum["trackinfo"][0]["file"]["mp3-128"].as_str()?;
    (!url.is_empty()).then(|| unescape(url))
}

/// One element of the search page: where it starts and ends in the HTML.
struct Element<'a> {
    /// The whole element, from its start tag to its matching end tag.
    outer: &'a str,
    /// Between the start tag and the end tag.
    inner: &'a str,
}

/// The start tag's class list contains `class`.
fn has_class(tag: &str, class: &str) -> bool {
    let Some(i) = tag.find("class=") else {
        return false;
    };
    let rest = &tag[i + 6..];
    let (q, rest) = match rest.chars().next() {
        Some(q @ ('"' | '\'')) => (q, &rest[1..]),
        _ => return false,
    };
    let value = rest.split(q).next().unwrap_or("");
    value.split_ascii_whitespace().any(|c| c == class)
}

fn tag_name(tag: &str) -> &str {
    let t = tag.trim_start_matches('<');
    let end = t
        .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
        .unwrap_or(t.len());
    &t[..end]
}

const VOID: [&str; 8] = ["img", "br", "meta", "link", "input", "hr", "source", "wbr"];

/// Elements (outside `<script>`) whose class list has `class`, in document order, each with
/// its extent found by counting nested tags of the same name.
fn elements<'a>(html: &'a str, class: &str) -> Vec<Element<'a>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(i) = html[pos..].find('<') {
        let start = pos + i;
        let Some(tag_end) = html[start..].find('>').map(|e| start + e + 1) else {
            break;
        };
        let tag = &html[start..tag_end];
        pos = tag_end;
        if tag.starts_with("</") || tag.starts_with("<!") {
            continue;
        }
        let name = tag_name(tag).to_ascii_lowercase();
        if name == "script" || name == "style" {
            let close = format!("</{name}");
            pos = html[pos..].find(&close).map_or(html.len(), |c| pos + c);
            continue;
        }
        if !has_class(tag, class) {
            continue;
        }
        if VOID.contains(&name.as_str()) || tag.ends_with("/>") {
            out.push(Element {
                outer: tag,
                inner: "",
            });
            continue;
        }
        let end = matching_end(html, tag_end, &name);
        out.push(Element {
            outer: &html[start..end.1],
            inner: &html[tag_end..end.0],
        });
    }
    out
}

/// (start of the matching end tag, end of it) for an element named `name` opened before `from`.
fn matching_end(html: &str, from: usize, name: &str) -> (usize, usize) {
    let mut depth = 1usize;
    let mut pos = from;
    while let Some(i) = html[pos..].find('<') {
        let start = pos + i;
        let Some(end) = html[start..].find('>').map(|e| start + e + 1) else {
            break;
        };
        let tag = &html[start..end];
        pos = end;
        let closing = tag.starts_with("</");
        if !tag_name(tag.trim_start_matches("</")).eq_ignore_ascii_case(name) {
            continue;
        }
        if closing {
            depth -= 1;
            if depth == 0 {
                return (start, end);
            }
        } else if !tag.ends_with("/>") {
            depth += 1;
        }
    }
    (html.len(), html.len())
}

/// Text content: tags removed, references decoded, whitespace collapsed (as jsoup's `text()`).
fn text_of(fragment: &str) -> String {
    let mut raw = String::with_capacity(fragment.len());
    let mut in_tag = false;
    for c in fragment.chars() {
        match c {
            '<' => {
                in_tag = true;
                raw.push(' ');
            }
            '>' if in_tag => in_tag = false,
            _ if !in_tag => raw.push(c),
            _ => {}
        }
    }
    unescape(&raw)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The value of `attr` in the first start tag of `fragment`.
fn attr_of(fragment: &str, attr: &str) -> Option<String> {
    let tag_end = fragment.find('>')?;
    let tag = &fragment[..tag_end];
    let key = format!("{attr}=");
    let mut from = 0;
    while let Some(i) = tag[from..].find(&key) {
        let at = from + i;
        from = at + key.len();
        if at > 0 && !tag.as_bytes()[at - 1].is_ascii_whitespace() {
            continue;
        }
        let rest = &tag[from..];
        let q = rest.chars().next()?;
        if q == '"' || q == '\'' {
            return Some(unescape(rest[1..].split(q).next().unwrap_or("")));
        }
        return Some(unescape(
            rest.split(|c: char| c.is_ascii_whitespace())
                .next()
                .unwrap_or(""),
        ));
    }
    None
}

/// `.a .b` selector text: the text of every `.b` inside each `.a` of `el`, joined by a space.
fn select_text(el: &str, outer: &str, inner: Option<&str>) -> String {
    let mut parts = Vec::new();
    for o in elements(el, outer) {
        match inner {
            Some(tag) => {
                for t in tag_elements(o.inner, tag) {
                    parts.push(text_of(t));
                }
            }
            None => parts.push(text_of(o.inner)),
        }
    }
    parts.retain(|p| !p.is_empty());
    parts.join(" ")
}

/// Elements named `name` (any class) inside `html`: their outer text.
fn tag_elements<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(i) = html[pos..].find('<') {
        let start = pos + i;
        let Some(tag_end) = html[start..].find('>').map(|e| start + e + 1) else {
            break;
        };
        let tag = &html[start..tag_end];
        pos = tag_end;
        if tag.starts_with("</") || !tag_name(tag).eq_ignore_ascii_case(name) {
            continue;
        }
        if VOID.contains(&name) {
            out.push(tag);
            continue;
        }
        let end = matching_end(html, tag_end, name);
        out.push(&html[start..end.1]);
        pos = end.1;
    }
    out
}

/// Java's `String.split("by")`: split on every occurrence, trailing empty pieces dropped.
fn java_split_by(s: &str) -> Vec<&str> {
    let mut parts: Vec<&str> = s.split("by").collect();
    while parts.len() > 1 && parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    parts
}

/// The search page's track results (album, artist and label results are skipped).
pub fn search_results(html: &str) -> Vec<TrackData> {
    let mut out = Vec::new();
    for result in elements(html, "searchresult") {
        let el = result.outer;
        if !select_text(el, "itemtype", None).eq_ignore_ascii_case("track") {
            continue;
        }
        let title = select_text(el, "heading", Some("a"));
        let subhead = select_text(el, "subhead", None);
        let artist = java_split_by(&subhead)
            .last()
            .map(|p| p.split(',').next().unwrap_or("").trim().to_string())
            .unwrap_or_default();
        let mut url = select_text(el, "itemurl", Some("a"));
        if let Some(q) = url.find('?') {
            url.truncate(q);
        }
        let art = elements(el, "art")
            .first()
            .and_then(|a| tag_elements(a.inner, "img").first().copied())
            .and_then(|img| attr_of(img, "src"))
            .unwrap_or_default();
        out.push(TrackData {
            info: TrackInfo {
                title,
                author: artist,
                length: UNKNOWN_LENGTH,
                identifier: url.clone(),
                is_stream: false,
                uri: Some(url),
                artwork_url: Some(art),
                isrc: None,
                source_name: "bandcamp".into(),
            },
            source_data: Vec::new(),
            position: 0,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            classify("https://artist.bandcamp.com/track/a-song_2/?from=x"),
            Some(Ident::Page {
                url: "https://artist.bandcamp.com/track/a-song_2/?from=x".into(),
                base: "https://artist.bandcamp.com".into(),
                album: false
            })
        );
        assert!(matches!(
            classify("http://bandcamp.com/album/x"),
            Some(Ident::Page { album: true, .. })
        ));
        assert_eq!(classify("https://a.b.bandcamp.com/track/x"), None);
        assert_eq!(classify("https://artist.bandcamp.com/music"), None);
        assert_eq!(classify("https://evilbandcamp.com/track/x"), None);
        assert_eq!(classify("bcsearch: x "), Some(Ident::Search(" x ".into())));
    }

    #[test]
    fn unescapes_references() {
        assert_eq!(
            unescape("a&amp;b&quot;&#39;&#x41;&lt;&gt;&bogus; & x"),
            "a&b\"'A<>&bogus; & x"
        );
    }

    #[test]
    fn search_page() {
        let html = r##"<ul class="result-items">
<li class="searchresult data-search" data-search="{&quot;type&quot;:&quot;t&quot;}">
  <a class="artcont" href="https://x.bandcamp.com/track/one?from=search"><div class="art"><img src="https://f4.bcbits.com/img/a1_7.jpg"></div></a>
  <div class="result-info">
    <div class="itemtype"> TRACK </div>
    <div class="heading"><a href="https://x.bandcamp.com/track/one?from=search">One &amp; Only</a></div>
    <div class="subhead">from Some Album by The Artist, feat. Y</div>
    <div class="itemurl"><a href="https://x.bandcamp.com/track/one?from=search">https://x.bandcamp.com/track/one?from=search</a></div>
  </div>
</li>
<li class="searchresult data-search"><div class="result-info"><div class="itemtype">ALBUM</div>
<div class="heading"><a href="#">An Album</a></div></div></li>
</ul>"##;
        let r = search_results(html);
        assert_eq!(r.len(), 1);
        let i = &r[0].info;
        assert_eq!(i.title, "One & Only");
        assert_eq!(i.author, "The Artist");
        assert_eq!(i.identifier, "https://x.bandcamp.com/track/one");
        assert_eq!(
            i.artwork_url.as_deref(),
            Some("https://f4.bcbits.com/img/a1_7.jpg")
        );
        assert_eq!(i.length, UNKNOWN_LENGTH);
    }
}
