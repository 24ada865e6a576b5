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
#[path = "support/poll.rs"]
mod poll;
#[path = "support/stall_http.rs"]
mod stall_http;

use std::path::Path;
use std::time::Duration;

use fake_voice::FakeVoice;
use ops_node::*;
use serde_json::json;

const PW: &str = "faults-pw";
const CANARY: u64 = 812_000_000_000_000_001;
const VICTIM: u64 = 812_000_000_000_000_002;

fn start(tag: &str, env: &[(&str, &str)]) -> Node {
    let port = free_port();
    Node::start_env(tag, port, &config_text(port, PW, "", ""), env)
}

/// A node with one decode and one encode worker (so a canary shares the victim's workers)
/// and `player` appended to its `[player]` table.
fn start_one_worker(tag: &str, player: &str) -> Node {
    let port = free_port();
    let extra = format!("[player]\ndecode_workers = 1\nencode_workers = 1\n{player}");
    Node::start_env(tag, port, &config_text(port, PW, "", &extra), &[])
}

fn play(node: &Node, sid: &str, guild: u64, f: &FakeVoice, file: &Path) {
    play_url(node, sid, guild, f, file.to_str().unwrap());
}

fn play_url(node: &Node, sid: &str, guild: u64, f: &FakeVoice, identifier: &str) {
    let r = node.client(PW).patch(
        &format!("/v4/sessions/{sid}/players/{guild}"),
        &play_identifier_body(f, identifier),
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

/// Reopens the socket of session `sid` (a resume attempt): (socket, ready op).
fn resume(node: &Node, sid: &str) -> (http_client::Ws, serde_json::Value) {
    let user = USER.to_string();
    let mut ws = http_client::ws_connect(
        node.addr,
        &[
            ("Authorization", PW),
            ("User-Id", &user),
            ("Client-Name", "basalt-faults-tests/1.0"),
            ("Session-Id", sid),
        ],
    )
    .expect("websocket");
    let ready = ws.expect("ready", None, Duration::from_secs(5));
    (ws, ready)
}

#[test]
fn huge_resume_timeouts_and_resumes_racing_expiry_keep_sessions_consistent() {
    let node = start("resume", &[]);
    let c = node.client(PW);
    let (ws, sid) = session(&node, PW);
    // A timeout near i64::MAX: accepted, no overflow, the session pauses and resumes.
    let r = c.patch(
        &format!("/v4/sessions/{sid}"),
        r#"{"resuming": true, "timeout": 9223372036854775807}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let f = voice(CANARY);
    let wav = sine_wav(&node.dir, "sine.wav", 30.0);
    play(&node, &sid, CANARY, &f, &wav);
    wait_packets(&f, 20, 15);
    ws.close();
    let (ws, ready) = resume(&node, &sid);
    assert_eq!(ready["resumed"], true, "{ready}");
    let r = c.get(&format!("/v4/sessions/{sid}/players/{CANARY}"));
    assert_eq!(r.status, 200, "{}", r.text());
    let n = f.packets().len();
    wait_packets(&f, n + 20, 10);

    // Resumes racing a 1 s expiry: whichever side wins, the state is whole — resumed with
    // its player, or expired with the player gone and a fresh session instead.
    let mut ws = ws;
    for delay_ms in [900u64, 980, 1000, 1020, 1100] {
        let sid_now = {
            let r = c.patch(
                &format!("/v4/sessions/{sid}"),
                r#"{"resuming": true, "timeout": 1}"#,
            );
            if r.status == 404 {
                break;
            }
            sid.clone()
        };
        ws.close();
        std::thread::sleep(Duration::from_millis(delay_ms)); // the race itself, not a wait
        let (next, ready) = resume(&node, &sid_now);
        let players = c.get(&format!("/v4/sessions/{sid_now}/players"));
        if ready["resumed"] == true {
            assert_eq!(players.status, 200, "{}", players.text());
            assert_eq!(
                players.json().as_array().map(Vec::len),
                Some(1),
                "{}",
                players.text()
            );
            ws = next;
        } else {
            // Expired first: the old session and its player are gone for good.
            assert_eq!(players.status, 404, "{}", players.text());
            assert_ne!(ready["sessionId"], sid_now.as_str());
            ws = next;
            break;
        }
    }
    drop(ws);
    assert_eq!(c.get("/v4/info").status, 200);
    assert!(!node.stderr().contains("panicked"), "{}", node.stderr());
}

/// A local file on a hung disk (a FIFO whose writer stops after one second of audio)
/// starves only its own player: TrackStuckEvent after the threshold, while a canary on the
/// same (single) decode worker keeps its cadence. Local files are read on the I/O pool, not
/// on the decode worker.
#[test]
fn a_hung_local_file_starves_only_its_player() {
    let node = start_one_worker("hung-disk", "track_stuck_threshold_ms = 1500\n");
    let c = node.client(PW);
    let (mut ws, sid) = session(&node, PW);
    let (fc, fv) = (voice(CANARY), voice(VICTIM));
    let canary = sine_wav(&node.dir, "canary.wav", 12.0);
    // Load a real file for its encoded track, then put a FIFO at that path.
    let slow = sine_wav(&node.dir, "slow.wav", 10.0);
    let wav = std::fs::read(&slow).unwrap();
    let loaded = c
        .get(&format!(
            "/v4/loadtracks?identifier={}",
            slow.to_str().unwrap().replace('/', "%2F")
        ))
        .json();
    let encoded = loaded["data"]["encoded"]
        .as_str()
        .expect("track")
        .to_string();
    std::fs::remove_file(&slow).unwrap();
    let path = std::ffi::CString::new(slow.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo has no other preconditions.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0, "mkfifo");
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let writer = {
        let slow = slow.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            // Blocks until the node opens the FIFO; then one second of audio, then silence
            // on the wire (a hung disk) until the test ends.
            let mut f = std::fs::OpenOptions::new().write(true).open(&slow).unwrap();
            let _ = f.write_all(&wav[..44 + 192_000]);
            let _ = stop_rx.recv_timeout(Duration::from_secs(30));
        })
    };
    play(&node, &sid, CANARY, &fc, &canary);
    wait_packets(&fc, 20, 15);
    let body = json!({
        "track": {"encoded": encoded},
        "voice": {
            "token": fv.config.token,
            "endpoint": fv.endpoint,
            "sessionId": fv.config.session_id,
            "channelId": fv.config.channel_id.to_string(),
        }
    });
    let r = c.patch(
        &format!("/v4/sessions/{sid}/players/{VICTIM}"),
        &body.to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let victim = VICTIM.to_string();
    let stuck = loop {
        let ev = ws.expect("event", None, Duration::from_secs(10));
        if ev["guildId"] == victim.as_str() && ev["type"] == "TrackStuckEvent" {
            break ev;
        }
    };
    assert_eq!(stuck["thresholdMs"], 1500, "{stuck}");
    // It played its buffered second first.
    assert!(fv.packets().len() >= 40, "{} packets", fv.packets().len());
    let n = fc.packets().len();
    wait_packets(&fc, n + 25, 10);
    let worst = worst_gap(&fc);
    assert!(worst < Duration::from_millis(120), "canary gap {worst:?}");
    let _ = stop_tx.send(());
    let _ = writer.join();
}

/// Two HTTP sources that stop after a second of audio (one stalls, one trickles a byte a
/// second) starve only their own players: TrackStuckEvent at the threshold (and for the
/// trickle a TrackExceptionEvent once nothing has come for three thresholds); a canary on
/// the same decode worker, reading a local file through the same I/O pool, keeps its 20 ms
/// cadence throughout (it did not before the pool kept an idle thread: two blocked reads
/// held both I/O threads and the canary got a TrackStuckEvent).
#[test]
fn stalled_and_trickling_http_sources_starve_only_their_players() {
    let node = start_one_worker("stalled-http", "track_stuck_threshold_ms = 1000\n");
    let (mut ws, sid) = session(&node, PW);
    const TRICKLE: u64 = 812_000_000_000_000_003;
    let (fc, fs, ft) = (voice(CANARY), voice(VICTIM), voice(TRICKLE));
    let canary = sine_wav(&node.dir, "canary.wav", 15.0);
    let body = std::fs::read(sine_wav(&node.dir, "remote.wav", 10.0)).unwrap();
    let one_second = 44 + 192_000;
    // No length (a stream), ranges honoured for reconnects: one stalls for good after a
    // second of audio, the other trickles a byte a second.
    let wav = |body: Vec<u8>, then| {
        stall_http::serve(stall_http::Plan {
            content_type: "audio/wav",
            body,
            with_length: false,
            ranges: true,
            fast: one_second,
            then,
        })
        .port
    };
    let stall = wav(body.clone(), stall_http::Then::StallForever);
    let trickle = wav(
        body.clone(),
        stall_http::Then::Trickle {
            bytes: 1,
            every: Duration::from_secs(1),
            until: body.len(),
        },
    );
    play(&node, &sid, CANARY, &fc, &canary);
    wait_packets(&fc, 20, 15);
    for (guild, f, port) in [(VICTIM, &fs, stall), (TRICKLE, &ft, trickle)] {
        let url = format!("http://127.0.0.1:{port}/a.wav");
        play_url(&node, &sid, guild, f, &url);
    }
    let mut seen: Vec<(String, String)> = Vec::new();
    // The stalled source's TrackExceptionEvent is not asserted: it sends no length, so the
    // HTTP source treats it as a live stream and reconnects after each read timeout; every
    // reconnect delivers another second of audio, so it never goes three thresholds without
    // audio (it ends when the source stops reconnecting, ~35 s in).
    let wanted = |seen: &Vec<(String, String)>| {
        let has = |g: u64, t: &str| {
            let g = g.to_string();
            seen.iter().any(|(sg, st)| *sg == g && st == t)
        };
        has(VICTIM, "TrackStuckEvent")
            && has(TRICKLE, "TrackStuckEvent")
            && has(TRICKLE, "TrackExceptionEvent")
    };
    while !wanted(&seen) {
        let ev = ws.expect("event", None, Duration::from_secs(15));
        let g = ev["guildId"].as_str().unwrap_or("").to_string();
        assert!(
            g != CANARY.to_string() || ev["type"] == "TrackStartEvent",
            "the canary got {ev}; seen {seen:?}"
        );
        seen.push((g, ev["type"].as_str().unwrap_or("").to_string()));
    }
    // Stuck came before the exception.
    let trickle = TRICKLE.to_string();
    let at = |t: &str| seen.iter().position(|(sg, st)| *sg == trickle && st == t);
    assert!(
        at("TrackStuckEvent") < at("TrackExceptionEvent"),
        "{seen:?}"
    );
    let n = fc.packets().len();
    wait_packets(&fc, n + 25, 10);
    let worst = worst_gap(&fc);
    assert!(worst < Duration::from_millis(120), "canary gap {worst:?}");
}

/// An endless stream that turns into junk after two seconds of real MP3 (fast: 1.3 MB/s,
/// and slow: 20 KB/s) ends its track with a TrackExceptionEvent and stops downloading; a
/// canary on the same (single) decode worker keeps its 20 ms cadence throughout. Before,
/// the MP3 reader's search for a sync word read the junk for as long as it came, inside
/// one decode step: the decode worker served nobody else.
#[test]
fn an_endless_junk_mp3_stream_ends_its_track_and_spares_the_worker() {
    let node = start_one_worker("junk-mp3", "track_stuck_threshold_ms = 1000\n");
    let (mut ws, sid) = session(&node, PW);
    const SLOW: u64 = 812_000_000_000_000_004;
    let (fc, ff, fs) = (voice(CANARY), voice(VICTIM), voice(SLOW));
    let canary = sine_wav(&node.dir, "canary.wav", 20.0);
    let mp3 = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sine440_44k_mono_2s_bare.mp3"
    ))
    .unwrap();
    // A radio (no length): the real MP3 at once, then junk every 50 ms.
    let junk = |chunk| {
        stall_http::serve(stall_http::Plan {
            content_type: "audio/mpeg",
            body: mp3.clone(),
            with_length: false,
            ranges: false,
            fast: mp3.len(),
            then: stall_http::Then::Junk {
                chunk,
                every: Duration::from_millis(50),
            },
        })
    };
    let (fast, slow) = (junk(64 * 1024), junk(1024));
    let (fast_gone, slow_gone) = (fast.gone, slow.gone);
    let (fast, slow) = (fast.port, slow.port);
    play(&node, &sid, CANARY, &fc, &canary);
    wait_packets(&fc, 20, 15);
    for (guild, f, port) in [(VICTIM, &ff, fast), (SLOW, &fs, slow)] {
        let url = format!("http://127.0.0.1:{port}/radio.mp3");
        play_url(&node, &sid, guild, f, &url);
    }
    let mut seen: Vec<(String, String)> = Vec::new();
    let has = |seen: &Vec<(String, String)>, g: u64, t: &str| {
        let g = g.to_string();
        seen.iter().any(|(sg, st)| *sg == g && st == t)
    };
    while !(has(&seen, VICTIM, "TrackEndEvent") && has(&seen, SLOW, "TrackEndEvent")) {
        let ev = ws.expect("event", None, Duration::from_secs(20));
        let g = ev["guildId"].as_str().unwrap_or("").to_string();
        assert!(
            g != CANARY.to_string() || ev["type"] == "TrackStartEvent",
            "the canary got {ev}; seen {seen:?}"
        );
        seen.push((g, ev["type"].as_str().unwrap_or("").to_string()));
    }
    for g in [VICTIM, SLOW] {
        assert!(has(&seen, g, "TrackExceptionEvent"), "{g}: {seen:?}");
        // The real audio at the start was heard.
        assert!(has(&seen, g, "TrackStartEvent"), "{g}: {seen:?}");
    }
    assert!(ff.packets().len() >= 50, "{} packets", ff.packets().len());
    // The node let go of both streams.
    poll::wait_until("both junk downloads to stop", poll::DEADLINE, || {
        fast_gone.load(std::sync::atomic::Ordering::Acquire)
            && slow_gone.load(std::sync::atomic::Ordering::Acquire)
    });
    let n = fc.packets().len();
    wait_packets(&fc, n + 25, 10);
    let worst = worst_gap(&fc);
    assert!(worst < Duration::from_millis(120), "canary gap {worst:?}");
}

