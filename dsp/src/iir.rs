//! Block form of low-order recursions so SIMD can run them eight samples at a time:
//! for `y[n] = b·u[n] − a1·y[n−1] − a2·y[n−2]`, the next eight outputs are
//! `Σ_j u[j]·col_j + y[−1]·s1 + y[−2]·s2` with precomputed impulse/state responses.

use wide::f32x8;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Block2 {
    pub cols: [f32x8; 8],
    pub s1: f32x8,
    pub s2: f32x8,
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
        let mut cols = [f32x8::ZERO; 8];
        for (j, c) in cols.iter_mut().enumerate() {
            let mut a = [0.0f32; 8];
            a[j..8].copy_from_slice(&h[..(8 - j)]);
            *c = f32x8::new(a);
        }
        Block2 {
            cols,
            s1: f32x8::new(run(0.0, 1.0, 0.0)),
            s2: f32x8::new(run(0.0, 0.0, 1.0)),
        }
    }

    /// Eight outputs from eight inputs and the state (y[−1], y[−2]).
    #[inline(always)]
    pub fn run(&self, u: f32x8, y1: f32, y2: f32) -> f32x8 {
        let ua = u.to_array();
        let mut acc = self.s1 * f32x8::splat(y1) + self.s2 * f32x8::splat(y2);
        for (j, &uj) in ua.iter().enumerate() {
            acc += self.cols[j] * f32x8::splat(uj);
        }
        acc
    }
}
