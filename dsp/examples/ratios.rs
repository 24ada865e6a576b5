//! Quick SIMD/scalar ratios without criterion or a release build of the whole node:
//! `cargo run --release -p basalt-dsp --example ratios` (a dev build keeps debug assertions
//! and the example itself at opt-level 1, which makes the ratios meaningless).
//! The criterion bench `benches/dsp.rs` in the root package measures the same cases.

use std::time::{Duration, Instant};

use basalt_dsp::FRAME;

#[path = "../bench_support/cases.rs"]
mod cases;
use cases::{chain, frame, input, CASES};

fn per_frame(json: &str, simd: bool, inp: &[f32]) -> Duration {
    let mut c = chain(json, simd);
    let mut out = vec![0.0f32; FRAME * 2];
    // Many short runs, best kept: on a busy machine most runs get preempted somewhere.
    let frames = 100;
    let mut best = Duration::MAX;
    for _ in 0..25 {
        let t = Instant::now();
        for _ in 0..frames {
            frame(&mut c, inp, &mut out);
        }
        best = best.min(t.elapsed() / frames);
    }
    best
}

fn summary() {
    let inp = input();
    println!(
        "\n{:<12} {:>12} {:>12} {:>8} {:>12}",
        "filter", "simd µs", "scalar µs", "ratio", "core/player"
    );
    for (name, json) in CASES {
        let s = per_frame(json, true, &inp);
        let r = per_frame(json, false, &inp);
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

fn main() {
    // `ratios <case> <simd|scalar>`: run one case for a few seconds (for a profiler).
    let args: Vec<String> = std::env::args().collect();
    if let [_, name, mode] = args.as_slice() {
        let json = CASES
            .iter()
            .find(|c| c.0 == name)
            .map(|c| c.1)
            .expect("case");
        let inp = input();
        let mut c = chain(json, mode == "simd");
        let mut out = vec![0.0f32; FRAME * 2];
        for _ in 0..20_000 {
            frame(&mut c, &inp, &mut out);
        }
        return;
    }
    summary();
}
