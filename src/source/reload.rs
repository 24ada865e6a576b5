//! Sources switched on and off by a config reload (SIGHUP), without a restart.
//!
//! The active list is swapped whole, so a load under way finishes on the list it started
//! with, and players keep the media they opened. A core source switched off is kept aside
//! and comes back as it was; one that was never built is built from the new config.
//! LavaSrc's sources share their API clients with the LavaSrc and LavaSearch plugins and
//! mirror through the core sources, so when either set changes they are all built again
//! from the new config (as the plugin registry rebuilds those two), keeping one set of
//! clients.

use std::sync::Arc;

use super::{Source, SourceManager};
use crate::config::Config;

/// Every source a config switches, in Lavalink's registration order (plugin sources after
/// `local`, `http` last): (sourceName, is a LavaSrc source).
const ORDER: &[(&str, bool)] = &[
    ("youtube", false),
    ("soundcloud", false),
    ("bandcamp", false),
    ("twitch", false),
    ("vimeo", false),
    ("niconico", false),
    ("local", false),
    ("spotify", true),
    ("applemusic", true),
    ("deezer", true),
    ("http", false),
];

/// Whether `config` switches the source `name` on.
fn wanted(config: &Config, name: &str) -> bool {
    let s = &config.sources;
    let l = &config.plugins.lavasrc.sources;
    match name {
        "youtube" => s.youtube,
        "soundcloud" => s.soundcloud,
        "bandcamp" => s.bandcamp,
        "twitch" => s.twitch,
        "vimeo" => s.vimeo,
        "niconico" => s.nico,
        "local" => s.local,
        "http" => s.http,
        "spotify" => l.spotify && cfg!(feature = "plugin-lavasrc"),
        "applemusic" => l.applemusic && cfg!(feature = "plugin-lavasrc"),
        "deezer" => l.deezer && cfg!(feature = "plugin-lavasrc"),
        _ => false,
    }
}

/// `config` with only the sources in `only` switched on (to build just those).
fn only(config: &Config, only: &[&str]) -> Config {
    let mut c = config.clone();
    let on = |n: &str| only.contains(&n);
    let s = &mut c.sources;
    s.youtube = on("youtube");
    s.soundcloud = on("soundcloud");
    s.bandcamp = on("bandcamp");
    s.twitch = on("twitch");
    s.vimeo = on("vimeo");
    s.nico = on("niconico");
    s.local = on("local");
    s.http = on("http");
    let l = &mut c.plugins.lavasrc.sources;
    l.spotify = on("spotify");
    l.applemusic = on("applemusic");
    l.deezer = on("deezer");
    c
}

