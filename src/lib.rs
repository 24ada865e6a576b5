//! Basalt: a Lavalink v4 compatible audio node.
//!
//! The module tree follows the audio pipeline:
//! control (`server`, `session`) → `player` (the control ↔ engine interface) →
//! `source` / `decode` → dsp (the `basalt-dsp` crate) → `encode` → `engine` (workers, pacer) → `voice`.

// libopus, compiled without cmake: naming the crate keeps its archive in every link.
extern crate opus_cc_sys as _;

pub mod affinity;
pub mod audio_format;
pub mod config;
pub mod decode;
pub mod encode;
pub mod engine;
pub mod heap_trim;
pub mod lavalink_yaml;
pub mod logging;
pub mod metrics;
pub mod net;
pub mod player;
pub mod plugin;
pub mod server;
pub mod source;
pub mod stats;
pub mod sync;
pub mod telemetry;
pub mod track;
pub mod voice;
