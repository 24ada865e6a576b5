//! LavaSrc's lyrics sources besides LRCLIB, as LavaLyrics providers: YouTube Music (the
//! watch page's lyrics tab), Deezer (`song.getLyrics` with the logged-in session) and
//! Spotify (`color-lyrics` with the account's web-player token). Each answers in
//! LavaLyrics' shapes with LavaSrc's `sourceName`/`provider` values and line timings.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::deezer::Deezer;
use super::spotify::Spotify;
use crate::config::Config;
use crate::net::Outbound;
use crate::plugin::lavalyrics::{Line, Lyrics, LyricsProvider};
use crate::source::youtube::clients::{self, ClientSpec};
use crate::source::youtube::innertube::Innertube;
use crate::track::TrackData;

const SPCLIENT: &str = "https://spclient.wg.spotify.com/";
const PRIVATE_API: &str = "https://www.deezer.com/ajax/gw-light.php";
/// The web player's UA, which `color-lyrics` expects (LavaSrc sends the same shape).
const SPOTIFY_UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/134.0.6998.178 Spotify/1.2.65.255 Safari/537.36";
/// YouTube Music's "songs only" search filter (lyrics.kt's, sent as written).
const SONGS_ONLY: &str = "EgWKAQIIAWoQEAMQBBAJEAoQBRAREBAQFQ%3D%3D";

/// The enabled LavaSrc lyrics providers other than LRCLIB, in LavaSrc's order
/// (Spotify, Deezer, YouTube).
pub fn providers(config: &Config) -> Vec<Arc<dyn LyricsProvider>> {
    let c = &config.plugins.lavasrc;
    let l = &c.lyrics_sources;
    let mut out: Vec<Arc<dyn LyricsProvider>> = Vec::new();
    let clients = super::Clients::shared(config);
    let net = Outbound::new(config);
    if l.spotify {
        let sp = clients
            .spotify
            .clone()
            .unwrap_or_else(|| Arc::new(Spotify::new(net.clone(), c.spotify.clone())));
        out.push(Arc::new(SpotifyLyrics { spotify: sp }));
    }
    if l.deezer {
        let dz = clients
            .deezer
            .clone()
            .unwrap_or_else(|| Arc::new(Deezer::new(net.clone(), c.deezer.clone())));
        out.push(Arc::new(DeezerLyrics { deezer: dz }));
    }
    if l.youtube {
        if config.sources.youtube {
            out.push(Arc::new(YoutubeLyrics::new(config, net)));
        } else {
            log::warn!("lyrics_sources.youtube is on but the YouTube source is off: not used");
        }
    }
    out
}

/// A number that may arrive as a JSON number or a numeric string.
fn num(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

// ---------------------------------------------------------------------------------------

pub struct SpotifyLyrics {
    spotify: Arc<Spotify>,
}

impl LyricsProvider for SpotifyLyrics {
    fn name(&self) -> &'static str {
        "spotify"
    }

    fn lyrics(&self, track: &TrackData) -> Result<Option<Lyrics>, String> {
        let Some(id) = self.spotify.find_id(track).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let token = self.spotify.account_token().map_err(|e| e.to_string())?;
        let resp = self
            .spotify
            .outbound()
            .get(&format!(
                "{SPCLIENT}color-lyrics/v2/track/{id}?format=json&vocalRemoval=false"
            ))
            .header("User-Agent", SPOTIFY_UA)
            .header("App-Platform", "WebPlayer")
            .header("Authorization", &format!("Bearer {token}"))
            .send()
            .map_err(|e| e.detail())?;
        match resp.status() {
            200 => {}
            // No lyrics for this track (Spotify answers 404, sometimes with no body).
            404 => return Ok(None),
            s => return Err(format!("Spotify lyrics answered {s}")),
        }
        let json = resp.json().map_err(|e| e.detail())?;
        Ok(parse_spotify(&json))
    }
}

/// A `color-lyrics` answer: lines at `startTimeMs` (strings), no durations, no text.
pub fn parse_spotify(json: &Value) -> Option<Lyrics> {
    let lyrics = &json["lyrics"];
    let lines: Vec<Line> = lyrics["lines"]
        .as_array()?
        .iter()
        .map(|l| Line {
            timestamp: num(&l["startTimeMs"]).unwrap_or(0),
            duration: None,
            line: l["words"].as_str().unwrap_or_default().to_string(),
        })
        .collect();
    Some(Lyrics {
        source_name: "spotify".into(),
        provider: Some(
            lyrics["providerDisplayName"]
                .as_str()
                .unwrap_or("MusixMatch")
                .to_string(),
        ),
        text: None,
        lines: Some(lines),
    })
}

// ---------------------------------------------------------------------------------------

pub struct DeezerLyrics {
    deezer: Arc<Deezer>,
}

