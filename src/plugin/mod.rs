//! Basalt's plugin API (compile-time tier, plugins.md §7.1) and the built-in plugins that
//! stand in for the Lavalink plugins bots expect: LavaSrc, LavaSearch, LavaLyrics and
//! SponsorBlock, each listed in `/v4/info.plugins` under its Lavalink name.
//!
//! A plugin has a name, a version and its own `[plugins.<name>]` section (`config`); it may
//! register sources (LavaSrc's go into `SourceManager` through `lavasrc::sources`), REST
//! routes (asked by the router before it answers 404), player hooks (engine events and
//! seeks, on the session thread), a periodic tick for position cues (its own cue list per
//! plugin, so features never clobber each other), `pluginInfo` contributions and plugin
//! filter names. Plugin events go through `Session::send`, so they are queued while a
//! session is paused and replayed on resume like core events.
//!
//! Blocking work (HTTP lookups) never runs on the session thread: hooks hand it to a small
//! job pool.
// With a plugin left out of the build (`--no-default-features`), some helpers shared by
// the plugins, and the registry's bookkeeping for it, have no user.
#![cfg_attr(
    not(all(
        feature = "plugin-lavasrc",
        feature = "plugin-lavasearch",
        feature = "plugin-lavalyrics",
        feature = "plugin-sponsorblock"
    )),
    allow(dead_code, unused_mut, unused_variables)
)]

// Each built-in plugin is compiled only with its Cargo feature (all on by default).
pub mod config;
#[cfg(feature = "plugin-lavalyrics")]
pub mod lavalyrics;
#[cfg(feature = "plugin-lavasearch")]
pub mod lavasearch;
#[cfg(feature = "plugin-lavasrc")]
pub mod lavasrc;
pub mod metrics;
#[cfg(feature = "plugin-sponsorblock")]
pub mod sponsorblock;
#[cfg(feature = "wasm-plugins")]
pub mod wasm;

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use crossbeam::channel::{self, Sender};
use serde_json::{json, Map, Value};

use crate::config::Config;
use crate::player::{GuildId, PlayerEvent};
use crate::server::routes::{Body, Reply, Req};
use crate::server::session::Session;
use crate::server::{ApiError, Node};
use crate::track::TrackData;

/// The version each built-in plugin reports: Basalt's own.
pub const PLUGIN_VERSION: &str = env!("CARGO_PKG_VERSION");

/// How often cue lists (lyric lines, SponsorBlock segments) are checked.
const TICK: Duration = Duration::from_millis(25);

/// Everything a plugin sees of the node in a hook or route.
pub struct Ctx<'a> {
    pub node: &'a Node,
    pub jobs: &'a Jobs,
}

/// One plugin.
pub trait Plugin: Send + Sync {
    /// The Lavalink name clients check (`lavasrc-plugin`, …).
    fn name(&self) -> &'static str;
    fn version(&self) -> &'static str {
        PLUGIN_VERSION
    }
    /// Answers a REST request it owns (`None` = not this plugin's path).
    fn route(&self, _ctx: &Ctx, _req: &Req, _segs: &[&str]) -> Option<Result<Reply, ApiError>> {
        None
    }
    /// An engine event of one of `session`'s players (after the core handled it).
    fn on_event(&self, _ctx: &Ctx, _session: &Arc<Session>, _ev: &PlayerEvent) {}
    /// An engine event about to be forwarded to the client: state of an ending track is
    /// flushed here, so its last plugin events precede the core `TrackEndEvent`.
    fn before_event(&self, _ctx: &Ctx, _session: &Arc<Session>, _ev: &PlayerEvent) {}
    /// A client (or another plugin) moved the player's position.
    fn on_seek(&self, _session: &str, _guild: GuildId, _position: i64) {}
    /// Called every `TICK` on the plugin thread: cue lists against positions.
    fn tick(&self, _ctx: &Ctx) {}
    /// Names this plugin answers to under `filters.pluginFilters`.
    fn filter_names(&self) -> &[&'static str] {
        &[]
    }
}

/// A tiny pool for plugin work that blocks (lookups after a track starts).
pub struct Jobs {
    tx: Sender<Box<dyn FnOnce() + Send>>,
}

impl Jobs {
    fn new(threads: usize) -> Jobs {
        let (tx, rx) = channel::bounded::<Box<dyn FnOnce() + Send>>(1024);
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("plugin-jobs-{i}"))
                .spawn(move || {
                    while let Ok(job) = rx.recv() {
                        job();
                    }
                });
            if let Err(e) = spawned {
                log::error!("cannot start a plugin job thread: {e}");
            }
        }
        Jobs { tx }
    }

    /// Queues `job`; a full queue drops it with a warning (the lookup is lost, nothing else).
    pub fn spawn(&self, job: impl FnOnce() + Send + 'static) {
        if self.tx.try_send(Box::new(job)).is_err() {
            log::warn!("plugin job queue full; a lookup was dropped");
        }
    }
}

