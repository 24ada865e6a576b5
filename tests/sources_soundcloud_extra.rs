//! SoundCloud details beyond the main suite: the client-id refresh throttle (one scrape an
//! hour, 30 s after a failed one) on an injected clock, and Go+ previews reported as
//! `pluginInfo.isPreview` in `/v4/loadtracks` JSON through the real binary (track and search),
//! with previews not filtered.

#![recursion_limit = "256"]

#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/mitm.rs"]
mod mitm;
#[path = "support/poll.rs"]
mod poll;
#[path = "support/proxied_node.rs"]
mod proxied_node;
#[path = "support/sc_mock.rs"]
mod sc_mock;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use basalt::net::Outbound;
use basalt::source::soundcloud::api::{Api, Clock, USER_AGENT};
use http_client::Client;
use mitm::{Mitm, MockResponse, Router};
use proxied_node::start_node;
use sc_mock::*;
use serde_json::{json, Value};

const SCRAPED_ID: &str = "SCRAPEDCLIENTID00000000000000000";

/// A SoundCloud whose API rejects every client id, and whose home page can be made to fail.
struct Rejecting {
    mitm: Mitm,
    scrapes: Arc<AtomicUsize>,
    home_down: Arc<AtomicBool>,
}

fn rejecting() -> Rejecting {
    let scrapes = Arc::new(AtomicUsize::new(0));
    let home_down = Arc::new(AtomicBool::new(false));
    let (s, d) = (scrapes.clone(), home_down.clone());
    let router = Router::new()
        .route("GET", "soundcloud.com", "/", move |_| {
            s.fetch_add(1, Ordering::SeqCst);
            if d.load(Ordering::SeqCst) {
                return MockResponse::status(503);
            }
            MockResponse::text(
                &format!(
                    "<!DOCTYPE html><html><head><script>window.__sc_hydration=[];\
                     var cfg={{\"env\":\"production\"}};e.exports={{client_id:\"{SCRAPED_ID}\",\
                     _client_id:\"NOT_THIS\"}}</script></head><body></body></html>"
                ),
                "text/html; charset=utf-8",
            )
        })
        .route("GET", "api-v2.soundcloud.com", "/resolve", |_| {
            MockResponse::json(
                json!({"code": 401, "message": "", "status": "401 - Unauthorized",
                "errors": [{"error_message": "invalid_client"}], "error": null}),
            )
            .with_status(401)
        });
    Rejecting {
        mitm: Mitm::start(router),
        scrapes,
        home_down,
    }
}

/// A clock that starts now and moves only when told to.
fn manual_clock() -> (Clock, Arc<AtomicU64>) {
    let base = Instant::now();
    let offset = Arc::new(AtomicU64::new(0));
    let o = offset.clone();
    let clock: Clock = Arc::new(move || base + Duration::from_secs(o.load(Ordering::SeqCst)));
    (clock, offset)
}

fn resolve(api: &Api) -> u16 {
    api.get(
        "https://api-v2.soundcloud.com/resolve",
        &[("url", "https://soundcloud.com/a/b")],
    )
    .expect("an answer")
    .status()
}

#[test]
fn a_rejected_client_id_is_scraped_again_at_most_once_an_hour() {
    let r = rejecting();
    let (clock, offset) = manual_clock();
    let net = Outbound::new(&r.mitm.config("")).with_user_agent(USER_AGENT);
    let api = Api::with_clock(net, "", clock);

    // First use scrapes; the 401 cannot refresh again within the hour: one retry, same id.
    assert_eq!(resolve(&api), 401);
    assert_eq!(r.scrapes.load(Ordering::SeqCst), 1);
    let sent = r.mitm.requests_to("api-v2.soundcloud.com", "/resolve");
    assert_eq!(sent.len(), 2, "the request and its one retry");
    assert!(sent
        .iter()
        .all(|q| q.param("client_id") == Some(SCRAPED_ID)));

    offset.store(59 * 60, Ordering::SeqCst);
    assert_eq!(resolve(&api), 401);
    assert_eq!(
        r.scrapes.load(Ordering::SeqCst),
        1,
        "throttled within the hour"
    );

    offset.store(60 * 60 + 1, Ordering::SeqCst);
    assert_eq!(resolve(&api), 401);
    assert_eq!(
        r.scrapes.load(Ordering::SeqCst),
        2,
        "scraped again after the hour"
    );
    assert!(r.mitm.unrouted().is_empty());
}

#[test]
fn a_failed_scrape_is_retried_after_30_seconds_not_an_hour() {
    let r = rejecting();
    let (clock, offset) = manual_clock();
    let net = Outbound::new(&r.mitm.config("")).with_user_agent(USER_AGENT);
    let api = Api::with_clock(net, "", clock);
    r.home_down.store(true, Ordering::SeqCst);
    assert!(api.client_id().is_err());
    assert_eq!(r.scrapes.load(Ordering::SeqCst), 1);
    offset.store(10, Ordering::SeqCst);
    assert!(api.client_id().is_err());
    assert_eq!(r.scrapes.load(Ordering::SeqCst), 1, "throttled for 30 s");
    r.home_down.store(false, Ordering::SeqCst);
    offset.store(31, Ordering::SeqCst);
    assert_eq!(api.client_id().unwrap(), SCRAPED_ID);
    assert_eq!(r.scrapes.load(Ordering::SeqCst), 2);
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn go_plus_previews_carry_is_preview_in_plugin_info() {
    let mut preview = TrackSpec::new(81, "Preview Tone", "Basalt-Fixtures", "preview-tone");
    preview.monetization = "SUB_HIGH_TIER";
    preview.formats = vec![&HLS_MP3];
    let mut full = TrackSpec::new(82, "Full Tone", "Basalt-Fixtures", "full-tone");
    full.formats = vec![&HLS_MP3];
    let mock = ScMock {
        tracks: vec![preview.json(), full.json()],
        sets: vec![],
        counters: Arc::new(Counters::default()),
    };
    let mitm = Mitm::start(mock.router());
    let node = start_node("sc-preview", &mitm, "");
    let c = Client::new(node.addr, proxied_node::PW);
    let load = |id: &str| -> Value {
        let r = c.get(&format!("/v4/loadtracks?identifier={}", url_encode(id)));
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    };

    let v = load(&preview.permalink());
    assert_eq!(v["loadType"], "track", "{v}");
    assert_eq!(v["data"]["pluginInfo"], json!({"isPreview": true}));
    assert_eq!(
        v["data"]["info"]["length"], 2040,
        "full length, as Lavalink"
    );
    let v = load(&full.permalink());
    assert_eq!(v["data"]["pluginInfo"], json!({}));

    let v = load("scsearch:tone");
    assert_eq!(v["loadType"], "search", "{v}");
    let hits = v["data"].as_array().expect("results");
    assert_eq!(hits.len(), 2);
    for h in hits {
        let expected = if h["info"]["title"] == "Preview Tone" {
            json!({"isPreview": true})
        } else {
            json!({})
        };
        assert_eq!(h["pluginInfo"], expected, "{h}");
    }
    assert!(mitm.unrouted().is_empty());
}
