//! Rotation (8D audio): `L' = L·(1 + sin x)/2`, `R' = R·(1 − sin x)/2` (lavadsp).
//!
//! As in Lavalink, rotationHz 0 inside an active chain is not an identity: sin 0 = 0
//! halves both channels.

use wide::f32x8;

use crate::filters::Rotation;
use crate::lfo::Phase;
use crate::simd::{ld, st, LANES};

pub(crate) struct RotationStage {
    lfo: Phase,
    pub simd: bool,
}

impl RotationStage {
    pub fn new(simd: bool) -> Self {
        RotationStage {
            lfo: Phase::default(),
            simd,
        }
    }

    pub fn set(&mut self, r: Rotation) {
        self.lfo.set_hz(r.rotation_hz);
    }

    pub fn process(&mut self, l: &mut [f32], r: &mut [f32]) {
        let n = l.len().min(r.len());
        let mut i = 0;
        if self.simd {
            let half = f32x8::splat(0.5);
            let mut osc = self.lfo.osc();
            while i + LANES <= n {
                let s = osc.next8(&mut self.lfo);
                let vl = ld(&l[i..]) * ((f32x8::ONE + s) * half);
                let vr = ld(&r[i..]) * ((f32x8::ONE - s) * half);
                st(&mut l[i..], vl);
                st(&mut r[i..], vr);
                i += LANES;
            }
        }
        while i < n {
            let s = self.lfo.next().sin() as f32;
            l[i] *= (1.0 + s) * 0.5;
            r[i] *= (1.0 - s) * 0.5;
            i += 1;
        }
    }
}
