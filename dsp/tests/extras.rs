#![allow(clippy::needless_range_loop)] // tests index signals by sample number
//! The extra filters (plugins.md §7.3) measured on signals: impulse responses, −3 dB
//! points, gain reduction, peak bounds, tail lengths, activation rules, click-free changes.

mod common;

use basalt_dsp::extra::high_pass::smoothing_cutoff;
use basalt_dsp::{FilterChain, Filters, FRAME};
use common::*;
use serde_json::json;

fn parse(v: serde_json::Value) -> Filters {
    Filters::from_json(&v).unwrap()
}

fn chain(v: serde_json::Value) -> FilterChain {
    let mut c = FilterChain::new();
    c.update(&parse(v));
    c
}

/// Run `frames` whole frames of a mono signal `x(n)` (same on both channels) through the
/// chain, returning the left output.
fn run_mono(c: &mut FilterChain, frames: usize, x: impl Fn(usize) -> f32) -> Vec<f32> {
    let mut n = 0;
    let mut src = Source::new(move |_| {
        let v = x(n);
        n += 1;
        (v, v)
    });
    run(c, &mut src, frames * FRAME).0
}

/// Output of an impulse at sample `FRAME` (after a silent frame, so the switch-on ramp is
/// over), from the impulse on.
fn impulse_response(v: serde_json::Value, frames: usize) -> Vec<f32> {
    let mut c = chain(v);
    let out = run_mono(&mut c, frames + 1, |n| if n == FRAME { 1.0 } else { 0.0 });
    out[FRAME..].to_vec()
}

/// Steady-state amplitude of a sine at `freq` through the chain.
fn gain_at(v: serde_json::Value, freq: f64, amp: f64) -> f64 {
    let mut c = chain(v);
    let mut src = Source::new(sine(freq, amp));
    let (l, _) = run(&mut c, &mut src, FRAME * 20);
    tone_amp(&l[FRAME * 10..], freq) / amp
}

#[test]
fn lavadspx_echo_pulse_train_every_echo_length_each_decay_times_the_last() {
    let ir = impulse_response(
        json!({"pluginFilters": {"echo": {"echoLength": 0.1, "decay": 0.5}}}),
        30,
    );
    let spacing = 4800;
    for k in 0..5 {
        let want = 0.5f32.powi(k as i32);
        assert!(
            (ir[k * spacing] - want).abs() < 1e-6,
            "pulse {k}: {}",
            ir[k * spacing]
        );
        // Silence between the pulses.
        let gap = &ir[k * spacing + 1..(k + 1) * spacing];
        assert!(gap.iter().all(|v| v.abs() < 1e-6), "pulse {k} gap");
    }
}

#[test]
fn lavadspx_echo_caps_decay_and_length() {
    let f = parse(json!({"pluginFilters": {"echo": {"echoLength": "0.05", "decay": 3}}}));
    assert!(f.is_active());
    let ir = impulse_response(
        json!({"pluginFilters": {"echo": {"echoLength": 0.05, "decay": 3}}}),
        14,
    );
    // decay capped at 1: the pulses neither grow nor fade.
    for k in 0..6 {
        assert!(
            (ir[k * 2400] - 1.0).abs() < 1e-6,
            "pulse {k}: {}",
            ir[k * 2400]
        );
    }
}

#[test]
fn nodelink_echo_delay_feedback_mix() {
    let ir = impulse_response(
        json!({"echo": {"delay": 100, "feedback": 0.5, "mix": 0.5}}),
        30,
    );
    // Dry half, then the line every 100 ms scaled by mix, each feedback times the last.
    assert!((ir[0] - 0.5).abs() < 1e-6);
    for k in 1..5 {
        let want = 0.5 * 0.5f32.powi(k as i32 - 1);
        assert!(
            (ir[k * 4800] - want).abs() < 1e-5,
            "echo {k}: {}",
            ir[k * 4800]
        );
        assert!(ir[k * 4800 - 2400].abs() < 1e-6);
    }
}

#[test]
fn top_level_echo_with_lavadspx_fields_uses_the_comb() {
    let f = parse(json!({"echo": {"echoLength": 0.05}}));
    assert_eq!(
        f.echo,
        Some(basalt_dsp::extra::Echo::Comb {
            echo_length: 0.05,
            decay: 0.5
        })
    );
    assert_eq!(
        f.to_json()["echo"],
        json!({"echoLength": 0.05, "decay": 0.5})
    );
    let ir = impulse_response(json!({"echo": {"echoLength": 0.05}}), 4);
    assert!((ir[0] - 1.0).abs() < 1e-6 && (ir[2400] - 0.5).abs() < 1e-6);
}

