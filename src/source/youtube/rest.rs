//! youtube-source's REST routes (its `YoutubeRestHandler`, sources.md §6.1), served by
//! the built-in source so tools written for the plugin keep working:
//!
//! * `GET /youtube` → `{"refreshToken": …}` (null without one);
//! * `POST /youtube` with `refreshToken`, `skipInitialization`, `poToken`, `visitorData`
//!   → 204 (an absent `refreshToken` leaves OAuth alone; `null` clears it and, unless
//!   `skipInitialization`, starts the device flow; PO token and visitor data change together
//!   when both are null or both non-empty, as the plugin does);
//! * `GET /youtube/oauth/{refreshToken}` → the token endpoint's fresh access-token JSON;
//! * `GET /youtube/stream/{videoId}?itag=&withClient=` → the format's raw bytes.
//!
//! The server authenticates these like every other route; this module only maps them.

use std::io::Read;

use serde_json::{json, Value};

use super::stream::{ChunkError, ChunkedStream};
use super::{formats, ident, mapping, Op, Refresher, YoutubeSource};

/// Media larger than this is refused rather than held in memory for one response.
pub const MAX_STREAM_BYTES: u64 = 64 << 20;

/// A route's answer, before the server turns it into HTTP.
#[derive(Debug)]
pub enum RestReply {
    Json(Value),
    NoContent,
    Media { bytes: Vec<u8>, mime: &'static str },
}

/// A route's failure: status and the message of Lavalink's error body.
pub type RestError = (u16, String);

/// The answer for `/youtube…` paths (`segs` without the leading empty segment); None
/// when the path is not one of them.
pub fn handle(
    yt: Option<&YoutubeSource>,
    method: &str,
    segs: &[&str],
    query: &[(String, String)],
    body: &[u8],
) -> Option<Result<RestReply, RestError>> {
    let route = match segs {
        ["youtube"] if method == "GET" => Route::Config,
        ["youtube"] if method == "POST" => Route::Update,
        ["youtube", "oauth", token] if method == "GET" => Route::OAuth(token),
        ["youtube", "stream", id] if method == "GET" => Route::Stream(id),
        ["youtube"] | ["youtube", "oauth", _] | ["youtube", "stream", _] => {
            return Some(Err((405, "Method Not Allowed".into())))
        }
        _ => return None,
    };
    let Some(yt) = yt else {
        return Some(Err((
            400,
            "The YouTube source manager is not registered.".into(),
        )));
    };
    let param = |n: &str| query.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    Some(match route {
        Route::Config => Ok(RestReply::Json(
            json!({ "refreshToken": yt.inner.oauth.refresh_token() }),
        )),
        Route::Update => update(yt, body),
        Route::OAuth(token) => yt
            .inner
            .oauth
            .new_access_token(&path_decode(token))
            .map(RestReply::Json)
            .map_err(|e| (500, e)),
        Route::Stream(id) => stream(yt, &path_decode(id), param("itag"), param("withClient")),
    })
}

enum Route<'a> {
    Config,
    Update,
    OAuth(&'a str),
    Stream(&'a str),
}

/// `POST /youtube` (youtube-source's `MinimalConfigRequest`).
fn update(yt: &YoutubeSource, body: &[u8]) -> Result<RestReply, RestError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| (400, format!("Invalid request body: {e}")))?;
    let obj = v
        .as_object()
        .ok_or((400, "Request body must be a JSON object".to_string()))?;
    let text = |name: &str| -> Result<Option<Option<&str>>, RestError> {
        match obj.get(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(s)) => Ok(Some(Some(s.as_str()))),
            Some(_) => Err((400, format!("Field '{name}' must be a string or null"))),
        }
    };
    let skip = match obj.get("skipInitialization") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err((
                400,
                "Field 'skipInitialization' must be a boolean".to_string(),
            ))
        }
    };
    let refresh = text("refreshToken")?;
    let po = text("poToken")?.flatten();
    let visitor = text("visitorData")?.flatten();
    // youtube-source's placeholder "x" (and an absent field) leaves OAuth alone.
    if let Some(rt) = refresh.filter(|rt| *rt != Some("x")) {
        yt.inner.oauth.set_refresh_token(rt, skip);
        log::info!("youtube: OAuth refresh token updated over REST");
    }
    let change = match (po, visitor) {
        (None, _) | (_, None) => true,
        (Some(p), Some(v)) => !p.is_empty() && !v.is_empty(),
    };
    if change {
        // A pair or nothing: either missing clears both, as the plugin does.
        let pair = po.zip(visitor);
        yt.inner.po.set_static(pair.map(|(p, _)| p));
        yt.inner.it.set_static_visitor(pair.map(|(_, v)| v));
        log::info!(
            "youtube: PO token and visitor data {} over REST",
            if pair.is_some() { "set" } else { "cleared" }
        );
    }
    Ok(RestReply::NoContent)
}

