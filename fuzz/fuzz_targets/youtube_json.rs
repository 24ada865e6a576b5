//! Any bytes to the YouTube parsers: identifier routing, and (when the bytes are JSON)
//! every InnerTube mapping — player response → track, playability, formats and the format
//! choice, search, music search, playlist pages, continuations and mixes. Never panics.
#![no_main]

use basalt::source::youtube::clients::Family;
use basalt::source::youtube::ident::{self, Claims};
use basalt::source::youtube::{formats, mapping};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let claims = Claims {
        search: true,
        direct_video_ids: true,
        direct_playlist_ids: true,
    };
    let _ = ident::parse(&text, claims);
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let _ = mapping::playability(&v);
    let _ = mapping::is_live(&v);
    if let Ok(t) = mapping::video_track(&v, "dQw4w9WgXcQ") {
        assert_eq!(t.info.identifier, "dQw4w9WgXcQ");
    }
    for live in [false, true] {
        let all = formats::parse(&v, live);
        let _ = formats::best(&all);
    }
    for family in [Family::Web, Family::Mweb, Family::App, Family::Music] {
        let _ = mapping::search_results(&v, family);
        let _ = mapping::playlist_first_page(&v, family);
    }
    let _ = mapping::music_search_results(&v);
    let _ = mapping::playlist_continuation(&v);
    let _ = mapping::mix(&v);
});
