//! Top-level `flanger` (NodeLink's fields): a delay swept between 0 and 2·depth·5 ms by a
//! sine LFO at `rate`, fed back by `feedback`; out = dry + delayed (as NodeLink, so up to
//! +6 dB on peaks of the comb). One delay line per channel (NodeLink shares one between
//! both channels, a flaw not copied). Active iff rate and depth > 0.

use wide::f32x8;

use super::delay::Delay;
use super::osc::{advance, shifted, Quad};
use super::{clampf, PER_MS};
use crate::lfo::Phase;
use crate::simd::{lane_index1, ld, st, Ramp, LANES};

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
    simd: bool,
}

impl FlangerStage {
    pub fn new(simd: bool) -> Self {
        FlangerStage {
            lines: [Delay::default(), Delay::default()],
            lfo: Phase::default(),
            half: Ramp::new(0.0),
            feedback: Ramp::new(0.0),
            simd,
        }
    }

    pub fn set(&mut self, f: &Flanger, fresh: bool) {
        let half = clampf(f.depth, 0.0, 1.0, 0.0) * SWEEP_MS * PER_MS;
        let fb = clampf(f.feedback, 0.0, 0.95, 0.0);
        self.lfo.set_hz(clampf(f.rate, 0.0, 100.0, 0.0) as f64);
        // The whole sweep range (10 ms, 2 KiB a channel): a ramped depth sweeps through the
        // history, which must exist already.
        let need = (2.0 * SWEEP_MS * PER_MS).ceil() as usize + 3;
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
        if self.simd {
            self.process_simd(l, r);
        } else {
            self.process_scalar(l, r);
        }
    }

    /// Eight samples at a time where the sweep is at least eight samples long; per sample
    /// near its short end (one sample of minimum delay keeps the feedback causal).
    fn process_simd(&mut self, l: &mut [f32], r: &mut [f32]) {
        let n = l.len().min(r.len());
        let (half, fb) = (self.half.block(n), self.feedback.block(n));
        let idx = lane_index1();
        let one = f32x8::ONE;
        for (ch, x) in [&mut l[..n], &mut r[..n]].into_iter().enumerate() {
            let mut ph = shifted(&self.lfo, 0.0);
            let mut osc = ph.osc();
            let line = &mut self.lines[ch];
            let mut i = 0;
            while i + LANES <= n {
                let k = idx + f32x8::splat(i as f32);
                let d = one + half.at8(k) * (one + osc.next8(&mut ph));
                let xv = ld(&x[i..]);
                let g = fb.at8(k);
                let t = if line.block_ok(d) {
                    let t = line.taps8(d);
                    line.push8(xv + g * t);
                    t
                } else {
                    let (da, xa, ga) = (d.to_array(), xv.to_array(), g.to_array());
                    f32x8::new(std::array::from_fn(|q| {
                        let t = line.tap_frac(da[q]);
                        line.push(xa[q] + ga[q] * t);
                        t
                    }))
                };
                st(&mut x[i..], xv + t);
                i += LANES;
            }
            while i < n {
                let k = (i + 1) as f32;
                let s = ph.next().sin() as f32;
                let d = line.tap_frac(1.0 + half.at(k) * (1.0 + s));
                let input = x[i];
                line.push(input + fb.at(k) * d);
                x[i] = input + d;
                i += 1;
            }
        }
        advance(&mut self.lfo, n);
    }

    /// The scalar reference.
    fn process_scalar(&mut self, l: &mut [f32], r: &mut [f32]) {
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
