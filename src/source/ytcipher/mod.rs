//! YouTube's signature and `n` cipher (sources.md §6.10): the player script's URL and
//! signature timestamp, and the transform that turns a format's `signatureCipher`/`n` into a
//! playable URL — through a remote cipher service when one is configured, else an embedded
//! QuickJS running the player script on its own thread. Clients that need no player script
//! never come here; metadata calls never need it.

pub mod remote;
pub mod scan;
pub mod solver;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::net::{Outbound, Url};

/// Where the current player script is named.
pub const EMBED_URL: &str = "https://www.youtube.com/embed/";
/// How long a player script is trusted before it is looked up again (youtube-source: 24 h).
pub const SCRIPT_TTL: Duration = Duration::from_secs(24 * 3600);

/// `[youtube.cipher]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CipherConfig {
    /// Base URL of a yt-cipher compatible service ("" = solve in process).
    pub remote_url: String,
    /// Sent as `Authorization` to the service ("" = none).
    pub remote_password: String,
    /// Solve in process with the embedded JavaScript engine when no service is set.
    pub embedded: bool,
    /// Longest a solve may take, script loading included.
    pub solve_timeout_ms: u64,
}

impl Default for CipherConfig {
    fn default() -> Self {
        CipherConfig {
            remote_url: String::new(),
            remote_password: String::new(),
            embedded: true,
            solve_timeout_ms: 5000,
        }
    }
}

/// Why a URL could not be made playable.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CipherError {
    #[error("Could not find the player script: {0}")]
    PlayerScript(String),
    #[error("Signature cipher failed: {0}")]
    Solve(String),
    #[error("No cipher is available (embedded solver off and no remote cipher configured)")]
    Unavailable,
}

/// The current player script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayerScript {
    /// Absolute URL of `base.js`.
    pub url: String,
    /// The version id in its path (`/s/player/<id>/…`).
    pub id: String,
    /// The signature timestamp sent in `/player` requests.
    pub sts: u32,
}

struct Cached {
    script: PlayerScript,
    text: Option<Arc<str>>,
    fetched: Instant,
}

/// One per YouTube source. `Send + Sync`.
pub struct CipherManager {
    out: Outbound,
    remote: Option<remote::Remote>,
    solver: Option<solver::Solver>,
    cache: Mutex<Option<Cached>>,
}

impl CipherManager {
    pub fn new(out: &Outbound, cfg: &CipherConfig) -> CipherManager {
        let remote = (!cfg.remote_url.trim().is_empty())
            .then(|| remote::Remote::new(out, cfg.remote_url.trim(), &cfg.remote_password));
        let solver = (remote.is_none() && cfg.embedded)
            .then(|| solver::Solver::start(Duration::from_millis(cfg.solve_timeout_ms.max(100))));
        CipherManager {
            out: out.clone(),
            remote,
            solver,
            cache: Mutex::new(None),
        }
    }

    /// Solve failures of the embedded engine so far (metrics).
    pub fn solve_failures(&self) -> u64 {
        self.solver.as_ref().map_or(0, solver::Solver::failures)
    }

    /// Forgets the cached player script (after a solve failure, or on a new version).
    pub fn invalidate(&self) {
        *self.cache.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The current player script, from cache while younger than `SCRIPT_TTL`.
    pub fn player_script(&self) -> Result<PlayerScript, CipherError> {
        self.current().map(|(s, _)| s)
    }

    fn current(&self) -> Result<(PlayerScript, Option<Arc<str>>), CipherError> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.as_ref() {
            if c.fetched.elapsed() < SCRIPT_TTL {
                return Ok((c.script.clone(), c.text.clone()));
            }
        }
        let url = self.script_url()?;
        let id = script_id(&url).unwrap_or_else(|| url.clone());
        let (sts, text) = match &self.remote {
            Some(r) => (r.sts(&url).map_err(CipherError::PlayerScript)?, None),
            None => {
                let text = self
                    .out
                    .get(&url)
                    .send()
                    .and_then(|r| {
                        if r.is_success() {
                            r.text()
                        } else {
                            Err(crate::net::NetError::Io(format!("status {}", r.status())))
                        }
                    })
                    .map_err(|e| CipherError::PlayerScript(format!("{url}: {e}")))?;
                let sts = scan::signature_timestamp(&text).ok_or_else(|| {
                    CipherError::PlayerScript(format!("no signature timestamp in {url}"))
                })?;
                (sts, Some(Arc::<str>::from(text)))
            }
        };
        let script = PlayerScript { url, id, sts };
        *cache = Some(Cached {
            script: script.clone(),
            text: text.clone(),
            fetched: Instant::now(),
        });
        Ok((script, text))
    }

