//! Per-frame (20 ms, 48 kHz stereo) costs of the codec stages: symphonia decoding, rubato
//! resampling, and Opus encoding through Basalt's encoder next to bare libopus with the same
//! settings in the same run (the ratio is the figure that matters; absolute times drift).
//!
//! cargo bench --bench codec

use std::hint::black_box;
use std::time::{Duration, Instant};

use basalt::audio_format::{FRAME_SAMPLES, SAMPLE_RATE};
use basalt::config::ResamplingQuality;
use basalt::decode::{self, Opened, Resampler48};
use basalt::encode::OpusEncoder;
use basalt::source::MediaInput;
use criterion::{criterion_group, criterion_main, Criterion};

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn open(name: &str) -> Box<decode::PcmDecoder> {
    let path = fixture(name);
    let input = MediaInput {
        reader: Box::new(std::fs::File::open(&path).expect("fixture")),
        extension: path.extension().map(|e| e.to_string_lossy().into_owned()),
        mime: None,
        is_stream: false,
        segments: None,
    };
    match decode::open(input, ResamplingQuality::Low).expect("open") {
        Opened::Pcm(d) => d,
        Opened::Opus(_) => panic!("not a PCM codec"),
    }
}

/// Time to produce one 20 ms frame of 48 kHz stereo from `name` (decode + any resampling).
fn decode_frame(c: &mut Criterion, label: &str, name: &str) {
    c.bench_function(label, |b| {
        b.iter_custom(|iters| {
            let (mut prod, mut cons) =
                rtrb::RingBuffer::<basalt::audio_format::PcmSample>::new(FRAME_SAMPLES * 8);
            let mut dec = open(name);
            let mut out = vec![0f32; FRAME_SAMPLES];
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                loop {
                    if cons.slots() >= FRAME_SAMPLES {
                        basalt::audio_format::pop_pcm(&mut cons, &mut out);
                        black_box(&out);
                        break;
                    }
                    let t = Instant::now();
                    let f = dec.fill(&mut prod, 1).expect("decode");
                    total += t.elapsed();
                    if f.eof {
                        while cons.pop().is_ok() {}
                        dec = open(name);
                    }
                }
            }
            total
        })
    });
}

fn sine(frames: usize, rate: f32) -> Vec<f32> {
    let mut v = Vec::with_capacity(frames * 2);
    let mut seed = 1u32;
    for i in 0..frames {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let noise = (seed >> 9) as f32 / (1u32 << 23) as f32 - 0.5;
        let s = (i as f32 * 440.0 * std::f32::consts::TAU / rate).sin() * 0.4 + noise * 0.05;
        v.push(s);
        v.push(s * 0.9);
    }
    v
}

fn bench_resample(c: &mut Criterion) {
    // The polyphase FIR per quality, and rubato's FFT resampler (what `low` used before) for
    // comparison.
    for (label, rate, q, rubato) in [
        (
            "resample_44k1_to_48k_poly32_low (per 20 ms out)",
            44_100,
            ResamplingQuality::Low,
            false,
        ),
        (
            "resample_44k1_to_48k_poly64_medium (per 20 ms out)",
            44_100,
            ResamplingQuality::Medium,
            false,
        ),
        (
            "resample_44k1_to_48k_poly128_high (per 20 ms out)",
            44_100,
            ResamplingQuality::High,
            false,
        ),
        (
            "resample_96k_to_48k_poly_low (per 20 ms out)",
            96_000,
            ResamplingQuality::Low,
            false,
        ),
        (
            "resample_44k1_to_48k_rubato_fft (per 20 ms out)",
            44_100,
            ResamplingQuality::Low,
            true,
        ),
    ] {
        let input = sine(rate, rate as f32);
        // 20 ms of input per iteration, so each iteration yields about one output frame.
        let step = rate / 50;
        c.bench_function(label, |b| {
            b.iter_custom(|iters| {
                let mut rs = if rubato {
                    Resampler48::new_rubato(rate as u32, q)
                } else {
                    Resampler48::new(rate as u32, q)
                }
                .expect("resampler");
                let mut out = Vec::with_capacity(96_000 * 2);
                let mut produced = 0usize;
                let mut pos = 0;
                let t = Instant::now();
                for _ in 0..iters {
                    let chunk = &input[pos * 2..(pos + step) * 2];
                    pos = (pos + step) % (rate - step);
                    rs.push_interleaved(chunk, 2);
                    out.clear();
                    rs.drain_into(&mut out, false).expect("resample");
                    produced += out.len();
                    black_box(&out);
                }
                let e = t.elapsed();
                black_box(produced);
                e
            })
        });
    }
}

