//! Any rate → 48 kHz stereo. Every common rate goes through the polyphase FIR in
//! `polyphase.rs` (one shared coefficient table per ratio and quality, a few KiB per player,
//! a fraction of rubato's cost per 20 ms frame). Ratios too odd for a table (44 056 Hz is
//! 6000/5507) keep rubato: quality `low` uses its FFT resampler, `medium`/`high` its sinc
//! interpolation.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Async, Fft, FixedAsync, FixedSync, Indexing, Resampler, SincInterpolationParameters,
    SincInterpolationType, WindowFunction,
};

use super::polyphase::Polyphase;
use super::{to_stereo, DecodeError, OUT_RATE};
use crate::config::ResamplingQuality;

/// Input frames per resampler call.
const CHUNK: usize = 1024;

/// A stereo resampler to 48 kHz. Output is delay-compensated (input time t appears at output
/// time t) and, after a flush, exactly ceil(frames_in × 48000 / rate_in) frames long.
pub struct Resampler48 {
    backend: Backend,
}

enum Backend {
    Polyphase(Polyphase),
    Rubato(Box<RubatoBackend>),
}

impl Resampler48 {
    /// Builds the resampler (and, on first use of a ratio, its shared table): call it at
    /// track open, not on the audio path.
    pub fn new(rate_in: u32, quality: ResamplingQuality) -> Result<Resampler48, DecodeError> {
        Resampler48::for_packets(rate_in, quality, None)
    }

    /// As `new`, sized for decoder packets of `packet_frames` input frames when known (the
    /// history then holds one packet plus the filter, not a 4,096-frame guess).
    pub fn for_packets(
        rate_in: u32,
        quality: ResamplingQuality,
        packet_frames: Option<usize>,
    ) -> Result<Resampler48, DecodeError> {
        if rate_in == 0 {
            return Err(DecodeError::Resampler("sample rate 0".into()));
        }
        let polyphase = match packet_frames {
            Some(n) => Polyphase::with_history(rate_in, OUT_RATE, quality, n),
            None => Polyphase::new(rate_in, OUT_RATE, quality),
        };
        let backend = match polyphase {
            Some(p) => Backend::Polyphase(p),
            None => Backend::Rubato(Box::new(RubatoBackend::new(rate_in, quality)?)),
        };
        Ok(Resampler48 { backend })
    }

    /// The rubato backend whatever the rate: what odd rates get, and the benches' baseline.
    pub fn new_rubato(
        rate_in: u32,
        quality: ResamplingQuality,
    ) -> Result<Resampler48, DecodeError> {
        if rate_in == 0 {
            return Err(DecodeError::Resampler("sample rate 0".into()));
        }
        let backend = Backend::Rubato(Box::new(RubatoBackend::new(rate_in, quality)?));
        Ok(Resampler48 { backend })
    }

    /// Queues `frames` input frames that `write` puts into the (left, right) planes, when the
    /// backend takes planes (polyphase); false (nothing called) for rubato.
    pub fn push_planar(
        &mut self,
        frames: usize,
        write: impl FnOnce(&mut [f32], &mut [f32]),
    ) -> bool {
        match &mut self.backend {
            Backend::Polyphase(p) => {
                p.push_planar(frames, write);
                true
            }
            Backend::Rubato(_) => false,
        }
    }

    /// Queues interleaved input of `ch` channels (mono to both sides, beyond two dropped).
    pub fn push_interleaved(&mut self, src: &[f32], ch: usize) {
        match &mut self.backend {
            Backend::Polyphase(p) => p.push_interleaved(src, ch),
            Backend::Rubato(r) => r.push_interleaved(src, ch),
        }
    }

    /// Appends the 48 kHz stereo interleaved output ready so far to `out`; `flush` (end of
    /// track) also pushes out the tail.
    pub fn drain_into(&mut self, out: &mut Vec<f32>, flush: bool) -> Result<(), DecodeError> {
        match &mut self.backend {
            Backend::Polyphase(p) => {
                p.drain_into(out, flush);
                Ok(())
            }
            Backend::Rubato(r) => r.drain_into(out, flush),
        }
    }

    /// Ends the input in place when the backend can (polyphase: its tail then comes out of
    /// `drain_to_ring`, so no output buffer is needed); false for rubato, whose tail comes
    /// from `drain_into(.., true)`.
    pub fn finish_in_place(&mut self) -> bool {
        match &mut self.backend {
            Backend::Polyphase(p) => {
                p.finish();
                true
            }
            Backend::Rubato(_) => false,
        }
    }

    /// Writes the output ready so far straight into `ring`, as much as fits: samples pushed
    /// and whether more is ready. `None` when this backend cannot (rubato): use
    /// [`Resampler48::drain_into`].
    pub fn drain_to_ring(
        &mut self,
        ring: &mut rtrb::Producer<crate::audio_format::PcmSample>,
    ) -> Option<(usize, bool)> {
        match &mut self.backend {
            Backend::Polyphase(p) => Some(p.drain_to_ring(ring)),
            Backend::Rubato(_) => None,
        }
    }

    /// Clears history and position after a seek: the same output as a fresh resampler.
    pub fn reset(&mut self) {
        match &mut self.backend {
            Backend::Polyphase(p) => p.reset(),
            Backend::Rubato(r) => r.reset(),
        }
    }

    /// Whether the polyphase FIR serves this rate (false: rubato), for tests and benches.
    pub fn is_polyphase(&self) -> bool {
        matches!(self.backend, Backend::Polyphase(_))
    }

    /// Filter length in input frames of the polyphase backend, `None` for rubato.
    pub fn polyphase_taps(&self) -> Option<usize> {
        match &self.backend {
            Backend::Polyphase(p) => Some(p.taps()),
            Backend::Rubato(_) => None,
        }
    }

