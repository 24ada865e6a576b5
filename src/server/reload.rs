//! Config reload on SIGHUP: the keys that can change without a restart are applied live,
//! drain-free (sessions and players are untouched); every other changed key is named in
//! the log as needing a restart. A file that does not load or validate is refused with
//! the loader's error (file and key named) and the running configuration stays.
//!
//! Live: `server.password`, `[filters]`, `[sources]`, `[logging]`, the rate limits of
//! `[server]`, which plugins are enabled, LavaSrc's sources and lyrics sources, and
//! LavaLyrics' provider order.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::{Node, Server};
use crate::config::Config;

/// `[server]` keys the limiter applies live.
const RATE_LIMIT_KEYS: &[&str] = &[
    "server.max_connections",
    "server.max_connections_per_ip",
    "server.requests_per_s_per_ip",
    "server.request_burst_per_ip",
    "server.auth_failures_per_min_per_ip",
    "server.rate_limit_allow",
];

/// Whether a dotted key takes effect on reload.
pub fn is_live(key: &str) -> bool {
    key == "server.password"
        || RATE_LIMIT_KEYS.contains(&key)
        || [
            "filters.",
            "sources.",
            "logging.",
            "plugins.lavasrc.sources.",
            "plugins.lavasrc.lyrics_sources.",
        ]
        .iter()
        .any(|p| key.starts_with(p))
        || matches!(
            key,
            "plugins.lavasearch.enabled"
                | "plugins.lavalyrics.enabled"
                | "plugins.lavalyrics.sources"
                | "plugins.sponsorblock.enabled"
        )
}

/// Every leaf of `config` (core sections and `[plugins.*]`) as `section.key` → value.
fn flatten(config: &Config) -> BTreeMap<String, toml::Value> {
    fn walk(prefix: &str, v: &toml::Value, out: &mut BTreeMap<String, toml::Value>) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            leaf => {
                out.insert(prefix.to_string(), leaf.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    if let Ok(v) = toml::Value::try_from(config) {
        walk("", &v, &mut out);
    }
    if let Ok(v) = toml::Value::try_from(&config.plugins) {
        walk("plugins", &v, &mut out);
    }
    out
}

/// Keys whose values differ between `a` and `b` (present in one only included).
pub fn changed_keys(a: &Config, b: &Config) -> Vec<String> {
    let (a, b) = (flatten(a), flatten(b));
    let mut keys: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

impl Server {
    /// Reads `path` again and applies what can change live (SIGHUP). False when the file
    /// was refused (the running configuration stays).
    pub fn reload(&self, path: &Path) -> bool {
        let new = match crate::config::load(path) {
            Ok(c) => c,
            Err(e) => {
                log::error!("config reload refused, keeping the running configuration: {e}");
                return false;
            }
        };
        let node = self.node();
        let live = changed_keys(&node.live(), &new);
        // Restart-only keys are compared with what the node started with, so each is
        // named once per reload for as long as it differs.
        for key in changed_keys(&node.config, &new)
            .iter()
            .filter(|k| !is_live(k))
        {
            log::warn!("{key} needs a restart");
        }
        let live: Vec<&String> = live.iter().filter(|k| is_live(k)).collect();
        apply(node, &self.limiter, new, &live);
        log::info!(
            "configuration reloaded from {}{}",
            path.display(),
            if live.is_empty() {
                "; nothing to apply live".to_string()
            } else {
                format!(
                    "; applied {}",
                    live.iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
        true
    }
}

/// Makes `new` the live configuration: auth, filters and request logging read it from
/// now on; logging, limits, sources and plugins are reconfigured in place.
fn apply(node: &Node, limiter: &super::limits::Limiter, new: Config, changed: &[&String]) {
    let touched = |prefix: &str| changed.iter().any(|k| k.starts_with(prefix));
    if touched("logging.") {
        if let Err(e) = crate::logging::init(&new.logging) {
            log::error!("logging: {e}; keeping the previous log output");
        }
    }
    if changed
        .iter()
        .any(|k| RATE_LIMIT_KEYS.contains(&k.as_str()))
    {
        limiter.reconfigure(&new.server);
    }
    let new = Arc::new(new);
    *node.live.write().unwrap_or_else(|p| p.into_inner()) = new.clone();
    if touched("sources.") || touched("plugins.") {
        node.backend.loader.reload(&new);
        node.plugins.reload(&new);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_and_restart_keys() {
        let a = Config::default();
        let mut b = a.clone();
        b.server.password = Some("x".into());
        b.server.port = 1;
        b.filters.timescale = false;
        b.server.requests_per_s_per_ip = 7;
        b.plugins.sponsorblock.enabled = !a.plugins.sponsorblock.enabled;
        let keys = changed_keys(&a, &b);
        assert_eq!(
            keys,
            [
                "filters.timescale",
                "plugins.sponsorblock.enabled",
                "server.password",
                "server.port",
                "server.requests_per_s_per_ip"
            ]
        );
        let live: Vec<_> = keys.iter().filter(|k| is_live(k)).collect();
        assert_eq!(live.len(), 4);
        assert!(!is_live("server.port"));
        assert!(!is_live("plugins.lavasrc.spotify.client_id"));
        assert!(is_live("plugins.lavasrc.sources.spotify"));
        assert!(is_live("logging.level"));
    }
}
