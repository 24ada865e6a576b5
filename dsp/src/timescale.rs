//! Timescale (speed, pitch, rate): WSOLA time-stretch with the pitch shift folded into the
//! grain read rate, in one pass.
//!
//! Lavalink uses SoundTouch: net playback speed = speed·rate, net pitch = pitch·rate. Here
//! every output grain (1536 samples, Hann window, 50 % overlap) reads the input at the
//! pitch factor `p` (4-point Hermite interpolation, anti-aliased when `p > 1`), and grain
//! starts advance by `hop·speed` through the input; each start is moved within ±500
//! samples to where the input best continues the previous grain (normalised
//! cross-correlation on the stereo sum, coarse then fine). Both channels use the same grain
//! positions, so the stereo image is kept. Look-ahead ≈ 10 ms (search) + 16 ms·p (grain) or,
//! when pitch exceeds speed, 10 ms + ≤ 21 ms (correlation window) + 16 ms·(p − speed):
//! 26–48 ms for speed 0.5–4 with p ≤ 1.5, and for p ≤ 2 with speed ≥ 1.
//!
//! Pull model: [`TimescaleStage::input_needed`] says exactly how many new input frames the
//! next 960 output frames need. Switching on starts from the current position without a
//! gap; switching off realigns the grains and drains the buffered look-ahead (the engine is
//! asked for fewer frames), so no audio is skipped or repeated.
//!
//! Memory: the input is kept as 16-bit at ±2 full scale (−84 dB steps, finer than the 16-bit
//! PCM it comes from at full scale): 25 KiB per player at usual factors instead of 50, for
//! ≈ 2 µs more per frame (converting on store and on each interpolated read).
//!
//! Limits: SoundTouch accepts any positive factor; Basalt clamps the net speed and pitch
//! factors to [0.1, 4] (beyond that nothing musical is left and buffers stay bounded).

use std::f64::consts::TAU;
use std::sync::OnceLock;

use wide::{f32x4, f32x8, i16x8};

use crate::chain::{FRAME, MAX_INPUT};
use crate::filters::Timescale;
use crate::iir::Block2;
use crate::simd::{
    blend_ramp, lane_index0, lane_index0_i32, ld, st, NearTaps, Ramp, Stored, LANES,
};

/// Output samples per grain.
pub const GRAIN: usize = 1536;
/// The channel buffers' 16-bit scale (see `TimescaleStage::buf`).
const STORE_SCALE: f32 = 16_384.0;
const STORE_UNIT: f32 = 1.0 / STORE_SCALE;
/// Output samples between grain starts.
pub const HOP: usize = GRAIN / 2;
/// How far (input samples) a grain start may move to find the best splice.
pub const SEEK: f64 = 500.0;
/// Net speed/pitch factor limits.
pub const MIN_FACTOR: f64 = 0.1;
pub const MAX_FACTOR: f64 = 4.0;
/// Longest correlation window (input samples).
const CORR_MAX: usize = 1024;
/// Coarse search decimation (box sums of DECIM samples: a cheap low-pass before the
/// decimated correlation; the fine pass then searches ±(DECIM − 1) at full resolution).
const DECIM: usize = 8;
/// Slack on top of the measured buffer spans (`sizes`).
const SIZE_MARGIN: usize = CORR_MAX + 64;
/// Frames the anti-alias pass (and its blend) filters at a time: its work buffers are this
/// long instead of a whole pull, which is up to `MAX_INPUT` frames. A multiple of the SIMD
/// width, so the pieces split the signal where the whole-pull pass would.
const AA_CHUNK: usize = 512;
/// Candidate span the splice search mixes to mono: every shift (±SEEK), one correlation
/// window, and the coarse pass's box sums.
const MONO_SPAN: usize = ((CORR_MAX + 2 * SEEK as usize) / DECIM + 2 * LANES) * DECIM;

/// (input buffer capacity per channel, most input frames one pull may ask for) for net
/// factors `(speed, pitch)`. The live span a grain, its splice search and its predecessor
/// can read was measured over a grid of factors (0.1–4 each; the `sizes_cover_*` test
/// replays it on a finer grid): it stays under 2·SEEK + 3·HOP·speed + 2·HOP·pitch, and one
/// pull under 2·HOP·speed + HOP·pitch + FRAME. The span already reaches to the end of the
/// next pull, so the buffer holds a span plus a margin: once compacted (which happens
/// whenever room for a pull could run out) a pull always fits. Sized from the parameters
/// instead of for the largest factors, rounded to 64 frames (SIMD-friendly; 1,024 cost up to
/// 8 KiB more per player): at speed 1.1 / pitch 1.05 this is 6.3 K frames (25 KiB
/// per channel), and the chain's input and the engine's staging follow `max_in`.
fn sizes(speed: f64, pitch: f64) -> (usize, usize) {
    let (s, p) = (
        speed.clamp(MIN_FACTOR, MAX_FACTOR),
        pitch.clamp(MIN_FACTOR, MAX_FACTOR),
    );
    let hop = HOP as f64;
    let span = 2.0 * SEEK + 3.0 * hop * s + 2.0 * hop * p;
    let max_in = ((2.0 * hop * s + hop * p).ceil() as usize + FRAME + 64).min(MAX_INPUT);
    let cap = (span.ceil() as usize + SIZE_MARGIN + 64).next_multiple_of(64);
    (cap, max_in)
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Grain {
    /// Absolute input position of the grain's first sample.
    start: f64,
    /// Input samples per output sample.
    rate: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Not in the path: output = input.
    Off,
    /// Grains running.
    Running,
    /// Aligned identity, copying buffered input until the look-ahead is drained.
    Direct,
}

/// The grains' Hann window, one table shared by every player: it never changes.
fn hann() -> &'static [f32; GRAIN] {
    static WINDOW: OnceLock<[f32; GRAIN]> = OnceLock::new();
    WINDOW.get_or_init(|| {
        std::array::from_fn(|j| (0.5 - 0.5 * (TAU * j as f64 / GRAIN as f64).cos()) as f32)
    })
}

