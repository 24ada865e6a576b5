//! A mono delay line that grows on the control thread and keeps its history when it does,
//! so a longer echo or chorus delay never loses the signal already in flight. Its length
//! is the next power of two above the longest delay configured, so wrapping is a mask.

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
}
