//! One player as its encode worker sees it. This module: commands, the track state machine
//! (play, seek, stuck, end, fail) and events; `produce`: the frame step (PCM or Opus
//! packets → look-back → filters → volume → output stage → Opus → frame ring); the
//! look-back itself is `engine::lookback`.
//!
//! Changes that must be heard at once (volume, filters, pause) *rewind*: the generation is
//! bumped so the pacer drops every queued frame, and the audio of the frames it had not sent
//! yet (kept in a small look-back) is produced again with the new settings. Nothing is
//! skipped or repeated.

mod produce;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, Sender, TryRecvError};

use super::disposal::dispose;
use super::frame::{Frame, FRAME, FRAME_RING, FRAME_SAMPLES, TARGET_DEPTH};
use super::helper::HelperJob;
use super::lookback::{to_samples, Kept, LookBack, LOOKBACK};
use super::pacer::{PacerEntry, PacerMsg, PlayerLink};
use super::track::{playback_exception, Feed, OpusFeed, Outcome, TrackCtl};
use super::Shared;
use crate::decode::OpusPacket;
use crate::encode::{is_passthrough_packet, OpusEncoder};
use crate::player::{
    EndReason, GuildId, PlayRequest, PlayerCommand, PlayerEvent, PlayerEventKind, PlayerShared,
};
use crate::track::{TrackData, TrackException};

/// A track that stays stuck this many stuck thresholds ends with a TrackException.
const DEAD_AFTER_STUCK: u64 = 3;
/// Opus decode staging: up to 120 ms decoded; a chain's longest pull is added to it.
const STAGE_FRAMES: usize = 5760;

/// Buffers used only while one frame is made. An encode worker serves its players one at a
/// time, so it owns one set for all of them instead of each player holding its own.
pub struct Scratch {
    /// Chain input of the frame being made (`input_needed()` stereo frames).
    input: Vec<f32>,
    pcm: Box<[f32; FRAME_SAMPLES]>,
    frame: Box<Frame>,
    /// The filter chains' per-frame buffers (planar audio, crossfade copies, timescale's
    /// search work): ≈ 45 KiB a player with filters no longer holds.
    chain: Box<basalt_dsp::ChainWork>,
}

impl Scratch {
    /// Reserves for timescale's largest input up front, so no frame ever allocates.
    pub fn new() -> Scratch {
        Scratch {
            input: Vec::with_capacity(basalt_dsp::MAX_INPUT * 2),
            pcm: Box::new([0.0; FRAME_SAMPLES]),
            frame: Box::new(Frame::EMPTY),
            chain: Box::new(basalt_dsp::ChainWork::new()),
        }
    }
}

/// What one service pass did, for the worker.
pub struct Step {
    /// The decode workers have work: PCM was consumed, or a seek was asked (it starts at
    /// once rather than when a decode worker next looks).
    pub consumed: bool,
    pub remove: bool,
}

enum Made {
    Frame,
    Underrun,
    End,
}

/// The current track on the encode side.
struct Active {
    track: Arc<TrackData>,
    ctl: Arc<TrackCtl>,
    feed: Option<Feed>,
    end_ms: Option<i64>,
    /// Position of the last seek (or start) and frames output since: the track position.
    base_ms: i64,
    out_frames: u64,
    produced_audio: bool,
    awaiting_seek: Option<u32>,
    /// Units popped from the feed ring (samples or packets), for the seek protocol.
    popped: u64,
    last_audio: Instant,
    stuck_sent: bool,
}

impl Active {
    fn position(&self) -> i64 {
        self.base_ms + self.out_frames as i64 * 20
    }
}

