//! A mono delay line that grows on the control thread and keeps its history when it does,
//! so a longer echo or chorus delay never loses the signal already in flight.

#[derive(Default)]
pub(crate) struct Delay {
    buf: Vec<f32>,
    /// Next write position (also the oldest sample).
    w: usize,
}

impl Delay {
    /// Make delays of up to `max` samples readable (with one more for interpolation).
    /// Allocates only when it must grow; the samples in flight stay where they were in
    /// time, older-than-recorded history reads as silence. Control thread only.
    pub fn ensure(&mut self, max: usize) {
        let need = max + 2;
        if self.buf.len() >= need {
            return;
        }
        let mut v = Vec::with_capacity(need);
        v.extend_from_slice(&self.buf[self.w..]);
        v.extend_from_slice(&self.buf[..self.w]);
        self.w = v.len() % need;
        v.resize(need, 0.0);
        self.buf = v;
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
            self.w += 1;
            if self.w == self.buf.len() {
                self.w = 0;
            }
        }
    }

    /// A fractional delay (linear interpolation), clamped to `[1, max_delay]`.
    #[inline(always)]
    pub fn tap_frac(&self, d: f32) -> f32 {
        let n = self.buf.len();
        let d = d.max(1.0).min(self.max_delay());
        let di = d as usize;
        let f = d - di as f32;
        // i = w − di and the sample before it, both wrapped into the ring.
        let i = if self.w >= di { self.w - di } else { self.w + n - di };
        let j = if i == 0 { n.wrapping_sub(1) } else { i - 1 };
        match (self.buf.get(i), self.buf.get(j)) {
            (Some(&a), Some(&b)) => a + (b - a) * f,
            _ => 0.0,
        }
    }
}