fn db_of(g: f64) -> f64 {
    20.0 * g.log10()
}

#[test]
fn lavadspx_high_and_low_pass_minus_3_db_at_the_cutoff() {
    let hp = |f| {
        gain_at(
            json!({"pluginFilters": {"high-pass": {"cutoffFrequency": 1000}}}),
            f,
            0.3,
        )
    };
    assert!(
        (db_of(hp(1000.0)) + 3.01).abs() < 0.1,
        "{}",
        db_of(hp(1000.0))
    );
    assert!(db_of(hp(100.0)) < -38.0);
    assert!(db_of(hp(10_000.0)).abs() < 0.1);

    // An integral float cutoff is accepted (LavaDSPX itself would ignore it).
    let lp = |f| {
        gain_at(
            json!({"pluginFilters": {"low-pass": {"cutoffFrequency": 500.0}}}),
            f,
            0.3,
        )
    };
    assert!(
        (db_of(lp(500.0)) + 3.01).abs() < 0.1,
        "{}",
        db_of(lp(500.0))
    );
    assert!(db_of(lp(50.0)).abs() < 0.1);
    assert!(db_of(lp(5000.0)) < -38.0);

    // boostFactor scales the pass band; the output is clamped to ±1.
    let boosted = gain_at(
        json!({"pluginFilters": {"low-pass": {"cutoffFrequency": 5000, "boostFactor": 2.0}}}),
        100.0,
        0.2,
    );
    assert!((boosted - 2.0).abs() < 0.01, "{boosted}");
    let mut c = chain(
        json!({"pluginFilters": {"low-pass": {"cutoffFrequency": 5000, "boostFactor": 4.0}}}),
    );
    let mut src = Source::new(sine(100.0, 0.9));
    let (l, _) = run(&mut c, &mut src, FRAME * 5);
    let peak = l.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(peak <= 1.0 && peak > 0.99, "{peak}");
}

#[test]
fn top_level_high_pass_minus_3_db_at_its_cutoff() {
    // NodeLink's smoothing knob: 20 → ≈ 1.87 kHz.
    let fc = smoothing_cutoff(20.0) as f64;
    assert!((fc - 1867.0).abs() < 5.0, "{fc}");
    let g = |f| gain_at(json!({"highPass": {"smoothing": 20.0}}), f, 0.3);
    assert!((db_of(g(fc)) + 3.01).abs() < 0.1, "{}", db_of(g(fc)));
    assert!(db_of(g(fc / 10.0)) < -38.0);
    // Rustalink/LavaDSPX fields at top level.
    let g = gain_at(json!({"highPass": {"cutoffFrequency": 300}}), 300.0, 0.3);
    assert!((db_of(g) + 3.01).abs() < 0.1, "{}", db_of(g));
}

#[test]
fn compressor_gain_reduction_at_a_known_level() {
    // A ±0.5 square wave: the peak envelope settles at exactly 0.5 (−6.02 dBFS).
    let square = |n: usize| {
        if (n / 240).is_multiple_of(2) {
            0.5
        } else {
            -0.5
        }
    };
    let level = |v: serde_json::Value| {
        let mut c = chain(v);
        let out = run_mono(&mut c, 100, square);
        out[out.len() - FRAME..]
            .iter()
            .fold(0.0f32, |m, v| m.max(v.abs())) as f64
    };
    let env_db = db_of(0.5);
    // Threshold −24 dB, ratio 4: (−24 − env)·(1 − 1/4) dB.
    let want = (-24.0 - env_db) * 0.75;
    let got = db_of(level(json!({"compressor": {}}))) - env_db;
    assert!((got - want).abs() < 0.05, "{got} dB, want {want}");
    // Makeup gain, and lavalink-client's `gain` alias for it.
    let got = db_of(level(
        json!({"compressor": {"ratio": 2.0, "threshold": -12.0, "makeupGain": 3.0}}),
    )) - env_db;
    let want = (-12.0 - env_db) * 0.5 + 3.0;
    assert!((got - want).abs() < 0.05, "{got} dB, want {want}");
    let alias = parse(json!({"compressor": {"gain": 3.0}}));
    assert_eq!(alias.compressor.unwrap().makeup_gain, 3.0);
    assert_eq!(alias.to_json()["compressor"]["makeupGain"], json!(3.0));
    // Below the threshold nothing changes.
    let got = level(json!({"compressor": {"threshold": -3.0}}));
    assert!((got - 0.5).abs() < 1e-4, "{got}");
}

