//! Any datagram on the media socket: IP-discovery parsing and the rtpsize receive path
//! (CC/X header length, extension and padding stripping) never panic.
//! Body: `basalt::voice::fuzzing::udp`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| basalt::voice::fuzzing::udp(data));
