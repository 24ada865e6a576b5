#![allow(clippy::needless_range_loop)] // tests index signals by sample number
//! The SIMD chain and the plain scalar reference agree; random parameter sets and signals
//! never produce NaN/inf.

mod common;

use basalt_dsp::{ChainWork, FilterChain, Filters, FRAME};
use common::*;
use serde_json::json;

fn both(f: &Filters) -> (FilterChain, FilterChain) {
    let mut a = FilterChain::new();
    let mut b = FilterChain::new_scalar();
    a.update(f);
    b.update(f);
    (a, b)
}

fn compare(json: serde_json::Value, frames: usize, tol: f32) {
    let f = Filters::from_json(&json).unwrap();
    let (mut a, mut b) = both(&f);
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut input = Vec::new();
    let mut oa = vec![0.0f32; FRAME * 2];
    let mut ob = vec![0.0f32; FRAME * 2];
    let mut work = ChainWork::new();
    let mut n = 0u64;
    for frame in 0..frames {
        assert_eq!(a.input_needed(), b.input_needed(), "{json} frame {frame}");
        let need = a.input_needed();
        input.clear();
        for _ in 0..need {
            let t = n as f64 / SR;
            let l = 0.3 * (std::f64::consts::TAU * 220.0 * t).sin() + 0.1 * rng.range(-1.0, 1.0);
            let r = 0.3 * (std::f64::consts::TAU * 330.0 * t).sin() + 0.1 * rng.range(-1.0, 1.0);
            input.push(l as f32);
            input.push(r as f32);
            n += 1;
        }
        a.process(&input, &mut oa, &mut work);
        b.process(&input, &mut ob, &mut work);
        for (i, (x, y)) in oa.iter().zip(&ob).enumerate() {
            assert!(
                (x - y).abs() <= tol,
                "{json} frame {frame} sample {i}: {x} vs {y}"
            );
        }
    }
}

#[test]
fn each_filter_simd_matches_scalar() {
    let sets = [
        json!({"volume": 0.7}),
        json!({"equalizer": [{"band": 0, "gain": 0.2}, {"band": 7, "gain": -0.2}, {"band": 14, "gain": 0.1}]}),
        json!({"karaoke": {"level": 0.8}}),
        json!({"tremolo": {"frequency": 3.0, "depth": 0.7}}),
        json!({"vibrato": {"frequency": 6.0, "depth": 0.8}}),
        json!({"rotation": {"rotationHz": 0.3}}),
        json!({"distortion": {"sinScale": 1.5, "cosScale": 0.7, "tanScale": 0.5, "scale": 0.8}}),
        json!({"channelMix": {"leftToLeft": 0.5, "leftToRight": 0.5, "rightToLeft": 0.5, "rightToRight": 0.5}}),
        json!({"lowPass": {"smoothing": 12.0}}),
        json!({"timescale": {"speed": 1.2, "pitch": 1.1, "rate": 0.95}}),
    ];
    for s in sets {
        // Timescale stores its input as 16-bit (steps of 1/16384): a last-bit difference in
        // the anti-alias pass before that can round to neighbouring steps, ~6e-5 apart.
        let tol = if s.get("timescale").is_some() {
            1.5 / 16_384.0
        } else {
            1e-5
        };
        compare(s, 30, tol);
    }
}

#[test]
fn extra_filters_simd_match_scalar() {
    let sets = [
        json!({"compressor": {"threshold": -30, "ratio": 6, "makeupGain": 4}}),
        json!({"reverb": {"roomSize": 0.8, "width": 0.5}}),
        json!({"phaser": {"rate": 0.5, "stages": 6, "feedback": 0.5}}),
        json!({"echo": {"delay": 30.3, "feedback": 0.5, "mix": 0.5}}),
        json!({"pluginFilters": {"high-pass": {"cutoffFrequency": 300}, "normalization": {"maxAmplitude": 0.2}}}),
    ];
    for s in sets {
        compare(s, 30, 1e-4);
    }
    // Modulated delays: the SIMD LFO (exact every 64 samples) and the scalar one (exact
    // every block) differ by ~1e-6, i.e. a thousandth of a sample of delay, on a noisy
    // input that moves up to 0.2 per sample.
    let modulated = [
        json!({"chorus": {"rate": 1.5, "depth": 0.7, "feedback": 0.5}}),
        json!({"flanger": {"rate": 0.7, "depth": 0.8, "feedback": 0.5}}),
        json!({"spatial": {"depth": 0.8, "rate": 1.0}}),
    ];
    for s in modulated {
        compare(s, 30, 1e-3);
    }
}

#[test]
fn full_chain_simd_matches_scalar() {
    compare(
        json!({
            "volume": 0.9,
            "equalizer": [{"band": 2, "gain": 0.15}, {"band": 9, "gain": -0.1}],
            "karaoke": {"level": 0.5, "monoLevel": 0.5},
            "timescale": {"speed": 1.1, "pitch": 1.05},
            "tremolo": {"frequency": 2.0, "depth": 0.3},
            "vibrato": {"frequency": 4.0, "depth": 0.3},
            "rotation": {"rotationHz": 0.2},
            "distortion": {"scale": 0.9},
            "channelMix": {"leftToLeft": 0.8, "rightToRight": 0.8},
            "lowPass": {"smoothing": 3.0}
        }),
        40,
        // Timescale's 16-bit store (see each_filter_simd_matches_scalar).
        1.5 / 16_384.0,
    );
}

