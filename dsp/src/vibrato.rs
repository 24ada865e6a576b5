//! Vibrato (lavadsp): a 2 ms-deep modulated delay, `delay = lfo·depth·96 + 3` samples with
//! `lfo = (sin φ + 1)/2`, read with 4-point Hermite interpolation.
//!
//! Out of Lavalink's range (its setters throw): frequency ≤ 0 or depth ≤ 0 → no effect;
//! frequency > 14 → 14; depth > 1 → 1. While off, the stage still records its short
//! history so switching it on has no gap; the larger work buffer is allocated only when
//! vibrato is first configured.

use wide::f32x8;

use crate::filters::Vibrato;
use crate::lfo::Phase;
use crate::simd::{lane_index1, st, NearTaps, Ramp, LANES};

/// History kept before each block: ≥ max delay (99) + interpolation span.
const HIST: usize = 128;
/// Samples processed per pass through the linear work buffer.
const SUB: usize = 512;
/// lavadsp's delay width: floor(0.002·sr) samples.
const WIDTH: f32 = 96.0;
pub const MAX_FREQUENCY: f32 = 14.0;

pub(crate) struct VibratoStage {
    lfo: Phase,
    depth: Ramp,
    /// Per channel: [HIST samples of history | up to SUB new samples]. Empty until the
    /// first `set` with an effect; from then on it holds the history.
    buf: Vec<[f32; HIST + SUB]>,
    /// The history while `buf` is empty (1 KiB instead of the 5 KiB work buffer).
    hist: [[f32; HIST]; 2],
    pub simd: bool,
}

/// Parameters the stage actually uses, or `None` for "no effect".
pub(crate) fn effective(v: &Vibrato) -> Option<(f32, f32)> {
    if v.frequency > 0.0 && v.depth > 0.0 && v.frequency.is_finite() && v.depth.is_finite() {
        Some((v.frequency.min(MAX_FREQUENCY), v.depth.min(1.0)))
    } else {
        None
    }
}

#[inline(always)]
fn hermite(y0: f32, y1: f32, y2: f32, y3: f32, t: f32) -> f32 {
    let c1 = (y2 - y0) * 0.5;
    let c2 = y0 - 2.5 * y1 + 2.0 * y2 - 0.5 * y3;
    let c3 = 0.5 * (y3 - y0) + 1.5 * (y1 - y2);
    ((c3 * t + c2) * t + c1) * t + y1
}

#[inline(always)]
fn hermite8(y0: f32x8, y1: f32x8, y2: f32x8, y3: f32x8, t: f32x8) -> f32x8 {
    let c1 = (y2 - y0) * f32x8::splat(0.5);
    let c2 = y0 - f32x8::splat(2.5) * y1 + f32x8::splat(2.0) * y2 - f32x8::splat(0.5) * y3;
    let c3 = f32x8::splat(0.5) * (y3 - y0) + f32x8::splat(1.5) * (y1 - y2);
    ((c3 * t + c2) * t + c1) * t + y1
}

impl VibratoStage {
    pub fn new(simd: bool) -> Self {
        VibratoStage {
            lfo: Phase::default(),
            depth: Ramp::new(0.0),
            buf: Vec::new(),
            hist: [[0.0; HIST]; 2],
            simd,
        }
    }

    /// `fresh`: the stage was off, so start at the new depth (the wet mix fades it in).
    /// The first effective call allocates the work buffer (a command, never a frame).
    pub fn set(&mut self, v: Option<Vibrato>, fresh: bool) {
        if let Some((f, d)) = v.as_ref().and_then(effective) {
            if self.buf.is_empty() {
                let mut buf = vec![[0.0; HIST + SUB]; 2];
                for (b, h) in buf.iter_mut().zip(&self.hist) {
                    b[..HIST].copy_from_slice(h);
                }
                self.buf = buf;
            }
            self.lfo.set_hz(f as f64);
            self.depth.set(d);
            if fresh {
                self.depth.snap();
            }
        }
    }

