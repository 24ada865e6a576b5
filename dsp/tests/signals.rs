#![allow(clippy::needless_range_loop)] // tests index signals by sample number
//! Filters measured on signals.

mod common;

use basalt_dsp::equalizer::CENTRES;
use basalt_dsp::volume::{filter_gain, player_volume_multiplier};
use basalt_dsp::{apply_player_volume, soft_clip_count, ChainWork, FilterChain, Filters, FRAME};
use common::*;
use std::f64::consts::TAU;

#[test]
fn filter_volume_curve_and_exact_output() {
    for (v, g) in [(0.5, 0.41691), (1.5, 2.46215), (2.0, 3.2816), (5.0, 8.204)] {
        assert!((filter_gain(v) - g).abs() < 1e-4, "{v}: {}", filter_gain(v));
    }
    let mut c = chain_with(r#"{"volume": 0.5}"#);
    let mut src = Source::new(sine(440.0, 0.9));
    let (l, _) = run(&mut c, &mut src, FRAME * 3);
    let g = filter_gain(0.5);
    // After the 10 ms ramp the gain is exact.
    for n in FRAME..3 * FRAME {
        let x = (0.9 * (TAU * 440.0 * n as f64 / SR).sin()) as f32;
        assert_eq!(l[n], (x * g).clamp(-1.0, 1.0), "sample {n}");
    }
    // The ramp itself has no step.
    let steps = l
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0f32, f32::max);
    assert!(steps < 0.06, "largest step {steps}");
}

#[test]
fn player_volume_reference_multipliers() {
    let refs = [
        (0, 0),
        (1, 79),
        (10, 791),
        (25, 2001),
        (50, 4169),
        (75, 6731),
        (100, 10092),
        (125, 15154),
        (150, 24621),
        (151, 24785),
        (200, 32828),
        (500, 82070),
        (1000, 164140),
    ];
    for (v, m) in refs {
        assert_eq!(player_volume_multiplier(v), m, "volume {v}");
    }
    let mut s = vec![0.5f32; 16];
    apply_player_volume(&mut s, 100);
    assert!(s.iter().all(|&x| x == 0.5));
    apply_player_volume(&mut s, 50);
    assert!(s.iter().all(|&x| x == 0.5 * 0.4169));
    apply_player_volume(&mut s, 0);
    assert!(s.iter().all(|&x| x == 0.0));
}

#[test]
fn soft_clip_only_touches_the_top() {
    let mut s: Vec<f32> = (0..200).map(|i| (i as f32 - 100.0) / 40.0).collect();
    s.push(f32::NAN);
    s.push(f32::INFINITY);
    let orig = s.clone();
    let overs = soft_clip_count(&mut s);
    assert_eq!(overs, 2 * 60 - 1 + 1);
    for (a, b) in orig.iter().zip(&s) {
        assert!(b.is_finite() && b.abs() <= 1.0);
        if a.abs() <= 0.9 {
            assert_eq!(a, b);
        }
    }
    // Monotonic.
    for w in s[..200].windows(2) {
        assert!(w[1] >= w[0]);
    }
}

