#![allow(dead_code)]
//! Signal helpers for the dsp tests.

use basalt_dsp::{ChainWork, FilterChain, Filters, FRAME};
use std::f64::consts::TAU;

pub const SR: f64 = 48_000.0;

/// A stereo source the chain pulls from at its own pace.
pub struct Source<F: FnMut(u64) -> (f32, f32)> {
    pub pos: u64,
    pub f: F,
}

impl<F: FnMut(u64) -> (f32, f32)> Source<F> {
    pub fn new(f: F) -> Self {
        Source { pos: 0, f }
    }
    pub fn take(&mut self, frames: usize, buf: &mut Vec<f32>) {
        buf.clear();
        for _ in 0..frames {
            let (l, r) = (self.f)(self.pos);
            buf.push(l);
            buf.push(r);
            self.pos += 1;
        }
    }
}

pub fn sine(freq: f64, amp: f64) -> impl FnMut(u64) -> (f32, f32) {
    move |n| {
        let v = (amp * (TAU * freq * n as f64 / SR).sin()) as f32;
        (v, v)
    }
}

/// Run `frames_out` output frames through the chain; returns (left, right, input consumed).
pub fn run<F: FnMut(u64) -> (f32, f32)>(
    chain: &mut FilterChain,
    src: &mut Source<F>,
    frames_out: usize,
) -> (Vec<f32>, Vec<f32>) {
    let mut inbuf = Vec::new();
    let mut out = vec![0.0f32; FRAME * 2];
    let mut work = ChainWork::new();
    let mut l = Vec::new();
    let mut r = Vec::new();
    let mut produced = 0;
    while produced < frames_out {
        let need = chain.input_needed();
        src.take(need, &mut inbuf);
        chain.process(&inbuf, &mut out, &mut work);
        for fr in out.chunks_exact(2) {
            l.push(fr[0]);
            r.push(fr[1]);
        }
        produced += FRAME;
    }
    (l, r)
}

pub fn chain_with(json: &str) -> FilterChain {
    let f = Filters::from_json(&serde_json::from_str(json).unwrap()).unwrap();
    let mut c = FilterChain::new();
    c.update(&f);
    c
}

pub fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

pub fn db(x: f64) -> f64 {
    20.0 * x.log10()
}

/// Amplitude of the component at `freq` (Goertzel-style single-bin DFT), for a sinusoid
/// of amplitude A returns ≈ A.
pub fn tone_amp(x: &[f32], freq: f64) -> f64 {
    let (mut re, mut im) = (0.0f64, 0.0f64);
    for (n, &v) in x.iter().enumerate() {
        let ph = TAU * freq * n as f64 / SR;
        re += v as f64 * ph.cos();
        im += v as f64 * ph.sin();
    }
    2.0 * (re * re + im * im).sqrt() / x.len() as f64
}

/// Frequency (Hz) with the largest single-bin amplitude in [lo, hi], 1 Hz steps.
pub fn dominant(x: &[f32], lo: f64, hi: f64) -> f64 {
    let mut best = (0.0, lo);
    let mut f = lo;
    while f <= hi {
        let a = tone_amp(x, f);
        if a > best.0 {
            best = (a, f);
        }
        f += 1.0;
    }
    best.1
}

/// Upward zero crossings as fractional sample positions.
pub fn zero_crossings(x: &[f64]) -> Vec<f64> {
    let mut z = Vec::new();
    for i in 1..x.len() {
        if x[i - 1] < 0.0 && x[i] >= 0.0 {
            let t = x[i - 1] / (x[i - 1] - x[i]);
            z.push(i as f64 - 1.0 + t);
        }
    }
    z
}

/// Tiny deterministic PRNG for test signals and parameter sets.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}
