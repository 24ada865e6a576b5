//! Karaoke (lavadsp): cancel the centre with `L − level·R`, add back a resonant band-pass
//! of the mid signal around `filterBand` scaled by `monoLevel·level`.
//!
//! Deviations, each to avoid a step or a blow-up: the resonator state is kept (not zeroed)
//! when band or width change; a width ≤ 0 (unstable in lavadsp) or a non-finite band
//! disables the band-pass part.

use wide::f32x8;

use crate::chain::SAMPLE_RATE;
use crate::filters::Karaoke;
use crate::simd::{lane_index1, ld, st, Ramp, LANES};

/// lavadsp's coefficients (A, B, C) for a band and width.
pub fn coefficients(band: f32, width: f32) -> (f32, f32, f32) {
    if !(width > 0.0 && width.is_finite() && band.is_finite()) {
        return (0.0, 0.0, 0.0);
    }
    let sr = SAMPLE_RATE;
    let c = (-std::f32::consts::TAU * width / sr).exp();
    let b = -4.0 * c / (1.0 + c) * (std::f32::consts::TAU * band / sr).cos();
    let a = (1.0 - b * b / (4.0 * c)).max(0.0).sqrt() * (1.0 - c);
    (a, b, c)
}

pub(crate) struct KaraokeStage {
    level: Ramp,
    mono: Ramp,
    band: f32,
    width: f32,
    abc: (f32, f32, f32),
    y1: f32,
    y2: f32,
    pub simd: bool,
}

impl KaraokeStage {
    pub fn new(simd: bool) -> Self {
        let d = Karaoke::default();
        let abc = coefficients(d.filter_band, d.filter_width);
        KaraokeStage {
            level: Ramp::new(d.level),
            mono: Ramp::new(d.mono_level),
            band: d.filter_band,
            width: d.filter_width,
            abc,
            y1: 0.0,
            y2: 0.0,
            simd,
        }
    }

    /// `fresh`: the stage was off, so jump to the parameters (the wet mix fades it in).
    pub fn set(&mut self, k: Karaoke, fresh: bool) {
        let fin = |v: f32, d: f32| if v.is_finite() { v } else { d };
        self.level.set(fin(k.level, 1.0));
        self.mono.set(fin(k.mono_level, 1.0));
        if fresh {
            self.level.snap();
            self.mono.snap();
        }
        if k.filter_band != self.band || k.filter_width != self.width {
            self.band = k.filter_band;
            self.width = k.filter_width;
            self.abc = coefficients(self.band, self.width);
        }
    }

    pub fn reset(&mut self) {
        self.y1 = 0.0;
        self.y2 = 0.0;
    }

    pub fn process(&mut self, l: &mut [f32], r: &mut [f32]) {
        let n = l.len().min(r.len());
        let lv = self.level.block(n);
        let mo = self.mono.block(n);
        let (a, b, c) = self.abc;
        let (mut y1, mut y2) = (self.y1, self.y2);
        let mut i = 0;
        if self.simd {
            let idx = lane_index1();
            let half = f32x8::splat(0.5);
            while i + LANES <= n {
                let k = idx + f32x8::splat(i as f32);
                let (lvv, mov) = (lv.at8(k), mo.at8(k));
                let vl = ld(&l[i..]);
                let vr = ld(&r[i..]);
                let m = (vl + vr) * half;
                // The resonator is high-Q: run the recursion exactly as the scalar path
                // does (a block form would round differently), SIMD around it.
                let ma = m.to_array();
                let mut ya = [0.0f32; 8];
                for k in 0..8 {
                    let y = (a * ma[k] - c * y2) - b * y1;
                    y2 = y1;
                    y1 = y;
                    ya[k] = y;
                }
                let y = f32x8::new(ya);
                let o = y * mov * lvv;
                st(&mut l[i..], vl - lvv * vr + o);
                st(&mut r[i..], vr - lvv * vl + o);
                i += LANES;
            }
        }
        while i < n {
            let k = (i + 1) as f32;
            let (lvv, mov) = (lv.at(k), mo.at(k));
            let (vl, vr) = (l[i], r[i]);
            let m = (vl + vr) * 0.5;
            let y = (a * m - c * y2) - b * y1;
            y2 = y1;
            y1 = y;
            let o = y * mov * lvv;
            l[i] = vl - lvv * vr + o;
            r[i] = vr - lvv * vl + o;
            i += 1;
        }
        if !(y1.is_finite() && y2.is_finite()) {
            y1 = 0.0;
            y2 = 0.0;
        }
        self.y1 = y1;
        self.y2 = y2;
    }
}
