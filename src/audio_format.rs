//! One constant per fact about the audio Basalt sends: every module (decode, engine, encode,
//! voice) takes these from here, so a limit cannot disagree between two stages.

/// Discord voice and Opus run at 48 kHz (the filter crate, the lower layer, holds the
/// number).
pub const SAMPLE_RATE: u32 = basalt_dsp::SAMPLE_RATE as u32;
/// Samples per channel in one 20 ms frame.
pub const FRAME: usize = basalt_dsp::FRAME;
/// Interleaved stereo samples in one frame.
pub const FRAME_SAMPLES: usize = FRAME * 2;
/// Largest Opus packet of one 20 ms frame we send: one TOC byte plus the 1275-byte frame
/// limit of RFC 6716 §3.2.1. Source packets above it are decoded and re-encoded, never
/// passed through.
pub const MAX_OPUS_PACKET: usize = 1276;
