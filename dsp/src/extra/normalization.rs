//! LavaDSPX `normalization` as Basalt runs it (plugins.md §7.3 A): gain =
//! min(1, maxAmplitude/peak), stereo-linked, the peak held for the track's lifetime
//! (`adaptive`) or taken from the current block only.
//!
//! The whole block is seen before it is scaled, so the output peak never exceeds
//! `maxAmplitude`: a falling gain ramps from the previous gain down to the new one by the
//! first sample that would be over, then holds; a rising gain ramps over the block.

use super::lavadspx::DspxNormalization;

pub(crate) struct NormalizationStage {
    max: f32,
    adaptive: bool,
    /// Peak held across blocks (adaptive) — cleared on seek.
    peak: f32,
    /// Gain applied at the end of the last block.
    gain: f32,
}

impl NormalizationStage {
    pub fn new() -> Self {
        NormalizationStage {
            max: 1.0,
            adaptive: true,
            peak: 0.0,
            gain: 1.0,
        }
    }

    pub fn set(&mut self, p: DspxNormalization, fresh: bool) {
        self.max = if p.max_amplitude.is_finite() {
            p.max_amplitude.clamp(1e-6, 1.0)
        } else {
            1.0
        };
        if fresh || p.adaptive != self.adaptive {
            self.peak = 0.0;
        }
        if fresh {
            self.gain = 1.0;
        }
        self.adaptive = p.adaptive;
    }

    pub fn reset(&mut self) {
        self.peak = 0.0;
    }

    pub fn process(&mut self, l: &mut [f32], r: &mut [f32]) {
        let n = l.len().min(r.len());
        if n == 0 {
            return;
        }
        let (l, r) = (&mut l[..n], &mut r[..n]);
        let block_peak = l
            .iter()
            .chain(r.iter())
            .fold(0.0f32, |m, &v| m.max(v.abs()));
        let peak = if self.adaptive {
            self.peak = self.peak.max(block_peak);
            self.peak
        } else {
            block_peak
        };
        let target = if peak > self.max {
            self.max / peak
        } else {
            1.0
        };
        let g0 = self.gain;
        if target < g0 {
            // Reach `target` by the first sample the old gain would push over the limit.
            let limit = self.max / g0;
            let first = (0..n)
                .find(|&i| l[i].abs().max(r[i].abs()) > limit)
                .unwrap_or(n - 1);
            let span = (first + 1) as f32;
            for i in 0..n {
                let g = if i >= first {
                    target
                } else {
                    (g0 + (target - g0) * (i + 1) as f32 / span).max(target)
                };
                l[i] *= g;
                r[i] *= g;
            }
        } else if target > g0 {
            let step = (target - g0) / n as f32;
            for i in 0..n {
                let g = (g0 + step * (i + 1) as f32).min(target);
                l[i] *= g;
                r[i] *= g;
            }
        } else if target != 1.0 {
            for i in 0..n {
                l[i] *= target;
                r[i] *= target;
            }
        }
        self.gain = target;
    }
}
