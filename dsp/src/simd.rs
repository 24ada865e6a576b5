//! Small SIMD building blocks (`wide::f32x8`) shared by the filters, each with the plain
//! scalar loop it replaces so tests and benches can compare both in one run.

use wide::{f32x8, i32x8};

pub(crate) const LANES: usize = 8;

#[inline(always)]
pub(crate) fn ld(s: &[f32]) -> f32x8 {
    let a: [f32; 8] = s[..8].try_into().unwrap_or([0.0; 8]);
    f32x8::new(a)
}

/// A stored sample type the interpolating readers load eight at a time as f32: f32 itself,
/// or i16 (timescale's channel buffers, read in raw units and scaled once at the end).
pub(crate) trait Stored: Copy {
    fn ld8(s: &[Self]) -> f32x8;
    fn value(self) -> f32;
}

impl Stored for f32 {
    #[inline(always)]
    fn ld8(s: &[f32]) -> f32x8 {
        ld(s)
    }
    #[inline(always)]
    fn value(self) -> f32 {
        self
    }
}

impl Stored for i16 {
    #[inline(always)]
    fn ld8(s: &[i16]) -> f32x8 {
        f32x8::from_i32x8(i32x8::from_i16x8(wide::i16x8::from_slice_unaligned(
            &s[..8],
        )))
    }
    #[inline(always)]
    fn value(self) -> f32 {
        f32::from(self)
    }
}

#[inline(always)]
pub(crate) fn st(s: &mut [f32], v: f32x8) {
    s[..8].copy_from_slice(&v.to_array());
}

/// The four Hermite taps `y_m[k] = b[base + k + rel[k] + m − 1]` (m = 0..4) of eight
/// interpolated reads whose offsets `rel` span at most two consecutive values (slowly
/// moving read positions: vibrato delays, grain rates near 1): a few contiguous loads and
/// lane selects instead of a 32-load gather, with exactly the gathered values. Built once
/// per eight reads and used for both channels.
#[derive(Clone, Copy)]
pub(crate) struct NearTaps {
    dmin: i32,
    spread: i32,
    m1: f32x8,
}

impl NearTaps {
    /// `None` when the offsets spread over more than two values.
    #[inline(always)]
    pub fn new(rel: i32x8) -> Option<NearTaps> {
        let (dmin, dmax) = (rel.reduce_min(), rel.reduce_max());
        // Three-way selects cost about as much as the gather on SSE2: two-way only.
        if dmax - dmin > 1 {
            return None;
        }
        Some(NearTaps {
            dmin,
            spread: dmax - dmin,
            m1: wide::bytemuck::cast(rel.simd_gt(i32x8::splat(dmin))),
        })
    }

    /// The taps from `b`, or `None` when a load would leave it.
    #[inline(always)]
    pub fn read<T: Stored>(&self, b: &[T], base: isize) -> Option<[f32x8; 4]> {
        let first = base + self.dmin as isize - 1;
        let end = first + self.spread as isize + 3 + LANES as isize;
        if first < 0 || end > b.len() as isize {
            return None;
        }
        // v(j)[k] = b[first + j + k]
        let v = |j: usize| T::ld8(&b[first as usize + j..]);
        let m1 = self.m1;
        Some(if self.spread == 0 {
            [v(0), v(1), v(2), v(3)]
        } else {
            let w = [v(0), v(1), v(2), v(3), v(4)];
            std::array::from_fn(|m| m1.bitselect(w[m + 1], w[m]))
        })
    }
}

