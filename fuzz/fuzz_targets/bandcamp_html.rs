//! Any bytes to the Bandcamp parsers: `data-tralbum` extraction and HTML unescaping, the
//! track/album mapping, the stream URL, the search page's result list and URL matching.
//! Never panics.
#![no_main]

use basalt::source::bandcamp::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse::classify(&text);
    let _ = parse::unescape(&text);
    for t in parse::search_results(&text) {
        assert_eq!(t.info.source_name, "bandcamp");
    }
    if let Some(v) = parse::tralbum(&text) {
        let _ = parse::page_track(&v, "https://x.bandcamp.com");
        let _ = parse::album(&v, "https://x.bandcamp.com");
        let _ = parse::stream_url(&v);
        let _ = parse::artwork(&v);
    }
});
