//! Lavalink's 15-band equalizer: parallel fixed band-passes, `out = x + 4·Σ g_b·y_b`.
//!
//! SIMD layout: the 15 bands of one channel sit in four `f32x4` (lane 15 is a zero pad),
//! four independent recursions per sample. Per-sample band sums are reduced four samples
//! at a time with a transpose.

use wide::f32x4;

use crate::filters::BANDS;
use crate::simd::Ramp;

/// (β, α, γ) per band at 48 kHz (lavaplayer's table, spec §7.3).
// Digits exactly as published, so the table can be checked against the reference.
#[allow(clippy::excessive_precision)]
pub const COEFFS: [(f32, f32, f32); BANDS] = [
    (9.9847546664e-01, 7.6226668143e-04, 1.9984647656e+00),
    (9.9756184654e-01, 1.2190767289e-03, 1.9975344645e+00),
    (9.9616261379e-01, 1.9186931041e-03, 1.9960947369e+00),
    (9.9391578543e-01, 3.0421072865e-03, 1.9937449618e+00),
    (9.9028307215e-01, 4.8584639242e-03, 1.9898465702e+00),
    (9.8485897264e-01, 7.5705136795e-03, 1.9837962543e+00),
    (9.7588512657e-01, 1.2057436715e-02, 1.9731772447e+00),
    (9.6228521814e-01, 1.8857390928e-02, 1.9556164694e+00),
    (9.4080933132e-01, 2.9595334338e-02, 1.9242054384e+00),
    (9.0702059196e-01, 4.6489704022e-02, 1.8653476166e+00),
    (8.5868004289e-01, 7.0659978553e-02, 1.7600401337e+00),
    (7.8409610788e-01, 1.0795194606e-01, 1.5450725522e+00),
    (6.8332861002e-01, 1.5833569499e-01, 1.1426447155e+00),
    (5.5267518228e-01, 2.2366240886e-01, 4.0186190803e-01),
    (4.1811888447e-01, 2.9094055777e-01, -7.0905944223e-01),
];

/// Band centre frequencies (Hz).
pub const CENTRES: [f32; BANDS] = [
    25.0, 40.0, 63.0, 100.0, 160.0, 250.0, 400.0, 630.0, 1000.0, 1600.0, 2500.0, 4000.0, 6300.0,
    10000.0, 16000.0,
];

const PAD: usize = 16;

/// One block's gain ramps, per band (lane 15 unused).
struct Gains {
    start: [f32; PAD],
    step: [f32; PAD],
    lo: [f32; PAD],
    hi: [f32; PAD],
}

pub(crate) struct EqualizerStage {
    gains: [Ramp; BANDS],
    /// In the chain (clamps even with all gains 0, like lavaplayer).
    configured: bool,
    /// Per channel: x[n−1], x[n−2].
    x1: [f32; 2],
    x2: [f32; 2],
    /// Per channel, per band: y[n−1], y[n−2].
    y1: [[f32; PAD]; 2],
    y2: [[f32; PAD]; 2],
    pub simd: bool,
}

impl EqualizerStage {
    pub fn new(simd: bool) -> Self {
        EqualizerStage {
            gains: [Ramp::new(0.0); BANDS],
            configured: false,
            x1: [0.0; 2],
            x2: [0.0; 2],
            y1: [[0.0; PAD]; 2],
            y2: [[0.0; PAD]; 2],
            simd,
        }
    }

    /// `None` = not in the chain: gains ramp to 0, then the stage stops.
    pub fn set(&mut self, gains: Option<[f32; BANDS]>) {
        self.configured = gains.is_some();
        let g = gains.unwrap_or([0.0; BANDS]);
        for (r, v) in self.gains.iter_mut().zip(g) {
            // Unclamped like Lavalink, but a non-finite gain cannot mean anything.
            r.set(if v.is_finite() { v } else { 0.0 });
        }
    }

    pub fn active(&self) -> bool {
        self.configured || self.gains.iter().any(|g| !g.is(0.0))
    }

    pub fn reset(&mut self) {
        self.x1 = [0.0; 2];
        self.x2 = [0.0; 2];
        self.y1 = [[0.0; PAD]; 2];
        self.y2 = [[0.0; PAD]; 2];
    }