/// The engine's half of a player: its track state machine and frame production, run by
/// one encode worker. Names: `server::session::Player` is the control plane's record of
/// a player (what REST shows), `player::PlayerHandle` is how the control plane reaches
/// this pipeline, `player::PlayerShared` the counters both read.
pub struct PlayerPipeline {
    guild_id: GuildId,
    cmds: Receiver<PlayerCommand>,
    events: Sender<PlayerEvent>,
    shared: Arc<PlayerShared>,
    link: Arc<PlayerLink>,
    engine: Arc<Shared>,
    frames: rtrb::Producer<Frame>,
    volume: u16,
    paused: bool,
    filters: Box<basalt_dsp::Filters>,
    /// Built on the first filter set that needs it (its buffers are large; most players
    /// never use filters).
    chain: Option<Box<basalt_dsp::FilterChain>>,
    player_volume: basalt_dsp::PlayerVolume,
    /// `[player] limiter`: ends the path instead of the soft clip (boxed: most nodes run
    /// without it).
    limiter: Option<Box<basalt_dsp::Limiter>>,
    /// Run-time WASM filters, after the chain (handles into this worker's instances).
    #[cfg(feature = "wasm-plugins")]
    wasm: crate::plugin::wasm::Uses,
    encoder: OpusEncoder,
    gen: u32,
    gen_first_seq: u32,
    next_seq: u32,
    /// The input of the newest frames, to make queued frames again when a change must be
    /// heard at once (`lookback`).
    lookback: LookBack,
    /// Decoded Opus audio, or PCM gathered for an input larger than the PCM ring, not yet
    /// consumed (`stage_pos..`). Reserved when a track or filter first needs it.
    stage: Vec<f32>,
    stage_pos: usize,
    /// The last packet passed through, to warm the decoder when filters switch on.
    last_packet: Box<OpusPacket>,
    last_was_packet: bool,
    track: Option<Active>,
    /// Number of the current track (frames carry it), 0 when none.
    track_no: u32,
    handles_gone: bool,
    /// A seek was asked, or pre-seek audio dropped from the feed: the worker wakes the decode
    /// workers, so the seek starts (and its audio arrives) before the next tick.
    wake_decoders: bool,
    destroyed: bool,
    unread_since: Option<Instant>,
}

impl PlayerPipeline {
    pub(crate) fn new(
        id: u64,
        guild_id: GuildId,
        cmds: Receiver<PlayerCommand>,
        events: Sender<PlayerEvent>,
        shared: Arc<PlayerShared>,
        engine: Arc<Shared>,
    ) -> (PlayerPipeline, PacerEntry) {
        let (prod, cons) = rtrb::RingBuffer::new(FRAME_RING);
        let link = Arc::new(PlayerLink::default());
        let encoder = OpusEncoder::new(engine.settings.complexity)
            .or_else(|_| OpusEncoder::new(10))
            .expect("libopus accepts complexity 10 at 48 kHz stereo");
        let entry = PacerEntry {
            id,
            served: 0,
            frames: cons,
            link: link.clone(),
            shared: shared.clone(),
            sink: None,
        };
        let limiter = engine.settings.limiter.then(|| {
            Box::new(basalt_dsp::Limiter::new(
                basalt_dsp::limiter::DEFAULT_ATTACK_MS,
                basalt_dsp::limiter::DEFAULT_RELEASE_MS,
            ))
        });
        let p = PlayerPipeline {
            guild_id,
            cmds,
            events,
            shared,
            link,
            engine,
            frames: prod,
            volume: 100,
            paused: false,
            filters: Box::default(),
            chain: None,
            player_volume: basalt_dsp::PlayerVolume::new(),
            limiter,
            #[cfg(feature = "wasm-plugins")]
            wasm: crate::plugin::wasm::Uses::new(),
            encoder,
            gen: 0,
            gen_first_seq: 1,
            next_seq: 1,
            lookback: LookBack::new(),
            stage: Vec::new(),
            stage_pos: 0,
            last_packet: Box::new(OpusPacket::EMPTY),
            last_was_packet: false,
            track: None,
            track_no: 0,
            handles_gone: false,
            wake_decoders: false,
            destroyed: false,
            unread_since: None,
        };
        (p, entry)
    }

    fn emit(&self, kind: PlayerEventKind) {
        let _ = self.events.send(PlayerEvent {
            guild_id: self.guild_id,
            kind,
        });
    }

    /// The track as events carry it: with the live position.
    fn live(&self, t: &Active) -> Arc<TrackData> {
        let mut d = (*t.track).clone();
        d.position = self.shared.position();
        Arc::new(d)
    }

