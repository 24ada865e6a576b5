//! Opus passthrough: a 48 kHz stereo Opus source with no filters and volume 100 reaches the
//! sink byte for byte; volume or filters switch to decode → encode mid-track and back
//! without losing or repeating a packet.

mod audio_support;

use std::sync::atomic::Ordering;

use audio_support::*;
use basalt::player::{EndReason, PlayerCommand};

#[test]
fn passthrough_is_bit_exact_and_switches_without_skipping() {
    let dir = tmpdir("opus");
    let path = dir.join("t.opus");
    let packets = write_ogg_opus(&path, &[(440.0, 3.0)]);
    assert_eq!(packets.len(), 150);
    let rig = Rig::new();
    rig.play(track(&path, 3000), 0, None);
    rig.expect_start();
    rig.wait_frames(30, 5);
    rig.player.send(PlayerCommand::SetVolume(50));
    let at = rig.player.shared.frames_sent.load(Ordering::Relaxed) as usize;
    rig.wait_frames(at + 40, 5);
    rig.player.send(PlayerCommand::SetVolume(100));
    let back = rig.player.shared.frames_sent.load(Ordering::Relaxed) as usize;
    assert_eq!(rig.expect_end(10).0, EndReason::Finished);
    rig.settle();
    let frames = rig.frames();
    assert_eq!(frames.len(), packets.len(), "no packet lost or repeated");
    // Before the change: the source's packets, untouched.
    for i in 0..at {
        assert_eq!(frames[i], packets[i], "frame {i} not passed through");
    }
    // During volume 50: re-encoded.
    let reencoded = (at + 2..at + 38)
        .filter(|&i| frames[i] != packets[i])
        .count();
    assert!(reencoded >= 34, "only {reencoded} re-encoded frames");
    // Back at 100: passthrough again.
    for i in back + 2..frames.len() {
        assert_eq!(
            frames[i], packets[i],
            "frame {i} not passed through after switching back"
        );
    }
    // The audio stays continuous: same tone throughout, quieter in the middle.
    let pcm = decode(&frames);
    let f = frequency(frames_range(&pcm, 2, 148));
    assert!((f - 440.0).abs() < 3.0, "frequency {f}");
    let loud = rms(frames_range(&pcm, 5, at));
    let quiet = rms(frames_range(&pcm, at + 3, at + 35));
    assert!(
        (quiet / loud - 0.4169).abs() < 0.05,
        "ratio {}",
        quiet / loud
    );
}

#[test]
fn opus_with_filters_is_decoded_and_seek_lands() {
    let dir = tmpdir("opusseek");
    let path = dir.join("s.opus");
    write_ogg_opus(&path, &[(440.0, 1.0), (1760.0, 2.0)]);
    let rig = Rig::new();
    let f = basalt_dsp::Filters {
        volume: Some(0.8),
        ..Default::default()
    };
    rig.player.send(PlayerCommand::SetFilters(Box::new(f)));
    rig.play(track(&path, 3000), 0, None);
    rig.expect_start();
    rig.wait_frames(10, 5);
    rig.player.send(PlayerCommand::Seek(1500));
    let n = rig.frame_count();
    rig.wait_frames(n + 30, 5);
    let pcm = decode(&rig.frames());
    let f = frequency(frames_range(&pcm, n + 4, n + 28));
    assert!((f - 1760.0).abs() < 20.0, "frequency after seek {f}");
    assert_eq!(rig.expect_end(10).0, EndReason::Finished);
}
