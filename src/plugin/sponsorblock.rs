//! SponsorBlock (`sponsorblock-plugin`): per-player categories over REST; at each YouTube
//! track start the video's segments (sponsor.ajay.app) and chapters (InnerTube search) are
//! fetched on the plugin job pool, announced (`SegmentsLoaded`, `ChaptersLoaded`), and
//! then cued against the live position: inside a segment the player seeks to its end
//! (`SegmentSkipped`); entering a chapter sends `ChapterStarted` (plugins.md §3.4).
//!
//! Unlike the Java plugin, a skip only ever moves forward (the position must be inside the
//! segment when it fires), categories survive a session resume, and the cue list is this
//! plugin's own, so it never clobbers `endTime` or lyric cues.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::{empty_reply, guild_param, json_reply, method_not_allowed, Ctx, Plugin};
use crate::config::Config;
use crate::net::Outbound;
use crate::player::{GuildId, PlayerCommand, PlayerEvent, PlayerEventKind};
use crate::server::routes::{Reply, Req};
use crate::server::session::{lock, Session};
use crate::server::ApiError;
use crate::track::TrackData;

pub const NAME: &str = "sponsorblock-plugin";
const SEGMENTS_URL: &str = "https://sponsor.ajay.app/api/skipSegments";
const INNERTUBE_SEARCH: &str = "https://www.youtube.com/youtubei/v1/search";

#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub category: String,
    pub start: i64,
    pub end: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chapter {
    pub name: String,
    pub start: i64,
    pub end: i64,
}

impl Segment {
    fn to_json(&self) -> Value {
        json!({"category": self.category, "start": self.start, "end": self.end})
    }
}

impl Chapter {
    fn to_json(&self) -> Value {
        json!({"name": self.name, "start": self.start, "end": self.end, "duration": self.end - self.start})
    }
}

/// The cues of one player's current track.
struct Cues {
    track: (String, String),
    segments: Vec<(Segment, bool)>,
    chapters: Vec<Chapter>,
    current_chapter: Option<usize>,
}

#[derive(Default)]
struct State {
    /// `None` until PUT (GET then answers 404 `Guild not found`).
    categories: Option<Vec<String>>,
    cues: Option<Cues>,
}

pub struct SponsorBlock {
    net: Outbound,
    state: Arc<Mutex<HashMap<(String, GuildId), State>>>,
}

use super::track_identity as identity;

/// The YouTube video a track plays: a `youtube` track's identifier, or the video of a
/// YouTube watch / youtu.be URI (whatever source delivered it).
pub fn video_id(track: &TrackData) -> Option<String> {
    let valid = |id: &str| {
        id.len() == 11
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if track.info.source_name == "youtube" {
        return valid(&track.info.identifier).then(|| track.info.identifier.clone());
    }
    let uri = track.info.uri.as_deref()?;
    let rest = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))?;
    let id = if let Some(r) = rest.strip_prefix("youtu.be/") {
        r.split(['?', '&', '#', '/']).next()?
    } else {
        let host_end = rest.find('/')?;
        let host = &rest[..host_end];
        if !matches!(
            host,
            "www.youtube.com" | "youtube.com" | "m.youtube.com" | "music.youtube.com"
        ) {
            return None;
        }
        let query = rest[host_end..].strip_prefix("/watch?")?;
        query.split('&').find_map(|kv| kv.strip_prefix("v="))?
    };
    valid(id).then(|| id.to_string())
}

/// The SponsorBlock API answer → segments in ms (fractions of ms truncated).
pub fn parse_segments(v: &Value) -> Vec<Segment> {
    let mut out: Vec<Segment> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let seg = s["segment"].as_array()?;
            let start = (seg.first()?.as_f64()? * 1000.0) as i64;
            let end = (seg.get(1)?.as_f64()? * 1000.0) as i64;
            (end > start).then(|| Segment {
                category: s["category"].as_str().unwrap_or_default().to_string(),
                start,
                end,
            })
        })
        .collect();
    out.sort_by_key(|s| s.start);
    out
}

/// `m:ss` / `h:mm:ss` → ms.
fn parse_time_description(s: &str) -> Option<i64> {
    let mut total = 0i64;
    for part in s.trim().split(':') {
        total = total * 60 + part.trim().parse::<i64>().ok()?;
    }
    Some(total * 1000)
}

