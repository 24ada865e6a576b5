//! The audio engine: a fixed set of decode workers and dsp/encode workers serving many
//! players each, one pacer thread owning the 20 ms clock, a blocking helper pool for opening
//! and seeking sources, and a disposal thread that frees heavy objects off the real-time path.
//!
//! Data per player: decoder → PCM ring (rtrb) → filter chain + volume → Opus → frame ring →
//! pacer → sink. Commands are read by the player's encode worker at frame boundaries, so a
//! change is heard in the next frame; queued frames are rewound when a change must be heard
//! at once (volume, filters, pause).

mod disposal;
mod fault;
#[cfg(debug_assertions)]
#[doc(hidden)]
pub use fault::inject_frame_panic;
pub use fault::{dead_threads, install_panic_hook};
mod frame;
mod helper;
mod lookback;
mod pacer;
mod pacers;
mod player;
mod readahead;
mod track;
mod worker;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle, Thread};

use crossbeam::channel::{self, Sender};

use crate::config::{Config, ResamplingQuality};
use crate::player::{GuildId, PlayerEvent, PlayerHandle, PlayerShared};
use crate::source::{MediaInput, SourceManager};
use crate::track::{TrackData, TrackException};

pub use frame::{Frame, MAX_OPUS_PACKET};
pub use pacer::PacerStats;

/// Opens a track into bytes to decode. Blocking (HTTP); always called on the helper pool.
pub type Opener = Arc<dyn Fn(&TrackData) -> Result<MediaInput, TrackException> + Send + Sync>;

/// Lavalink stops a track nothing pulls audio from after 60 s (`cleanup`).
const CLEANUP_MS: u64 = 60_000;

/// Failures starting the engine (threads could not be spawned, bad encoder settings).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("failed to spawn engine thread {name}: {source}")]
    Spawn {
        name: String,
        source: std::io::Error,
    },
    #[error("Opus encoder: {0}")]
    Encoder(#[from] crate::encode::EncodeError),
}

/// Engine settings taken from `[player]`.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub complexity: u8,
    pub resampling: ResamplingQuality,
    pub stuck_threshold_ms: u64,
    pub pcm_ring_ms: u32,
    pub realtime_pacer: bool,
    /// `[player] limiter`: the look-ahead limiter replaces the soft clip on output.
    pub limiter: bool,
}

/// Everything threads share: channels to each stage and the shutdown flag.
pub(crate) struct Shared {
    pub settings: Settings,
    pub shutdown: AtomicBool,
    pub opener: Opener,
    /// The pacer shards' inboxes and loads (`pacers`).
    pub pacers: pacers::Pacers,
    pub helper_tx: Sender<helper::HelperJob>,
    pub dispose_tx: Sender<disposal::Garbage>,
    /// One channel per decode worker (new decode jobs).
    pub decode_tx: Vec<Sender<Box<track::DecodeJob>>>,
    pub decode_threads: Mutex<Vec<Thread>>,
    pub next_decode: AtomicU64,
    /// A track nobody reads (no connected sink) is stopped with `cleanup` after this long.
    pub cleanup_ms: AtomicU64,
    /// Fills the read-ahead rings of network sources.
    pub io: Arc<readahead::IoPool>,
    /// The growing helper pool's counts.
    pub helpers: helper::Pool,
}

impl Shared {
    /// Round-robin choice of the decode worker for a new track.
    pub fn decode_worker_for_next(&self) -> usize {
        (self.next_decode.fetch_add(1, Ordering::Relaxed) as usize) % self.decode_tx.len()
    }
}

/// The running engine. `Send + Sync`; cheap to share behind an `Arc`.
pub struct Engine {
    shared: Arc<Shared>,
    encode_tx: Vec<Sender<player::PlayerPipeline>>,
    encode_threads: Vec<Thread>,
    next_player: AtomicU64,
    joins: Mutex<Vec<JoinHandle<()>>>,
    pacer_stats: Arc<PacerStats>,
}