fn random_filters(rng: &mut Rng) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    let wild = |rng: &mut Rng| -> f64 {
        match rng.next() % 6 {
            0 => 0.0,
            1 => rng.range(-1.0, 1.0),
            2 => rng.range(-20.0, 20.0),
            3 => rng.range(-1e6, 1e6),
            4 => 1.0,
            _ => rng.range(0.0, 5.0),
        }
    };
    let pos = |rng: &mut Rng| -> f64 {
        match rng.next() % 4 {
            0 => rng.range(0.01, 0.2),
            1 => rng.range(0.2, 3.0),
            2 => rng.range(3.0, 100.0),
            _ => 1.0,
        }
    };
    if rng.next().is_multiple_of(2) {
        m.insert("volume".into(), json!(wild(rng)));
    }
    if rng.next().is_multiple_of(2) {
        let bands: Vec<_> = (0..(rng.next() % 20))
            .map(|_| json!({"band": rng.next() % 15, "gain": wild(rng)}))
            .collect();
        m.insert("equalizer".into(), json!(bands));
    }
    if rng.next().is_multiple_of(2) {
        m.insert(
            "karaoke".into(),
            json!({"level": wild(rng), "monoLevel": wild(rng), "filterBand": wild(rng), "filterWidth": wild(rng)}),
        );
    }
    if rng.next().is_multiple_of(2) {
        m.insert(
            "timescale".into(),
            json!({"speed": pos(rng), "pitch": pos(rng), "rate": pos(rng)}),
        );
    }
    for key in ["tremolo", "vibrato"] {
        if rng.next().is_multiple_of(2) {
            m.insert(
                key.into(),
                json!({"frequency": wild(rng), "depth": wild(rng)}),
            );
        }
    }
    if rng.next().is_multiple_of(2) {
        m.insert("rotation".into(), json!({"rotationHz": wild(rng)}));
    }
    if rng.next().is_multiple_of(2) {
        let keys = [
            "sinOffset",
            "sinScale",
            "cosOffset",
            "cosScale",
            "tanOffset",
            "tanScale",
            "offset",
            "scale",
        ];
        let o: serde_json::Map<_, _> = keys
            .iter()
            .map(|k| (k.to_string(), json!(wild(rng))))
            .collect();
        m.insert("distortion".into(), serde_json::Value::Object(o));
    }
    if rng.next().is_multiple_of(2) {
        m.insert(
            "channelMix".into(),
            json!({"leftToLeft": wild(rng), "leftToRight": wild(rng), "rightToLeft": wild(rng), "rightToRight": wild(rng)}),
        );
    }
    if rng.next().is_multiple_of(2) {
        m.insert("lowPass".into(), json!({"smoothing": wild(rng)}));
    }
    // Extra filters with wild values (the stages clamp them).
    let extras: [(&str, &[&str]); 8] = [
        ("echo", &["delay", "feedback", "mix"]),
        ("highPass", &["smoothing"]),
        ("chorus", &["rate", "depth", "delay", "mix", "feedback"]),
        ("flanger", &["rate", "depth", "feedback"]),
        (
            "phaser",
            &[
                "stages",
                "rate",
                "depth",
                "feedback",
                "mix",
                "minFrequency",
                "maxFrequency",
            ],
        ),
        (
            "compressor",
            &["threshold", "ratio", "attack", "release", "makeupGain"],
        ),
        ("spatial", &["depth", "rate"]),
        ("reverb", &["mix", "roomSize", "damping", "width"]),
    ];
    for (key, fields) in extras {
        if rng.next().is_multiple_of(4) {
            let o: serde_json::Map<_, _> = fields
                .iter()
                .map(|k| (k.to_string(), json!(wild(rng))))
                .collect();
            m.insert(key.into(), serde_json::Value::Object(o));
        }
    }
    if rng.next().is_multiple_of(3) {
        m.insert(
            "pluginFilters".into(),
            json!({
                "echo": {"echoLength": wild(rng), "decay": wild(rng)},
                "high-pass": {"cutoffFrequency": wild(rng), "boostFactor": wild(rng)},
                "low-pass": {"cutoffFrequency": wild(rng), "boostFactor": wild(rng)},
                "normalization": {"maxAmplitude": wild(rng), "adaptive": rng.next().is_multiple_of(2)}
            }),
        );
    }
    serde_json::Value::Object(m)
}

#[test]
fn random_parameters_and_signals_never_produce_nan() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let mut chain = FilterChain::new();
    let mut input = Vec::new();
    let mut out = vec![0.0f32; FRAME * 2];
    let mut work = ChainWork::new();
    for round in 0..150 {
        let json = random_filters(&mut rng);
        let f = Filters::from_json(&json).unwrap();
        chain.update(&f);
        if rng.next().is_multiple_of(10) {
            chain.reset();
        }
        for _ in 0..3 {
            let need = chain.input_needed();
            assert!(need <= basalt_dsp::MAX_INPUT);
            input.clear();
            let kind = rng.next() % 5;
            for _ in 0..need * 2 {
                input.push(match kind {
                    0 => rng.range(-1.0, 1.0) as f32,
                    1 => rng.range(-1e4, 1e4) as f32,
                    2 => [f32::NAN, f32::INFINITY, -f32::INFINITY, 1.0][(rng.next() % 4) as usize],
                    3 => 0.0,
                    _ => rng.range(-2.0, 2.0) as f32,
                });
            }
            chain.process(&input, &mut out, &mut work);
            assert!(
                out.iter().all(|v| v.is_finite()),
                "round {round}: non-finite output for {json}"
            );
        }
    }
}