/// Chapters of `video_id` from an InnerTube search answer: the matching `videoRenderer`'s
/// macro-marker cards; each ends where the next starts, the last at `length`.
pub fn parse_chapters(v: &Value, video_id: &str, length: i64) -> Vec<Chapter> {
    fn find_video<'a>(v: &'a Value, id: &str) -> Option<&'a Value> {
        match v {
            Value::Object(m) => {
                if let Some(r) = m.get("videoRenderer") {
                    if r["videoId"].as_str() == Some(id) {
                        return Some(r);
                    }
                }
                m.values().find_map(|x| find_video(x, id))
            }
            Value::Array(a) => a.iter().find_map(|x| find_video(x, id)),
            _ => None,
        }
    }
    fn markers<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
        match v {
            Value::Object(m) => {
                if let Some(r) = m.get("macroMarkersListItemRenderer") {
                    out.push(r);
                    return;
                }
                m.values().for_each(|x| markers(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| markers(x, out)),
            _ => {}
        }
    }
    let Some(video) = find_video(v, video_id) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    markers(&video["expandableMetadata"], &mut found);
    let text = |t: &Value| -> Option<String> {
        t["simpleText"].as_str().map(str::to_string).or_else(|| {
            t["runs"].as_array().map(|r| {
                r.iter()
                    .filter_map(|x| x["text"].as_str())
                    .collect::<String>()
            })
        })
    };
    let mut starts: Vec<(String, i64)> = found
        .iter()
        .filter_map(|m| {
            Some((
                text(&m["title"])?,
                parse_time_description(&text(&m["timeDescription"])?)?,
            ))
        })
        .collect();
    starts.sort_by_key(|(_, s)| *s);
    let mut out = Vec::new();
    for i in 0..starts.len() {
        let end = starts.get(i + 1).map_or(length, |(_, s)| *s);
        out.push(Chapter {
            name: starts[i].0.clone(),
            start: starts[i].1,
            end,
        });
    }
    out
}

/// Categories as SponsorBlock's query wants them: a JSON array with `", "` separators.
fn categories_param(cats: &[String]) -> String {
    let quoted: Vec<String> = cats
        .iter()
        .map(|c| Value::from(c.as_str()).to_string())
        .collect();
    format!("[{}]", quoted.join(", "))
}

/// One step of the cue list at `pos`: a segment to skip (never backwards) and a chapter
/// change, if any.
fn step(c: &mut Cues, pos: i64) -> (Option<Segment>, Option<Chapter>) {
    let mut skip = None;
    for (seg, done) in c.segments.iter_mut() {
        if !*done && pos >= seg.start && pos < seg.end {
            *done = true;
            skip = Some(seg.clone());
            break;
        }
    }
    let at = skip.as_ref().map_or(pos, |s| s.end);
    let chapter = c.chapters.iter().rposition(|ch| ch.start <= at);
    let mut started = None;
    if chapter.is_some() && chapter != c.current_chapter {
        c.current_chapter = chapter;
        started = chapter.map(|i| c.chapters[i].clone());
    }
    (skip, started)
}

