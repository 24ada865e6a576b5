//! Basalt's filter crate: every Lavalink filter as a chain over 48 kHz stereo f32 frames.
//!
//! Pure: no I/O, no threads, no allocation per frame. `Filters` is the Lavalink `filters`
//! JSON object; a chain built from it processes 960-sample frames between the engine's PCM
//! ring and the Opus encoder.

pub mod chain;
mod channel_mix;
mod distortion;
pub mod equalizer;
pub mod error;
pub mod extra;
pub mod filters;
#[doc(hidden)]
pub mod fuzzing;
mod iir;
pub mod json;
pub mod karaoke;
mod lfo;
#[cfg(feature = "limiter")]
pub mod limiter;
mod low_pass;
pub mod plugin;
mod rotation;
pub(crate) mod simd;
pub mod timescale;
mod tremolo;
pub mod vibrato;
pub mod volume;

pub use chain::{ChainWork, FilterChain, FRAME, MAX_INPUT, SAMPLE_RATE};
pub use error::FilterError;
pub use filters::*;
#[cfg(feature = "limiter")]
pub use limiter::Limiter;
pub use plugin::{PluginFactory, PluginFilter, PluginRegistry};
pub use volume::{apply_player_volume, soft_clip, soft_clip_count, PlayerVolume};
