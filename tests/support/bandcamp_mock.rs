//! A mock of the Bandcamp pages the source reads (sources.md §2): track and album pages
//! with `data-tralbum` (HTML-escaped JSON: `&quot;`, `&amp;`), the search page, and the
//! signed `mp3-128` stream (403 unless its query arrived unescaped). Pages:
//! `basalt.bandcamp.com` `/track/sine-tone` (2 s of 440 Hz), `/album/synthetic`,
//! `/track/pre-order-only`, `/track/no-data`, `/track/broken`; anything else 404.
#![allow(dead_code)]

use serde_json::{json, Value};

use super::mitm::{MockResponse, Router};

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// HTML attribute escaping as Bandcamp's templates do it.
pub fn attr_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub fn stream_url(id: u64) -> String {
    format!("https://t4.bcbits.com/stream/9f2c1e0b7a6d5c4b3a29180716253443/mp3-128/{id}?p=0&ts=1733300000&t=0a1b2c3d4e5f60718293a4b5c6d7e8f901234567&token=1733300000_5f4e3d2c1b0a99887766554433221100ffeeddcc")
}

pub fn trackinfo(
    id: u64,
    num: u32,
    title: &str,
    slug: &str,
    file: Option<String>,
    duration: f64,
) -> Value {
    json!({
        "id": id, "track_id": id,
        "file": file.map(|u| json!({"mp3-128": u})),
        "artist": null, "title": title, "encodings_id": 1000 + id, "license_type": 1,
        "private": null, "track_num": num, "album_preorder": false, "unreleased_track": false,
        "title_link": format!("/track/{slug}"), "has_lyrics": false, "has_info": false,
        "streaming": 1, "is_downloadable": true, "has_free_download": null,
        "free_album_download": false, "duration": duration, "lyrics": null, "sizeof_lyrics": 0,
        "is_draft": false, "video_source_type": null, "video_source_id": null,
        "video_mobile_url": null, "video_poster_url": null, "video_id": null,
        "video_caption": null, "video_featured": null, "alt_link": null,
        "encoding_error": null, "encoding_pending": null, "play_count": null,
        "is_capped": null, "track_license_id": null
    })
}

pub fn tralbum(kind: &str, title: &str, isrc: Option<&str>, tracks: Vec<Value>) -> Value {
    json!({
        "for the curious": "https://bandcamp.com/help/audio_basics#steal https://bandcamp.com/terms_of_use",
        "current": {
            "audit": 0, "title": title, "new_date": "06 May 2023 07:08:09 GMT",
            "mod_date": "07 May 2023 07:08:09 GMT", "publish_date": "06 May 2023 07:08:09 GMT",
            "private": null, "killed": null, "download_pref": 2, "require_email": null,
            "is_set_price": null, "set_price": 7.0, "minimum_price": 1.0,
            "minimum_price_nonzero": 1.0, "require_email_0": null, "artist": null,
            "about": "Recorded \"live\" in a <synthetic> room & mastered.", "credits": null,
            "auto_repriced": null, "new_desc_format": 1, "band_id": 31337, "selling_band_id": 31337,
            "art_id": 1234567, "download_desc_id": null, "release_date": "06 May 2023 00:00:00 GMT",
            "upc": null, "purchase_url": null, "purchase_title": null, "featured_track_id": 5001,
            "id": 4242, "type": kind, "isrc": isrc
        },
        "preorder_count": null, "hasAudio": true, "art_id": 1234567, "packages": null,
        "defaultPrice": 7.0, "freeDownloadPage": null, "FREE": 1, "PAID": 2,
        "artist": "Basalt & The Fixtures", "item_type": kind, "id": 4242,
        "last_subscription_item": null, "has_discounts": false, "is_bonus": null,
        "play_cap_data": {"streaming_limits_enabled": true, "streaming_limit": 3},
        "is_purchased": null, "items_purchased": null, "is_private_stream": null,
        "is_band_member": null, "licensed_version_ids": null,
        "package_associated_license_id": null, "has_video": null,
        "tralbum_subscriber_only": false, "featured_track_id": 5001, "initial_track_num": null,
        "is_preorder": false, "album_is_preorder": false,
        "album_release_date": "06 May 2023 00:00:00 GMT", "trackinfo": tracks,
        "playing_from": "album page", "url": "https://basalt.bandcamp.com/album/synthetic",
        "use_expando_lyrics": false
    })
}

pub fn page(title: &str, data: &Value) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{} | Basalt &amp; The Fixtures</title>\n\
         <meta property=\"og:title\" content=\"{}, by Basalt &amp; The Fixtures\">\n\
         <script type=\"text/javascript\" src=\"https://s4.bcbits.com/bundle/bundle/1/tralbum_head-abc.js\" data-band=\"{{&quot;id&quot;:31337,&quot;name&quot;:&quot;Basalt &amp;amp; The Fixtures&quot;}}\" data-tralbum=\"{}\" data-embed=\"{{&quot;tralbum_param&quot;:{{&quot;name&quot;:&quot;album&quot;,&quot;value&quot;:4242}}}}\"></script>\n\
         </head>\n<body class=\"tralbum-page\"><div id=\"name-section\"><h2 class=\"trackTitle\">{}</h2></div></body>\n</html>\n",
        attr_escape(title),
        attr_escape(title),
        attr_escape(&data.to_string()),
        attr_escape(title),
    )
}