#[test]
fn equalizer_band_centres_within_half_a_db() {
    for (band, &fc) in CENTRES.iter().enumerate() {
        for gain in [0.25f32, 0.1, -0.1] {
            let json = format!(r#"{{"equalizer": [{{"band": {band}, "gain": {gain}}}]}}"#);
            let mut c = chain_with(&json);
            let mut src = Source::new(sine(fc as f64, 0.2));
            let frames = FRAME * 50;
            let (l, r) = run(&mut c, &mut src, frames);
            let tail = &l[frames / 2..];
            let measured = db(tone_amp(tail, fc as f64) / 0.2);
            let expected = db(1.0 + 4.0 * gain as f64);
            assert!(
                (measured - expected).abs() < 0.5,
                "band {band} ({fc} Hz) gain {gain}: {measured:.2} dB, want {expected:.2} dB"
            );
            assert_eq!(l, r);
        }
    }
}

#[test]
fn equalizer_minus_quarter_removes_band() {
    let mut c = chain_with(r#"{"equalizer": [{"band": 8, "gain": -0.25}]}"#);
    let mut src = Source::new(sine(1000.0, 0.5));
    let (l, _) = run(&mut c, &mut src, FRAME * 20);
    assert!(db(tone_amp(&l[FRAME * 10..], 1000.0) / 0.5) < -30.0);
}

#[test]
fn channel_mix_exact() {
    let mut c = chain_with(
        r#"{"channelMix": {"leftToLeft": 0.3, "leftToRight": 0.7, "rightToLeft": 0.2, "rightToRight": 0.6}}"#,
    );
    let gen = |n: u64| {
        let t = n as f64 / SR;
        (
            (0.5 * (TAU * 300.0 * t).sin()) as f32,
            (0.4 * (TAU * 700.0 * t).cos()) as f32,
        )
    };
    let mut src = Source::new(gen);
    let (l, r) = run(&mut c, &mut src, FRAME * 3);
    for n in FRAME..3 * FRAME {
        let (x, y) = gen(n as u64);
        assert_eq!(l[n], (0.3 * x + 0.2 * y).clamp(-1.0, 1.0));
        assert_eq!(r[n], (0.7 * x + 0.6 * y).clamp(-1.0, 1.0));
    }
}

#[test]
fn low_pass_attenuation_follows_formula() {
    for smoothing in [5.0f64, 20.0, 60.0] {
        for f in [100.0f64, 1000.0, 5000.0] {
            let mut c = chain_with(&format!(r#"{{"lowPass": {{"smoothing": {smoothing}}}}}"#));
            let mut src = Source::new(sine(f, 0.5));
            let (l, _) = run(&mut c, &mut src, FRAME * 10);
            let a = 1.0 / smoothing;
            let w = TAU * f / SR;
            let h = a / (1.0 - 2.0 * (1.0 - a) * w.cos() + (1.0 - a) * (1.0 - a)).sqrt();
            let measured = tone_amp(&l[FRAME * 5..], f) / 0.5;
            assert!(
                (db(measured) - db(h)).abs() < 0.1,
                "smoothing {smoothing} at {f} Hz: {} dB vs {} dB",
                db(measured),
                db(h)
            );
        }
    }
}

#[test]
fn tremolo_rate_and_depth() {
    let mut c = chain_with(r#"{"tremolo": {"frequency": 4.0, "depth": 0.6}}"#);
    let mut src = Source::new(|_| (0.5, 0.5));
    let (l, r) = run(&mut c, &mut src, FRAME * 150);
    let tail: Vec<f64> = l[FRAME..].iter().map(|&v| v as f64 / 0.5).collect();
    let max = tail.iter().cloned().fold(f64::MIN, f64::max);
    let min = tail.iter().cloned().fold(f64::MAX, f64::min);
    // gain = (1 − d) + d·sin φ with d = depth/2.
    assert!((max - 1.0).abs() < 1e-3, "max {max}");
    assert!((min - 0.4).abs() < 1e-3, "min {min}");
    let mean = (max + min) / 2.0;
    let centred: Vec<f64> = tail.iter().map(|v| v - mean).collect();
    let z = zero_crossings(&centred);
    let period = (z[z.len() - 1] - z[0]) / (z.len() - 1) as f64;
    assert!((SR / period - 4.0).abs() < 0.01, "rate {}", SR / period);
    assert_eq!(l, r);
}

#[test]
fn vibrato_rate_and_depth() {
    let (fm, depth, f0) = (5.0f64, 1.0f64, 1000.0f64);
    let mut c = chain_with(r#"{"vibrato": {"frequency": 5.0, "depth": 1.0}}"#);
    let mut src = Source::new(sine(f0, 0.5));
    let (l, _) = run(&mut c, &mut src, FRAME * 100);
    let x: Vec<f64> = l[FRAME * 2..].iter().map(|&v| v as f64).collect();
    let z = zero_crossings(&x);
    // Instantaneous frequency from successive crossings.
    let inst: Vec<f64> = z.windows(2).map(|w| SR / (w[1] - w[0])).collect();
    let max = inst.iter().cloned().fold(f64::MIN, f64::max);
    let min = inst.iter().cloned().fold(f64::MAX, f64::min);
    // delay(t) = depth·96·(sin(2π fm t)+1)/2 + 3 → f = f0·(1 − d'(t)),
    // peak deviation f0·depth·96/2·2π·fm/sr.
    let dev = f0 * depth * 48.0 * TAU * fm / SR;
    assert!(
        (max - (f0 + dev)).abs() < 0.1 * dev,
        "max {max}, want {}",
        f0 + dev
    );
    assert!(
        (min - (f0 - dev)).abs() < 0.1 * dev,
        "min {min}, want {}",
        f0 - dev
    );
    // Modulation rate: crossings of the instantaneous frequency around f0.
    let centred: Vec<f64> = inst.iter().map(|v| v - f0).collect();
    let zz = zero_crossings(&centred);
    let span_s = (z[zz[zz.len() - 1] as usize] - z[zz[0] as usize]) / SR;
    let rate = (zz.len() - 1) as f64 / span_s;
    assert!((rate - fm).abs() < 0.1, "rate {rate}");
}

#[test]
fn rotation_period_and_balance() {
    let mut c = chain_with(r#"{"rotation": {"rotationHz": 0.5}}"#);
    let mut src = Source::new(|_| (0.5, 0.5));
    let (l, r) = run(&mut c, &mut src, FRAME * 260);
    let start = FRAME;
    for n in start..l.len() {
        assert!((l[n] + r[n] - 0.5).abs() < 1e-5, "L+R at {n}");
    }
    let centred: Vec<f64> = l[start..].iter().map(|&v| v as f64 - 0.25).collect();
    let z = zero_crossings(&centred);
    let period = (z[z.len() - 1] - z[0]) / (z.len() - 1) as f64 / SR;
    assert!((period - 2.0).abs() < 0.001, "period {period}");
    // Left leads: at t = 0.5 s (sin peak) the left channel is loudest.
    let peak = (0.5 * SR) as usize;
    assert!((l[peak] - 0.5).abs() < 1e-3 && r[peak].abs() < 1e-3);
}

#[test]
fn karaoke_removes_centre_keeps_side() {
    let mut c = chain_with(r#"{"karaoke": {}}"#);
    let mut src = Source::new(sine(1000.0, 0.5));
    let (l, r) = run(&mut c, &mut src, FRAME * 20);
    let centre = tone_amp(&l[FRAME * 5..], 1000.0).max(tone_amp(&r[FRAME * 5..], 1000.0));
    assert!(
        db(centre / 0.5) < -30.0,
        "centre left at {} dB",
        db(centre / 0.5)
    );

    let mut c = chain_with(r#"{"karaoke": {}}"#);
    let mut src = Source::new(|n| {
        let v = (0.5 * (TAU * 1000.0 * n as f64 / SR).sin()) as f32;
        (v, 0.0)
    });
    let (l, _) = run(&mut c, &mut src, FRAME * 20);
    let side = tone_amp(&l[FRAME * 5..], 1000.0);
    assert!(
        db(side / 0.5).abs() < 1.0,
        "side tone at {} dB",
        db(side / 0.5)
    );
}

fn timescale_run(json: &str, f0: f64, frames_out: usize) -> (Vec<f32>, u64) {
    let mut c = chain_with(json);
    let mut src = Source::new(sine(f0, 0.5));
    let (l, _) = run(&mut c, &mut src, frames_out);
    (l, src.pos)
}

#[test]
fn timescale_speed_changes_duration_not_pitch() {
    for speed in [0.5f64, 0.8, 1.25, 2.0] {
        let frames = FRAME * 200;
        let (l, consumed) = timescale_run(
            &format!(r#"{{"timescale": {{"speed": {speed}}}}}"#),
            440.0,
            frames,
        );
        let ratio = consumed as f64 / frames as f64;
        assert!(
            (ratio - speed).abs() < 0.02 * speed,
            "speed {speed}: ratio {ratio}"
        );
        let f = dominant(&l[FRAME * 20..FRAME * 60], 300.0, 700.0);
        assert!((f - 440.0).abs() <= 2.0, "speed {speed}: dominant {f}");
        let peak = l.iter().fold(0.0f32, |a, &v| a.max(v.abs()));
        assert!(peak <= 0.5 * 1.02, "speed {speed}: peak {peak}");
    }
}

#[test]
fn timescale_pitch_and_rate_shift_frequency() {
    for (json, speed, ratio) in [
        (r#"{"timescale": {"pitch": 1.5}}"#, 1.0, 1.5),
        (r#"{"timescale": {"pitch": 0.75}}"#, 1.0, 0.75),
        (r#"{"timescale": {"rate": 1.25}}"#, 1.25, 1.25),
        (r#"{"timescale": {"speed": 1.2, "pitch": 1.2}}"#, 1.2, 1.2),
    ] {
        let frames = FRAME * 200;
        let (l, consumed) = timescale_run(json, 440.0, frames);
        let got_speed = consumed as f64 / frames as f64;
        assert!(
            (got_speed - speed).abs() < 0.02 * speed,
            "{json}: speed {got_speed}"
        );
        let want = 440.0 * ratio;
        let f = dominant(&l[FRAME * 20..FRAME * 60], want - 150.0, want + 150.0);
        assert!(
            (f - want).abs() <= 0.005 * want + 1.0,
            "{json}: {f} Hz, want {want}"
        );
        let peak = l.iter().fold(0.0f32, |a, &v| a.max(v.abs()));
        assert!(peak <= 0.5 * 1.02, "{json}: peak {peak}");
    }
}

#[test]
fn timescale_on_and_off_is_seamless() {
    // Switching timescale on and off again neither drops nor repeats audio: the chain asks
    // for fewer frames while draining and then passes through in step with the input.
    let mut c = FilterChain::new();
    let mut src = Source::new(sine(440.0, 0.5));
    let on = Filters::from_json(&serde_json::json!({"timescale": {"speed": 1.3}})).unwrap();
    let (_, _) = run(&mut c, &mut src, FRAME * 5);
    c.update(&on);
    let (_, _) = run(&mut c, &mut src, FRAME * 20);
    c.update(&Filters::default());
    let (l, _) = run(&mut c, &mut src, FRAME * 10);
    assert!(!c.is_active(), "timescale tail ended");
    assert_eq!(c.input_needed(), FRAME);
    // Largest sample-to-sample step stays that of a 440 Hz sine (no splice click).
    let max_step = 0.5 * TAU * 440.0 / SR;
    let steps = l
        .windows(2)
        .map(|w| (w[1] - w[0]).abs() as f64)
        .fold(0.0, f64::max);
    assert!(steps <= max_step * 1.3, "step {steps} > {max_step}");
    // Afterwards output equals the input exactly (passthrough, in phase with the source).
    let (l, _) = run(&mut c, &mut src, FRAME);
    let base = src.pos - FRAME as u64;
    for (i, &v) in l.iter().enumerate() {
        let x = (0.5 * (TAU * 440.0 * (base + i as u64) as f64 / SR).sin()) as f32;
        assert_eq!(v, x);
    }
}

#[test]
fn timescale_latency_under_50ms() {
    for json in [
        r#"{"timescale": {"speed": 1.0, "pitch": 1.25}}"#,
        r#"{"timescale": {"rate": 1.25}}"#,
        r#"{"timescale": {"speed": 0.8}}"#,
    ] {
        let c = chain_with(json);
        // First call: the look-ahead on top of what the frame itself consumes.
        let f = Filters::from_json(&serde_json::from_str(json).unwrap()).unwrap();
        let t = f.timescale.unwrap();
        let consumed = FRAME as f64 * t.speed * t.rate;
        let extra = c.input_needed() as f64 - consumed;
        assert!(
            extra / SR < 0.050,
            "{json}: look-ahead {} ms",
            extra / SR * 1e3
        );
    }
}

#[test]
fn chain_off_when_nothing_enabled_and_distortion_default_is_sin_squared() {
    let f = Filters::from_json(&serde_json::json!({"distortion": {}})).unwrap();
    assert!(!f.is_active());
    let mut c = FilterChain::new();
    c.update(&f);
    assert!(!c.is_active());
    // Once another filter turns the chain on, default distortion is sin²x.
    let mut c = chain_with(r#"{"distortion": {}, "volume": 1.01}"#);
    let mut src = Source::new(sine(200.0, 0.8));
    let (l, _) = run(&mut c, &mut src, FRAME * 3);
    for n in FRAME..3 * FRAME {
        let x = (0.8 * (TAU * 200.0 * n as f64 / SR).sin()) as f32;
        let want = (x.sin() * x.cos() * x.tan()).clamp(-1.0, 1.0);
        // volume 1.01 is bypassed by lavadsp (|1 − v| < 0.02).
        assert!((l[n] - want).abs() < 1e-5, "{n}: {} vs {want}", l[n]);
    }
}

#[test]
fn removing_filters_ends_tails_cleanly() {
    let mut c = chain_with(
        r#"{"karaoke": {}, "vibrato": {}, "rotation": {"rotationHz": 1}, "lowPass": {},
            "distortion": {"scale": 0.5}, "equalizer": [{"band": 0, "gain": 0.3}]}"#,
    );
    let mut src = Source::new(sine(330.0, 0.4));
    run(&mut c, &mut src, FRAME * 10);
    c.update(&Filters::default());
    let (l, _) = run(&mut c, &mut src, FRAME * 2);
    assert!(!c.is_active());
    let steps = l
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0f32, f32::max);
    assert!(steps < 0.1, "step {steps}");
    // Then exactly the input.
    let (l, _) = run(&mut c, &mut src, FRAME);
    let base = src.pos - FRAME as u64;
    for (i, &v) in l.iter().enumerate() {
        let x = (0.4 * (TAU * 330.0 * (base + i as u64) as f64 / SR).sin()) as f32;
        assert_eq!(v, x);
    }
}

#[test]
fn parameter_changes_do_not_click() {
    let sets = [
        r#"{"volume": 0.3, "equalizer": [{"band": 5, "gain": 0.5}], "tremolo": {"depth": 0.2}}"#,
        r#"{"volume": 1.4, "equalizer": [{"band": 5, "gain": -0.2}], "tremolo": {"depth": 0.9, "frequency": 8}}"#,
        r#"{"channelMix": {"leftToLeft": 0, "rightToLeft": 1}, "vibrato": {"depth": 1}, "distortion": {"scale": 0.3}}"#,
        r#"{"channelMix": {"leftToLeft": 1, "rightToLeft": 0}, "vibrato": {"depth": 0.1}, "distortion": {"scale": 0.9}}"#,
    ];
    let mut c = FilterChain::new();
    let mut src = Source::new(|n| {
        let t = n as f64 / SR;
        (
            (0.3 * (TAU * 150.0 * t).sin()) as f32,
            (0.3 * (TAU * 150.0 * t + 1.0).sin()) as f32,
        )
    });
    for s in sets.iter().cycle().take(12) {
        c.update(&Filters::from_json(&serde_json::from_str(s).unwrap()).unwrap());
        let (l, r) = run(&mut c, &mut src, FRAME * 2);
        for ch in [&l, &r] {
            let steps = ch
                .windows(2)
                .map(|w| (w[1] - w[0]).abs())
                .fold(0.0f32, f32::max);
            assert!(steps < 0.12, "{s}: step {steps}");
        }
    }
}

#[test]
fn timescale_parameter_changes_are_smooth() {
    let mut c = FilterChain::new();
    let mut src = Source::new(sine(300.0, 0.5));
    let sets = [
        r#"{"timescale": {"speed": 1.3}}"#,
        r#"{"timescale": {"speed": 0.7, "pitch": 1.2}}"#,
        r#"{"timescale": {"rate": 1.4}}"#,
        r#"{"timescale": {"pitch": 0.8}}"#,
    ];
    let max_step = 0.5 * TAU * 300.0 * 1.4 / SR;
    for s in sets.iter().cycle().take(12) {
        c.update(&Filters::from_json(&serde_json::from_str(s).unwrap()).unwrap());
        let (l, _) = run(&mut c, &mut src, FRAME * 3);
        let steps = l
            .windows(2)
            .map(|w| (w[1] - w[0]).abs() as f64)
            .fold(0.0, f64::max);
        assert!(steps <= max_step * 1.5, "{s}: step {steps} > {max_step}");
        let peak = l.iter().fold(0.0f32, |a, &v| a.max(v.abs()));
        assert!(peak <= 0.5 * 1.02, "{s}: peak {peak}");
    }
}

#[test]
fn timescale_keeps_a_chord_clean() {
    // Three tones pitched up by 1.25: almost all output energy sits at the shifted tones.
    let tones = [220.0, 277.18, 329.63];
    let mut c = chain_with(r#"{"timescale": {"pitch": 1.25, "speed": 0.9}}"#);
    let mut src = Source::new(move |n| {
        let t = n as f64 / SR;
        let v: f64 = tones.iter().map(|f| 0.2 * (TAU * f * t).sin()).sum();
        (v as f32, v as f32)
    });
    let (l, _) = run(&mut c, &mut src, FRAME * 100);
    let seg = &l[FRAME * 20..FRAME * 70];
    let total = rms(seg).powi(2);
    let tonal: f64 = tones
        .iter()
        .map(|f| {
            // Energy within ±3 Hz of each shifted tone (splices spread it slightly).
            let mut best = 0.0f64;
            let mut d = -3.0;
            while d <= 3.0 {
                best = best.max(tone_amp(seg, f * 1.25 + d));
                d += 0.5;
            }
            best * best / 2.0
        })
        .sum();
    let snr = db((tonal / (total - tonal).max(1e-12)).sqrt());
    // WSOLA cannot keep every partial of a sustained chord in phase at every splice; this
    // bounds the smear (a single tone measures > 30 dB, see timescale_pure_tone_stays_pure).
    assert!(snr > 8.0, "tonal/residual {snr:.1} dB");
}

#[test]
fn timescale_pure_tone_stays_pure() {
    for (json, ratio) in [
        (r#"{"timescale": {"pitch": 1.25}}"#, 1.25),
        (r#"{"timescale": {"pitch": 1.25, "speed": 0.9}}"#, 1.25),
        (r#"{"timescale": {"rate": 1.25}}"#, 1.25),
        (r#"{"timescale": {"speed": 1.5}}"#, 1.0),
        (r#"{"timescale": {"pitch": 0.8}}"#, 0.8),
    ] {
        let mut c = chain_with(json);
        let mut src = Source::new(sine(440.0, 0.5));
        let (l, _) = run(&mut c, &mut src, FRAME * 100);
        let seg = &l[FRAME * 20..FRAME * 70];
        let total = rms(seg).powi(2);
        let mut best = 0.0f64;
        let mut d = -3.0;
        while d <= 3.0 {
            best = best.max(tone_amp(seg, 440.0 * ratio + d));
            d += 0.5;
        }
        let tonal = best * best / 2.0;
        let snr = db((tonal / (total - tonal).max(1e-12)).sqrt());
        assert!(snr > 20.0, "{json}: tonal/residual {snr:.1} dB");
    }
}

#[test]
fn extra_input_is_buffered_while_timescale_runs() {
    // An engine that pulls max(1, input_needed()) frames: nothing is lost, the chain
    // consumes the source at the right speed and drains to passthrough afterwards.
    let mut c = chain_with(r#"{"timescale": {"speed": 1.5}}"#);
    let mut src = Source::new(sine(440.0, 0.5));
    let mut inbuf = Vec::new();
    let mut out = vec![0.0f32; FRAME * 2];
    let mut work = ChainWork::new();
    for _ in 0..200 {
        let need = c.input_needed().max(1);
        src.take(need, &mut inbuf);
        c.process(&inbuf, &mut out, &mut work);
    }
    let ratio = src.pos as f64 / (200 * FRAME) as f64;
    assert!((ratio - 1.5).abs() < 0.03, "ratio {ratio}");
    c.update(&Filters::default());
    for _ in 0..10 {
        let need = c.input_needed().max(1);
        src.take(need, &mut inbuf);
        c.process(&inbuf, &mut out, &mut work);
    }
    assert!(!c.is_active());
}
