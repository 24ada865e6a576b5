//! Small SIMD building blocks (`wide::f32x8`) shared by the filters, each with the plain
//! scalar loop it replaces so tests and benches can compare both in one run.

use wide::f32x8;

pub(crate) const LANES: usize = 8;

#[inline(always)]
pub(crate) fn ld(s: &[f32]) -> f32x8 {
    let a: [f32; 8] = s[..8].try_into().unwrap_or([0.0; 8]);
    f32x8::new(a)
}

#[inline(always)]
pub(crate) fn st(s: &mut [f32], v: f32x8) {
    s[..8].copy_from_slice(&v.to_array());
}

/// Lane offsets 1..=8, used for per-sample ramps `v0 + step·(i+1)`.
#[inline(always)]
pub(crate) fn lane_index1() -> f32x8 {
    f32x8::new([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
}

/// Lane offsets 0..8.
#[inline(always)]
pub(crate) fn lane_index0() -> f32x8 {
    f32x8::new([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
}

/// `x[i] *= g0 + step·(i+1)`: a gain ramp (constant gain when `step` is 0).
pub(crate) fn gain_ramp(x: &mut [f32], g0: f32, step: f32, simd: bool) {
    let n = x.len();
    let mut i = 0;
    if simd {
        let idx = lane_index1();
        while i + LANES <= n {
            let g = f32x8::splat(g0) + f32x8::splat(step) * (idx + f32x8::splat(i as f32));
            let v = ld(&x[i..]) * g;
            st(&mut x[i..], v);
            i += LANES;
        }
    }
    while i < n {
        x[i] *= g0 + step * ((i + 1) as f32);
        i += 1;
    }
}

/// Clamp to full scale (Lavalink's filters clamp where noted in §7.3).
pub(crate) fn clamp1(x: &mut [f32], simd: bool) {
    let n = x.len();
    let mut i = 0;
    if simd {
        let lo = f32x8::splat(-1.0);
        let hi = f32x8::splat(1.0);
        while i + LANES <= n {
            let v = ld(&x[i..]).max(lo).min(hi);
            st(&mut x[i..], v);
            i += LANES;
        }
    }
    while i < n {
        x[i] = x[i].clamp(-1.0, 1.0);
        i += 1;
    }
}

/// `wet[i] = dry[i] + m(i)·(wet[i] − dry[i])` with `m(i) = m0 + step·(i+1)`: the
/// crossfade used when a filter is switched on or off.
pub(crate) fn blend_ramp(dry: &[f32], wet: &mut [f32], m0: f32, step: f32, simd: bool) {
    let n = wet.len().min(dry.len());
    let mut i = 0;
    if simd {
        let idx = lane_index1();
        while i + LANES <= n {
            let m = f32x8::splat(m0) + f32x8::splat(step) * (idx + f32x8::splat(i as f32));
            let d = ld(&dry[i..]);
            let v = d + m * (ld(&wet[i..]) - d);
            st(&mut wet[i..], v);
            i += LANES;
        }
    }
    while i < n {
        let m = m0 + step * ((i + 1) as f32);
        wet[i] = dry[i] + m * (wet[i] - dry[i]);
        i += 1;
    }
}

/// Replace NaN/±inf by 0 (what Lavalink's float→PCM conversion makes of NaN). Returns
/// whether anything was replaced, so recursive filters can drop poisoned state.
pub(crate) fn sanitize(x: &mut [f32]) -> bool {
    let mut bad = false;
    for v in x.iter_mut() {
        if !v.is_finite() {
            *v = 0.0;
            bad = true;
        }
    }
    bad
}

pub(crate) fn deinterleave(src: &[f32], l: &mut [f32], r: &mut [f32]) {
    let n = l.len().min(r.len());
    let frames = (src.len() / 2).min(n);
    for i in 0..frames {
        l[i] = src[2 * i];
        r[i] = src[2 * i + 1];
    }
    l[frames..n].fill(0.0);
    r[frames..n].fill(0.0);
}

pub(crate) fn interleave(l: &[f32], r: &[f32], dst: &mut [f32]) {
    let frames = (dst.len() / 2).min(l.len()).min(r.len());
    for i in 0..frames {
        dst[2 * i] = l[i];
        dst[2 * i + 1] = r[i];
    }
    dst[2 * frames..].fill(0.0);
}

/// A parameter that moves linearly to its target across one block, so changes take effect
/// within the next frame without a step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Ramp {
    pub cur: f32,
    pub target: f32,
}

impl Ramp {
    pub fn new(v: f32) -> Ramp {
        Ramp { cur: v, target: v }
    }
    pub fn steady(&self) -> bool {
        self.cur == self.target
    }
    /// Start value and per-sample step for a block of `n` samples; afterwards `cur = target`.
    pub fn block(&mut self, n: usize) -> (f32, f32) {
        let start = self.cur;
        let step = if n == 0 {
            0.0
        } else {
            (self.target - self.cur) / n as f32
        };
        if n > 0 {
            self.cur = self.target;
        }
        (start, step)
    }
    pub fn snap(&mut self) {
        self.cur = self.target;
    }
}

/// The dry/wet mix of a filter being switched on (0 → 1) or off (1 → 0).
pub(crate) type Wet = Ramp;

/// Whether a wet ramp has fully reached "off".
pub(crate) fn wet_off(w: &Wet) -> bool {
    w.cur == 0.0 && w.target == 0.0
}