pub fn search_html() -> String {
    let item = |kind: &str, title: &str, sub: &str, url: &str, art: &str| {
        format!(
            "<li class=\"searchresult data-search\" data-search=\"{{&quot;rank&quot;:1,&quot;type&quot;:&quot;{}&quot;}}\">\n\
             <a class=\"artcont\" href=\"{url}?from=search&amp;search_item_id=1\"><div class=\"art\">\n<img src=\"{art}\" alt=\"\">\n</div></a>\n\
             <div class=\"result-info\">\n<div class=\"itemtype\">\n    {kind}\n  </div>\n\
             <div class=\"heading\">\n<a href=\"{url}?from=search\">{title}</a>\n</div>\n\
             <div class=\"subhead\">\n    {sub}\n  </div>\n\
             <div class=\"itemurl\">\n<a href=\"{url}?from=search\">{url}?from=search&amp;search_item_id=1</a>\n</div>\n\
             <div class=\"released\">\n released May 6, 2023\n</div>\n</div>\n</li>\n",
            kind.to_lowercase().chars().next().unwrap_or('t'),
        )
    };
    format!(
        "<!DOCTYPE html><html><head><title>Search: tone | Bandcamp</title>\n<script>var x = '<li class=\"searchresult\">';</script></head><body>\n\
         <div class=\"search\"><ul class=\"result-items\">\n{}{}</ul></div></body></html>",
        item("ALBUM", "Synthetic", "by Basalt &amp; The Fixtures", "https://basalt.bandcamp.com/album/synthetic", "https://f4.bcbits.com/img/a0001234567_7.jpg"),
        item("TRACK", "Sine &amp; Tone", "from Synthetic\n    by Basalt &amp; The Fixtures, feat. Someone", "https://basalt.bandcamp.com/track/sine-tone", "https://f4.bcbits.com/img/a0001234567_7.jpg"),
    )
}

pub fn router() -> Router {
    let track_page = page(
        "Sine & Tone",
        &tralbum(
            "track",
            "Sine & Tone",
            Some("QZTST2600001"),
            vec![trackinfo(
                5001,
                1,
                "Sine & Tone",
                "sine-tone",
                Some(stream_url(5001)),
                2.04,
            )],
        ),
    );
    let album_page = page(
        "Synthetic",
        &tralbum(
            "album",
            "Synthetic “Album”",
            None,
            vec![
                trackinfo(
                    5001,
                    1,
                    "Sine & Tone",
                    "sine-tone",
                    Some(stream_url(5001)),
                    2.04,
                ),
                trackinfo(5002, 2, "Pre-order only", "pre-order-only", None, 183.5),
                trackinfo(
                    5003,
                    3,
                    "Ünïcode <Third>",
                    "unicode-third",
                    Some(stream_url(5003)),
                    61.25,
                ),
            ],
        ),
    );
    Router::new()
        .route(
            "GET",
            "basalt.bandcamp.com",
            "/track/sine-tone",
            move |_| MockResponse::text(&track_page, "text/html; charset=UTF-8"),
        )
        .route(
            "GET",
            "basalt.bandcamp.com",
            "/album/synthetic",
            move |_| MockResponse::text(&album_page, "text/html; charset=UTF-8"),
        )
        .route(
            "GET",
            "basalt.bandcamp.com",
            "/track/pre-order-only",
            |_| {
                let data = tralbum(
                    "track",
                    "Pre-order only",
                    None,
                    vec![trackinfo(
                        5002,
                        1,
                        "Pre-order only",
                        "pre-order-only",
                        None,
                        183.5,
                    )],
                );
                MockResponse::text(&page("Pre-order only", &data), "text/html; charset=UTF-8")
            },
        )
        .route("GET", "basalt.bandcamp.com", "/track/no-data", |_| {
            MockResponse::text(
                "<html><head><title>Maintenance</title></head><body>Back soon</body></html>",
                "text/html",
            )
        })
        .route("GET", "basalt.bandcamp.com", "/track/broken", |_| {
            MockResponse::status(500)
        })
        .route("GET", "basalt.bandcamp.com", "/*", |_| {
            MockResponse::text(
                "<html><body><h2>Sorry, that something isn’t here.</h2></body></html>",
                "text/html",
            )
            .with_status(404)
        })
        .route("GET", "bandcamp.com", "/search", |r| {
            if r.param("item_type") != Some("t") {
                return MockResponse::status(400);
            }
            MockResponse::text(&search_html(), "text/html; charset=UTF-8")
        })
        .route("GET", "t4.bcbits.com", "/stream/*", |r| {
            // The signature only verifies when the query was unescaped (`&amp;` → `&`).
            if r.param("ts").is_none()
                || r.param("token").is_none()
                || r.query.iter().any(|(k, _)| k.starts_with("amp;"))
            {
                return MockResponse::status(403);
            }
            MockResponse::bytes(fixture("sine440_48k_stereo_2s_id3.mp3"), "audio/mpeg")
        })
}
