//! Low pass: one-pole smoother `v += (x − v)/smoothing`, v starting at the first sample
//! (lavadsp). Smoothing ≤ 1 passes through: 1 is an identity in Lavalink, 0 divides by
//! zero and (0, 1) overshoots or diverges — Basalt treats all of them as passthrough.

use crate::iir::Block2;
use crate::simd::{ld, st, LANES};

pub(crate) struct LowPassStage {
    smoothing: f32,
    block: Block2,
    v: [f32; 2],
    primed: bool,
    pub simd: bool,
}

impl LowPassStage {
    pub fn new(simd: bool) -> Self {
        LowPassStage {
            smoothing: 1.0,
            block: Block2::new(1.0, 0.0, 0.0),
            v: [0.0; 2],
            primed: false,
            simd,
        }
    }

    /// Whether this smoothing does anything.
    pub fn effective(smoothing: f32) -> bool {
        smoothing > 1.0 && smoothing.is_finite()
    }

    pub fn set(&mut self, smoothing: f32) {
        if Self::effective(smoothing) && smoothing != self.smoothing {
            self.smoothing = smoothing;
            let a = 1.0 / smoothing as f64;
            self.block = Block2::new(a, -(1.0 - a), 0.0);
        }
    }

    pub fn reset(&mut self) {
        self.primed = false;
    }

    pub fn process(&mut self, l: &mut [f32], r: &mut [f32]) {
        let n = l.len().min(r.len());
        if n == 0 {
            return;
        }
        if !self.primed {
            self.v = [l[0], r[0]];
            self.primed = true;
        }
        let mut v = self.v;
        let mut start = 0;
        if self.simd {
            // Both channels in lockstep: two independent recursions hide each other's latency.
            let mut i = 0;
            while i + LANES <= n {
                let yl = self.block.run(ld(&l[i..]), v[0], 0.0);
                let yr = self.block.run(ld(&r[i..]), v[1], 0.0);
                v = [yl.to_array()[7], yr.to_array()[7]];
                st(&mut l[i..], yl);
                st(&mut r[i..], yr);
                i += LANES;
            }
            start = i;
        }
        let s = self.smoothing;
        for (ch, x) in [l, r].into_iter().enumerate() {
            let mut v = v[ch];
            for xi in x[start..n].iter_mut() {
                v += (*xi - v) / s;
                *xi = v;
            }
            self.v[ch] = if v.is_finite() { v } else { 0.0 };
        }
    }
}
