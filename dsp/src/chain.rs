//! The filter chain: enable rules (§7.2), processing order, click-free updates.
//!
//! Order (input → output): plugin filters (last registered first) → lowPass → channelMix →
//! rotation → distortion → vibrato → tremolo → timescale → karaoke → equalizer → volume.
//! If no configured filter is enabled the chain is "off" (every stage fades out, then the
//! engine may pass audio through); if one is, every configured filter runs, enabled or not.
//!
//! Memory is per stage and lazy, since most players use one or two filters: each stage's
//! buffers (timescale's input buffer, vibrato's work buffer) are allocated by the `update`
//! that first configures that filter, then kept, so switching a filter off and on again
//! neither allocates nor changes its fades. Buffers that hold nothing between frames
//! (planar input and output, crossfade copies, timescale's search work) are in a
//! [`ChainWork`] that the caller owns, one per worker. `process` and `reset` never
//! allocate.

use std::sync::Arc;

use crate::channel_mix::ChannelMixStage;
use crate::distortion;
use crate::equalizer::EqualizerStage;
use crate::extra::stages::{DspxStages, ExtraStages};
use crate::filters::*;
use crate::karaoke::KaraokeStage;
use crate::low_pass::LowPassStage;
use crate::plugin::{PluginFactory, PluginFilter, PluginRegistry};
use crate::rotation::RotationStage;
use crate::simd::{blend_ramp, deinterleave, interleave, sanitize, Ramp, Wet};
use crate::timescale::{TimescaleStage, TimescaleWork};
use crate::tremolo::TremoloStage;
use crate::vibrato::{self, VibratoStage};
use crate::volume::VolumeStage;

/// Stereo frames per 20 ms at 48 kHz.
pub const FRAME: usize = 960;

/// Sample rate inside the chain.
pub const SAMPLE_RATE: f32 = 48_000.0;

/// Most input frames the chain ever asks for in one call (timescale at its limits).
pub const MAX_INPUT: usize = 8192;

impl Filters {
    /// Whether any configured filter is "enabled" (§7.2) — else no chain is needed.
    /// Plugin filters count only through [`Filters::is_active_with`].
    pub fn is_active(&self) -> bool {
        self.volume.is_some_and(|v| v != 1.0)
            || self
                .equalizer
                .as_ref()
                .is_some_and(|b| equalizer_gains(b).iter().any(|&g| g != 0.0))
            || self.karaoke.is_some()
            || self
                .timescale
                .is_some_and(|t| t.speed != 1.0 || t.pitch != 1.0 || t.rate != 1.0)
            || self.tremolo.is_some_and(|t| t.depth != 0.0)
            || self.vibrato.is_some_and(|v| v.depth != 0.0)
            || self.distortion.is_some_and(|d| d != Distortion::default())
            || self.rotation.is_some_and(|r| r.rotation_hz != 0.0)
            || self.channel_mix.is_some_and(|c| c != ChannelMix::default())
            || self.low_pass.is_some_and(|l| l.smoothing > 1.0)
            || self.extras_active()
    }

    /// [`Filters::is_active`] including the registered plugins' own enable tests.
    pub fn is_active_with(&self, plugins: &PluginRegistry) -> bool {
        self.is_active() || plugins.any_enabled(&self.plugin_filters)
    }
}

/// Pre-timescale stages run in pieces of at most this many frames (bounds scratch memory).
const CHUNK: usize = 1024;

/// One player's filter chain. Feed it `input_needed()` stereo frames, get `FRAME` back.
pub struct FilterChain {
    factories: Vec<Arc<dyn PluginFactory>>,
    plugins: Vec<Box<dyn PluginFilter>>,
    plugin_on: Vec<bool>,
    low_pass: LowPassStage,
    low_pass_wet: Wet,
    channel_mix: ChannelMixStage,
    rotation: RotationStage,
    rotation_wet: Wet,
    distortion: Distortion,
    distortion_old: Distortion,
    /// Crossfade from `distortion_old` to `distortion` after a parameter change.
    distortion_x: Ramp,
    distortion_wet: Wet,
    vibrato: VibratoStage,
    vibrato_wet: Wet,
    tremolo: TremoloStage,
    timescale: TimescaleStage,
    karaoke: KaraokeStage,
    karaoke_wet: Wet,
    equalizer: EqualizerStage,
    /// LavaDSPX's `pluginFilters` (after any registered plugin) and the top-level extras
    /// (after the equalizer).
    dspx: DspxStages,
    extras: ExtraStages,
    volume: VolumeStage,
    simd: bool,
}