/// The registry: the enabled plugins in registration order.
pub struct Plugins {
    /// Swapped whole by a config reload (`reload`); readers take a snapshot.
    list: std::sync::RwLock<Arc<Vec<Arc<dyn Plugin>>>>,
    /// Every plugin built so far by its config name (`lavasrc`…): one switched off and
    /// on again by reloads comes back as it was (its state, clients and cues kept).
    built: std::sync::Mutex<Vec<(String, Arc<dyn Plugin>)>>,
    jobs: Jobs,
    ticker: OnceLock<()>,
}

/// LavaSrc's own registry entry: its sources live in `SourceManager`; here it is listed,
/// serves `PATCH /v4/lavasrc/config` and contributes `pluginInfo` (see `lavasrc`).
#[cfg(feature = "plugin-lavasrc")]
struct LavaSrcPlugin {
    clients: lavasrc::Clients,
}

#[cfg(feature = "plugin-lavasrc")]
impl Plugin for LavaSrcPlugin {
    fn name(&self) -> &'static str {
        lavasrc::NAME
    }

    fn route(&self, _ctx: &Ctx, req: &Req, segs: &[&str]) -> Option<Result<Reply, ApiError>> {
        if segs != ["v4", "lavasrc", "config"] {
            return None;
        }
        if *req.method != crate::server::method::Method::Patch {
            return Some(Err(method_not_allowed(req)));
        }
        Some((|| {
            let body = crate::server::update::parse_json(req.body)?;
            lavasrc::patch_config(&self.clients, &body).map_err(ApiError::bad_request)?;
            Ok(empty_reply(200))
        })())
    }
}

impl Plugins {
    pub fn new(config: &Config) -> Plugins {
        let plugins = Plugins {
            list: Default::default(),
            built: Default::default(),
            jobs: Jobs::new(2),
            ticker: OnceLock::new(),
        };
        plugins.reload(config);
        plugins
    }

    /// The enabled plugins now, in registration order.
    fn active(&self) -> Arc<Vec<Arc<dyn Plugin>>> {
        self.list.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// (Re)applies which plugins `config` enables: at start and on a config reload. A
    /// plugin switched off leaves `/v4/info.plugins` and stops answering routes and hooks;
    /// one switched on joins. Players keep playing either way.
    pub fn reload(&self, config: &Config) {
        let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        let p = &config.plugins;
        // A plugin is built again when the keys it is built from change. LavaSrc and
        // LavaSearch hold the API clients LavaSrc's sources use: a reload changing which
        // of those (or of the core sources they mirror through) are on rebuilds both (as
        // `SourceManager::reload` does the sources), so all share one set of clients. LavaLyrics is built from its
        // provider switches and order.
        let clients_key = format!("{:?} {:?}", p.lavasrc.sources, config.sources);
        let lyrics_key = format!(
            "{:?} {:?} {}",
            p.lavasrc.lyrics_sources, p.lavalyrics.sources, config.sources.youtube
        );
        let mut get = |kind: &str, make: &dyn Fn() -> Arc<dyn Plugin>| {
            let key = match kind {
                "lavasrc" | "lavasearch" => format!("{kind} {clients_key}"),
                "lavalyrics" => format!("{kind} {lyrics_key}"),
                _ => kind.to_string(),
            };
            if let Some((_, p)) = built.iter().find(|(k, _)| *k == key) {
                return p.clone();
            }
            let p = make();
            built.retain(|(k, _)| k.split(' ').next() != Some(kind));
            built.push((key, p.clone()));
            p
        };
        let mut list: Vec<Arc<dyn Plugin>> = Vec::new();
        for (name, feature_on, wanted) in [
            (
                "lavasrc",
                cfg!(feature = "plugin-lavasrc"),
                p.lavasrc.any_enabled(),
            ),
            (
                "lavasearch",
                cfg!(feature = "plugin-lavasearch"),
                p.lavasearch.enabled,
            ),
            (
                "lavalyrics",
                cfg!(feature = "plugin-lavalyrics"),
                p.lavalyrics.enabled,
            ),
            (
                "sponsorblock",
                cfg!(feature = "plugin-sponsorblock"),
                p.sponsorblock.enabled,
            ),
        ] {
            if wanted && !feature_on {
                log::warn!("[plugins.{name}] is enabled but this build leaves the plugin out (feature plugin-{name})");
            }
        }
        #[cfg(feature = "plugin-lavasrc")]
        if p.lavasrc.any_enabled() {
            list.push(get("lavasrc", &|| {
                Arc::new(LavaSrcPlugin {
                    clients: lavasrc::Clients::shared(config),
                }) as Arc<dyn Plugin>
            }));
        }
        // Listed only while one of its parts is active (plugins.md §7.1): LavaSearch needs a
        // search provider, LavaLyrics a lyrics provider.
        let src = &p.lavasrc.sources;
        let search_providers = src.spotify || src.applemusic || src.deezer;
        let ls = &p.lavasrc.lyrics_sources;
        let lyrics_providers =
            ls.lrc_lib || ls.spotify || ls.deezer || (ls.youtube && config.sources.youtube);
        #[cfg(feature = "plugin-lavasearch")]
        if p.lavasearch.enabled && search_providers {
            list.push(get("lavasearch", &|| {
                Arc::new(lavasearch::LavaSearch::new(config)) as Arc<dyn Plugin>
            }));
        }
        #[cfg(feature = "plugin-lavalyrics")]
        if p.lavalyrics.enabled && lyrics_providers {
            list.push(get("lavalyrics", &|| {
                Arc::new(lavalyrics::LavaLyrics::new(config)) as Arc<dyn Plugin>
            }));
        }
        #[cfg(feature = "plugin-sponsorblock")]
        if p.sponsorblock.enabled {
            list.push(get("sponsorblock", &|| {
                Arc::new(sponsorblock::SponsorBlock::new(config)) as Arc<dyn Plugin>
            }));
        }
        *self.list.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(list);
    }

    /// `/v4/info.plugins`.
    pub fn info(&self) -> Value {
        Value::Array(
            self.active()
                .iter()
                .map(|p| json!({"name": p.name(), "version": p.version()}))
                .collect(),
        )
    }

    /// Registered plugin filter names, in registration order.
    pub fn filter_names(&self) -> Vec<&'static str> {
        self.active()
            .iter()
            .flat_map(|p| p.filter_names().iter().copied())
            .collect()
    }

