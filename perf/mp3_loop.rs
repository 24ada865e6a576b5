//! Long MP3 inputs for the perf examples: the 2 s 44.1 kHz stereo fixture's frames looped.

/// About `secs` seconds of MP3 (rounded up to whole loops). The fixture's leading Xing
/// frame is dropped: its frame count would end playback after 2 s.
pub fn make_mp3(secs: usize) -> Vec<u8> {
    let one = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sine440_44k_stereo_2s_xing.mp3"
    ))
    .expect("fixture");
    let b2 = one[2];
    let kbps = [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    ][(b2 >> 4) as usize];
    let rate = [44_100, 48_000, 32_000][((b2 >> 2) & 3) as usize];
    let first = 144_000 * kbps / rate + ((b2 >> 1) & 1) as usize;
    one[first..].repeat(secs.div_ceil(2))
}
