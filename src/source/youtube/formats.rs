//! Reading `streamingData` and choosing the audio format (sources.md §6.9): Opus/WebM
//! first (it can pass through to Discord untouched), then Vorbis, then AAC/MP4.

use serde_json::Value;

use super::ident::query_param;
use super::mapping::YtError;

/// One playable format of a player response.
#[derive(Debug, Clone, PartialEq)]
pub struct Format {
    pub itag: u64,
    /// The media URL (for ciphered formats: before the signature is applied).
    pub url: String,
    /// Encrypted signature and the parameter its solution goes under (`sig` in practice).
    pub signature: Option<String>,
    pub signature_param: String,
    pub mime: String,
    pub codecs: String,
    pub content_length: Option<u64>,
    pub bitrate: u64,
    pub channels: u64,
    pub drc: bool,
}

impl Format {
    /// File-extension hint for the demuxer.
    pub fn extension(&self) -> &'static str {
        if self.mime.ends_with("/webm") {
            "webm"
        } else {
            "mp4"
        }
    }
}

/// `audio/webm; codecs="opus"` → (`audio/webm`, `opus`).
fn split_mime(raw: &str) -> (String, String) {
    let (mime, rest) = raw.split_once(';').unwrap_or((raw, ""));
    let codecs = rest
        .trim()
        .strip_prefix("codecs=")
        .unwrap_or_default()
        .trim_matches('"')
        .to_string();
    (mime.trim().to_ascii_lowercase(), codecs)
}