    /// `pluginFilters` as Lavalink keeps them: registered names only, in registration order
    /// (the native LavaDSPX filters of the dsp crate first, then plugins' filters).
    pub fn keep_plugin_filters(&self, received: &Map<String, Value>) -> Map<String, Value> {
        let mut out = Map::new();
        let native = basalt_dsp::extra::lavadspx::LAVADSPX_FILTERS
            .iter()
            .copied();
        for name in native.chain(self.filter_names()) {
            if let Some(v) = received.get(name) {
                out.insert(name.to_string(), v.clone());
            }
        }
        out
    }

    /// Starts the cue thread once (called from each new session thread).
    pub fn start(&self, node: &Arc<Node>) {
        self.ticker.get_or_init(|| {
            let weak: Weak<Node> = Arc::downgrade(node);
            let spawned = std::thread::Builder::new()
                .name("plugin-cues".into())
                .spawn(move || loop {
                    std::thread::sleep(TICK);
                    let Some(node) = weak.upgrade() else { break };
                    if node.is_shutting_down() {
                        break;
                    }
                    let plugins = &node.plugins;
                    let ctx = Ctx {
                        node: &node,
                        jobs: &plugins.jobs,
                    };
                    for p in plugins.active().iter() {
                        p.tick(&ctx);
                    }
                });
            if let Err(e) = spawned {
                log::error!("cannot start the plugin cue thread: {e}");
            }
        });
    }

    /// Asks each plugin for a request the core router does not know.
    pub fn route(&self, node: &Node, req: &Req) -> Option<Result<Reply, ApiError>> {
        let segs: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
        let ctx = Ctx {
            node,
            jobs: &self.jobs,
        };
        self.active().iter().find_map(|p| p.route(&ctx, req, &segs))
    }

    pub fn on_event(&self, node: &Node, session: &Arc<Session>, ev: &PlayerEvent) {
        let ctx = Ctx {
            node,
            jobs: &self.jobs,
        };
        for p in self.active().iter() {
            p.on_event(&ctx, session, ev);
        }
    }

    pub fn before_event(&self, node: &Node, session: &Arc<Session>, ev: &PlayerEvent) {
        let ctx = Ctx {
            node,
            jobs: &self.jobs,
        };
        for p in self.active().iter() {
            p.before_event(&ctx, session, ev);
        }
    }

    pub fn on_seek(&self, session: &str, guild: GuildId, position: i64) {
        for p in self.active().iter() {
            p.on_seek(session, guild, position);
        }
    }
}

/// Every plugin's `pluginInfo` for a track, merged into `out` (later plugin wins).
pub fn track_plugin_info(track: &TrackData, out: &mut Map<String, Value>) {
    #[cfg(feature = "plugin-lavasrc")]
    lavasrc::track_plugin_info(track, out);
    #[cfg(not(feature = "plugin-lavasrc"))]
    let _ = (track, out);
}

