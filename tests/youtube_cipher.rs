//! YouTube's signature and `n` cipher through the real request code (intercepting proxy):
//! the embedded QuickJS solver against a synthetic player script written for these tests
//! (tests/fixtures/youtube/player_test.js — never a real one), the remote cipher service
//! API, and the deadlines that keep a broken script from hanging playback.

#[path = "support/mitm.rs"]
mod mitm;

use std::time::{Duration, Instant};

use basalt::net::Outbound;
use basalt::source::ytcipher::{CipherConfig, CipherError, CipherManager};
use mitm::{Mitm, MockResponse, Router};
use serde_json::json;

const PLAYER_PATH: &str = "/s/player/test0001/player_ias.vflset/en_US/base.js";
const ALPH: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn player_script() -> String {
    let path = format!(
        "{}/tests/fixtures/youtube/player_test.js",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).unwrap()
}

fn embed_page(js_path: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><script nonce=\"x\">var ytcfg={{d:function(){{}}}};ytcfg.set({{\"INNERTUBE_API_KEY\":\"k\",\"jsUrl\":\"{}\",\"PLAYER_JS_URL\":\"{}\"}});</script></head><body></body></html>",
        js_path.replace('/', "\\/"),
        js_path
    )
}

/// The transforms the synthetic script implements, written again in Rust.
fn expected_sig(s: &str) -> String {
    let mut a: Vec<char> = s.chars().collect();
    let n = a.len();
    a.swap(0, 7 % n);
    a.reverse();
    a.swap(0, 11 % n);
    a.drain(..3);
    a.into_iter().collect()
}

fn expected_n(s: &str) -> String {
    s.chars()
        .enumerate()
        .map(|(d, c)| {
            let e = ALPH.find(c).unwrap();
            ALPH.as_bytes()[(e * 5 + d * 7 + 3) % 64] as char
        })
        .collect()
}

fn youtube_router(script: String) -> Router {
    Router::new()
        .route("GET", "www.youtube.com", "/embed/", |_| {
            MockResponse::text(&embed_page(PLAYER_PATH), "text/html; charset=utf-8")
        })
        .route("GET", "www.youtube.com", PLAYER_PATH, move |_| {
            MockResponse::text(&script, "text/javascript")
        })
}