/// Lane offsets 0..8 as integers.
#[inline(always)]
pub(crate) fn lane_index0_i32() -> i32x8 {
    i32x8::new([0, 1, 2, 3, 4, 5, 6, 7])
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

/// `x[i] *= g(i+1)` for a gain ramp (constant gain when the ramp is steady).
pub(crate) fn gain_ramp(x: &mut [f32], g: RampBlock, simd: bool) {
    let n = x.len();
    let mut i = 0;
    if simd {
        let idx = lane_index1();
        if g.constant() {
            let gv = f32x8::splat(g.start);
            while i + LANES <= n {
                let v = ld(&x[i..]) * gv;
                st(&mut x[i..], v);
                i += LANES;
            }
        } else {
            while i + LANES <= n {
                let v = ld(&x[i..]) * g.at8(idx + f32x8::splat(i as f32));
                st(&mut x[i..], v);
                i += LANES;
            }
        }
    }
    while i < n {
        x[i] *= g.at((i + 1) as f32);
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

/// `wet[i] = dry[i] + m(i)·(wet[i] − dry[i])`: the crossfade used when a filter is
/// switched on or off or its parameters jump.
pub(crate) fn blend_ramp(dry: &[f32], wet: &mut [f32], m: RampBlock, simd: bool) {
    let n = wet.len().min(dry.len());
    let mut i = 0;
    if simd {
        let idx = lane_index1();
        while i + LANES <= n {
            let mv = m.at8(idx + f32x8::splat(i as f32));
            let d = ld(&dry[i..]);
            let v = d + mv * (ld(&wet[i..]) - d);
            st(&mut wet[i..], v);
            i += LANES;
        }
    }
    while i < n {
        let mv = m.at((i + 1) as f32);
        wet[i] = dry[i] + mv * (wet[i] - dry[i]);
        i += 1;
    }
}

/// Replace NaN/±inf by 0 (what Lavalink's float→PCM conversion makes of NaN). Returns
/// whether anything was replaced, so recursive filters can drop poisoned state.
pub(crate) fn sanitize(x: &mut [f32], simd: bool) -> bool {
    if simd {
        // Fast path: check eight at a time, repair only if something is off.
        let mut ok = true;
        let mut i = 0;
        while i + LANES <= x.len() {
            ok &= ld(&x[i..]).is_finite().all();
            i += LANES;
        }
        ok &= x[i..].iter().all(|v| v.is_finite());
        if ok {
            return false;
        }
    }
    let mut bad = false;
    for v in x.iter_mut() {
        if !v.is_finite() {
            *v = 0.0;
            bad = true;
        }
    }
    bad
}

/// Split interleaved stereo into planar buffers (missing frames are silence).
pub(crate) fn deinterleave(src: &[f32], l: &mut [f32], r: &mut [f32]) {
    let n = l.len().min(r.len());
    let frames = (src.len() / 2).min(n);
    for ((fr, a), b) in src[..frames * 2]
        .chunks_exact(2)
        .zip(l.iter_mut())
        .zip(r.iter_mut())
    {
        *a = fr[0];
        *b = fr[1];
    }
    l[frames..n].fill(0.0);
    r[frames..n].fill(0.0);
}

/// Join planar buffers into interleaved stereo.
pub(crate) fn interleave(l: &[f32], r: &[f32], dst: &mut [f32]) {
    let frames = (dst.len() / 2).min(l.len()).min(r.len());
    for ((fr, &a), &b) in dst[..frames * 2].chunks_exact_mut(2).zip(l).zip(r) {
        fr[0] = a;
        fr[1] = b;
    }
    dst[2 * frames..].fill(0.0);
}

/// Samples a parameter ramp takes (10 ms): long enough to be inaudible as a step, short
/// enough that any change is complete within the next 20 ms frame.
pub(crate) const RAMP_LEN: f32 = 480.0;

/// A parameter that moves linearly to its target over [`RAMP_LEN`] samples, so changes
/// take effect at once without a step, whatever the block sizes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Ramp {
    pub cur: f32,
    pub target: f32,
    step: f32,
}

/// One block's view of a ramp: value at sample k (1-based) = start + step·k, held at the
/// target once reached.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RampBlock {
    pub start: f32,
    pub step: f32,
    pub lo: f32,
    pub hi: f32,
}

impl RampBlock {
    pub fn constant(&self) -> bool {
        self.step == 0.0
    }
    #[inline(always)]
    pub fn at(&self, k: f32) -> f32 {
        if self.step == 0.0 {
            self.start
        } else {
            (self.start + self.step * k).max(self.lo).min(self.hi)
        }
    }
    #[inline(always)]
    pub fn at8(&self, k: f32x8) -> f32x8 {
        (f32x8::splat(self.start) + f32x8::splat(self.step) * k)
            .max(f32x8::splat(self.lo))
            .min(f32x8::splat(self.hi))
    }
}

impl Ramp {
    pub fn new(v: f32) -> Ramp {
        Ramp {
            cur: v,
            target: v,
            step: 0.0,
        }
    }
    pub fn set(&mut self, t: f32) {
        if t != self.target {
            self.target = t;
            self.step = (t - self.cur) / RAMP_LEN;
        }
        if self.cur == self.target {
            self.step = 0.0;
        }
    }
    pub fn steady(&self) -> bool {
        self.cur == self.target
    }
    /// Whether it sits at `v` and stays there.
    pub fn is(&self, v: f32) -> bool {
        self.cur == v && self.target == v
    }
    /// The ramp over the next `n` samples; afterwards `cur` is the value at sample `n`.
    pub fn block(&mut self, n: usize) -> RampBlock {
        let rb = RampBlock {
            start: self.cur,
            step: self.step,
            lo: self.cur.min(self.target),
            hi: self.cur.max(self.target),
        };
        if n > 0 {
            self.cur = rb.at(n as f32);
            if self.cur == self.target {
                self.step = 0.0;
            }
        }
        rb
    }
    pub fn snap(&mut self) {
        self.cur = self.target;
        self.step = 0.0;
    }
}

/// The dry/wet mix of a filter being switched on (0 → 1) or off (1 → 0).
pub(crate) type Wet = Ramp;
