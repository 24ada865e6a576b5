//! Polyphase Kaiser-windowed-sinc resampling for rational ratios L/M (output/input rate,
//! gcd-reduced), stereo. Cheaper than rubato's FFT path for 20 ms frames (no block copies, no
//! FFTs, no per-player tables) and its per-player state is two short planar histories; the
//! coefficient tables are computed once per design and shared by every player.
//!
//! Output frame `n` sits at input time `t = n·M/L`: it is the dot product of the `taps` input
//! frames around `t` with the coefficient row of phase `(n·M) mod L`. The history starts with
//! `taps/2 - 1` zeros so output 0 is centred on input 0 (no delay to trim), and every output
//! depends only on the input sequence, never on how it was chunked.
//!
//! Designs (stopband edge at the lower Nyquist, transition below it; Kaiser's formulas
//! with the attenuation target `atten_db`; `tests/audio_resample.rs` measures the result
//! through the resampler for every common input rate):
//!
//! | quality | taps (per input-rate unit) | target | 44.1 kHz → 48 kHz passband edge |
//! |---------|-----------------------------|--------|---------------------------------|
//! | low     | 32                          | 65 dB  | ≈ 17.0 kHz                      |
//! | medium  | 64                          | 85 dB  | ≈ 18.4 kHz                      |
//! | high    | 128                         | 108 dB | ≈ 19.6 kHz                      |
//!
//! When downsampling the taps grow with `M/L` so the transition keeps its width in Hz.

use std::mem::MaybeUninit;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use wide::f32x8;

use crate::config::ResamplingQuality;

/// Largest coefficient table (f32 count): 256 KiB. Past it the ratio is too odd for a table
/// (44 056 Hz needs 6 000 phases) and the caller falls back to rubato.
const MAX_TABLE: usize = 65_536;
/// Input frames the history holds without growing beyond the taps: one large decoder
/// packet (FLAC's usual 4096-frame block). Bigger pushes grow it once.
const HISTORY_FRAMES: usize = 4096;

/// What a table is built from: the reduced ratio and the filter shape.
#[derive(Clone, Copy, PartialEq, Debug)]
struct Design {
    l: usize,
    m: usize,
    taps: usize,
    atten_db: f64,
}

type TableCache = Mutex<Vec<(Design, Weak<[f32]>)>>;

/// Tables in use by at least one player. Weak references: a table lives as long as some
/// player uses it, so tracks with many distinct odd rates cannot pile tables up.
fn cache() -> &'static TableCache {
    static CACHE: OnceLock<TableCache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(Vec::new()))
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Taps (per input-rate unit) and stopband target per quality.
fn shape(quality: ResamplingQuality) -> (usize, f64) {
    match quality {
        ResamplingQuality::Low => (32, 65.0),
        ResamplingQuality::Medium => (64, 85.0),
        ResamplingQuality::High => (128, 108.0),
    }
}

/// Zeroth-order modified Bessel function of the first kind (power series; converges fast for
/// the β ≤ 12 used here).
fn bessel_i0(x: f64) -> f64 {
    let q = x * x / 4.0;
    let mut term = 1.0;
    let mut sum = 1.0;
    let mut k = 1.0;
    while term > sum * 1e-17 {
        term *= q / (k * k);
        sum += term;
        k += 1.0;
    }
    sum
}

/// Kaiser's β for a stopband attenuation of `a` dB.
fn kaiser_beta(a: f64) -> f64 {
    if a > 50.0 {
        0.1102 * (a - 8.7)
    } else if a >= 21.0 {
        0.5842 * (a - 21.0).powf(0.4) + 0.07886 * (a - 21.0)
    } else {
        0.0
    }
}

/// Transition width in cycles per input sample that Kaiser's formula gives `taps` taps at
/// `a` dB.
fn transition(taps: usize, a: f64) -> f64 {
    (a - 8.0) / (2.285 * std::f64::consts::TAU * taps as f64)
}