    /// Channel `ch`'s history: where `process` reads it once allocated, else `hist`.
    fn history(&mut self, ch: usize) -> &mut [f32] {
        match self.buf.get_mut(ch) {
            Some(b) => &mut b[..HIST],
            None => &mut self.hist[ch],
        }
    }

    pub fn reset(&mut self) {
        for ch in 0..2 {
            self.history(ch).fill(0.0);
        }
    }

    /// Only remember the last samples (stage off).
    pub fn record(&mut self, l: &[f32], r: &[f32]) {
        for (ch, x) in [l, r].into_iter().enumerate() {
            let b = self.history(ch);
            let n = x.len();
            if n >= HIST {
                b[..HIST].copy_from_slice(&x[n - HIST..]);
            } else {
                b.copy_within(n..HIST, 0);
                b[HIST - n..HIST].copy_from_slice(x);
            }
        }
    }

    pub fn process(&mut self, l: &mut [f32], r: &mut [f32]) {
        let n = l.len().min(r.len());
        let dr = self.depth.block(n);
        let mut done = 0;
        while done < n {
            let len = (n - done).min(SUB);
            self.buf[0][HIST..HIST + len].copy_from_slice(&l[done..done + len]);
            self.buf[1][HIST..HIST + len].copy_from_slice(&r[done..done + len]);
            let mut i = 0;
            if self.simd {
                let idx1 = lane_index1();
                let mut osc = self.lfo.osc();
                while i + LANES <= len {
                    let s = osc.next8(&mut self.lfo);
                    let lfo = (s + f32x8::ONE) * f32x8::splat(0.5);
                    let depth = dr.at8(idx1 + f32x8::splat((done + i) as f32));
                    let delay = lfo * depth * f32x8::splat(WIDTH) + f32x8::splat(3.0);
                    // Read at (w − 1 − delay) = (w − 2 − ⌊delay⌋) + (1 − frac): small
                    // numbers only, so f32 keeps the fraction precise.
                    // delay ≥ 3, so truncation is floor (and cheap without SSE4.1).
                    let di = delay.fast_trunc_int();
                    let t = f32x8::ONE - (delay - f32x8::from_i32x8(di));
                    let da = di.to_array();
                    let base = (HIST + i) as isize - 1;
                    let near = NearTaps::new(-di);
                    for (ch, out) in [&mut *l, &mut *r].into_iter().enumerate() {
                        let b = &self.buf[ch];
                        if let Some([y0, y1, y2, y3]) = near.and_then(|nt| nt.read(b, base)) {
                            st(&mut out[done + i..], hermite8(y0, y1, y2, y3, t));
                            continue;
                        }
                        let mut y = [[0.0f32; 8]; 4];
                        for k in 0..8 {
                            let j = HIST + i + k - 2 - da[k] as usize;
                            y[0][k] = b[j];
                            y[1][k] = b[j + 1];
                            y[2][k] = b[j + 2];
                            y[3][k] = b[j + 3];
                        }
                        let v = hermite8(
                            f32x8::new(y[0]),
                            f32x8::new(y[1]),
                            f32x8::new(y[2]),
                            f32x8::new(y[3]),
                            t,
                        );
                        st(&mut out[done + i..], v);
                    }
                    i += LANES;
                }
            }
            while i < len {
                let s = self.lfo.next().sin() as f32;
                let lfo = (s + 1.0) * 0.5;
                let depth = dr.at((done + i + 1) as f32);
                let delay = lfo * depth * WIDTH + 3.0;
                let di = delay.floor();
                let t = 1.0 - (delay - di);
                let j = HIST + i - 2 - di as usize;
                for (ch, out) in [&mut *l, &mut *r].into_iter().enumerate() {
                    let b = &self.buf[ch];
                    out[done + i] = hermite(b[j], b[j + 1], b[j + 2], b[j + 3], t);
                }
                i += 1;
            }
            for b in &mut self.buf {
                b.copy_within(len..len + HIST, 0);
            }
            done += len;
        }
    }
}
