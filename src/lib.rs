//! Basalt: a Lavalink v4 compatible audio node.
//!
//! The module tree follows the audio pipeline:
//! control (`server`, `session`) → `player` (the control ↔ engine interface) →
//! `source` / `decode` → dsp (the `basalt-dsp` crate) → `encode` → `engine` (workers, pacer) → `voice`.

pub mod config;
pub mod decode;
pub mod encode;
pub mod engine;
pub mod logging;
pub mod metrics;
pub mod net;
pub mod player;
pub mod plugin;
pub mod server;
pub mod session;
pub mod source;
pub mod stats;
pub mod track;
pub mod voice;