/// The coefficient rows, phase-major; row `p` holds the weights of input frames `q - taps/2 + 1
/// ..= q + taps/2` (in that order, matching the history) for output time `q + p/L`. Each row
/// is normalised to unit sum so DC passes exactly at every phase.
fn build_table(d: Design) -> Arc<[f32]> {
    let (l, m, taps) = (d.l, d.m, d.taps);
    // Stopband edge at the lower of the two Nyquists, in cycles per input sample.
    let stop = 0.5 * (l as f64 / m as f64).min(1.0);
    let fc = stop - transition(taps, d.atten_db) / 2.0;
    let beta = kaiser_beta(d.atten_db);
    let i0_beta = bessel_i0(beta);
    let half = taps as f64 / 2.0;
    let mut table = Vec::with_capacity(l * taps);
    let mut row = vec![0.0f64; taps];
    for p in 0..l {
        let frac = p as f64 / l as f64;
        for (j, c) in row.iter_mut().enumerate() {
            // Distance from the output instant back to this input frame.
            let dist = (taps / 2 - 1) as f64 - j as f64 + frac;
            let x = 2.0 * fc * dist;
            let sinc = if x.abs() < 1e-12 {
                1.0
            } else {
                (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
            };
            let r = (dist / half).clamp(-1.0, 1.0);
            let w = bessel_i0(beta * (1.0 - r * r).sqrt()) / i0_beta;
            *c = sinc * w;
        }
        let sum: f64 = row.iter().sum();
        table.extend(row.iter().map(|&c| (c / sum) as f32));
    }
    table.into()
}

/// The table for `d`, shared with every other player using the same design.
fn table(d: Design) -> Arc<[f32]> {
    let mut cache = cache().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(t) = cache
        .iter()
        .find(|(k, _)| *k == d)
        .and_then(|(_, w)| w.upgrade())
    {
        return t;
    }
    cache.retain(|(_, w)| w.strong_count() > 0);
    let t = build_table(d);
    cache.push((d, Arc::downgrade(&t)));
    t
}

/// The output loop: frame after frame, the dot products of the phase's coefficient row
/// with both histories, then the step to the next input position and phase. One body, two
/// instantiations (portable and AVX2 + FMA) so the dot product inlines into each.
macro_rules! output_loop {
    ($self:ident, $out:ident, $dot:ident) => {{
        let taps = $self.taps;
        let (mut pos, mut phase) = ($self.pos, $self.phase);
        for frame in $out.chunks_exact_mut(2) {
            let c = &$self.coefs[phase * taps..(phase + 1) * taps];
            let (l, r) = $dot(
                c,
                &$self.left[pos..pos + taps],
                &$self.right[pos..pos + taps],
            );
            frame[0].write(l);
            frame[1].write(r);
            pos += $self.step_whole;
            phase += $self.step_phase;
            if phase >= $self.l {
                phase -= $self.l;
                pos += 1;
            }
        }
        (pos, phase)
    }};
}

/// [`dot2`] with AVX2 + FMA: one fused multiply-add per eight taps and channel, and one
/// combined horizontal sum for both channels (the portable version's two reductions cost
/// about as much as the multiply-adds at 32 taps).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn dot2_fma(c: &[f32], l: &[f32], r: &[f32]) -> (f32, f32) {
    use std::arch::x86_64::*;
    let n = c.len().min(l.len()).min(r.len()) / 8 * 8;
    let mut al = _mm256_setzero_ps();
    let mut ar = _mm256_setzero_ps();
    let mut i = 0;
    while i < n {
        // SAFETY: i + 8 <= n, which is within all three slices.
        unsafe {
            let cv = _mm256_loadu_ps(c.as_ptr().add(i));
            al = _mm256_fmadd_ps(_mm256_loadu_ps(l.as_ptr().add(i)), cv, al);
            ar = _mm256_fmadd_ps(_mm256_loadu_ps(r.as_ptr().add(i)), cv, ar);
        }
        i += 8;
    }
    // [l01 l23 r01 r23 | l45 l67 r45 r67] → [l0123+l4567, .., r.., ..] → [L, R, L, R].
    let h = _mm256_hadd_ps(al, ar);
    let q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps::<1>(h));
    let s = _mm_hadd_ps(q, q);
    (_mm_cvtss_f32(s), _mm_cvtss_f32(_mm_movehdup_ps(s)))
}

