//! Top-level `reverb` (NodeLink's fields): Freeverb. The two channels' mono sum feeds, per
//! side, eight damped feedback combs in parallel and four all-passes in series (Jezar's
//! 44.1 kHz tunings rescaled to 48 kHz, the right side 23 samples longer); comb feedback
//! `0.7 + 0.28·roomSize`, damping `0.4·damping`; `width` cross-mixes the two wet sides and
//! a DC blocker cleans them; out = x·(1 − mix) + wet·mix. Active iff mix > 0 (`{}` is
//! audible: mix 0.5). Own implementation, not fundsp's FDN (five times the cost, §5.2).

use super::clampf;
use crate::chain::SAMPLE_RATE;
use crate::simd::Ramp;

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
            *c = Line { start: at, len, idx: 0 };
            at += len;
        }
        for (a, &t) in self.allpasses.iter_mut().zip(&ALLPASSES) {
            let len = scaled(t + extra);
            *a = Line { start: at, len, idx: 0 };
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
}

pub(crate) struct ReverbStage {
    sides: [Side; 2],
    feedback: f32,
    damp: f32,
    mix: Ramp,
    /// Wet gains: own side, other side.
    own: Ramp,
    cross: Ramp,
}

impl ReverbStage {
    pub fn new() -> Self {
        ReverbStage {
            sides: [Side::default(), Side::default()],
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
        self.feedback = 0.7 + 0.28 * clampf(p.room_size, 0.0, 1.0, 0.5);
        self.damp = 0.4 * clampf(p.damping, 0.0, 1.0, 0.5);
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
            l[i] = xl * (1.0 - m) + (wl * o + wr * c) * m;
            r[i] = xr * (1.0 - m) + (wr * o + wl * c) * m;
        }
        for s in [sl, sr] {
            if !s.store.iter().all(|v| v.is_finite()) {
                s.clear();
            }
        }
    }
}
