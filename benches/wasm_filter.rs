//! What a run-time WASM filter costs per 20 ms frame, against the work around it, in one
//! run: the call overhead (copy the 7.5 KiB block in, call an empty `basalt_process`, copy
//! it out, epoch deadline) must stay ≤ 2 µs; the example gain module in WASM next to the
//! same gain in native Rust; and libopus encoding one frame, the cost that bounds players
//! per core.
//!
//! cargo bench --bench wasm_filter

use std::hint::black_box;
use std::time::{Duration, Instant};

use basalt::audio_format::FRAME_SAMPLES;
use basalt::encode::OpusEncoder;
use basalt::plugin::wasm::{Spec, Uses, WasmFilters};

const FRAMES: u32 = 20_000;

/// Best of five runs of `FRAMES` calls, per call.
fn per_frame(mut f: impl FnMut()) -> Duration {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..FRAMES {
                f();
            }
            t.elapsed() / FRAMES
        })
        .min()
        .unwrap_or_default()
}

fn uses(filters: &WasmFilters, name: &str) -> Uses {
    let (plugin, params) = filters
        .configure(name, &serde_json::json!({"gain": 0.5}))
        .expect("configure");
    let mut u = Uses::new();
    assert!(u.apply(vec![Spec { plugin, params }]).is_empty());
    u
}

fn main() {
    let dir = std::env::temp_dir().join(format!("basalt-wasm-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let example = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/wasm/gain.wat"),
    )
    .expect("plugins/wasm/gain.wat");
    std::fs::write(dir.join("gain.wat"), &example).expect("write");
    // The same module whose process returns at once: only the host's share is left.
    let marker = "(local.set $g (f32.load offset=4 (call $slot (local.get $h))))";
    let empty = example.replace(marker, &format!("(return (i32.const 0))\n{marker}"));
    std::fs::write(dir.join("empty.wat"), empty).expect("write");
    let filters = WasmFilters::new(dir.to_str().expect("utf-8 path"), 1).expect("registry");
    let (mut gain, mut empty) = (uses(&filters, "gain"), uses(&filters, "empty"));

    let input: Vec<f32> = (0..FRAME_SAMPLES)
        .map(|i| (i as f32 * 0.01).sin() * 0.5)
        .collect();
    let mut pcm = input.clone();
    let native = per_frame(|| {
        pcm.copy_from_slice(&input);
        for x in pcm.iter_mut() {
            *x *= 0.5;
        }
        black_box(&pcm);
    });
    let call = per_frame(|| {
        pcm.copy_from_slice(&input);
        black_box(empty.process(black_box(&mut pcm)));
    });
    let wasm_gain = per_frame(|| {
        pcm.copy_from_slice(&input);
        black_box(gain.process(black_box(&mut pcm)));
    });
    let mut enc = OpusEncoder::new(10).expect("encoder");
    let mut out = vec![0u8; 4000];
    let encode = per_frame(|| {
        black_box(enc.encode(black_box(&input), &mut out).expect("encode"));
    });
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!("\nper 20 ms frame (best of 5 × {FRAMES})");
    println!(
        "{:<34} {:>9.2} µs",
        "native gain (copy + multiply)",
        us(native)
    );
    println!(
        "{:<34} {:>9.2} µs   (budget 2 µs)",
        "WASM call overhead (empty module)",
        us(call)
    );
    println!(
        "{:<34} {:>9.2} µs",
        "WASM gain (example module)",
        us(wasm_gain)
    );
    println!(
        "{:<34} {:>9.2} µs",
        "libopus encode (complexity 10)",
        us(encode)
    );
    println!(
        "overhead / encode = {:.3}; WASM gain / native gain = {:.1}×",
        us(call) / us(encode),
        us(wasm_gain) / us(native)
    );
    empty.release();
    gain.release();
    let _ = std::fs::remove_dir_all(&dir);
}