/// (net speed, net pitch) for a configured timescale, or `None` for identity.
pub(crate) fn effective(t: Option<Timescale>) -> Option<(f64, f64)> {
    let t = t?;
    if t.speed == 1.0 && t.pitch == 1.0 && t.rate == 1.0 {
        return None;
    }
    let ok = |v: f64| v > 0.0 && v.is_finite();
    if !(ok(t.speed) && ok(t.pitch) && ok(t.rate)) {
        return None;
    }
    let speed = (t.speed * t.rate).clamp(MIN_FACTOR, MAX_FACTOR);
    let pitch = (t.pitch * t.rate).clamp(MIN_FACTOR, MAX_FACTOR);
    Some((speed, pitch))
}

/// 4th-order Butterworth low-pass (two biquads, direct form I) against aliasing when the
/// grains read faster than real time.
#[derive(Debug, Clone)]
struct AntiAlias {
    /// (b0, b1, b2, a1, a2) per section.
    coef: [(f32, f32, f32, f32, f32); 2],
    /// Recursive part of each section in block form.
    block: [Block2; 2],
    /// Per section, per channel: x[n−1], x[n−2], y[n−1], y[n−2].
    s: [[[f32; 4]; 2]; 2],
}

impl AntiAlias {
    fn new() -> Self {
        let mut a = AntiAlias {
            coef: [(1.0, 0.0, 0.0, 0.0, 0.0); 2],
            block: [Block2::new(1.0, 0.0, 0.0); 2],
            s: [[[0.0; 4]; 2]; 2],
        };
        a.design(1.0);
        a
    }

    fn design(&mut self, p: f64) {
        let fc = (0.45 / p.max(1.0)).min(0.45);
        let w0 = TAU * fc;
        for (sec, q) in [0.541_196_1f64, 1.306_563].into_iter().enumerate() {
            let alpha = w0.sin() / (2.0 * q);
            let cw = w0.cos();
            let a0 = 1.0 + alpha;
            let b1 = (1.0 - cw) / a0;
            let b0 = b1 / 2.0;
            let (a1, a2) = ((-2.0 * cw / a0) as f32, ((1.0 - alpha) / a0) as f32);
            self.coef[sec] = (b0 as f32, b1 as f32, b0 as f32, a1, a2);
            self.block[sec] = Block2::new(1.0, a1 as f64, a2 as f64);
        }
    }

    /// Filter both channels in place, `AA_CHUNK` frames at a time (the state carries over,
    /// so the pieces make the same signal as one pass).
    fn run(&mut self, xs: [&mut [f32]; 2], simd: bool, work: &mut [Vec<f32>; 2]) {
        let n = xs[0].len().min(xs[1].len());
        let [xl, xr] = xs;
        let mut at = 0;
        while at < n {
            let k = (n - at).min(AA_CHUNK);
            self.run_piece([&mut xl[at..at + k], &mut xr[at..at + k]], simd, work);
            at += k;
        }
    }

    /// One piece of at most `AA_CHUNK` frames. The SIMD path runs the two channels'
    /// recursions in lockstep so each hides the other's latency. `work`: two history
    /// samples, then the piece, per channel.
    fn run_piece(&mut self, xs: [&mut [f32]; 2], simd: bool, work: &mut [Vec<f32>; 2]) {
        let n = xs[0].len().min(xs[1].len());
        let [xl, xr] = xs;
        let mut xs = [&mut xl[..n], &mut xr[..n]];
        for sec in 0..2 {
            let (b0, b1, b2, a1, a2) = self.coef[sec];
            if simd && n >= LANES {
                let block = self.block[sec];
                let mut st = self.s[sec];
                for ch in 0..2 {
                    let w = &mut work[ch];
                    w[0] = st[ch][1];
                    w[1] = st[ch][0];
                    w[2..2 + n].copy_from_slice(xs[ch]);
                }
                let (vb0, vb1, vb2) = (f32x8::splat(b0), f32x8::splat(b1), f32x8::splat(b2));
                let (w0, w1) = (&work[0][..n + 2], &work[1][..n + 2]);
                let [o0, o1] = &mut xs;
                let mut y = [[st[0][2], st[0][3]], [st[1][2], st[1][3]]];
                let mut i = 0;
                while i + LANES <= n {
                    let u0 = vb0 * ld(&w0[i + 2..]) + vb1 * ld(&w0[i + 1..]) + vb2 * ld(&w0[i..]);
                    let u1 = vb0 * ld(&w1[i + 2..]) + vb1 * ld(&w1[i + 1..]) + vb2 * ld(&w1[i..]);
                    let ya = block.run(u0, y[0][0], y[0][1]).to_array();
                    let yb = block.run(u1, y[1][0], y[1][1]).to_array();
                    y = [[ya[7], ya[6]], [yb[7], yb[6]]];
                    o0[i..i + LANES].copy_from_slice(&ya);
                    o1[i..i + LANES].copy_from_slice(&yb);
                    i += LANES;
                }
                for (ch, (w, x)) in [(w0, &mut **o0), (w1, &mut **o1)].into_iter().enumerate() {
                    let (mut x1, mut x2) = (w[i + 1], w[i]);
                    let [mut y1, mut y2] = y[ch];
                    for k in i..n {
                        let xi = w[k + 2];
                        let v = b0 * xi + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2;
                        x2 = x1;
                        x1 = xi;
                        y2 = y1;
                        y1 = v;
                        x[k] = v;
                    }
                    st[ch] = [x1, x2, y1, y2];
                }
                for (ch, s) in st.iter().enumerate() {
                    let ok = s[2].is_finite() && s[3].is_finite();
                    self.s[sec][ch] = if ok { *s } else { [0.0; 4] };
                }
            } else {
                for (ch, x) in xs.iter_mut().enumerate() {
                    let [mut x1, mut x2, mut y1, mut y2] = self.s[sec][ch];
                    for v in x.iter_mut() {
                        let xi = *v;
                        let y = b0 * xi + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2;
                        x2 = x1;
                        x1 = xi;
                        y2 = y1;
                        y1 = y;
                        *v = y;
                    }
                    let ok = y1.is_finite() && y2.is_finite();
                    self.s[sec][ch] = if ok { [x1, x2, y1, y2] } else { [0.0; 4] };
                }
            }
        }
    }