    pub fn process(&mut self, l: &mut [f32], r: &mut [f32]) {
        if !self.active() {
            return;
        }
        let n = l.len().min(r.len());
        let mut g = Gains {
            start: [0.0; PAD],
            step: [0.0; PAD],
            lo: [0.0; PAD],
            hi: [0.0; PAD],
        };
        for (b, ramp) in self.gains.iter_mut().enumerate() {
            let rb = ramp.block(n);
            g.start[b] = rb.start;
            g.step[b] = rb.step;
            g.lo[b] = rb.lo;
            g.hi[b] = rb.hi;
        }
        if self.simd {
            self.run_simd(l, r, n, &g);
        } else {
            self.run_scalar(l, 0, n, &g);
            self.run_scalar(r, 1, n, &g);
        }
        self.zero_idle();
        if !self.configured && self.gains.iter().all(|g| g.is(0.0)) {
            self.reset();
        }
        if self.y1.iter().flatten().any(|v| !v.is_finite()) {
            self.reset();
        }
    }

    /// The plain per-band, per-sample loop of lavaplayer's equalizer.
    fn run_scalar(&mut self, x: &mut [f32], ch: usize, n: usize, g: &Gains) {
        let ramp = g.step.iter().any(|&d| d != 0.0);
        let (mut x1, mut x2) = (self.x1[ch], self.x2[ch]);
        let y1 = &mut self.y1[ch];
        let y2 = &mut self.y2[ch];
        for (i, s) in x.iter_mut().enumerate().take(n) {
            let xin = *s;
            let k = (i + 1) as f32;
            let mut acc = 0.0f32;
            for b in 0..BANDS {
                let (beta, alpha, gamma) = COEFFS[b];
                let y = (alpha * (xin - x2) - beta * y2[b]) + gamma * y1[b];
                y2[b] = y1[b];
                y1[b] = y;
                let gain = if ramp {
                    (g.start[b] + g.step[b] * k).max(g.lo[b]).min(g.hi[b])
                } else {
                    g.start[b]
                };
                acc += gain * y;
            }
            x2 = x1;
            x1 = xin;
            *s = (4.0 * (0.25 * xin + acc)).clamp(-1.0, 1.0);
        }
        self.x1[ch] = x1;
        self.x2[ch] = x2;
    }

    /// Only bands whose gain is non-zero somewhere in the block run; they are packed into
    /// `NQ` `f32x4` per channel (lanes beyond the active bands are zero). Per-sample band
    /// sums are reduced four samples at a time with an SSE transpose.
    fn run_simd(&mut self, l: &mut [f32], r: &mut [f32], n: usize, g: &Gains) {
        let mut active = [0usize; PAD];
        let mut count = 0;
        for b in 0..BANDS {
            if g.start[b] != 0.0 || g.step[b] != 0.0 {
                active[count] = b;
                count += 1;
            }
        }
        if count == 0 {
            // Only lavaplayer's clamp remains (4·(0.25·x) is exact).
            crate::simd::clamp1(l, true);
            crate::simd::clamp1(r, true);
            self.track_history(l, r, n);
            return;
        }
        let mut p = Packed::default();
        for (lane, &b) in active.iter().enumerate().take(count) {
            (p.beta[lane], p.alpha[lane], p.gamma[lane]) = COEFFS[b];
            p.start[lane] = g.start[b];
            p.step[lane] = g.step[b];
            p.lo[lane] = g.lo[b];
            p.hi[lane] = g.hi[b];
            for ch in 0..2 {
                p.y1[ch][lane] = self.y1[ch][b];
                p.y2[ch][lane] = self.y2[ch][b];
            }
        }
        match count.div_ceil(4) {
            1 => run_packed::<1>(&mut p, &mut self.x1, &mut self.x2, l, r, n),
            2 => run_packed::<2>(&mut p, &mut self.x1, &mut self.x2, l, r, n),
            // Two channels' worth of 3–4 band vectors would not fit in registers.
            3 => run_packed_seq::<3>(&mut p, &mut self.x1, &mut self.x2, l, r, n),
            _ => run_packed_seq::<4>(&mut p, &mut self.x1, &mut self.x2, l, r, n),
        }
        for (lane, &b) in active.iter().enumerate().take(count) {
            for ch in 0..2 {
                self.y1[ch][b] = p.y1[ch][lane];
                self.y2[ch][b] = p.y2[ch][lane];
            }
        }
    }