/// A 48 kHz stereo 24-bit FLAC of `secs` seconds of a 440 Hz tone in VERBATIM subframes of
/// 4,096 frames: every frame is ~24 KiB, three times the read-ahead's 8 KiB low-water mark.
fn verbatim_flac(secs: f64) -> Vec<u8> {
    const BLOCK: usize = 4096;
    fn crc8(d: &[u8]) -> u8 {
        d.iter().fold(0u8, |mut c, &b| {
            c ^= b;
            for _ in 0..8 {
                c = if c & 0x80 != 0 {
                    (c << 1) ^ 0x07
                } else {
                    c << 1
                };
            }
            c
        })
    }
    fn crc16(d: &[u8]) -> u16 {
        d.iter().fold(0u16, |mut c, &b| {
            c ^= u16::from(b) << 8;
            for _ in 0..8 {
                c = if c & 0x8000 != 0 {
                    (c << 1) ^ 0x8005
                } else {
                    c << 1
                };
            }
            c
        })
    }
    let total = (48_000.0 * secs) as usize / BLOCK * BLOCK;
    let mut out = b"fLaC".to_vec();
    // STREAMINFO (last metadata block): block sizes, frame sizes unknown, 48 kHz, 2
    // channels, 24 bits, total samples, no MD5.
    out.extend_from_slice(&[0x80, 0, 0, 34]);
    out.extend_from_slice(&(BLOCK as u16).to_be_bytes());
    out.extend_from_slice(&(BLOCK as u16).to_be_bytes());
    out.extend_from_slice(&[0; 6]);
    let packed: u64 = (48_000u64 << 44) | (1u64 << 41) | (23u64 << 36) | total as u64;
    out.extend_from_slice(&packed.to_be_bytes());
    out.extend_from_slice(&[0; 16]);
    for (n, start) in (0..total).step_by(BLOCK).enumerate() {
        let at = out.len();
        // Fixed block size, 4,096 frames, 48 kHz, two independent channels, 24 bits; the
        // frame number in UTF-8 coding (under 128 here).
        assert!(n < 128);
        out.extend_from_slice(&[0xFF, 0xF8, 0xCA, 0x1C, n as u8]);
        let c = crc8(&out[at..]);
        out.push(c);
        // Both channels the same tone: VERBATIM (0x02, no wasted bits), 24-bit big-endian.
        let channel: Vec<u8> = std::iter::once(0x02)
            .chain((start..start + BLOCK).flat_map(|i| {
                let v = (0.5
                    * (i as f64 * 440.0 * std::f64::consts::TAU / 48_000.0).sin()
                    * 8_388_607.0) as i32;
                let b = v.to_be_bytes();
                [b[1], b[2], b[3]]
            }))
            .collect();
        out.extend_from_slice(&channel);
        out.extend_from_slice(&channel);
        let c = crc16(&out[at..]);
        out.extend_from_slice(&c.to_be_bytes());
    }
    out
}

