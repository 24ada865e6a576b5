//! Per-player memory of the filter chain, counted by a global allocator (this file is its
//! own test binary, so the counter sees nothing else): a stage's buffers exist only once
//! that filter has been configured, and `process` never allocates whatever the history.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use basalt_dsp::{ChainWork, FilterChain, Filters, FRAME, MAX_INPUT};
use serde_json::json;

struct Counting;

thread_local! {
    /// Bytes allocated minus bytes freed on this thread (tests run on parallel threads;
    /// each measures only its own work).
    static LIVE: Cell<isize> = const { Cell::new(0) };
    /// Allocation calls (alloc, alloc_zeroed, realloc) on this thread.
    static CALLS: Cell<usize> = const { Cell::new(0) };
}

fn note(bytes: isize, call: bool) {
    // `try_with`: the allocator also runs while thread-locals are being torn down.
    let _ = LIVE.try_with(|c| c.set(c.get() + bytes));
    if call {
        let _ = CALLS.try_with(|c| c.set(c.get() + 1));
    }
}

// SAFETY: every call is forwarded unchanged to `System`; only thread-local counters are
// touched around it, and those never allocate (const-initialised `Cell`s).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note(l.size() as isize, true);
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        note(l.size() as isize, true);
        System.alloc_zeroed(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        note(-(l.size() as isize), false);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        note(new as isize - l.size() as isize, true);
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> isize {
    LIVE.with(Cell::get)
}

fn calls() -> usize {
    CALLS.with(Cell::get)
}

fn filters(v: serde_json::Value) -> Filters {
    Filters::from_json(&v).unwrap()
}

const EQ: fn() -> serde_json::Value =
    || json!({"equalizer": [{"band": 0, "gain": 0.2}, {"band": 7, "gain": -0.1}]});
const TIMESCALE: fn() -> serde_json::Value = || json!({"timescale": {"speed": 1.25, "pitch": 1.1}});
const ALL: fn() -> serde_json::Value = || {
    json!({
        "volume": 0.9,
        "equalizer": [{"band": 2, "gain": 0.15}],
        "karaoke": {"level": 0.5},
        "timescale": {"speed": 0.8, "pitch": 1.3},
        "tremolo": {"frequency": 2.0, "depth": 0.3},
        "vibrato": {"frequency": 4.0, "depth": 0.3},
        "rotation": {"rotationHz": 0.2},
        "distortion": {"scale": 0.9},
        "channelMix": {"leftToLeft": 0.8},
        "lowPass": {"smoothing": 3.0}
    })
};

const EXTRAS: fn() -> serde_json::Value = || {
    json!({
        "echo": {"delay": 250, "feedback": 0.4, "mix": 0.5},
        "highPass": {"smoothing": 20.0},
        "chorus": {"rate": 1.5, "depth": 0.7},
        "flanger": {"rate": 0.3, "depth": 0.8, "feedback": 0.5},
        "phaser": {"rate": 0.5},
        "compressor": {},
        "spatial": {"depth": 0.6, "rate": 0.5},
        "reverb": {},
        "pluginFilters": {
            "echo": {"echoLength": 0.3, "decay": 0.5},
            "high-pass": {"cutoffFrequency": 100},
            "low-pass": {"cutoffFrequency": 8000},
            "normalization": {"maxAmplitude": 0.8}
        }
    })
};

/// Feeds `frames` frames of a test tone, each with `input_needed()` frames or, when
/// `oversize`, always MAX_INPUT frames (an engine pulling more than asked); returns the
/// allocation calls `process` made.
fn frames(
    chain: &mut FilterChain,
    n: usize,
    oversize: bool,
    input: &[f32],
    out: &mut [f32],
    work: &mut ChainWork,
) -> usize {
    let mut made = 0;
    for _ in 0..n {
        let need = if oversize {
            MAX_INPUT
        } else {
            chain.input_needed()
        };
        let before = calls();
        chain.process(&input[..need * 2], out, work);
        made += calls() - before;
    }
    made
}

fn tone() -> Vec<f32> {
    (0..MAX_INPUT * 2)
        .map(|i| (0.3 * (i as f64 * 0.037).sin()) as f32)
        .collect()
}

/// Heap bytes one player's chain holds (boxed, as the engine keeps it) after `update` and
/// a few frames; the worker's shared `ChainWork` is not the player's.
fn held(f: &Filters, input: &[f32], out: &mut [f32]) -> usize {
    let mut work = ChainWork::new();
    let before = live();
    let mut chain = Box::new(FilterChain::new());
    chain.update(f);
    frames(&mut chain, 20, false, input, out, &mut work);
    let bytes = live() - before;
    drop(chain);
    bytes as usize
}

#[test]
fn only_configured_stages_hold_memory() {
    let (input, mut out) = (tone(), vec![0.0f32; FRAME * 2]);
    let eq = held(&filters(EQ()), &input, &mut out);
    let ts = held(&filters(TIMESCALE()), &input, &mut out);
    let all = held(&filters(ALL()), &input, &mut out);
    let ext = held(&filters(EXTRAS()), &input, &mut out);
    let reverb = held(&filters(json!({"reverb": {}})), &input, &mut out);
    eprintln!(
        "held bytes: equalizer only {eq}, timescale only {ts}, every filter {all}, \
         every extra {ext}, reverb only {reverb} (FilterChain itself {} of them)",
        std::mem::size_of::<FilterChain>()
    );
    // The extras' buffers are sized by their parameters: a reverb alone stays small.
    assert!(
        reverb < 160 * 1024,
        "reverb-only chain holds {reverb} bytes"
    );
    assert!(eq < 12 * 1024, "equalizer-only chain holds {eq} bytes");
    assert!(ts > 4 * eq, "timescale {ts} vs equalizer {eq}");
    // Timescale's buffers are sized from its factors (speed 1.25, pitch 1.1 here): well
    // under the 370 KiB that sizing for the largest factors (4×) cost; its channel buffers
    // hold the live span plus a margin, not also a second pull, and its search and
    // anti-alias work and the chain's planar buffers are the worker's (`ChainWork`), not
    // the player's, and its channel buffers are 16-bit (~220 KiB, then ~135 KiB, then
    // ~100 KiB, ~60 KiB, now ~33 KiB).
    assert!(ts < 44 * 1024, "timescale-only chain holds {ts} bytes");
    assert!(all > ts / 2 && all > eq);
    // The largest factors still fit (and cost what they need).
    let ts_max = held(
        &filters(json!({"timescale": {"speed": 4.0, "pitch": 4.0}})),
        &input,
        &mut out,
    );
    assert!(ts_max > ts, "timescale at 4× {ts_max} vs {ts}");
}

#[test]
fn process_never_allocates() {
    let (input, mut out) = (tone(), vec![0.0f32; FRAME * 2]);
    let sequences: [&[serde_json::Value]; 7] = [
        // Every extra filter on, its parameters moved (longer delays grow the lines in
        // `update`), off, on again, and under timescale.
        &[
            EXTRAS(),
            json!({
                "echo": {"delay": 1900, "feedback": 0.9, "mix": 0.5},
                "chorus": {"rate": 3, "depth": 1, "delay": 45, "feedback": 0.9},
                "flanger": {"rate": 2, "depth": 1, "feedback": 0.9},
                "phaser": {"rate": 2, "stages": 12, "feedback": 0.9},
                "compressor": {"threshold": -40, "ratio": 20, "makeupGain": 12},
                "reverb": {"roomSize": 1, "damping": 0, "width": 0},
                "spatial": {"depth": 1, "rate": 5},
                "highPass": {"cutoffFrequency": 500, "boostFactor": 2},
                "pluginFilters": {"echo": {"echoLength": 2.5, "decay": 0.9},
                    "high-pass": {"cutoffFrequency": 1000}, "low-pass": {"cutoffFrequency": 300},
                    "normalization": {"maxAmplitude": 0.1, "adaptive": false}}
            }),
            json!({}),
            EXTRAS(),
            json!({"timescale": {"speed": 1.5}, "reverb": {}, "pluginFilters": {"echo": {"echoLength": 0.2, "decay": 0.4}}}),
        ],
        // Everything at once.
        &[ALL(), EXTRAS(), json!({"volume": 0.5})],
        // Timescale switched on mid-way, off (drain), on again, then everything, then off.
        &[EQ(), TIMESCALE(), EQ(), TIMESCALE(), ALL(), json!({})],
        &[ALL(), json!({}), ALL()],
        // Vibrato recording while off, then on, then timescale under it.
        &[
            json!({"volume": 0.5}),
            json!({"vibrato": {"frequency": 5.0, "depth": 0.5}}),
            json!({"vibrato": {"frequency": 5.0, "depth": 0.5}, "timescale": {"pitch": 0.7}}),
            json!({"volume": 0.5}),
        ],
        // Distortion crossfading between parameter sets, with and without timescale, and
        // fading out while timescale (switched on in the same update) pulls long input.
        &[
            json!({"distortion": {"scale": 0.5}}),
            json!({"timescale": {"speed": 3.0}}),
            json!({"distortion": {"scale": 0.6}}),
            json!({"distortion": {"scale": 0.9}, "timescale": {"speed": 2.0}}),
            json!({"distortion": {"scale": 0.4}, "timescale": {"speed": 2.0}}),
            json!({"distortion": {"scale": 0.7}}),
        ],
        // Every crossfading stage switched on while timescale runs, off, on again.
        &[
            TIMESCALE(),
            ALL(),
            json!({"timescale": {"rate": 0.5}}),
            ALL(),
            json!({"karaoke": {}, "lowPass": {"smoothing": 20.0}}),
        ],
    ];
    for (k, seq) in sequences.iter().enumerate() {
        for oversize in [false, true] {
            for simd in [true, false] {
                let mut chain = if simd {
                    FilterChain::new()
                } else {
                    FilterChain::new_scalar()
                };
                let mut work = ChainWork::new();
                for (i, v) in seq.iter().enumerate() {
                    chain.update(&filters(v.clone()));
                    // A change lands mid-crossfade: the ramps run across this update.
                    let made = frames(&mut chain, 1, oversize, &input, &mut out, &mut work)
                        + frames(&mut chain, 12, oversize, &input, &mut out, &mut work);
                    let before = calls();
                    chain.reset();
                    let made = made + calls() - before
                        + frames(&mut chain, 3, oversize, &input, &mut out, &mut work);
                    assert_eq!(
                        made, 0,
                        "sequence {k} step {i} ({v}), oversize {oversize}, simd {simd}"
                    );
                }
            }
        }
    }
}

#[test]
fn switching_a_filter_back_on_does_not_allocate_again() {
    let (input, mut out) = (tone(), vec![0.0f32; FRAME * 2]);
    let mut all = ALL();
    all.as_object_mut()
        .unwrap()
        .extend(EXTRAS().as_object().unwrap().clone());
    let (on, off) = (filters(all), filters(EQ()));
    let mut chain = FilterChain::new();
    let mut work = ChainWork::new();
    chain.update(&on);
    frames(&mut chain, 10, false, &input, &mut out, &mut work);
    chain.update(&off);
    frames(&mut chain, 10, false, &input, &mut out, &mut work);
    let before = calls();
    chain.update(&on);
    assert_eq!(
        calls() - before,
        0,
        "update re-allocated a stage it already had"
    );
}

#[cfg(feature = "limiter")]
#[test]
fn the_output_limiter_never_allocates_while_processing_or_resetting() {
    let mut lim = basalt_dsp::Limiter::new(5.0, 100.0);
    let mut pcm: Vec<f32> = tone().iter().map(|x| x * 4.0).collect();
    pcm.truncate(FRAME * 2);
    let before = calls();
    for i in 0..200 {
        lim.process(&mut pcm);
        if i == 100 {
            lim.reset();
        }
    }
    assert_eq!(
        calls() - before,
        0,
        "the limiter allocated while processing"
    );
}
