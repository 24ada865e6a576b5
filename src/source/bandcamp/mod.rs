//! The `bandcamp` source (sources.md §2): track and album pages through their `data-tralbum`
//! JSON, `bcsearch:` through the search page, and playback of the page's signed `mp3-128`
//! URL, fetched again on every play because its token is short-lived.

pub mod parse;

use super::http::HttpStream;
use super::{Answer, LoadRequest, MediaInput, Source, SourceError};
use crate::config::Config;
use crate::net::{Outbound, Url};
use crate::track::{Severity, TrackData};
use parse::Ident;

const SEARCH: &str = "https://bandcamp.com/search";

pub struct BandcampSource {
    net: Outbound,
}

/// A load failure that is not already friendly (lavaplayer wraps it as a fault).
fn load_failed(cause: String) -> SourceError {
    SourceError::friendly(
        "Loading information for a Bandcamp resource failed.",
        Severity::Fault,
        cause,
    )
}

/// A page: `Ok(None)` for a 404.
enum Page {
    Found(String),
    Missing,
}

impl BandcampSource {
    pub fn new(config: &Config) -> BandcampSource {
        BandcampSource {
            net: Outbound::new(config).with_cookies(),
        }
    }

    fn page(&self, url: &str) -> Result<Page, String> {
        let resp = self
            .net
            .get(url)
            .send()
            .map_err(|e| format!("java.io.IOException: {}", e.detail()))?;
        match resp.status() {
            404 => Ok(Page::Missing),
            _ if resp.is_success() => resp
                .text()
                .map(Page::Found)
                .map_err(|e| format!("java.io.IOException: {}", e.detail())),
            s => Err(format!(
                "java.io.IOException: Invalid status code for track page: {s}"
            )),
        }
    }

    fn load_page(&self, url: &str, base: &str, album: bool) -> Answer {
        let html = match self.page(url) {
            Ok(Page::Found(h)) => h,
            Ok(Page::Missing) => return Answer::Empty,
            Err(cause) => return Answer::Error(load_failed(cause)),
        };
        let Some(tralbum) = parse::tralbum(&html) else {
            let message = if album {
                "Album information not found on the Bandcamp page."
            } else {
                "Track information not found on the Bandcamp page."
            };
            return Answer::Error(SourceError::friendly(
                message,
                Severity::Suspicious,
                String::new(),
            ));
        };
        if album {
            let (name, tracks) = parse::album(&tralbum, base);
            return Answer::Playlist {
                name,
                selected_track: -1,
                tracks,
            };
        }
        match parse::page_track(&tralbum, base) {
            Some(t) => Answer::Track(t),
            None => Answer::Error(load_failed(
                "java.lang.NullPointerException: the page lists no track".into(),
            )),
        }
    }

    fn load_search(&self, query: &str) -> Answer {
        let url = match Url::parse_with_params(SEARCH, &[("q", query), ("item_type", "t")]) {
            Ok(u) => u,
            Err(e) => {
                return Answer::Error(load_failed(format!("java.net.URISyntaxException: {e}")))
            }
        };
        match self.page(url.as_str()) {
            Ok(Page::Found(html)) => {
                let tracks = parse::search_results(&html);
                if tracks.is_empty() {
                    Answer::Empty
                } else {
                    Answer::Search(tracks)
                }
            }
            Ok(Page::Missing) => Answer::Empty,
            Err(cause) => Answer::Error(load_failed(cause)),
        }
    }

    /// Re-reads the track page for a fresh `mp3-128` URL and streams it.
    fn open_track(&self, track: &TrackData) -> Result<MediaInput, SourceError> {
        let broke = |cause: String| {
            SourceError::friendly(
                "Something broke when playing the track.",
                Severity::Fault,
                cause,
            )
        };
        let page_url = track.info.uri.as_deref().unwrap_or(&track.info.identifier);
        let html = match self.page(page_url) {
            Ok(Page::Found(h)) => h,
            Ok(Page::Missing) => {
                return Err(broke(
                    "java.io.IOException: Invalid status code for track page: 404".into(),
                ))
            }
            Err(cause) => return Err(broke(cause)),
        };
        let tralbum = parse::tralbum(&html).ok_or_else(|| {
            SourceError::friendly(
                "Track information not found on the Bandcamp page.",
                Severity::Suspicious,
                String::new(),
            )
        })?;
        let stream = parse::stream_url(&tralbum).ok_or_else(|| {
            SourceError::friendly(
                "This track is not streamable.",
                Severity::Common,
                String::new(),
            )
        })?;
        let url = Url::parse(&stream)
            .map_err(|_| broke(format!("java.net.URISyntaxException: {stream}")))?;
        let (stream, mime) = HttpStream::open_url(&self.net, &url)?;
        let seekable = stream.total_len().is_some();
        Ok(MediaInput {
            reader: Box::new(stream),
            extension: Some("mp3".into()),
            mime,
            is_stream: !seekable,
            segments: None,
        })
    }
}

impl Source for BandcampSource {
    fn name(&self) -> &'static str {
        "bandcamp"
    }

    fn load(&self, req: &LoadRequest<'_>) -> Answer {
        match parse::classify(req.identifier) {
            Some(Ident::Search(q)) => self.load_search(&q),
            Some(Ident::Page { url, base, album }) => self.load_page(&url, &base, album),
            None => Answer::NotMine,
        }
    }

    fn open(&self, track: &TrackData) -> Result<MediaInput, SourceError> {
        self.open_track(track)
    }
}
