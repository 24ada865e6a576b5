//! LavaLyrics (`lavalyrics-plugin`): lyrics of a track or of a player's current track, and
//! subscriptions that send `LyricsFoundEvent`/`LyricsNotFoundEvent` at each track start
//! and one `LyricsLineEvent` per line as playback reaches it (plugins.md §3.3).
//!
//! Line cues are this plugin's own list per player, checked against the live position on
//! the plugin cue thread: a line reached in playback is `skipped: false`; lines passed by a
//! forward seek are sent in order with `skipped: true`; after a backward seek the line now
//! current is sent once with `skipped: true`. Subscriptions belong to the session and
//! survive a resume.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{json, Value};

use super::{
    bool_param, empty_reply, guild_param, json_reply, method_not_allowed, param, Ctx, Plugin,
};
use crate::config::Config;
use crate::net::Outbound;
use crate::player::{GuildId, PlayerEvent, PlayerEventKind};
use crate::server::routes::{Reply, Req};
use crate::server::session::{lock, Session};
use crate::server::ApiError;
use crate::track::TrackData;

pub const NAME: &str = "lavalyrics-plugin";

/// One line of timed lyrics (ms).
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub timestamp: i64,
    pub duration: Option<i64>,
    pub line: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Lyrics {
    pub source_name: String,
    pub provider: Option<String>,
    pub text: Option<String>,
    pub lines: Option<Vec<Line>>,
}

impl Line {
    pub fn to_json(&self) -> Value {
        json!({"timestamp": self.timestamp, "duration": self.duration, "line": self.line, "plugin": {}})
    }
}

impl Lyrics {
    pub fn to_json(&self) -> Value {
        json!({
            "sourceName": self.source_name,
            "provider": self.provider,
            "text": self.text,
            "lines": self.lines.as_ref().map(|l| l.iter().map(Line::to_json).collect::<Vec<_>>()),
            "plugin": {},
        })
    }

    fn has_lines(&self) -> bool {
        self.lines.as_ref().is_some_and(|l| !l.is_empty())
    }
}

/// A lyrics source.
pub trait LyricsProvider: Send + Sync {
    /// Compared (case-insensitively) with the track's `sourceName` and the configured order.
    fn name(&self) -> &'static str;
    fn lyrics(&self, track: &TrackData) -> Result<Option<Lyrics>, String>;
}

/// LRCLIB: keyless search by title and artist; the first hit's synced and plain lyrics.
pub struct LrcLib {
    net: Outbound,
}

impl LyricsProvider for LrcLib {
    fn name(&self) -> &'static str {
        "lrclib"
    }

    fn lyrics(&self, track: &TrackData) -> Result<Option<Lyrics>, String> {
        let resp = self
            .net
            .get("https://lrclib.net/api/search")
            .query(&[
                ("track_name", track.info.title.as_str()),
                ("artist_name", track.info.author.as_str()),
            ])
            .send()
            .map_err(|e| e.to_string())?;
        match resp.status() {
            200 => {}
            404 => return Ok(None),
            s => return Err(format!("LRCLIB answered {s}")),
        }
        let json = resp.json().map_err(|e| e.to_string())?;
        let Some(first) = json.as_array().and_then(|a| a.first()) else {
            return Ok(None);
        };
        let text = first["plainLyrics"].as_str().map(str::to_string);
        let lines = first["syncedLyrics"]
            .as_str()
            .map(parse_lrc)
            .filter(|l| !l.is_empty());
        if text.is_none() && lines.is_none() {
            return Ok(None);
        }
        Ok(Some(Lyrics {
            source_name: "LRCLIB".into(),
            provider: Some("LRCLIB".into()),
            text,
            lines,
        }))
    }
}