impl LyricsProvider for DeezerLyrics {
    fn name(&self) -> &'static str {
        "deezer"
    }

    fn lyrics(&self, track: &TrackData) -> Result<Option<Lyrics>, String> {
        let Some(id) = self.deezer.find_id(track).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let s = self.deezer.user_session().map_err(|e| e.to_string())?;
        let json = s
            .net
            .get(PRIVATE_API)
            .query(&[
                ("method", "song.getLyrics"),
                ("api_version", "1.0"),
                ("api_token", &s.api_token),
                ("sng_id", &id),
            ])
            .send()
            .and_then(|r| r.json())
            .map_err(|e| e.detail())?;
        Ok(parse_deezer(&json))
    }
}

/// A `song.getLyrics` answer: `LYRICS_TEXT` and `LYRICS_SYNC_JSON` lines (`milliseconds`,
/// `duration` as strings); empty `results` (or an error) means none.
pub fn parse_deezer(json: &Value) -> Option<Lyrics> {
    let r = &json["results"];
    let empty = match r {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => true,
    };
    if empty {
        return None;
    }
    let lines: Vec<Line> = r["LYRICS_SYNC_JSON"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| Line {
            timestamp: num(&l["milliseconds"]).unwrap_or(0),
            duration: Some(num(&l["duration"]).unwrap_or(0)),
            line: l["line"].as_str().unwrap_or_default().to_string(),
        })
        .collect();
    Some(Lyrics {
        source_name: "deezer".into(),
        provider: Some("LyricFind".into()),
        text: r["LYRICS_TEXT"].as_str().map(str::to_string),
        lines: Some(lines),
    })
}

// ---------------------------------------------------------------------------------------

/// YouTube Music through the YouTube source's InnerTube code, as the Android Music app.
pub struct YoutubeLyrics {
    innertube: Innertube,
    client: Option<ClientSpec>,
}

impl YoutubeLyrics {
    pub fn new(config: &Config, net: Outbound) -> YoutubeLyrics {
        let yt = &config.youtube;
        let all = clients::resolve(&yt.clients).unwrap_or_else(|_| clients::builtin());
        YoutubeLyrics {
            innertube: Innertube::new(net, &yt.innertube_base, &yt.music_base, &yt.visitor_data),
            client: all.into_iter().find(|c| c.name == "ANDROID_MUSIC"),
        }
    }

    fn call(
        &self,
        c: &ClientSpec,
        endpoint: &str,
        body: Map<String, Value>,
    ) -> Result<Value, String> {
        self.innertube
            .music_call(c, endpoint, body, &format!("lyrics {endpoint}"))
            .map_err(|e| e.message)
    }

    /// The video of a non-YouTube track: the first song for its ISRC, else `title - author`.
    fn find_video(&self, c: &ClientSpec, track: &TrackData) -> Result<Option<String>, String> {
        let q = match track.info.isrc.as_deref().filter(|i| !i.is_empty()) {
            Some(isrc) => isrc.to_string(),
            None => format!("{} - {}", track.info.title, track.info.author),
        };
        let mut body = Map::new();
        body.insert("query".into(), q.into());
        body.insert("params".into(), SONGS_ONLY.into());
        Ok(first_song(&self.call(c, "search", body)?))
    }
}

impl LyricsProvider for YoutubeLyrics {
    fn name(&self) -> &'static str {
        "youtube"
    }

    fn lyrics(&self, track: &TrackData) -> Result<Option<Lyrics>, String> {
        let Some(c) = &self.client else {
            return Ok(None);
        };
        let video = if track.info.source_name == "youtube" {
            Some(track.info.identifier.clone())
        } else {
            self.find_video(c, track)?
        };
        let Some(video) = video else { return Ok(None) };
        let mut body = Map::new();
        body.insert("videoId".into(), video.into());
        let next = self.call(c, "next", body)?;
        let Some(browse_id) = lyrics_browse_id(&next) else {
            return Ok(None);
        };
        let mut body = Map::new();
        body.insert("browseId".into(), browse_id.into());
        Ok(parse_youtube_browse(&self.call(c, "browse", body)?))
    }
}

/// The lyrics tab's browse id in a `next` answer (the second watch-next tab).
pub fn lyrics_browse_id(next: &Value) -> Option<String> {
    next.pointer(
        "/contents/singleColumnMusicWatchNextResultsRenderer/tabbedRenderer/watchNextTabbedResultsRenderer/tabs/1/tabRenderer/endpoint/browseEndpoint/browseId",
    )?
    .as_str()
    .map(str::to_string)
}

/// The first `musicTwoColumnItemRenderer`'s video id of a mobile music search.
pub fn first_song(search: &Value) -> Option<String> {
    let sections = search.pointer(
        "/contents/tabbedSearchResultsRenderer/tabs/0/tabRenderer/content/sectionListRenderer/contents",
    )?;
    sections.as_array()?.iter().find_map(|s| {
        s["musicShelfRenderer"]["contents"]
            .as_array()?
            .iter()
            .find_map(|c| {
                c.pointer("/musicTwoColumnItemRenderer/navigationEndpoint/watchEndpoint/videoId")?
                    .as_str()
                    .map(str::to_string)
            })
    })
}

fn runs(v: &Value) -> Option<String> {
    let s: String = v["runs"]
        .as_array()?
        .iter()
        .filter_map(|r| r["text"].as_str())
        .collect();
    Some(s)
}