#[test]
fn embedded_solver_finds_and_applies_both_transforms() {
    let m = Mitm::start(youtube_router(player_script()));
    let out = Outbound::new(&m.config(""));
    let cipher = CipherManager::new(&out, &CipherConfig::default());
    let script = cipher.player_script().unwrap();
    assert_eq!(script.id, "test0001");
    assert_eq!(script.sts, 20123);
    assert_eq!(script.url, format!("https://www.youtube.com{PLAYER_PATH}"));

    let sig =
        "AOq0QJ8wRQIhAKkQ9_mh2Kk=XWt.Jt8nFz4fQ2fQ7Yk0h1p6t9iYVg3LAiBv4sX8pVd2a7Pj1xg5M0k9Qh3a8E";
    let n = "kDs8fE2lQpXa9z1m";
    let url = format!(
        "https://rr3---sn-test.googlevideo.com/videoplayback?expire=2000000000&itag=251&n={n}&mime=audio%2Fwebm"
    );
    let t0 = Instant::now();
    let resolved = cipher
        .resolve(&url, Some(sig), Some("sig"), &script)
        .unwrap();
    let u = basalt::net::Url::parse(&resolved).unwrap();
    let get = |k: &str| {
        u.query_pairs()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(get("sig").unwrap(), expected_sig(sig));
    assert_eq!(get("n").unwrap(), expected_n(n));
    assert_eq!(get("itag").as_deref(), Some("251"));
    assert_eq!(get("mime").as_deref(), Some("audio/webm"));

    // A second challenge on the loaded script is fast and the script is fetched once.
    let t1 = Instant::now();
    let again = cipher
        .resolve(&url.replace(n, "AbCdEfGhIjKlMnOp"), None, None, &script)
        .unwrap();
    assert!(again.contains(&format!("n={}", expected_n("AbCdEfGhIjKlMnOp"))));
    assert!(t1.elapsed() < t0.elapsed() + Duration::from_millis(200));
    assert_eq!(m.requests_to("www.youtube.com", PLAYER_PATH).len(), 1);
    assert!(m.unrouted().is_empty());
}

#[test]
fn a_url_without_challenges_is_returned_as_is() {
    let m = Mitm::start(youtube_router(player_script()));
    let cipher = CipherManager::new(&Outbound::new(&m.config("")), &CipherConfig::default());
    let script = cipher.player_script().unwrap();
    let url = "https://rr1.googlevideo.com/videoplayback?itag=140&expire=1";
    assert_eq!(cipher.resolve(url, None, None, &script).unwrap(), url);
}

#[test]
fn a_script_that_never_finishes_fails_within_the_timeout() {
    let hostile = player_script().replace(
        "var doc=window.document;",
        "var doc=window.document;for(;;){}",
    );
    let m = Mitm::start(youtube_router(hostile));
    let cfg = CipherConfig {
        solve_timeout_ms: 700,
        ..Default::default()
    };
    let cipher = CipherManager::new(&Outbound::new(&m.config("")), &cfg);
    let script = cipher.player_script().unwrap();
    let t = Instant::now();
    let err = cipher
        .resolve(
            "https://rr1.googlevideo.com/videoplayback?n=AbCdEfGhIjKlMnOp",
            None,
            None,
            &script,
        )
        .unwrap_err();
    assert!(matches!(err, CipherError::Solve(_)), "{err:?}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(cipher.solve_failures() >= 1);
}

#[test]
fn garbage_instead_of_a_player_script_is_a_clear_error() {
    let m = Mitm::start(youtube_router("<html>not javascript at all".into()));
    let cipher = CipherManager::new(&Outbound::new(&m.config("")), &CipherConfig::default());
    let err = cipher.player_script().unwrap_err();
    assert!(err.to_string().contains("no signature timestamp"), "{err}");
    let m = Mitm::start(
        Router::new().route("GET", "www.youtube.com", "/embed/", |_| {
            MockResponse::text("<html></html>", "text/html")
        }),
    );
    let cipher = CipherManager::new(&Outbound::new(&m.config("")), &CipherConfig::default());
    assert!(matches!(
        cipher.player_script(),
        Err(CipherError::PlayerScript(_))
    ));
}

#[test]
fn remote_cipher_service_api() {
    let router = Router::new()
        .route("GET", "www.youtube.com", "/embed/", |_| {
            MockResponse::text(&embed_page(PLAYER_PATH), "text/html")
        })
        .route("POST", "cipher.example.net", "/get_sts", |r| {
            if r.header("authorization") != Some("hunter2") {
                return MockResponse::status(401);
            }
            assert!(r.body_json()["player_url"]
                .as_str()
                .unwrap()
                .ends_with(PLAYER_PATH));
            MockResponse::json(json!({"sts": "20456"}))
        })
        .route("POST", "cipher.example.net", "/resolve_url", |r| {
            let b = r.body_json();
            MockResponse::json(json!({
                "resolved_url": format!(
                    "{}&sig=solved-{}",
                    b["stream_url"].as_str().unwrap(),
                    b["encrypted_signature"].as_str().unwrap_or("")
                ),
                "key": b["signature_key"],
            }))
        });
    let m = Mitm::start(router);
    let cfg = CipherConfig {
        remote_url: "https://cipher.example.net/".into(),
        remote_password: "hunter2".into(),
        ..Default::default()
    };
    let cipher = CipherManager::new(&Outbound::new(&m.config("")), &cfg);
    let script = cipher.player_script().unwrap();
    assert_eq!(script.sts, 20456);
    let url = cipher
        .resolve(
            "https://rr1.googlevideo.com/videoplayback?n=x",
            Some("abc"),
            None,
            &script,
        )
        .unwrap();
    assert_eq!(
        url,
        "https://rr1.googlevideo.com/videoplayback?n=x&sig=solved-abc"
    );
    let calls = m.requests_to("cipher.example.net", "/resolve_url");
    assert_eq!(calls[0].body_json()["signature_key"], "sig");
    // The player script itself is never downloaded when a service solves.
    assert!(m.requests_to("www.youtube.com", "/s/player/").is_empty());
}
