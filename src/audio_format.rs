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

/// A decoded sample in the PCM ring between a decode worker and its player: 16-bit, as
/// lavaplayer's decoders give it. Half the memory of f32 (the ring holds 100 ms per
/// player); samples past full scale clip here, as they do in Lavalink.
pub type PcmSample = i16;

/// `x` as a 16-bit integer where 1.0 is `scale`: rounded half away from zero, saturating
/// (`as` saturates; NaN is 0). Cheaper than `f32::round`, a libm call on baseline x86-64.
#[inline]
pub fn quantize(x: f32, scale: f32) -> i16 {
    let y = x * scale;
    (y + 0.5f32.copysign(y)) as i16
}

/// The sample a [`quantize`]d value stands for.
#[inline]
pub fn dequantize(s: i16, scale: f32) -> f32 {
    f32::from(s) * (1.0 / scale)
}

/// Full scale of the PCM ring's samples.
const PCM_FULL_SCALE: f32 = 32768.0;

/// One sample into the ring: rounded, saturating at full scale.
#[inline]
pub fn to_pcm(x: f32) -> PcmSample {
    quantize(x, PCM_FULL_SCALE)
}

/// One sample out of the ring.
#[inline]
pub fn from_pcm(s: PcmSample) -> f32 {
    dequantize(s, PCM_FULL_SCALE)
}

/// Pushes as much of `src` as fits into `ring`, converting: the samples pushed.
pub fn push_pcm(ring: &mut rtrb::Producer<PcmSample>, src: &[f32]) -> usize {
    let n = ring.slots().min(src.len());
    match ring.write_chunk_uninit(n) {
        Ok(chunk) => chunk.fill_from_iter(src[..n].iter().map(|&x| to_pcm(x))),
        Err(_) => 0,
    }
}

/// Pops up to `dst.len()` samples from `ring` into `dst`, converting: the samples popped.
pub fn pop_pcm(ring: &mut rtrb::Consumer<PcmSample>, dst: &mut [f32]) -> usize {
    let n = ring.slots().min(dst.len());
    let Ok(chunk) = ring.read_chunk(n) else {
        return 0;
    };
    let (a, b) = chunk.as_slices();
    for (d, &s) in dst.iter_mut().zip(a.iter().chain(b)) {
        *d = from_pcm(s);
    }
    chunk.commit_all();
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcm_samples_round_trip_within_half_a_step_and_clip_at_full_scale() {
        for i in -1000..=1000 {
            let x = i as f32 / 1000.0 * 0.999;
            assert!(
                (from_pcm(to_pcm(x)) - x).abs() <= 0.5 / 32768.0 + 1e-7,
                "{x}"
            );
        }
        assert_eq!(to_pcm(1.5), i16::MAX);
        assert_eq!(to_pcm(-1.5), i16::MIN);
        assert_eq!(to_pcm(f32::NAN), 0);
        assert_eq!(to_pcm(0.5 / 32768.0 * 0.99), 0);
    }

    #[test]
    fn push_and_pop_convert_what_fits() {
        let (mut p, mut c) = rtrb::RingBuffer::<PcmSample>::new(4);
        assert_eq!(push_pcm(&mut p, &[0.5, -0.5, 0.25, 1.0, 0.0]), 4);
        let mut out = [9.0f32; 3];
        assert_eq!(pop_pcm(&mut c, &mut out), 3);
        assert_eq!(out, [0.5, -0.5, 0.25]);
        assert_eq!(push_pcm(&mut p, &[0.125, 0.0]), 2);
        let mut out = [0.0f32; 8];
        assert_eq!(pop_pcm(&mut c, &mut out), 3);
        assert_eq!(&out[..3], &[32767.0 / 32768.0, 0.125, 0.0]);
    }
}