#[test]
fn normalization_peak_never_exceeds_max_amplitude() {
    for adaptive in [true, false] {
        let v = json!({"pluginFilters": {"normalization": {"maxAmplitude": 0.5, "adaptive": adaptive}}});
        let mut c = chain(v);
        // Silent first frame (switch-on ramp), a 0.3 tone, a 0.9 burst, then 0.3 again.
        let out = run_mono(&mut c, 40, |n| {
            let a = if n < FRAME {
                0.0
            } else if (10 * FRAME + 123..20 * FRAME).contains(&n) {
                0.9
            } else {
                0.3
            };
            (a * (n as f64 * 0.05).sin()) as f32
        });
        let peak = out.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(peak <= 0.5 + 1e-6, "adaptive {adaptive}: peak {peak}");
        // Quiet section before the burst: untouched.
        let before = &out[5 * FRAME..9 * FRAME];
        let p = before.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!((p - 0.3).abs() < 1e-3, "{p}");
        // After the burst: adaptive keeps the lifetime peak's gain, non-adaptive recovers.
        let after = &out[30 * FRAME..];
        let p = after.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let want = if adaptive { 0.3 * 0.5 / 0.9 } else { 0.3 };
        assert!(
            (p - want).abs() < 2e-3,
            "adaptive {adaptive}: {p} want {want}"
        );
    }
}

/// Milliseconds until the 10 ms RMS of `x` falls 60 dB below its loudest window.
fn decay_60_ms(x: &[f32]) -> f64 {
    let w = 480;
    let rmss: Vec<f64> = x.chunks(w).map(rms).collect();
    let max = rmss.iter().cloned().fold(0.0, f64::max);
    let last = rmss.iter().rposition(|&r| r > max * 1e-3).unwrap_or(0);
    (last + 1) as f64 * 10.0
}

#[test]
fn reverb_tail_grows_with_room_size() {
    let tail = |room: f64| {
        let ir = impulse_response(
            json!({"reverb": {"mix": 1.0, "roomSize": room, "damping": 0.5}}),
            500,
        );
        decay_60_ms(&ir)
    };
    let (small, mid, large) = (tail(0.1), tail(0.5), tail(0.9));
    eprintln!("reverb T60: roomSize 0.1 → {small} ms, 0.5 → {mid} ms, 0.9 → {large} ms");
    assert!(small > 200.0 && small < 1500.0, "{small}");
    assert!(mid > 1.4 * small, "{mid} vs {small}");
    assert!(large > 2.0 * mid, "{large} vs {mid}");
    // Stereo: the two sides differ (different comb lengths) but are both reverberant.
    let mut c = chain(json!({"reverb": {"mix": 1.0}}));
    let mut n = 0;
    let mut src = Source::new(move |_| {
        n += 1;
        if n == FRAME + 1 {
            (1.0, 1.0)
        } else {
            (0.0, 0.0)
        }
    });
    let (l, r) = run(&mut c, &mut src, FRAME * 20);
    assert!(rms(&l[FRAME..]) > 1e-3 && rms(&r[FRAME..]) > 1e-3);
    assert!(l.iter().zip(&r).any(|(a, b)| (a - b).abs() > 1e-4));
}

#[test]
fn activation_rules() {
    // `{}` is transparent for these (as on NodeLink): no chain at all.
    for key in ["echo", "chorus", "flanger", "phaser", "spatial", "highPass"] {
        let f = parse(json!({ key: {} }));
        assert!(!f.is_active(), "{key}");
        let mut c = FilterChain::new();
        c.update(&f);
        assert!(!c.is_active(), "{key}");
    }
    // … and active for these.
    for key in ["compressor", "reverb"] {
        assert!(parse(json!({ key: {} })).is_active(), "{key}");
    }
    // The activating fields.
    for v in [
        json!({"echo": {"delay": 10, "mix": 0.1}}),
        json!({"chorus": {"rate": 1, "depth": 0.5}}),
        json!({"flanger": {"rate": 1, "depth": 0.5}}),
        json!({"phaser": {"rate": 1}}),
        json!({"spatial": {"depth": 0.5}}),
        json!({"highPass": {"smoothing": 1.5}}),
        json!({"highPass": {"cutoffFrequency": 80}}),
        json!({"pluginFilters": {"high-pass": {"cutoffFrequency": "80"}}}),
        json!({"pluginFilters": {"low-pass": {"cutoffFrequency": 80.0}}}),
        json!({"pluginFilters": {"normalization": {"maxAmplitude": 0.5}}}),
    ] {
        assert!(parse(v.clone()).is_active(), "{v}");
    }
    for v in [
        json!({"echo": {"delay": 10}}),
        json!({"echo": {"mix": 0.5}}),
        json!({"chorus": {"rate": 1, "depth": 0.5, "mix": 0}}),
        json!({"highPass": {"smoothing": 1.0}}),
        json!({"reverb": {"mix": 0}}),
        json!({"pluginFilters": {"echo": {}}}),
        json!({"pluginFilters": {"echo": {"echoLength": 1}}}),
        json!({"pluginFilters": {"echo": "on"}}),
        json!({"pluginFilters": {"high-pass": {"cutoffFrequency": 0}}}),
        json!({"pluginFilters": {"high-pass": {"boostFactor": 2}}}),
        json!({"pluginFilters": {"normalization": {"maxAmplitude": -1}}}),
    ] {
        assert!(!parse(v.clone()).is_active(), "{v}");
    }
    // An active chain leaves a transparent extra transparent.
    let tone = |n: usize| (0.3 * (n as f64 * 0.03).sin()) as f32;
    let mut a = chain(json!({"volume": 0.5, "chorus": {}, "flanger": {}, "spatial": {}}));
    let mut b = chain(json!({"volume": 0.5}));
    assert_eq!(run_mono(&mut a, 3, tone), run_mono(&mut b, 3, tone));
}

