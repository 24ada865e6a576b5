//! Arbitrary bytes as a YouTube player script through the lexical scan that prepares it
//! for the embedded solver and the signature-timestamp search: errors, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = basalt::source::ytcipher::scan::prepare(&text);
    let _ = basalt::source::ytcipher::scan::signature_timestamp(&text);
    let _ = basalt::source::ytcipher::js_url(&text);
});
