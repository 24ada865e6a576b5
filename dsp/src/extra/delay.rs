//! A mono delay line that grows on the control thread and keeps its history when it does,
//! so a longer echo or chorus delay never loses the signal already in flight. Its length
//! is the next power of two above the longest delay configured, so wrapping is a mask.
//!
//! [`Delay::taps8`]/[`Delay::push8`] serve eight consecutive samples at once when every
//! delay in them is at least [`MIN_BLOCK_DELAY`] (no read can then see a sample of the
//! same eight); callers fall back to the per-sample [`Delay::tap_frac`] otherwise, which
//! is also the scalar reference.

use wide::{f32x8, i32x8};

use crate::simd::{lane_index0_i32, LANES};

/// Shortest delay the eight-sample path may read.
pub(crate) const MIN_BLOCK_DELAY: f32 = LANES as f32;

#[derive(Default)]
pub(crate) struct Delay {
    buf: Vec<f32>,
    /// `buf.len() − 1` (the length is a power of two), 0 while empty.
    mask: usize,
    /// Next write position (also the oldest sample).
    w: usize,
}

impl Delay {
    /// Make delays of up to `max` samples readable (with one more for interpolation).
    /// Allocates only when it must grow; the samples in flight stay where they were in
    /// time, older-than-recorded history reads as silence. Control thread only.
    pub fn ensure(&mut self, max: usize) {
        let need = (max + 2).next_power_of_two();
        if self.buf.len() >= need {
            return;
        }
        let mut v = Vec::with_capacity(need);
        v.extend_from_slice(&self.buf[self.w..]);
        v.extend_from_slice(&self.buf[..self.w]);
        self.w = v.len() & (need - 1);
        v.resize(need, 0.0);
        self.buf = v;
        self.mask = need - 1;
    }

    /// Longest delay [`Delay::tap_frac`] can read.
    pub fn max_delay(&self) -> f32 {
        self.buf.len().saturating_sub(2) as f32
    }

    pub fn clear(&mut self) {
        self.buf.fill(0.0);
    }

    #[inline(always)]
    pub fn push(&mut self, x: f32) {
        if let Some(s) = self.buf.get_mut(self.w) {
            *s = x;
            self.w = (self.w + 1) & self.mask;
        }
    }

    /// A fractional delay (linear interpolation), clamped to `[1, max_delay]`: 1 is the
    /// last sample pushed.
    #[inline(always)]
    pub fn tap_frac(&self, d: f32) -> f32 {
        let d = d.max(1.0).min(self.max_delay());
        let di = d as usize;
        let f = d - di as f32;
        let i = self.w.wrapping_sub(di) & self.mask;
        let j = i.wrapping_sub(1) & self.mask;
        match (self.buf.get(i), self.buf.get(j)) {
            (Some(&a), Some(&b)) => a + (b - a) * f,
            _ => 0.0,
        }
    }

    /// Whether [`Delay::taps8`] may serve these eight delays.
    #[inline(always)]
    pub fn block_ok(&self, d: f32x8) -> bool {
        !self.buf.is_empty() && !d.simd_lt(f32x8::splat(MIN_BLOCK_DELAY)).any()
    }

    /// [`Delay::tap_frac`] for the next eight samples (lane k as if k samples had been
    /// pushed since), before they are pushed with [`Delay::push8`]. Needs
    /// [`Delay::block_ok`].
    #[inline(always)]
    pub fn taps8(&self, d: f32x8) -> f32x8 {
        let d = d.min(f32x8::splat(self.max_delay()));
        let di = d.trunc_int();
        let f = d - di.round_float();
        let mask = i32x8::splat(self.mask as i32);
        let i = (i32x8::splat(self.w as i32) + lane_index0_i32() - di) & mask;
        let j = (i - i32x8::splat(1)) & mask;
        let (ia, ja) = (i.to_array(), j.to_array());
        let at = |k: i32| self.buf.get(k as usize).copied().unwrap_or(0.0);
        let a = f32x8::new(std::array::from_fn(|k| at(ia[k])));
        let b = f32x8::new(std::array::from_fn(|k| at(ja[k])));
        a + (b - a) * f
    }

    /// Push eight samples.
    #[inline(always)]
    pub fn push8(&mut self, v: f32x8) {
        let a = v.to_array();
        match self.buf.get_mut(self.w..self.w + LANES) {
            Some(s) => {
                s.copy_from_slice(&a);
                self.w = (self.w + LANES) & self.mask;
            }
            None => {
                for x in a {
                    self.push(x);
                }
            }
        }
    }
}
