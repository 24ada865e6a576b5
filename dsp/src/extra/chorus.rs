//! Top-level `chorus` (NodeLink's fields): two modulated taps per channel, LFOs at `rate`
//! and 1.1·`rate` with phases 0°/90° (left) and 180°/270° (right), centre delays `delay`
//! and 1.2·`delay` ms, swing ±`depth`·4 ms; wet = mean of the taps, fed back into the line;
//! out = x·(1 − mix) + wet·mix. Active iff rate, depth and mix are all > 0.

use std::f64::consts::PI;

use super::delay::Delay;
use super::osc::{advance, Quad};
use super::{clampf, PER_MS};
use crate::lfo::Phase;
use crate::simd::Ramp;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chorus {
    pub rate: f32,
    pub depth: f32,
    /// Centre delay, ms (1–45).
    pub delay: f32,
    pub mix: f32,
    pub feedback: f32,
}

impl Default for Chorus {
    fn default() -> Self {
        Chorus {
            rate: 0.0,
            depth: 0.0,
            delay: 25.0,
            mix: 0.5,
            feedback: 0.0,
        }
    }
}

/// Swing at depth 1, ms.
const SWING_MS: f32 = 4.0;

impl Chorus {
    pub fn active(&self) -> bool {
        self.rate > 0.0 && self.depth > 0.0 && self.mix > 0.0
    }
}

pub(crate) struct ChorusStage {
    lines: [Delay; 2],
    lfo: [Phase; 2],
    centre: Ramp,
    swing: Ramp,
    mix: Ramp,
    feedback: Ramp,
}

impl ChorusStage {
    pub fn new() -> Self {
        ChorusStage {
            lines: [Delay::default(), Delay::default()],
            lfo: [Phase::default(); 2],
            centre: Ramp::new(0.0),
            swing: Ramp::new(0.0),
            mix: Ramp::new(0.0),
            feedback: Ramp::new(0.0),
        }
    }

    pub fn set(&mut self, c: &Chorus, fresh: bool) {
        let centre = clampf(c.delay, 1.0, 45.0, 25.0) * PER_MS;
        let swing = clampf(c.depth, 0.0, 1.0, 0.0) * SWING_MS * PER_MS;
        let rate = clampf(c.rate, 0.0, 100.0, 0.0) as f64;
        self.lfo[0].set_hz(rate);
        self.lfo[1].set_hz(rate * 1.1);
        // The second tap sits at 1.2 × the centre; keep room for the old one while ramping.
        let need = (1.2 * centre.max(self.centre.cur) + swing.max(self.swing.cur)).ceil() as usize + 2;
        for line in &mut self.lines {
            line.ensure(need);
        }
        let (mix, fb) = (
            clampf(c.mix, 0.0, 1.0, 0.5),
            clampf(c.feedback, 0.0, 0.95, 0.0),
        );
        if fresh {
            for line in &mut self.lines {
                line.clear();
            }
            self.centre = Ramp::new(centre);
            self.swing = Ramp::new(swing);
            self.mix = Ramp::new(mix);
            self.feedback = Ramp::new(fb);
        } else {
            self.centre.set(centre);
            self.swing.set(swing);
            self.mix.set(mix);
            self.feedback.set(fb);
        }
    }

    pub fn reset(&mut self) {
        for line in &mut self.lines {
            line.clear();
        }
    }

    pub fn process(&mut self, l: &mut [f32], r: &mut [f32]) {
        let n = l.len().min(r.len());
        let (centre, swing) = (self.centre.block(n), self.swing.block(n));
        let (mix, fb) = (self.mix.block(n), self.feedback.block(n));
        for (ch, x) in [&mut l[..n], &mut r[..n]].into_iter().enumerate() {
            // Right channel: both LFOs half a turn on.
            let off = if ch == 0 { 0.0 } else { PI };
            let mut a = Quad::start(&self.lfo[0], off);
            let mut b = Quad::start(&self.lfo[1], off);
            let line = &mut self.lines[ch];
            for (i, v) in x.iter_mut().enumerate() {
                let k = (i + 1) as f32;
                let (c, s) = (centre.at(k), swing.at(k));
                let (sa, _) = a.next();
                // 90° ahead: the cosine.
                let (_, cb) = b.next();
                let t0 = line.tap_frac(c + s * sa);
                let t1 = line.tap_frac(1.2 * c + s * cb);
                let wet = 0.5 * (t0 + t1);
                let input = *v;
                line.push(input + fb.at(k) * wet);
                let m = mix.at(k);
                *v = input * (1.0 - m) + wet * m;
            }
        }
        advance(&mut self.lfo[0], n);
        advance(&mut self.lfo[1], n);
    }
}
