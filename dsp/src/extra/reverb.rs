//! Top-level `reverb` (NodeLink's fields): Freeverb. The two channels' mono sum feeds, per
//! side, eight damped feedback combs in parallel and four all-passes in series (Jezar's
//! 44.1 kHz tunings rescaled to 48 kHz, the right side 23 samples longer); comb feedback
//! `0.7 + 0.28·roomSize`, damping `0.4·damping`; `width` cross-mixes the two wet sides and
//! a DC blocker cleans them; out = x·(1 − mix) + wet·mix. Active iff mix > 0 (`{}` is
//! audible: mix 0.5). Own implementation, not fundsp's FDN (five times the cost, §5.2).

use wide::f32x8;

use super::clampf;
use crate::chain::{FRAME, SAMPLE_RATE};
use crate::iir::Block2;
use crate::simd::{ld, st, Ramp, LANES};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reverb {
    pub mix: f32,
    pub room_size: f32,
    pub damping: f32,
    pub width: f32,
}

impl Default for Reverb {
    fn default() -> Self {
        Reverb {
            mix: 0.5,
            room_size: 0.5,
            damping: 0.5,
            width: 1.0,
        }
    }
}

impl Reverb {
    pub fn active(&self) -> bool {
        self.mix > 0.0
    }
}

const COMBS: [usize; 8] = [1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617];
const ALLPASSES: [usize; 4] = [556, 441, 341, 225];
const SPREAD: usize = 23;
/// Freeverb's input gain (keeps the eight combs' sum near full scale).
const INPUT_GAIN: f32 = 0.015;
const ALLPASS_FEEDBACK: f32 = 0.5;
/// DC blocker pole on the wet signal.
const DC_POLE: f32 = 0.995;

/// A tuning at 44.1 kHz in samples at our rate.
fn scaled(n: usize) -> usize {
    ((n as f64) * SAMPLE_RATE as f64 / 44_100.0).round() as usize
}

#[derive(Clone, Copy, Default)]
struct Line {
    start: usize,
    len: usize,
    idx: usize,
}

impl Line {
    #[inline(always)]
    fn at(&self) -> usize {
        self.start + self.idx
    }
    #[inline(always)]
    fn step(&mut self) {
        self.idx += 1;
        if self.idx == self.len {
            self.idx = 0;
        }
    }
}

/// One side: eight combs and four all-passes in one buffer.
#[derive(Default)]
struct Side {
    buf: Vec<f32>,
    combs: [Line; 8],
    store: [f32; 8],
    allpasses: [Line; 4],
    /// DC blocker state (x[n−1], y[n−1]).
    dc: (f32, f32),
}

impl Side {
    fn alloc(&mut self, extra: usize) {
        if !self.buf.is_empty() {
            return;
        }
        let mut at = 0;
        for (c, &t) in self.combs.iter_mut().zip(&COMBS) {
            let len = scaled(t + extra);
            *c = Line {
                start: at,
                len,
                idx: 0,
            };
            at += len;
        }
        for (a, &t) in self.allpasses.iter_mut().zip(&ALLPASSES) {
            let len = scaled(t + extra);
            *a = Line {
                start: at,
                len,
                idx: 0,
            };
            at += len;
        }
        self.buf = vec![0.0; at];
    }

    fn clear(&mut self) {
        self.buf.fill(0.0);
        self.store = [0.0; 8];
        self.dc = (0.0, 0.0);
    }

    /// One wet sample from one input sample.
    #[inline(always)]
    fn tick(&mut self, input: f32, fb: f32, damp: f32) -> f32 {
        let mut out = 0.0;
        for k in 0..8 {
            let c = &mut self.combs[k];
            let i = c.at();
            let y = self.buf[i];
            let s = y + damp * (self.store[k] - y);
            self.store[k] = s;
            self.buf[i] = input + s * fb;
            c.step();
            out += y;
        }
        for a in &mut self.allpasses {
            let i = a.at();
            let b = self.buf[i];
            self.buf[i] = out + b * ALLPASS_FEEDBACK;
            out = b - out;
            a.step();
        }
        let (x1, y1) = self.dc;
        let y = out - x1 + DC_POLE * y1;
        self.dc = (out, y);
        y
    }