/// LRC text → lines sorted by time; each line lasts until the next one (the last: unknown).
pub fn parse_lrc(s: &str) -> Vec<Line> {
    let mut out: Vec<Line> = Vec::new();
    for raw in s.lines() {
        let mut rest = raw.trim();
        let mut stamps = Vec::new();
        while let Some(body) = rest.strip_prefix('[') {
            let Some(end) = body.find(']') else { break };
            let tag = &body[..end];
            match parse_stamp(tag) {
                Some(ms) => stamps.push(ms),
                None => break, // a metadata tag ([ar:…]) or garbage
            }
            rest = &body[end + 1..];
        }
        for ms in stamps {
            out.push(Line {
                timestamp: ms,
                duration: None,
                line: rest.trim().to_string(),
            });
        }
    }
    out.sort_by_key(|l| l.timestamp);
    for i in 0..out.len().saturating_sub(1) {
        out[i].duration = Some(out[i + 1].timestamp - out[i].timestamp);
    }
    out
}

/// `mm:ss`, `mm:ss.xx` or `mm:ss.xxx` → ms.
fn parse_stamp(tag: &str) -> Option<i64> {
    let (m, s) = tag.split_once(':')?;
    let m: i64 = m.trim().parse().ok()?;
    let (sec, frac) = match s.split_once('.') {
        Some((a, b)) => (a, b),
        None => (s, ""),
    };
    let sec: i64 = sec.trim().parse().ok()?;
    if !(0..60).contains(&sec) || m < 0 {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_ms = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 100,
        2 => frac.parse::<i64>().ok()? * 10,
        _ => frac[..3].parse::<i64>().ok()?,
    };
    Some(m * 60_000 + sec * 1000 + frac_ms)
}

/// Cue state of one subscribed player's current track.
struct Cues {
    track: (String, String),
    lines: Vec<Line>,
    next: usize,
    last_pos: i64,
    last_at: Instant,
    seeked: bool,
}

#[derive(Default)]
struct Sub {
    cues: Option<Cues>,
}

pub struct LavaLyrics {
    providers: Vec<Arc<dyn LyricsProvider>>,
    subs: Arc<Mutex<HashMap<(String, GuildId), Sub>>>,
}

use super::track_identity as identity;

