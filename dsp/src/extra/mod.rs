//! Filters beyond Lavalink's ten (plugins.md §7.3): LavaDSPX's four under `pluginFilters`
//! and NodeLink's top-level extras, all native, 48 kHz stereo, allocation-free per frame.
//!
//! Every stage follows the chain's rules: its buffers are sized by `set` (called from the
//! chain's `update`, never from `process`) from the parameters and never shrink, its
//! state survives parameter changes, parameter jumps are ramped or crossfaded, and the
//! chain's wet/dry ramp fades it in and out (removal is heard within the next frame).

pub(crate) mod biquad;
pub mod chorus;
pub mod compressor;
pub(crate) mod delay;
pub mod echo;
pub mod flanger;
pub mod high_pass;
pub(crate) mod json;
pub mod lavadspx;
pub mod normalization;
pub(crate) mod osc;
pub mod phaser;
pub mod reverb;
pub mod spatial;
pub(crate) mod stages;

pub use chorus::Chorus;
pub use compressor::Compressor;
pub use echo::Echo;
pub use flanger::Flanger;
pub use high_pass::HighPass;
pub use lavadspx::{DspxEcho, DspxFilters, DspxNormalization, DspxPass, LAVADSPX_FILTERS};
pub use phaser::Phaser;
pub use reverb::Reverb;
pub use spatial::Spatial;

/// Samples per millisecond inside the chain.
pub(crate) const PER_MS: f32 = crate::chain::SAMPLE_RATE / 1000.0;

/// `x` clamped to `[lo, hi]`; NaN (only possible from hand-built structs, never from JSON)
/// becomes `default`.
pub(crate) fn clampf(x: f32, lo: f32, hi: f32, default: f32) -> f32 {
    if x.is_nan() {
        default
    } else {
        x.clamp(lo, hi)
    }
}

/// Names of the top-level extras in `/v4/info.filters` order (after LavaDSPX's four; the
/// top-level `echo` shares its name with LavaDSPX's and is listed once, before them).
pub const TOP_LEVEL_EXTRAS: [&str; 8] = [
    "echo",
    "highPass",
    "chorus",
    "flanger",
    "phaser",
    "compressor",
    "spatial",
    "reverb",
];
