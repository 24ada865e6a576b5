//! Any bytes as a source that says it is MP3: our MPEG audio demuxer (ID3v2 skipping, the
//! first-frame search, Xing/LAME/VBRI tags, frame sync) and, for what it rejects, the
//! replayed hand-over to symphonia's probe; then decoding into a PCM ring, an accurate seek
//! back and forward, and decoding again. Never panics, never loops.
#![no_main]

use basalt::config::ResamplingQuality;
use basalt::decode::{open, Opened};
use basalt::source::MediaInput;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = MediaInput {
        reader: Box::new(std::io::Cursor::new(data.to_vec())),
        extension: Some("mp3".into()),
        mime: Some("audio/mpeg".into()),
        is_stream: false,
        segments: None,
    };
    let Ok(opened) = open(input, ResamplingQuality::Low) else {
        return;
    };
    let (mut tx, mut rx) = rtrb::RingBuffer::new(8192);
    let mut drain = |d: &mut basalt::decode::PcmDecoder| {
        for _ in 0..64 {
            match d.fill(&mut tx, 4) {
                Ok(f) => {
                    if let Ok(c) = rx.read_chunk(rx.slots()) {
                        c.commit_all();
                    }
                    if f.eof {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    };
    if let Opened::Pcm(mut d) = opened {
        drain(&mut d);
        let _ = d.seek(0);
        drain(&mut d);
        let _ = d.seek(1_500);
        drain(&mut d);
    }
});
