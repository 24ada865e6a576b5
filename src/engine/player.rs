//! One player as its encode worker sees it: commands, the track state machine and events,
//! and the frame step (PCM or Opus packets → volume → soft clip → Opus → frame ring).
//!
//! Changes that must be heard at once (volume, filters, pause) *rewind*: the generation is
//! bumped so the pacer drops every queued frame, and the audio of the frames it had not sent
//! yet (kept in a small look-back) is produced again with the new settings. Nothing is
//! skipped or repeated.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, Sender, TryRecvError};

use super::disposal::dispose;
use super::frame::{Frame, FRAME, FRAME_RING, FRAME_SAMPLES, TARGET_DEPTH};
use super::helper::HelperJob;
use super::lookback::{Kept, LookBack, LOOKBACK};
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
}

impl Scratch {
    /// Reserves for timescale's largest input up front, so no frame ever allocates.
    pub fn new() -> Scratch {
        Scratch {
            input: Vec::with_capacity(basalt_dsp::MAX_INPUT * 2),
            pcm: Box::new([0.0; FRAME_SAMPLES]),
            frame: Box::new(Frame::EMPTY),
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
            self.end_track(reason, true);
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
                // Opus tracks decode into the stage whenever they cannot pass through.
                let opus = matches!(feed, Feed::Opus(_));
                t.feed = Some(feed);
                if opus {
                    self.reserve_stage();
                }
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
        let track = self.live(t);
        crate::telemetry::track_exception(&track.info.source_name, e.severity);
        let reason = if t.produced_audio {
            EndReason::Finished
        } else {
            EndReason::LoadFailed
        };
        self.emit(PlayerEventKind::TrackException {
            track,
            exception: e,
        });
        self.end_track(reason, false);
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

    /// Frames of the current generation queued for the pacer and not sent yet. Stale frames
    /// left in the ring by a rewind do not count: the pacer skips them, and counting them
    /// made the tick after every change go out empty (the change was heard a tick late,
    /// after a gap).
    fn live_queued(&self) -> usize {
        let made = self.next_seq.wrapping_sub(self.gen_first_seq);
        let cur = self.link.accept.load(Ordering::Acquire);
        let sent = if (cur >> 32) as u32 == self.gen {
            // The last sent frame, if it is of this generation (its seq is ≥ the first).
            let d = (cur as u32).wrapping_sub(self.gen_first_seq) as i32;
            if d >= 0 {
                d as u32 + 1
            } else {
                0
            }
        } else {
            0
        };
        made.saturating_sub(sent) as usize
    }

    /// Makes queued frames stale; with `replay`, their audio is produced again next.
    fn rewind(&mut self, replay: bool) {
        let (gen, last_sent) = self.link.bump_gen();
        self.gen = gen;
        let first_unsent = {
            let a = last_sent.wrapping_add(1);
            // The later of the two in sequence order (wrapping).
            if (a.wrapping_sub(self.gen_first_seq) as i32) > 0 {
                a
            } else {
                self.gen_first_seq
            }
        };
        let k = self.next_seq.wrapping_sub(first_unsent);
        let k = if k as usize > FRAME_RING { 0 } else { k };
        self.gen_first_seq = self.next_seq;
        let Some(t) = self.track.as_mut() else {
            self.lookback.drop_replays();
            return;
        };
        if !replay {
            t.out_frames = t.out_frames.saturating_sub(k as u64);
            self.lookback.drop_replays();
            return;
        }
        // Only the newest LOOKBACK frames' audio is kept (more are never queued); anything
        // older would be skipped, and the position moves past it.
        let first_unsent = first_unsent.wrapping_add(k.saturating_sub(LOOKBACK as u32));
        let k = k.min(LOOKBACK as u32);
        t.out_frames = t.out_frames.saturating_sub(k as u64);
        // The unsent frames come before whatever was still waiting to be replayed.
        self.lookback.queue_replay(first_unsent, k);
    }

    /// Reserves the stage once (a command or a track opening, never a frame).
    /// Staging for one Opus packet's audio plus the chain's longest pull, which follows
    /// the timescale factors set so far (grows with them; a command, never a frame).
    fn reserve_stage(&mut self) {
        let pull = self
            .chain
            .as_ref()
            .map_or(basalt_dsp::FRAME, |c| c.max_input());
        let want = (STAGE_FRAMES + pull) * 2;
        if self.stage.capacity() < want {
            self.stage.reserve_exact(want - self.stage.len());
        }
    }

    fn chain_on(&self) -> bool {
        self.chain.as_ref().is_some_and(|c| c.is_active())
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

    fn passthrough_allowed(&self) -> bool {
        #[cfg(feature = "wasm-plugins")]
        if self.wasm.active() {
            return false;
        }
        !self.chain_on() && self.volume == 100
    }

    /// Produces one frame into the ring.
    fn produce(&mut self, scratch: &mut Scratch) -> Made {
        let Some(t) = self.track.as_ref() else {
            return Made::Underrun;
        };
        if t.end_ms.is_some_and(|e| t.position() >= e) {
            return Made::End;
        }
        let chain_on = self.chain_on();
        let need = match self.chain.as_ref() {
            Some(c) if chain_on => c.input_needed().clamp(1, basalt_dsp::MAX_INPUT),
            _ => FRAME,
        };
        if scratch.input.len() < need.max(FRAME) * 2 {
            // Within the reserved capacity: touches memory, never allocates.
            scratch.input.resize(need.max(FRAME) * 2, 0.0);
        }
        let slot = (self.next_seq as usize) % LOOKBACK;
        let mut packet_len = 0usize;
        let mut have = need;
        // Changes every frame can leave an old replay entry whose slot this frame reuses:
        // `next_replay` drops it rather than replay the wrong audio.
        if let Some(seq) = self.lookback.next_replay(slot) {
            match self.lookback.get(seq) {
                Kept::Packet(p) => {
                    *self.last_packet = *p;
                    packet_len = self.last_packet.len as usize;
                }
                Kept::Pcm(p) => {
                    scratch.input[..FRAME_SAMPLES].copy_from_slice(p);
                    have = FRAME;
                }
            }
        } else {
            match self.pull(need, &mut packet_len, scratch) {
                Made::Frame => {}
                other => return other,
            }
        }
        if packet_len > 0 {
            self.lookback.store_packet(slot, &self.last_packet);
            if self.passthrough_allowed() {
                scratch.frame.data[..packet_len].copy_from_slice(self.last_packet.bytes());
                scratch.frame.len = packet_len as u16;
                self.last_was_packet = true;
                return self.push_frame(&mut scratch.frame);
            }
            // Filters or volume need PCM: decode the packet here.
            let Some(Some(Feed::Opus(of))) = self.track.as_mut().map(|t| t.feed.as_mut()) else {
                return Made::Underrun;
            };
            match of.decoder.decode_float(
                self.last_packet.bytes(),
                &mut scratch.input[..FRAME_SAMPLES],
                false,
            ) {
                Ok(n) if n == FRAME => {}
                _ => scratch.input[..FRAME_SAMPLES].fill(0.0),
            }
            have = FRAME;
        } else {
            // Only whole 20 ms inputs can be produced again (not timescale's odd sizes).
            self.lookback.store_pcm(
                slot,
                (have == FRAME).then(|| &scratch.input[..FRAME_SAMPLES]),
            );
        }
        self.last_was_packet = false;
        // Without filters the input (already kept in the look-back) is finished in place.
        let pcm: &mut [f32] = if let (true, Some(c)) = (chain_on, self.chain.as_mut()) {
            c.process(&scratch.input[..have * 2], &mut scratch.pcm[..]);
            &mut scratch.pcm[..]
        } else {
            &mut scratch.input[..FRAME_SAMPLES]
        };
        #[cfg(feature = "wasm-plugins")]
        if let Some((filter, fault)) = self.wasm.process(pcm) {
            self.wasm_fault(filter, fault);
        }
        self.player_volume.apply(pcm, self.volume);
        match self.limiter.as_mut() {
            Some(l) => l.process(pcm),
            None => basalt_dsp::soft_clip(pcm),
        }
        match crate::telemetry::timed_encode(|| {
            self.encoder.encode(pcm, &mut scratch.frame.data[..])
        }) {
            Ok(n) => scratch.frame.len = n as u16,
            Err(_) => return Made::Underrun,
        }
        self.push_frame(&mut scratch.frame)
    }

    fn push_frame(&mut self, frame: &mut Frame) -> Made {
        let Some(t) = self.track.as_mut() else {
            return Made::Underrun;
        };
        t.out_frames += 1;
        frame.gen = self.gen;
        frame.seq = self.next_seq;
        frame.end_ms = t.position();
        frame.track = self.track_no;
        self.next_seq = self.next_seq.wrapping_add(1);
        if self.frames.push(*frame).is_err() {
            // Cannot happen: the caller checked for room.
            t.out_frames -= 1;
            return Made::Underrun;
        }
        Made::Frame
    }

    /// Takes the next `need` stereo frames from the feed into `scratch.input`, or (Opus
    /// passthrough) the next packet into `self.last_packet` with its length in `packet_len`.
    fn pull(&mut self, need: usize, packet_len: &mut usize, scratch: &mut Scratch) -> Made {
        let passthrough = self.passthrough_allowed();
        let Some(t) = self.track.as_mut() else {
            return Made::Underrun;
        };
        let eof = t.ctl.eof.load(Ordering::Acquire);
        let want = need * 2;
        let dst = &mut scratch.input[..want];
        match t.feed.as_mut() {
            None => Made::Underrun,
            Some(Feed::Pcm(c)) => {
                if want > c.buffer().capacity() || self.stage.len() > self.stage_pos {
                    return Self::pull_staged(
                        c,
                        &mut self.stage,
                        &mut self.stage_pos,
                        &mut t.popped,
                        eof,
                        dst,
                    );
                }
                let avail = c.slots();
                if avail >= want {
                    let _ = c.pop_entire_slice(dst);
                    t.popped += want as u64;
                    Made::Frame
                } else if eof && avail > 0 {
                    let _ = c.pop_entire_slice(&mut dst[..avail]);
                    dst[avail..].fill(0.0);
                    t.popped += avail as u64;
                    Made::Frame
                } else if eof {
                    Made::End
                } else {
                    Made::Underrun
                }
            }
            Some(Feed::Opus(of)) => {
                let staged = self.stage.len() - self.stage_pos;
                if passthrough && staged == 0 {
                    if let Ok(p) = of.packets.peek() {
                        if is_passthrough_packet(p.bytes()) {
                            if let Ok(p) = of.packets.pop() {
                                t.popped += 1;
                                *self.last_packet = p;
                                *packet_len = p.len as usize;
                                return Made::Frame;
                            }
                        }
                    }
                }
                if self.last_was_packet {
                    // Warm the decoder with the packet before, so the switch does not click.
                    let _ = of.decoder.decode_float(
                        self.last_packet.bytes(),
                        &mut scratch.pcm[..],
                        false,
                    );
                    self.last_was_packet = false;
                }
                Self::pull_decoded(
                    of,
                    &mut self.stage,
                    &mut self.stage_pos,
                    &mut t.popped,
                    eof,
                    dst,
                )
            }
        }
    }

    /// Gathers PCM in the stage until `dst` can be filled: timescale can ask for more input
    /// at once than the PCM ring holds, which is kept short for memory's sake.
    fn pull_staged(
        c: &mut rtrb::Consumer<f32>,
        stage: &mut Vec<f32>,
        pos: &mut usize,
        popped: &mut u64,
        eof: bool,
        dst: &mut [f32],
    ) -> Made {
        let want = dst.len();
        if *pos > 0 {
            stage.drain(..*pos);
            *pos = 0;
        }
        // Reserved by SetFilters; the bound keeps a frame from ever allocating.
        let room = stage.capacity() - stage.len();
        let n = c.slots().min(want.saturating_sub(stage.len())).min(room);
        if let Ok(chunk) = c.read_chunk(n) {
            let (a, b) = chunk.as_slices();
            stage.extend_from_slice(a);
            stage.extend_from_slice(b);
            chunk.commit_all();
            *popped += n as u64;
        }
        if stage.len() >= want {
            dst.copy_from_slice(&stage[..want]);
            *pos = want;
            return Made::Frame;
        }
        if eof && c.is_empty() {
            if stage.is_empty() {
                return Made::End;
            }
            let left = stage.len();
            dst[..left].copy_from_slice(stage);
            dst[left..].fill(0.0);
            stage.clear();
            return Made::Frame;
        }
        Made::Underrun
    }

    /// Decodes Opus packets into the stage until `dst` can be filled.
    fn pull_decoded(
        of: &mut OpusFeed,
        stage: &mut Vec<f32>,
        pos: &mut usize,
        popped: &mut u64,
        eof: bool,
        dst: &mut [f32],
    ) -> Made {
        let want = dst.len();
        while stage.len() - *pos < want {
            if *pos > 0 {
                stage.drain(..*pos);
                *pos = 0;
            }
            let Ok(p) = of.packets.pop() else {
                let left = stage.len() - *pos;
                if eof && left > 0 {
                    dst[..left].copy_from_slice(&stage[*pos..]);
                    dst[left..].fill(0.0);
                    stage.clear();
                    *pos = 0;
                    return Made::Frame;
                }
                return if eof { Made::End } else { Made::Underrun };
            };
            *popped += 1;
            let at = stage.len();
            stage.resize(at + 5760 * 2, 0.0);
            match of.decoder.decode_float(p.bytes(), &mut stage[at..], false) {
                Ok(n) => stage.truncate(at + n * 2),
                Err(_) => stage.truncate(at),
            }
        }
        dst.copy_from_slice(&stage[*pos..*pos + want]);
        *pos += want;
        Made::Frame
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