/// `GET /youtube/stream/{videoId}`: the first playback client (or `withClient`) that gives
/// formats and whose media request answers, its best format or the one with `itag`.
fn stream(
    yt: &YoutubeSource,
    id: &str,
    itag: Option<&str>,
    with_client: Option<&str>,
) -> Result<RestReply, RestError> {
    let inner = &yt.inner;
    let clients = inner.chain(Op::Playback);
    if clients.is_empty() {
        return Err((
            400,
            "None of the registered clients supports format loading.".into(),
        ));
    }
    let itag = match itag {
        None => None,
        Some(t) => Some(t.trim().parse::<u64>().map_err(|_| {
            (
                400,
                format!("Failed to convert value of type 'java.lang.String' to required type 'java.lang.Integer'; For input string: \"{t}\""),
            )
        })?),
    };
    if !ident::is_video_id(id) {
        return Err((
            400,
            "Could not find formats for the requested videoId.".into(),
        ));
    }
    let mut found_formats = false;
    let mut last_error: Option<String> = None;
    for c in clients {
        if with_client.is_some_and(|w| !c.name.eq_ignore_ascii_case(w)) {
            continue;
        }
        let resp = match inner
            .player(c, id, true)
            .and_then(|r| mapping::playability(&r).map(|_| r))
        {
            Ok(r) => r,
            Err(e) if e.final_verdict => {
                return Err((
                    400,
                    format!("This video cannot be loaded. Reason: {}", e.message),
                ))
            }
            Err(e) => {
                last_error = Some(format!("Client [{}] failed: {}", c.name, e.message));
                continue;
            }
        };
        let all = formats::parse(&resp, false);
        if all.is_empty() {
            continue;
        }
        found_formats = true;
        let chosen = match itag {
            Some(t) => all.iter().find(|f| f.itag == t),
            None => formats::best(&all).ok(),
        };
        let Some(fmt) = chosen else {
            continue;
        };
        let len = fmt.content_length.unwrap_or(0);
        if len > MAX_STREAM_BYTES {
            return Err((
                400,
                format!("The format is larger than {MAX_STREAM_BYTES} bytes and cannot be streamed over REST."),
            ));
        }
        let url = match inner.prepare_url(c, fmt, id) {
            Ok(u) => u,
            Err(e) => {
                last_error = Some(format!("Client [{}] failed: {}", c.name, e.message));
                continue;
            }
        };
        let refresh = Box::new(Refresher {
            inner: yt.inner.clone(),
            client: c.clone(),
            video: id.to_string(),
            itag: fmt.itag,
        });
        let opened = ChunkedStream::open_with_chunk(
            inner.it.outbound().clone(),
            url,
            len,
            refresh,
            inner.cfg.media_chunk_bytes,
        );
        let mut stream = match opened {
            Ok(s) => s,
            // youtube-source moves on when the media request does not answer 200.
            Err(ChunkError::Status(s)) => {
                log::debug!("youtube REST stream: client {} got {s} for media", c.name);
                continue;
            }
            Err(ChunkError::Net(e)) => return Err((500, format!("Media request failed: {e}"))),
        };
        let mut bytes = Vec::with_capacity(len.min(MAX_STREAM_BYTES) as usize);
        (&mut stream)
            .take(MAX_STREAM_BYTES)
            .read_to_end(&mut bytes)
            .map_err(|e| (500, format!("Media read failed: {e}")))?;
        return Ok(RestReply::Media {
            bytes,
            mime: static_mime(&fmt.mime),
        });
    }
    if found_formats {
        return Err((400, "No formats found with the requested itag.".into()));
    }
    if let Some(e) = last_error {
        log::info!("youtube REST stream of {id}: {e}");
        return Err((500, "This video cannot be loaded".into()));
    }
    Err((
        400,
        "Could not find formats for the requested videoId.".into(),
    ))
}

/// The format's MIME type as the server's static content type.
fn static_mime(mime: &str) -> &'static str {
    match mime {
        "audio/webm" => "audio/webm",
        "audio/mp4" => "audio/mp4",
        "video/webm" => "video/webm",
        "video/mp4" => "video/mp4",
        _ => "application/octet-stream",
    }
}

/// A path segment percent-decoded as a path variable is (`1%2F%2F…` refresh tokens;
/// `+` stays `+`). Invalid escapes are kept as written.
fn path_decode(seg: &str) -> String {
    let b = seg.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied(), b.get(i + 2).copied()) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::path_decode;

    #[test]
    fn path_segments_decode_like_path_variables() {
        assert_eq!(path_decode("1%2F%2Fabc"), "1//abc");
        assert_eq!(path_decode("a+b%20c"), "a+b c");
        assert_eq!(path_decode("bad%zz%4"), "bad%zz%4");
    }
}