#[test]
fn parsing_errors_name_the_field_and_echo_writes_every_field() {
    let e = Filters::from_json(&json!({"reverb": {"mix": "lots"}})).unwrap_err();
    assert_eq!(e.field(), "filters.reverb.mix");
    let e = Filters::from_json(&json!({"chorus": 3})).unwrap_err();
    assert_eq!(e.field(), "filters.chorus");
    // null objects are off, `transition` is accepted and ignored.
    let f =
        parse(json!({"phaser": null, "flanger": {"rate": 1, "transition": {"durationMs": 300}}}));
    assert!(f.phaser.is_none());
    let out = parse(json!({
        "reverb": {}, "compressor": {}, "phaser": {"stages": 6}, "chorus": {},
        "highPass": {}, "spatial": {}, "flanger": {}, "echo": {}, "lowPass": {},
        "pluginFilters": {"echo": {"echoLength": 1, "decay": 0.5}}
    }))
    .to_json();
    let keys: Vec<&str> = out
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "lowPass",
            "echo",
            "highPass",
            "chorus",
            "flanger",
            "phaser",
            "compressor",
            "spatial",
            "reverb",
            "pluginFilters"
        ]
    );
    assert_eq!(
        out["phaser"],
        json!({"stages": 6, "rate": 0.0, "depth": 1.0, "feedback": 0.0, "mix": 0.5,
               "minFrequency": 100.0, "maxFrequency": 2500.0})
    );
    assert_eq!(
        out["chorus"],
        json!({"rate": 0.0, "depth": 0.0, "delay": 25.0, "mix": 0.5, "feedback": 0.0})
    );
    assert_eq!(
        out["reverb"],
        json!({"mix": 0.5, "roomSize": 0.5, "damping": 0.5, "width": 1.0})
    );
    assert_eq!(
        out["compressor"],
        json!({"threshold": -24.0, "ratio": 4.0, "attack": 0.01, "release": 0.1, "makeupGain": 0.0})
    );
    assert_eq!(
        out["echo"],
        json!({"delay": 0.0, "feedback": 0.0, "mix": 0.0})
    );
    assert_eq!(out["highPass"], json!({"smoothing": 0.0}));
    assert_eq!(out["spatial"], json!({"depth": 0.0, "rate": 0.0}));
    assert_eq!(
        out["flanger"],
        json!({"rate": 0.0, "depth": 0.0, "feedback": 0.0})
    );
    assert_eq!(
        out["pluginFilters"],
        json!({"echo": {"echoLength": 1, "decay": 0.5}})
    );
}

fn largest_step(x: &[f32]) -> f32 {
    x.windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0, f32::max)
}

