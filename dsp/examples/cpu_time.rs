//! µs of *CPU time* per 20 ms frame for every bench case, SIMD and scalar: the on-CPU time
//! of this thread (`/proc/thread-self/schedstat`, Linux) over many frames, so time spent
//! preempted on a busy machine does not count (the `ratios` example measures wall time).
//! `cargo run --release -p basalt-dsp --example cpu_time [frames]`; `BASALT_BENCH_CASES`
//! selects cases as for `ratios`.

use basalt_dsp::{ChainWork, FRAME};

// Shared with the wall-clock tools; their timing helpers are not used here.
#[allow(dead_code)]
#[path = "../bench_support/cases.rs"]
mod cases;
use cases::{chain, frame, input, CASES};

/// Nanoseconds this thread has run on a CPU, if the kernel says.
fn on_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn main() {
    let frames: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let only = std::env::var("BASALT_BENCH_CASES").ok();
    let inp = input();
    let mut out = vec![0.0f32; FRAME * 2];
    println!(
        "{:<12} {:>12} {:>12} {:>8}",
        "filter", "simd µs", "scalar µs", "ratio"
    );
    for (name, json) in CASES {
        if only
            .as_ref()
            .is_some_and(|o| !o.split(',').any(|c| c == *name))
        {
            continue;
        }
        let mut per = [0.0f64; 2];
        for (k, simd) in [true, false].into_iter().enumerate() {
            let mut c = chain(json, simd);
            let mut work = ChainWork::new();
            // Best of three runs: cache and frequency effects of other processes remain.
            let mut best = f64::MAX;
            for _ in 0..3 {
                let Some(t0) = on_cpu_ns() else {
                    eprintln!("no /proc/thread-self/schedstat");
                    return;
                };
                for _ in 0..frames {
                    frame(&mut c, &inp, &mut out, &mut work);
                }
                let t1 = on_cpu_ns().unwrap_or(t0);
                best = best.min((t1 - t0) as f64 / frames as f64 / 1000.0);
            }
            per[k] = best;
        }
        println!(
            "{:<12} {:>12.2} {:>12.2} {:>7.2}x",
            name,
            per[0],
            per[1],
            per[1] / per[0]
        );
    }
    output_stage(frames, &inp);
}

/// The two output stages that end every player's path, on the same loud frame: the soft
/// clip (default) and the look-ahead limiter (`[player] limiter = true`).
fn output_stage(frames: u64, inp: &[f32]) {
    let only = std::env::var("BASALT_BENCH_CASES").ok();
    if only
        .as_ref()
        .is_some_and(|o| !o.split(',').any(|c| c == "output"))
    {
        return;
    }
    let loud: Vec<f32> = inp[..FRAME * 2].iter().map(|x| x * 3.0).collect();
    let mut buf = loud.clone();
    let mut time = |f: &mut dyn FnMut(&mut [f32])| {
        let mut best = f64::MAX;
        for _ in 0..3 {
            let t0 = on_cpu_ns().unwrap_or(0);
            for _ in 0..frames {
                buf.copy_from_slice(&loud);
                f(std::hint::black_box(&mut buf));
            }
            let t1 = on_cpu_ns().unwrap_or(t0);
            best = best.min((t1 - t0) as f64 / frames as f64 / 1000.0);
        }
        best
    };
    let clip = time(&mut |b| basalt_dsp::soft_clip(b));
    println!("{:<12} {:>12.2}", "soft_clip", clip);
    #[cfg(feature = "limiter")]
    {
        let mut lim = basalt_dsp::Limiter::new(5.0, 100.0);
        let us = time(&mut |b| lim.process(b));
        println!(
            "{:<12} {:>12.2} {:>12} {:>7.1}x soft_clip",
            "limiter",
            us,
            "",
            us / clip
        );
    }
}