impl LavaLyrics {
    pub fn new(config: &Config) -> LavaLyrics {
        let net = Outbound::new(config);
        let mut providers: Vec<Arc<dyn LyricsProvider>> = Vec::new();
        if config.plugins.lavasrc.lyrics_sources.lrc_lib {
            providers.push(Arc::new(LrcLib { net }));
        }
        // LavaSrc's other lyrics sources (Spotify, Deezer, YouTube Music).
        #[cfg(feature = "plugin-lavasrc")]
        providers.extend(super::lavasrc::lyrics::providers(config));
        // The configured order first (as listed), then the others in registration order.
        let order = &config.plugins.lavalyrics.sources;
        providers.sort_by_key(|p| {
            order
                .iter()
                .position(|n| n.eq_ignore_ascii_case(p.name()))
                .unwrap_or(usize::MAX)
        });
        LavaLyrics {
            providers,
            subs: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The track's own source first (unless skipped), then every provider in order.
    pub fn load(&self, track: &TrackData, skip_track_source: bool) -> Option<Lyrics> {
        let own = track.info.source_name.as_str();
        let mut order: Vec<&Arc<dyn LyricsProvider>> = Vec::new();
        if !skip_track_source {
            order.extend(
                self.providers
                    .iter()
                    .filter(|p| p.name().eq_ignore_ascii_case(own)),
            );
        }
        order.extend(
            self.providers
                .iter()
                .filter(|p| !p.name().eq_ignore_ascii_case(own)),
        );
        for p in order {
            match p.lyrics(track) {
                Ok(Some(l)) => {
                    super::metrics::inc(&super::metrics::LYRICS_FOUND);
                    return Some(l);
                }
                Ok(None) => {}
                Err(e) => log::warn!("lyrics provider {} failed: {e}", p.name()),
            }
        }
        super::metrics::inc(&super::metrics::LYRICS_NOT_FOUND);
        None
    }

    /// Sends Found/NotFound for `track` and arms the line cues.
    fn deliver(
        subs: &Mutex<HashMap<(String, GuildId), Sub>>,
        session: &Session,
        guild: GuildId,
        track: &TrackData,
        lyrics: Option<Lyrics>,
        position: i64,
        since: Instant,
    ) {
        let key = (session.id.clone(), guild);
        let mut map = lock(subs);
        let Some(sub) = map.get_mut(&key) else {
            return; // unsubscribed meanwhile
        };
        match lyrics.filter(Lyrics::has_lines) {
            None => {
                sub.cues = None;
                drop(map);
                session.send(not_found_event(guild), false);
            }
            Some(l) => {
                sub.cues = Some(Cues {
                    track: identity(track),
                    lines: l.lines.clone().unwrap_or_default(),
                    next: lines_first_at_or_after(&l, position),
                    last_pos: position,
                    last_at: since,
                    seeked: false,
                });
                drop(map);
                session.send(found_event(guild, &l), false);
            }
        }
    }

    fn session_player(
        ctx: &Ctx,
        sid: &str,
        gid: &str,
    ) -> Result<(Arc<Session>, Arc<Mutex<crate::server::session::Player>>), ApiError> {
        let guild = guild_param(gid)?;
        let s = ctx
            .node
            .sessions
            .get_connected(sid)
            .ok_or_else(|| ApiError::not_found("Session not found"))?;
        let p = s
            .player(guild)
            .ok_or_else(|| ApiError::not_found("Player not found"))?;
        Ok((s, p))
    }
}

fn lines_first_at_or_after(l: &Lyrics, position: i64) -> usize {
    let lines = l.lines.as_deref().unwrap_or_default();
    // Lines at or before the start position count as already reached, except a track that
    // starts at 0: its first line (at 0 or later) is still sent.
    if position == 0 {
        0
    } else {
        lines
            .iter()
            .position(|x| x.timestamp > position)
            .unwrap_or(lines.len())
    }
}

/// LavaLyrics' key order: payload first, then `op` and `type`.
fn found_event(guild: GuildId, l: &Lyrics) -> String {
    let mut m = serde_json::Map::new();
    m.insert("guildId".into(), guild.to_string().into());
    m.insert("lyrics".into(), l.to_json());
    m.insert("op".into(), "event".into());
    m.insert("type".into(), "LyricsFoundEvent".into());
    Value::Object(m).to_string()
}

fn not_found_event(guild: GuildId) -> String {
    let mut m = serde_json::Map::new();
    m.insert("guildId".into(), guild.to_string().into());
    m.insert("op".into(), "event".into());
    m.insert("type".into(), "LyricsNotFoundEvent".into());
    Value::Object(m).to_string()
}

fn line_event(guild: GuildId, index: usize, line: &Line, skipped: bool) -> String {
    let mut m = serde_json::Map::new();
    m.insert("guildId".into(), guild.to_string().into());
    m.insert("lineIndex".into(), (index as i64).into());
    m.insert("line".into(), line.to_json());
    m.insert("skipped".into(), skipped.into());
    m.insert("op".into(), "event".into());
    m.insert("type".into(), "LyricsLineEvent".into());
    Value::Object(m).to_string()
}

/// Which lines to send for a position change: `(index, skipped)` in order, and the new
/// `next`. A backward move re-arms the cues and reports the line now current once.
fn advance(
    lines: &[Line],
    next: usize,
    last_pos: i64,
    pos: i64,
    jumped: bool,
) -> (Vec<(usize, bool)>, usize) {
    let mut out = Vec::new();
    if pos < last_pos {
        let new_next = lines
            .iter()
            .position(|l| l.timestamp > pos)
            .unwrap_or(lines.len());
        if jumped || last_pos - pos > 250 {
            if new_next > 0 {
                out.push((new_next - 1, true));
            }
            return (out, new_next);
        }
        return (out, next);
    }
    let mut n = next;
    while n < lines.len() && lines[n].timestamp <= pos {
        out.push((n, jumped));
        n += 1;
    }
    (out, n)
}

impl Plugin for LavaLyrics {
    fn name(&self) -> &'static str {
        NAME
    }

    fn route(&self, ctx: &Ctx, req: &Req, segs: &[&str]) -> Option<Result<Reply, ApiError>> {
        use crate::server::method::Method;
        match segs {
            ["v4", "lyrics"] => Some(if *req.method == Method::Get {
                (|| {
                    let skip = bool_param(req, "skipTrackSource")?;
                    let enc = param(req, "track").or_else(|| param(req, "encodedTrack")).ok_or_else(|| {
                        ApiError::bad_request(
                            "Required request parameter 'encodedTrack' for method parameter type String is not present",
                        )
                    })?;
                    // lavalink-client sends the track unescaped: its `+` arrives as a space.
                    let enc = enc.trim().replace(' ', "+");
                    let track = crate::track::decode_track(&enc)
                        .map_err(|e| ApiError::internal(e.to_string()))?
                        .data;
                    Ok(match self.load(&track, skip) {
                        Some(l) => json_reply(l.to_json()),
                        None => empty_reply(204),
                    })
                })()
            } else {
                Err(method_not_allowed(req))
            }),
            ["v4", "sessions", sid, "players", gid, "track", "lyrics"] => {
                Some(if *req.method == Method::Get {
                    (|| {
                        let skip = bool_param(req, "skipTrackSource")?;
                        let (_, p) = Self::session_player(ctx, sid, gid)?;
                        let track = lock(&p).current.as_ref().map(|c| c.track.clone());
                        let track = track.ok_or_else(|| ApiError::not_found("No track playing"))?;
                        Ok(match self.load(&track, skip) {
                            Some(l) => json_reply(l.to_json()),
                            None => empty_reply(204),
                        })
                    })()
                } else {
                    Err(method_not_allowed(req))
                })
            }
            ["v4", "sessions", sid, "players", gid, "lyrics", "subscribe"] => {
                Some(match *req.method {
                    Method::Post => (|| {
                        let skip = bool_param(req, "skipTrackSource")?;
                        let guild = guild_param(gid)?;
                        let Some(s) = ctx.node.sessions.get_connected(sid) else {
                            return Ok(empty_reply(204));
                        };
                        let p = s
                            .player(guild)
                            .ok_or_else(|| ApiError::not_found("Player not found"))?;
                        lock(&self.subs).entry((s.id.clone(), guild)).or_default();
                        let (track, pos) = {
                            let p = lock(&p);
                            (p.current.as_ref().map(|c| c.track.clone()), p.position())
                        };
                        if let Some(t) = track {
                            let lyrics = self.load(&t, skip);
                            Self::deliver(&self.subs, &s, guild, &t, lyrics, pos, Instant::now());
                        }
                        Ok(empty_reply(204))
                    })(),
                    Method::Delete => (|| {
                        let guild = guild_param(gid)?;
                        lock(&self.subs).remove(&(sid.to_string(), guild));
                        Ok(empty_reply(204))
                    })(),
                    _ => Err(method_not_allowed(req)),
                })
            }
            _ => None,
        }
    }

    fn on_event(&self, ctx: &Ctx, session: &Arc<Session>, ev: &PlayerEvent) {
        let PlayerEventKind::TrackStart { track } = &ev.kind else {
            return;
        };
        if !lock(&self.subs).contains_key(&(session.id.clone(), ev.guild_id)) {
            return;
        }
        let (subs, session, track, guild) = (
            self.subs.clone(),
            session.clone(),
            track.clone(),
            ev.guild_id,
        );
        let started = Instant::now();
        let me = LavaLyrics {
            providers: self.providers.clone(),
            subs: self.subs.clone(),
        };
        ctx.jobs.spawn(move || {
            let lyrics = me.load(&track, false);
            // Still the same track playing? Cues start from the track's start, so lines
            // passed while the lookup ran are still sent, in playback order.
            let still = session.player(guild).is_some_and(|p| {
                lock(&p)
                    .current
                    .as_ref()
                    .is_some_and(|c| c.track.info == track.info)
            });
            if still {
                Self::deliver(
                    &subs,
                    &session,
                    guild,
                    &track,
                    lyrics,
                    track.position,
                    started,
                );
            }
        });
    }

    /// A track that ends: lines it reached that the cue thread has not sent yet go out
    /// now (before `TrackEndEvent`), then its cues are dropped.
    fn before_event(&self, _ctx: &Ctx, session: &Arc<Session>, ev: &PlayerEvent) {
        let PlayerEventKind::TrackEnd { track, .. } = &ev.kind else {
            return;
        };
        let mut out = Vec::new();
        {
            let mut map = lock(&self.subs);
            let Some(sub) = map.get_mut(&(session.id.clone(), ev.guild_id)) else {
                return;
            };
            let Some(c) = sub.cues.take() else { return };
            if c.track != identity(track) {
                sub.cues = Some(c);
                return;
            }
            let pos = track.position;
            if pos > c.last_pos {
                let (events, _) = advance(&c.lines, c.next, c.last_pos, pos, c.seeked);
                for (i, skipped) in events {
                    out.push(line_event(ev.guild_id, i, &c.lines[i], skipped));
                }
            }
        }
        for m in out {
            session.send(m, false);
        }
    }

    fn on_seek(&self, session: &str, guild: GuildId, _position: i64) {
        if let Some(Sub { cues: Some(c) }) = lock(&self.subs).get_mut(&(session.to_string(), guild))
        {
            c.seeked = true;
        }
    }

    fn tick(&self, ctx: &Ctx) {
        for target in super::cue_targets(ctx, &self.subs, |s| s.cues.is_some()) {
            let super::CueTarget {
                sid,
                guild,
                session,
                player: _,
                track,
                pos,
            } = target;
            let mut out = Vec::new();
            {
                let mut map = lock(&self.subs);
                let Some(Sub { cues: Some(c) }) = map.get_mut(&(sid.clone(), guild)) else {
                    continue;
                };
                if track.as_ref() != Some(&c.track) {
                    continue;
                }
                let elapsed = c.last_at.elapsed().as_millis() as i64;
                // A jump well beyond what playback (even sped up) covers is a seek.
                let jumped = c.seeked || pos - c.last_pos > 3 * elapsed + 1000;
                let (events, next) = advance(&c.lines, c.next, c.last_pos, pos, jumped);
                for (i, skipped) in events {
                    out.push(line_event(guild, i, &c.lines[i], skipped));
                }
                c.next = next;
                c.last_pos = pos;
                c.last_at = Instant::now();
                c.seeked = false;
            }
            for m in out {
                session.send(m, false);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lrc() {
        let l = parse_lrc(
            "[ar:Someone]\n[00:01.50] one\n[00:03.00][00:10.123]two\n\n[00:05] three\n[xx] bad",
        );
        let ts: Vec<i64> = l.iter().map(|x| x.timestamp).collect();
        assert_eq!(ts, vec![1500, 3000, 5000, 10123]);
        assert_eq!(l[0].duration, Some(1500));
        assert_eq!(l[3].duration, None);
        assert_eq!(l[1].line, "two");
        // Odd stamps are not lines (and never panic).
        assert!(parse_lrc("[00:01.é5] x\n[00:01.-5] y\n[-1:00] z").is_empty());
    }

    fn lines() -> Vec<Line> {
        [0, 1000, 2000, 3000, 4000]
            .iter()
            .map(|t| Line {
                timestamp: *t,
                duration: Some(1000),
                line: format!("l{t}"),
            })
            .collect()
    }

    #[test]
    fn advancing() {
        let l = lines();
        assert_eq!(advance(&l, 0, 0, 20, false), (vec![(0, false)], 1));
        assert_eq!(advance(&l, 1, 900, 1020, false), (vec![(1, false)], 2));
        // forward seek past three lines: each one, in order, skipped
        assert_eq!(
            advance(&l, 2, 1100, 4100, true),
            (vec![(2, true), (3, true), (4, true)], 5)
        );
        // backward seek: the now-current line once, skipped; cues re-armed
        assert_eq!(advance(&l, 5, 4100, 1500, true), (vec![(1, true)], 2));
        // paused: nothing
        assert_eq!(advance(&l, 2, 1500, 1500, false), (vec![], 2));
    }
}
