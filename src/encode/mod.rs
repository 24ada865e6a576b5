//! Opus encoding as Lavalink does it (48 kHz stereo, application audio, 96 kbit/s, FEC off,
//! complexity from `opus_encoding_quality`), and the test for packets that may be passed
//! through untouched.

use opus2::{Application, Bitrate, Channels};

pub use crate::audio_format::FRAME;
/// The 3-byte Opus frame of silence Discord expects after audio stops.
pub const SILENCE_FRAME: [u8; 3] = [0xF8, 0xFF, 0xFE];

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("libopus: {0}")]
    Opus(String),
}

fn err(e: opus2::Error) -> EncodeError {
    EncodeError::Opus(e.to_string())
}

/// One player's encoder.
pub struct OpusEncoder {
    enc: opus2::Encoder,
}

impl OpusEncoder {
    pub fn new(complexity: u8) -> Result<OpusEncoder, EncodeError> {
        let mut enc = opus2::Encoder::new(
            crate::audio_format::SAMPLE_RATE,
            Channels::Stereo,
            Application::Audio,
        )
        .map_err(err)?;
        enc.set_complexity(i32::from(complexity.min(10)))
            .map_err(err)?;
        enc.set_bitrate(Bitrate::Bits(96_000)).map_err(err)?;
        enc.set_inband_fec(false).map_err(err)?;
        Ok(OpusEncoder { enc })
    }

    /// Encodes one 20 ms frame (1920 interleaved samples) into `out`; returns its length.
    pub fn encode(&mut self, pcm: &[f32], out: &mut [u8]) -> Result<usize, EncodeError> {
        self.enc.encode_float(pcm, out).map_err(err)
    }

    /// Forgets the signal history (a new track).
    pub fn reset(&mut self) {
        let _ = self.enc.reset_state();
    }
}

/// True for an Opus packet Discord can take as one of our frames: stereo, 20 ms, within
/// the packet limit (a valid but larger packet is decoded and re-encoded instead).
pub fn is_passthrough_packet(packet: &[u8]) -> bool {
    if packet.is_empty() || packet.len() > crate::audio_format::MAX_OPUS_PACKET {
        return false;
    }
    matches!(opus2::packet::get_nb_channels(packet), Ok(Channels::Stereo))
        && matches!(
            opus2::packet::get_nb_samples(packet, crate::audio_format::SAMPLE_RATE),
            Ok(FRAME)
        )
}
