//! Channel mix: `L' = clamp(ll·L + rl·R)`, `R' = clamp(lr·L + rr·R)` (lavadsp). Factor
//! changes ramp across one block.

use wide::f32x8;

use crate::filters::ChannelMix;
use crate::simd::{lane_index1, ld, st, Ramp, LANES};

pub(crate) struct ChannelMixStage {
    ll: Ramp,
    lr: Ramp,
    rl: Ramp,
    rr: Ramp,
    configured: bool,
    pub simd: bool,
}

impl ChannelMixStage {
    pub fn new(simd: bool) -> Self {
        ChannelMixStage {
            ll: Ramp::new(1.0),
            lr: Ramp::new(0.0),
            rl: Ramp::new(0.0),
            rr: Ramp::new(1.0),
            configured: false,
            simd,
        }
    }

    pub fn set(&mut self, c: Option<ChannelMix>) {
        self.configured = c.is_some();
        let c = c.unwrap_or_default();
        let fin = |v: f32, d: f32| if v.is_finite() { v } else { d };
        self.ll.set(fin(c.left_to_left, 1.0));
        self.lr.set(fin(c.left_to_right, 0.0));
        self.rl.set(fin(c.right_to_left, 0.0));
        self.rr.set(fin(c.right_to_right, 1.0));
    }

    pub fn active(&self) -> bool {
        let identity = self.ll.is(1.0) && self.lr.is(0.0) && self.rl.is(0.0) && self.rr.is(1.0);
        self.configured || !identity
    }

    pub fn process(&mut self, l: &mut [f32], r: &mut [f32]) {
        if !self.active() {
            return;
        }
        let n = l.len().min(r.len());
        let rll = self.ll.block(n);
        let rlr = self.lr.block(n);
        let rrl = self.rl.block(n);
        let rrr = self.rr.block(n);
        let ramp = !(rll.constant() && rlr.constant() && rrl.constant() && rrr.constant());
        let mut i = 0;
        if self.simd {
            let idx = lane_index1();
            let lo = f32x8::splat(-1.0);
            let hi = f32x8::splat(1.0);
            let (mut ll, mut lr, mut rl, mut rr) = (
                f32x8::splat(rll.start),
                f32x8::splat(rlr.start),
                f32x8::splat(rrl.start),
                f32x8::splat(rrr.start),
            );
            while i + LANES <= n {
                if ramp {
                    let k = idx + f32x8::splat(i as f32);
                    ll = rll.at8(k);
                    lr = rlr.at8(k);
                    rl = rrl.at8(k);
                    rr = rrr.at8(k);
                }
                let vl = ld(&l[i..]);
                let vr = ld(&r[i..]);
                st(&mut l[i..], (ll * vl + rl * vr).max(lo).min(hi));
                st(&mut r[i..], (lr * vl + rr * vr).max(lo).min(hi));
                i += LANES;
            }
        }
        while i < n {
            let k = (i + 1) as f32;
            let (ll, lr, rl, rr) = (rll.at(k), rlr.at(k), rrl.at(k), rrr.at(k));
            let (vl, vr) = (l[i], r[i]);
            l[i] = (ll * vl + rl * vr).clamp(-1.0, 1.0);
            r[i] = (lr * vl + rr * vr).clamp(-1.0, 1.0);
            i += 1;
        }
    }
}
