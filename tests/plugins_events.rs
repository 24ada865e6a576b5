//! Plugin WebSocket events through the real binary and the fake Discord voice server:
//! LavaLyrics line events in order (and `skipped` on a forward seek), SponsorBlock
//! segments skipped forward with their events, and plugin events queued while a session
//! is paused and replayed on resume.

#[path = "support/fake_voice/mod.rs"]
mod fake_voice;
#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/mitm.rs"]
mod mitm;
#[path = "support/plugin_node.rs"]
mod plugin_node;
#[path = "support/poll.rs"]
mod poll;

use std::time::{Duration, Instant};

use fake_voice::{FakeConfig, FakeVoice, SILENCE};
use http_client::Ws;
use mitm::{Mitm, MockResponse, Router};
use plugin_node::*;
use serde_json::{json, Value};

const VIDEO: &str = "dQw4w9WgXcQ";

fn upstreams() -> Router {
    lrclib_routes(media_routes(Router::new()))
        .route("GET", "sponsor.ajay.app", "/api/skipSegments", |q| {
            if q.param("videoID") != Some(VIDEO) {
                return MockResponse::text("Not Found", "text/plain").with_status(404);
            }
            MockResponse::json(json!([
                {"category": "sponsor", "actionType": "skip", "segment": [0.5, 1.5], "UUID": "abc",
                 "videoDuration": 2.0, "locked": 0, "votes": 10, "description": ""}
            ]))
        })
        .route("POST", "www.youtube.com", "/youtubei/v1/search", |q| {
            let id = q.body_json()["query"].as_str().unwrap_or_default().to_string();
            MockResponse::json(json!({"contents": {"twoColumnSearchResultsRenderer": {"primaryContents": {
                "sectionListRenderer": {"contents": [{"itemSectionRenderer": {"contents": [
                    {"videoRenderer": {"videoId": id, "title": {"runs": [{"text": "Video"}]},
                     "expandableMetadata": {"expandableMetadataRenderer": {"expandedContent": {
                        "horizontalCardListRenderer": {"cards": [
                            {"macroMarkersListItemRenderer": {"title": {"simpleText": "Intro"}, "timeDescription": {"simpleText": "0:00"}}},
                            {"macroMarkersListItemRenderer": {"title": {"simpleText": "Song"}, "timeDescription": {"simpleText": "0:01"}}}
                        ]}}}}}}
                ]}}]}}}}}))
        })
}

const CONFIG: &str = "[plugins.lavasrc.lyrics_sources]\nlrc_lib = true\n";

fn voice(f: &FakeVoice) -> Value {
    json!({"token": f.config.token, "endpoint": f.endpoint, "sessionId": f.config.session_id,
           "channelId": f.config.channel_id.to_string()})
}

fn fake() -> FakeVoice {
    FakeVoice::start(FakeConfig {
        guild_id: GUILD,
        user_id: USER,
        ..FakeConfig::default()
    })
}

/// Every `event` of `kind` until `until` arrives (returned last).
fn events_until(ws: &mut Ws, until: &str, timeout: Duration) -> Vec<Value> {
    let end = Instant::now() + timeout;
    let mut out = Vec::new();
    while Instant::now() < end {
        if let Ok(Some(m)) = ws.next(end.saturating_duration_since(Instant::now())) {
            if m["op"] == "event" {
                let done = m["type"] == until;
                out.push(m);
                if done {
                    return out;
                }
            }
        }
    }
    panic!("no {until} within {timeout:?}; saw {out:#?}");
}

fn of_type<'a>(evs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    evs.iter().filter(|e| e["type"] == kind).collect()
}

