//! Any text frame from a (hostile) voice gateway: parsing and the DAVE JSON opcodes never
//! panic. Body: `basalt::voice::fuzzing::gateway_json`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| basalt::voice::fuzzing::gateway_json(data));
