//! Any bytes to the Niconico parsers: watch URLs, the watch JSON's response, its mapping to
//! TrackInfo, the DMS delivery (access key, output pairs), the access-rights answer and
//! snapshot search results.
//! Never panics.
#![no_main]

use basalt::source::niconico;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = niconico::video_id(&text);
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(r) = niconico::watch_response(&v) {
        if let Some(t) = niconico::track_from_watch("sm9", r) {
            assert_eq!(t.info.source_name, "niconico");
            let _ = basalt::track::encode_track(&t);
        }
        let _ = niconico::domand(r);
    }
    let _ = niconico::content_url(&v);
    for t in niconico::search_tracks(&v) {
        assert_eq!(t.info.source_name, "niconico");
        let _ = basalt::track::encode_track(&t);
    }
});
