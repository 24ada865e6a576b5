//! A WASM filter call on the audio path allocates nothing: 500 frames through the example
//! module (copy in, `basalt_process`, copy out, deadline) under a counting allocator. This
//! file is its own test binary, so the counter sees only this test's threads.
#![cfg(feature = "wasm-plugins")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use basalt::plugin::wasm::{Spec, Uses, WasmFilters};

struct Counting;

thread_local! {
    static CALLS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards every call unchanged to `System`; only a const-initialised
// thread-local counter is touched around it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = CALLS.try_with(|c| c.set(c.get() + 1));
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let _ = CALLS.try_with(|c| c.set(c.get() + 1));
        System.alloc_zeroed(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let _ = CALLS.try_with(|c| c.set(c.get() + 1));
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn calls() -> usize {
    CALLS.with(Cell::get)
}

#[test]
fn processing_a_frame_through_a_wasm_filter_never_allocates() {
    let dir = std::env::temp_dir().join(format!("basalt-wasm-alloc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/wasm/gain.wat");
    std::fs::copy(example, dir.join("gain.wat")).unwrap();
    let filters = WasmFilters::new(dir.to_str().unwrap(), 1).expect("registry");
    let (plugin, params) = filters
        .configure("gain", &serde_json::json!({"gain": 0.5}))
        .expect("configure");
    // This thread plays the encode worker: the command takes an instance and a handle.
    let mut uses = Uses::new();
    assert!(uses.apply(vec![Spec { plugin, params }]).is_empty());
    let mut pcm = vec![0.8f32; 1920];
    // Warm-up (first calls may fault in code pages, lazily set up the store).
    for _ in 0..20 {
        pcm.fill(0.8);
        assert!(uses.process(&mut pcm).is_none());
    }
    let before = calls();
    for _ in 0..500 {
        pcm.fill(0.8);
        assert!(uses.process(&mut pcm).is_none());
    }
    assert_eq!(calls() - before, 0, "the WASM filter call allocated");
    assert!((pcm[0] - 0.4).abs() < 1e-6 && (pcm[1919] - 0.4).abs() < 1e-6);
    uses.release();
    let _ = std::fs::remove_dir_all(&dir);
}
