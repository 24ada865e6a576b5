//! Apple Music's developer token when none is configured: the web player's page names its
//! main module script (`/assets/index…js`), whose text embeds the MusicKit JWT the player
//! itself uses (LavaSrc's method). The JWT's payload gives `exp` (the token is cached
//! until five seconds before it) and `root_https_origin` (sent back as `Origin`).
//! With `key_id`, `team_id` and `music_kit_key` configured, Basalt signs its own token
//! (ES256) instead, as LavaSrc does.

use base64::Engine;
use serde_json::Value;

use crate::net::Outbound;

const HOME: &str = "https://music.apple.com";

/// A media API token with what its payload says.
#[derive(Debug, Clone, PartialEq)]
pub struct AmToken {
    pub jwt: String,
    /// `root_https_origin[0]`, e.g. `apple.com`.
    pub origin: Option<String>,
    /// Unix seconds; `None` for a configured token that is not a JWT (used as is).
    pub exp: Option<i64>,
}

impl AmToken {
    pub fn expired(&self, now_secs: i64) -> bool {
        self.exp.is_some_and(|e| e - 5 <= now_secs)
    }

    /// The `Origin` header for API calls.
    pub fn origin_header(&self) -> String {
        match &self.origin {
            Some(o) if !o.is_empty() => format!("https://{o}"),
            _ => HOME.to_string(),
        }
    }
}

/// Reads a JWT's payload; `None` when `token` is not a three-part JWT with a JSON payload.
pub fn parse_jwt(token: &str) -> Option<AmToken> {
    let mut parts = token.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    let cleaned: String = payload
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(cleaned)
        .ok()?;
    let json: Value = serde_json::from_slice(&bytes).ok()?;
    Some(AmToken {
        jwt: token.to_string(),
        origin: json["root_https_origin"][0].as_str().map(str::to_string),
        exp: json["exp"].as_i64(),
    })
}

/// The `src` of the first `<script type="module">` whose path matches `/assets/index…js`.
pub fn token_script_url(html: &str) -> Option<String> {
    let mut rest = html;
    while let Some(i) = rest.find("<script") {
        rest = &rest[i + 7..];
        let end = rest.find('>').unwrap_or(rest.len());
        let tag = &rest[..end];
        rest = &rest[end..];
        let module = tag.contains("type=\"module\"") || tag.contains("type='module'");
        let Some(src) = quoted_attr(tag, "src") else {
            continue;
        };
        let index = src
            .find("/assets/index")
            .is_some_and(|at| src[at..].ends_with(".js") || src[at..].contains(".js?"));
        if module && index {
            return Some(if src.starts_with("http") {
                src.to_string()
            } else {
                format!("{HOME}{src}")
            });
        }
    }
    None
}

fn quoted_attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    for q in ['"', '\''] {
        let pat = format!(" {name}={q}");
        if let Some(i) = tag.find(&pat) {
            let v = &tag[i + pat.len()..];
            return v.find(q).map(|e| &v[..e]);
        }
    }
    None
}

/// The first `ey….….…` token (base64url segments) in the script.
pub fn find_jwt(script: &str) -> Option<&str> {
    let b = script.as_bytes();
    let seg = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
    let mut from = 0;
    while let Some(i) = script[from..].find("ey") {
        let start = from + i;
        from = start + 2;
        let mut pos = start;
        let mut parts = 0;
        loop {
            let s = pos;
            while pos < b.len() && seg(b[pos]) {
                pos += 1;
            }
            if pos == s {
                break;
            }
            parts += 1;
            if parts == 3 || pos >= b.len() || b[pos] != b'.' {
                break;
            }
            pos += 1;
        }
        if parts == 3 {
            return Some(&script[start..pos]);
        }
    }
    None
}

