//! Any binary DAVE frame (`seq u16 | opcode | payload`) against a protocol-v1 session:
//! garbage external senders, proposals, commits and welcomes are rejected, never panic.
//! Body: `basalt::voice::fuzzing::dave_binary`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| basalt::voice::fuzzing::dave_binary(data));
