//! Any bytes to the SoundCloud parsers: api-v2 JSON → TrackInfo, the identifier and the
//! playback format choices, set id lists and their re-sorting; as text, identifier
//! classification and the scrapers (asset scripts, client id, liked user). Never panics.
#![no_main]

use basalt::source::soundcloud::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for search in [true, false] {
        let _ = parse::classify(&text, search);
    }
    let _ = parse::page_url(&text);
    let _ = parse::script_urls(&text);
    let _ = parse::client_id(&text);
    let _ = parse::liked_user(&text);
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(t) = parse::track(&v) {
        assert_eq!(t.info.source_name, "soundcloud");
        assert!(parse::Kind::split_identifier(&t.info.identifier).is_some());
        let _ = basalt::track::encode_track(&t);
    }
    let _ = parse::playback_choices(&v);
    let _ = parse::is_preview(&v);
    let ids = parse::set_track_ids(&v);
    if let Some(list) = v["tracks"].as_array() {
        let mut list = list.clone();
        parse::sort_by_ids(&mut list, &ids);
    }
});