/// Scrapes a fresh token from the web player.
pub fn fetch(net: &Outbound) -> Result<AmToken, String> {
    let get = |url: &str| -> Result<String, String> {
        let resp = net.get(url).send().map_err(|e| e.detail())?;
        if resp.status() != 200 {
            return Err(format!(
                "Failed to fetch URL: {url}. Status code: {}",
                resp.status()
            ));
        }
        resp.text().map_err(|e| e.detail())
    };
    let html = get(HOME)?;
    let script = token_script_url(&html).ok_or("Failed to locate token script URL.")?;
    let js = get(&script)?;
    let jwt = find_jwt(&js).ok_or("Failed to extract token from script content.")?;
    parse_jwt(jwt).ok_or_else(|| "The extracted token is not a valid JWT.".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64url(s: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn jwt_payload_and_expiry() {
        let jwt = format!(
            "{}.{}.sig-_x",
            b64url(r#"{"alg":"ES256","typ":"JWT","kid":"WEBPLAY"}"#),
            b64url(
                r#"{"iss":"AMPWebPlay","iat":1700000000,"exp":1800000000,"root_https_origin":["apple.com"]}"#
            )
        );
        let t = parse_jwt(&jwt).unwrap();
        assert_eq!(t.exp, Some(1_800_000_000));
        assert_eq!(t.origin_header(), "https://apple.com");
        assert!(!t.expired(1_799_999_990));
        assert!(t.expired(1_799_999_995));
        assert_eq!(parse_jwt("am-token"), None);
        let script = format!("const x=\"ey.not\";let t=\"{jwt}\",u=1;");
        assert_eq!(find_jwt(&script), Some(jwt.as_str()));
    }

    #[test]
    fn module_script() {
        let html = r#"<head><script src="/assets/legacy.js"></script>
            <script type="module" crossorigin src="/assets/index~7f0a2c.js"></script>
            <script type="module" src="/assets/index-legacy~1.js"></script></head>"#;
        assert_eq!(
            token_script_url(html).as_deref(),
            Some("https://music.apple.com/assets/index~7f0a2c.js")
        );
        assert_eq!(
            token_script_url("<script src=\"/assets/index.js\"></script>"),
            None
        );
    }
}

/// Lifetime of a token Basalt signs itself (Apple allows up to six months).
const SIGNED_LIFETIME_S: i64 = 30 * 24 * 3600;

/// A MusicKit developer token signed with the team's private key (ES256 over
/// `{"alg":"ES256","kid":key_id}.{"iss":team_id,"iat":now,"exp":…}`). `music_kit_key` is the
/// `.p8` file's content, with or without its PEM lines.
pub fn sign(
    key_id: &str,
    team_id: &str,
    music_kit_key: &str,
    now_s: i64,
) -> Result<AmToken, String> {
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::{Signature, SigningKey};
    use p256::pkcs8::DecodePrivateKey;
    let b64: String = music_kit_key
        .lines()
        .filter(|l| !l.trim_start().starts_with("-----"))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("musicKitKey is not base64: {e}"))?;
    let key = SigningKey::from_pkcs8_der(&der)
        .map_err(|e| format!("musicKitKey is not a PKCS#8 P-256 key: {e}"))?;
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let exp = now_s + SIGNED_LIFETIME_S;
    let header = serde_json::json!({"alg": "ES256", "kid": key_id});
    let claims = serde_json::json!({"iss": team_id, "iat": now_s, "exp": exp});
    let input = format!(
        "{}.{}",
        url.encode(header.to_string()),
        url.encode(claims.to_string())
    );
    let sig: Signature = key.sign(input.as_bytes());
    Ok(AmToken {
        jwt: format!("{input}.{}", url.encode(sig.to_bytes())),
        origin: None,
        exp: Some(exp),
    })
}

#[cfg(test)]
mod signing_tests {
    use super::*;
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
    use p256::pkcs8::{EncodePrivateKey, LineEnding};

    #[test]
    fn signs_an_es256_developer_token_that_verifies() {
        let key = SigningKey::from_bytes(&[7u8; 32].into()).unwrap();
        let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        // With the PEM lines and as the bare base64 body LavaSrc users paste.
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        for text in [pem.to_string(), body] {
            let t = sign("ABC123DEFG", "TEAM456789", &text, 1_800_000_000).unwrap();
            assert_eq!(t.exp, Some(1_800_000_000 + SIGNED_LIFETIME_S));
            let parts: Vec<&str> = t.jwt.split('.').collect();
            assert_eq!(parts.len(), 3);
            let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let header: Value = serde_json::from_slice(&url.decode(parts[0]).unwrap()).unwrap();
            assert_eq!(header["alg"], "ES256");
            assert_eq!(header["kid"], "ABC123DEFG");
            let claims: Value = serde_json::from_slice(&url.decode(parts[1]).unwrap()).unwrap();
            assert_eq!(claims["iss"], "TEAM456789");
            assert_eq!(claims["iat"], 1_800_000_000i64);
            let sig = Signature::from_slice(&url.decode(parts[2]).unwrap()).unwrap();
            let verifying = VerifyingKey::from(&key);
            let input = format!("{}.{}", parts[0], parts[1]);
            assert!(verifying.verify(input.as_bytes(), &sig).is_ok());
            // Our own parser reads it back.
            assert_eq!(parse_jwt(&t.jwt).unwrap().exp, t.exp);
        }
        assert!(sign("k", "t", "not a key", 0).is_err());
    }
}