fn bench_encode(c: &mut Criterion) {
    let pcm = sine(SAMPLE_RATE as usize, SAMPLE_RATE as f32);
    let mut g = c.benchmark_group("opus_encode_cx10_96k");
    g.bench_function("basalt_encoder", |b| {
        let mut enc = OpusEncoder::new(10).expect("encoder");
        let mut out = [0u8; 1500];
        let mut i = 0;
        b.iter(|| {
            let f = &pcm[i * FRAME_SAMPLES..(i + 1) * FRAME_SAMPLES];
            i = (i + 1) % 50;
            black_box(enc.encode(f, &mut out).expect("encode"))
        })
    });
    g.bench_function("bare_libopus", |b| {
        let mut enc = opus2::Encoder::new(
            SAMPLE_RATE,
            opus2::Channels::Stereo,
            opus2::Application::Audio,
        )
        .expect("encoder");
        enc.set_complexity(10).expect("complexity");
        enc.set_bitrate(opus2::Bitrate::Bits(96_000))
            .expect("bitrate");
        enc.set_inband_fec(false).expect("fec");
        let mut out = [0u8; 1500];
        let mut i = 0;
        b.iter(|| {
            let f = &pcm[i * FRAME_SAMPLES..(i + 1) * FRAME_SAMPLES];
            i = (i + 1) % 50;
            black_box(enc.encode_float(f, &mut out).expect("encode"))
        })
    });
    g.finish();
    c.bench_function("opus_decode (per 20 ms)", |b| {
        let mut enc = opus2::Encoder::new(
            SAMPLE_RATE,
            opus2::Channels::Stereo,
            opus2::Application::Audio,
        )
        .expect("encoder");
        enc.set_bitrate(opus2::Bitrate::Bits(96_000))
            .expect("bitrate");
        let packets: Vec<Vec<u8>> = pcm
            .chunks_exact(FRAME_SAMPLES)
            .map(|f| enc.encode_vec_float(f, 1500).expect("encode"))
            .collect();
        let mut dec = opus2::Decoder::new(SAMPLE_RATE, opus2::Channels::Stereo).expect("decoder");
        let mut out = vec![0f32; FRAME_SAMPLES];
        let mut i = 0;
        b.iter(|| {
            let p = &packets[i];
            i = (i + 1) % packets.len();
            black_box(dec.decode_float(p, &mut out, false).expect("decode"))
        })
    });
}

fn bench_decode(c: &mut Criterion) {
    decode_frame(
        c,
        "decode_mp3_48k_stereo (per 20 ms)",
        "sine440_48k_stereo_2s_id3.mp3",
    );
    decode_frame(
        c,
        "decode_flac_48k_stereo (per 20 ms)",
        "sine440_48k_stereo_1s.flac",
    );
    decode_frame(
        c,
        "decode_mp3_44k1_stereo+resample (per 20 ms)",
        "sine440_44k_stereo_2s_xing.mp3",
    );
    decode_frame(
        c,
        "decode_aac_44k1_stereo+resample (per 20 ms)",
        "sine440_44k_stereo_2s_aac.m4a",
    );
    decode_frame(
        c,
        "decode_vorbis_44k1_stereo+resample (per 20 ms)",
        "sine440_44k_stereo_2s.ogg",
    );
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! {
    name = codec;
    config = config();
    targets = bench_decode, bench_resample, bench_encode
}
criterion_main!(codec);