    fn track_history(&mut self, l: &[f32], r: &[f32], n: usize) {
        for (ch, x) in [l, r].into_iter().enumerate() {
            if n >= 2 {
                self.x1[ch] = x[n - 1];
                self.x2[ch] = x[n - 2];
            } else if n == 1 {
                self.x2[ch] = self.x1[ch];
                self.x1[ch] = x[0];
            }
        }
    }

    /// Bands that stay at gain 0 drop their memory (as a rebuilt lavaplayer chain would),
    /// so both paths restart them identically.
    fn zero_idle(&mut self) {
        for (b, ramp) in self.gains.iter().enumerate() {
            if ramp.is(0.0) {
                for ch in 0..2 {
                    self.y1[ch][b] = 0.0;
                    self.y2[ch][b] = 0.0;
                }
            }
        }
    }
}

/// Active bands' coefficients, gain ramps and state, packed lane by lane.
#[derive(Default)]
struct Packed {
    beta: [f32; PAD],
    alpha: [f32; PAD],
    gamma: [f32; PAD],
    start: [f32; PAD],
    step: [f32; PAD],
    lo: [f32; PAD],
    hi: [f32; PAD],
    y1: [[f32; PAD]; 2],
    y2: [[f32; PAD]; 2],
}

#[inline(always)]
fn v4(a: &[f32; PAD], q: usize) -> f32x4 {
    f32x4::new([a[4 * q], a[4 * q + 1], a[4 * q + 2], a[4 * q + 3]])
}

#[allow(clippy::needless_range_loop)] // lanes of per-channel arrays, indexed together
fn run_packed<const NQ: usize>(
    p: &mut Packed,
    x1s: &mut [f32; 2],
    x2s: &mut [f32; 2],
    l: &mut [f32],
    r: &mut [f32],
    n: usize,
) {
    let be: [f32x4; NQ] = std::array::from_fn(|q| v4(&p.beta, q));
    let al: [f32x4; NQ] = std::array::from_fn(|q| v4(&p.alpha, q));
    let ga: [f32x4; NQ] = std::array::from_fn(|q| v4(&p.gamma, q));
    let g0: [f32x4; NQ] = std::array::from_fn(|q| v4(&p.start, q));
    let gd: [f32x4; NQ] = std::array::from_fn(|q| v4(&p.step, q));
    let glo: [f32x4; NQ] = std::array::from_fn(|q| v4(&p.lo, q));
    let ghi: [f32x4; NQ] = std::array::from_fn(|q| v4(&p.hi, q));
    let ramp = p.step.iter().any(|&d| d != 0.0);

    // Both channels advance together: two independent recursions per band vector, so the
    // γ·y1 latency of one channel hides behind the other's.
    let mut y1: [[f32x4; NQ]; 2] =
        std::array::from_fn(|ch| std::array::from_fn(|q| v4(&p.y1[ch], q)));
    let mut y2: [[f32x4; NQ]; 2] =
        std::array::from_fn(|ch| std::array::from_fn(|q| v4(&p.y2[ch], q)));
    let mut x1 = *x1s;
    let mut x2 = *x2s;
    let mut gain = g0;
    let mut base = 0;
    while base < n {
        let len = (n - base).min(4);
        let mut sums = [[f32x4::ZERO; 4]; 2];
        for j in 0..len {
            let i = base + j;
            if ramp {
                let k = f32x4::splat((i + 1) as f32);
                for q in 0..NQ {
                    gain[q] = (g0[q] + gd[q] * k).max(glo[q]).min(ghi[q]);
                }
            }
            let xi = [l[i], r[i]];
            for ch in 0..2 {
                let d = f32x4::splat(xi[ch] - x2[ch]);
                let mut acc = f32x4::ZERO;
                for q in 0..NQ {
                    // Terms known a sample early first: the γ·y1 chain is then mul + add.
                    let y = (al[q] * d - be[q] * y2[ch][q]) + ga[q] * y1[ch][q];
                    y2[ch][q] = y1[ch][q];
                    y1[ch][q] = y;
                    acc += gain[q] * y;
                }
                sums[ch][j] = acc;
                x2[ch] = x1[ch];
                x1[ch] = xi[ch];
            }
        }
        for (ch, x) in [&mut *l, &mut *r].into_iter().enumerate() {
            let t = f32x4::transpose(sums[ch]);
            let tot = (t[0] + t[1]) + (t[2] + t[3]);
            if len == 4 {
                let xs = f32x4::new([x[base], x[base + 1], x[base + 2], x[base + 3]]);
                let y = (f32x4::splat(4.0) * (f32x4::splat(0.25) * xs + tot))
                    .max(f32x4::splat(-1.0))
                    .min(f32x4::ONE);
                x[base..base + 4].copy_from_slice(&y.to_array());
            } else {
                for (j, &t) in tot.to_array().iter().enumerate().take(len) {
                    let i = base + j;
                    x[i] = (4.0 * (0.25 * x[i] + t)).clamp(-1.0, 1.0);
                }
            }
        }
        base += len;
    }
    for ch in 0..2 {
        for q in 0..NQ {
            p.y1[ch][4 * q..4 * q + 4].copy_from_slice(&y1[ch][q].to_array());
            p.y2[ch][4 * q..4 * q + 4].copy_from_slice(&y2[ch][q].to_array());
        }
    }
    *x1s = x1;
    *x2s = x2;
}

