//! Any body of `PATCH /v4/sessions/{id}/players/{guild}` through the control plane's
//! parser: it must answer Ok or an ApiError, never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = basalt::server::parse_update_player(data);
});
