//! Echo: a feedback delay per channel. One core serves both dialects:
//! NodeLink's top-level `{delay ms, feedback, mix}` (out = x·(1−mix) + d·mix, the line fed
//! x + d·feedback) and LavaDSPX's comb `{echoLength s, decay}` (y = x + decay·y[n−L]),
//! which is the same loop with dry 1 and wet = feedback = decay.
//!
//! A delay change crossfades from the old tap to the new one over 10 ms (no pitch glide,
//! no click); gains ramp. The line grows when a longer delay is configured.

use super::delay::Delay;
use super::{clampf, PER_MS};
use crate::chain::SAMPLE_RATE;
use crate::simd::Ramp;

/// Top-level `echo`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Echo {
    /// NodeLink: `delay` ms (0–2000), `feedback` (0–1), `mix` (0–1); active iff delay and
    /// mix > 0.
    Delay { delay: f32, feedback: f32, mix: f32 },
    /// LavaDSPX/Rustalink fields at top level (`echoLength` s, capped at 5; `decay`,
    /// capped at 1); active iff both > 0.
    Comb { echo_length: f32, decay: f32 },
}

/// Longest LavaDSPX echo (Rustalink's cap): the client must not size our buffers.
pub const MAX_ECHO_LENGTH_S: f32 = 5.0;

/// Bound on what the feedback loop stores: with feedback 1 a held tone would otherwise
/// grow without limit; no sane setting gets near it.
const LOOP_LIMIT: f32 = 4.0;

impl Echo {
    pub fn active(&self) -> bool {
        match *self {
            Echo::Delay { delay, mix, .. } => delay > 0.0 && mix > 0.0,
            Echo::Comb { echo_length, decay } => echo_length > 0.0 && decay > 0.0,
        }
    }

    pub(crate) fn params(&self) -> EchoParams {
        match *self {
            Echo::Delay {
                delay,
                feedback,
                mix,
            } => {
                let mix = clampf(mix, 0.0, 1.0, 0.0);
                EchoParams {
                    delay: clampf(delay, 0.0, 2000.0, 0.0) * PER_MS,
                    dry: 1.0 - mix,
                    wet: mix,
                    feedback: clampf(feedback, 0.0, 1.0, 0.0),
                }
            }
            Echo::Comb { echo_length, decay } => EchoParams::comb(echo_length, decay),
        }
    }
}

/// What the echo core runs on: delay in samples and three gains.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct EchoParams {
    pub delay: f32,
    pub dry: f32,
    pub wet: f32,
    pub feedback: f32,
}

impl EchoParams {
    /// LavaDSPX's comb: a ring of ⌊sr·echoLength⌋ samples, `y = x + ring·decay`.
    pub fn comb(echo_length: f32, decay: f32) -> EchoParams {
        let len = clampf(echo_length, 0.0, MAX_ECHO_LENGTH_S, 0.0);
        let decay = clampf(decay, 0.0, 1.0, 0.0);
        EchoParams {
            delay: (SAMPLE_RATE * len).floor().max(1.0),
            dry: 1.0,
            wet: decay,
            feedback: decay,
        }
    }
}

pub(crate) struct EchoStage {
    lines: [Delay; 2],
    delay: f32,
    old_delay: f32,
    /// Crossfade from the `old_delay` tap to the `delay` tap.
    x: Ramp,
    dry: Ramp,
    wet: Ramp,
    feedback: Ramp,
}

impl EchoStage {
    pub fn new() -> Self {
        EchoStage {
            lines: [Delay::default(), Delay::default()],
            delay: 1.0,
            old_delay: 1.0,
            x: Ramp::new(1.0),
            dry: Ramp::new(1.0),
            wet: Ramp::new(0.0),
            feedback: Ramp::new(0.0),
        }
    }

    /// Configure (control thread: may grow the lines). `fresh`: the stage was silent, so
    /// parameters jump and the lines are cleared of what they held when last used.
    pub fn set(&mut self, p: EchoParams, fresh: bool) {
        let d = p.delay.max(1.0);
        let keep = if fresh {
            0.0
        } else {
            self.delay.max(self.old_delay)
        };
        let need = d.max(keep).ceil() as usize + 1;
        for line in &mut self.lines {
            line.ensure(need);
        }
        if fresh {
            for line in &mut self.lines {
                line.clear();
            }
            self.delay = d;
            self.old_delay = d;
            self.x = Ramp::new(1.0);
            self.dry = Ramp::new(p.dry);
            self.wet = Ramp::new(p.wet);
            self.feedback = Ramp::new(p.feedback);
            return;
        }
        if d != self.delay {
            // Mid-crossfade the old tap is whichever is louder; restart from the new one's
            // predecessor.
            self.old_delay = if self.x.cur < 0.5 {
                self.old_delay
            } else {
                self.delay
            };
            self.delay = d;
            self.x = Ramp::new(0.0);
            self.x.set(1.0);
        }
        self.dry.set(p.dry);
        self.wet.set(p.wet);
        self.feedback.set(p.feedback);
    }

    pub fn reset(&mut self) {
        for line in &mut self.lines {
            line.clear();
        }
    }

    pub fn process(&mut self, l: &mut [f32], r: &mut [f32]) {
        let n = l.len().min(r.len());
        let (dry, wet, fb) = (self.dry.block(n), self.wet.block(n), self.feedback.block(n));
        let xr = self.x.block(n);
        let fading = !xr.constant() || xr.start != 1.0;
        let (d_new, d_old) = (self.delay, self.old_delay);
        for (ch, x) in [&mut l[..n], &mut r[..n]].into_iter().enumerate() {
            let line = &mut self.lines[ch];
            for (i, v) in x.iter_mut().enumerate() {
                let k = (i + 1) as f32;
                let mut d = line.tap_frac(d_new);
                if fading {
                    let o = line.tap_frac(d_old);
                    d = o + xr.at(k) * (d - o);
                }
                let input = *v;
                line.push((input + fb.at(k) * d).clamp(-LOOP_LIMIT, LOOP_LIMIT));
                *v = dry.at(k) * input + wet.at(k) * d;
            }
        }
    }
}