/// Threads for a `[player] *_workers` setting (0 = one per core).
pub(crate) fn worker_count(configured: usize) -> usize {
    if configured > 0 {
        configured
    } else {
        thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    }
}

fn spawn<F: FnOnce() + Send + 'static>(name: String, f: F) -> Result<JoinHandle<()>, EngineError> {
    let watch = fault::Watch(name.clone());
    thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let _watch = watch;
            f()
        })
        .map_err(|source| EngineError::Spawn { name, source })
}

impl Engine {
    /// Starts the workers, helper pool, pacer and disposal thread; tracks are opened through
    /// `sources` (on the helper pool: opening blocks).
    pub fn start(config: &Config, sources: Arc<SourceManager>) -> Result<Engine, EngineError> {
        let opener: Opener =
            Arc::new(move |track: &TrackData| sources.open(track).map_err(|e| e.to_exception()));
        Engine::start_with_opener(config, opener)
    }

    /// Like `start`, with any opener (tests and perf open local files directly).
    pub fn start_with_opener(config: &Config, opener: Opener) -> Result<Engine, EngineError> {
        let p = &config.player;
        let settings = Settings {
            complexity: p.opus_encoding_quality.min(10),
            resampling: p.resampling_quality,
            stuck_threshold_ms: p.track_stuck_threshold_ms,
            // A quarter of `buffer_duration_ms` (100 ms by default, 60–200): decoded audio is
            // big (188 KiB per second per player, 16-bit) and the compressed read-ahead, not this
            // ring, absorbs network stalls; it only covers a decode worker's turn.
            pcm_ring_ms: (p.buffer_duration_ms / 4).clamp(60, 200),
            realtime_pacer: p.realtime_pacer,
            limiter: p.limiter,
        };
        // Fail early on settings libopus refuses rather than on the first player.
        crate::encode::OpusEncoder::new(settings.complexity)?;

        let n_decode = worker_count(p.decode_workers);
        let n_encode = worker_count(p.encode_workers);
        let n_pacers = pacers::shard_count(p.pacer_threads);
        let mut pacer_tx = Vec::new();
        let mut pacer_rx = Vec::new();
        for _ in 0..n_pacers {
            let (tx, rx) = channel::unbounded();
            pacer_tx.push(tx);
            pacer_rx.push(rx);
        }
        let (helper_tx, helper_rx) = channel::unbounded();
        let (dispose_tx, dispose_rx) = channel::unbounded();
        let mut decode_tx = Vec::new();
        let mut decode_rx = Vec::new();
        for _ in 0..n_decode {
            let (tx, rx) = channel::unbounded();
            decode_tx.push(tx);
            decode_rx.push(rx);
        }
        let shared = Arc::new(Shared {
            settings,
            shutdown: AtomicBool::new(false),
            opener,
            pacers: pacers::Pacers::new(
                pacer_tx,
                pacers::shard_capacity(p.pacer_players_per_thread),
            ),
            helper_tx,
            dispose_tx,
            decode_tx,
            decode_threads: Mutex::new(Vec::new()),
            next_decode: AtomicU64::new(0),
            cleanup_ms: AtomicU64::new(CLEANUP_MS),
            io: readahead::IoPool::new(),
            helpers: helper::Pool::default(),
        });
        let mut joins = Vec::new();

        {
            let s = shared.clone();
            joins.push(spawn("basalt-dispose".into(), move || {
                disposal::run(s, dispose_rx)
            })?);
        }
        for _ in 0..helper::HELPER_THREADS {
            let h = helper::spawn_helper(&shared, helper_rx.clone()).map_err(|source| {
                EngineError::Spawn {
                    name: "basalt-open".into(),
                    source,
                }
            })?;
            joins.push(h);
        }
        for (i, rx) in decode_rx.into_iter().enumerate() {
            let s = shared.clone();
            let h = spawn(format!("basalt-decode-{i}"), move || {
                worker::run_decode(s, rx)
            })?;
            shared
                .decode_threads
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(h.thread().clone());
            joins.push(h);
        }
        let decode_threads: Vec<Thread> = shared
            .decode_threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut encode_tx = Vec::new();
        let mut encode_threads = Vec::new();
        for i in 0..n_encode {
            let (tx, rx) = channel::unbounded();
            let s = shared.clone();
            let dt = decode_threads.clone();
            let h = spawn(format!("basalt-encode-{i}"), move || {
                worker::run_encode(s, rx, dt)
            })?;
            encode_threads.push(h.thread().clone());
            encode_tx.push(tx);
            joins.push(h);
        }
        let pacer_stats = Arc::new(PacerStats::default());
        for (i, rx) in pacer_rx.into_iter().enumerate() {
            let s = shared.clone();
            let et = encode_threads.clone();
            let st = pacer_stats.clone();
            // Shard 0 keeps the historical name (tools look for it).
            let name = if i == 0 {
                "basalt-pacer".to_string()
            } else {
                format!("basalt-pacer-{i}")
            };
            joins.push(spawn(name, move || pacer::run(s, i, rx, et, st))?);
        }
        log::info!(
            "engine started: {n_decode} decode workers, {n_encode} encode workers, \
             up to {n_pacers} pacer threads of {} players",
            shared.pacers.capacity()
        );
        Ok(Engine {
            shared,
            encode_tx,
            encode_threads,
            next_player: AtomicU64::new(0),
            joins: Mutex::new(joins),
            pacer_stats,
        })
    }