    fn clear(&mut self) {
        self.s = [[[0.0; 4]; 2]; 2];
    }
}

/// Timescale's buffers that hold nothing between frames: the splice search's mono signal
/// and its box sums, the anti-alias pass's work and the blend's filtered copies. Filled and
/// used within one `push` or `render`, so one set (in [`crate::ChainWork`]) serves every
/// player a worker runs, instead of ~22 KiB in each player's chain.
pub struct TimescaleWork {
    /// L+R of the template and the candidates.
    mono_t: Vec<f32>,
    mono_c: Vec<f32>,
    /// Their box sums (the coarse pass).
    dec_t: Vec<f32>,
    dec_c: Vec<f32>,
    /// The anti-alias blend's filtered copies: two pieces of `AA_CHUNK` frames.
    blend: Vec<f32>,
    /// The anti-alias pass, per channel: two history samples, then a piece.
    aa: [Vec<f32>; 2],
}

impl TimescaleWork {
    pub fn new() -> TimescaleWork {
        TimescaleWork {
            mono_t: vec![0.0; CORR_MAX],
            mono_c: vec![0.0; MONO_SPAN],
            dec_t: vec![0.0; CORR_MAX / DECIM + LANES],
            dec_c: vec![0.0; MONO_SPAN / DECIM],
            blend: vec![0.0; 2 * AA_CHUNK],
            aa: [
                vec![0.0; AA_CHUNK + 2 + LANES],
                vec![0.0; AA_CHUNK + 2 + LANES],
            ],
        }
    }
}

impl Default for TimescaleWork {
    fn default() -> Self {
        TimescaleWork::new()
    }
}

/// The channel buffers (`buf`) stay empty until timescale is first configured: most
/// players never use it, and they are most of the chain's memory. They are sized for the
/// configured factors (`sizes`), grow when a later setting needs more (a command, on the
/// control path, never a frame) and are then kept. Work that holds nothing between
/// frames is in [`TimescaleWork`], one per worker.
pub(crate) struct TimescaleStage {
    mode: Mode,
    /// Target factors; `None` = identity (drain and switch off).
    target: Option<(f64, f64)>,
    /// Input per channel, 16-bit at `STORE_SCALE` (±2 full range in steps of 1/16384,
    /// −84 dB, under what the 16-bit PCM ring already quantised): half the memory of f32,
    /// the largest part of a stretching player's.
    buf: [Vec<i16>; 2],
    /// Absolute input index of `buf[_][0]`.
    base: i64,
    len: usize,
    prev: Grain,
    cur: Grain,
    first: bool,
    /// Output offset within the current hop.
    phase: usize,
    /// Unaligned (ideal) input position of the current grain start.
    nominal: f64,
    /// Direct mode read position.
    read: i64,
    window: &'static [f32; GRAIN],
    aa: AntiAlias,
    aa_p: f64,
    aa_mix: Ramp,
    /// Input buffer capacity per channel (`buf`), from [`sizes`].
    cap: usize,
    /// Most input frames one pull may take, from [`sizes`].
    max_in: usize,
    pub simd: bool,
}

impl TimescaleStage {
    pub fn new(simd: bool) -> Self {
        let g = Grain {
            start: 0.0,
            rate: 1.0,
        };
        TimescaleStage {
            mode: Mode::Off,
            target: None,
            buf: [Vec::new(), Vec::new()],
            base: 0,
            len: 0,
            prev: g,
            cur: g,
            first: true,
            phase: 0,
            nominal: 0.0,
            read: 0,
            window: hann(),
            aa: AntiAlias::new(),
            aa_p: 1.0,
            aa_mix: Ramp::new(0.0),
            cap: 0,
            max_in: FRAME,
            simd,
        }
    }

    /// Grows the buffers to what factors `(speed, pitch)` need; what they hold is kept
    /// (a running stretch continues across the change).
    fn allocate(&mut self, speed: f64, pitch: f64) {
        let (cap, max_in) = sizes(speed, pitch);
        if cap > self.cap {
            self.cap = cap;
            for b in &mut self.buf {
                b.resize(cap, 0);
            }
        }
        self.max_in = self.max_in.max(max_in);
    }

    /// Most input frames [`TimescaleStage::input_needed`] can ever ask for: FRAME until
    /// timescale has been configured, then what the largest factors set so far need. The
    /// chain (and the engine's staging) size their input to this.
    pub fn max_input(&self) -> usize {
        self.max_in
    }

    /// Allocates the buffers the first time a timescale is configured (a command, never
    /// a frame); the stage leaves `Mode::Off` only after that.
    pub fn set(&mut self, t: Option<Timescale>) {
        self.target = effective(t);
        if let Some((speed, pitch)) = self.target {
            self.allocate(speed, pitch);
        }
        if let Some((_, p)) = self.target {
            if p != self.aa_p {
                self.aa_p = p;
                self.aa.design(p);
            }
            self.aa_mix.set(if p > 1.0 { 1.0 } else { 0.0 });
            match self.mode {
                Mode::Running => {}
                Mode::Off => {
                    self.base = 0;
                    self.len = 0;
                    self.aa.clear();
                    self.aa_mix.snap();
                    self.start_at(0);
                }
                Mode::Direct => self.start_at(self.read),
            }
        } else {
            self.aa_mix.set(0.0);
        }
    }

    /// Begin grains at an absolute input position with nothing to overlap.
    fn start_at(&mut self, pos: i64) {
        let p = self.target.map_or(1.0, |t| t.1);
        self.cur = Grain {
            start: pos as f64,
            rate: p,
        };
        self.prev = self.cur;
        self.first = true;
        self.phase = 0;
        self.nominal = pos as f64;
        self.mode = Mode::Running;
    }

    pub fn active(&self) -> bool {
        self.mode != Mode::Off
    }

    pub fn reset(&mut self) {
        self.mode = Mode::Off;
        self.base = 0;
        self.len = 0;
        self.aa.clear();
        if self.target.is_some() {
            self.start_at(0);
        }
    }

