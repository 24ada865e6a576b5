//! Top-level `phaser` (NodeLink's fields): a cascade of `stages` first-order all-passes
//! whose break frequency sweeps `minFrequency`→`maxFrequency` (scaled by `depth`) with a
//! sine LFO at `rate` (right channel 90° ahead); the cascade output is fed back by
//! `feedback`; out = x·(1 − mix) + cascade·mix. Active iff rate, depth and mix are > 0.
//!
//! Coefficients are recomputed every [`SUB`] samples (plugins.md §7.3: per 16–32-sample
//! sub-block), not per sample: the sweep is far slower than that.

use std::f64::consts::{FRAC_PI_2, PI};

use wide::f32x4;

use super::clampf;
use crate::chain::SAMPLE_RATE;
use crate::lfo::Phase;
use crate::simd::Ramp;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phaser {
    /// All-pass stages, 2–12.
    pub stages: u32,
    pub rate: f32,
    pub depth: f32,
    pub feedback: f32,
    pub mix: f32,
    pub min_frequency: f32,
    pub max_frequency: f32,
}

impl Default for Phaser {
    fn default() -> Self {
        Phaser {
            stages: 4,
            rate: 0.0,
            depth: 1.0,
            feedback: 0.0,
            mix: 0.5,
            min_frequency: 100.0,
            max_frequency: 2500.0,
        }
    }
}

impl Phaser {
    pub fn active(&self) -> bool {
        self.rate > 0.0 && self.depth > 0.0 && self.mix > 0.0
    }
}

pub const MAX_STAGES: usize = 12;
/// Samples per coefficient update.
const SUB: usize = 16;

pub(crate) struct PhaserStage {
    stages: usize,
    lfo: Phase,
    depth: Ramp,
    feedback: Ramp,
    mix: Ramp,
    fmin: f32,
    fmax: f32,
    /// Per channel, per stage: previous input and output.
    x1: [[f32; MAX_STAGES]; 2],
    y1: [[f32; MAX_STAGES]; 2],
    /// Per channel: last cascade output (the feedback tap).
    last: [f32; 2],
    /// The SIMD path's state: per stage, lanes 0/1 = left/right x[n−1] and y[n−1].
    vx1: [f32x4; MAX_STAGES],
    vy1: [f32x4; MAX_STAGES],
    simd: bool,
}

impl PhaserStage {
    pub fn new(simd: bool) -> Self {
        PhaserStage {
            vx1: [f32x4::ZERO; MAX_STAGES],
            vy1: [f32x4::ZERO; MAX_STAGES],
            simd,
            stages: 4,
            lfo: Phase::default(),
            depth: Ramp::new(0.0),
            feedback: Ramp::new(0.0),
            mix: Ramp::new(0.0),
            fmin: 100.0,
            fmax: 2500.0,
            x1: [[0.0; MAX_STAGES]; 2],
            y1: [[0.0; MAX_STAGES]; 2],
            last: [0.0; 2],
        }
    }

    pub fn set(&mut self, p: &Phaser, fresh: bool) {
        let stages = (p.stages as usize).clamp(2, MAX_STAGES);
        if stages > self.stages {
            // Stages joining the cascade start from silence.
            for ch in 0..2 {
                self.x1[ch][self.stages..stages].fill(0.0);
                self.y1[ch][self.stages..stages].fill(0.0);
            }
            self.vx1[self.stages..stages].fill(f32x4::ZERO);
            self.vy1[self.stages..stages].fill(f32x4::ZERO);
        }
        self.stages = stages;
        self.lfo.set_hz(clampf(p.rate, 0.0, 100.0, 0.0) as f64);
        let nyq = 0.45 * SAMPLE_RATE;
        self.fmin = clampf(p.min_frequency, 10.0, nyq, 100.0);
        self.fmax = clampf(p.max_frequency, 10.0, nyq, 2500.0);
        let (depth, fb, mix) = (
            clampf(p.depth, 0.0, 1.0, 1.0),
            clampf(p.feedback, 0.0, 0.9, 0.0),
            clampf(p.mix, 0.0, 1.0, 0.5),
        );
        if fresh {
            self.reset();
            self.depth = Ramp::new(depth);
            self.feedback = Ramp::new(fb);
            self.mix = Ramp::new(mix);
        } else {
            self.depth.set(depth);
            self.feedback.set(fb);
            self.mix.set(mix);
        }
    }

