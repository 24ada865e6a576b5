//! Spotify's web-player tokens, used when no client id/secret pair is configured
//! (anonymous) and for the account token behind lyrics (`sp_dc` cookie).
//!
//! The web player asks `open.spotify.com/api/token` with a TOTP (HMAC-SHA1, 30 s, six
//! digits) whose key is derived from a small number array embedded in the player's
//! `mobile-web-player` script (LavaSrc's method, `totpVer=7`): each number is XOR'ed with
//! `(index % 33) + 9`, the results are written as decimal text, and that text's bytes are
//! the key. The script is re-read at every refresh so a rotated secret is picked up.

use hmac::{Hmac, Mac};
use serde_json::Value;

use crate::net::{Outbound, Url};

const HOME: &str = "https://open.spotify.com/";
const TOKEN: &str = "https://open.spotify.com/api/token";
const TOTP_VERSION: &str = "7";
/// The script whose bundle holds the secret (its `vendor` sibling does not).
const SCRIPT_MARK: &str = "mobile-web-player";

/// A web-player token and its expiry (Unix ms).
#[derive(Debug, Clone, PartialEq)]
pub struct WebToken {
    pub access_token: String,
    pub expires_ms: i64,
}

/// `src` of every `<script>` whose URL contains `mobile-web-player` but not `vendor`,
/// resolved against the home page.
pub fn script_urls(html: &str) -> Vec<String> {
    let base = Url::parse(HOME).expect("static URL");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("<script") {
        rest = &rest[i + 7..];
        let tag_end = rest.find('>').unwrap_or(rest.len());
        let tag = &rest[..tag_end];
        if let Some(src) = attr(tag, "src") {
            if src.contains(SCRIPT_MARK) && !src.contains("vendor") {
                if let Ok(u) = base.join(src) {
                    out.push(u.to_string());
                }
            }
        }
        rest = &rest[tag_end..];
    }
    out
}

/// An attribute's value in a tag's text (quoted with `"` or `'`).
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(i) = tag[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        let before_ok = at == 0 || tag.as_bytes()[at - 1].is_ascii_whitespace();
        let after = tag[from..].trim_start();
        if !before_ok || !after.starts_with('=') {
            continue;
        }
        let v = after[1..].trim_start();
        let q = v.chars().next()?;
        if q == '"' || q == '\'' {
            let end = v[1..].find(q)?;
            return Some(&v[1..1 + end]);
        }
        let end = v.find(|c: char| c.is_ascii_whitespace()).unwrap_or(v.len());
        return Some(&v[..end]);
    }
    None
}

/// The numbers of the first `"secret":[n,n,…]` (at least two) in a script.
pub fn extract_secret(script: &str) -> Option<Vec<i64>> {
    let mut from = 0;
    while let Some(i) = script[from..].find("\"secret\":[") {
        let start = from + i + "\"secret\":[".len();
        from = start;
        let Some(end) = script[start..].find(']') else {
            break;
        };
        let body = &script[start..start + end];
        let nums: Option<Vec<i64>> = body.split(',').map(|n| n.parse().ok()).collect();
        if let Some(nums) = nums.filter(|n| n.len() >= 2) {
            return Some(nums);
        }
    }
    None
}

/// The HMAC key from the script's numbers. Java bytes are signed, so each number is
/// taken as a byte first and its XOR written back as a signed byte's decimal text.
pub fn secret_key(numbers: &[i64]) -> Vec<u8> {
    let mut text = String::new();
    for (i, n) in numbers.iter().enumerate() {
        let b = *n as i8 as i32;
        let x = (b ^ ((i as i32 % 33) + 9)) as i8;
        text.push_str(&x.to_string());
    }
    text.into_bytes()
}

/// RFC 6238 TOTP with HMAC-SHA1, 30 s steps, six digits.
pub fn totp(key: &[u8], unix_secs: u64) -> String {
    let counter = (unix_secs / 30).to_be_bytes();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(&counter);
    let h = mac.finalize().into_bytes();
    let off = (h[h.len() - 1] & 0x0f) as usize;
    let bin = (u32::from(h[off] & 0x7f) << 24)
        | (u32::from(h[off + 1]) << 16)
        | (u32::from(h[off + 2]) << 8)
        | u32::from(h[off + 3]);
    format!("{:06}", bin % 1_000_000)
}