/// The buffers a chain uses only while it makes one frame: planar input and output, dry
/// copies for wet/dry crossfades, distortion's old-parameter output and timescale's search
/// and anti-alias work. A worker runs its players' chains one at a time, so it owns one
/// `ChainWork` for all of them (≈ 60 KiB) instead of each player's chain holding up to
/// ≈ 45 KiB of it. Sized once, for the largest use: `process` never allocates.
pub struct ChainWork {
    /// Planar input, a piece of at most `CHUNK` frames at a time.
    in_l: Vec<f32>,
    in_r: Vec<f32>,
    out_l: Vec<f32>,
    out_r: Vec<f32>,
    /// Dry copies (karaoke crossfades a whole FRAME; the stages before timescale a piece).
    dry_l: Vec<f32>,
    dry_r: Vec<f32>,
    alt_l: Vec<f32>,
    alt_r: Vec<f32>,
    timescale: TimescaleWork,
}

impl ChainWork {
    pub fn new() -> ChainWork {
        let dry = CHUNK.max(FRAME);
        ChainWork {
            in_l: vec![0.0; CHUNK],
            in_r: vec![0.0; CHUNK],
            out_l: vec![0.0; FRAME],
            out_r: vec![0.0; FRAME],
            dry_l: vec![0.0; dry],
            dry_r: vec![0.0; dry],
            alt_l: vec![0.0; CHUNK],
            alt_r: vec![0.0; CHUNK],
            timescale: TimescaleWork::new(),
        }
    }
}

impl Default for ChainWork {
    fn default() -> Self {
        ChainWork::new()
    }
}

impl Default for FilterChain {
    fn default() -> Self {
        Self::new()
    }
}

impl FilterChain {
    /// A chain with every filter off and no plugins.
    pub fn new() -> FilterChain {
        Self::build(&PluginRegistry::new(), true)
    }

    /// A chain with one instance of every registered plugin filter.
    pub fn with_plugins(plugins: &PluginRegistry) -> FilterChain {
        Self::build(plugins, true)
    }

    /// The plain scalar reference implementation of the same chain (tests and benches
    /// compare it with the SIMD path).
    #[doc(hidden)]
    pub fn new_scalar() -> FilterChain {
        Self::build(&PluginRegistry::new(), false)
    }

    fn build(plugins: &PluginRegistry, simd: bool) -> FilterChain {
        let factories: Vec<Arc<dyn PluginFactory>> = plugins.factories().to_vec();
        let inst: Vec<Box<dyn PluginFilter>> = factories.iter().map(|f| f.create()).collect();
        let on = vec![false; inst.len()];
        FilterChain {
            factories,
            plugins: inst,
            plugin_on: on,
            low_pass: LowPassStage::new(simd),
            low_pass_wet: Wet::new(0.0),
            channel_mix: ChannelMixStage::new(simd),
            rotation: RotationStage::new(simd),
            rotation_wet: Wet::new(0.0),
            distortion: Distortion::default(),
            distortion_old: Distortion::default(),
            distortion_x: Ramp::new(1.0),
            distortion_wet: Wet::new(0.0),
            vibrato: VibratoStage::new(simd),
            vibrato_wet: Wet::new(0.0),
            tremolo: TremoloStage::new(simd),
            timescale: TimescaleStage::new(simd),
            karaoke: KaraokeStage::new(simd),
            karaoke_wet: Wet::new(0.0),
            equalizer: EqualizerStage::new(simd),
            dspx: DspxStages::new(simd),
            extras: ExtraStages::new(simd),
            volume: VolumeStage::new(simd),
            simd,
        }
    }

