//! Top-level `spatial` (NodeLink's fields): cross-feed. Each channel runs through its own
//! delay line (5 ms ± 2 ms swept by an LFO at `rate`, opposite sign per side, feedback
//! −0.3) and is mixed into the *other* channel: `L' = L·(1 − depth/2) + delayedR·depth/2`.
//! Active iff depth > 0.

use super::delay::Delay;
use super::osc::{advance, Quad};
use super::{clampf, PER_MS};
use crate::lfo::Phase;
use crate::simd::Ramp;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spatial {
    pub depth: f32,
    pub rate: f32,
}

impl Spatial {
    pub fn active(&self) -> bool {
        self.depth > 0.0
    }
}

const CENTRE_MS: f32 = 5.0;
const SWING_MS: f32 = 2.0;
const FEEDBACK: f32 = -0.3;

pub(crate) struct SpatialStage {
    lines: [Delay; 2],
    lfo: Phase,
    depth: Ramp,
}

impl SpatialStage {
    pub fn new() -> Self {
        SpatialStage {
            lines: [Delay::default(), Delay::default()],
            lfo: Phase::default(),
            depth: Ramp::new(0.0),
        }
    }

    pub fn set(&mut self, s: &Spatial, fresh: bool) {
        let need = ((CENTRE_MS + SWING_MS) * PER_MS).ceil() as usize + 2;
        for line in &mut self.lines {
            line.ensure(need);
        }
        self.lfo.set_hz(clampf(s.rate, 0.0, 100.0, 0.0) as f64);
        let depth = clampf(s.depth, 0.0, 1.0, 0.0);
        if fresh {
            for line in &mut self.lines {
                line.clear();
            }
            self.depth = Ramp::new(depth);
        } else {
            self.depth.set(depth);
        }
    }

    pub fn reset(&mut self) {
        for line in &mut self.lines {
            line.clear();
        }
    }

    pub fn process(&mut self, l: &mut [f32], r: &mut [f32]) {
        let n = l.len().min(r.len());
        let depth = self.depth.block(n);
        let mut osc = Quad::start(&self.lfo, 0.0);
        let (c, w) = (CENTRE_MS * PER_MS, SWING_MS * PER_MS);
        let [line_l, line_r] = &mut self.lines;
        for i in 0..n {
            let k = (i + 1) as f32;
            let (s, _) = osc.next();
            let dl = line_l.tap_frac(c + w * s);
            let dr = line_r.tap_frac(c - w * s);
            let (xl, xr) = (l[i], r[i]);
            line_l.push(xl + FEEDBACK * dl);
            line_r.push(xr + FEEDBACK * dr);
            let h = 0.5 * depth.at(k);
            l[i] = xl * (1.0 - h) + dr * h;
            r[i] = xr * (1.0 - h) + dl * h;
        }
        advance(&mut self.lfo, n);
    }
}