#[test]
fn lyric_lines_in_order_and_skipped_on_a_forward_seek() {
    let m = Mitm::start(upstreams());
    let node = start("lyric-events", &m, CONFIG);
    let c = client(&node);
    let f = fake();
    let (mut ws, sid) = session(&node);
    let path = format!("/v4/sessions/{sid}/players/{GUILD}");
    assert_eq!(
        c.patch(&path, &json!({"voice": voice(&f)}).to_string())
            .status,
        200
    );
    assert_eq!(c.post(&format!("{path}/lyrics/subscribe"), "").status, 204);

    // Played through: Found, then each line once, in order, not skipped.
    let body = json!({"track": {"identifier": "https://media.example/song.mp3"}});
    assert_eq!(c.patch(&path, &body.to_string()).status, 200);
    let evs = events_until(&mut ws, "TrackEndEvent", Duration::from_secs(15));
    let found = of_type(&evs, "LyricsFoundEvent");
    assert_eq!(found.len(), 1, "{evs:#?}");
    assert_eq!(found[0]["guildId"], GUILD.to_string());
    assert_eq!(found[0]["lyrics"]["lines"].as_array().unwrap().len(), 4);
    let lines = of_type(&evs, "LyricsLineEvent");
    let idx: Vec<i64> = lines
        .iter()
        .map(|e| e["lineIndex"].as_i64().unwrap())
        .collect();
    assert_eq!(idx, [0, 1, 2, 3], "{evs:#?}");
    assert!(lines.iter().all(|e| e["skipped"] == false));
    assert_eq!(
        lines[1]["line"],
        json!({"timestamp": 400, "duration": 400, "line": "Second", "plugin": {}})
    );
    let start_at = evs
        .iter()
        .position(|e| e["type"] == "TrackStartEvent")
        .unwrap();
    let found_at = evs
        .iter()
        .position(|e| e["type"] == "LyricsFoundEvent")
        .unwrap();
    assert!(start_at < found_at);

    // Paused at the start: line 0 only; a seek to 1.3 s sends lines 1–3 skipped, in order.
    let body = json!({"track": {"identifier": "https://media.example/song.mp3"}, "paused": true});
    assert_eq!(c.patch(&path, &body.to_string()).status, 200);
    let (first, _) = wait_event(&mut ws, "LyricsLineEvent", Duration::from_secs(10));
    assert_eq!(
        (first["lineIndex"].clone(), first["skipped"].clone()),
        (json!(0), json!(false))
    );
    // Idle on purpose: a paused track sends no further line (one would show up below
    // as line 1 not skipped).
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.patch(&path, "{\"position\": 1300}").status, 200);
    let mut got = Vec::new();
    for _ in 0..3 {
        let (e, _) = wait_event(&mut ws, "LyricsLineEvent", Duration::from_secs(5));
        got.push((
            e["lineIndex"].as_i64().unwrap(),
            e["skipped"].as_bool().unwrap(),
        ));
    }
    assert_eq!(got, [(1, true), (2, true), (3, true)]);
    // A backward seek sends the line now current once, skipped.
    assert_eq!(c.patch(&path, "{\"position\": 500}").status, 200);
    let (e, _) = wait_event(&mut ws, "LyricsLineEvent", Duration::from_secs(5));
    assert_eq!(
        (e["lineIndex"].clone(), e["skipped"].clone()),
        (json!(1), json!(true))
    );

    // Unsubscribed: the next track gets no lyric events.
    assert_eq!(c.delete(&format!("{path}/lyrics/subscribe")).status, 204);
    let body = json!({"track": {"identifier": "https://media.example/song.mp3"}});
    assert_eq!(c.patch(&path, &body.to_string()).status, 200);
    let evs = events_until(&mut ws, "TrackEndEvent", Duration::from_secs(15));
    // The paused track's replacement ends first; wait for the played one's end.
    let evs = if evs.last().unwrap()["reason"] == "replaced" {
        events_until(&mut ws, "TrackEndEvent", Duration::from_secs(15))
    } else {
        evs
    };
    assert!(of_type(&evs, "LyricsLineEvent").is_empty(), "{evs:#?}");
    assert!(of_type(&evs, "LyricsFoundEvent").is_empty(), "{evs:#?}");
    assert!(m.unrouted().is_empty(), "{:?}", m.unrouted());
}

