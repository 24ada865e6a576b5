//! Mirroring (sources.md §7): a metadata-only track plays through the first configured
//! provider that finds it, resolved at playback through the node's normal loader. Results
//! are cached per provider identifier, so replaying a playlist does not search again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Extras;
use crate::source::{LoadResult, MediaInput, SourceError, SourceManager};
use crate::track::{Severity, TrackData};

/// How long a found mirror is reused.
const CACHE_TTL: Duration = Duration::from_secs(3600);
const CACHE_MAX: usize = 2048;

pub struct Mirror {
    providers: Vec<String>,
    /// Every source except the mirrored ones themselves (built on first use).
    loader: SourceManager,
    cache: Mutex<HashMap<String, (TrackData, Instant)>>,
}

/// The identifiers to try for `track`, in provider order (ISRC dashes removed; `%ISRC%`
/// providers skipped without an ISRC; metadata-only search prefixes skipped).
pub fn provider_queries(providers: &[String], track: &TrackData) -> Vec<String> {
    let isrc = track
        .info
        .isrc
        .as_deref()
        .map(|i| i.replace('-', ""))
        .filter(|i| !i.is_empty());
    let query = if track.info.author.eq_ignore_ascii_case("unknown") {
        track.info.title.clone()
    } else {
        format!("{} {}", track.info.title, track.info.author)
    };
    let mut out = Vec::new();
    for p in providers {
        if p.starts_with("spsearch:") || p.starts_with("amsearch:") {
            log::warn!("mirror provider {p:?} is another metadata-only search; skipped");
            continue;
        }
        // A Deezer track must not mirror to Deezer itself.
        if track.info.source_name == "deezer" && p.starts_with("dz") {
            continue;
        }
        if p.contains("%ISRC%") {
            match &isrc {
                Some(i) => out.push(p.replace("%ISRC%", i).replace("%QUERY%", &query)),
                None => continue,
            }
        } else {
            out.push(p.replace("%QUERY%", &query));
        }
    }
    out
}

impl Mirror {
    pub fn new(providers: Vec<String>, loader: SourceManager) -> Mirror {
        Mirror {
            providers,
            loader,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Opens `track` for playback: its preview when it is one, else the first mirror.
    pub fn open(&self, track: &TrackData) -> Result<MediaInput, SourceError> {
        let extras = Extras::decode(&track.source_data);
        if extras.is_preview {
            let url = extras.preview_url.ok_or_else(|| {
                SourceError::friendly(
                    "No preview url found",
                    Severity::Common,
                    "com.sedmelluq.discord.lavaplayer.tools.FriendlyException: No preview url found",
                )
            })?;
            let delegate = match self.loader.load(&url) {
                LoadResult::Track(t) => t,
                _ => {
                    return Err(SourceError::friendly(
                        "No preview url found",
                        Severity::Common,
                        format!("java.lang.IllegalStateException: preview {url} did not load"),
                    ))
                }
            };
            return self.loader.open(&delegate);
        }
        let delegate = self.resolve(track)?;
        log::debug!(
            "mirror: {}:{} plays as {}:{}",
            track.info.source_name,
            track.info.identifier,
            delegate.info.source_name,
            delegate.info.identifier
        );
        self.loader.open(&delegate)
    }

    /// The delegate track for `track`: from the cache, else the first provider that finds
    /// something (a playlist or search result contributes its first track).
    pub fn resolve(&self, track: &TrackData) -> Result<TrackData, SourceError> {
        let queries = provider_queries(&self.providers, track);
        {
            let cache = crate::sync::lock(&self.cache);
            for q in &queries {
                if let Some((t, at)) = cache.get(q) {
                    if at.elapsed() < CACHE_TTL {
                        crate::plugin::metrics::inc(&crate::plugin::metrics::MIRROR_CACHED);
                        return Ok(t.clone());
                    }
                }
            }
        }
        for q in &queries {
            let found = match self.loader.load(q) {
                LoadResult::Track(t) => Some(t),
                LoadResult::Playlist { tracks, .. } | LoadResult::Search(tracks) => {
                    tracks.into_iter().next()
                }
                LoadResult::Empty => None,
                LoadResult::Error(e) => {
                    log::debug!("mirror provider {q:?} failed: {:?}", e.message);
                    None
                }
            };
            // A Deezer hit (`dzisrc:`) gives exact metadata but no playable stream here:
            // resolve it in turn (its own providers skip Deezer, so this ends).
            let found = match found {
                Some(t) if super::SOURCE_NAMES.contains(&t.info.source_name.as_str()) => {
                    self.resolve(&t).ok()
                }
                other => other,
            };
            if let Some(t) = found {
                let mut cache = crate::sync::lock(&self.cache);
                if cache.len() >= CACHE_MAX {
                    cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
                    if cache.len() >= CACHE_MAX {
                        cache.clear();
                    }
                }
                cache.insert(q.clone(), (t.clone(), Instant::now()));
                crate::plugin::metrics::inc(&crate::plugin::metrics::MIRROR_FOUND);
                return Ok(t);
            }
        }
        crate::plugin::metrics::inc(&crate::plugin::metrics::MIRROR_NOT_FOUND);
        Err(SourceError::friendly(
            "No mirror found for track",
            Severity::Common,
            "com.sedmelluq.discord.lavaplayer.tools.FriendlyException: No mirror found for track",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::TrackInfo;

    fn t(isrc: Option<&str>, author: &str, source: &str) -> TrackData {
        TrackData {
            info: TrackInfo {
                title: "Song".into(),
                author: author.into(),
                length: 1,
                identifier: "x".into(),
                is_stream: false,
                uri: None,
                artwork_url: None,
                isrc: isrc.map(str::to_string),
                source_name: source.into(),
            },
            source_data: vec![],
            position: 0,
        }
    }

    #[test]
    fn provider_substitution() {
        let p: Vec<String> = [
            "dzisrc:%ISRC%",
            "ytsearch:\"%ISRC%\"",
            "spsearch:%QUERY%",
            "ytsearch:%QUERY%",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            provider_queries(&p, &t(Some("US-UM7-17-03861"), "Band", "spotify")),
            vec![
                "dzisrc:USUM71703861",
                "ytsearch:\"USUM71703861\"",
                "ytsearch:Song Band"
            ]
        );
        assert_eq!(
            provider_queries(&p, &t(None, "unknown", "spotify")),
            vec!["ytsearch:Song"]
        );
        assert_eq!(
            provider_queries(&p, &t(Some("X1"), "A", "deezer")),
            vec!["ytsearch:\"X1\"", "ytsearch:Song A"]
        );
    }
}