/// The token URL for now: TOTP from the current web-player script.
fn token_url(net: &Outbound) -> Result<String, String> {
    let home = net
        .get(HOME)
        .send()
        .map_err(|e| format!("Spotify home page: {}", e.detail()))?;
    if !home.is_success() {
        return Err(format!("Spotify home page answered {}", home.status()));
    }
    let html = home.text().map_err(|e| e.detail())?;
    let scripts = script_urls(&html);
    if scripts.is_empty() {
        return Err("no web-player script on Spotify's home page".into());
    }
    for url in scripts {
        let Ok(resp) = net.get(&url).send() else {
            continue;
        };
        if !resp.is_success() {
            continue;
        }
        let Ok(js) = resp.text() else { continue };
        if let Some(nums) = extract_secret(&js) {
            let now_ms = crate::server::now_ms();
            let code = totp(&secret_key(&nums), (now_ms / 1000) as u64);
            return Ok(format!(
                "{TOKEN}?reason=init&productType=web-player&totp={code}&totpVer={TOTP_VERSION}&ts={now_ms}"
            ));
        }
    }
    Err("Failed to retrieve secret from Spotify.".into())
}

/// A web-player token: from `custom_endpoint` when set, else Spotify's own endpoint
/// with the TOTP. With `sp_dc`, the account's token (lyrics) instead of an anonymous one.
pub fn fetch(
    net: &Outbound,
    custom_endpoint: &str,
    sp_dc: Option<&str>,
) -> Result<WebToken, String> {
    let url = if custom_endpoint.trim().is_empty() {
        token_url(net)?
    } else {
        custom_endpoint.trim().to_string()
    };
    let mut req = net.get(&url);
    if let Some(dc) = sp_dc {
        req = req
            .header("App-Platform", "WebPlayer")
            .header("Cookie", &format!("sp_dc={dc}"));
    }
    let resp = req.send().map_err(|e| e.detail())?;
    let status = resp.status();
    let json: Value = resp.json().map_err(|e| e.detail())?;
    if status != 200 || !json["error"].is_null() {
        return Err(format!("status {status}: {json}"));
    }
    let access_token = json["accessToken"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| format!("no accessToken in {json}"))?
        .to_string();
    Ok(WebToken {
        access_token,
        expires_ms: json["accessTokenExpirationTimestampMs"]
            .as_i64()
            .unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 appendix B, SHA-1, key "12345678901234567890" (last six digits).
        let key = b"12345678901234567890";
        assert_eq!(totp(key, 59), "287082");
        assert_eq!(totp(key, 1_111_111_109), "081804");
        assert_eq!(totp(key, 1_234_567_890), "005924");
        assert_eq!(totp(key, 2_000_000_000), "279037");
    }

    #[test]
    fn secret_from_script_and_key_derivation() {
        let js = r#"var a={"version":7,"secret":[59,91,66],x:1};var b={"secret":[12,56,76,33,88]}"#;
        assert_eq!(extract_secret(js), Some(vec![59, 91, 66]));
        assert_eq!(extract_secret(r#"{"secret":[1]}"#), None);
        // 59^9=50, 91^10=81, 66^11=73
        assert_eq!(secret_key(&[59, 91, 66]), b"508173".to_vec());
        // index 33 wraps to +9 again; a number above 127 is a negative Java byte
        let mut n = vec![0i64; 34];
        n[33] = 200; // (200 as i8 = -56) ^ 9 = -63
        let k = String::from_utf8(secret_key(&n)).unwrap();
        assert!(k.ends_with("-63"), "{k}");
    }

    #[test]
    fn player_script_urls() {
        let html = r#"<html><head><script src="https://open.spotifycdn.com/cdn/build/mobile-web-player/vendor~mobile-web-player.1.js"></script>
            <script defer src='https://open.spotifycdn.com/cdn/build/mobile-web-player/mobile-web-player.abc.js'></script>
            <script id="x">var s="mobile-web-player";</script>
            <script data-src="/cdn/other.js" src="/cdn/build/mobile-web-player/rel.js"></script></head></html>"#;
        assert_eq!(
            script_urls(html),
            vec![
                "https://open.spotifycdn.com/cdn/build/mobile-web-player/mobile-web-player.abc.js",
                "https://open.spotify.com/cdn/build/mobile-web-player/rel.js"
            ]
        );
    }
}