/// Every plugin's `pluginInfo` for a playlist load result.
pub fn playlist_plugin_info(name: &str, tracks: &[TrackData], out: &mut Map<String, Value>) {
    #[cfg(feature = "plugin-lavasrc")]
    lavasrc::playlist_plugin_info(name, tracks, out);
    #[cfg(not(feature = "plugin-lavasrc"))]
    let _ = (name, tracks, out);
}

/// The plugins' sources for `SourceManager` (LavaSrc's, when built in).
pub fn sources(config: &Config) -> Vec<Box<dyn crate::source::Source>> {
    #[cfg(feature = "plugin-lavasrc")]
    return lavasrc::sources(config);
    #[cfg(not(feature = "plugin-lavasrc"))]
    {
        let _ = config;
        Vec::new()
    }
}

// ---------------------------------------------------------------------------------------
// Helpers shared by the plugins' routes and events.

/// A JSON reply.
pub(crate) fn json_reply(v: Value) -> Reply {
    Reply {
        status: 200,
        body: Body::Json(v),
    }
}

/// A reply without a body (`200` for Spring void handlers, `204` for no content).
pub(crate) fn empty_reply(status: u16) -> Reply {
    Reply {
        status,
        body: Body::Empty,
    }
}

/// The query parameter `name`.
pub(crate) fn param<'a>(req: &'a Req, name: &str) -> Option<&'a str> {
    req.query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A boolean query parameter as Spring converts it (absent = false).
pub(crate) fn bool_param(req: &Req, name: &str) -> Result<bool, ApiError> {
    match param(req, name).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) => match v.as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" | "" => Ok(false),
            _ => Err(ApiError::bad_request(format!(
                "Failed to convert value of type 'java.lang.String' to required type 'boolean'; Invalid boolean value [{v}]"
            ))),
        },
    }
}

/// A guild id path segment as Spring converts it.
pub(crate) fn guild_param(s: &str) -> Result<GuildId, ApiError> {
    s.parse::<u64>().map_err(|_| {
        ApiError::bad_request(format!(
            "Failed to convert value of type 'java.lang.String' to required type 'long'; For input string: \"{s}\""
        ))
    })
}

pub(crate) fn method_not_allowed(req: &Req) -> ApiError {
    ApiError::MethodNotAllowed(format!("Request method '{}' is not supported", req.method))
}

/// What a cue-following plugin (lyric lines, SponsorBlock segments) keys a track by.
pub(crate) fn track_identity(t: &TrackData) -> (String, String) {
    (t.info.source_name.clone(), t.info.identifier.clone())
}

/// One player a plugin follows with cues, as the cue tick sees it.
pub(crate) struct CueTarget {
    pub sid: String,
    pub guild: GuildId,
    pub session: Arc<Session>,
    pub player: Arc<std::sync::Mutex<crate::server::session::Player>>,
    /// The playing track's identity (`track_identity`), if any.
    pub track: Option<(String, String)>,
    pub pos: i64,
}

/// The players `map` follows with cues (`has_cues`), dropping entries of sessions that
/// ended, each with its track and position now. Players between tracks (the engine ended
/// one and the session has not heard yet, so the position reads 0) are left out: that is
/// not a seek.
pub(crate) fn cue_targets<V>(
    ctx: &Ctx,
    map: &std::sync::Mutex<std::collections::HashMap<(String, GuildId), V>>,
    has_cues: impl Fn(&V) -> bool,
) -> Vec<CueTarget> {
    use crate::sync::lock;
    let keys: Vec<(String, GuildId)> = {
        let mut map = lock(map);
        if map.is_empty() {
            return Vec::new();
        }
        let live: Vec<String> = ctx
            .node
            .sessions
            .all()
            .iter()
            .map(|s| s.id.clone())
            .collect();
        map.retain(|(sid, _), _| live.contains(sid));
        map.iter()
            .filter(|(_, v)| has_cues(v))
            .map(|(k, _)| k.clone())
            .collect()
    };
    if keys.is_empty() {
        return Vec::new();
    }
    let sessions = ctx.node.sessions.all();
    let mut out = Vec::with_capacity(keys.len());
    for (sid, guild) in keys {
        let Some(session) = sessions.iter().find(|s| s.id == sid) else {
            continue;
        };
        let Some(player) = session.player(guild) else {
            continue;
        };
        let (track, pos) = {
            let p = lock(&player);
            if p.pending_start.is_none()
                && !p
                    .handle
                    .shared
                    .has_track
                    .load(std::sync::atomic::Ordering::Relaxed)
            {
                continue;
            }
            (
                p.current.as_ref().map(|c| track_identity(&c.track)),
                p.position(),
            )
        };
        out.push(CueTarget {
            sid,
            guild,
            session: session.clone(),
            player,
            track,
            pos,
        });
    }
    out
}
