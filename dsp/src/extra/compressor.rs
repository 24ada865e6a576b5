//! Top-level `compressor` (NodeLink's fields, time constants at 48 kHz): a stereo-linked
//! peak envelope (max |L|, |R|) with one-pole attack/release, gain reduction
//! `(threshold − env_dB)·(1 − 1/ratio)` above the threshold, then `makeupGain` dB.
//! Active whenever present (`{}` compresses at −24 dB, 4:1).
//!
//! The envelope is a recursion (scalar, one pass); the gain curve, a log and an exp per
//! sample, runs eight samples at a time in SIMD, next to its scalar reference.

use wide::f32x8;

use super::clampf;
use crate::chain::SAMPLE_RATE;
use crate::simd::{lane_index1, ld, st, Ramp, LANES};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Compressor {
    /// dB.
    pub threshold: f32,
    /// ≥ 1.
    pub ratio: f32,
    /// Seconds.
    pub attack: f32,
    /// Seconds.
    pub release: f32,
    /// dB (`gain` is accepted as an alias in JSON).
    pub makeup_gain: f32,
}

impl Default for Compressor {
    fn default() -> Self {
        Compressor {
            threshold: -24.0,
            ratio: 4.0,
            attack: 0.01,
            release: 0.1,
            makeup_gain: 0.0,
        }
    }
}

/// log2(10)/20: dB → log2 of the amplitude.
const DB_TO_LOG2: f32 = std::f32::consts::LOG2_10 / 20.0;

pub(crate) struct CompressorStage {
    attack: f32,
    release: f32,
    /// Threshold as log2 of the amplitude.
    threshold: Ramp,
    /// 1/ratio − 1 (≤ 0).
    slope: Ramp,
    /// Makeup as log2 of the amplitude.
    makeup: Ramp,
    env: f32,
    /// One block's envelope (grown by `set`).
    scratch: Vec<f32>,
    pub simd: bool,
}

impl CompressorStage {
    pub fn new(simd: bool) -> Self {
        CompressorStage {
            attack: 0.0,
            release: 0.0,
            threshold: Ramp::new(0.0),
            slope: Ramp::new(0.0),
            makeup: Ramp::new(0.0),
            env: 0.0,
            scratch: Vec::new(),
            simd,
        }
    }

    pub fn set(&mut self, c: &Compressor, fresh: bool, block: usize) {
        if self.scratch.len() < block {
            self.scratch.resize(block, 0.0);
        }
        let coef = |s: f32| (-1.0 / (s as f64 * SAMPLE_RATE as f64)).exp() as f32;
        self.attack = coef(clampf(c.attack, 0.001, 10.0, 0.01));
        self.release = coef(clampf(c.release, 0.01, 10.0, 0.1));
        let thr = clampf(c.threshold, -100.0, 0.0, -24.0) * DB_TO_LOG2;
        let slope = 1.0 / clampf(c.ratio, 1.0, 100.0, 4.0) - 1.0;
        let makeup = clampf(c.makeup_gain, -60.0, 40.0, 0.0) * DB_TO_LOG2;
        if fresh {
            self.env = 0.0;
            self.threshold = Ramp::new(thr);
            self.slope = Ramp::new(slope);
            self.makeup = Ramp::new(makeup);
        } else {
            self.threshold.set(thr);
            self.slope.set(slope);
            self.makeup.set(makeup);
        }
    }

    pub fn reset(&mut self) {
        self.env = 0.0;
    }

    pub fn process(&mut self, l: &mut [f32], r: &mut [f32]) {
        let n = l.len().min(r.len());
        let piece = self.scratch.len().max(1);
        let mut at = 0;
        while at < n && !self.scratch.is_empty() {
            let m = piece.min(n - at);
            self.piece(&mut l[at..at + m], &mut r[at..at + m]);
            at += m;
        }
    }

    fn piece(&mut self, l: &mut [f32], r: &mut [f32]) {
        let n = l.len();
        let (thr, slope, makeup) = (
            self.threshold.block(n),
            self.slope.block(n),
            self.makeup.block(n),
        );
        let (a, rel) = (self.attack, self.release);
        let mut env = self.env;
        let e = &mut self.scratch[..n];
        for i in 0..n {
            let x = l[i].abs().max(r[i].abs());
            let c = if x > env { a } else { rel };
            env = x + c * (env - x);
            e[i] = env;
        }
        self.env = if env.is_finite() { env } else { 0.0 };
        let mut i = 0;
        if self.simd {
            let idx = lane_index1();
            let tiny = f32x8::splat(1e-12);
            let zero = f32x8::ZERO;
            while i + LANES <= n {
                let k = idx + f32x8::splat(i as f32);
                let lg = ld(&e[i..]).max(tiny).ln() * f32x8::splat(std::f32::consts::LOG2_E);
                let over = (lg - thr.at8(k)).max(zero);
                let g = (slope.at8(k) * over + makeup.at8(k)).exp2();
                let (vl, vr) = (ld(&l[i..]) * g, ld(&r[i..]) * g);
                st(&mut l[i..], vl);
                st(&mut r[i..], vr);
                i += LANES;
            }
        }
        while i < n {
            let k = (i + 1) as f32;
            let over = (e[i].max(1e-12).log2() - thr.at(k)).max(0.0);
            let g = (slope.at(k) * over + makeup.at(k)).exp2();
            l[i] *= g;
            r[i] *= g;
            i += 1;
        }
    }
}
