//! Benchmark cases shared by the criterion bench (`benches/dsp.rs`) and the quick
//! `ratios` example, so both measure exactly the same filter sets and signal.

use std::hint::black_box;
use std::time::{Duration, Instant};

use basalt_dsp::{ChainWork, FilterChain, Filters, FRAME, MAX_INPUT};

pub const CASES: &[(&str, &str)] = &[
    ("volume", r#"{"volume": 0.8}"#),
    (
        "equalizer",
        r#"{"equalizer": [{"band":0,"gain":0.2},{"band":1,"gain":0.1},{"band":2,"gain":0.05},
        {"band":3,"gain":-0.05},{"band":4,"gain":0.1},{"band":5,"gain":0.1},{"band":6,"gain":0.1},
        {"band":7,"gain":0.1},{"band":8,"gain":0.1},{"band":9,"gain":0.1},{"band":10,"gain":0.1},
        {"band":11,"gain":0.1},{"band":12,"gain":0.1},{"band":13,"gain":0.1},{"band":14,"gain":0.1}]}"#,
    ),
    ("karaoke", r#"{"karaoke": {}}"#),
    (
        "timescale",
        r#"{"timescale": {"speed": 1.2, "pitch": 1.1, "rate": 1.05}}"#,
    ),
    ("ts_speed", r#"{"timescale": {"speed": 1.25}}"#),
    ("ts_pitch_down", r#"{"timescale": {"pitch": 0.8}}"#),
    ("tremolo", r#"{"tremolo": {}}"#),
    ("vibrato", r#"{"vibrato": {}}"#),
    ("rotation", r#"{"rotation": {"rotationHz": 0.2}}"#),
    (
        "distortion",
        r#"{"distortion": {"sinScale": 1.2, "cosScale": 0.8, "scale": 0.9}}"#,
    ),
    (
        "channelMix",
        r#"{"channelMix": {"leftToRight": 0.3, "rightToLeft": 0.3}}"#,
    ),
    ("lowPass", r#"{"lowPass": {}}"#),
    (
        "full_chain",
        r#"{"volume": 0.9, "equalizer": [{"band":0,"gain":0.2},{"band":5,"gain":-0.1},{"band":10,"gain":0.1}],
        "karaoke": {"level": 0.5}, "timescale": {"speed": 1.1, "pitch": 1.05},
        "tremolo": {"depth": 0.3}, "vibrato": {"depth": 0.3}, "rotation": {"rotationHz": 0.2},
        "distortion": {"scale": 0.9}, "channelMix": {"leftToLeft": 0.9, "rightToRight": 0.9},
        "lowPass": {"smoothing": 3.0}}"#,
    ),
    // Extra filters (plugins.md §7.3): LavaDSPX under pluginFilters, NodeLink's top level.
    (
        "dspx_echo",
        r#"{"pluginFilters": {"echo": {"echoLength": 0.3, "decay": 0.5}}}"#,
    ),
    (
        "dspx_hi_pass",
        r#"{"pluginFilters": {"high-pass": {"cutoffFrequency": 200, "boostFactor": 1.2}}}"#,
    ),
    (
        "dspx_lo_pass",
        r#"{"pluginFilters": {"low-pass": {"cutoffFrequency": 2000}}}"#,
    ),
    (
        "dspx_normal",
        r#"{"pluginFilters": {"normalization": {"maxAmplitude": 0.3}}}"#,
    ),
    (
        "echo",
        r#"{"echo": {"delay": 250.5, "feedback": 0.4, "mix": 0.5}}"#,
    ),
    ("highPass", r#"{"highPass": {"smoothing": 20.0}}"#),
    ("chorus", r#"{"chorus": {"rate": 1.5, "depth": 0.7}}"#),
    (
        "flanger",
        r#"{"flanger": {"rate": 0.3, "depth": 0.8, "feedback": 0.5}}"#,
    ),
    ("phaser", r#"{"phaser": {"rate": 0.5, "feedback": 0.5}}"#),
    ("phaser12", r#"{"phaser": {"rate": 0.5, "stages": 12}}"#),
    (
        "phaser12fb",
        r#"{"phaser": {"rate": 0.5, "stages": 12, "feedback": 0.7}}"#,
    ),
    ("compressor", r#"{"compressor": {"threshold": -20.0}}"#),
    ("spatial", r#"{"spatial": {"depth": 0.6, "rate": 0.5}}"#),
    ("reverb", r#"{"reverb": {}}"#),
    (
        "extended",
        r#"{"volume": 0.9, "equalizer": [{"band":0,"gain":0.2},{"band":5,"gain":-0.1},{"band":10,"gain":0.1}],
        "karaoke": {"level": 0.5}, "timescale": {"speed": 1.1, "pitch": 1.05},
        "tremolo": {"depth": 0.3}, "vibrato": {"depth": 0.3}, "rotation": {"rotationHz": 0.2},
        "distortion": {"scale": 0.9}, "channelMix": {"leftToLeft": 0.9, "rightToRight": 0.9},
        "lowPass": {"smoothing": 3.0},
        "echo": {"delay": 250.5, "feedback": 0.4, "mix": 0.5}, "highPass": {"smoothing": 20.0},
        "chorus": {"rate": 1.5, "depth": 0.7}, "flanger": {"rate": 0.3, "depth": 0.8},
        "phaser": {"rate": 0.5}, "compressor": {}, "spatial": {"depth": 0.6, "rate": 0.5},
        "reverb": {},
        "pluginFilters": {"echo": {"echoLength": 0.3, "decay": 0.5},
            "high-pass": {"cutoffFrequency": 100}, "low-pass": {"cutoffFrequency": 8000},
            "normalization": {"maxAmplitude": 0.8}}}"#,
    ),
    (
        "extras_only",
        r#"{"echo": {"delay": 250.5, "feedback": 0.4, "mix": 0.5}, "highPass": {"smoothing": 20.0},
        "chorus": {"rate": 1.5, "depth": 0.7}, "flanger": {"rate": 0.3, "depth": 0.8},
        "phaser": {"rate": 0.5}, "compressor": {}, "spatial": {"depth": 0.6, "rate": 0.5},
        "reverb": {},
        "pluginFilters": {"echo": {"echoLength": 0.3, "decay": 0.5},
            "high-pass": {"cutoffFrequency": 100}, "low-pass": {"cutoffFrequency": 8000},
            "normalization": {"maxAmplitude": 0.8}}}"#,
    ),
];

pub fn input() -> Vec<f32> {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    (0..MAX_INPUT * 2)
        .map(|i| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let noise = (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            let t = (i / 2) as f32 / 48_000.0;
            0.4 * (std::f32::consts::TAU * 220.0 * t).sin() + 0.1 * noise
        })
        .collect()
}

pub fn chain(json: &str, simd: bool) -> FilterChain {
    let f = Filters::from_json(&serde_json::from_str(json).expect("json")).expect("filters");
    let mut c = if simd {
        FilterChain::new()
    } else {
        FilterChain::new_scalar()
    };
    c.update(&f);
    // Past the switch-on ramps, so steady state is measured.
    let inp = input();
    let mut out = vec![0.0f32; FRAME * 2];
    let mut work = ChainWork::new();
    for _ in 0..10 {
        let n = c.input_needed();
        c.process(&inp[..n * 2], &mut out, &mut work);
    }
    c
}

/// One frame through `c`, with a worker's shared `work`.
pub fn frame(c: &mut FilterChain, inp: &[f32], out: &mut [f32], work: &mut ChainWork) {
    let n = c.input_needed();
    c.process(black_box(&inp[..n * 2]), out, work);
    black_box(&out[0]);
}

/// Best of `runs` timed runs of `frames` frames each, per 20 ms frame: on a busy machine most
/// runs get preempted somewhere, so the best one is the closest to the real cost.
pub fn per_frame(json: &str, simd: bool, inp: &[f32], runs: u32, frames: u32) -> Duration {
    let mut c = chain(json, simd);
    let mut out = vec![0.0f32; FRAME * 2];
    let mut work = ChainWork::new();
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        for _ in 0..frames {
            frame(&mut c, inp, &mut out, &mut work);
        }
        best = best.min(t.elapsed() / frames);
    }
    best
}

/// Prints µs per frame for SIMD and scalar, their ratio and the share of one core per player.
pub fn summary(runs: u32, frames: u32) {
    let inp = input();
    println!(
        "\n{:<12} {:>12} {:>12} {:>8} {:>12}",
        "filter", "simd µs", "scalar µs", "ratio", "core/player"
    );
    // `BASALT_BENCH_CASES=a,b`: only those cases (quick checks while tuning one filter).
    let only = std::env::var("BASALT_BENCH_CASES").ok();
    for (name, json) in CASES {
        if only
            .as_ref()
            .is_some_and(|o| !o.split(',').any(|c| c == *name))
        {
            continue;
        }
        let s = per_frame(json, true, &inp, runs, frames);
        let r = per_frame(json, false, &inp, runs, frames);
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "{:<12} {:>12.2} {:>12.2} {:>7.2}x {:>11.3}%",
            name,
            us(s),
            us(r),
            us(r) / us(s),
            us(s) / 20_000.0 * 100.0
        );
    }
}
