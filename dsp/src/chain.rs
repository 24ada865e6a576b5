//! The filter chain: enable rules (§7.2), processing order, click-free updates.
//!
//! Order (input → output): plugin filters (last registered first) → lowPass → channelMix →
//! rotation → distortion → vibrato → tremolo → timescale → karaoke → equalizer → volume.
//! If no configured filter is enabled the chain is "off" (every stage fades out, then the
//! engine may pass audio through); if one is, every configured filter runs, enabled or not.
//!
//! All buffers are allocated in [`FilterChain::new`]; `update` and `process` never allocate.

use crate::equalizer::EqualizerStage;
use crate::filters::*;
use crate::plugin::{PluginFilter, PluginRegistry};
use crate::simd::{deinterleave, interleave, sanitize};
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
    }

    /// [`Filters::is_active`] including the registered plugins' own enable tests.
    pub fn is_active_with(&self, plugins: &PluginRegistry) -> bool {
        self.is_active() || plugins.any_enabled(&self.plugin_filters)
    }
}

/// One player's filter chain. Feed it `input_needed()` stereo frames, get `FRAME` back.
pub struct FilterChain {
    plugins: Vec<Box<dyn PluginFilter>>,
    plugin_on: Vec<bool>,
    equalizer: EqualizerStage,
    volume: VolumeStage,
    in_l: Vec<f32>,
    in_r: Vec<f32>,
    out_l: Vec<f32>,
    out_r: Vec<f32>,
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
        let inst: Vec<Box<dyn PluginFilter>> =
            plugins.factories().iter().map(|f| f.create()).collect();
        let names_on = vec![false; inst.len()];
        FilterChain {
            plugins: inst,
            plugin_on: names_on,
            equalizer: EqualizerStage::new(simd),
            volume: VolumeStage::new(simd),
            in_l: vec![0.0; MAX_INPUT],
            in_r: vec![0.0; MAX_INPUT],
            out_l: vec![0.0; FRAME],
            out_r: vec![0.0; FRAME],
        }
    }

    /// Install a new filter set; the next `process` call uses it (ramped, click-free).
    pub fn update(&mut self, f: &Filters) {
        self.update_inner(f, &[]);
    }

    /// [`FilterChain::update`] for chains built with plugins: `names` are the registry's
    /// names in registration order (the instances were created in that order).
    pub fn update_with_plugins(&mut self, f: &Filters, plugins: &PluginRegistry) {
        let on = f.is_active_with(plugins);
        for (i, fac) in plugins.factories().iter().enumerate() {
            if let Some(p) = self.plugins.get_mut(i) {
                let cfg = if on {
                    f.plugin_filters.get(fac.name())
                } else {
                    None
                };
                self.plugin_on[i] = p.configure(cfg);
            }
        }
        self.apply(f, on);
    }

    fn update_inner(&mut self, f: &Filters, _names: &[&str]) {
        self.apply(f, f.is_active());
    }

    fn apply(&mut self, f: &Filters, on: bool) {
        let pick = |b: bool| on && b;
        self.volume.set(if pick(f.volume.is_some()) {
            f.volume
        } else {
            None
        });
        self.equalizer.set(if on {
            f.equalizer.as_ref().map(|b| equalizer_gains(b))
        } else {
            None
        });
    }

    /// False once no filter is on and every tail (ramps, timescale buffer) has ended.
    pub fn is_active(&self) -> bool {
        self.plugin_on.iter().any(|&b| b) || self.equalizer.active() || self.volume.active()
    }

    /// Stereo frames of input needed for the next `FRAME` output frames.
    pub fn input_needed(&self) -> usize {
        FRAME
    }

    /// Process one frame: `input` holds `input_needed()` interleaved stereo frames,
    /// `output` receives `FRAME` interleaved stereo frames. Missing input is read as
    /// silence, excess ignored; never panics, never outputs NaN/inf.
    pub fn process(&mut self, input: &[f32], output: &mut [f32]) {
        let n_in = self.input_needed();
        let (il, ir) = (&mut self.in_l[..n_in], &mut self.in_r[..n_in]);
        deinterleave(input, il, ir);
        sanitize(il);
        sanitize(ir);
        for i in (0..self.plugins.len()).rev() {
            if self.plugin_on[i] {
                self.plugins[i].process(il, ir);
            }
        }
        let (ol, or) = (&mut self.out_l[..], &mut self.out_r[..]);
        ol.copy_from_slice(&il[..FRAME]);
        or.copy_from_slice(&ir[..FRAME]);
        self.equalizer.process(ol, or);
        self.volume.process(ol, or);
        sanitize(ol);
        sanitize(or);
        interleave(ol, or, output);
    }

    /// Seek: clear every history (filter memories, timescale buffer); LFO phases and
    /// parameters stay.
    pub fn reset(&mut self) {
        self.equalizer.reset();
        for p in &mut self.plugins {
            p.reset();
        }
    }
}
