//! The remote cipher service (sources.md §6.10 c, the yt-cipher API): the node sends the
//! player URL and the challenge, the service runs the script. It isolates the node from
//! player-script churn; every call goes through the outbound client like any other.

use serde_json::{json, Value};

use crate::net::Outbound;

pub struct Remote {
    out: Outbound,
    base: String,
    password: String,
}

impl Remote {
    pub fn new(out: &Outbound, base: &str, password: &str) -> Remote {
        Remote {
            out: out.clone(),
            base: base.trim_end_matches('/').to_string(),
            password: password.to_string(),
        }
    }

    fn call(&self, path: &str, body: Value) -> Result<Value, String> {
        let mut req = self
            .out
            .post(&format!("{}{path}", self.base))
            .header(
                "User-Agent",
                &format!("basalt/{}", env!("CARGO_PKG_VERSION")),
            )
            .json(&body);
        if !self.password.is_empty() {
            // The raw password, no scheme (the service's convention).
            req = req.header("Authorization", &self.password);
        }
        let resp = req
            .send()
            .map_err(|e| format!("remote cipher {path}: {e}"))?;
        let status = resp.status();
        if !(200..300).contains(&status) {
            let text = resp.text().unwrap_or_default();
            let text: String = text.chars().take(200).collect();
            return Err(format!("remote cipher {path}: status {status}: {text}"));
        }
        resp.json()
            .map_err(|e| format!("remote cipher {path}: {e}"))
    }

    /// The signature timestamp of a player script.
    pub fn sts(&self, player_url: &str) -> Result<u32, String> {
        let v = self.call("/get_sts", json!({ "player_url": player_url }))?;
        match &v["sts"] {
            Value::Number(n) => n.as_u64().map(|n| n as u32),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .ok_or_else(|| format!("remote cipher /get_sts: no sts in {v}"))
    }

    /// A playable URL: the service applies the signature (under `sp`) and `n`.
    pub fn resolve_url(
        &self,
        stream_url: &str,
        player_url: &str,
        s: Option<&str>,
        sp: &str,
    ) -> Result<String, String> {
        let mut body = json!({ "stream_url": stream_url, "player_url": player_url });
        if let Some(s) = s {
            body["encrypted_signature"] = json!(s);
            body["signature_key"] = json!(sp);
        }
        let v = self.call("/resolve_url", body)?;
        v["resolved_url"]
            .as_str()
            .filter(|u| u.starts_with("http"))
            .map(str::to_string)
            .ok_or_else(|| format!("remote cipher /resolve_url: no resolved_url in {v}"))
    }
}
