//! Random filter sets (as JSON or raw parameters, NaN and infinities included) and random
//! signals through the dsp chain: no panic, no NaN/inf out, JSON round-trips, every tail
//! ends once the filters are removed. The body lives in `basalt_dsp::fuzzing::run`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    basalt_dsp::fuzzing::run(data);
});