/// One channel after the other (more bands than registers for both at once).
fn run_packed_seq<const NQ: usize>(
    p: &mut Packed,
    x1s: &mut [f32; 2],
    x2s: &mut [f32; 2],
    l: &mut [f32],
    r: &mut [f32],
    n: usize,
) {
    let be: [f32x4; NQ] = std::array::from_fn(|q| v4(&p.beta, q));
    let al: [f32x4; NQ] = std::array::from_fn(|q| v4(&p.alpha, q));
    let ga: [f32x4; NQ] = std::array::from_fn(|q| v4(&p.gamma, q));
    let g0: [f32x4; NQ] = std::array::from_fn(|q| v4(&p.start, q));
    let gd: [f32x4; NQ] = std::array::from_fn(|q| v4(&p.step, q));
    let glo: [f32x4; NQ] = std::array::from_fn(|q| v4(&p.lo, q));
    let ghi: [f32x4; NQ] = std::array::from_fn(|q| v4(&p.hi, q));
    let ramp = p.step.iter().any(|&d| d != 0.0);

    for (ch, x) in [&mut *l, &mut *r].into_iter().enumerate() {
        let mut y1: [f32x4; NQ] = std::array::from_fn(|q| v4(&p.y1[ch], q));
        let mut y2: [f32x4; NQ] = std::array::from_fn(|q| v4(&p.y2[ch], q));
        let (mut x1, mut x2) = (x1s[ch], x2s[ch]);
        let mut gain = g0;
        let mut base = 0;
        while base < n {
            let len = (n - base).min(4);
            let mut sums = [f32x4::ZERO; 4];
            for (j, sum) in sums.iter_mut().enumerate().take(len) {
                let i = base + j;
                if ramp {
                    let k = f32x4::splat((i + 1) as f32);
                    for q in 0..NQ {
                        gain[q] = (g0[q] + gd[q] * k).max(glo[q]).min(ghi[q]);
                    }
                }
                let xi = x[i];
                let d = f32x4::splat(xi - x2);
                let mut acc = f32x4::ZERO;
                for q in 0..NQ {
                    // Terms known a sample early first: the γ·y1 chain is then mul + add.
                    let y = (al[q] * d - be[q] * y2[q]) + ga[q] * y1[q];
                    y2[q] = y1[q];
                    y1[q] = y;
                    acc += gain[q] * y;
                }
                *sum = acc;
                x2 = x1;
                x1 = xi;
            }
            let t = f32x4::transpose(sums);
            let tot = (t[0] + t[1]) + (t[2] + t[3]);
            if len == 4 {
                let xs = f32x4::new([x[base], x[base + 1], x[base + 2], x[base + 3]]);
                let y = (f32x4::splat(4.0) * (f32x4::splat(0.25) * xs + tot))
                    .max(f32x4::splat(-1.0))
                    .min(f32x4::ONE);
                x[base..base + 4].copy_from_slice(&y.to_array());
            } else {
                for (j, &t) in tot.to_array().iter().enumerate().take(len) {
                    let i = base + j;
                    x[i] = (4.0 * (0.25 * x[i] + t)).clamp(-1.0, 1.0);
                }
            }
            base += len;
        }
        for q in 0..NQ {
            p.y1[ch][4 * q..4 * q + 4].copy_from_slice(&y1[q].to_array());
            p.y2[ch][4 * q..4 * q + 4].copy_from_slice(&y2[q].to_array());
        }
        x1s[ch] = x1;
        x2s[ch] = x2;
    }
}