    fn end(&self) -> i64 {
        self.base + self.len as i64
    }

    /// New input frames needed for the next FRAME output frames.
    pub fn input_needed(&self) -> usize {
        match self.mode {
            Mode::Off => FRAME,
            Mode::Direct => FRAME.saturating_sub((self.end() - self.read).max(0) as usize),
            Mode::Running => {
                let need = self.need_abs().ceil() as i64 - self.end();
                (need.max(0) as usize)
                    .min(self.max_in)
                    .min(self.cap - self.len.min(self.cap))
            }
        }
    }

    fn corr_len(p: f64) -> usize {
        ((HOP as f64 * p).round() as usize).clamp(64, CORR_MAX)
    }

    /// Highest absolute input position (exclusive) the next FRAME outputs will read.
    fn need_abs(&self) -> f64 {
        let (mut ps, mut pr) = (self.prev.start, self.prev.rate);
        let (mut cs, mut cr) = (self.cur.start, self.cur.rate);
        let mut nom = self.nominal;
        let mut ph = self.phase;
        let mut first = self.first;
        let mut left = FRAME;
        let mut need = 0.0f64;
        loop {
            if ph == HOP {
                let t = cs + HOP as f64 * cr;
                ps = cs;
                pr = cr;
                match self.target {
                    None => {
                        cs = t.round();
                        cr = 1.0;
                    }
                    Some((speed, p)) => {
                        nom += HOP as f64 * speed;
                        cs = nom + SEEK;
                        cr = p;
                        // Candidates and the template (the previous grain's continuation
                        // from `t`) must both be in the buffer for the search.
                        let len = Self::corr_len(p) as f64 + 8.0;
                        need = need.max(cs + len).max(t + len);
                    }
                }
                ph = 0;
                first = false;
            }
            let m = (HOP - ph).min(left);
            let j_end = (ph + m) as f64;
            need = need.max(cs + j_end * cr + 4.0);
            if !first {
                need = need.max(ps + (HOP as f64 + j_end) * pr + 4.0);
            }
            left -= m;
            ph += m;
            if left == 0 {
                break;
            }
        }
        need
    }

    /// Append new input (anti-aliased when reading faster than real time); only while
    /// running or draining (`active`).
    pub(crate) fn push(&mut self, l: &[f32], r: &[f32], w: &mut TimescaleWork) {
        let n = l.len().min(r.len()).min(self.cap - self.len);
        let off = self.len;
        if self.aa_mix.is(0.0) {
            self.aa.clear();
            store_all(&l[..n], &mut self.buf[0][off..off + n], self.simd);
            store_all(&r[..n], &mut self.buf[1][off..off + n], self.simd);
            self.len += n;
            return;
        }
        // Filtered in pieces in `blend` (f32), then stored; while fading, the dry input and
        // the filtered copy are mixed first (fully on: a blend with 1 would only add
        // rounding).
        let steady = self.aa_mix.is(1.0);
        let mut at = 0;
        while at < n {
            let k = (n - at).min(AA_CHUNK);
            let (t0, t1) = w.blend.split_at_mut(AA_CHUNK);
            let (t0, t1) = (&mut t0[..k], &mut t1[..k]);
            t0.copy_from_slice(&l[at..at + k]);
            t1.copy_from_slice(&r[at..at + k]);
            self.aa.run([&mut *t0, &mut *t1], self.simd, &mut w.aa);
            if !steady {
                let mix = self.aa_mix.block(k);
                blend_ramp(&l[at..at + k], t0, mix, self.simd);
                blend_ramp(&r[at..at + k], t1, mix, self.simd);
            }
            store_all(t0, &mut self.buf[0][off + at..off + at + k], self.simd);
            store_all(t1, &mut self.buf[1][off + at..off + at + k], self.simd);
            at += k;
        }
        self.len += n;
    }

    /// Drop input no grain will read again.
    fn compact(&mut self) {
        let keep = self.keep_from();
        let drop = (keep - self.base).clamp(0, self.len as i64) as usize;
        // Shift rarely (amortised): only when a quarter is dead or room for the next pull
        // could run out.
        if drop > 0 && (drop >= self.cap / 4 || self.len + self.max_in + 64 > self.cap) {
            for b in &mut self.buf {
                b.copy_within(drop..self.len, 0);
            }
            self.base += drop as i64;
            self.len -= drop;
        }
    }

    /// Lowest absolute input position any grain, splice search or drain may still read.
    fn keep_from(&self) -> i64 {
        match self.mode {
            Mode::Off => self.end(),
            Mode::Direct => self.read,
            Mode::Running => {
                let mut lo = self.cur.start.min(self.nominal - SEEK);
                if !self.first {
                    lo = lo.min(self.prev.start);
                }
                lo.floor() as i64 - 8
            }
        }
    }

    /// Process: `input` (planar, `input_needed()` frames) → FRAME output frames in one
    /// call (the chain pushes in pieces, then renders; the unit tests use this).
    #[cfg(test)]
    pub(crate) fn process(
        &mut self,
        il: &[f32],
        ir: &[f32],
        ol: &mut [f32],
        or: &mut [f32],
        w: &mut TimescaleWork,
    ) {
        if self.mode == Mode::Off {
            let n = ol.len().min(il.len());
            ol[..n].copy_from_slice(&il[..n]);
            or[..n].copy_from_slice(&ir[..n]);
            return;
        }
        self.push(il, ir, w);
        self.render(ol, or, w);
    }

