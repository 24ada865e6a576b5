//! PO tokens (sources.md §6.11): a static token from config, or an external minting
//! service behind a one-call interface (`mint(binding) -> token`). Minting BotGuard tokens
//! in process is deliberately not core code.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::net::Outbound;

/// Minted tokens are reused this long per binding.
const MINT_TTL: Duration = Duration::from_secs(6 * 3600);
const MAX_CACHED: usize = 256;

pub struct PoTokens {
    out: Outbound,
    /// Static token from config, replaceable over REST (`POST /youtube`).
    static_token: RwLock<Option<String>>,
    mint_url: Option<String>,
    cache: Mutex<HashMap<String, (String, Instant)>>,
}

impl PoTokens {
    pub fn new(out: Outbound, token: &str, mint_url: &str) -> PoTokens {
        let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        PoTokens {
            out,
            static_token: RwLock::new(some(token)),
            mint_url: some(mint_url),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The token sent in `/player` (`serviceIntegrityDimensions.poToken`): the static one.
    pub fn player_token(&self) -> Option<String> {
        self.static_token
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces (or with None clears) the static token.
    pub fn set_static(&self, token: Option<&str>) {
        *self.static_token.write().unwrap_or_else(|e| e.into_inner()) = token.map(str::to_string);
    }

    /// The streaming token appended as `pot=` to a media URL: static, else minted for the
    /// video id by the external service (cached), else none.
    pub fn streaming_token(&self, video_id: &str) -> Option<String> {
        if let Some(t) = self.player_token() {
            return Some(t);
        }
        self.mint(video_id)
    }

    /// Asks the minting service: POST `{"binding": …}` → `{"poToken": …}`.
    pub fn mint(&self, binding: &str) -> Option<String> {
        let url = self.mint_url.as_ref()?;
        {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((t, at)) = cache.get(binding) {
                if at.elapsed() < MINT_TTL {
                    return Some(t.clone());
                }
            }
        }
        let resp = match self
            .out
            .post(url)
            .json(&json!({ "binding": binding }))
            .send()
        {
            Ok(r) if r.is_success() => r,
            Ok(r) => {
                log::warn!("youtube: PO-token service answered {}", r.status());
                return None;
            }
            Err(e) => {
                log::warn!("youtube: PO-token service failed: {}", e.detail());
                return None;
            }
        };
        let token = resp.json().ok()?.get("poToken")?.as_str()?.to_string();
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(binding.to_string(), (token.clone(), Instant::now()));
        Some(token)
    }
}
