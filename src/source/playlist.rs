//! Playlist files found by the probes (sources.md §8.4): M3U (plain or HLS), PLS and plain
//! link lists. Parsing only; the caller turns entries into references.

use super::probe::ProbeKind;
use super::SourceError;

/// Largest playlist file read (anything bigger is not a playlist anyone means).
pub const MAX_PLAYLIST_BYTES: u64 = 1 << 20;

/// What a playlist file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// An HLS playlist (master or media): played as one track or stream.
    Hls {
        first_uri: Option<String>,
        first_title: Option<String>,
    },
    /// Links, in order, each with its title when the file gives one.
    Entries(Vec<(String, Option<String>)>),
}

fn is_link(s: &str) -> bool {
    ["http://", "https://", "icy://"]
        .iter()
        .any(|p| s.starts_with(p))
}

/// Parses a playlist of the given kind. Never fails on odd input; a file with no usable
/// link is `The playlist file contains no links.`.
pub fn parse(kind: ProbeKind, text: &str) -> Result<Parsed, SourceError> {
    let parsed = match kind {
        ProbeKind::M3u => parse_m3u(text),
        ProbeKind::Pls => Parsed::Entries(parse_pls(text)),
        _ => Parsed::Entries(parse_plain(text)),
    };
    match &parsed {
        Parsed::Entries(e) if e.is_empty() => Err(SourceError::NoLinks),
        _ => Ok(parsed),
    }
}

/// HLS only when the file has HLS-only tags; an extended M3U of MP3 links is a playlist
/// (fixing lavaplayer's misclassification, as sources.md §8.4 recommends).
pub fn is_hls(text: &str) -> bool {
    const TAGS: [&str; 4] = [
        "#EXT-X-TARGETDURATION",
        "#EXT-X-STREAM-INF",
        "#EXT-X-MEDIA-SEQUENCE",
        "#EXT-X-MAP",
    ];
    text.lines()
        .map(str::trim)
        .any(|l| TAGS.iter().any(|t| l.starts_with(t)))
}

fn parse_m3u(text: &str) -> Parsed {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let hls = is_hls(text);
    let mut entries = Vec::new();
    let mut title: Option<String> = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            title = rest
                .split_once(',')
                .map(|(_, t)| t.trim().to_string())
                .filter(|t| !t.is_empty());
        } else if line.starts_with('#') {
            continue;
        } else if hls {
            return Parsed::Hls {
                first_uri: Some(line.to_string()),
                first_title: title,
            };
        } else if is_link(line) {
            entries.push((line.to_string(), title.take()));
        } else {
            title = None;
        }
    }
    if hls {
        return Parsed::Hls {
            first_uri: None,
            first_title: None,
        };
    }
    Parsed::Entries(entries)
}

fn parse_pls(text: &str) -> Vec<(String, Option<String>)> {
    let mut files: Vec<(u32, String)> = Vec::new();
    let mut titles: Vec<(u32, String)> = Vec::new();
    for line in text.lines().map(str::trim) {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        let numbered = |prefix: &str| -> Option<u32> {
            let k = key.get(..prefix.len())?;
            k.eq_ignore_ascii_case(prefix)
                .then(|| key[prefix.len()..].parse().ok())
                .flatten()
        };
        if let Some(n) = numbered("File") {
            if is_link(value) {
                files.push((n, value.to_string()));
            }
        } else if let Some(n) = numbered("Title") {
            titles.push((n, value.to_string()));
        }
    }
    files.sort_by_key(|(n, _)| *n);
    files.dedup_by_key(|(n, _)| *n);
    files
        .into_iter()
        .map(|(n, url)| {
            let title = titles.iter().find(|(m, _)| *m == n).map(|(_, t)| t.clone());
            (url, title.filter(|t| !t.is_empty()))
        })
        .collect()
}

fn parse_plain(text: &str) -> Vec<(String, Option<String>)> {
    text.lines()
        .map(str::trim)
        .filter(|l| is_link(l) && !l.contains(char::is_whitespace))
        .map(|l| (l.to_string(), None))
        .collect()
}
