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
        for (ch, x) in [l, r].into_iter().enumerate() {
            let mut v = self.v[ch];
            let mut i = 0;
            if self.simd {
                while i + LANES <= n {
                    let y = self.block.run(ld(&x[i..]), v, 0.0);
                    v = y.to_array()[7];
                    st(&mut x[i..], y);
                    i += LANES;
                }
            }
            let s = self.smoothing;
            while i < n {
                v += (x[i] - v) / s;
                x[i] = v;
                i += 1;
            }
            self.v[ch] = if v.is_finite() { v } else { 0.0 };
        }
    }
}