    /// Creates an idle player (volume 100, not paused, no filters, no track, no sink).
    pub fn create_player(
        &self,
        guild_id: GuildId,
        events: crossbeam::channel::Sender<PlayerEvent>,
    ) -> PlayerHandle {
        let id = self.next_player.fetch_add(1, Ordering::Relaxed);
        let (cmd_tx, cmd_rx) = channel::unbounded();
        let shared = Arc::new(PlayerShared::default());
        let w = (id as usize) % self.encode_tx.len();
        let _ = shared.waker.set(self.encode_threads[w].clone());
        let (player, entry) = player::PlayerPipeline::new(
            id,
            guild_id,
            cmd_rx,
            events,
            shared.clone(),
            self.shared.clone(),
        );
        let shard = self.shared.pacers.assign();
        entry.link.shard.store(shard, Ordering::Release);
        let _ = self
            .shared
            .pacers
            .to(shard, pacer::PacerMsg::Add(Box::new(entry)));
        let w = (id as usize) % self.encode_tx.len();
        let _ = self.encode_tx[w].send(player);
        self.encode_threads[w].unpark();
        PlayerHandle {
            guild_id,
            commands: cmd_tx,
            shared,
        }
    }

    /// Changes the cleanup threshold (tests; Lavalink's is fixed at 60 s).
    #[doc(hidden)]
    pub fn set_cleanup_threshold(&self, d: std::time::Duration) {
        self.shared
            .cleanup_ms
            .store(d.as_millis() as u64, Ordering::Relaxed);
    }

    /// Threads in the helper pool that opens and seeks sources (it grows under slow opens).
    pub fn helper_threads(&self) -> usize {
        self.shared.helpers.threads()
    }

    /// Pacing lateness and tick counters (perf figures).
    pub fn pacer_stats(&self) -> Arc<PacerStats> {
        self.pacer_stats.clone()
    }

    /// Players each pacer thread holds (tests and perf: how the players are spread).
    pub fn pacer_loads(&self) -> Vec<usize> {
        let p = &self.shared.pacers;
        (0..p.count()).map(|i| p.load(i)).collect()
    }

    /// Stops and joins every engine thread. Players still alive are dropped silently.
    pub fn shutdown(&self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        for t in &self.encode_threads {
            t.unpark();
        }
        for t in self
            .shared
            .decode_threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            t.unpark();
        }
        let joins: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.joins.lock().unwrap_or_else(|e| e.into_inner()));
        for j in joins {
            let _ = j.join();
        }
        self.shared.io.shutdown();
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown();
    }
}