/// One channel pair's dot products with the same coefficients, each load of `c` shared.
#[inline(always)]
fn dot2(c: &[f32], l: &[f32], r: &[f32]) -> (f32, f32) {
    let mut al = f32x8::ZERO;
    let mut ar = f32x8::ZERO;
    for ((c, l), r) in c
        .chunks_exact(8)
        .zip(l.chunks_exact(8))
        .zip(r.chunks_exact(8))
    {
        let c = f32x8::new(c.try_into().unwrap_or([0.0; 8]));
        let l = f32x8::new(l.try_into().unwrap_or([0.0; 8]));
        let r = f32x8::new(r.try_into().unwrap_or([0.0; 8]));
        al = l.mul_add(c, al);
        ar = r.mul_add(c, ar);
    }
    (al.reduce_add(), ar.reduce_add())
}

/// A stereo polyphase resampler to 48 kHz for one player.
pub struct Polyphase {
    coefs: Arc<[f32]>,
    taps: usize,
    l: usize,
    m: usize,
    /// `M / L` and `M % L`: how far the input position moves per output frame.
    step_whole: usize,
    step_phase: usize,
    /// Planar input history; index `pos` is the first tap of the next output frame.
    left: Vec<f32>,
    right: Vec<f32>,
    pos: usize,
    phase: usize,
    /// Input frames queued and output frames emitted since the last reset, for the exact
    /// length at the end of a track.
    frames_in: u64,
    frames_out: u64,
    /// After `finish`: the output frames the whole input makes (the track's exact length).
    end: Option<u64>,
    /// The CPU has AVX2 and FMA: use [`dot2_fma`].
    fma: bool,
}

fn fma_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

impl Polyphase {
    /// A resampler from `rate_in` to `rate_out`, or `None` when the ratio needs a table past
    /// [`MAX_TABLE`] (the caller then uses rubato). Builds the table on first use: call it at
    /// track open, not on the audio path.
    pub fn new(rate_in: u32, rate_out: u32, quality: ResamplingQuality) -> Option<Polyphase> {
        Polyphase::with_history(rate_in, rate_out, quality, HISTORY_FRAMES)
    }

    /// As `new`, with room for pushes of `packet_frames` input frames without growing: the
    /// decoder passes its codec's packet size (an MP3 player then keeps ~10 KiB of history
    /// instead of the 4,096-frame default's 33 KiB).
    pub fn with_history(
        rate_in: u32,
        rate_out: u32,
        quality: ResamplingQuality,
        packet_frames: usize,
    ) -> Option<Polyphase> {
        if rate_in == 0 || rate_out == 0 {
            return None;
        }
        let g = gcd(rate_in as u64, rate_out as u64);
        let l = (rate_out as u64 / g) as usize;
        let m = (rate_in as u64 / g) as usize;
        let (base, atten_db) = shape(quality);
        // Downsampling: more taps so the transition keeps its width in Hz.
        let want = (base * m).div_ceil(l).max(base).next_multiple_of(8);
        // An awkward ratio may take fewer taps (a wider transition, same stopband), down to
        // three quarters of the design; below that rubato is better.
        let fit = (MAX_TABLE / l) / 8 * 8;
        let taps = want.min(fit);
        if taps * 4 < want * 3 || taps < 16 {
            return None;
        }
        let coefs = table(Design {
            l,
            m,
            taps,
            atten_db,
        });
        let mut p = Polyphase {
            coefs,
            taps,
            l,
            m,
            step_whole: m / l,
            step_phase: m % l,
            left: Vec::with_capacity(packet_frames + 2 * taps),
            right: Vec::with_capacity(packet_frames + 2 * taps),
            pos: 0,
            phase: 0,
            frames_in: 0,
            frames_out: 0,
            end: None,
            fma: fma_available(),
        };
        p.reset();
        Some(p)
    }

    /// Fills `out` (interleaved stereo) from the current position; returns the next one.
    fn frames_portable(&self, out: &mut [MaybeUninit<f32>]) -> (usize, usize) {
        output_loop!(self, out, dot2)
    }

