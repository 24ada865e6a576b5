//! Any bytes to the Vimeo parsers: clip URLs, the `__NEXT_DATA__` bootstrap, the page
//! data's credentials, API and oEmbed mapping, player-config formats and the DASH
//! playlist's audio (base64 init section, relative segment URLs). Never panics.
#![no_main]

use basalt::net::Url;
use basalt::source::vimeo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for bare in [true, false] {
        if let Some(c) = vimeo::parse_clip(&text, bare) {
            assert!(c.id.bytes().all(|b| b.is_ascii_digit()));
            let _ = c.page_url();
        }
    }
    let _ = vimeo::next_data(&text);
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let clip = vimeo::ClipRef {
        id: "1".into(),
        hash: None,
    };
    for t in [vimeo::track_from_api(&clip, &v), vimeo::track_from_oembed(&clip, &v)]
        .into_iter()
        .flatten()
    {
        assert_eq!(t.info.source_name, "vimeo");
        let _ = basalt::track::encode_track(&t);
    }
    let _ = vimeo::credentials(&v);
    let _ = vimeo::formats(&v);
    let base = Url::parse("https://vod-adaptive-ak.vimeocdn.com/a/b/c/playlist.json").unwrap();
    let _ = vimeo::dash_audio(&v, &base);
});
