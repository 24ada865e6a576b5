//! Filter chain benchmarks: each filter alone and the full chain, SIMD against the plain
//! scalar reference (`FilterChain::new_scalar`) in the same run. After the criterion
//! groups a summary prints µs per 20 ms frame, the SIMD/scalar ratio and the share of one
//! core per player.
//!
//! `cargo bench --bench dsp` (add `-- --quick` for a short run).

use std::time::Duration;

use basalt_dsp::{ChainWork, FRAME};
use criterion::Criterion;

#[path = "../dsp/bench_support/cases.rs"]
mod cases;
use cases::{chain, frame, input, summary, CASES};

fn benches(cr: &mut Criterion) {
    let inp = input();
    let mut out = vec![0.0f32; FRAME * 2];
    let mut work = ChainWork::new();
    for (name, json) in CASES {
        let mut g = cr.benchmark_group(*name);
        for (label, simd) in [("simd", true), ("scalar", false)] {
            let mut c = chain(json, simd);
            g.bench_function(label, |b| {
                b.iter(|| frame(&mut c, &inp, &mut out, &mut work))
            });
        }
        g.finish();
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
    summary(5, 400);
}
