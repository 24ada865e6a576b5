//! `[player] limiter`: the look-ahead limiter replaces the soft clip at the end of the
//! path. A tone boosted 4× over full scale comes out of the soft clip with strong odd
//! harmonics (its peaks bent into the curve) and out of the limiter as the same sine, lower.

mod audio_support;

use audio_support::*;
use basalt::player::PlayerCommand;

/// Amplitude of `hz` in the left channel (Goertzel over whole periods of `stereo`).
fn tone_level(stereo: &[f32], hz: f32) -> f32 {
    let left: Vec<f32> = stereo.iter().step_by(2).copied().collect();
    let w = std::f32::consts::TAU * hz / 48_000.0;
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for x in &left {
        let s = x + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
    2.0 * power.max(0.0).sqrt() / left.len() as f32
}

/// Plays a 0.5-amplitude 400 Hz tone at volume 400 % and returns frames 40..90 decoded.
fn boosted(limiter: bool, name: &str) -> Vec<f32> {
    let dir = tmpdir(name);
    let path = dir.join("t.wav");
    write_wav(&path, 48_000, 2, &[(400.0, 3.0)]);
    let mut config = test_config();
    config.player.limiter = limiter;
    let rig = Rig::with(config, file_opener());
    rig.player.send(PlayerCommand::SetVolume(400));
    rig.play(track(&path, 3000), 0, None);
    rig.expect_start();
    rig.wait_frames(90, 10);
    let pcm = decode(&rig.frames());
    rig.player.send(PlayerCommand::Stop);
    frames_range(&pcm, 40, 90).to_vec()
}

#[test]
fn the_limiter_keeps_a_boosted_tone_a_sine_where_the_soft_clip_bends_it() {
    let clipped = boosted(false, "lim-off");
    let limited = boosted(true, "lim-on");
    let peak = |s: &[f32]| s.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    // Opus adds a little overshoot of its own.
    assert!(peak(&limited) <= 1.05, "limited peak {}", peak(&limited));
    let thd = |s: &[f32]| tone_level(s, 1200.0) / tone_level(s, 400.0);
    let (soft, lim) = (thd(&clipped), thd(&limited));
    assert!(
        soft > 0.05,
        "the soft clip should bend a 4× tone: 3rd harmonic {soft}"
    );
    assert!(
        lim < 0.01,
        "the limiter distorted: 3rd harmonic {lim} (soft clip {soft})"
    );
    // Held near its target (1/1.1 of full scale), not squashed.
    let level = tone_level(&limited, 400.0);
    assert!((0.75..=1.0).contains(&level), "limited level {level}");
}
