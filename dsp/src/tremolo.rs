//! Tremolo: `y = x·((1 − d) + d·sin φ)` with d = depth/2 (lavadsp).
//!
//! Out of Lavalink's range (its setters throw and the track fails): frequency ≤ 0 or
//! depth ≤ 0 → no effect; depth > 1 → 1.

use wide::f32x8;

use crate::filters::Tremolo;
use crate::lfo::Phase;
use crate::simd::{lane_index1, ld, st, Ramp, LANES};

pub(crate) struct TremoloStage {
    lfo: Phase,
    depth: Ramp,
    pub simd: bool,
}

impl TremoloStage {
    pub fn new(simd: bool) -> Self {
        TremoloStage {
            lfo: Phase::default(),
            depth: Ramp::new(0.0),
            simd,
        }
    }

    pub fn set(&mut self, t: Option<Tremolo>) {
        let (hz, depth) = match t {
            Some(t) if t.frequency > 0.0 && t.frequency.is_finite() && t.depth > 0.0 => {
                (t.frequency as f64, t.depth.min(1.0))
            }
            _ => (0.0, 0.0),
        };
        if depth > 0.0 {
            self.lfo.set_hz(hz);
        }
        // Internal depth is half the configured depth.
        self.depth.set(depth / 2.0);
    }

    pub fn active(&self) -> bool {
        !self.depth.is(0.0)
    }

    pub fn process(&mut self, l: &mut [f32], r: &mut [f32]) {
        if !self.active() {
            return;
        }
        let n = l.len().min(r.len());
        let dr = self.depth.block(n);
        let mut i = 0;
        if self.simd {
            let idx = lane_index1();
            let one = f32x8::ONE;
            let mut osc = self.lfo.osc();
            while i + LANES <= n {
                let d = dr.at8(idx + f32x8::splat(i as f32));
                let s = osc.next8(&mut self.lfo);
                let g = (one - d) + d * s;
                let vl = ld(&l[i..]) * g;
                let vr = ld(&r[i..]) * g;
                st(&mut l[i..], vl);
                st(&mut r[i..], vr);
                i += LANES;
            }
        }
        while i < n {
            let d = dr.at((i + 1) as f32);
            let s = self.lfo.next().sin() as f32;
            let g = (1.0 - d) + d * s;
            l[i] *= g;
            r[i] *= g;
            i += 1;
        }
    }
}
