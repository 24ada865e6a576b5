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
        self.phase = (self.phase + self.delta).rem_euclid(TAU);
        p
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
        self.phase = (self.phase + 8.0 * self.delta).rem_euclid(TAU);
        v
    }
}