    /// FRAME output frames from what has been pushed (the second half of `process`, for
    /// a caller that pushes its input in pieces).
    pub(crate) fn render(&mut self, ol: &mut [f32], or: &mut [f32], w: &mut TimescaleWork) {
        let total = ol.len().min(or.len());
        let mut done = 0;
        while done < total {
            match self.mode {
                Mode::Running => {
                    if self.phase == HOP {
                        self.next_grain(w);
                        if self.mode != Mode::Running {
                            continue;
                        }
                    }
                    let m = (HOP - self.phase).min(total - done);
                    self.synth(&mut ol[done..done + m], &mut or[done..done + m]);
                    self.phase += m;
                    done += m;
                }
                Mode::Direct => {
                    let avail = (self.end() - self.read).max(0) as usize;
                    let m = avail.min(total - done);
                    let at = (self.read - self.base) as usize;
                    load_all(&self.buf[0][at..at + m], &mut ol[done..done + m], self.simd);
                    load_all(&self.buf[1][at..at + m], &mut or[done..done + m], self.simd);
                    self.read += m as i64;
                    done += m;
                    if m == 0 || self.read >= self.end() {
                        ol[done..total].fill(0.0);
                        or[done..total].fill(0.0);
                        self.mode = Mode::Off;
                        self.len = 0;
                        self.base = self.read;
                        done = total;
                    }
                }
                Mode::Off => {
                    ol[done..total].fill(0.0);
                    or[done..total].fill(0.0);
                    done = total;
                }
            }
        }
        self.compact();
    }

    fn next_grain(&mut self, w: &mut TimescaleWork) {
        let t = self.cur.start + HOP as f64 * self.cur.rate;
        self.prev = self.cur;
        let was_first = self.first;
        self.first = false;
        self.phase = 0;
        match self.target {
            None => {
                let c = t.round();
                let aligned =
                    !was_first && self.prev.rate == 1.0 && self.prev.start.fract() == 0.0 && t == c;
                self.cur = Grain {
                    start: c,
                    rate: 1.0,
                };
                self.nominal = c;
                if aligned {
                    self.mode = Mode::Direct;
                    self.read = c as i64;
                }
            }
            Some((speed, p)) => {
                self.nominal += HOP as f64 * speed;
                let s = self.search(t, p, w);
                self.cur = Grain {
                    start: t + s as f64,
                    rate: p,
                };
            }
        }
    }

    /// Best integer shift `s` so the grain at `t + s` (within ±SEEK of nominal) continues
    /// the previous grain, whose natural continuation starts at `t`.
    fn search(&mut self, t: f64, p: f64, w: &mut TimescaleWork) -> i64 {
        let len = Self::corr_len(p);
        let t0 = t.floor() as i64;
        let mut s_lo = (self.nominal - SEEK - t).ceil() as i64;
        let mut s_hi = (self.nominal + SEEK - t).floor() as i64;
        // Keep every read inside the buffer.
        let first_ok = self.base + 2 - t0;
        let last_ok = self.end() - 4 - len as i64 - t0;
        s_lo = s_lo.max(first_ok);
        s_hi = s_hi.min(last_ok);
        if s_hi < s_lo {
            let natural = (self.nominal - t).round() as i64;
            return natural.clamp(first_ok.min(last_ok), last_ok.max(first_ok));
        }
        let rel = |abs: i64| (abs - self.base) as usize;
        // Template: the previous grain's continuation. Outside the buffer → give up.
        if t0 < self.base || rel(t0) + len > self.len {
            return (self.nominal - t).round().clamp(s_lo as f64, s_hi as f64) as i64;
        }
        let tpl = rel(t0);
        // The mono signal where the search reads: the template, and the candidates from
        // the lowest shift on (up to the buffer's end, as far as the coarse pass may read).
        let c0 = rel(t0 + s_lo);
        let c_len = (self.len - c0).min(MONO_SPAN);
        mix_mono(&self.buf, tpl, &mut w.mono_t[..len]);
        mix_mono(&self.buf, c0, &mut w.mono_c[..c_len]);
        let (mt, mc) = (&w.mono_t[..len], &w.mono_c[..c_len]);

        // Coarse pass on box sums of DECIM samples, every DECIM-th shift.
        let ld_n = len / DECIM;
        let n_cand = ((s_hi - s_lo) as usize) / DECIM + 1;
        box_sums(mt, 0, &mut w.dec_t[..ld_n], self.simd);
        let dc_n = (ld_n + n_cand).min(w.dec_c.len());
        box_sums(mc, 0, &mut w.dec_c[..dc_n], self.simd);
        let (dec_t, dec_c) = (&w.dec_t, &w.dec_c);
        let mut energy: f64 = dec_c[..ld_n].iter().map(|&x| (x * x) as f64).sum();
        let mut best = (f64::NEG_INFINITY, 1.0f64, s_lo);
        let n_coarse = n_cand.min(dc_n.saturating_sub(ld_n) + 1);
        // SIMD: candidates in pairs sharing the template loads (same sums as `dot`).
        let mut pending = None;
        for v in 0..n_coarse {
            if v > 0 {
                let out = dec_c[v - 1];
                let inn = dec_c[v + ld_n - 1];
                energy += (inn * inn) as f64 - (out * out) as f64;
            }
            let d = match pending.take() {
                Some(d) => d,
                None if self.simd && v + 1 < n_coarse => {
                    let (d0, d1) = dot2(
                        &dec_t[..ld_n],
                        &dec_c[v..v + ld_n],
                        &dec_c[v + 1..v + 1 + ld_n],
                    );
                    pending = Some(d1);
                    d0
                }
                None => dot(&dec_t[..ld_n], &dec_c[v..v + ld_n], self.simd),
            } as f64;
            // Maximise d/√e without a square root or division per candidate:
            // compare d·|d|/e by cross-multiplying.
            let e = energy.max(0.0) + 1e-9;
            let num = d * d.abs();
            if num * best.1 > best.0 * e {
                best = (num, e, s_lo + (v * DECIM) as i64);
            }
        }
        // Fine pass around the coarse winner at full resolution.
        let reach = DECIM as i64 - 1;
        let (lo, hi) = ((best.2 - reach).max(s_lo), (best.2 + reach).min(s_hi));
        let mut fine = (f64::NEG_INFINITY, best.2);
        // Candidate offsets are relative to `c0`, where `mc` starts.
        let c_lo = rel(t0 + lo) - c0;
        let mut e = dot(&mc[c_lo..c_lo + len], &mc[c_lo..c_lo + len], self.simd) as f64;
        let mut pending = None;
        for s in lo..=hi {
            let c = rel(t0 + s) - c0;
            if s > lo {
                let (out, inn) = (mc[c - 1], mc[c + len - 1]);
                e += (inn * inn) as f64 - (out * out) as f64;
            }
            let cand = &mc[c..c + len];
            let d = match pending.take() {
                Some(d) => d,
                None if self.simd && s < hi => {
                    let next = &mc[c + 1..c + 1 + len];
                    let (d0, d1) = dot2(mt, cand, next);
                    pending = Some(d1);
                    d0
                }
                None => dot(mt, cand, self.simd),
            } as f64;
            let score = d / (e.max(0.0) + 1e-9).sqrt();
            if score > fine.0 {
                fine = (score, s);
            }
        }
        fine.1
    }