impl SourceManager {
    /// Applies `[sources]` and `[plugins.lavasrc.sources]` of a reloaded config: sources
    /// switched off stop claiming identifiers and drop out of `/v4/info`; sources switched
    /// on claim from now on. Returns the names active afterwards.
    pub fn reload(&self, config: &Config) -> Vec<&'static str> {
        let current = self.list();
        let active = |n: &str| current.iter().any(|s| s.name() == n);
        if ORDER.iter().all(|(n, _)| active(n) == wanted(config, n)) {
            return self.source_names();
        }
        let mut retired = self.retired.lock().unwrap_or_else(|p| p.into_inner());
        let mut pool: Vec<Arc<dyn Source>> = current.iter().cloned().collect();
        pool.append(&mut retired);
        let have = |pool: &[Arc<dyn Source>], n: &str| pool.iter().any(|s| s.name() == n);
        let missing = |plugin: bool| -> Vec<&str> {
            ORDER
                .iter()
                .filter(|(n, p)| *p == plugin && wanted(config, n) && !have(&pool, n))
                .map(|(n, _)| *n)
                .collect()
        };
        let core = missing(false);
        let changed = |plugin: bool| {
            ORDER
                .iter()
                .any(|(n, p)| *p == plugin && active(n) != wanted(config, n))
        };
        // LavaSrc mirrors through the core sources: when they change, its sources are
        // built again too, so mirroring follows the node's sources as Lavalink's does.
        let lavasrc_on = ORDER.iter().any(|(n, p)| *p && wanted(config, n));
        let lavasrc_changed = changed(true) || (lavasrc_on && changed(false));
        let mut built: Vec<Arc<dyn Source>> = Vec::new();
        if !core.is_empty() {
            let fresh = SourceManager::with_plugin_sources(&only(config, &core), Vec::new());
            built.extend(fresh.list().iter().cloned());
        }
        if lavasrc_changed {
            pool.retain(|s| !ORDER.iter().any(|(n, p)| *p && *n == s.name()));
            built.extend(
                crate::plugin::sources(config)
                    .into_iter()
                    .map(Arc::<dyn Source>::from),
            );
        }
        pool.extend(built);
        let mut next: Vec<Arc<dyn Source>> = Vec::new();
        for (name, _) in ORDER {
            if *name == "http" {
                // Sources no config key switches (other plugins') stay, before `http`.
                next.extend(
                    current
                        .iter()
                        .filter(|s| !ORDER.iter().any(|(n, _)| *n == s.name()))
                        .cloned(),
                );
            }
            if wanted(config, name) {
                if let Some(i) = pool.iter().position(|s| s.name() == *name) {
                    next.push(pool.remove(i));
                }
            }
        }
        // The rest (switched off) wait aside.
        retired.extend(
            pool.into_iter()
                .filter(|s| ORDER.iter().any(|(n, _)| *n == s.name())),
        );
        let names: Vec<&'static str> = next.iter().map(|s| s.name()).collect();
        *self.sources.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
        log::info!("sources after the reload: {}", names.join(", "));
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(local: bool, http: bool, deezer: bool) -> Config {
        let mut c = Config {
            sources: crate::config::SourcesConfig {
                youtube: false,
                soundcloud: false,
                bandcamp: false,
                twitch: false,
                vimeo: false,
                nico: false,
                local,
                http,
            },
            ..Config::default()
        };
        c.plugins.lavasrc.sources.deezer = deezer;
        c
    }

    fn by_name(m: &SourceManager, name: &str) -> Arc<dyn Source> {
        m.source(name).unwrap()
    }

    #[test]
    fn switches_sources_in_lavalink_order_and_keeps_instances() {
        let m = SourceManager::new(&config(false, true, false));
        assert_eq!(m.source_names(), ["http"]);
        let http = by_name(&m, "http");
        assert_eq!(m.reload(&config(true, true, false)), ["local", "http"]);
        assert!(
            Arc::ptr_eq(&http, &by_name(&m, "http")),
            "kept, not rebuilt"
        );
        let local = by_name(&m, "local");
        assert_eq!(m.reload(&config(false, true, false)), ["http"]);
        assert!(m.source("local").is_none());
        assert_eq!(m.reload(&config(true, true, false)), ["local", "http"]);
        assert!(Arc::ptr_eq(&local, &by_name(&m, "local")), "back as it was");
        if cfg!(feature = "plugin-lavasrc") {
            // plugin sources sit after `local`, before `http`
            assert_eq!(
                m.reload(&config(true, true, true)),
                ["local", "deezer", "http"]
            );
            let deezer = by_name(&m, "deezer");
            // a core change rebuilds LavaSrc's sources (they mirror through the core ones)
            assert_eq!(m.reload(&config(false, true, true)), ["deezer", "http"]);
            assert!(!Arc::ptr_eq(&deezer, &by_name(&m, "deezer")));
            assert_eq!(m.reload(&config(false, true, false)), ["http"]);
        }
        // no change: nothing rebuilt
        let before = by_name(&m, "http");
        assert_eq!(m.reload(&config(false, true, false)), ["http"]);
        assert!(Arc::ptr_eq(&before, &by_name(&m, "http")));
    }
}
