//! Faults stay inside one player, through the real binary and the fake voice server: a
//! decoder that panics (debug-build injection, as a decoder bug on a crafted file would)
//! and an Ogg Opus file whose packets exceed the 1276-byte Opus limit each affect only
//! their own track; the player stays usable, and a canary player on the same node keeps
//! its 20 ms cadence at the voice server throughout.

mod audio_support;
#[path = "support/fake_voice/mod.rs"]
mod fake_voice;
#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/ops_node.rs"]
mod ops_node;

use std::path::Path;
use std::time::Duration;

use fake_voice::FakeVoice;
use ops_node::*;

const PW: &str = "faults-pw";
const CANARY: u64 = 812_000_000_000_000_001;
const VICTIM: u64 = 812_000_000_000_000_002;

fn start(tag: &str, env: &[(&str, &str)]) -> Node {
    let port = free_port();
    Node::start_env(tag, port, &config_text(port, PW, "", ""), env)
}

fn play(node: &Node, sid: &str, guild: u64, f: &FakeVoice, file: &Path) {
    let r = node.client(PW).patch(
        &format!("/v4/sessions/{sid}/players/{guild}"),
        &play_body(f, file),
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

/// The longest gap between the canary's packets after its first 10.
fn worst_gap(f: &FakeVoice) -> Duration {
    f.packets()
        .windows(2)
        .skip(10)
        .map(|w| w[1].at.duration_since(w[0].at))
        .max()
        .unwrap_or_default()
}

fn wait_packets(f: &FakeVoice, n: usize, secs: u64) {
    assert!(
        f.wait(Duration::from_secs(secs), |s| s.packets.len() >= n),
        "only {} packets",
        f.packets().len()
    );
}

#[test]
fn a_panicking_decoder_fails_only_its_track() {
    let node = start("panic-decoder", &[("BASALT_TEST_PANIC_DECODE", "boom")]);
    let (mut ws, sid) = session(&node, PW);
    let (fc, fv) = (voice(CANARY), voice(VICTIM));
    let canary = sine_wav(&node.dir, "canary.wav", 10.0);
    let boom = sine_wav(&node.dir, "boom.wav", 4.0);
    let fine = sine_wav(&node.dir, "fine.wav", 4.0);
    play(&node, &sid, CANARY, &fc, &canary);
    wait_packets(&fc, 20, 15);
    play(&node, &sid, VICTIM, &fv, &boom);
    let ex = loop {
        let ev = ws.expect("event", None, Duration::from_secs(10));
        if ev["type"] == "TrackExceptionEvent" {
            break ev;
        }
    };
    assert_eq!(ex["guildId"], VICTIM.to_string(), "{ex}");
    assert_eq!(ex["exception"]["severity"], "fault", "{ex}");
    assert!(
        ex["exception"]["cause"]
            .as_str()
            .unwrap_or("")
            .contains("panic")
            || ex["exception"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("panic"),
        "{ex}"
    );
    // The same player plays the next track.
    let before = fv.packets().len();
    play(&node, &sid, VICTIM, &fv, &fine);
    wait_packets(&fv, before + 40, 15);
    let pcm = fake_voice::decode(&fv.packets()[before + 5..]);
    let hz = fake_voice::frequency(&pcm);
    assert!((hz - 440.0).abs() < 20.0, "victim's next track at {hz} Hz");
    // The canary never missed its cadence.
    let n = fc.packets().len();
    wait_packets(&fc, n + 25, 10);
    let worst = worst_gap(&fc);
    assert!(worst < Duration::from_millis(120), "canary gap {worst:?}");
    assert!(node.stderr().contains("injected panic in the decoder"));
}

#[test]
fn opus_packets_over_the_limit_play_reencoded_and_the_canary_keeps_time() {
    let node = start("oversize-opus", &[]);
    let (mut ws, sid) = session(&node, PW);
    let (fc, fv) = (voice(CANARY), voice(VICTIM));
    let canary = sine_wav(&node.dir, "canary.wav", 10.0);
    let plain = node.dir.join("plain.ogg");
    let packets = audio_support::write_ogg_opus(&plain, &[(440.0, 3.0)]);
    // Every third packet padded past the limit: still valid Opus, now 2.7 KB.
    let crafted: Vec<Vec<u8>> = packets
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if i % 3 == 0 {
                audio_support::pad_packet(p, 1400)
            } else {
                p.clone()
            }
        })
        .collect();
    assert!(crafted[0].len() > 1276);
    let file = node.dir.join("oversize.ogg");
    audio_support::write_ogg_opus_packets(&file, &crafted);
    play(&node, &sid, CANARY, &fc, &canary);
    wait_packets(&fc, 20, 15);
    // Passthrough would copy packets; these cannot be sent, so the player re-encodes them.
    play(&node, &sid, VICTIM, &fv, &file);
    let victim = VICTIM.to_string();
    let end = loop {
        let ev = ws.expect("event", None, Duration::from_secs(15));
        if ev["guildId"] == victim.as_str()
            && matches!(
                ev["type"].as_str(),
                Some("TrackEndEvent" | "TrackExceptionEvent")
            )
        {
            break ev;
        }
    };
    assert_eq!(end["type"], "TrackEndEvent", "{end}");
    assert_eq!(end["reason"], "finished", "{end}");
    let got = fv.packets();
    assert!(got.len() >= 140, "{} packets", got.len());
    assert!(
        got.iter()
            .all(|p| p.opus.as_ref().is_some_and(|o| o.len() <= 1276)),
        "a packet over the limit reached the voice server"
    );
    let pcm = fake_voice::decode(&got[10..got.len() - 5]);
    let hz = fake_voice::frequency(&pcm);
    assert!((hz - 440.0).abs() < 20.0, "{hz} Hz");
    let worst = worst_gap(&fc);
    assert!(worst < Duration::from_millis(120), "canary gap {worst:?}");
}