    pub fn service(&mut self, now: Instant, scratch: &mut Scratch) -> Step {
        loop {
            match self.cmds.try_recv() {
                Ok(cmd) => self.command(cmd, now),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.handles_gone = true;
                    break;
                }
            }
            if self.destroyed {
                break;
            }
        }
        let mut step = Step {
            consumed: std::mem::take(&mut self.wake_decoders),
            remove: false,
        };
        if self.destroyed || (self.handles_gone && self.track.is_none()) {
            if !self.destroyed {
                self.destroy();
            }
            step.remove = true;
            return step;
        }
        if self.track.is_none() {
            return step;
        }
        self.poll_outcome();
        if self.track.is_none() {
            return step;
        }
        #[cfg(debug_assertions)]
        super::fault::injected_frame_panic(self.guild_id);
        let connected = self.link.sink_connected.load(Ordering::Acquire);
        if connected {
            self.unread_since = None;
        } else {
            let since = *self.unread_since.get_or_insert(now);
            if now.duration_since(since)
                >= Duration::from_millis(self.engine.cleanup_ms.load(Ordering::Relaxed))
            {
                self.end_track(EndReason::Cleanup, true);
                return step;
            }
        }
        self.resolve_seek();
        step.consumed |= std::mem::take(&mut self.wake_decoders);
        let ready = self
            .track
            .as_ref()
            .is_some_and(|t| t.feed.is_some() && t.awaiting_seek.is_none());
        if !self.paused && ready {
            while self.frames.slots() > 0 && self.live_queued() < TARGET_DEPTH {
                match self.produce(scratch) {
                    Made::Frame => {
                        step.consumed = true;
                        if let Some(t) = self.track.as_mut() {
                            t.last_audio = now;
                            t.produced_audio = true;
                        }
                    }
                    Made::Underrun => break,
                    Made::End => {
                        self.finish_track();
                        break;
                    }
                }
            }
        }
        let being_read = connected && !self.paused;
        let threshold = self.engine.settings.stuck_threshold_ms;
        let mut stuck = None;
        let mut dead = false;
        if let Some(t) = self.track.as_mut() {
            if !being_read || FRAME_RING - self.frames.slots() > 0 {
                t.last_audio = now;
            } else {
                let starved = now.duration_since(t.last_audio);
                if !t.stuck_sent && starved >= Duration::from_millis(threshold) {
                    t.stuck_sent = true;
                    crate::telemetry::track_stuck();
                    stuck = Some(());
                } else if t.stuck_sent
                    && starved >= Duration::from_millis(threshold.saturating_mul(DEAD_AFTER_STUCK))
                {
                    // Endless junk or a dead source: stop playing "nothing" (and stop
                    // downloading: the decode side drops the source with the track).
                    dead = true;
                }
            }
        }
        if dead {
            let e = playback_exception(&format!(
                "basalt::engine::NoAudio: no audio for {} ms",
                threshold.saturating_mul(DEAD_AFTER_STUCK)
            ));
            self.fail_track(e);
            return step;
        }
        if stuck.is_some() {
            if let Some(t) = self.track.as_ref() {
                let track = self.live(t);
                self.emit(PlayerEventKind::TrackStuck {
                    track,
                    threshold_ms: threshold,
                });
            }
        }
        step
    }

    /// Recovers from a panic in this player's step: the current track fails with `e` and
    /// every piece of per-frame state is reset, so the next track plays normally.
    pub fn fault(&mut self, e: TrackException) {
        self.stage.clear();
        self.stage_pos = 0;
        self.lookback.clear();
        self.last_was_packet = false;
        if let Some(c) = self.chain.as_mut() {
            c.reset();
        }
        self.encoder.reset();
        if let Some(t) = self.track.as_ref() {
            // The decode side stops with the track; its feed may be mid-update.
            t.ctl.stop.store(true, Ordering::Release);
            self.end_with_exception(e, true);
        }
    }

    fn command(&mut self, cmd: PlayerCommand, now: Instant) {
        match cmd {
            PlayerCommand::Play(req) => self.play(req, now),
            PlayerCommand::Stop => {
                if self.track.is_some() {
                    self.end_track(EndReason::Stopped, true);
                }
            }
            PlayerCommand::SetPaused(p) => {
                if p != self.paused {
                    self.paused = p;
                    self.shared.paused.store(p, Ordering::Relaxed);
                    if p {
                        self.rewind(true);
                    }
                }
            }
            PlayerCommand::Seek(ms) => self.seek(ms),
            PlayerCommand::SetEndTime(ms) => {
                if let Some(t) = self.track.as_mut() {
                    t.end_ms = Some(ms);
                }
            }
            PlayerCommand::SetVolume(v) => {
                let v = v.min(1000);
                if v != self.volume {
                    self.volume = v;
                    self.rewind(true);
                }
            }
            PlayerCommand::SetFilters(f) => {
                let old = std::mem::replace(&mut self.filters, f);
                if self.chain.is_none() && self.filters.is_active() {
                    // One allocation when a player first uses filters (a command, not a frame).
                    self.chain = Some(Box::new(basalt_dsp::FilterChain::new()));
                }
                if let Some(c) = self.chain.as_mut() {
                    c.update(&self.filters);
                }
                if self.filters.timescale.is_some() {
                    // Timescale may ask for more input than the PCM ring holds.
                    self.reserve_stage();
                }
                dispose(&self.engine, old);
                self.rewind(true);
            }
            #[cfg(feature = "wasm-plugins")]
            PlayerCommand::SetWasmFilters(specs) => {
                for (filter, fault) in self.wasm.apply(specs) {
                    self.wasm_fault(filter, fault);
                }
                self.rewind(true);
            }
            PlayerCommand::AttachSink(sink) => {
                let _ = self
                    .engine
                    .pacers
                    .send(PacerMsg::Attach(self.link.clone(), sink));
            }
            PlayerCommand::DetachSink => {
                let _ = self.engine.pacers.send(PacerMsg::Detach(self.link.clone()));
            }
            PlayerCommand::Destroy => self.destroy(),
        }
    }

    fn destroy(&mut self) {
        if self.track.is_some() {
            self.end_track(EndReason::Stopped, true);
        }
        #[cfg(feature = "wasm-plugins")]
        self.wasm.release();
        let _ = self.engine.pacers.send(PacerMsg::Remove(self.link.clone()));
        self.destroyed = true;
    }

    fn play(&mut self, req: PlayRequest, now: Instant) {
        if self.track.is_some() {
            self.end_track(EndReason::Replaced, true);
        }
        self.paused = req.paused;
        self.shared.paused.store(req.paused, Ordering::Relaxed);
        let ctl = Arc::new(TrackCtl::new(self.shared.waker.get().cloned()));
        let start_ms = if req.track.info.is_stream {
            0
        } else {
            req.start_ms.max(0)
        };
        let _ = self.engine.helper_tx.send(HelperJob::Open {
            track: req.track.clone(),
            ctl: ctl.clone(),
            start_ms,
        });
        self.stage.clear();
        self.stage_pos = 0;
        self.last_was_packet = false;
        self.unread_since = None;
        if let Some(l) = self.limiter.as_mut() {
            // The old track's last few ms must not open the new one.
            l.reset();
        }
        let t = Active {
            track: req.track,
            ctl,
            feed: None,
            end_ms: req.end_ms,
            base_ms: start_ms,
            out_frames: 0,
            produced_audio: false,
            awaiting_seek: None,
            popped: 0,
            last_audio: now,
            stuck_sent: false,
        };
        self.track_no = self.track_no.wrapping_add(1).max(1);
        self.link.track.store(self.track_no, Ordering::Release);
        self.shared.position_ms.store(start_ms, Ordering::Relaxed);
        self.shared.has_track.store(true, Ordering::Relaxed);
        let track = self.live(&t);
        self.track = Some(t);
        self.emit(PlayerEventKind::TrackStart { track });
    }

    fn seek(&mut self, ms: i64) {
        let Some(t) = self.track.as_mut() else { return };
        if t.track.info.is_stream {
            // Ignored; undo the position `PlayerHandle::send` reported optimistically.
            self.shared
                .position_ms
                .store(t.position(), Ordering::Relaxed);
            return;
        }
        let target = ms.max(0);
        if t.end_ms.is_some_and(|e| target >= e) {
            self.end_track(EndReason::Finished, true);
            return;
        }
        let gen = t.ctl.seek_gen.load(Ordering::Relaxed).wrapping_add(1);
        t.ctl.seek_ms.store(target, Ordering::Release);
        t.ctl.seek_gen.store(gen, Ordering::Release);
        t.awaiting_seek = Some(gen);
        self.wake_decoders = true;
        self.rewind(false);
        let t = self.track.as_mut().expect("checked above");
        t.base_ms = target;
        t.out_frames = 0;
        self.shared.position_ms.store(target, Ordering::Relaxed);
        self.stage.clear();
        self.stage_pos = 0;
        if let Some(Feed::Opus(of)) = t.feed.as_mut() {
            let _ = of.decoder.reset_state();
        }
        self.last_was_packet = false;
        if let Some(c) = self.chain.as_mut() {
            c.reset();
        }
        #[cfg(feature = "wasm-plugins")]
        self.wasm.reset();
    }

    /// Once the decode side finished the seek, drops the pre-seek audio still in the ring.
    fn resolve_seek(&mut self) {
        let Some(t) = self.track.as_mut() else { return };
        let (Some(gen), Some(feed)) = (t.awaiting_seek, t.feed.as_mut()) else {
            return;
        };
        if t.ctl.seek_done_gen.load(Ordering::Acquire) != gen {
            return;
        }
        let done_at = t.ctl.seek_done_at.load(Ordering::Acquire);
        let n = done_at.saturating_sub(t.popped) as usize;
        let dropped = match feed {
            Feed::Pcm(c) => {
                let n = n.min(c.slots());
                if let Ok(ch) = c.read_chunk(n) {
                    ch.commit_all();
                }
                n
            }
            Feed::Opus(of) => {
                let n = n.min(of.packets.slots());
                for _ in 0..n {
                    let _ = of.packets.pop();
                }
                n
            }
        };
        t.popped += dropped as u64;
        t.awaiting_seek = None;
        // A full ring of pre-seek audio held the decoder back.
        self.wake_decoders |= dropped > 0;
    }

    fn poll_outcome(&mut self) {
        let Some(t) = self.track.as_mut() else { return };
        if t.feed.is_some() && !t.ctl.eof.load(Ordering::Acquire) {
            return;
        }
        match t.ctl.outcome_rx.try_recv() {
            Ok(Outcome::Opened(feed)) => {
                // Opus tracks decode into the stage whenever they cannot pass through; PCM
                // tracks use it only for pulls longer than their ring.
                t.feed = Some(feed);
                self.reserve_stage();
            }
            Ok(Outcome::Failed(e)) => {
                if t.feed.is_none() {
                    self.fail_track(e);
                } else {
                    // Play out what was decoded, then report (see finish_track).
                    let _ = t.ctl.outcome_tx.try_send(Outcome::Failed(e));
                }
            }
            Err(_) => {}
        }
    }

    /// The feed ran out: a natural end, or the failure the decoder reported.
    fn finish_track(&mut self) {
        let failure = self
            .track
            .as_ref()
            .and_then(|t| match t.ctl.outcome_rx.try_recv() {
                Ok(Outcome::Failed(e)) => Some(e),
                _ => None,
            });
        match failure {
            Some(e) => self.fail_track(e),
            None => self.end_track(EndReason::Finished, false),
        }
    }

    fn fail_track(&mut self, e: TrackException) {
        let Some(t) = self.track.as_ref() else { return };
        crate::telemetry::track_exception(&t.track.info.source_name, e.severity);
        self.end_with_exception(e, false);
    }

    /// TrackExceptionEvent, then the track ends (`finished` if it played anything, else
    /// `loadFailed`, as Lavalink reports it).
    fn end_with_exception(&mut self, e: TrackException, drop_queued: bool) {
        let Some(t) = self.track.as_ref() else { return };
        let track = self.live(t);
        let reason = if t.produced_audio {
            EndReason::Finished
        } else {
            EndReason::LoadFailed
        };
        self.emit(PlayerEventKind::TrackException {
            track,
            exception: e,
        });
        self.end_track(reason, drop_queued);
    }

    /// Ends the current track. `drop_queued`: frames already queued are not sent (stop,
    /// replace, cleanup) rather than played out (natural end).
    fn end_track(&mut self, reason: EndReason, drop_queued: bool) {
        if drop_queued {
            self.rewind(false);
        }
        let Some(t) = self.track.take() else { return };
        t.ctl.stop.store(true, Ordering::Release);
        let mut d = (*t.track).clone();
        d.position = self.shared.position();
        self.link.track.store(0, Ordering::Release);
        self.shared.has_track.store(false, Ordering::Relaxed);
        self.shared.position_ms.store(0, Ordering::Relaxed);
        self.lookback.drop_replays();
        self.emit(PlayerEventKind::TrackEnd {
            track: Arc::new(d),
            reason,
        });
        if let Some(feed) = t.feed {
            dispose(&self.engine, Box::new(feed));
        }
    }

    /// A WASM filter stopped for this player: the client hears of it, the audio goes on.
    #[cfg(feature = "wasm-plugins")]
    fn wasm_fault(&self, filter: String, fault: crate::plugin::wasm::Fault) {
        log::warn!(
            "player {}: WASM filter {filter} switched off: {fault}",
            self.guild_id
        );
        self.emit(PlayerEventKind::WasmFilterFault {
            filter,
            reason: fault.to_string(),
        });
    }
}

impl Drop for PlayerPipeline {
    fn drop(&mut self) {
        if let Some(t) = self.track.take() {
            t.ctl.stop.store(true, Ordering::Release);
        }
    }
}

#[allow(dead_code)]
fn _assert_send() {
    fn is_send<T: Send>() {}
    is_send::<PlayerPipeline>();
    let _ = playback_exception;
}
