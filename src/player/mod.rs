//! The interface between the control plane and the audio engine.
//!
//! The control plane owns sessions and the JSON view of players; the engine owns audio.
//! They meet only here: commands go in over a channel (read by the engine at frame
//! boundaries, so a change is heard in the next 20 ms frame), events come back over a
//! channel, and a few atomics let the control plane read the live state without locks.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use crate::track::{TrackData, TrackException};

pub type GuildId = u64;

/// What the control plane asks a player to do. Sent through `PlayerHandle::send`.
pub enum PlayerCommand {
    /// Start a track, replacing any current one (`TrackEnd(replaced)` is emitted first).
    Play(PlayRequest),
    /// Stop the current track (`TrackEnd(stopped)`).
    Stop,
    SetPaused(bool),
    /// Seek the current track to this position in ms (negative = 0; ignored for streams).
    Seek(i64),
    /// Replace the end marker of the current track (ms, > 0).
    SetEndTime(i64),
    /// Player volume 0–1000 (100 = unity), applied after the filter chain.
    SetVolume(u16),
    /// Replace the whole filter set (already validated by the control plane).
    SetFilters(Box<basalt_dsp::Filters>),
    /// The run-time WASM filters to run after the chain, configured by the control plane
    /// (`pluginFilters` keys of loaded modules).
    #[cfg(feature = "wasm-plugins")]
    SetWasmFilters(Vec<crate::plugin::wasm::Spec>),
    /// Where paced Opus frames go from now on (the guild's voice connection).
    AttachSink(Box<dyn FrameSink>),
    /// Stop sending; the track keeps its state (it is not being read any more).
    DetachSink,
    /// Stop the track (`TrackEnd(stopped)`) and free the player.
    Destroy,
}

pub struct PlayRequest {
    pub track: Arc<TrackData>,
    /// Start position, ms.
    pub start_ms: i64,
    /// End marker, ms, if any.
    pub end_ms: Option<i64>,
    pub paused: bool,
}

/// Receives one paced Opus frame every 20 ms from the pacer thread.
/// Implementations must never block, lock or allocate per frame.
pub trait FrameSink: Send {
    /// One 20 ms Opus frame of audio.
    fn send_frame(&mut self, opus: &[u8]);
    /// Several frames in one go, oldest first: a late tick catching up. A sink that can
    /// batch them (one system call) overrides this.
    fn send_frames(&mut self, frames: &[&[u8]]) {
        for f in frames {
            self.send_frame(f);
        }
    }
    /// The player had no frame this tick (paused, buffering, stopped). The sink sends its
    /// trailing silence frames the first few times and then stays quiet.
    fn no_frame(&mut self);
    /// True while the sink can deliver audio (voice connection ready).
    fn is_connected(&self) -> bool;
}

/// Why a track ended, as written in `TrackEndEvent.reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Finished,
    LoadFailed,
    Stopped,
    Replaced,
    Cleanup,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Finished => "finished",
            EndReason::LoadFailed => "loadFailed",
            EndReason::Stopped => "stopped",
            EndReason::Replaced => "replaced",
            EndReason::Cleanup => "cleanup",
        }
    }
}

/// Something the control plane forwards to the client WebSocket.
#[derive(Debug, Clone)]
pub struct PlayerEvent {
    pub guild_id: GuildId,
    pub kind: PlayerEventKind,
}

/// `track` values carry the live position at the time of the event in `TrackData::position`.
#[derive(Debug, Clone)]
pub enum PlayerEventKind {
    TrackStart {
        track: Arc<TrackData>,
    },
    TrackEnd {
        track: Arc<TrackData>,
        reason: EndReason,
    },
    TrackException {
        track: Arc<TrackData>,
        exception: TrackException,
    },
    TrackStuck {
        track: Arc<TrackData>,
        threshold_ms: u64,
    },
    /// The voice gateway became ready (a playerUpdate follows on the client socket).
    VoiceReady,
    /// The Discord voice gateway closed (`WebSocketClosedEvent`).
    VoiceClosed {
        code: u16,
        reason: String,
        by_remote: bool,
    },
    /// A run-time WASM filter faulted and was switched off for this player
    /// (`WasmFilterFaultEvent`); the audio goes on without it.
    WasmFilterFault {
        filter: String,
        reason: String,
    },
}

/// Live player state written by the engine, read by the control plane.
#[derive(Debug, Default)]
pub struct PlayerShared {
    /// Current track position, ms (0 without a track).
    pub position_ms: AtomicI64,
    /// A track is loaded (playing or paused).
    pub has_track: AtomicBool,
    pub paused: AtomicBool,
    /// Frames handed to the sink, and ticks with no frame, since the player was created
    /// (the pacer's counters; frameStats are derived from them).
    pub frames_sent: AtomicU64,
    pub frames_nulled: AtomicU64,
    /// The engine worker serving this player, woken by `PlayerHandle::send` so a command
    /// is applied at once rather than at the next tick.
    pub waker: std::sync::OnceLock<std::thread::Thread>,
}

impl PlayerShared {
    pub fn position(&self) -> i64 {
        self.position_ms.load(Ordering::Relaxed)
    }
    pub fn is_playing(&self) -> bool {
        self.has_track.load(Ordering::Relaxed) && !self.paused.load(Ordering::Relaxed)
    }
}

/// The control plane's handle on one engine player. Dropping it does not destroy the
/// player: send `Destroy`.
pub struct PlayerHandle {
    pub guild_id: GuildId,
    pub commands: crossbeam::channel::Sender<PlayerCommand>,
    pub shared: Arc<PlayerShared>,
}

impl PlayerHandle {
    /// Queue a command; the engine applies it at the next frame boundary.
    pub fn send(&self, cmd: PlayerCommand) {
        // The engine only drops its receiver when the player is destroyed; a command
        // sent after that has nothing left to act on.
        // A seek is reported at its target at once (Lavalink's PATCH answers with it).
        if let PlayerCommand::Seek(ms) = &cmd {
            if self.shared.has_track.load(Ordering::Relaxed) {
                self.shared
                    .position_ms
                    .store((*ms).max(0), Ordering::Relaxed);
            }
        }
        let _ = self.commands.send(cmd);
        if let Some(t) = self.shared.waker.get() {
            t.unpark();
        }
    }
}
