//! The look-back: the input of a player's newest frames (decoded PCM, or the Opus packet
//! passed through), kept so that frames already queued for the pacer can be made again at
//! once when a change must be heard in the next packet (volume, filters, pause). Slots are
//! indexed by frame sequence number modulo [`LOOKBACK`]; the replay queue lists, oldest
//! first, the sequence numbers whose audio is to be produced again.

use crate::decode::OpusPacket;

use super::frame::{FRAME_SAMPLES, TARGET_DEPTH};

/// Slots kept: the frames queued for the pacer (at most `TARGET_DEPTH`) plus the one it
/// may be sending while a change lands.
pub const LOOKBACK: usize = TARGET_DEPTH + 1;

/// PCM is kept as i16 at this scale: ±2.0 full range in steps of 1/16384 (−84 dB, finer
/// than the 16-bit PCM lavaplayer works in), half the memory of f32 (11 KiB per player).
/// Only the one to three frames replayed after a change are ever made from it.
const PCM_SCALE: f32 = 16_384.0;

/// What a slot holds.
pub enum Kept<'a> {
    Packet(&'a OpusPacket),
    /// Interleaved stereo at [`PCM_SCALE`]: turn back into samples with [`to_samples`].
    Pcm(&'a [i16]),
}

/// Writes a kept PCM frame back as f32 samples into `out`.
pub fn to_samples(pcm: &[i16], out: &mut [f32]) {
    for (o, &s) in out.iter_mut().zip(pcm) {
        *o = crate::audio_format::dequantize(s, PCM_SCALE);
    }
}

pub struct LookBack {
    /// PCM slots, reserved on first use (a passthrough player never pays for them).
    pcm: Vec<i16>,
    pkt: Vec<OpusPacket>,
    is_packet: [bool; LOOKBACK],
    replay: [u32; LOOKBACK],
    replay_len: usize,
}

impl Default for LookBack {
    fn default() -> Self {
        LookBack::new()
    }
}

impl LookBack {
    /// Reserves room (a player's creation, not a frame); slots are touched only when used.
    pub fn new() -> LookBack {
        LookBack {
            pcm: Vec::with_capacity(LOOKBACK * FRAME_SAMPLES),
            pkt: Vec::with_capacity(LOOKBACK),
            is_packet: [false; LOOKBACK],
            replay: [0; LOOKBACK],
            replay_len: 0,
        }
    }

    /// Forget every slot and every pending replay (a fault, a new track).
    pub fn clear(&mut self) {
        self.replay_len = 0;
        self.is_packet = [false; LOOKBACK];
    }

    /// Drop the pending replays only.
    pub fn drop_replays(&mut self) {
        self.replay_len = 0;
    }

    #[cfg(test)]
    fn pending(&self) -> usize {
        self.replay_len
    }

    /// Queue `k` frames from `first` for replay, ahead of whatever was still pending
    /// (those are older audio that was itself waiting); at most [`LOOKBACK`] in all.
    pub fn queue_replay(&mut self, first: u32, k: u32) {
        let mut q = [0u32; LOOKBACK];
        let mut n = 0;
        for i in 0..(k as usize).min(LOOKBACK) {
            q[n] = first.wrapping_add(i as u32);
            n += 1;
        }
        for &seq in &self.replay[..self.replay_len] {
            if n < LOOKBACK {
                q[n] = seq;
                n += 1;
            }
        }
        self.replay = q;
        self.replay_len = n;
    }

    /// The next frame to produce again, if any, given that the frame about to be made
    /// goes into slot `slot`: pending entries after the first whose slot that frame
    /// reuses are dropped (their audio is about to be overwritten).
    pub fn next_replay(&mut self, slot: usize) -> Option<u32> {
        if self.replay_len > 1 {
            let mut kept = 1;
            for i in 1..self.replay_len {
                if (self.replay[i] as usize) % LOOKBACK != slot {
                    self.replay[kept] = self.replay[i];
                    kept += 1;
                }
            }
            self.replay_len = kept;
        }
        if self.replay_len == 0 {
            return None;
        }
        let seq = self.replay[0];
        self.replay.copy_within(1.., 0);
        self.replay_len -= 1;
        Some(seq)
    }

    /// What frame `seq` was made from.
    pub fn get(&self, seq: u32) -> Kept<'_> {
        let i = (seq as usize) % LOOKBACK;
        if self.is_packet[i] {
            Kept::Packet(&self.pkt[i])
        } else if self.pcm.len() >= (i + 1) * FRAME_SAMPLES {
            Kept::Pcm(&self.pcm[i * FRAME_SAMPLES..(i + 1) * FRAME_SAMPLES])
        } else {
            // Never written: silence (within the reserved capacity, touched once).
            Kept::Pcm(&[0; FRAME_SAMPLES])
        }
    }

    pub fn store_packet(&mut self, slot: usize, p: &OpusPacket) {
        if self.pkt.len() < LOOKBACK {
            self.pkt.resize(LOOKBACK, OpusPacket::EMPTY);
        }
        self.is_packet[slot] = true;
        self.pkt[slot] = *p;
    }

    /// Keeps one frame of PCM, or silence (`None`: an input that was not a whole 20 ms
    /// frame, e.g. timescale's, cannot be produced again).
    pub fn store_pcm(&mut self, slot: usize, pcm: Option<&[f32]>) {
        if self.pcm.len() < LOOKBACK * FRAME_SAMPLES {
            self.pcm.resize(LOOKBACK * FRAME_SAMPLES, 0);
        }
        self.is_packet[slot] = false;
        let dst = &mut self.pcm[slot * FRAME_SAMPLES..(slot + 1) * FRAME_SAMPLES];
        match pcm {
            Some(src) => {
                for (d, &x) in dst.iter_mut().zip(&src[..FRAME_SAMPLES]) {
                    *d = crate::audio_format::quantize(x, PCM_SCALE);
                }
            }
            None => dst.fill(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(v: f32) -> Vec<f32> {
        vec![v; FRAME_SAMPLES]
    }

    fn pcm_of(lb: &LookBack, seq: u32) -> f32 {
        match lb.get(seq) {
            Kept::Pcm(p) => {
                let mut out = [0.0f32; FRAME_SAMPLES];
                to_samples(p, &mut out);
                out[0]
            }
            Kept::Packet(_) => panic!("slot of {seq} holds a packet"),
        }
    }

    #[test]
    fn slots_wrap_and_keep_the_newest_frames() {
        let mut lb = LookBack::new();
        for seq in 0..(LOOKBACK as u32 * 2 + 1) {
            lb.store_pcm(seq as usize % LOOKBACK, Some(&frame(seq as f32 / 8.0)));
        }
        let last = LOOKBACK as u32 * 2;
        for back in 0..LOOKBACK as u32 {
            assert_eq!(pcm_of(&lb, last - back), (last - back) as f32 / 8.0);
        }
    }

    #[test]
    fn kept_pcm_comes_back_within_a_quantisation_step_and_saturates_past_two() {
        let mut lb = LookBack::new();
        let src: Vec<f32> = (0..FRAME_SAMPLES)
            .map(|i| ((i as f32) * 0.37).sin() * 1.2)
            .collect();
        lb.store_pcm(0, Some(&src));
        let Kept::Pcm(p) = lb.get(0) else {
            panic!("pcm")
        };
        let mut out = vec![0.0f32; FRAME_SAMPLES];
        to_samples(p, &mut out);
        for (a, b) in src.iter().zip(&out) {
            assert!((a - b).abs() <= 0.5 / PCM_SCALE, "{a} {b}");
        }
        lb.store_pcm(1, Some(&frame(5.0)));
        assert_eq!(pcm_of(&lb, 1), 32_767.0 / PCM_SCALE);
        lb.store_pcm(2, Some(&frame(f32::NAN)));
        assert_eq!(pcm_of(&lb, 2), 0.0);
    }

    #[test]
    fn packets_and_pcm_share_slots_and_a_partial_input_replays_as_silence() {
        let mut lb = LookBack::new();
        let mut p = OpusPacket::EMPTY;
        p.len = 3;
        lb.store_packet(0, &p);
        lb.store_pcm(1, None);
        assert!(matches!(lb.get(0), Kept::Packet(k) if k.len == 3));
        assert_eq!(pcm_of(&lb, 1), 0.0);
        lb.store_pcm(0, Some(&frame(0.5)));
        assert_eq!(pcm_of(&lb, 0), 0.5);
        lb.clear();
        assert_eq!(lb.pending(), 0);
        assert!(matches!(lb.get(0), Kept::Pcm(_)));
    }

    #[test]
    fn unsent_frames_replay_before_older_pending_ones_capped_at_the_slots() {
        let mut lb = LookBack::new();
        lb.queue_replay(10, 2);
        lb.queue_replay(20, 2);
        // The newer rewind's frames first, then what was still pending, at most LOOKBACK.
        let mut got = Vec::new();
        while let Some(seq) = lb.next_replay(usize::MAX) {
            got.push(seq);
        }
        let mut want = vec![20, 21, 10, 11];
        want.truncate(LOOKBACK);
        assert_eq!(got, want);
        lb.queue_replay(u32::MAX, 2);
        assert_eq!(lb.next_replay(usize::MAX), Some(u32::MAX));
        assert_eq!(lb.next_replay(usize::MAX), Some(0), "sequence numbers wrap");
        lb.queue_replay(5, 100);
        assert_eq!(lb.pending(), LOOKBACK);
        lb.drop_replays();
        assert_eq!(lb.next_replay(0), None);
    }

    #[test]
    fn a_pending_replay_whose_slot_is_about_to_be_reused_is_dropped() {
        let mut lb = LookBack::new();
        lb.queue_replay(0, LOOKBACK as u32);
        // The frame being made goes into slot 1: seq 1's audio is about to be replaced,
        // so it cannot be replayed after it; the first entry always plays.
        let first = lb.next_replay(1);
        assert_eq!(first, Some(0));
        let rest: Vec<u32> = std::iter::from_fn(|| lb.next_replay(1)).collect();
        assert!(!rest.contains(&1), "{rest:?}");
        assert_eq!(rest.len(), LOOKBACK - 2);
    }
}
