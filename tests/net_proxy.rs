//! Outbound HTTP (`basalt::net`) through an HTTPS-intercepting proxy, configured only with
//! the operator's keys (`[http] proxy_host`, `proxy_port`, `proxy_user`, `proxy_password`,
//! `ca_file`, `[http.headers."<host>"]`): https through CONNECT with the extra root trusted,
//! plain http in absolute form, per-host headers, URL credentials, redirects, and the http
//! source's loads and media reads all going through the proxy.

#[path = "support/mitm.rs"]
mod mitm;

use std::io::Read;

use basalt::net::{NetError, Outbound};
use basalt::source::{LoadResult, SourceManager};
use mitm::{Mitm, MockResponse, Router};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn router() -> Router {
    Router::new()
        .route("GET", "api.example.com", "/v1/thing", |r| {
            MockResponse::json(serde_json::json!({
                "ok": true,
                "token": r.header("x-token"),
                "auth": r.header("authorization"),
                "q": r.param("q"),
            }))
        })
        .route("POST", "api.example.com", "/v1/echo", |r| {
            MockResponse::json(serde_json::json!({
                "type": r.header("content-type"),
                "body": r.body_json(),
            }))
        })
        .route("GET", "plain.example.com", "/hello", |_| {
            MockResponse::text("hello over http", "text/plain")
        })
        .route("GET", "api.example.com", "/moved", |_| {
            MockResponse::redirect(302, "https://cdn.example.net/final")
        })
        .route("GET", "cdn.example.net", "/final", |r| {
            MockResponse::json(serde_json::json!({ "token": r.header("x-token") }))
        })
        .route("GET", "*.media.example", "/song.mp3", |_| {
            MockResponse::bytes(fixture("sine440_48k_stereo_2s_id3.mp3"), "audio/mpeg")
        })
}

fn headers_toml() -> &'static str {
    "[http.headers.\"api.example.com\"]\nX-Token = \"secret-token\"\n"
}

#[test]
fn https_through_connect_trusts_ca_file_and_adds_host_headers() {
    let m = Mitm::start(router());
    let out = Outbound::new(&m.config(headers_toml()));
    let resp = out
        .get("https://api.example.com/v1/thing")
        .query(&[("q", "a b&c")])
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v = resp.json().unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["token"], "secret-token");
    assert_eq!(v["q"], "a b&c");
    let seen = m.requests_to("api.example.com", "/v1/thing");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].scheme, "https");
    assert!(m.unrouted().is_empty(), "{:?}", m.unrouted());
}

#[test]
fn without_the_ca_file_the_intercepted_https_is_refused() {
    let m = Mitm::start(router());
    let text = format!(
        "[server]\npassword = \"x\"\n[http]\nproxy_host = \"127.0.0.1\"\nproxy_port = {}\n",
        m.proxy_port()
    );
    let config = basalt::config::from_parts(Some(&text), "t.toml", Vec::new()).unwrap();
    let err = Outbound::new(&config)
        .get("https://api.example.com/v1/thing")
        .send()
        .err()
        .expect("an unknown root must not be trusted");
    assert!(
        matches!(err, NetError::Connect(_) | NetError::Io(_)),
        "{err:?}"
    );
}

#[test]
fn plain_http_goes_through_the_proxy_in_absolute_form() {
    let m = Mitm::start(router());
    let out = Outbound::new(&m.config(""));
    let resp = out.get("http://plain.example.com/hello").send().unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().unwrap(), "hello over http");
    let seen = m.requests_to("plain.example.com", "/hello");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].scheme, "http");
}

#[test]
fn json_bodies_and_url_credentials() {
    let m = Mitm::start(router());
    let out = Outbound::new(&m.config(""));
    let v = out
        .post("https://api.example.com/v1/echo")
        .json(&serde_json::json!({"a": [1, 2]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["type"], "application/json");
    assert_eq!(v["body"]["a"][1], 2);
    let v = out
        .get("https://user:p%40ss@api.example.com/v1/thing")
        .send()
        .unwrap()
        .json()
        .unwrap();
    // "user:p@ss" in base64.
    assert_eq!(v["auth"], "Basic dXNlcjpwQHNz");
}

#[test]
fn redirects_keep_host_headers_on_their_own_host() {
    let m = Mitm::start(router());
    let out = Outbound::new(&m.config(headers_toml()));
    let resp = out.get("https://api.example.com/moved").send().unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.url().as_str(), "https://cdn.example.net/final");
    let v = resp.json().unwrap();
    assert_eq!(
        v["token"],
        serde_json::Value::Null,
        "the token must not follow"
    );
    let no_follow = out
        .get("https://api.example.com/moved")
        .follow_redirects(false)
        .send()
        .unwrap();
    assert_eq!(no_follow.status(), 302);
}

#[test]
fn proxy_credentials_are_sent() {
    let m = Mitm::start_with_auth(router(), "op", "pw");
    let text = format!(
        "[server]\npassword = \"x\"\n{}proxy_user = \"op\"\nproxy_password = \"pw\"\n",
        m.config_toml()
    );
    let config = basalt::config::from_parts(Some(&text), "t.toml", Vec::new()).unwrap();
    let out = Outbound::new(&config);
    assert_eq!(
        out.get("https://api.example.com/v1/thing")
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        out.get("http://plain.example.com/hello")
            .send()
            .unwrap()
            .status(),
        200
    );
}

#[test]
fn http_source_loads_and_reads_media_through_the_proxy() {
    let m = Mitm::start(router());
    let sources = SourceManager::new(&m.config(""));
    let track = match sources.load("https://files.media.example/song.mp3") {
        LoadResult::Track(t) => t,
        other => panic!("{other:?}"),
    };
    assert_eq!(track.info.source_name, "http");
    assert!(track.info.length > 1900 && track.info.length < 2100);
    let mut input = sources.open(&track).unwrap();
    let mut bytes = Vec::new();
    input.reader.read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes, fixture("sine440_48k_stereo_2s_id3.mp3"));
    assert!(m.requests_to("files.media.example", "/song.mp3").len() >= 2);
    assert!(m.requests().iter().all(|r| r.scheme == "https"));
    assert!(m.unrouted().is_empty());
}

#[test]
fn a_bad_ca_file_is_refused_at_start_up_naming_the_key() {
    let err = basalt::config::from_parts(
        Some("[server]\npassword = \"x\"\n[http]\nca_file = \"/nonexistent/ca.pem\"\n"),
        "t.toml",
        Vec::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("http.ca_file"), "{err}");
}