    /// Overlap-add `ol.len()` output samples of the current hop.
    fn synth(&mut self, ol: &mut [f32], or: &mut [f32]) {
        let m = ol.len();
        let (p, c) = (self.prev, self.cur);
        let base = self.base as f64;
        let len = self.len;
        let mut i = 0;
        if self.simd {
            let buf = [&self.buf[0][..len], &self.buf[1][..len]];
            while i + LANES <= m {
                let j0 = self.phase + i;
                let Some(rc) = Reader::new(c.start + j0 as f64 * c.rate - base, c.rate, len) else {
                    break;
                };
                let rp = if self.first {
                    None
                } else {
                    match Reader::new(p.start + (j0 + HOP) as f64 * p.rate - base, p.rate, len) {
                        Some(r) => Some(r),
                        None => break,
                    }
                };
                let w_in = ld(&self.window[j0..]);
                let w_out = ld(&self.window[j0 + HOP..]);
                let unit = f32x8::splat(STORE_UNIT);
                for (ch, out) in [&mut *ol, &mut *or].into_iter().enumerate() {
                    let vc = rc.read(buf[ch]);
                    let v = match &rp {
                        None => vc,
                        Some(rp) => w_in * vc + w_out * rp.read(buf[ch]),
                    };
                    out[i..i + 8].copy_from_slice(&(v * unit).to_array());
                }
                i += LANES;
            }
        }
        while i < m {
            let j = self.phase + i;
            let (w_in, w_out) = if self.first {
                (1.0, 0.0)
            } else {
                (self.window[j], self.window[j + HOP])
            };
            let pc = c.start + j as f64 * c.rate - base;
            let pp = p.start + (j + HOP) as f64 * p.rate - base;
            for (ch, out) in [&mut *ol, &mut *or].into_iter().enumerate() {
                let b = &self.buf[ch][..len];
                let vc = sample(b, pc);
                out[i] = STORE_UNIT
                    * if self.first {
                        vc
                    } else {
                        w_in * vc + w_out * sample(b, pp)
                    };
            }
            i += 1;
        }
    }
}

#[inline(always)]
fn split(pos: f64) -> (i64, f32) {
    let f = pos.floor();
    (f as i64, (pos - f) as f32)
}

#[inline(always)]
fn hermite(y0: f32, y1: f32, y2: f32, y3: f32, t: f32) -> f32 {
    let c1 = (y2 - y0) * 0.5;
    let c2 = y0 - 2.5 * y1 + 2.0 * y2 - 0.5 * y3;
    let c3 = 0.5 * (y3 - y0) + 1.5 * (y1 - y2);
    ((c3 * t + c2) * t + c1) * t + y1
}

/// Interpolated read at a relative position, in the buffer's units; silence outside it.
#[inline]
fn sample<T: Stored>(b: &[T], pos: f64) -> f32 {
    let (i, t) = split(pos);
    if i >= 1 && i + 2 < b.len() as i64 {
        let i = i as usize;
        hermite(
            b[i - 1].value(),
            b[i].value(),
            b[i + 1].value(),
            b[i + 2].value(),
            t,
        )
    } else {
        let at = |k: i64| {
            if k >= 0 && (k as usize) < b.len() {
                b[k as usize].value()
            } else {
                0.0
            }
        };
        hermite(at(i - 1), at(i), at(i + 1), at(i + 2), t)
    }
}

/// Eight consecutive interpolated reads at `pos + k·rate` (relative positions): indices
/// and fractions come from one f64 position plus small f32 lane offsets; contiguous
/// vector loads when the rate is 1.
struct Reader {
    i0: usize,
    unit: bool,
    idx: [i32; 8],
    /// Contiguous-load form of the gather, when the lanes' offsets allow it.
    near: Option<NearTaps>,
    t: f32x8,
}

impl Reader {
    #[inline(always)]
    fn new(pos: f64, rate: f64, len: usize) -> Option<Reader> {
        // Positions here are ≥ 1, so truncation is floor (no libm call without SSE4.1).
        if pos.is_nan() || pos < 1.0 {
            return None;
        }
        let i0 = pos as i64;
        let frac = (pos - i0 as f64) as f32;
        let last = pos + 7.0 * rate;
        if last as i64 + 2 >= len as i64 {
            return None;
        }
        if rate == 1.0 {
            return Some(Reader {
                i0: i0 as usize,
                unit: true,
                idx: [0; 8],
                near: None,
                t: f32x8::splat(frac),
            });
        }
        let fk = f32x8::splat(frac) + lane_index0() * f32x8::splat(rate as f32);
        let ik = fk.fast_trunc_int();
        let t = fk - f32x8::from_i32x8(ik);
        Some(Reader {
            i0: i0 as usize,
            unit: false,
            idx: ik.to_array(),
            near: NearTaps::new(ik - lane_index0_i32()),
            t,
        })
    }