fn num(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// Every format with a usable URL; URL-less formats (SABR-only answers) are skipped, and
/// for non-live videos formats without `contentLength` (except itag 18).
pub fn parse(resp: &Value, live: bool) -> Vec<Format> {
    let sd = resp.get("streamingData");
    let lists = ["formats", "adaptiveFormats"];
    let mut out = Vec::new();
    for list in lists {
        let Some(items) = sd.and_then(|s| s.get(list)).and_then(Value::as_array) else {
            continue;
        };
        for f in items {
            let default_audio = f
                .pointer("/audioTrack/audioIsDefault")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            if !default_audio {
                continue;
            }
            let itag = num(f.get("itag")).unwrap_or(0);
            let content_length = num(f.get("contentLength"));
            if !live && content_length.is_none() && itag != 18 {
                continue;
            }
            let (url, signature, signature_param) =
                if let Some(u) = f.get("url").and_then(Value::as_str) {
                    (u.to_string(), None, "sig".to_string())
                } else if let Some(c) = f
                    .get("signatureCipher")
                    .or_else(|| f.get("cipher"))
                    .and_then(Value::as_str)
                {
                    let Some(u) = query_param(c, "url") else {
                        continue;
                    };
                    let sp = query_param(c, "sp").unwrap_or_else(|| "signature".into());
                    (u, query_param(c, "s"), sp)
                } else {
                    continue;
                };
            let (mime, codecs) =
                split_mime(f.get("mimeType").and_then(Value::as_str).unwrap_or(""));
            out.push(Format {
                itag,
                url,
                signature,
                signature_param,
                mime,
                codecs,
                content_length,
                bitrate: num(f.get("bitrate")).unwrap_or(0),
                channels: num(f.get("audioChannels")).unwrap_or(2),
                drc: f.get("isDrc").and_then(Value::as_bool).unwrap_or(false),
            });
        }
    }
    out
}

/// The class of a format, lower is better; None when it is not audio we can play.
fn class(f: &Format) -> Option<u8> {
    const CLASSES: [(&str, &str); 5] = [
        ("audio/webm", "opus"),
        ("audio/webm", "vorbis"),
        ("audio/mp4", "mp4a.40.2"),
        ("video/webm", "vorbis"),
        ("video/mp4", "mp4a.40.2"),
    ];
    let exact = CLASSES
        .iter()
        .position(|(m, c)| f.mime == *m && f.codecs == *c);
    let loose = || {
        CLASSES
            .iter()
            .position(|(m, c)| f.mime == *m && f.codecs.contains(c))
    };
    exact.or_else(loose).map(|i| i as u8)
}

/// The best format (§6.9 "Choosing"), or youtube-source's error listing what there was.
pub fn best(formats: &[Format]) -> Result<&Format, YtError> {
    let mut best: Option<(&Format, u8)> = None;
    for f in formats {
        let Some(c) = class(f) else { continue };
        let better = match best {
            None => true,
            Some((b, bc)) => {
                if c != bc {
                    c < bc
                } else if f.mime.ends_with("webm") && f.channels > 2 {
                    false
                } else if f.drc != b.drc {
                    !f.drc
                } else {
                    f.bitrate > b.bitrate
                }
            }
        };
        if better {
            best = Some((f, c));
        }
    }
    best.map(|(f, _)| f).ok_or_else(|| {
        let types: Vec<&str> = formats.iter().map(|f| f.mime.as_str()).collect();
        YtError::suspicious(format!(
            "No supported audio streams available, available types: {}",
            types.join(", ")
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resp() -> Value {
        json!({"streamingData": {
        "formats": [{"itag": 18, "url": "https://r.googlevideo.com/v?itag=18", "mimeType": "video/mp4; codecs=\"avc1.42001E, mp4a.40.2\"", "bitrate": 500000}],
        "adaptiveFormats": [
            {"itag": 140, "signatureCipher": "s=ABC%3D&sp=sig&url=https%3A%2F%2Fr.googlevideo.com%2Fv%3Fitag%3D140%26n%3Dxyz", "mimeType": "audio/mp4; codecs=\"mp4a.40.2\"", "bitrate": 130000, "contentLength": "1000"},
            {"itag": 251, "url": "https://r.googlevideo.com/v?itag=251&n=abc", "mimeType": "audio/webm; codecs=\"opus\"", "bitrate": 140000, "contentLength": "900"},
            {"itag": 250, "url": "https://r.googlevideo.com/v?itag=250", "mimeType": "audio/webm; codecs=\"opus\"", "bitrate": 70000, "contentLength": "500"},
            {"itag": 251, "url": "https://r.googlevideo.com/v?dub=1", "mimeType": "audio/webm; codecs=\"opus\"", "bitrate": 999999, "contentLength": "900", "audioTrack": {"audioIsDefault": false}},
            {"itag": 249, "mimeType": "audio/webm; codecs=\"opus\"", "bitrate": 50000, "contentLength": "300"},
            {"itag": 137, "url": "https://r.googlevideo.com/v?itag=137", "mimeType": "video/mp4; codecs=\"avc1\"", "contentLength": "5"}
        ]}})
    }

    #[test]
    fn parses_and_prefers_opus() {
        let all = parse(&resp(), false);
        assert_eq!(
            all.iter().map(|f| f.itag).collect::<Vec<_>>(),
            [18, 140, 251, 250, 137]
        );
        let f140 = &all[1];
        assert_eq!(f140.signature.as_deref(), Some("ABC="));
        assert_eq!(f140.signature_param, "sig");
        assert_eq!(f140.url, "https://r.googlevideo.com/v?itag=140&n=xyz");
        let b = best(&all).unwrap();
        assert_eq!((b.itag, b.extension()), (251, "webm"));
        let no_opus: Vec<Format> = all.iter().filter(|f| f.codecs != "opus").cloned().collect();
        assert_eq!(best(&no_opus).unwrap().itag, 140);
        let video_only: Vec<Format> = all.iter().filter(|f| f.itag == 137).cloned().collect();
        assert_eq!(
            best(&video_only).unwrap_err().message,
            "No supported audio streams available, available types: video/mp4"
        );
    }

    #[test]
    fn drc_and_multichannel_lose() {
        let mut all = parse(&resp(), false);
        all.retain(|f| f.itag == 251 || f.itag == 250);
        all[0].drc = true;
        assert_eq!(best(&all).unwrap().itag, 250);
        all[0].drc = false;
        all[1].channels = 6;
        all[1].bitrate = 999_999;
        assert_eq!(best(&all).unwrap().itag, 251);
    }
}