    /// Install a new filter set (the whole set, as Lavalink's PATCH replaces it); the next
    /// `process` call uses it, ramped or crossfaded so nothing clicks. Allocates the buffers
    /// of stages configured for the first time.
    pub fn update(&mut self, f: &Filters) {
        let mut on = f.is_active();
        for fac in &self.factories {
            if let Some(cfg) = f.plugin_filters.get(fac.name()) {
                on |= fac.is_enabled(cfg);
            }
        }
        for (i, fac) in self.factories.iter().enumerate() {
            let cfg = if on {
                f.plugin_filters.get(fac.name())
            } else {
                None
            };
            self.plugin_on[i] = self.plugins[i].configure(cfg);
        }
        let cfg = |present: bool| on && present;

        match f
            .low_pass
            .filter(|l| cfg(LowPassStage::effective(l.smoothing)))
        {
            Some(l) => {
                self.low_pass.set(l.smoothing);
                self.low_pass_wet.set(1.0);
            }
            None => self.low_pass_wet.set(0.0),
        }
        self.channel_mix.set(f.channel_mix.filter(|_| on));
        match f.rotation.filter(|_| on) {
            Some(r) => {
                self.rotation.set(r);
                self.rotation_wet.set(1.0);
            }
            None => self.rotation_wet.set(0.0),
        }
        match f.distortion.filter(|_| on) {
            Some(d) => {
                if self.distortion_wet.is(0.0) {
                    self.distortion = d;
                    self.distortion_old = d;
                    self.distortion_x = Ramp::new(1.0);
                } else if d != self.distortion {
                    self.distortion_old = self.distortion;
                    self.distortion = d;
                    self.distortion_x = Ramp::new(0.0);
                    self.distortion_x.set(1.0);
                }
                self.distortion_wet.set(1.0);
            }
            None => self.distortion_wet.set(0.0),
        }
        match f.vibrato.filter(|v| on && vibrato::effective(v).is_some()) {
            Some(v) => {
                let fresh = self.vibrato_wet.is(0.0);
                self.vibrato.set(Some(v), fresh);
                self.vibrato_wet.set(1.0);
            }
            None => self.vibrato_wet.set(0.0),
        }
        self.tremolo.set(f.tremolo.filter(|_| on));
        self.timescale.set(f.timescale.filter(|_| on));
        match f.karaoke.filter(|_| on) {
            Some(k) => {
                let fresh = self.karaoke_wet.is(0.0);
                if fresh {
                    self.karaoke.reset();
                }
                self.karaoke.set(k, fresh);
                self.karaoke_wet.set(1.0);
            }
            None => self.karaoke_wet.set(0.0),
        }
        self.equalizer.set(if on {
            f.equalizer.as_ref().map(|b| equalizer_gains(b))
        } else {
            None
        });
        self.dspx.update(f, on);
        self.extras.update(f, on);
        self.volume.set(f.volume.filter(|_| on));
    }

    /// False once no filter is on and every tail (ramps, timescale buffer) has ended.
    pub fn is_active(&self) -> bool {
        self.plugin_on.iter().any(|&b| b)
            || !self.low_pass_wet.is(0.0)
            || self.channel_mix.active()
            || !self.rotation_wet.is(0.0)
            || !self.distortion_wet.is(0.0)
            || !self.vibrato_wet.is(0.0)
            || self.tremolo.active()
            || self.timescale.active()
            || !self.karaoke_wet.is(0.0)
            || self.equalizer.active()
            || self.dspx.active()
            || self.extras.active()
            || self.volume.active()
    }

    /// Most stereo frames [`FilterChain::input_needed`] can ask for with the timescale
    /// settings seen so far (FRAME until one is set): what a caller's staging must hold.
    pub fn max_input(&self) -> usize {
        self.timescale.max_input()
    }

    /// Stereo frames of input needed for the next `FRAME` output frames (FRAME unless
    /// timescale is running or draining).
    pub fn input_needed(&self) -> usize {
        self.timescale.input_needed()
    }

    /// Process one frame: `input` holds `input_needed()` interleaved stereo frames,
    /// `output` receives `FRAME` interleaved stereo frames. Missing input is read as
    /// silence. Excess input is buffered while timescale runs (so an engine that always
    /// pulls at least one frame loses nothing) and ignored otherwise. Never panics, never
    /// outputs NaN/inf.
    ///
    /// `work`: the worker's [`ChainWork`], shared by every chain it runs.
    pub fn process(&mut self, input: &[f32], output: &mut [f32], work: &mut ChainWork) {
        let need = self.input_needed();
        let n_in = if self.timescale.active() {
            (input.len() / 2).clamp(need, self.timescale.max_input())
        } else {
            need
        };
        let stretching = self.timescale.active();
        // Piece by piece: deinterleave, the stages before timescale, then into timescale's
        // buffer (or, with timescale off, where the output is made; `n_in` is FRAME then).
        let mut at = 0;
        while at < n_in {
            let n = (n_in - at).min(CHUNK);
            let src = &input[(2 * at).min(input.len())..(2 * (at + n)).min(input.len())];
            deinterleave(src, &mut work.in_l[..n], &mut work.in_r[..n]);
            sanitize(&mut work.in_l[..n], self.simd);
            sanitize(&mut work.in_r[..n], self.simd);
            self.pre(n, work);
            let (il, ir) = (&work.in_l[..n], &work.in_r[..n]);
            if stretching {
                self.timescale.push(il, ir, &mut work.timescale);
            } else {
                let end = (at + n).min(FRAME);
                work.out_l[at..end].copy_from_slice(&il[..end - at]);
                work.out_r[at..end].copy_from_slice(&ir[..end - at]);
            }
            at += n;
        }
        let (ol, or) = (&mut work.out_l[..], &mut work.out_r[..]);
        if stretching {
            self.timescale.render(ol, or, &mut work.timescale);
        }
        let simd = self.simd;
        let (dl, dr) = (&mut work.dry_l[..], &mut work.dry_r[..]);
        let k = &mut self.karaoke;
        run_wet(&mut self.karaoke_wet, ol, or, dl, dr, simd, |l, r| {
            k.process(l, r)
        });
        self.equalizer.process(ol, or);
        self.extras.process(ol, or, dl, dr);
        self.volume.process(ol, or);
        sanitize(ol, simd);
        sanitize(or, simd);
        interleave(ol, or, output);
    }