/// A lyrics `browse` answer: timed lines (`timedLyricsModel`, each line's cue range) or,
/// failing that, the plain description shelf. The provider is what follows `": "` in
/// `sourceMessage` / the shelf's footer text.
pub fn parse_youtube_browse(v: &Value) -> Option<Lyrics> {
    let timed = v.pointer(
        "/contents/elementRenderer/newElement/type/componentType/model/timedLyricsModel/lyricsData",
    );
    if let Some(data) = timed.filter(|d| d.is_object()) {
        let provider = data["sourceMessage"]
            .as_str()
            .map(|s| s.split_once(": ").map_or(s, |(_, p)| p).to_string());
        let lines: Vec<Line> = data["timedLyricsData"]
            .as_array()?
            .iter()
            .map(|l| {
                let start = num(&l["cueRange"]["startTimeMilliseconds"]);
                let end = num(&l["cueRange"]["endTimeMilliseconds"]);
                Line {
                    timestamp: start.unwrap_or(0),
                    duration: match (start, end) {
                        (Some(s), Some(e)) => Some(e - s),
                        _ => None,
                    },
                    line: l["lyricLine"].as_str().unwrap_or_default().to_string(),
                }
            })
            .collect();
        let text = lines
            .iter()
            .map(|l| l.line.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        return Some(Lyrics {
            source_name: "youtube".into(),
            provider,
            text: Some(text),
            lines: Some(lines),
        });
    }
    let shelf =
        v.pointer("/contents/sectionListRenderer/contents/0/musicDescriptionShelfRenderer")?;
    let text = runs(&shelf["description"])?;
    let footer = runs(&shelf["footer"]).unwrap_or_default();
    Some(Lyrics {
        source_name: "youtube".into(),
        provider: Some(
            footer
                .split_once(": ")
                .map_or(footer.as_str(), |(_, p)| p)
                .to_string(),
        ),
        text: Some(text),
        lines: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spotify_lines() {
        let l = parse_spotify(&json!({"lyrics": {"syncType": "LINE_SYNCED", "lines": [
            {"startTimeMs": "960", "words": "First", "syllables": [], "endTimeMs": "0"},
            {"startTimeMs": "2400", "words": "Second \"q\"", "syllables": [], "endTimeMs": "0"}],
            "provider": "MusixMatch", "providerDisplayName": "Musixmatch", "language": "en"},
            "colors": {"background": -1}, "hasVocalRemoval": false}))
        .unwrap();
        assert_eq!(l.provider.as_deref(), Some("Musixmatch"));
        assert_eq!(l.lines.as_ref().unwrap()[1].timestamp, 2400);
        assert_eq!(l.lines.as_ref().unwrap()[1].duration, None);
        assert_eq!(l.text, None);
    }

    #[test]
    fn deezer_lines_and_empty() {
        let l = parse_deezer(&json!({"error": [], "results": {"LYRICS_ID": "1", "LYRICS_TEXT": "A\nB",
            "LYRICS_SYNC_JSON": [{"lrc_timestamp": "[00:01.00]", "milliseconds": "1000", "duration": "1500", "line": "A"},
                                 {"lrc_timestamp": "[00:02.50]", "milliseconds": "2500", "duration": "900", "line": "B"}]}}))
        .unwrap();
        assert_eq!(l.text.as_deref(), Some("A\nB"));
        let lines = l.lines.unwrap();
        assert_eq!((lines[1].timestamp, lines[1].duration), (2500, Some(900)));
        assert_eq!(
            parse_deezer(&json!({"error": {"DATA_ERROR": "x"}, "results": {}})),
            None
        );
        assert_eq!(parse_deezer(&json!({"error": [], "results": []})), None);
    }

    #[test]
    fn youtube_timed_and_plain() {
        let l = parse_youtube_browse(&json!({"contents": {"elementRenderer": {"newElement": {"type": {"componentType": {"model": {"timedLyricsModel": {"lyricsData": {
            "timedLyricsData": [{"lyricLine": "One", "cueRange": {"startTimeMilliseconds": "100", "endTimeMilliseconds": "900", "metadata": {"id": "1"}}},
                                {"lyricLine": "Two", "cueRange": {"startTimeMilliseconds": "900", "endTimeMilliseconds": "2000"}}],
            "sourceMessage": "Source: LyricFind"}}}}}}}}}))
        .unwrap();
        assert_eq!(l.provider.as_deref(), Some("LyricFind"));
        assert_eq!(l.lines.as_ref().unwrap()[0].duration, Some(800));
        assert_eq!(l.text.as_deref(), Some("One\nTwo"));
        let p = parse_youtube_browse(&json!({"contents": {"sectionListRenderer": {"contents": [{"musicDescriptionShelfRenderer": {
            "description": {"runs": [{"text": "Line a\nLine b"}]}, "footer": {"runs": [{"text": "Source: Musixmatch"}]}}}]}}}))
        .unwrap();
        assert_eq!(p.lines, None);
        assert_eq!(p.provider.as_deref(), Some("Musixmatch"));
        assert_eq!(parse_youtube_browse(&json!({"contents": {}})), None);
    }
}
