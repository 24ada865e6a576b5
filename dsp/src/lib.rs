//! Basalt's filter crate: every Lavalink filter as a chain over 48 kHz stereo f32 frames.
//!
//! Pure: no I/O, no threads, no allocation per frame. `Filters` is the Lavalink `filters`
//! JSON object; a chain built from it processes 960-sample frames between the engine's PCM
//! ring and the Opus encoder.

pub mod filters;

pub use filters::*;