    /// [`Polyphase::frames_portable`] compiled for AVX2 + FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn frames_fma(&self, out: &mut [MaybeUninit<f32>]) -> (usize, usize) {
        output_loop!(self, out, dot2_fma)
    }

    /// Taps per output frame (for the docs and tests: the filter length in input frames).
    pub fn taps(&self) -> usize {
        self.taps
    }

    /// Heap bytes this player owns (the shared table excluded).
    pub fn state_bytes(&self) -> usize {
        (self.left.capacity() + self.right.capacity()) * std::mem::size_of::<f32>()
    }

    /// Makes room for `frames` more input frames plus a flush's padding: drops the consumed
    /// history by moving the live tail down, and grows only for a push larger than ever.
    fn make_room(&mut self, frames: usize) {
        let need = frames + self.taps;
        if self.left.len() + need > self.left.capacity() && self.pos > 0 {
            self.left.copy_within(self.pos.., 0);
            self.right.copy_within(self.pos.., 0);
            let keep = self.left.len() - self.pos;
            self.left.truncate(keep);
            self.right.truncate(keep);
            self.pos = 0;
        }
        self.left.reserve(need);
        self.right.reserve(need);
    }

    /// Queues `frames` input frames that `write` puts into the left and right planes.
    pub fn push_planar(&mut self, frames: usize, write: impl FnOnce(&mut [f32], &mut [f32])) {
        self.make_room(frames);
        let len = self.left.len();
        self.left.resize(len + frames, 0.0);
        self.right.resize(len + frames, 0.0);
        write(&mut self.left[len..], &mut self.right[len..]);
        self.frames_in += frames as u64;
    }

    /// Queues interleaved input of `ch` channels: mono goes to both sides, more than two
    /// channels keep the first two (as `to_stereo` does).
    pub fn push_interleaved(&mut self, src: &[f32], ch: usize) {
        let ch = ch.max(1);
        let frames = src.len() / ch;
        self.make_room(frames);
        if ch == 1 {
            self.left.extend_from_slice(src);
            self.right.extend_from_slice(src);
        } else if ch == 2 {
            // One pass writing both histories (the common case; it vectorises).
            let (l0, r0) = (self.left.len(), self.right.len());
            let left = &mut self.left.spare_capacity_mut()[..frames];
            let right = &mut self.right.spare_capacity_mut()[..frames];
            for ((f, l), r) in src.chunks_exact(2).zip(left).zip(right) {
                l.write(f[0]);
                r.write(f[1]);
            }
            // SAFETY: `make_room` reserved `frames`, and the loop wrote all of them.
            unsafe {
                self.left.set_len(l0 + frames);
                self.right.set_len(r0 + frames);
            }
        } else {
            self.left.extend(src.chunks_exact(ch).map(|f| f[0]));
            self.right.extend(src.chunks_exact(ch).map(|f| f[1]));
        }
        self.frames_in += frames as u64;
    }

    /// Output frames the queued input fully determines.
    fn ready(&self) -> usize {
        let len = self.left.len();
        if self.pos + self.taps > len {
            return 0;
        }
        // Output n is ready while pos + (phase + n·M)/L + taps <= len.
        let room = (len - self.taps - self.pos) as u64;
        let n = ((room + 1) * self.l as u64 - self.phase as u64).div_ceil(self.m as u64);
        match self.end {
            Some(end) => n.min(end.saturating_sub(self.frames_out)) as usize,
            None => n as usize,
        }
    }

    /// Ends the input (end of track): the tail, up to the exact length, then comes out of
    /// `drain_to_ring` as if silence followed. No input may follow until `reset`.
    pub fn finish(&mut self) {
        if self.end.is_some() {
            return;
        }
        // `make_room` keeps `taps` spare, so this padding never allocates.
        let len = self.left.len() + self.taps;
        self.left.resize(len, 0.0);
        self.right.resize(len, 0.0);
        self.end = Some((self.frames_in * self.l as u64).div_ceil(self.m as u64));
    }

    /// Writes `out.len() / 2` output frames (at most `ready()`) and advances.
    fn produce(&mut self, out: &mut [MaybeUninit<f32>]) {
        (self.pos, self.phase) = match self.fma {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `fma` is set only when the CPU has AVX2 and FMA (checked in `new`).
            true => unsafe { self.frames_fma(out) },
            _ => self.frames_portable(out),
        };
        self.frames_out += (out.len() / 2) as u64;
    }

    /// Writes as many ready output frames as fit into `ring`, a block at a time through
    /// the stack (no staging buffer per player). Returns the samples pushed and whether
    /// more output is ready than fitted.
    pub fn drain_to_ring(
        &mut self,
        ring: &mut rtrb::Producer<crate::audio_format::PcmSample>,
    ) -> (usize, bool) {
        const BLOCK: usize = 256;
        let ready = self.ready();
        let n = ready.min(ring.slots() / 2);
        let mut block = [MaybeUninit::<f32>::uninit(); BLOCK * 2];
        let mut left = n;
        while left > 0 {
            let k = left.min(BLOCK);
            let out = &mut block[..k * 2];
            self.produce(out);
            // SAFETY: `produce` initialised every sample of `out`.
            let out = unsafe { std::slice::from_raw_parts(out.as_ptr().cast::<f32>(), k * 2) };
            crate::audio_format::push_pcm(ring, out);
            left -= k;
        }
        (n * 2, ready > n)
    }

    /// Appends every output frame the queued input fully determines to `out` (interleaved);
    /// with `flush`, also the tail up to the track's exact length, as if silence followed.
    pub fn drain_into(&mut self, out: &mut Vec<f32>, flush: bool) {
        let real_len = self.left.len();
        let mut limit = u64::MAX;
        if flush {
            // `make_room` keeps `taps` spare, so this padding never allocates.
            self.left.resize(real_len + self.taps, 0.0);
            self.right.resize(real_len + self.taps, 0.0);
            let due = (self.frames_in * self.l as u64).div_ceil(self.m as u64);
            limit = due.saturating_sub(self.frames_out);
        }
        let count = (self.ready() as u64).min(limit) as usize;
        let start = out.len();
        // Written in place, not zero-filled first (the memset showed in profiles).
        out.reserve(count * 2);
        self.produce(&mut out.spare_capacity_mut()[..count * 2]);
        // SAFETY: `produce` wrote every one of the `count * 2` samples.
        unsafe { out.set_len(start + count * 2) };
        if flush {
            // Drop the padding again so input after a flush continues the timeline.
            let keep = real_len.max(self.pos);
            self.left.truncate(keep);
            self.right.truncate(keep);
        }
    }

    /// Forgets all input and restarts the timeline, exactly like a fresh resampler.
    pub fn reset(&mut self) {
        let lead = self.taps / 2 - 1;
        self.left.clear();
        self.right.clear();
        self.left.resize(lead, 0.0);
        self.right.resize(lead, 0.0);
        self.pos = 0;
        self.phase = 0;
        self.frames_in = 0;
        self.frames_out = 0;
        self.end = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Sample = crate::audio_format::PcmSample;

    /// Drains everything ready through a (small) ring into `got`.
    fn drain_all(
        p: &mut Polyphase,
        prod: &mut rtrb::Producer<Sample>,
        cons: &mut rtrb::Consumer<Sample>,
        got: &mut Vec<Sample>,
    ) {
        loop {
            let (_, more) = p.drain_to_ring(prod);
            while let Ok(x) = cons.pop() {
                got.push(x);
            }
            if !more {
                return;
            }
        }
    }

    /// Draining into a ring a little at a time gives exactly the samples `drain_into` does
    /// (as 16-bit).
    #[test]
    fn draining_into_a_ring_matches_draining_into_a_vec() {
        let input: Vec<f32> = (0..2 * 5000).map(|i| ((i as f32) * 0.013).sin()).collect();
        let mut a = Polyphase::new(44_100, 48_000, ResamplingQuality::Low).unwrap();
        let mut b = Polyphase::new(44_100, 48_000, ResamplingQuality::Low).unwrap();
        let mut want = Vec::new();
        let mut got = Vec::new();
        let (mut prod, mut cons) = rtrb::RingBuffer::<Sample>::new(2 * 300);
        for chunk in input.chunks(2 * 1152) {
            a.push_interleaved(chunk, 2);
            a.drain_into(&mut want, false);
            b.push_interleaved(chunk, 2);
            drain_all(&mut b, &mut prod, &mut cons, &mut got);
        }
        assert!(want.len() > 8000);
        let want: Vec<_> = want.into_iter().map(crate::audio_format::to_pcm).collect();
        assert_eq!(want, got);
    }

    /// A track's tail through `finish` and the ring is exactly `drain_into`'s flush: the
    /// same samples, the exact length, however small the ring.
    #[test]
    fn finishing_into_a_ring_matches_a_flush() {
        let input: Vec<f32> = (0..2 * 4321).map(|i| ((i as f32) * 0.007).sin()).collect();
        for rate in [44_100, 22_050, 32_000] {
            let mut a = Polyphase::new(rate, 48_000, ResamplingQuality::Medium).unwrap();
            let mut b = Polyphase::new(rate, 48_000, ResamplingQuality::Medium).unwrap();
            let mut want = Vec::new();
            a.push_interleaved(&input, 2);
            a.drain_into(&mut want, true);
            let (mut prod, mut cons) = rtrb::RingBuffer::<Sample>::new(2 * 100);
            let mut got = Vec::new();
            b.push_interleaved(&input, 2);
            b.finish();
            drain_all(&mut b, &mut prod, &mut cons, &mut got);
            assert_eq!(
                got.len() as u64,
                (4321u64 * 48_000).div_ceil(rate as u64) * 2
            );
            let want: Vec<_> = want.into_iter().map(crate::audio_format::to_pcm).collect();
            assert_eq!(want, got, "{rate}");
        }
    }

    /// Planes pushed as they are give the same output as the same audio interleaved.
    #[test]
    fn planar_input_matches_interleaved_input() {
        let input: Vec<f32> = (0..2 * 3000).map(|i| ((i as f32) * 0.011).cos()).collect();
        let mut a = Polyphase::new(44_100, 48_000, ResamplingQuality::Low).unwrap();
        let mut b = Polyphase::new(44_100, 48_000, ResamplingQuality::Low).unwrap();
        let (mut oa, mut ob) = (Vec::new(), Vec::new());
        for chunk in input.chunks(2 * 1152) {
            a.push_interleaved(chunk, 2);
            a.drain_into(&mut oa, false);
            b.push_planar(chunk.len() / 2, |l, r| {
                for (i, f) in chunk.chunks_exact(2).enumerate() {
                    (l[i], r[i]) = (f[0], f[1]);
                }
            });
            b.drain_into(&mut ob, false);
        }
        assert!(oa.len() > 5000);
        assert_eq!(oa, ob);
    }

    /// The AVX2 + FMA loop and the portable one agree (to rounding) on every quality.
    #[test]
    fn fma_and_portable_paths_agree() {
        let mut seed = 7u32;
        let input: Vec<f32> = (0..2 * 3000)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect();
        for q in [
            ResamplingQuality::Low,
            ResamplingQuality::Medium,
            ResamplingQuality::High,
        ] {
            for rate in [44_100, 22_050, 96_000] {
                let mut a = Polyphase::new(rate, 48_000, q).unwrap();
                let mut b = Polyphase::new(rate, 48_000, q).unwrap();
                if !a.fma {
                    return; // nothing to compare on this CPU
                }
                b.fma = false;
                let (mut oa, mut ob) = (Vec::new(), Vec::new());
                a.push_interleaved(&input, 2);
                b.push_interleaved(&input, 2);
                a.drain_into(&mut oa, true);
                b.drain_into(&mut ob, true);
                assert_eq!(oa.len(), ob.len());
                let worst = oa
                    .iter()
                    .zip(&ob)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0.0f32, f32::max);
                assert!(worst < 1e-5, "{q:?} {rate}: differ by {worst}");
            }
        }
    }
}
