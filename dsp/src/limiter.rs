//! The output look-ahead limiter: an alternative to the soft clip at the end of every
//! player's path (`[player] limiter`). The soft clip bends every peak above full scale into
//! the curve and so colours loud masters and boosted equalizers; a look-ahead limiter
//! instead lowers the gain just before a peak arrives and releases it slowly, so the
//! waveform keeps its shape and never exceeds full scale.
//!
//! Built on fundsp's `limiter_stereo`: its look-ahead window (= the attack time) delays the
//! output by that long. Construction sizes every buffer (control thread); `process` never
//! allocates.

use fundsp::prelude32::{limiter_stereo, AudioNode, Frame, U2};

use crate::chain::SAMPLE_RATE;

/// Look-ahead (and attack) time: 5 ms = 240 samples of added latency.
pub const DEFAULT_ATTACK_MS: f32 = 5.0;
/// How long the gain takes to come back after a peak.
pub const DEFAULT_RELEASE_MS: f32 = 100.0;

/// One player's limiter state (look-ahead window and gain follower).
pub struct Limiter {
    node: fundsp::prelude32::An<fundsp::prelude32::Limiter<U2>>,
    latency: usize,
}

impl Limiter {
    /// `attack_ms` is clamped to 0.5–50 ms and `release_ms` to 1–2000 ms (a longer window
    /// is latency nobody wants; a shorter one distorts).
    pub fn new(attack_ms: f32, release_ms: f32) -> Limiter {
        let attack = finite_or(attack_ms, DEFAULT_ATTACK_MS).clamp(0.5, 50.0) / 1000.0;
        let release = finite_or(release_ms, DEFAULT_RELEASE_MS).clamp(1.0, 2000.0) / 1000.0;
        let mut node = limiter_stereo(attack, release);
        // fundsp's nodes start at 44.1 kHz: set the rate, then let it size its buffers
        // here rather than on the first frames.
        node.set_sample_rate(SAMPLE_RATE as f64);
        node.allocate();
        let latency = ((SAMPLE_RATE * attack).round() as usize).max(1);
        Limiter { node, latency }
    }

    /// Samples per channel by which the output trails the input.
    pub fn latency(&self) -> usize {
        self.latency
    }

    /// Forget the window and gain (a new track: the old one's tail must not leak into it).
    /// The next [`Limiter::latency`] samples out are silence while the window fills.
    pub fn reset(&mut self) {
        self.node.reset();
    }

    /// Limits interleaved stereo in place. Non-finite samples count as silence (the chain
    /// sanitizes, but the player's volume runs after it).
    pub fn process(&mut self, pcm: &mut [f32]) {
        for s in pcm.chunks_exact_mut(2) {
            let l = if s[0].is_finite() { s[0] } else { 0.0 };
            let r = if s[1].is_finite() { s[1] } else { 0.0 };
            let out = self.node.tick(&Frame::from([l, r]));
            // The follower aims at 1/1.1 of the window's peak; the clamp only catches what
            // its exponential attack leaves over (< 1 %).
            s[0] = out[0].clamp(-1.0, 1.0);
            s[1] = out[1].clamp(-1.0, 1.0);
        }
    }
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("latency", &self.latency)
            .finish()
    }
}

fn finite_or(v: f32, d: f32) -> f32 {
    if v.is_finite() {
        v
    } else {
        d
    }
}
