//! Block form of low-order recursions so SIMD can run them eight samples at a time:
//! for `y[n] = b·u[n] − a1·y[n−1] − a2·y[n−2]`, the next eight outputs are
//! `Σ_j u[j]·col_j + y[−1]·s1 + y[−2]·s2` with precomputed impulse/state responses.
//! Kept as `f32x4` halves: the first half never depends on inputs 4..8, which saves a
//! quarter of the work on SSE2.

use wide::{f32x4, f32x8};

#[derive(Debug, Clone, Copy)]
pub(crate) struct Block2 {
    lo: [f32x4; 4],
    hi: [f32x4; 8],
    s1: [f32x4; 2],
    s2: [f32x4; 2],
}

fn halves(a: [f32; 8]) -> [f32x4; 2] {
    [
        f32x4::new([a[0], a[1], a[2], a[3]]),
        f32x4::new([a[4], a[5], a[6], a[7]]),
    ]
}

impl Block2 {
    /// Responses of `y[n] = b·u[n] − a1·y[n−1] − a2·y[n−2]` over eight samples (in f64).
    pub fn new(b: f64, a1: f64, a2: f64) -> Block2 {
        let run = |u0: f64, y1: f64, y2: f64| {
            let (mut p1, mut p2) = (y1, y2);
            let mut out = [0.0f32; 8];
            for (k, o) in out.iter_mut().enumerate() {
                let u = if k == 0 { u0 } else { 0.0 };
                let y = b * u - a1 * p1 - a2 * p2;
                p2 = p1;
                p1 = y;
                *o = y as f32;
            }
            out
        };
        let h = run(1.0, 0.0, 0.0);
        let col = |j: usize| {
            let mut a = [0.0f32; 8];
            a[j..8].copy_from_slice(&h[..(8 - j)]);
            halves(a)
        };
        Block2 {
            lo: std::array::from_fn(|j| col(j)[0]),
            hi: std::array::from_fn(|j| col(j)[1]),
            s1: halves(run(0.0, 1.0, 0.0)),
            s2: halves(run(0.0, 0.0, 1.0)),
        }
    }

    /// Eight outputs from eight inputs and the state (y[−1], y[−2]).
    #[inline(always)]
    pub fn run(&self, u: f32x8, y1: f32, y2: f32) -> f32x8 {
        let ua = u.to_array();
        // The input terms do not depend on the state: sum them as pairwise trees first, so
        // the sample-to-sample dependency is only the two state products and one add.
        let s: [f32x4; 8] = std::array::from_fn(|j| f32x4::splat(ua[j]));
        let lo_in =
            (self.lo[0] * s[0] + self.lo[1] * s[1]) + (self.lo[2] * s[2] + self.lo[3] * s[3]);
        let hi_in = ((self.hi[0] * s[0] + self.hi[1] * s[1])
            + (self.hi[2] * s[2] + self.hi[3] * s[3]))
            + ((self.hi[4] * s[4] + self.hi[5] * s[5]) + (self.hi[6] * s[6] + self.hi[7] * s[7]));
        let (v1, v2) = (f32x4::splat(y1), f32x4::splat(y2));
        let lo = lo_in + (self.s1[0] * v1 + self.s2[0] * v2);
        let hi = hi_in + (self.s1[1] * v1 + self.s2[1] * v2);
        let (l, h) = (lo.to_array(), hi.to_array());
        f32x8::new([l[0], l[1], l[2], l[3], h[0], h[1], h[2], h[3]])
    }
}