    #[inline(always)]
    #[allow(clippy::needless_range_loop)] // a gather: lane k of four vectors
    fn read<T: Stored>(&self, b: &[T]) -> f32x8 {
        let (y0, y1, y2, y3) = if self.unit {
            let s = &b[self.i0 - 1..];
            (T::ld8(s), T::ld8(&s[1..]), T::ld8(&s[2..]), T::ld8(&s[3..]))
        } else if let Some([y0, y1, y2, y3]) = self.near.and_then(|nt| nt.read(b, self.i0 as isize))
        {
            (y0, y1, y2, y3)
        } else {
            let mut y = [[0.0f32; 8]; 4];
            for k in 0..8 {
                let i = self.i0 + self.idx[k] as usize;
                let w = &b[i - 1..i + 3];
                y[0][k] = w[0].value();
                y[1][k] = w[1].value();
                y[2][k] = w[2].value();
                y[3][k] = w[3].value();
            }
            (
                f32x8::new(y[0]),
                f32x8::new(y[1]),
                f32x8::new(y[2]),
                f32x8::new(y[3]),
            )
        };
        let t = self.t;
        let c1 = (y2 - y0) * f32x8::splat(0.5);
        let c2 = y0 - f32x8::splat(2.5) * y1 + f32x8::splat(2.0) * y2 - f32x8::splat(0.5) * y3;
        let c3 = f32x8::splat(0.5) * (y3 - y0) + f32x8::splat(1.5) * (y1 - y2);
        ((c3 * t + c2) * t + c1) * t + y1
    }
}

/// `out[v]` = sum of the DECIM samples of `m` from `start + v·DECIM` (0 past the end).
/// The SIMD path sums four boxes at once from two 4×4 transposes, adding each box's
/// samples in the same order as the plain loop, so both give identical sums.
/// `out[i] = l[from + i] + r[from + i]`: the correlation signal.
fn mix_mono(buf: &[Vec<i16>; 2], from: usize, out: &mut [f32]) {
    let n = out.len();
    for ((m, &a), &b) in out
        .iter_mut()
        .zip(&buf[0][from..from + n])
        .zip(&buf[1][from..from + n])
    {
        *m = (f32::from(a) + f32::from(b)) * STORE_UNIT;
    }
}

/// Stores a sample in a channel buffer: rounded to 1/`STORE_SCALE`, saturating at ±2
/// (a float-to-int `as` saturates and maps NaN to 0).
#[inline(always)]
fn store(x: f32) -> i16 {
    let v = x * STORE_SCALE;
    (v + 0.5f32.copysign(v)) as i16
}

/// `store` over a slice; eight at a time on the SIMD path (rounding half to even there,
/// NaN to the negative limit: the input is sanitised before it gets here).
fn store_all(src: &[f32], dst: &mut [i16], simd: bool) {
    let n = src.len().min(dst.len());
    let mut i = 0;
    if simd {
        let scale = f32x8::splat(STORE_SCALE);
        while i + LANES <= n {
            let q = (ld(&src[i..]) * scale).round_int();
            dst[i..i + LANES].copy_from_slice(&i16x8::from_i32x8_saturate(q).to_array());
            i += LANES;
        }
    }
    for (d, &s) in dst[i..n].iter_mut().zip(&src[i..n]) {
        *d = store(s);
    }
}

fn load_all(src: &[i16], dst: &mut [f32], simd: bool) {
    let n = src.len().min(dst.len());
    let mut i = 0;
    if simd {
        let unit = f32x8::splat(STORE_UNIT);
        while i + LANES <= n {
            st(&mut dst[i..], i16::ld8(&src[i..]) * unit);
            i += LANES;
        }
    }
    for (d, &s) in dst[i..n].iter_mut().zip(&src[i..n]) {
        *d = f32::from(s) * STORE_UNIT;
    }
}

fn box_sums(m: &[f32], start: usize, out: &mut [f32], simd: bool) {
    let boxed = |at: usize| -> f32 {
        if at + DECIM <= m.len() {
            m[at..at + DECIM].iter().sum()
        } else {
            0.0
        }
    };
    let mut v = 0;
    if simd {
        let h = |at: usize| {
            let a: [f32; 4] = m[at..at + 4].try_into().unwrap_or([0.0; 4]);
            f32x4::new(a)
        };
        while v + 4 <= out.len() && start + (v + 4) * DECIM <= m.len() {
            let at = start + v * DECIM;
            let rows = |o: usize| {
                [
                    h(at + o),
                    h(at + DECIM + o),
                    h(at + 2 * DECIM + o),
                    h(at + 3 * DECIM + o),
                ]
            };
            let a = f32x4::transpose(rows(0));
            let b = f32x4::transpose(rows(4));
            let sum = a[0] + a[1] + a[2] + a[3] + b[0] + b[1] + b[2] + b[3];
            out[v..v + 4].copy_from_slice(&sum.to_array());
            v += 4;
        }
    }
    for (k, o) in out.iter_mut().enumerate().skip(v) {
        *o = boxed(start + k * DECIM);
    }
}

/// `(dot(a, b0), dot(a, b1))` on the SIMD path, sharing the loads of `a`; each sum is
/// accumulated exactly as [`dot`] does.
fn dot2(a: &[f32], b0: &[f32], b1: &[f32]) -> (f32, f32) {
    let n = a.len().min(b0.len()).min(b1.len());
    let (mut p0, mut p1, mut q0, mut q1) = (f32x8::ZERO, f32x8::ZERO, f32x8::ZERO, f32x8::ZERO);
    let mut i = 0;
    while i + 2 * LANES <= n {
        let (x0, x1) = (ld(&a[i..]), ld(&a[i + LANES..]));
        p0 += x0 * ld(&b0[i..]);
        p1 += x1 * ld(&b0[i + LANES..]);
        q0 += x0 * ld(&b1[i..]);
        q1 += x1 * ld(&b1[i + LANES..]);
        i += 2 * LANES;
    }
    while i + LANES <= n {
        let x0 = ld(&a[i..]);
        p0 += x0 * ld(&b0[i..]);
        q0 += x0 * ld(&b1[i..]);
        i += LANES;
    }
    let (mut s0, mut s1) = ((p0 + p1).reduce_add(), (q0 + q1).reduce_add());
    while i < n {
        s0 += a[i] * b0[i];
        s1 += a[i] * b1[i];
        i += 1;
    }
    (s0, s1)
}

