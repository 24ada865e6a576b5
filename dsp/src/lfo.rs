//! Phase accumulator shared by tremolo, vibrato and rotation: phases persist across blocks
//! and updates (as lavadsp keeps them) and are wrapped to [0, 2π) in f64 so precision
//! never degrades over a long track.

use std::f64::consts::TAU;

use wide::f32x8;

use crate::chain::SAMPLE_RATE;
use crate::simd::lane_index0;

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Phase {
    pub phase: f64,
    pub delta: f64,
}

impl Phase {
    pub fn set_hz(&mut self, hz: f64) {
        self.delta = if hz.is_finite() {
            (TAU * hz / SAMPLE_RATE as f64) % TAU
        } else {
            0.0
        };
    }

    /// Current phase, then advance one sample.
    #[inline]
    pub fn next(&mut self) -> f64 {
        let p = self.phase;
        self.phase = wrap(self.phase + self.delta);
        p
    }

    /// Advance eight samples.
    #[inline]
    pub fn skip8(&mut self) {
        self.phase = wrap(self.phase + 8.0 * self.delta);
    }

    /// A sine oscillator continuing from this phase, eight samples per step.
    pub fn osc(&self) -> Osc {
        let (rs, rc) = (8.0 * self.delta).sin_cos();
        Osc {
            s: f32x8::ZERO,
            c: f32x8::ZERO,
            rs: f32x8::splat(rs as f32),
            rc: f32x8::splat(rc as f32),
            k: 0,
        }
    }

    /// Phases of the next eight samples (as f32, relative wrap keeps them small), then
    /// advance eight samples.
    #[inline]
    pub fn next8(&mut self) -> f32x8 {
        let base = if self.phase > std::f64::consts::PI {
            self.phase - TAU
        } else {
            self.phase
        };
        let v = f32x8::splat(base as f32) + lane_index0() * f32x8::splat(self.delta as f32);
        self.phase = wrap(self.phase + 8.0 * self.delta);
        v
    }
}

#[inline(always)]
fn wrap(p: f64) -> f64 {
    if (0.0..TAU).contains(&p) {
        p
    } else {
        p.rem_euclid(TAU)
    }
}

/// Sines of eight consecutive samples per step: an exact `sin_cos` every 64 samples, in
/// between the phasors are rotated by 8Δ (two multiplies and an add per lane), which keeps
/// the error near 1e-6 while cutting the cost of the LFOs several times.
pub(crate) struct Osc {
    s: f32x8,
    c: f32x8,
    rs: f32x8,
    rc: f32x8,
    k: u32,
}

impl Osc {
    #[inline(always)]
    pub fn next8(&mut self, ph: &mut Phase) -> f32x8 {
        if self.k.is_multiple_of(8) {
            let (s, c) = ph.next8().sin_cos();
            self.s = s;
            self.c = c;
        } else {
            let s = self.s * self.rc + self.c * self.rs;
            let c = self.c * self.rc - self.s * self.rs;
            self.s = s;
            self.c = c;
            ph.skip8();
        }
        self.k += 1;
        self.s
    }
}
