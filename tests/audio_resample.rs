//! The resampler alone: length and pitch preserved for every common rate.

use basalt::config::ResamplingQuality;
use basalt::decode::Resampler48;

fn run(rate: u32, q: ResamplingQuality) -> (usize, f32) {
    let n = rate as usize * 2;
    let src: Vec<f32> = (0..n)
        .map(|i| (i as f32 * 440.0 * std::f32::consts::TAU / rate as f32).sin() * 0.5)
        .collect();
    let mut rs = Resampler48::new(rate, q).unwrap();
    let mut out = Vec::new();
    for chunk in src.chunks(1152) {
        rs.push_interleaved(chunk, 1);
        rs.drain_into(&mut out, false).unwrap();
    }
    rs.drain_into(&mut out, true).unwrap();
    let left: Vec<f32> = out.iter().step_by(2).copied().collect();
    let body = &left[4800..left.len().saturating_sub(4800)];
    let crossings = body
        .windows(2)
        .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
        .count();
    (
        left.len(),
        crossings as f32 / 2.0 / (body.len() as f32 / 48_000.0),
    )
}

#[test]
fn resampling_keeps_length_and_pitch() {
    for q in [
        ResamplingQuality::Low,
        ResamplingQuality::Medium,
        ResamplingQuality::High,
    ] {
        for rate in [
            8_000, 11_025, 16_000, 22_050, 32_000, 44_100, 88_200, 96_000,
        ] {
            let (frames, f) = run(rate, q);
            assert!(
                (frames as i64 - 96_000).abs() < 1200,
                "{rate} {q:?}: {frames} frames"
            );
            assert!((f - 440.0).abs() < 3.0, "{rate} {q:?}: {f} Hz");
        }
    }
}