    /// The player script URL named by the embed page.
    fn script_url(&self) -> Result<String, CipherError> {
        let page = self
            .out
            .get(EMBED_URL)
            .send()
            .and_then(|r| r.text())
            .map_err(|e| CipherError::PlayerScript(format!("{EMBED_URL}: {e}")))?;
        let path = js_url(&page)
            .ok_or_else(|| CipherError::PlayerScript(format!("no jsUrl in {EMBED_URL}")))?;
        Ok(absolute_script_url(&path))
    }

    /// A playable stream URL: the signature `s` put under `sp` (default `sig`) and the `n`
    /// parameter transformed.
    pub fn resolve(
        &self,
        stream_url: &str,
        s: Option<&str>,
        sp: Option<&str>,
        script: &PlayerScript,
    ) -> Result<String, CipherError> {
        let sp = sp.filter(|p| !p.is_empty()).unwrap_or("sig");
        if let Some(r) = &self.remote {
            return r
                .resolve_url(stream_url, &script.url, s, sp)
                .map_err(CipherError::Solve);
        }
        let solver = self.solver.as_ref().ok_or(CipherError::Unavailable)?;
        let mut url = Url::parse(stream_url).map_err(|e| CipherError::Solve(e.to_string()))?;
        let n = url
            .query_pairs()
            .find(|(k, _)| k == "n")
            .map(|(_, v)| v.into_owned());
        if s.is_none() && n.is_none() {
            return Ok(stream_url.to_string());
        }
        let (current, text) = self.current()?;
        let text = match (text, current.id == script.id) {
            (Some(t), true) => t,
            _ => {
                return Err(CipherError::Solve(format!(
                    "player script {} is not the current one",
                    script.id
                )))
            }
        };
        let (sig, n_out) = solver
            .solve(solver::Challenge {
                script_id: script.id.clone(),
                script: text,
                sig: s.map(str::to_string),
                n: n.clone(),
            })
            .map_err(CipherError::Solve)?;
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "n" && k != sp)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        {
            let mut q = url.query_pairs_mut();
            q.clear();
            q.extend_pairs(pairs.iter());
            if let Some(n) = n_out.or(n) {
                q.append_pair("n", &n);
            }
            if let Some(sig) = sig {
                q.append_pair(sp, &sig);
            }
        }
        Ok(url.to_string())
    }
}

/// The `"jsUrl":"…"` value of the embed page (JSON-escaped slashes undone).
pub fn js_url(page: &str) -> Option<String> {
    let key = "\"jsUrl\":\"";
    let start = page.find(key)? + key.len();
    let end = page[start..].find('"')? + start;
    let v = page[start..end].replace("\\/", "/");
    (!v.is_empty()).then_some(v)
}

fn absolute_script_url(path: &str) -> String {
    if path.starts_with("//") {
        format!("https:{path}")
    } else if path.starts_with('/') {
        format!("https://www.youtube.com{path}")
    } else {
        path.to_string()
    }
}

/// The version id in `/s/player/<id>/…`.
pub fn script_id(url: &str) -> Option<String> {
    let rest = &url[url.find("/s/player/")? + "/s/player/".len()..];
    rest.split('/')
        .next()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_urls_and_ids() {
        let page = r#"<script>ytcfg.set({"jsUrl":"\/s\/player\/abc123ef\/player_ias.vflset\/en_US\/base.js","x":1});</script>"#;
        let p = js_url(page).unwrap();
        assert_eq!(p, "/s/player/abc123ef/player_ias.vflset/en_US/base.js");
        let u = absolute_script_url(&p);
        assert_eq!(
            u,
            "https://www.youtube.com/s/player/abc123ef/player_ias.vflset/en_US/base.js"
        );
        assert_eq!(script_id(&u).as_deref(), Some("abc123ef"));
        assert_eq!(absolute_script_url("//x.test/a.js"), "https://x.test/a.js");
        assert_eq!(js_url("no url here"), None);
    }
}
