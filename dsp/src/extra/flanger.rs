//! Top-level `flanger` (NodeLink's fields): a delay swept between 0 and 2·depth·5 ms by a
//! sine LFO at `rate`, fed back by `feedback`; out = dry + delayed (as NodeLink, so up to
//! +6 dB on peaks of the comb). One delay line per channel (NodeLink shares one between
//! both channels, a flaw not copied). Active iff rate and depth > 0.

use super::delay::Delay;
use super::osc::{advance, Quad};
use super::{clampf, PER_MS};
use crate::lfo::Phase;
use crate::simd::Ramp;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Flanger {
    pub rate: f32,
    pub depth: f32,
    pub feedback: f32,
}

impl Flanger {
    pub fn active(&self) -> bool {
        self.rate > 0.0 && self.depth > 0.0
    }
}

/// Half the sweep at depth 1, ms.
const SWEEP_MS: f32 = 5.0;

pub(crate) struct FlangerStage {
    lines: [Delay; 2],
    lfo: Phase,
    half: Ramp,
    feedback: Ramp,
}

impl FlangerStage {
    pub fn new() -> Self {
        FlangerStage {
            lines: [Delay::default(), Delay::default()],
            lfo: Phase::default(),
            half: Ramp::new(0.0),
            feedback: Ramp::new(0.0),
        }
    }

    pub fn set(&mut self, f: &Flanger, fresh: bool) {
        let half = clampf(f.depth, 0.0, 1.0, 0.0) * SWEEP_MS * PER_MS;
        let fb = clampf(f.feedback, 0.0, 0.95, 0.0);
        self.lfo.set_hz(clampf(f.rate, 0.0, 100.0, 0.0) as f64);
        let need = (2.0 * half.max(self.half.cur)).ceil() as usize + 3;
        for line in &mut self.lines {
            line.ensure(need);
        }
        if fresh {
            for line in &mut self.lines {
                line.clear();
            }
            self.half = Ramp::new(half);
            self.feedback = Ramp::new(fb);
        } else {
            self.half.set(half);
            self.feedback.set(fb);
        }
    }

    pub fn reset(&mut self) {
        for line in &mut self.lines {
            line.clear();
        }
    }

    pub fn process(&mut self, l: &mut [f32], r: &mut [f32]) {
        let n = l.len().min(r.len());
        let (half, fb) = (self.half.block(n), self.feedback.block(n));
        for (ch, x) in [&mut l[..n], &mut r[..n]].into_iter().enumerate() {
            let mut osc = Quad::start(&self.lfo, 0.0);
            let line = &mut self.lines[ch];
            for (i, v) in x.iter_mut().enumerate() {
                let k = (i + 1) as f32;
                let (s, _) = osc.next();
                // One sample of minimum delay keeps the feedback loop causal.
                let d = line.tap_frac(1.0 + half.at(k) * (1.0 + s));
                let input = *v;
                line.push(input + fb.at(k) * d);
                *v = input + d;
            }
        }
        advance(&mut self.lfo, n);
    }
}