/// A track whose very first audio frame is large (24 KiB) and comes slowly (the headers
/// and 6 KiB at once, the rest of that frame over ~1.5 s, then the rest quickly) plays
/// whole, and a canary on the same single decode worker keeps its cadence: the first packet
/// is decoded on the open helper, where waiting is allowed, so the decode worker learns the
/// step size before it takes the track. (Without that, the worker's first step found 8 KiB
/// buffered for a 24 KiB frame: it either waited for the trickle inside `read`, silencing
/// the canary, or gave up after its scan patience and failed the track.)
#[test]
fn a_large_first_frame_on_a_slow_link_plays_and_spares_the_worker() {
    let node = start_one_worker("first-frame", "");
    let (mut ws, sid) = session(&node, PW);
    let (fc, fv) = (voice(CANARY), voice(VICTIM));
    let canary = sine_wav(&node.dir, "canary.wav", 20.0);
    let flac = verbatim_flac(3.0);
    // Where the first frame starts: right after fLaC and the 38-byte STREAMINFO block.
    let first_frame = 4 + 4 + 34;
    let fast_part = first_frame + 6 * 1024;
    let slow_end = first_frame + 25 * 1024;
    // With a length, ranges ignored: the headers and 6 KiB at once, the rest of the first
    // frame at 1 KiB per 80 ms, then everything else.
    let media = stall_http::serve(stall_http::Plan {
        content_type: "audio/flac",
        body: flac,
        with_length: true,
        ranges: false,
        fast: fast_part,
        then: stall_http::Then::Trickle {
            bytes: 1024,
            every: Duration::from_millis(80),
            until: slow_end,
        },
    })
    .port;
    play(&node, &sid, CANARY, &fc, &canary);
    wait_packets(&fc, 20, 15);
    play_url(
        &node,
        &sid,
        VICTIM,
        &fv,
        &format!("http://127.0.0.1:{media}/big-frames.flac"),
    );
    let end = loop {
        let ev = ws.expect("event", None, Duration::from_secs(20));
        let g = ev["guildId"].as_str().unwrap_or("");
        assert!(
            g != CANARY.to_string() || ev["type"] == "TrackStartEvent",
            "the canary got {ev}"
        );
        assert_ne!(ev["type"], "TrackExceptionEvent", "{ev}");
        assert_ne!(ev["type"], "TrackStuckEvent", "{ev}");
        if g == VICTIM.to_string() && ev["type"] == "TrackEndEvent" {
            break ev;
        }
    };
    assert_eq!(end["reason"], "finished", "{end}");
    // Three seconds of audio reached the voice server (150 packets, some slack).
    assert!(fv.packets().len() >= 140, "{} packets", fv.packets().len());
    let n = fc.packets().len();
    wait_packets(&fc, n + 25, 10);
    let worst = worst_gap(&fc);
    assert!(worst < Duration::from_millis(120), "canary gap {worst:?}");
}