    /// The stages before timescale, on the first `n` frames of the work's planar input.
    fn pre(&mut self, n: usize, work: &mut ChainWork) {
        let simd = self.simd;
        let l = &mut work.in_l[..n];
        let r = &mut work.in_r[..n];
        let (dl, dr) = (&mut work.dry_l[..], &mut work.dry_r[..]);
        for i in (0..self.plugins.len()).rev() {
            if self.plugin_on[i] {
                self.plugins[i].process(l, r);
            }
        }
        self.dspx.process(l, r, dl, dr);
        let lp = &mut self.low_pass;
        run_wet(&mut self.low_pass_wet, l, r, dl, dr, simd, |l, r| {
            lp.process(l, r)
        });
        if self.low_pass_wet.is(0.0) {
            self.low_pass.reset();
        }
        self.channel_mix.process(l, r);
        let rot = &mut self.rotation;
        run_wet(&mut self.rotation_wet, l, r, dl, dr, simd, |l, r| {
            rot.process(l, r)
        });
        if !self.distortion_wet.is(0.0) {
            let (new, old) = (self.distortion, self.distortion_old);
            let x = &mut self.distortion_x;
            let (al, ar) = (&mut work.alt_l[..n], &mut work.alt_r[..n]);
            run_wet(&mut self.distortion_wet, l, r, dl, dr, simd, |l, r| {
                if x.steady() {
                    distortion::process(&new, l, simd);
                    distortion::process(&new, r, simd);
                } else {
                    al.copy_from_slice(l);
                    ar.copy_from_slice(r);
                    distortion::process(&old, al, simd);
                    distortion::process(&old, ar, simd);
                    distortion::process(&new, l, simd);
                    distortion::process(&new, r, simd);
                    let m = x.block(l.len());
                    blend_ramp(al, l, m, simd);
                    blend_ramp(ar, r, m, simd);
                }
            });
        }
        if self.vibrato_wet.is(0.0) {
            self.vibrato.record(l, r);
        } else {
            let v = &mut self.vibrato;
            run_wet(&mut self.vibrato_wet, l, r, dl, dr, simd, |l, r| {
                v.process(l, r)
            });
        }
        self.tremolo.process(l, r);
    }

    /// Seek: clear every history (filter memories, timescale buffer); LFO phases and
    /// parameters stay.
    pub fn reset(&mut self) {
        self.low_pass.reset();
        self.vibrato.reset();
        self.timescale.reset();
        self.karaoke.reset();
        self.equalizer.reset();
        self.dspx.reset();
        self.extras.reset();
        for p in &mut self.plugins {
            p.reset();
        }
    }
}

/// Run a stage with its dry/wet mix: skipped when off, in place when fully on, crossfaded
/// against the dry signal while switching (`dl`/`dr` hold at least `l.len()` samples then).
pub(crate) fn run_wet(
    wet: &mut Wet,
    l: &mut [f32],
    r: &mut [f32],
    dl: &mut [f32],
    dr: &mut [f32],
    simd: bool,
    f: impl FnOnce(&mut [f32], &mut [f32]),
) {
    if wet.is(0.0) {
        return;
    }
    if wet.is(1.0) {
        f(l, r);
        return;
    }
    let n = l.len();
    dl[..n].copy_from_slice(l);
    dr[..n].copy_from_slice(r);
    f(l, r);
    let m = wet.block(n);
    blend_ramp(&dl[..n], l, m, simd);
    blend_ramp(&dr[..n], r, m, simd);
}
