//! The JSON shapes of the protocol (spec §4–6), in the server's field order.
//!
//! Built with `serde_json` in preserve-order mode so the keys come out exactly as Lavalink
//! writes them; nullable fields are written as `null`, `pluginInfo`/`userData` always.

use serde_json::{json, Map, Value};

use crate::source::LoadResult;
use crate::track::{TrackData, TrackException, TrackInfo};

/// `TrackInfo` with the given position (live or stored).
pub fn track_info(info: &TrackInfo, position: i64) -> Value {
    json!({
        "identifier": info.identifier,
        // youtube-source reports every YouTube track seekable, live included (sources.md §0.3).
        "isSeekable": !info.is_stream || info.source_name == "youtube",
        "author": info.author,
        "length": info.length,
        "isStream": info.is_stream,
        "position": position,
        "title": info.title,
        "uri": info.uri,
        "sourceName": info.source_name,
        "artworkUrl": info.artwork_url,
        "isrc": info.isrc,
    })
}

/// `pluginInfo`: the probe descriptor for http/local tracks (as Lavalink's default
/// modifier adds it), what a source attached at load (`source::plugin_info`), `{}` otherwise.
pub fn plugin_info(track: &TrackData) -> Value {
    let mut m = Map::new();
    if matches!(track.info.source_name.as_str(), "http" | "local") {
        if let Some(p) = crate::track::probe_info(track) {
            m.insert("probeInfo".into(), Value::String(p));
        }
    }
    crate::source::plugin_info::extend(track, &mut m);
    crate::plugin::track_plugin_info(track, &mut m);
    Value::Object(m)
}

/// A `Track` object with `encoded` given (echoed input or a fresh v3 encoding).
pub fn track_with(track: &TrackData, encoded: String, user_data: &Map<String, Value>) -> Value {
    json!({
        "encoded": encoded,
        "info": track_info(&track.info, track.position),
        "pluginInfo": plugin_info(track),
        "userData": Value::Object(user_data.clone()),
    })
}

/// A live `Track`: re-encoded as version 3 at `position`.
pub fn live_track(track: &TrackData, position: i64, user_data: &Map<String, Value>) -> Value {
    let mut t = track.clone();
    t.position = position;
    let encoded = crate::track::encode_track(&t);
    track_with(&t, encoded, user_data)
}

pub fn exception(e: &TrackException) -> Value {
    json!({
        "message": e.message,
        "severity": e.severity.as_str(),
        "cause": e.cause,
        "causeStackTrace": e.cause_stack_trace,
    })
}

/// `pluginInfo` of a playlist: what the plugins contribute, `{}` otherwise.
fn playlist_plugin_info(name: &str, tracks: &[TrackData]) -> Value {
    let mut m = Map::new();
    crate::plugin::playlist_plugin_info(name, tracks, &mut m);
    Value::Object(m)
}

pub fn load_result(r: &LoadResult) -> Value {
    let empty = Map::new();
    let fresh = |t: &TrackData| live_track(t, t.position, &empty);
    match r {
        LoadResult::Track(t) => json!({"loadType": "track", "data": fresh(t)}),
        LoadResult::Playlist {
            name,
            selected_track,
            tracks,
        } => json!({
            "loadType": "playlist",
            "data": {
                "info": {"name": name, "selectedTrack": selected_track},
                "pluginInfo": playlist_plugin_info(name, tracks),
                "tracks": tracks.iter().map(fresh).collect::<Vec<_>>(),
            }
        }),
        LoadResult::Search(tracks) => json!({
            "loadType": "search",
            "data": tracks.iter().map(fresh).collect::<Vec<_>>(),
        }),
        LoadResult::Empty => json!({"loadType": "empty", "data": null}),
        LoadResult::Error(e) => json!({"loadType": "error", "data": exception(e)}),
    }
}

/// `PlayerState`.
pub fn player_state(time: i64, position: i64, connected: bool, ping: i64) -> Value {
    json!({"time": time, "position": position, "connected": connected, "ping": ping})
}

/// `VoiceState`; `""`/`null` when there is no connection info.
pub fn voice_state(v: Option<&super::backend::VoiceData>) -> Value {
    match v {
        Some(v) => json!({
            "token": v.token,
            "endpoint": v.endpoint,
            "sessionId": v.session_id,
            "channelId": v.channel_id,
        }),
        None => json!({"token": "", "endpoint": "", "sessionId": "", "channelId": null}),
    }
}

/// System figures shared by the `stats` op and `GET /v4/stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SystemFigures {
    pub uptime_ms: i64,
    pub mem_free: u64,
    pub mem_used: u64,
    pub mem_allocated: u64,
    pub mem_reservable: u64,
    pub cores: u32,
    pub system_load: f64,
    pub lavalink_load: f64,
}

/// Per-session frame statistics (averages per eligible player).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameStats {
    pub sent: i64,
    pub nulled: i64,
    pub deficit: i64,
}

/// Stats: `frame_stats` = None → REST shape (no key); Some(x) → WS op with `frameStats: x`.
pub fn stats(
    frame_stats: Option<Option<FrameStats>>,
    players: usize,
    playing: usize,
    f: &SystemFigures,
) -> Value {
    let mut m = Map::new();
    if let Some(fs) = frame_stats {
        m.insert("op".into(), Value::from("stats"));
        m.insert(
            "frameStats".into(),
            match fs {
                Some(s) => json!({"sent": s.sent, "nulled": s.nulled, "deficit": s.deficit}),
                None => Value::Null,
            },
        );
    }
    m.insert("players".into(), Value::from(players));
    m.insert("playingPlayers".into(), Value::from(playing));
    m.insert("uptime".into(), Value::from(f.uptime_ms));
    m.insert(
        "memory".into(),
        json!({
            "free": f.mem_free,
            "used": f.mem_used,
            "allocated": f.mem_allocated,
            "reservable": f.mem_reservable,
        }),
    );
    m.insert(
        "cpu".into(),
        json!({"cores": f.cores, "systemLoad": f64_json(f.system_load), "lavalinkLoad": f64_json(f.lavalink_load)}),
    );
    Value::Object(m)
}