/// Dot product: SIMD (eight partial sums) or the plain loop.
pub(crate) fn dot(a: &[f32], b: &[f32], simd: bool) -> f32 {
    let n = a.len().min(b.len());
    if !simd {
        let mut s = 0.0f32;
        for i in 0..n {
            s += a[i] * b[i];
        }
        return s;
    }
    let mut acc0 = f32x8::ZERO;
    let mut acc1 = f32x8::ZERO;
    let mut i = 0;
    while i + 2 * LANES <= n {
        acc0 += ld(&a[i..]) * ld(&b[i..]);
        acc1 += ld(&a[i + LANES..]) * ld(&b[i + LANES..]);
        i += 2 * LANES;
    }
    while i + LANES <= n {
        acc0 += ld(&a[i..]) * ld(&b[i..]);
        i += LANES;
    }
    let mut s = (acc0 + acc1).reduce_add();
    while i < n {
        s += a[i] * b[i];
        i += 1;
    }
    s
}

#[cfg(test)]
mod box_tests {
    use super::*;

    #[test]
    fn box_sums_simd_is_exactly_the_plain_loop() {
        let m: Vec<f32> = (0..1000)
            .map(|i| ((i * 7919) % 1013) as f32 * 1.37e-3 - 0.6)
            .collect();
        for start in [0usize, 3, 17, 500, 950] {
            let (mut a, mut b) = ([0.0f32; 70], [0.0f32; 70]);
            box_sums(&m, start, &mut a, true);
            box_sums(&m, start, &mut b, false);
            assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits), "start {start}");
        }
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    /// Runs a stretch at `(speed, pitch)` for `frames` frames and checks that no pull is
    /// ever cut short by `max_in` or by the buffer's room: the sizes from [`sizes`] are
    /// enough for the factors they were computed for.
    fn never_short(speed: f64, pitch: f64, frames: usize) {
        let mut st = TimescaleStage::new(true);
        let mut w = TimescaleWork::new();
        st.set(Some(Timescale {
            speed,
            pitch,
            rate: 1.0,
        }));
        let (mut ol, mut or) = (vec![0.0f32; FRAME], vec![0.0f32; FRAME]);
        let mut input = vec![0.0f32; MAX_INPUT];
        let mut pos = 0usize;
        for f in 0..frames {
            let raw = (st.need_abs().ceil() as i64 - st.end()).max(0) as usize;
            let n = st.input_needed();
            assert_eq!(
                n, raw,
                "speed {speed} pitch {pitch} frame {f}: pull cut to {n} of {raw} (cap {}, max_in {}, len {})",
                st.cap, st.max_in, st.len
            );
            for (k, x) in input[..n].iter_mut().enumerate() {
                *x = (((pos + k) * 7919) % 1013) as f32 * 1e-3 - 0.5;
            }
            pos += n;
            st.process(&input[..n], &input[..n], &mut ol, &mut or, &mut w);
        }
    }

    /// What `sizes` rests on: the input any grain, splice search or pull can still need
    /// (from `keep_from` to the end of the next pull) stays under the span bound, so a
    /// buffer of the span plus a margin is never short once compacted.
    #[test]
    fn the_live_input_stays_under_the_span_bound() {
        let grid = [0.1, 0.5, 0.8, 1.0, 1.05, 1.1, 1.25, 1.5, 2.0, 3.0, 4.0];
        let (mut ol, mut or) = (vec![0.0f32; FRAME], vec![0.0f32; FRAME]);
        let input = vec![0.1f32; MAX_INPUT];
        for &s in &grid {
            for &p in &grid {
                let mut st = TimescaleStage::new(true);
                let mut w = TimescaleWork::new();
                st.set(Some(Timescale {
                    speed: s,
                    pitch: p,
                    rate: 1.0,
                }));
                let span = 2.0 * SEEK + 3.0 * HOP as f64 * s + 2.0 * HOP as f64 * p;
                for f in 0..200 {
                    let live = st.need_abs().ceil() as i64 - st.keep_from();
                    assert!(
                        (live as f64) < span,
                        "speed {s} pitch {p} frame {f}: {live}"
                    );
                    let n = st.input_needed();
                    st.process(&input[..n], &input[..n], &mut ol, &mut or, &mut w);
                }
            }
        }
    }

    #[test]
    fn sizes_cover_every_factor_on_a_fine_grid() {
        let grid = [
            0.1, 0.25, 0.5, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.25, 1.33, 1.5, 1.75, 2.0, 2.5, 3.0,
            3.5, 4.0,
        ];
        for &s in &grid {
            for &p in &grid {
                if s == 1.0 && p == 1.0 {
                    continue;
                }
                never_short(s, p, 150);
            }
        }
    }

    #[test]
    fn growing_factors_grow_the_buffers_and_keep_the_stretch_running() {
        let mut st = TimescaleStage::new(true);
        assert_eq!(st.max_input(), FRAME);
        st.set(Some(Timescale {
            speed: 1.25,
            pitch: 1.0,
            rate: 1.0,
        }));
        let (cap_small, in_small) = (st.cap, st.max_in);
        // Typical settings cost well under the old fixed 16 K frames per channel.
        assert!(cap_small <= 11 * 1024, "cap {cap_small}");
        let mut w = TimescaleWork::new();
        let (mut ol, mut or) = (vec![0.0f32; FRAME], vec![0.0f32; FRAME]);
        let input = vec![0.25f32; MAX_INPUT];
        for _ in 0..20 {
            let n = st.input_needed();
            st.process(&input[..n], &input[..n], &mut ol, &mut or, &mut w);
        }
        let at = st.end();
        st.set(Some(Timescale {
            speed: 3.0,
            pitch: 2.0,
            rate: 1.0,
        }));
        assert!(st.cap > cap_small && st.max_in > in_small);
        assert_eq!(st.end(), at, "buffered input kept across the change");
        assert_eq!(st.mode, Mode::Running);
        // Back to small factors: nothing shrinks (no allocation on the way down).
        let big = (st.cap, st.max_in);
        st.set(Some(Timescale {
            speed: 0.8,
            pitch: 1.0,
            rate: 1.0,
        }));
        assert_eq!((st.cap, st.max_in), big);
        for _ in 0..20 {
            let n = st.input_needed();
            assert!(n <= st.max_input());
            st.process(&input[..n], &input[..n], &mut ol, &mut or, &mut w);
        }
    }
}