#[test]
fn sponsorblock_skips_a_segment_forward_with_its_events() {
    let m = Mitm::start(upstreams());
    let node = start("sb-events", &m, CONFIG);
    let c = client(&node);
    let f = fake();
    let (mut ws, sid) = session(&node);
    let path = format!("/v4/sessions/{sid}/players/{GUILD}");
    assert_eq!(
        c.send_json(
            "PUT",
            &format!("{path}/sponsorblock/categories"),
            "[\"sponsor\", \"intro\"]"
        )
        .status,
        200
    );

    let body = json!({"track": {"identifier": format!("https://www.youtube.com/watch?v={VIDEO}")}, "voice": voice(&f)});
    let r = c.patch(&path, &body.to_string());
    assert_eq!(r.status, 200, "{}", r.text());
    let evs = events_until(&mut ws, "TrackEndEvent", Duration::from_secs(15));
    let kinds: Vec<&str> = evs.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "TrackStartEvent",
            "SegmentsLoaded",
            "ChaptersLoaded",
            "ChapterStarted",
            "SegmentSkipped",
            "ChapterStarted",
            "TrackEndEvent"
        ],
        "{evs:#?}"
    );
    let loaded = &evs[1];
    assert_eq!(
        loaded["segments"],
        json!([{"category": "sponsor", "start": 500, "end": 1500}])
    );
    // SponsorBlock's key order: type first.
    assert_eq!(loaded.as_object().unwrap().keys().next().unwrap(), "type");
    // The last chapter ends at the track's length.
    let len = evs[0]["track"]["info"]["length"].as_i64().unwrap();
    assert_eq!(
        evs[2]["chapters"],
        json!([{"name": "Intro", "start": 0, "end": 1000, "duration": 1000},
               {"name": "Song", "start": 1000, "end": len, "duration": len - 1000}])
    );
    assert_eq!(evs[3]["chapter"]["name"], "Intro");
    assert_eq!(
        evs[4]["segment"],
        json!({"category": "sponsor", "start": 500, "end": 1500})
    );
    assert_eq!(evs[5]["chapter"]["name"], "Song");
    assert_eq!(evs[6]["reason"], "finished");

    // About one second of the two was skipped.
    assert!(f.wait(Duration::from_secs(10), |s| s
        .packets
        .iter()
        .filter(|p| p.payload == SILENCE)
        .count()
        >= 5));
    let audio = f
        .packets()
        .into_iter()
        .filter(|p| p.payload != SILENCE)
        .count();
    assert!(
        (40..=70).contains(&audio),
        "{audio} frames after skipping 1 s of 2 s"
    );

    let q = m.requests_to("sponsor.ajay.app", "/api/skipSegments");
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].param("videoID"), Some(VIDEO));
    assert_eq!(q[0].param("categories"), Some("[\"sponsor\", \"intro\"]"));
    assert!(m.unrouted().is_empty(), "{:?}", m.unrouted());
}

#[test]
fn plugin_events_are_queued_while_paused_and_replayed_on_resume() {
    let m = Mitm::start(upstreams());
    let node = start("resume-events", &m, CONFIG);
    let c = client(&node);
    let f = fake();
    let (mut ws, sid) = session(&node);
    let path = format!("/v4/sessions/{sid}/players/{GUILD}");
    assert_eq!(
        c.patch(
            &format!("/v4/sessions/{sid}"),
            "{\"resuming\": true, \"timeout\": 30}"
        )
        .status,
        200
    );
    assert_eq!(
        c.patch(&path, &json!({"voice": voice(&f)}).to_string())
            .status,
        200
    );
    assert_eq!(c.post(&format!("{path}/lyrics/subscribe"), "").status, 204);
    let body = json!({"track": {"identifier": "https://media.example/song.mp3"}});
    assert_eq!(c.patch(&path, &body.to_string()).status, 200);
    wait_event(&mut ws, "TrackStartEvent", Duration::from_secs(10));
    ws.close();
    // The track plays on to its end (its audio, then the trailing silence frames) while
    // the client is away; its lyric events wait in the session's queue.
    poll::wait_until("the track to play out while away", poll::DEADLINE, || {
        let p = f.packets();
        let audio = p.iter().filter(|p| p.payload != SILENCE).count();
        audio >= 90 && p.last().is_some_and(|p| p.payload == SILENCE)
    });
    let mut ws = resume(&node, &sid);
    let evs = events_until(&mut ws, "TrackEndEvent", Duration::from_secs(10));
    let lines: Vec<i64> = of_type(&evs, "LyricsLineEvent")
        .iter()
        .map(|e| e["lineIndex"].as_i64().unwrap())
        .collect();
    let found = evs.iter().position(|e| e["type"] == "LyricsFoundEvent");
    assert!(found.is_some(), "{evs:#?}");
    assert_eq!(lines, [0, 1, 2, 3], "{evs:#?}");
    // Subscriptions survive the resume: the next track is announced too.
    assert_eq!(c.patch(&path, &body.to_string()).status, 200);
    wait_event(&mut ws, "LyricsFoundEvent", Duration::from_secs(10));
}
