//! Stereo second-order IIR (direct form I) with RBJ low/high-pass coefficients, used by
//! LavaDSPX's `high-pass`/`low-pass` and the top-level `highPass`.
//!
//! A cutoff change interpolates the coefficients over 10 ms in 32-sample steps: the
//! stable region of (a1, a2) is a triangle, so every interpolated filter between two
//! stable ones is stable, and direct form I keeps real signal values as state, so the
//! output has no step. The output gain ramps the same way.

use std::f64::consts::PI;

use crate::chain::SAMPLE_RATE;
use crate::simd::{clamp1, gain_ramp, Ramp, RAMP_LEN};

/// Q of a Butterworth second-order section (LavaDSPX uses 0.707).
pub(crate) const BUTTERWORTH_Q: f64 = std::f64::consts::FRAC_1_SQRT_2;

/// Coefficients normalised by a0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Coeffs {
    b0: f32,
    b1: f32,
    b2: f32,
    a1: f32,
    a2: f32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    LowPass,
    HighPass,
}

impl Coeffs {
    /// RBJ cookbook low/high-pass at `fc` Hz (clamped into (10 Hz, 0.49·sr)).
    pub fn rbj(kind: Kind, fc: f32, q: f64) -> Coeffs {
        let sr = SAMPLE_RATE as f64;
        let fc = if fc.is_finite() { fc as f64 } else { 1000.0 };
        let fc = fc.clamp(10.0, 0.49 * sr);
        let w = 2.0 * PI * fc / sr;
        let (sn, cs) = w.sin_cos();
        let alpha = sn / (2.0 * q);
        let a0 = 1.0 + alpha;
        let (b0, b1, b2) = match kind {
            Kind::LowPass => ((1.0 - cs) / 2.0, 1.0 - cs, (1.0 - cs) / 2.0),
            Kind::HighPass => ((1.0 + cs) / 2.0, -(1.0 + cs), (1.0 + cs) / 2.0),
        };
        Coeffs {
            b0: (b0 / a0) as f32,
            b1: (b1 / a0) as f32,
            b2: (b2 / a0) as f32,
            a1: (-2.0 * cs / a0) as f32,
            a2: ((1.0 - alpha) / a0) as f32,
        }
    }

    fn lerp(&self, o: &Coeffs, t: f32) -> Coeffs {
        let m = |a: f32, b: f32| a + (b - a) * t;
        Coeffs {
            b0: m(self.b0, o.b0),
            b1: m(self.b1, o.b1),
            b2: m(self.b2, o.b2),
            a1: m(self.a1, o.a1),
            a2: m(self.a2, o.a2),
        }
    }
}

/// Samples per coefficient step while a cutoff change is interpolated.
const STEP: usize = 32;

pub(crate) struct BiquadStage {
    from: Coeffs,
    to: Coeffs,
    /// Samples into the current coefficient interpolation (≥ RAMP_LEN: settled).
    pos: f32,
    x1: [f32; 2],
    x2: [f32; 2],
    y1: [f32; 2],
    y2: [f32; 2],
    gain: Ramp,
    /// Clamp the output to ±1 (LavaDSPX does).
    clamp: bool,
}

impl BiquadStage {
    pub fn new() -> Self {
        let c = Coeffs::rbj(Kind::HighPass, 20.0, BUTTERWORTH_Q);
        BiquadStage {
            from: c,
            to: c,
            pos: RAMP_LEN,
            x1: [0.0; 2],
            x2: [0.0; 2],
            y1: [0.0; 2],
            y2: [0.0; 2],
            gain: Ramp::new(1.0),
            clamp: false,
        }
    }

    /// New coefficients and output gain. `fresh`: the stage was off (jump, clear state).
    pub fn set(&mut self, c: Coeffs, gain: f32, clamp: bool, fresh: bool) {
        self.clamp = clamp;
        let gain = if gain.is_finite() { gain } else { 1.0 };
        if fresh {
            self.from = c;
            self.to = c;
            self.pos = RAMP_LEN;
            self.gain = Ramp::new(gain);
            self.reset();
            return;
        }
        if c != self.to {
            self.from = self.current();
            self.to = c;
            self.pos = 0.0;
        }
        self.gain.set(gain);
    }

    fn current(&self) -> Coeffs {
        if self.pos >= RAMP_LEN {
            self.to
        } else {
            self.from.lerp(&self.to, self.pos / RAMP_LEN)
        }
    }

    pub fn reset(&mut self) {
        self.x1 = [0.0; 2];
        self.x2 = [0.0; 2];
        self.y1 = [0.0; 2];
        self.y2 = [0.0; 2];
    }

    /// Filter both channels in one loop (two independent recursions hide each other's
    /// latency), then apply the gain and the clamp eight samples at a time when `simd`.
    pub fn process(&mut self, l: &mut [f32], r: &mut [f32], simd: bool) {
        let n = l.len().min(r.len());
        let (l, r) = (&mut l[..n], &mut r[..n]);
        let mut at = 0;
        while at < n {
            let m = if self.pos >= RAMP_LEN {
                n - at
            } else {
                STEP.min(n - at)
            };
            if self.pos < RAMP_LEN {
                self.pos += m as f32;
            }
            let c = self.current();
            let [mut xl1, mut xr1] = self.x1;
            let [mut xl2, mut xr2] = self.x2;
            let [mut yl1, mut yr1] = self.y1;
            let [mut yl2, mut yr2] = self.y2;
            for (vl, vr) in l[at..at + m].iter_mut().zip(r[at..at + m].iter_mut()) {
                let yl = c.b0 * *vl + c.b1 * xl1 + c.b2 * xl2 - c.a1 * yl1 - c.a2 * yl2;
                let yr = c.b0 * *vr + c.b1 * xr1 + c.b2 * xr2 - c.a1 * yr1 - c.a2 * yr2;
                (xl2, xl1, yl2, yl1) = (xl1, *vl, yl1, yl);
                (xr2, xr1, yr2, yr1) = (xr1, *vr, yr1, yr);
                *vl = yl;
                *vr = yr;
            }
            self.x1 = [xl1, xr1];
            self.x2 = [xl2, xr2];
            self.y1 = [yl1, yr1];
            self.y2 = [yl2, yr2];
            at += m;
        }
        // A non-finite state (only from non-finite input, which the chain removes) would
        // poison every later sample: drop it.
        if !self.y1.iter().chain(&self.y2).all(|v| v.is_finite()) {
            self.reset();
        }
        let g = self.gain.block(n);
        if !(g.constant() && g.start == 1.0) {
            gain_ramp(l, g, simd);
            gain_ramp(r, g, simd);
        }
        if self.clamp {
            clamp1(l, simd);
            clamp1(r, simd);
        }
    }
}