    pub fn reset(&mut self) {
        self.x1 = [[0.0; MAX_STAGES]; 2];
        self.y1 = [[0.0; MAX_STAGES]; 2];
        self.last = [0.0; 2];
        self.vx1 = [f32x4::ZERO; MAX_STAGES];
        self.vy1 = [f32x4::ZERO; MAX_STAGES];
    }

    /// All-pass coefficient for break frequency `fc`: (t − 1)/(t + 1), t = tan(π·fc/sr).
    fn coeff(fc: f32) -> f32 {
        let t = (PI * fc as f64 / SAMPLE_RATE as f64).tan();
        ((t - 1.0) / (t + 1.0)) as f32
    }

    pub fn process(&mut self, l: &mut [f32], r: &mut [f32]) {
        // Without feedback no sample waits for the previous one's cascade, the CPU overlaps
        // consecutive samples and the plain loop is the fastest (measured: the fused and
        // the vector paths only pay off on the feedback recursion).
        if !self.simd || self.feedback.is(0.0) {
            self.process_scalar(l, r);
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if fma_available() {
            // SAFETY: the CPU has FMA (checked at run time, cached).
            unsafe { self.process_fma(l, r) };
            return;
        }
        self.process_simd(l, r);
    }

    /// With feedback the cascade is latency-bound: each stage's multiply-add waits for the
    /// previous stage's output and each sample for the last one's, so a fused multiply-add
    /// shortens the critical path (plain x86-64 builds
    /// do not assume FMA; the CPU is asked once at run time). Both channels run as scalars:
    /// they are two independent chains the CPU overlaps, which packs no worse than two
    /// lanes of a vector here.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "fma")]
    unsafe fn process_fma(&mut self, l: &mut [f32], r: &mut [f32]) {
        self.cascade(l, r, f32::mul_add);
    }

    /// Both channels in the lanes of one `f32x4`: half the instructions of the scalar
    /// loop, the same recursion.
    fn process_simd(&mut self, l: &mut [f32], r: &mut [f32]) {
        let n = l.len().min(r.len());
        let (depth, fb, mix) = (
            self.depth.block(n),
            self.feedback.block(n),
            self.mix.block(n),
        );
        let ns = self.stages;
        let mut last = f32x4::new([self.last[0], self.last[1], 0.0, 0.0]);
        let mut at = 0;
        while at < n {
            let m = SUB.min(n - at);
            let k = (at + m / 2 + 1) as f32;
            let (d, g, w) = (depth.at(k), fb.at(k), mix.at(k));
            let ph = self.lfo.phase + self.lfo.delta * (m / 2) as f64;
            let coeff = |off: f64| {
                let sweep = 0.5 * (1.0 + (ph + off).sin() as f32) * d;
                Self::coeff(self.fmin + (self.fmax - self.fmin) * sweep)
            };
            let a = f32x4::new([coeff(0.0), coeff(FRAC_PI_2), 0.0, 0.0]);
            let (gv, wv) = (f32x4::splat(g), f32x4::splat(w));
            let (x1, y1) = (&mut self.vx1[..ns], &mut self.vy1[..ns]);
            for (vl, vr) in l[at..at + m].iter_mut().zip(r[at..at + m].iter_mut()) {
                let x = f32x4::new([*vl, *vr, 0.0, 0.0]);
                let mut u = x + gv * last;
                for (x1, y1) in x1.iter_mut().zip(y1.iter_mut()) {
                    let y = a * u + (*x1 - a * *y1);
                    *x1 = u;
                    *y1 = y;
                    u = y;
                }
                last = u;
                let o = (x + (u - x) * wv).to_array();
                *vl = o[0];
                *vr = o[1];
            }
            self.lfo.phase =
                (self.lfo.phase + self.lfo.delta * m as f64).rem_euclid(std::f64::consts::TAU);
            at += m;
        }
        let la = last.to_array();
        self.last = [la[0], la[1]];
        if !self.last.iter().all(|v| v.is_finite()) {
            self.reset();
        }
    }

    /// The scalar reference.
    fn process_scalar(&mut self, l: &mut [f32], r: &mut [f32]) {
        self.cascade(l, r, |a, b, c| a * b + c);
    }

    /// Both channels' cascades, one sub-block of coefficients at a time; `madd(a, b, c)` is
    /// a·b + c (fused in the FMA path, plain in the reference).
    #[inline(always)]
    fn cascade(&mut self, l: &mut [f32], r: &mut [f32], madd: impl Fn(f32, f32, f32) -> f32) {
        let n = l.len().min(r.len());
        let (depth, fb, mix) = (
            self.depth.block(n),
            self.feedback.block(n),
            self.mix.block(n),
        );
        let ns = self.stages;
        let mut at = 0;
        while at < n {
            let m = SUB.min(n - at);
            let k = (at + m / 2 + 1) as f32;
            let (d, g, w) = (depth.at(k), fb.at(k), mix.at(k));
            // LFO at the sub-block's middle; the right channel 90° ahead.
            let ph = self.lfo.phase + self.lfo.delta * (m / 2) as f64;
            let coeff = |off: f64| {
                let sweep = 0.5 * (1.0 + (ph + off).sin() as f32) * d;
                Self::coeff(self.fmin + (self.fmax - self.fmin) * sweep)
            };
            let (al, ar) = (coeff(0.0), coeff(FRAC_PI_2));
            let [xl1, xr1] = &mut self.x1;
            let [yl1, yr1] = &mut self.y1;
            let [mut ll, mut lr] = self.last;
            // Both channels in one loop: two independent recursions hide each other's
            // latency. y = a·u + (x1 − a·y1) keeps one multiply-add on the critical path.
            // Without feedback (NodeLink's default) no sample waits for the previous one's
            // cascade output, so the CPU overlaps consecutive samples: a separate loop.
            let feedback = g != 0.0;
            for (vl, vr) in l[at..at + m].iter_mut().zip(r[at..at + m].iter_mut()) {
                let (mut ul, mut ur) = if feedback {
                    (madd(g, ll, *vl), madd(g, lr, *vr))
                } else {
                    (*vl, *vr)
                };
                for j in 0..ns {
                    // Only a·u + … is on the critical path: fuse that one.
                    let yl = madd(al, ul, xl1[j] - al * yl1[j]);
                    let yr = madd(ar, ur, xr1[j] - ar * yr1[j]);
                    (xl1[j], yl1[j], ul) = (ul, yl, yl);
                    (xr1[j], yr1[j], ur) = (ur, yr, yr);
                }
                (ll, lr) = (ul, ur);
                *vl = madd(ul - *vl, w, *vl);
                *vr = madd(ur - *vr, w, *vr);
            }
            self.last = [ll, lr];
            self.lfo.phase =
                (self.lfo.phase + self.lfo.delta * m as f64).rem_euclid(std::f64::consts::TAU);
            at += m;
        }
        if !self.last.iter().all(|v| v.is_finite()) {
            self.reset();
        }
    }
}

/// Whether the CPU has FMA, asked once (the std macro caches too, but this keeps the check
/// to one relaxed load on the audio thread).
#[cfg(target_arch = "x86_64")]
fn fma_available() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering};
    static FMA: AtomicU8 = AtomicU8::new(0);
    match FMA.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let yes = std::arch::is_x86_feature_detected!("fma");
            FMA.store(if yes { 1 } else { 2 }, Ordering::Relaxed);
            yes
        }
    }
}