/// Changes land between frames; the output must not jump more than the signal itself.
#[test]
fn parameter_changes_and_removal_are_click_free() {
    let steps = [
        json!({"echo": {"delay": 120, "feedback": 0.3, "mix": 0.5}}),
        json!({"echo": {"delay": 310, "feedback": 0.6, "mix": 0.4}}),
        json!({"pluginFilters": {"high-pass": {"cutoffFrequency": 200}}}),
        json!({"pluginFilters": {"high-pass": {"cutoffFrequency": 4000, "boostFactor": 1.5}}}),
        json!({"chorus": {"rate": 1, "depth": 0.5, "delay": 10}}),
        json!({"chorus": {"rate": 3, "depth": 1, "delay": 40}}),
        json!({"flanger": {"rate": 0.5, "depth": 0.5}}),
        json!({"phaser": {"rate": 1, "stages": 4}}),
        json!({"phaser": {"rate": 2, "stages": 10, "feedback": 0.7}}),
        json!({"compressor": {"threshold": -10}}),
        json!({"compressor": {"threshold": -40, "makeupGain": 6}}),
        json!({"reverb": {"roomSize": 0.3}}),
        json!({"reverb": {"roomSize": 0.9, "mix": 0.8, "width": 0.2}}),
        json!({"spatial": {"depth": 1, "rate": 2}}),
        json!({"highPass": {"smoothing": 40}}),
        json!({"pluginFilters": {"normalization": {"maxAmplitude": 0.2}}}),
        json!({}),
    ];
    let mut c = FilterChain::new();
    let mut src = Source::new(sine(220.0, 0.3));
    // A 220 Hz sine at 0.3 moves at most 0.0087 per sample.
    let sine_step = 0.3 * std::f64::consts::TAU * 220.0 / SR;
    for v in steps {
        c.update(&parse(v.clone()));
        let (l, _) = run(&mut c, &mut src, FRAME * 3);
        let s = largest_step(&l) as f64;
        assert!(s < 6.0 * sine_step, "{v}: step {s}");
    }
    // After `{}` (removal) the next frame is already the dry signal, and the chain is off.
    let (l, _) = run(&mut c, &mut src, FRAME);
    let start = src.pos - FRAME as u64;
    for (i, &v) in l.iter().enumerate() {
        let x =
            (0.3 * (std::f64::consts::TAU * 220.0 * (start + i as u64) as f64 / SR).sin()) as f32;
        assert!((v - x).abs() < 1e-6);
    }
    assert!(!c.is_active());
}

#[test]
fn echo_tail_survives_a_parameter_change() {
    // An impulse, then mix changes before the echo arrives: the echo still comes.
    let mut c = chain(json!({"echo": {"delay": 100, "feedback": 0.0, "mix": 0.5}}));
    let first = run_mono(&mut c, 2, |n| if n == FRAME { 1.0 } else { 0.0 });
    assert!((first[FRAME] - 0.5).abs() < 1e-6);
    c.update(&parse(
        json!({"echo": {"delay": 100, "feedback": 0.0, "mix": 1.0}}),
    ));
    let next = run_mono(&mut c, 5, |_| 0.0);
    // Echo at FRAME + 4800 overall = 3840 into `next`, mix fully ramped to 1 by then.
    assert!(
        (next[4800 - FRAME] - 1.0).abs() < 1e-6,
        "{}",
        next[4800 - FRAME]
    );
}

#[test]
fn chorus_flanger_phaser_spatial_modulate() {
    // Each one changes a steady tone and leaves it finite and bounded.
    for v in [
        json!({"chorus": {"rate": 2, "depth": 1, "mix": 0.5}}),
        json!({"flanger": {"rate": 1, "depth": 1, "feedback": 0.9}}),
        json!({"phaser": {"rate": 1, "stages": 12, "feedback": 0.9}}),
        json!({"spatial": {"depth": 1, "rate": 1}}),
    ] {
        let mut c = chain(v.clone());
        let mut src = Source::new(|n| {
            let t = n as f64 / SR;
            (
                (0.3 * (std::f64::consts::TAU * 440.0 * t).sin()) as f32,
                (0.3 * (std::f64::consts::TAU * 660.0 * t).sin()) as f32,
            )
        });
        let (l, r) = run(&mut c, &mut src, FRAME * 50);
        let peak = l.iter().chain(&r).fold(0.0f32, |m, v| m.max(v.abs()));
        // The flanger adds its resonant delay to the dry signal (as NodeLink): with
        // feedback 0.9 its comb peaks reach ~10× the delayed part.
        assert!(peak.is_finite() && peak < 4.0, "{v}: {peak}");
        // The modulated output's level varies over time (frame RMS not constant).
        let frames: Vec<f64> = l.chunks(FRAME).skip(2).map(rms).collect();
        let (lo, hi) = frames
            .iter()
            .fold((f64::MAX, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
        assert!(
            hi - lo > 0.005 || (tone_amp(&l, 440.0) - 0.3).abs() > 0.01,
            "{v}"
        );
    }
    // Spatial feeds each side into the other: a left-only signal appears on the right.
    let mut c = chain(json!({"spatial": {"depth": 1}}));
    let mut src = Source::new(|n| ((0.3 * (n as f64 * 0.05).sin()) as f32, 0.0));
    let (_, r) = run(&mut c, &mut src, FRAME * 3);
    assert!(rms(&r[FRAME..]) > 0.05);
}
