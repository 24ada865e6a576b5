//! Filter chain benchmarks: each filter alone and the full chain, SIMD against the plain
//! scalar reference (`FilterChain::new_scalar`) in the same run. After the criterion
//! groups a summary prints µs per 20 ms frame, the SIMD/scalar ratio and the share of one
//! core per player.
//!
//! `cargo bench --bench dsp` (add `-- --quick` for a short run).

use std::time::{Duration, Instant};

use basalt_dsp::FRAME;
use criterion::Criterion;

#[path = "../dsp/bench_support/cases.rs"]
mod cases;
use cases::{chain, frame, input, CASES};

fn benches(cr: &mut Criterion) {
    let inp = input();
    let mut out = vec![0.0f32; FRAME * 2];
    for (name, json) in CASES {
        let mut g = cr.benchmark_group(*name);
        for (label, simd) in [("simd", true), ("scalar", false)] {
            let mut c = chain(json, simd);
            g.bench_function(label, |b| b.iter(|| frame(&mut c, &inp, &mut out)));
        }
        g.finish();
    }
}

fn per_frame(json: &str, simd: bool, inp: &[f32]) -> Duration {
    let mut c = chain(json, simd);
    let mut out = vec![0.0f32; FRAME * 2];
    let frames = 400;
    let mut best = Duration::MAX;
    for _ in 0..5 {
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
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20)
        .configure_from_args();
    benches(&mut c);
    c.final_summary();
    summary();
}
