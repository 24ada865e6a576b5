//! The unit the encode workers hand to the pacer: one 20 ms Opus packet, tagged so the pacer
//! can drop frames made obsolete by a seek, a volume or filter change, or a pause.

pub use crate::audio_format::{FRAME, FRAME_SAMPLES, MAX_OPUS_PACKET};

/// Frame-ring capacity. The encode side keeps at most `TARGET_DEPTH` current frames queued
/// so changes are heard quickly. A change leaves up to `TARGET_DEPTH` stale frames in the
/// ring until the pacer skips them; the spare slots hold the changed frames next to them,
/// for up to two changes in one tick (a PATCH's fields may land in two service passes).
pub const FRAME_RING: usize = 3 * TARGET_DEPTH;
pub const TARGET_DEPTH: usize = 2;

#[derive(Clone, Copy)]
pub struct Frame {
    /// Generation of the player's output when encoded (see `PlayerLink::accept`).
    pub gen: u32,
    /// Sequence number within the player (wraps).
    pub seq: u32,
    /// Track position at the end of this frame, ms.
    pub end_ms: i64,
    /// Which of the player's tracks this frame belongs to (see `PlayerLink::track`).
    pub track: u32,
    pub len: u16,
    pub data: [u8; MAX_OPUS_PACKET],
}

impl Frame {
    pub const EMPTY: Frame = Frame {
        gen: 0,
        seq: 0,
        end_ms: 0,
        track: 0,
        len: 0,
        data: [0; MAX_OPUS_PACKET],
    };

    pub fn payload(&self) -> &[u8] {
        &self.data[..self.len as usize]
    }
}