    /// Heap bytes owned by this player's polyphase state (shared table excluded), `None` for
    /// rubato, whose internals are opaque.
    pub fn polyphase_state_bytes(&self) -> Option<usize> {
        match &self.backend {
            Backend::Polyphase(p) => Some(p.state_bytes()),
            Backend::Rubato(_) => None,
        }
    }
}

/// rubato with its own input accumulator (buffers sized once), for odd ratios.
struct RubatoBackend {
    rs: Box<dyn Resampler<f32>>,
    input: Vec<f32>,
    output: Vec<f32>,
    /// Output frames still to drop: the resampler's delay, so audio is not shifted.
    delay_left: usize,
    rate_in: u32,
    /// Input frames queued and output frames emitted since the last reset, so the padding
    /// of the final partial chunk is cut off at the end.
    frames_in: u64,
    frames_out: u64,
}

fn err<E: std::fmt::Display>(e: E) -> DecodeError {
    DecodeError::Resampler(e.to_string())
}

impl RubatoBackend {
    fn new(rate_in: u32, quality: ResamplingQuality) -> Result<RubatoBackend, DecodeError> {
        let rs: Box<dyn Resampler<f32>> = match quality {
            ResamplingQuality::Low => Box::new(
                Fft::<f32>::new(
                    rate_in as usize,
                    OUT_RATE as usize,
                    CHUNK,
                    2,
                    FixedSync::Input,
                )
                .map_err(err)?,
            ),
            ResamplingQuality::Medium | ResamplingQuality::High => {
                let len = if quality == ResamplingQuality::High {
                    256
                } else {
                    64
                };
                let params = SincInterpolationParameters {
                    sinc_len: len,
                    f_cutoff: None,
                    oversampling_factor: 128,
                    interpolation: SincInterpolationType::Cubic,
                    window: WindowFunction::BlackmanHarris2,
                };
                Box::new(
                    Async::<f32>::new_sinc(
                        OUT_RATE as f64 / rate_in as f64,
                        1.0,
                        &params,
                        CHUNK,
                        2,
                        FixedAsync::Input,
                    )
                    .map_err(err)?,
                )
            }
        };
        let delay_left = rs.output_delay();
        let out_max = rs.output_frames_max();
        Ok(RubatoBackend {
            rs,
            input: Vec::with_capacity(CHUNK * 2 * 8),
            output: vec![0.0; out_max * 2],
            delay_left,
            rate_in,
            frames_in: 0,
            frames_out: 0,
        })
    }

    fn push_interleaved(&mut self, src: &[f32], ch: usize) {
        to_stereo(src, ch, &mut self.input);
        self.frames_in += (src.len() / ch.max(1)) as u64;
    }

    /// Resamples every whole chunk queued (all of it when `flush`), appending 48 kHz stereo
    /// interleaved samples to `out`.
    fn drain_into(&mut self, out: &mut Vec<f32>, flush: bool) -> Result<(), DecodeError> {
        let mut consumed = 0;
        let total = self.input.len() / 2;
        loop {
            let next = self.rs.input_frames_next();
            let left = total - consumed;
            if left < next && !(flush && left > 0) {
                break;
            }
            let avail = left.min(next);
            let indexing = Indexing {
                input_offset: consumed,
                output_offset: 0,
                partial_len: if avail < next { Some(avail) } else { None },
                active_channels_mask: None,
            };
            let inp = InterleavedSlice::new(&self.input[..], 2, total).map_err(err)?;
            let frames_out = self.output.len() / 2;
            let mut outp =
                InterleavedSlice::new_mut(&mut self.output[..], 2, frames_out).map_err(err)?;
            let (_, n_out) = self
                .rs
                .process_into_buffer(&inp, &mut outp, Some(&indexing))
                .map_err(err)?;
            consumed += avail;
            self.emit(n_out, out, flush);
        }
        if flush {
            // Push the delay line out with silence until the track's exact length is out
            // (a long delay, as at odd ratios, can take more than one chunk).
            let due = (self.frames_in * OUT_RATE as u64).div_ceil(self.rate_in as u64);
            let indexing = Indexing {
                partial_len: Some(0),
                ..Indexing::default()
            };
            let frames_out = self.output.len() / 2;
            let empty: [f32; 0] = [];
            for _ in 0..64 {
                if self.frames_out >= due {
                    break;
                }
                let inp = InterleavedSlice::new(&empty[..], 2, 0).map_err(err)?;
                let mut outp =
                    InterleavedSlice::new_mut(&mut self.output[..], 2, frames_out).map_err(err)?;
                match self
                    .rs
                    .process_into_buffer(&inp, &mut outp, Some(&indexing))
                {
                    // A call may buffer silence and emit nothing yet; the bound above ends it.
                    Ok((_, n_out)) => self.emit(n_out, out, true),
                    Err(_) => break,
                }
            }
        }
        self.input.drain(..consumed * 2);
        Ok(())
    }

    fn emit(&mut self, n_out: usize, out: &mut Vec<f32>, at_end: bool) {
        let skip = self.delay_left.min(n_out);
        self.delay_left -= skip;
        let mut end = n_out;
        if at_end {
            let due = (self.frames_in * OUT_RATE as u64).div_ceil(self.rate_in as u64);
            let room = due.saturating_sub(self.frames_out) as usize;
            end = end.min(skip + room);
        }
        self.frames_out += (end - skip) as u64;
        out.extend_from_slice(&self.output[skip * 2..end * 2]);
    }

    fn reset(&mut self) {
        self.rs.reset();
        self.input.clear();
        self.delay_left = self.rs.output_delay();
        self.frames_in = 0;
        self.frames_out = 0;
    }
}
