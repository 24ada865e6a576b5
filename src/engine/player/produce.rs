//! Frame production: turning the feed (PCM, or Opus packets) into the next paced frame
//! through the look-back, the filter chain, WASM filters, volume and the output stage,
//! and the rewind that makes queued frames again when a change must be heard at once. The
//! track state machine (commands, play, seek, end, events) is in the parent module.

use super::*;
use crate::audio_format::{from_pcm, pop_pcm, PcmSample};

impl PlayerPipeline {
    /// Frames of the current generation queued for the pacer and not sent yet. Stale frames
    /// left in the ring by a rewind do not count: the pacer skips them, and counting them
    /// made the tick after every change go out empty (the change was heard a tick late,
    /// after a gap).
    pub(super) fn live_queued(&self) -> usize {
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
    pub(super) fn rewind(&mut self, replay: bool) {
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

    /// Reserves the stage (a command or a track opening, never a frame): staging for one
    /// Opus packet's audio plus the chain's longest pull, which follows the timescale
    /// factors set so far (grows with them).
    /// A PCM track whose ring holds a whole pull needs no stage (it is read straight from
    /// the ring); one whose pull is larger gathers it there. Reserved when a track's feed
    /// arrives and when filters change, so a player reserves only what its track can use.
    pub(super) fn reserve_stage(&mut self) {
        let pull = self
            .chain
            .as_ref()
            .map_or(basalt_dsp::FRAME, |c| c.max_input());
        let want = match self.track.as_ref().and_then(|t| t.feed.as_ref()) {
            None => return,
            Some(Feed::Pcm(c)) if pull * 2 <= c.buffer().capacity() => return,
            Some(Feed::Pcm(_)) => pull * 2,
            Some(Feed::Opus(_)) => (STAGE_FRAMES + pull) * 2,
        };
        if self.stage.capacity() < want {
            self.stage.reserve_exact(want - self.stage.len());
        }
    }

    pub(super) fn chain_on(&self) -> bool {
        self.chain.as_ref().is_some_and(|c| c.is_active())
    }

    pub(super) fn passthrough_allowed(&self) -> bool {
        #[cfg(feature = "wasm-plugins")]
        if self.wasm.active() {
            return false;
        }
        !self.chain_on() && self.volume == 100
    }

    /// Produces one frame into the ring.
    pub(super) fn produce(&mut self, scratch: &mut Scratch) -> Made {
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
                    to_samples(p, &mut scratch.input[..FRAME_SAMPLES]);
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
            c.process(
                &scratch.input[..have * 2],
                &mut scratch.pcm[..],
                &mut scratch.chain,
            );
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
                    pop_pcm(c, dst);
                    t.popped += want as u64;
                    Made::Frame
                } else if eof && avail > 0 {
                    pop_pcm(c, &mut dst[..avail]);
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
        c: &mut rtrb::Consumer<PcmSample>,
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
            stage.extend(a.iter().chain(b).map(|&s| from_pcm(s)));
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
