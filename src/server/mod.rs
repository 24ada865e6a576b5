//! The control plane: Lavalink v4 REST and the client WebSocket on one port.
//!
//! Our own acceptor (`acceptor`, one mio thread) reads requests under the limits and
//! deadlines of `[server]` and refuses floods (`limits`); a fixed pool of blocking worker
//! threads routes complete requests (`routes`); WebSocket upgrades get a thread per socket
//! (`websocket`) and a thread per session (`crate::session`). The audio engine, sources and
//! voice sit behind `backend`.

mod acceptor;
pub mod auth;
pub mod backend;
pub mod drain;
pub mod dto;
pub mod error;
mod http;
pub mod limits;
mod load_pool;
pub mod method;
pub mod reload;
mod request;
pub mod routeplanner;
pub mod routes;
pub mod session;
pub mod update;
mod voice_pool;
pub mod websocket;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use backend::Backend;
pub use error::ApiError;
pub use http::Server;
pub use update::{parse_update_player, UpdatePlayer};

use crate::config::Config;
use session::Sessions;

/// Epoch milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Knobs of the control plane that are not Lavalink config keys (tests shorten them).
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub player_update_interval: Duration,
    /// Period of the `stats` op (Lavalink: 60 s).
    pub stats_interval: Duration,
    /// Largest request body accepted (→ 413 above).
    pub max_body_bytes: usize,
    /// REST worker threads.
    pub workers: usize,
}

impl ServerOptions {
    pub fn from_config(config: &Config) -> ServerOptions {
        ServerOptions {
            player_update_interval: Duration::from_secs(
                config.player.player_update_interval_s.max(1),
            ),
            stats_interval: Duration::from_secs(60),
            max_body_bytes: config.server.max_body_bytes as usize,
            workers: config.server.workers as usize,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("server.password must be set")]
    NoPassword,
    #[error("cannot listen on {addr}: {reason}")]
    Bind { addr: String, reason: String },
    #[error("cannot start a thread: {0}")]
    Thread(String),
}

/// Everything the handlers share.
pub struct Node {
    pub config: Config,
    pub backend: Backend,
    pub sessions: Sessions,
    pub options: ServerOptions,
    pub planner: Option<std::sync::Arc<routeplanner::RoutePlanner>>,
    /// Built-in plugins (routes, hooks, `/v4/info.plugins`).
    pub plugins: crate::plugin::Plugins,
    /// The configuration as last (re)loaded: the keys a reload applies live (password,
    /// filters, logging, rate limits) are read from here, the rest from `config`.
    live: std::sync::RwLock<std::sync::Arc<Config>>,
    started: Instant,
    shutting_down: AtomicBool,
    /// Client sockets still open (shutdown waits for their close frames).
    open_sockets: AtomicUsize,
    /// Voice handshakes, off the REST workers.
    pub(crate) voice_pool: voice_pool::VoicePool,
    /// Track loads, bounded in time and in REST workers held.
    pub(crate) load_pool: load_pool::LoadPool,
    /// Graceful drain (SIGTERM, `POST /v4/drain`).
    pub drain: drain::Drain,
    /// Run-time WASM filters (`[plugins] wasm_dir`, `/v4/wasm/…`).
    #[cfg(feature = "wasm-plugins")]
    pub wasm: std::sync::Arc<crate::plugin::wasm::WasmFilters>,
}

impl session::SessionHost for Node {
    fn create_player(
        &self,
        guild: crate::player::GuildId,
        events: crossbeam::channel::Sender<crate::player::PlayerEvent>,
    ) -> crate::player::PlayerHandle {
        self.backend.players.create_player(guild, events)
    }
    fn sessions(&self) -> &Sessions {
        &self.sessions
    }
    fn player_update_interval(&self) -> Duration {
        self.options.player_update_interval
    }
    fn stats_interval(&self) -> Duration {
        self.options.stats_interval
    }
    fn system_figures(&self) -> dto::SystemFigures {
        Node::system_figures(self)
    }
    fn before_event(
        &self,
        session: &std::sync::Arc<session::Session>,
        ev: &crate::player::PlayerEvent,
    ) {
        self.plugins.before_event(self, session, ev);
    }
    fn after_event(
        &self,
        session: &std::sync::Arc<session::Session>,
        ev: &crate::player::PlayerEvent,
    ) {
        self.plugins.on_event(self, session, ev);
    }
}

impl Node {
    fn new(config: Config, backend: Backend, options: ServerOptions) -> Result<Node, ServerError> {
        if config.server.password.is_none() {
            return Err(ServerError::NoPassword);
        }
        // Fewer loaders than workers, so loads never hold every worker.
        let load_pool = load_pool::LoadPool::new(
            (config.server.loaders as usize).min((options.workers / 2).max(1)),
            Duration::from_millis(u64::from(config.server.load_timeout_ms)),
        );
        #[cfg(feature = "wasm-plugins")]
        let wasm = crate::plugin::wasm::WasmFilters::new(
            &config.plugins.wasm_dir,
            crate::engine::worker_count(config.player.encode_workers),
        )
        .map_err(ServerError::Thread)?;
        Ok(Node {
            #[cfg(feature = "wasm-plugins")]
            wasm,
            planner: config.planner.get(&config.ratelimit),
            plugins: crate::plugin::Plugins::new(&config),
            live: std::sync::RwLock::new(std::sync::Arc::new(config.clone())),
            config,
            backend,
            sessions: Sessions::default(),
            options,
            started: Instant::now(),
            shutting_down: AtomicBool::new(false),
            open_sockets: AtomicUsize::new(0),
            voice_pool: voice_pool::VoicePool::new(),
            load_pool,
            drain: drain::Drain::default(),
        })
    }

    /// The password now (a reload may change it).
    pub fn password(&self) -> String {
        self.live().server.password.clone().unwrap_or_default()
    }

    /// The configuration as last (re)loaded (see `live`).
    pub fn live(&self) -> std::sync::Arc<Config> {
        self.live.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    /// Memory, CPU and uptime for the stats op and `/v4/stats`.
    pub fn system_figures(&self) -> dto::SystemFigures {
        let s = crate::stats::sample();
        dto::SystemFigures {
            uptime_ms: if s.uptime_ms > 0 {
                s.uptime_ms
            } else {
                self.started.elapsed().as_millis() as u64
            } as i64,
            mem_free: s.memory.free,
            mem_used: s.memory.used,
            mem_allocated: s.memory.allocated,
            mem_reservable: s.memory.reservable,
            cores: s.cpu.cores,
            system_load: s.cpu.system_load,
            lavalink_load: s.cpu.lavalink_load,
        }
    }

    /// Uptime as Lavalink reports it: since the process started.
    pub fn uptime_ms(&self) -> u64 {
        match crate::stats::sample().uptime_ms {
            0 => self.started.elapsed().as_millis() as u64,
            ms => ms,
        }
    }

    /// Players stopped, sockets closed with 1001, backends shut down.
    fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::Relaxed);
        for s in self.sessions.all() {
            s.close_for_shutdown(self);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.open_sockets.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.voice_pool.shutdown();
        self.load_pool.shutdown();
        self.backend.voice.shutdown();
        self.backend.players.shutdown();
    }
}
