//! Any input to the encoded-track decoder: as a base64 string (the REST path) and as
//! a raw message. Never panics; whatever decodes must re-encode to a blob that decodes
//! to the same track (the v3 writer is the inverse of the reader).
#![no_main]

use basalt::track::codec::{decode_message, encode_message};
use basalt::track::{decode_track, encode_track, probe_info};
use libfuzzer_sys::fuzz_target;

fn check_round_trip(t: &basalt::track::TrackData) {
    let again = decode_track(&encode_track(t)).expect("re-encoded track must decode");
    assert_eq!(again.version, 3);
    assert_eq!(&again.data, t);
    let _ = probe_info(t);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(d) = decode_track(s) {
            check_round_trip(&d.data);
        }
    }
    if let Ok(d) = decode_message(data) {
        check_round_trip(&d.data);
        let _ = encode_message(&d.data);
    }
});
