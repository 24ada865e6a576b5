//! The `volume` filter, the player's integer volume (0–1000) and the final soft clip.

use wide::f32x8;

use crate::simd::{clamp1, gain_ramp, ld, st, Ramp, LANES};

/// Lavalink's filter-volume curve (lavadsp): tan(0.79·v) up to 1.5, then linear.
/// Values outside [0, 5] make lavadsp's setter throw (the track fails); Basalt clamps them
/// into range instead.
pub fn filter_gain(v: f32) -> f32 {
    let v = if v.is_finite() {
        v.clamp(0.0, 5.0)
    } else {
        1.0
    };
    if v <= 1.5 {
        ((0.79 * v) as f64).tan() as f32
    } else {
        24612.0 * (100.0 * v) / 150.0 / 10000.0
    }
}

/// Whether lavadsp passes the block through untouched for this volume (|1 − v| < 0.02).
pub fn filter_bypassed(v: f32) -> bool {
    (1.0 - v).abs() < 0.02
}

/// The volume stage: gain ramps between values, clamps to full scale like lavadsp.
pub(crate) struct VolumeStage {
    gain: Ramp,
    /// In the chain and not bypassed: lavadsp clamps to full scale.
    configured: bool,
    pub simd: bool,
}

impl VolumeStage {
    pub fn new(simd: bool) -> Self {
        VolumeStage {
            gain: Ramp::new(1.0),
            configured: false,
            simd,
        }
    }

    /// `None` = not in the chain (unity, no clamp).
    pub fn set(&mut self, v: Option<f32>) {
        match v {
            Some(v) if !filter_bypassed(v) => {
                self.gain.set(filter_gain(v));
                self.configured = true;
            }
            _ => {
                self.gain.set(1.0);
                self.configured = false;
            }
        }
    }

    pub fn active(&self) -> bool {
        self.configured || !self.gain.is(1.0)
    }

    pub fn process(&mut self, l: &mut [f32], r: &mut [f32]) {
        if !self.active() {
            return;
        }
        // Keep clamping while ramping out so the ramp itself has no step.
        let clamp = self.configured || !self.gain.steady();
        let g = self.gain.block(l.len());
        gain_ramp(l, g, self.simd);
        gain_ramp(r, g, self.simd);
        if clamp {
            clamp1(l, self.simd);
            clamp1(r, self.simd);
        }
    }
}

/// Lavalink's integer multiplier (×10000) for a player volume (§7.3).
pub fn player_volume_multiplier(volume: u16) -> i32 {
    let v = volume.min(1000) as i32;
    if v <= 150 {
        let x = v as f32 * 0.0079f32;
        ((x as f64).tan() as f32 * 10000.0) as i32
    } else {
        24621 * v / 150
    }
}

/// The player volume as a float gain (100 → exactly 1).
pub fn player_volume_gain(volume: u16) -> f32 {
    if volume == 100 {
        1.0
    } else {
        player_volume_multiplier(volume) as f32 / 10000.0
    }
}

/// Apply the player volume (0–1000, Lavalink's curve; 100 leaves the samples untouched).
/// Stateless: a change is a step at the block edge, as in Lavalink. Use [`PlayerVolume`]
/// for a click-free ramp.
pub fn apply_player_volume(samples: &mut [f32], volume: u16) {
    if volume == 100 {
        return;
    }
    let mut g = Ramp::new(player_volume_gain(volume));
    gain_ramp(samples, g.block(0), true);
}

/// Player volume with a per-block ramp so volume changes do not click.
#[derive(Debug, Clone)]
pub struct PlayerVolume {
    gain: Ramp,
}

impl Default for PlayerVolume {
    fn default() -> Self {
        PlayerVolume {
            gain: Ramp::new(1.0),
        }
    }
}

impl PlayerVolume {
    pub fn new() -> Self {
        Self::default()
    }

    /// Apply `volume` to an interleaved stereo block, ramping from the previous volume.
    pub fn apply(&mut self, samples: &mut [f32], volume: u16) {
        self.gain.set(player_volume_gain(volume));
        if self.gain.is(1.0) {
            return;
        }
        let frames = samples.len() / 2;
        let rb = self.gain.block(frames);
        for (i, fr) in samples.chunks_exact_mut(2).enumerate() {
            let g = rb.at((i + 1) as f32);
            fr[0] *= g;
            fr[1] *= g;
        }
    }
}

/// Knee of the soft clip: samples up to this magnitude pass untouched.
pub const SOFT_CLIP_KNEE: f32 = 0.9;

/// Tame samples beyond full scale before encoding: below the knee the signal is untouched,
/// above it a tanh curve (slope 1 at the knee) approaches ±1 asymptotically, so overs
/// become soft saturation instead of hard clipping. Non-finite samples become 0.
pub fn soft_clip(samples: &mut [f32]) {
    soft_clip_count(samples);
}

/// [`soft_clip`] that also returns how many samples were beyond full scale (±inf included,
/// NaN not), so callers can
/// count clipping instead of hiding it.
pub fn soft_clip_count(samples: &mut [f32]) -> usize {
    let knee = f32x8::splat(SOFT_CLIP_KNEE);
    let one = f32x8::splat(1.0);
    let mut overs = 0usize;
    let n = samples.len();
    let mut i = 0;
    while i + LANES <= n {
        let v = ld(&samples[i..]);
        let a = v.abs();
        let finite = v.is_finite();
        if (a.simd_gt(knee) | !finite).any() {
            overs += a.simd_gt(one).to_bitmask().count_ones() as usize;
            for x in &mut samples[i..i + LANES] {
                *x = soft_clip_one(*x);
            }
        } else {
            st(&mut samples[i..], v);
        }
        i += LANES;
    }
    for x in &mut samples[i..] {
        if x.abs() > 1.0 {
            overs += 1;
        }
        *x = soft_clip_one(*x);
    }
    overs
}

#[inline]
fn soft_clip_one(x: f32) -> f32 {
    if !x.is_finite() {
        return if x.is_nan() { 0.0 } else { x.signum() };
    }
    let a = x.abs();
    if a <= SOFT_CLIP_KNEE {
        return x;
    }
    let room = 1.0 - SOFT_CLIP_KNEE;
    let y = SOFT_CLIP_KNEE + room * ((a - SOFT_CLIP_KNEE) / room).tanh();
    y.copysign(x)
}
