//! Top-level `spatial` (NodeLink's fields): cross-feed. Each channel runs through its own
//! delay line (5 ms ± 2 ms swept by an LFO at `rate`, opposite sign per side, feedback
//! −0.3) and is mixed into the *other* channel: `L' = L·(1 − depth/2) + delayedR·depth/2`.
//! Active iff depth > 0.

use wide::f32x8;

use super::delay::Delay;
use super::osc::{advance, shifted, Quad};
use super::{clampf, PER_MS};
use crate::lfo::Phase;
use crate::simd::{lane_index1, ld, st, Ramp, LANES};

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
    simd: bool,
}

impl SpatialStage {
    pub fn new(simd: bool) -> Self {
        SpatialStage {
            lines: [Delay::default(), Delay::default()],
            lfo: Phase::default(),
            depth: Ramp::new(0.0),
            simd,
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
        if self.simd {
            self.process_simd(l, r);
        } else {
            self.process_scalar(l, r);
        }
    }

    /// Eight samples at a time (the delays never drop below 3 ms, so every block of eight
    /// reads only older samples).
    fn process_simd(&mut self, l: &mut [f32], r: &mut [f32]) {
        let n = l.len().min(r.len());
        let depth = self.depth.block(n);
        let mut ph = shifted(&self.lfo, 0.0);
        let mut osc = ph.osc();
        let (c, w) = (CENTRE_MS * PER_MS, SWING_MS * PER_MS);
        let (cv, wv, fbv) = (f32x8::splat(c), f32x8::splat(w), f32x8::splat(FEEDBACK));
        let idx = lane_index1();
        let [line_l, line_r] = &mut self.lines;
        let mut i = 0;
        while i + LANES <= n {
            let s = osc.next8(&mut ph);
            let (dl, dr) = (cv + wv * s, cv - wv * s);
            let (xl, xr) = (ld(&l[i..]), ld(&r[i..]));
            let (tl, tr) = if line_l.block_ok(dl) && line_r.block_ok(dr) {
                let (tl, tr) = (line_l.taps8(dl), line_r.taps8(dr));
                line_l.push8(xl + fbv * tl);
                line_r.push8(xr + fbv * tr);
                (tl, tr)
            } else {
                // Not reached once configured (the delays stay ≥ 3 ms); kept exact anyway.
                let (a, b, xa, xb) = (dl.to_array(), dr.to_array(), xl.to_array(), xr.to_array());
                let (mut ta, mut tb) = ([0.0f32; LANES], [0.0f32; LANES]);
                for q in 0..LANES {
                    ta[q] = line_l.tap_frac(a[q]);
                    tb[q] = line_r.tap_frac(b[q]);
                    line_l.push(xa[q] + FEEDBACK * ta[q]);
                    line_r.push(xb[q] + FEEDBACK * tb[q]);
                }
                (f32x8::new(ta), f32x8::new(tb))
            };
            let h = f32x8::splat(0.5) * depth.at8(idx + f32x8::splat(i as f32));
            st(&mut l[i..], xl + (tr - xl) * h);
            st(&mut r[i..], xr + (tl - xr) * h);
            i += LANES;
        }
        while i < n {
            let s = ph.next().sin() as f32;
            let (dl, dr) = (line_l.tap_frac(c + w * s), line_r.tap_frac(c - w * s));
            let (xl, xr) = (l[i], r[i]);
            line_l.push(xl + FEEDBACK * dl);
            line_r.push(xr + FEEDBACK * dr);
            let h = 0.5 * depth.at((i + 1) as f32);
            l[i] = xl + (dr - xl) * h;
            r[i] = xr + (dl - xr) * h;
            i += 1;
        }
        advance(&mut self.lfo, n);
    }

    /// The scalar reference.
    fn process_scalar(&mut self, l: &mut [f32], r: &mut [f32]) {
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
            l[i] = xl + (dr - xl) * h;
            r[i] = xr + (dl - xr) * h;
        }
        advance(&mut self.lfo, n);
    }
}
