//! Any bytes to the Twitch parsers: channel URLs, the home-page client id and `unique_id`
//! cookie, GQL metadata and token answers, the token's `expires`, and the usher master
//! (server time, last variant). Never panics.
#![no_main]

use basalt::net::Url;
use basalt::source::twitch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(ch) = twitch::channel_from_url(&text) {
        assert!(!ch.is_empty() && !ch.contains('/'));
        let _ = basalt::track::encode_track(&twitch::channel_track(&text, &ch, None));
    }
    let _ = twitch::client_id_from_page(&text);
    let _ = twitch::device_id_from_cookie(&text);
    let _ = twitch::token_expires(&text);
    let base = Url::parse("https://usher.ttvnw.net/api/channel/hls/x.m3u8").unwrap();
    let _ = twitch::parse_usher(&text, &base);
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = twitch::parse_metadata(&v);
        let _ = twitch::parse_token(&v);
    }
});