impl SponsorBlock {
    pub fn new(config: &Config) -> SponsorBlock {
        SponsorBlock {
            net: Outbound::new(config),
            state: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn segments(net: &Outbound, video: &str, cats: &[String]) -> Result<Vec<Segment>, String> {
        let cats = categories_param(cats);
        let resp = net
            .get(SEGMENTS_URL)
            .query(&[("videoID", video), ("categories", cats.as_str())])
            .send()
            .map_err(|e| e.to_string())?;
        match resp.status() {
            200 => Ok(parse_segments(&resp.json().map_err(|e| e.to_string())?)),
            404 => Ok(Vec::new()),
            s => Err(format!("SponsorBlock answered {s}")),
        }
    }

    fn chapters(net: &Outbound, video: &str, length: i64) -> Result<Vec<Chapter>, String> {
        let body = json!({
            "context": {"client": {"clientName": "WEB", "clientVersion": "2.20240101.00.00", "hl": "en", "gl": "US"}},
            "query": video,
        });
        let resp = net
            .post(INNERTUBE_SEARCH)
            .json(&body)
            .send()
            .map_err(|e| e.to_string())?;
        if resp.status() != 200 {
            return Err(format!("InnerTube search answered {}", resp.status()));
        }
        let json = resp.json().map_err(|e| e.to_string())?;
        Ok(parse_chapters(&json, video, length))
    }

    fn load(&self, ctx: &Ctx, session: &Arc<Session>, guild: GuildId, track: &Arc<TrackData>) {
        let key = (session.id.clone(), guild);
        let cats = {
            let mut map = lock(&self.state);
            let Some(st) = map.get_mut(&key) else { return };
            st.cues = None;
            match &st.categories {
                Some(c) if !c.is_empty() => c.clone(),
                _ => return,
            }
        };
        let Some(video) = video_id(track) else {
            return;
        };
        let (net, state, session, track) = (
            self.net.clone(),
            self.state.clone(),
            session.clone(),
            track.clone(),
        );
        ctx.jobs.spawn(move || {
            let segments = Self::segments(&net, &video, &cats).unwrap_or_else(|e| {
                log::warn!("sponsorblock: segments of {video}: {e}");
                Vec::new()
            });
            let chapters = Self::chapters(&net, &video, track.info.length).unwrap_or_else(|e| {
                log::debug!("sponsorblock: chapters of {video}: {e}");
                Vec::new()
            });
            {
                let mut map = lock(&state);
                let Some(st) = map.get_mut(&(session.id.clone(), guild)) else {
                    return;
                };
                st.cues = Some(Cues {
                    track: identity(&track),
                    segments: segments.iter().map(|s| (s.clone(), false)).collect(),
                    chapters: chapters.clone(),
                    current_chapter: None,
                });
            }
            if !segments.is_empty() {
                let list: Vec<Value> = segments.iter().map(Segment::to_json).collect();
                session.send(
                    sb_event(
                        "SegmentsLoaded",
                        guild,
                        vec![("segments", Value::Array(list))],
                    ),
                    false,
                );
            }
            if !chapters.is_empty() {
                let list: Vec<Value> = chapters.iter().map(Chapter::to_json).collect();
                session.send(
                    sb_event(
                        "ChaptersLoaded",
                        guild,
                        vec![("chapters", Value::Array(list))],
                    ),
                    false,
                );
            }
        });
    }
}

/// SponsorBlock's key order: `type` first, then `op`, `guildId`, payload.
fn sb_event(kind: &str, guild: GuildId, fields: Vec<(&str, Value)>) -> String {
    let mut m = serde_json::Map::new();
    m.insert("type".into(), kind.into());
    m.insert("op".into(), "event".into());
    m.insert("guildId".into(), guild.to_string().into());
    for (k, v) in fields {
        m.insert(k.into(), v);
    }
    Value::Object(m).to_string()
}

impl Plugin for SponsorBlock {
    fn name(&self) -> &'static str {
        NAME
    }

    fn route(&self, ctx: &Ctx, req: &Req, segs: &[&str]) -> Option<Result<Reply, ApiError>> {
        use crate::server::method::Method;
        let ["v4", "sessions", sid, "players", gid, "sponsorblock", "categories"] = segs else {
            return None;
        };
        Some((|| {
            let guild = guild_param(gid)?;
            let key = (sid.to_string(), guild);
            match *req.method {
                Method::Get => {
                    ctx.node
                        .sessions
                        .get_connected(sid)
                        .ok_or_else(|| ApiError::not_found("Session not found"))?;
                    let map = lock(&self.state);
                    match map.get(&key).and_then(|s| s.categories.as_ref()) {
                        Some(c) => Ok(json_reply(json!(c))),
                        None => Err(ApiError::not_found("Guild not found")),
                    }
                }
                Method::Put => {
                    ctx.node
                        .sessions
                        .get_connected(sid)
                        .ok_or_else(|| ApiError::not_found("Session not found"))?;
                    let list = match crate::server::update::parse_json(req.body)? {
                        Value::Array(a) => a,
                        _ => {
                            return Err(ApiError::bad_request(
                                "Request body must be a JSON array of strings",
                            ))
                        }
                    };
                    let mut cats: Vec<String> = Vec::new();
                    for v in list {
                        let s = v.as_str().ok_or_else(|| {
                            ApiError::bad_request("Request body must be a JSON array of strings")
                        })?;
                        if !cats.iter().any(|c| c == s) {
                            cats.push(s.to_string());
                        }
                    }
                    lock(&self.state).entry(key).or_default().categories = Some(cats);
                    Ok(empty_reply(200))
                }
                Method::Delete => {
                    if let Some(st) = lock(&self.state).get_mut(&key) {
                        st.categories = None;
                        st.cues = None;
                    }
                    Ok(empty_reply(200))
                }
                _ => Err(method_not_allowed(req)),
            }
        })())
    }

    fn on_event(&self, ctx: &Ctx, session: &Arc<Session>, ev: &PlayerEvent) {
        match &ev.kind {
            PlayerEventKind::TrackStart { track } => self.load(ctx, session, ev.guild_id, track),
            PlayerEventKind::TrackEnd { track, .. } => {
                if let Some(st) = lock(&self.state).get_mut(&(session.id.clone(), ev.guild_id)) {
                    if st.cues.as_ref().is_some_and(|c| c.track == identity(track)) {
                        st.cues = None;
                    }
                }
            }
            _ => {}
        }
    }

    fn tick(&self, ctx: &Ctx) {
        for target in super::cue_targets(ctx, &self.state, |s| s.cues.is_some()) {
            let super::CueTarget {
                sid,
                guild,
                session,
                player,
                track,
                pos,
            } = target;
            let (skip, chapter) = {
                let mut map = lock(&self.state);
                let Some(State { cues: Some(c), .. }) = map.get_mut(&(sid.clone(), guild)) else {
                    continue;
                };
                if track.as_ref() != Some(&c.track) {
                    continue;
                }
                step(c, pos)
            };
            if let Some(seg) = &skip {
                {
                    let p = lock(&player);
                    // Re-check under the lock: the client may have moved on meanwhile.
                    if p.current.as_ref().map(|c| identity(&c.track)) != track
                        || p.position() >= seg.end
                    {
                        continue;
                    }
                    p.handle.send(PlayerCommand::Seek(seg.end));
                }
                ctx.node.plugins.on_seek(&sid, guild, seg.end);
                super::metrics::inc(&super::metrics::SEGMENTS_SKIPPED);
                session.send(
                    sb_event("SegmentSkipped", guild, vec![("segment", seg.to_json())]),
                    false,
                );
            }
            if let Some(ch) = chapter {
                session.send(
                    sb_event("ChapterStarted", guild, vec![("chapter", ch.to_json())]),
                    false,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_params() {
        let v: Value = serde_json::from_str(
            r#"[{"category":"sponsor","actionType":"skip","segment":[12.345,20.0],"UUID":"u","videoDuration":300.5,"locked":0,"votes":3},
                {"category":"intro","actionType":"skip","segment":[0,5.5],"UUID":"v"}]"#,
        )
        .unwrap();
        let s = parse_segments(&v);
        assert_eq!(
            s[0],
            Segment {
                category: "intro".into(),
                start: 0,
                end: 5500
            }
        );
        assert_eq!(s[1].start, 12345);
        assert_eq!(
            categories_param(&["sponsor".into(), "selfpromo".into()]),
            r#"["sponsor", "selfpromo"]"#
        );
    }

    #[test]
    fn chapters_from_search() {
        let v = json!({"contents": {"twoColumnSearchResultsRenderer": {"primaryContents": {"sectionListRenderer": {"contents": [
        {"itemSectionRenderer": {"contents": [
            {"videoRenderer": {"videoId": "other"}},
            {"videoRenderer": {"videoId": "vid", "expandableMetadata": {"expandableMetadataRenderer": {"expandedContent": {
                "horizontalCardListRenderer": {"cards": [
                    {"macroMarkersListItemRenderer": {"title": {"simpleText": "Intro"}, "timeDescription": {"simpleText": "0:00"}}},
                    {"macroMarkersListItemRenderer": {"title": {"runs": [{"text": "Main"}]}, "timeDescription": {"simpleText": "1:02:03"}}}
                ]}}}}}}
        ]}}]}}}}});
        let c = parse_chapters(&v, "vid", 4_000_000);
        assert_eq!(c.len(), 2);
        assert_eq!(
            c[0],
            Chapter {
                name: "Intro".into(),
                start: 0,
                end: 3_723_000
            }
        );
        assert_eq!(c[1].end, 4_000_000);
        assert!(parse_chapters(&v, "nope", 1).is_empty());
    }

    #[test]
    fn skips_only_forward_inside_a_segment() {
        let mut c = Cues {
            track: ("youtube".into(), "v".into()),
            segments: vec![(
                Segment {
                    category: "sponsor".into(),
                    start: 1000,
                    end: 3000,
                },
                false,
            )],
            chapters: vec![],
            current_chapter: None,
        };
        assert_eq!(step(&mut c, 500).0, None);
        assert_eq!(step(&mut c, 1020).0.map(|s| s.end), Some(3000));
        // already skipped; a user seek back into it is respected
        assert_eq!(step(&mut c, 1500).0, None);
        // a seek beyond an unskipped segment never moves back
        let mut c2 = Cues {
            track: ("youtube".into(), "v".into()),
            segments: vec![(
                Segment {
                    category: "sponsor".into(),
                    start: 1000,
                    end: 3000,
                },
                false,
            )],
            chapters: vec![],
            current_chapter: None,
        };
        assert_eq!(step(&mut c2, 5000).0, None);
    }
}
