//! The output look-ahead limiter (`[player] limiter`): peaks never pass full scale, the
//! waveform below the threshold comes out untouched (only delayed by the look-ahead), and
//! the gain comes back after a loud passage.
#![cfg(feature = "limiter")]

use basalt_dsp::{Limiter, FRAME};

fn sine(amp: f32, hz: f32, frames: usize, from: usize) -> Vec<f32> {
    (from..from + frames)
        .flat_map(|i| {
            let v = amp * (std::f32::consts::TAU * hz * i as f32 / 48_000.0).sin();
            [v, -v]
        })
        .collect()
}

/// Runs `input` through `lim` frame by frame, returning the interleaved output.
fn run(lim: &mut Limiter, input: &[f32]) -> Vec<f32> {
    let mut out = input.to_vec();
    for chunk in out.chunks_mut(FRAME * 2) {
        lim.process(chunk);
    }
    out
}

fn peak(s: &[f32]) -> f32 {
    s.iter().fold(0.0f32, |m, x| m.max(x.abs()))
}

#[test]
fn a_boosted_signal_is_held_under_full_scale_without_clipping_its_shape() {
    let mut lim = Limiter::new(5.0, 100.0);
    // +12 dB over full scale for a second.
    let input = sine(4.0, 440.0, 48_000, 0);
    let out = run(&mut lim, &input);
    assert!(peak(&out) <= 1.0, "peak {}", peak(&out));
    // Once settled the gain is steady: the output is the input scaled (shape kept), near
    // the limiter's target of 1/1.1 of full scale.
    let lat = lim.latency();
    let tail = &out[2 * 24_000..];
    let src = &input[2 * (24_000 - lat)..2 * (48_000 - lat)];
    let g = peak(tail) / peak(src);
    assert!(
        (0.85..=1.0).contains(&peak(tail)),
        "settled peak {}",
        peak(tail)
    );
    let worst = tail
        .iter()
        .zip(src)
        .map(|(o, i)| (o - i * g).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 0.02, "waveform changed beyond a gain: {worst}");
}

#[test]
fn a_quiet_signal_passes_unchanged_after_the_look_ahead() {
    let mut lim = Limiter::new(5.0, 100.0);
    assert_eq!(lim.latency(), 240);
    let input = sine(0.5, 1000.0, 9_600, 0);
    let out = run(&mut lim, &input);
    // The window fills with silence first.
    assert!(out[..2 * 240].iter().all(|x| *x == 0.0));
    for (i, (o, x)) in out[2 * 240..].iter().zip(&input).enumerate() {
        assert!((o - x).abs() < 1e-5, "sample {i}: {o} vs {x}");
    }
}

#[test]
fn the_gain_recovers_after_a_loud_passage() {
    let mut lim = Limiter::new(5.0, 100.0);
    let loud = sine(3.0, 300.0, 24_000, 0);
    run(&mut lim, &loud);
    // Then 1.5 s of a quiet tone: after the release (~100 ms, a few time constants) it is
    // back at unity gain.
    let quiet = sine(0.4, 300.0, 72_000, 24_000);
    let out = run(&mut lim, &quiet);
    let late = peak(&out[2 * 48_000..]);
    assert!(
        (late - 0.4).abs() < 0.01,
        "gain did not recover: peak {late}"
    );
}

#[test]
fn reset_forgets_the_previous_track_and_junk_input_stays_finite() {
    let mut lim = Limiter::new(5.0, 100.0);
    run(&mut lim, &sine(0.8, 200.0, 4_800, 0));
    lim.reset();
    let mut pcm = vec![f32::NAN, f32::INFINITY, -f32::INFINITY, 0.5];
    pcm.resize(FRAME * 2, 0.25);
    lim.process(&mut pcm);
    // Nothing of the old tone comes out: the window starts empty.
    assert!(pcm[..2 * 240].iter().all(|x| *x == 0.0));
    assert!(pcm.iter().all(|x| x.is_finite() && x.abs() <= 1.0));
    // Out-of-range settings are clamped, never a panic.
    let lim = Limiter::new(f32::NAN, -3.0);
    assert_eq!(lim.latency(), 240);
}
