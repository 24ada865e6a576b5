//! Top-level `chorus` (NodeLink's fields): two modulated taps per channel, LFOs at `rate`
//! and 1.1·`rate` with phases 0°/90° (left) and 180°/270° (right), centre delays `delay`
//! and 1.2·`delay` ms, swing ±`depth`·4 ms; wet = mean of the taps, fed back into the line;
//! out = x·(1 − mix) + wet·mix. Active iff rate, depth and mix are all > 0.

use std::f64::consts::{FRAC_PI_2, PI};

use wide::f32x8;

use super::delay::Delay;
use super::osc::{advance, shifted, Quad};
use super::{clampf, PER_MS};
use crate::lfo::Phase;
use crate::simd::{lane_index1, ld, st, Ramp, LANES};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chorus {
    pub rate: f32,
    pub depth: f32,
    /// Centre delay, ms (1–45).
    pub delay: f32,
    pub mix: f32,
    pub feedback: f32,
}

impl Default for Chorus {
    fn default() -> Self {
        Chorus {
            rate: 0.0,
            depth: 0.0,
            delay: 25.0,
            mix: 0.5,
            feedback: 0.0,
        }
    }
}

/// Swing at depth 1, ms.
const SWING_MS: f32 = 4.0;

impl Chorus {
    pub fn active(&self) -> bool {
        self.rate > 0.0 && self.depth > 0.0 && self.mix > 0.0
    }
}

pub(crate) struct ChorusStage {
    lines: [Delay; 2],
    lfo: [Phase; 2],
    centre: Ramp,
    swing: Ramp,
    mix: Ramp,
    feedback: Ramp,
    simd: bool,
}

impl ChorusStage {
    pub fn new(simd: bool) -> Self {
        ChorusStage {
            lines: [Delay::default(), Delay::default()],
            lfo: [Phase::default(); 2],
            centre: Ramp::new(0.0),
            swing: Ramp::new(0.0),
            mix: Ramp::new(0.0),
            feedback: Ramp::new(0.0),
            simd,
        }
    }

    pub fn set(&mut self, c: &Chorus, fresh: bool) {
        let centre = clampf(c.delay, 1.0, 45.0, 25.0) * PER_MS;
        let swing = clampf(c.depth, 0.0, 1.0, 0.0) * SWING_MS * PER_MS;
        let rate = clampf(c.rate, 0.0, 100.0, 0.0) as f64;
        self.lfo[0].set_hz(rate);
        self.lfo[1].set_hz(rate * 1.1);
        // The whole range (second tap at 1.2 × 45 ms + 4 ms swing: 2 784 samples, 16 KiB a
        // channel): a ramped centre sweeps through the history, which must exist already.
        let need = (1.2 * 45.0 * PER_MS + SWING_MS * PER_MS).ceil() as usize + 2;
        for line in &mut self.lines {
            line.ensure(need);
        }
        let (mix, fb) = (
            clampf(c.mix, 0.0, 1.0, 0.5),
            clampf(c.feedback, 0.0, 0.95, 0.0),
        );
        if fresh {
            for line in &mut self.lines {
                line.clear();
            }
            self.centre = Ramp::new(centre);
            self.swing = Ramp::new(swing);
            self.mix = Ramp::new(mix);
            self.feedback = Ramp::new(fb);
        } else {
            self.centre.set(centre);
            self.swing.set(swing);
            self.mix.set(mix);
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

    /// Eight samples at a time: LFOs and delays in SIMD, the taps gathered per lane.
    fn process_simd(&mut self, l: &mut [f32], r: &mut [f32]) {
        let n = l.len().min(r.len());
        let (centre, swing) = (self.centre.block(n), self.swing.block(n));
        let (mix, fb) = (self.mix.block(n), self.feedback.block(n));
        let idx = lane_index1();
        for (ch, x) in [&mut l[..n], &mut r[..n]].into_iter().enumerate() {
            let off = if ch == 0 { 0.0 } else { PI };
            let mut pa = shifted(&self.lfo[0], off);
            let mut pb = shifted(&self.lfo[1], off + FRAC_PI_2);
            let (mut oa, mut ob) = (pa.osc(), pb.osc());
            let line = &mut self.lines[ch];
            let mut i = 0;
            while i + LANES <= n {
                let k = idx + f32x8::splat(i as f32);
                let (c, s) = (centre.at8(k), swing.at8(k));
                let d0 = c + s * oa.next8(&mut pa);
                let d1 = f32x8::splat(1.2) * c + s * ob.next8(&mut pb);
                let xv = ld(&x[i..]);
                let g = fb.at8(k);
                let wet = if line.block_ok(d0) && line.block_ok(d1) {
                    let w = f32x8::splat(0.5) * (line.taps8(d0) + line.taps8(d1));
                    line.push8(xv + g * w);
                    w
                } else {
                    let (a0, a1, xa, ga) =
                        (d0.to_array(), d1.to_array(), xv.to_array(), g.to_array());
                    f32x8::new(std::array::from_fn(|q| {
                        let w = 0.5 * (line.tap_frac(a0[q]) + line.tap_frac(a1[q]));
                        line.push(xa[q] + ga[q] * w);
                        w
                    }))
                };
                st(&mut x[i..], xv + (wet - xv) * mix.at8(k));
                i += LANES;
            }
            while i < n {
                let k = (i + 1) as f32;
                let (c, s) = (centre.at(k), swing.at(k));
                let t0 = line.tap_frac(c + s * pa.next().sin() as f32);
                let t1 = line.tap_frac(1.2 * c + s * pb.next().sin() as f32);
                let wet = 0.5 * (t0 + t1);
                let input = x[i];
                line.push(input + fb.at(k) * wet);
                x[i] = input + (wet - input) * mix.at(k);
                i += 1;
            }
        }
        advance(&mut self.lfo[0], n);
        advance(&mut self.lfo[1], n);
    }

    /// The scalar reference.
    fn process_scalar(&mut self, l: &mut [f32], r: &mut [f32]) {
        let n = l.len().min(r.len());
        let (centre, swing) = (self.centre.block(n), self.swing.block(n));
        let (mix, fb) = (self.mix.block(n), self.feedback.block(n));
        for (ch, x) in [&mut l[..n], &mut r[..n]].into_iter().enumerate() {
            // Right channel: both LFOs half a turn on.
            let off = if ch == 0 { 0.0 } else { PI };
            let mut a = Quad::start(&self.lfo[0], off);
            let mut b = Quad::start(&self.lfo[1], off);
            let line = &mut self.lines[ch];
            for (i, v) in x.iter_mut().enumerate() {
                let k = (i + 1) as f32;
                let (c, s) = (centre.at(k), swing.at(k));
                let (sa, _) = a.next();
                // 90° ahead: the cosine.
                let (_, cb) = b.next();
                let t0 = line.tap_frac(c + s * sa);
                let t1 = line.tap_frac(1.2 * c + s * cb);
                let wet = 0.5 * (t0 + t1);
                let input = *v;
                line.push(input + fb.at(k) * wet);
                *v = input + (wet - input) * mix.at(k);
            }
        }
        advance(&mut self.lfo[0], n);
        advance(&mut self.lfo[1], n);
    }
}