/// Floats always carry a decimal point (`0.0`), as the JVM prints them.
fn f64_json(x: f64) -> Value {
    serde_json::Number::from_f64(if x.is_finite() { x } else { 0.0 })
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// The `event` op envelope: op, type, guildId, then the type's fields.
pub fn event(kind: &str, guild_id: u64, fields: Vec<(&str, Value)>) -> Value {
    let mut m = Map::new();
    m.insert("op".into(), Value::from("event"));
    m.insert("type".into(), Value::from(kind));
    m.insert("guildId".into(), Value::from(guild_id.to_string()));
    for (k, v) in fields {
        m.insert(k.into(), v);
    }
    Value::Object(m)
}

pub fn player_update(guild_id: u64, state: Value) -> Value {
    json!({"op": "playerUpdate", "state": state, "guildId": guild_id.to_string()})
}

pub fn ready(resumed: bool, session_id: &str) -> Value {
    json!({"op": "ready", "resumed": resumed, "sessionId": session_id})
}

/// The version Basalt reports: the Lavalink API release it is compatible with, so clients
/// that gate features on the server version treat it as Lavalink 4.2.
pub const LAVALINK_VERSION: &str = "4.2.2";

/// `/v4/info`.
pub fn info(source_names: &[&str], filters: &[&str]) -> Value {
    let (major, minor, patch, pre) = parse_semver(LAVALINK_VERSION);
    json!({
        "version": {
            "semver": LAVALINK_VERSION,
            "major": major,
            "minor": minor,
            "patch": patch,
            "preRelease": pre,
        },
        "buildTime": -1,
        "git": {
            "branch": option_env!("BASALT_GIT_BRANCH").unwrap_or("unknown"),
            "commit": option_env!("BASALT_GIT_COMMIT").unwrap_or("unknown"),
            // Lavalink reports milliseconds since the epoch.
            "commitTime": option_env!("BASALT_GIT_COMMIT_TIME")
                .and_then(|t| t.parse::<i64>().ok())
                .map_or(0, |t| t * 1000),
        },
        "jvm": concat!("Rust (basalt ", env!("CARGO_PKG_VERSION"), ")"),
        "lavaplayer": concat!("basalt-", env!("CARGO_PKG_VERSION")),
        "sourceManagers": source_names,
        "filters": filters,
        // Filters Basalt implements natively under a plugin's name, listed so clients that
        // gate on it (lavalink-client, moonlink.js) send them.
        "plugins": [{
            "name": basalt_dsp::extra::lavadspx::LAVADSPX_PLUGIN,
            "version": concat!("basalt-", env!("CARGO_PKG_VERSION")),
        }],
    })
}

/// Lavalink's semver parse: `X.Y.Z[-pre]`; anything else → zeros and null preRelease.
pub fn parse_semver(s: &str) -> (i64, i64, i64, Option<String>) {
    let (core, pre) = match s.split_once('-') {
        Some((c, p)) => (c, p.to_string()),
        None => (s, String::new()),
    };
    let parts: Vec<Option<i64>> = core.split('.').map(|p| p.parse().ok()).collect();
    match parts.as_slice() {
        [Some(a), Some(b), Some(c)] => (*a, *b, *c, Some(pre)),
        _ => (0, 0, 0, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver() {
        assert_eq!(parse_semver("4.2.2"), (4, 2, 2, Some(String::new())));
        assert_eq!(
            parse_semver("4.0.0-beta.1"),
            (4, 0, 0, Some("beta.1".into()))
        );
        assert_eq!(parse_semver("4.0.0+abc"), (0, 0, 0, None));
    }

    #[test]
    fn floats_keep_a_point() {
        let f = SystemFigures::default();
        let s = serde_json::to_string(&stats(Some(None), 0, 0, &f)).unwrap();
        assert!(s.contains(r#""systemLoad":0.0"#), "{s}");
        assert!(
            s.starts_with(r#"{"op":"stats","frameStats":null,"players":0"#),
            "{s}"
        );
    }

    #[test]
    fn stats_op_matches_the_example() {
        let p = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/examples.json");
        let ex: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        let f = SystemFigures {
            uptime_ms: 123456789,
            mem_free: 123456789,
            mem_used: 123456789,
            mem_allocated: 123456789,
            mem_reservable: 123456789,
            cores: 4,
            system_load: 0.5,
            lavalink_load: 0.5,
        };
        let fs = FrameStats {
            sent: 6000,
            nulled: 10,
            deficit: -3010,
        };
        assert_eq!(stats(Some(Some(fs)), 1, 1, &f), ex["statsOp"]["payload"]);
        assert_eq!(stats(None, 1, 1, &f), ex["restStats"]["payload"]);
    }
}

#[cfg(test)]
mod seekable_tests {
    use super::*;

    #[test]
    fn youtube_tracks_are_seekable_even_live() {
        let mut info = TrackInfo {
            title: "t".into(),
            author: "a".into(),
            length: crate::track::UNKNOWN_LENGTH,
            identifier: "jfKfPfyJRdk".into(),
            is_stream: true,
            uri: None,
            artwork_url: None,
            isrc: None,
            source_name: "youtube".into(),
        };
        assert_eq!(track_info(&info, 0)["isSeekable"], true);
        info.source_name = "twitch".into();
        assert_eq!(track_info(&info, 0)["isSeekable"], false);
    }
}