    /// [`Side::tick`] for a whole block, eight samples at a time: every comb and
    /// all-pass is at least 245 samples long, so within a run of up to its length it reads
    /// only values written before the run, and the block needs no per-sample recursion
    /// except the damping and DC-blocker one-poles, which run in block form ([`Block2`]).
    fn block(&mut self, input: &[f32], wet: &mut [f32], fb: f32, damp: f32, blk: &Blocks) {
        let m = input.len().min(wet.len());
        let wet = &mut wet[..m];
        wet.fill(0.0);
        let fbv = f32x8::splat(fb);
        for k in 0..8 {
            let c = self.combs[k];
            let (mut s, mut idx, mut j) = (self.store[k], c.idx, 0);
            while j < m {
                let run = (c.len - idx).min(m - j);
                let seg = &mut self.buf[c.start + idx..c.start + idx + run];
                let (inp, acc) = (&input[j..j + run], &mut wet[j..j + run]);
                let mut t = 0;
                while t + LANES <= run {
                    let y = ld(&seg[t..]);
                    let sum = ld(&acc[t..]) + y;
                    st(&mut acc[t..], sum);
                    let sv = blk.damp.run(y, s, 0.0);
                    s = sv.to_array()[LANES - 1];
                    st(&mut seg[t..], ld(&inp[t..]) + sv * fbv);
                    t += LANES;
                }
                while t < run {
                    let y = seg[t];
                    acc[t] += y;
                    s = y + damp * (s - y);
                    seg[t] = inp[t] + s * fb;
                    t += 1;
                }
                j += run;
                idx += run;
                if idx == c.len {
                    idx = 0;
                }
            }
            self.combs[k].idx = idx;
            self.store[k] = s;
        }
        let half = f32x8::splat(ALLPASS_FEEDBACK);
        for a in &mut self.allpasses {
            let (mut idx, mut j) = (a.idx, 0);
            while j < m {
                let run = (a.len - idx).min(m - j);
                let seg = &mut self.buf[a.start + idx..a.start + idx + run];
                let x = &mut wet[j..j + run];
                let mut t = 0;
                while t + LANES <= run {
                    let (b, v) = (ld(&seg[t..]), ld(&x[t..]));
                    st(&mut seg[t..], v + b * half);
                    st(&mut x[t..], b - v);
                    t += LANES;
                }
                while t < run {
                    let b = seg[t];
                    seg[t] = x[t] + b * ALLPASS_FEEDBACK;
                    x[t] = b - x[t];
                    t += 1;
                }
                j += run;
                idx += run;
                if idx == a.len {
                    idx = 0;
                }
            }
            a.idx = idx;
        }
        // DC blocker y = (x − x1) + pole·y1, the difference in SIMD, the pole in block form.
        let (mut x1, mut y1) = self.dc;
        let mut t = 0;
        while t + LANES <= m {
            let v = ld(&wet[t..]);
            let a = v.to_array();
            let prev = f32x8::new([x1, a[0], a[1], a[2], a[3], a[4], a[5], a[6]]);
            x1 = a[LANES - 1];
            let y = blk.dc.run(v - prev, y1, 0.0);
            y1 = y.to_array()[LANES - 1];
            st(&mut wet[t..], y);
            t += LANES;
        }
        while t < m {
            let v = wet[t];
            let y = v - x1 + DC_POLE * y1;
            (x1, y1) = (v, y);
            wet[t] = y;
            t += 1;
        }
        self.dc = (x1, y1);
    }
}

/// The one-pole recursions in block form.
struct Blocks {
    /// s[n] = (1 − damp)·y[n] + damp·s[n−1].
    damp: Block2,
    /// y[n] = u[n] + pole·y[n−1].
    dc: Block2,
}

pub(crate) struct ReverbStage {
    sides: [Side; 2],
    blocks: Blocks,
    /// Scratch for the block path: mono input and the two wet sides (grown by `set`).
    mono: Vec<f32>,
    wet: [Vec<f32>; 2],
    simd: bool,
    feedback: f32,
    damp: f32,
    mix: Ramp,
    /// Wet gains: own side, other side.
    own: Ramp,
    cross: Ramp,
}

impl ReverbStage {
    pub fn new(simd: bool) -> Self {
        ReverbStage {
            sides: [Side::default(), Side::default()],
            blocks: Blocks {
                damp: Block2::new(0.8, -0.2, 0.0),
                dc: Block2::new(1.0, -(DC_POLE as f64), 0.0),
            },
            mono: Vec::new(),
            wet: [Vec::new(), Vec::new()],
            simd,
            feedback: 0.84,
            damp: 0.2,
            mix: Ramp::new(0.0),
            own: Ramp::new(1.0),
            cross: Ramp::new(0.0),
        }
    }

