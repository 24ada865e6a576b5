//! Quick SIMD/scalar ratios without criterion or a release build of the whole node:
//! `cargo run --release -p basalt-dsp --example ratios` (a dev build keeps debug assertions
//! and the example itself at opt-level 1, which makes the ratios meaningless).
//! The criterion bench `benches/dsp.rs` in the root package measures the same cases.

use basalt_dsp::{ChainWork, FRAME};

#[path = "../bench_support/cases.rs"]
mod cases;
use cases::{chain, frame, input, summary, CASES};

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
        let mut work = ChainWork::new();
        for _ in 0..20_000 {
            frame(&mut c, &inp, &mut out, &mut work);
        }
        return;
    }
    summary(25, 100);
}