    pub fn set(&mut self, p: &Reverb, fresh: bool) {
        self.sides[0].alloc(0);
        self.sides[1].alloc(SPREAD);
        if self.simd && self.mono.is_empty() {
            self.mono = vec![0.0; FRAME];
            self.wet = [vec![0.0; FRAME], vec![0.0; FRAME]];
        }
        self.feedback = 0.7 + 0.28 * clampf(p.room_size, 0.0, 1.0, 0.5);
        let damp = 0.4 * clampf(p.damping, 0.0, 1.0, 0.5);
        if damp != self.damp {
            self.damp = damp;
            self.blocks.damp = Block2::new(1.0 - damp as f64, -(damp as f64), 0.0);
        }
        let mix = clampf(p.mix, 0.0, 1.0, 0.5);
        let width = clampf(p.width, 0.0, 1.0, 1.0);
        let (own, cross) = (0.5 + 0.5 * width, 0.5 - 0.5 * width);
        if fresh {
            self.reset();
            self.mix = Ramp::new(mix);
            self.own = Ramp::new(own);
            self.cross = Ramp::new(cross);
        } else {
            self.mix.set(mix);
            self.own.set(own);
            self.cross.set(cross);
        }
    }

    pub fn reset(&mut self) {
        for s in &mut self.sides {
            s.clear();
        }
    }

    pub fn process(&mut self, l: &mut [f32], r: &mut [f32]) {
        let n = l.len().min(r.len());
        if self.sides[0].buf.is_empty() {
            return;
        }
        if self.simd && !self.mono.is_empty() {
            let mut at = 0;
            while at < n {
                let m = (n - at).min(self.mono.len());
                self.block(&mut l[at..at + m], &mut r[at..at + m]);
                at += m;
            }
        } else {
            self.scalar(l, r);
        }
        for s in &mut self.sides {
            if !s.store.iter().chain([&s.dc.1]).all(|v| v.is_finite()) {
                s.clear();
            }
        }
    }

    /// The block path: both sides block-wise, then the mix eight samples at a time.
    fn block(&mut self, l: &mut [f32], r: &mut [f32]) {
        let n = l.len();
        let (fb, damp) = (self.feedback, self.damp);
        let mono = &mut self.mono[..n];
        for ((m, &a), &b) in mono.iter_mut().zip(l.iter()).zip(r.iter()) {
            *m = (a + b) * INPUT_GAIN;
        }
        let [wl, wr] = &mut self.wet;
        self.sides[0].block(mono, wl, fb, damp, &self.blocks);
        self.sides[1].block(mono, wr, fb, damp, &self.blocks);
        let (mix, own, cross) = (self.mix.block(n), self.own.block(n), self.cross.block(n));
        let idx = crate::simd::lane_index1();
        let mut i = 0;
        while i + LANES <= n {
            let k = idx + f32x8::splat(i as f32);
            let (m, o, c) = (mix.at8(k), own.at8(k), cross.at8(k));
            let (xl, xr) = (ld(&l[i..]), ld(&r[i..]));
            let (a, b) = (ld(&wl[i..]), ld(&wr[i..]));
            st(&mut l[i..], xl + ((a * o + b * c) - xl) * m);
            st(&mut r[i..], xr + ((b * o + a * c) - xr) * m);
            i += LANES;
        }
        while i < n {
            let k = (i + 1) as f32;
            let (m, o, c) = (mix.at(k), own.at(k), cross.at(k));
            let (xl, xr) = (l[i], r[i]);
            l[i] = xl + ((wl[i] * o + wr[i] * c) - xl) * m;
            r[i] = xr + ((wr[i] * o + wl[i] * c) - xr) * m;
            i += 1;
        }
    }

    /// The scalar reference: one sample at a time through both sides.
    fn scalar(&mut self, l: &mut [f32], r: &mut [f32]) {
        let n = l.len().min(r.len());
        let (mix, own, cross) = (self.mix.block(n), self.own.block(n), self.cross.block(n));
        let (fb, damp) = (self.feedback, self.damp);
        let [sl, sr] = &mut self.sides;
        for i in 0..n {
            let k = (i + 1) as f32;
            let (xl, xr) = (l[i], r[i]);
            let input = (xl + xr) * INPUT_GAIN;
            let wl = sl.tick(input, fb, damp);
            let wr = sr.tick(input, fb, damp);
            let (m, o, c) = (mix.at(k), own.at(k), cross.at(k));
            l[i] = xl + ((wl * o + wr * c) - xl) * m;
            r[i] = xr + ((wr * o + wl * c) - xr) * m;
        }
    }
}
