//! A change (volume, filter, seek) is heard in the next packet the pacer sends: the engine
//! in process, a sink that timestamps every tick (packet or none), and the packets decoded
//! to find the first one that carries the change. Tolerance for a loaded 2-core box: the
//! change must be in one of the first two ticks after the command. (Before the fix every
//! change went out one tick late after an empty tick: the stale frames a rewind leaves in
//! the ring counted as queued, and a seek waited for the pacer's wake-ups.)

mod audio_support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use audio_support::*;
use basalt::engine::Engine;
use basalt::player::{FrameSink, PlayRequest, PlayerCommand, PlayerEventKind, PlayerHandle};

const LOW_HZ: f32 = 400.0;
const HIGH_HZ: f32 = 800.0;
/// The high tone starts here (the seek target lies inside it).
const SWITCH_S: f32 = 4.0;

/// Every tick with its instant: the packet the pacer handed over, or None (no frame).
#[derive(Default)]
struct Log {
    ticks: Mutex<Vec<(Instant, Option<Vec<u8>>)>>,
    connected: AtomicBool,
}

struct StampSink(Arc<Log>);

impl FrameSink for StampSink {
    fn send_frame(&mut self, opus: &[u8]) {
        let now = Instant::now();
        self.0
            .ticks
            .lock()
            .unwrap()
            .push((now, Some(opus.to_vec())));
    }
    fn no_frame(&mut self) {
        let now = Instant::now();
        self.0.ticks.lock().unwrap().push((now, None));
    }
    fn is_connected(&self) -> bool {
        self.0.connected.load(Ordering::Relaxed)
    }
}

/// 48 kHz stereo WAV, left at 0.5 and right at 0.1 (so a channel swap shows), the low tone
/// then the high one.
fn write_marked_wav(path: &Path) {
    let mut samples: Vec<i16> = Vec::new();
    let mut phase = 0f64;
    for (hz, secs) in [(LOW_HZ, SWITCH_S), (HIGH_HZ, 4.0)] {
        for _ in 0..(secs * 48_000.0) as usize {
            let s = phase.sin();
            phase += 2.0 * std::f64::consts::PI * hz as f64 / 48_000.0;
            samples.push((s * 0.5 * 32767.0) as i16);
            samples.push((s * 0.1 * 32767.0) as i16);
        }
    }
    let data_len = (samples.len() * 2) as u32;
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&48_000u32.to_le_bytes());
    b.extend_from_slice(&(48_000u32 * 4).to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        b.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, b).unwrap();
}

/// RMS of each channel and the pitch of the left one, over the last half of a decoded
/// packet (its first part is the encoder's look-ahead: audio of the packet before).
fn features(pcm: &[f32]) -> (f32, f32, f32) {
    let half = &pcm[pcm.len() / 2..];
    let ch = |c: usize| -> Vec<f32> { half.iter().skip(c).step_by(2).copied().collect() };
    let (l, r) = (ch(0), ch(1));
    let rms = |v: &[f32]| (v.iter().map(|s| s * s).sum::<f32>() / v.len().max(1) as f32).sqrt();
    let crossings = l
        .windows(2)
        .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
        .count();
    let hz = crossings as f32 / 2.0 / (l.len() as f32 / 48_000.0);
    (rms(&l), rms(&r), hz)
}

#[derive(Clone, Copy, Debug)]
enum Change {
    Volume,
    Filter,
    Seek,
}

impl Change {
    fn command(self) -> PlayerCommand {
        match self {
            Change::Volume => PlayerCommand::SetVolume(20),
            Change::Filter => PlayerCommand::SetFilters(Box::new(basalt_dsp::Filters {
                channel_mix: Some(basalt_dsp::ChannelMix {
                    left_to_left: 0.0,
                    left_to_right: 1.0,
                    right_to_left: 1.0,
                    right_to_right: 0.0,
                }),
                ..Default::default()
            })),
            Change::Seek => PlayerCommand::Seek((SWITCH_S * 1000.0) as i64 + 1500),
        }
    }

    fn undo(self) -> PlayerCommand {
        match self {
            Change::Volume => PlayerCommand::SetVolume(100),
            Change::Filter => PlayerCommand::SetFilters(Box::default()),
            Change::Seek => PlayerCommand::Seek(500),
        }
    }

    /// Whether a packet's features show the change, given the left level before it.
    fn shows(self, (l, r, hz): (f32, f32, f32), base_left: f32) -> bool {
        let audible = l.max(r) > 0.02;
        match self {
            Change::Volume => l > 0.05 * base_left && l < 0.5 * base_left,
            Change::Filter => audible && r > l,
            Change::Seek => audible && hz > (LOW_HZ + HIGH_HZ) / 2.0,
        }
    }
}

struct Setup {
    engine: Engine,
    player: PlayerHandle,
    log: Arc<Log>,
}

fn start(path: &Path) -> Setup {
    let mut config = test_config();
    // The node's default quality: the encode cost of a real player.
    config.player.opus_encoding_quality = 10;
    let engine = Engine::start_with_opener(&config, file_opener()).unwrap();
    let (tx, rx) = crossbeam::channel::unbounded();
    let player = engine.create_player(7, tx);
    let log = Arc::new(Log::default());
    log.connected.store(true, Ordering::Relaxed);
    player.send(PlayerCommand::AttachSink(Box::new(StampSink(log.clone()))));
    player.send(PlayerCommand::Play(PlayRequest {
        track: track(path, 8000),
        start_ms: 0,
        end_ms: None,
        paused: false,
    }));
    match rx.recv_timeout(Duration::from_secs(5)).unwrap().kind {
        PlayerEventKind::TrackStart { .. } => {}
        other => panic!("expected TrackStart, got {other:?}"),
    }
    Setup {
        engine,
        player,
        log,
    }
}

impl Setup {
    fn count(&self) -> usize {
        self.log.ticks.lock().unwrap().len()
    }

    fn wait_ticks(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.count() < n {
            assert!(Instant::now() < deadline, "only {} ticks", self.count());
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Applies `change`; returns (pacer ticks after the command before the one that sent
    /// the changed packet, ms from the command to that packet).
    fn measure(
        &self,
        change: Change,
        dec: &mut opus2::Decoder,
        decoded: &mut usize,
    ) -> (usize, f64) {
        let mut pcm = vec![0f32; 5760 * 2];
        let mut decode_new = |dec: &mut opus2::Decoder, decoded: &mut usize| {
            let ticks = self.log.ticks.lock().unwrap().clone();
            let mut out = Vec::new();
            for (at, p) in &ticks[*decoded..] {
                let f = p.as_ref().map(|p| {
                    let n = dec.decode_float(p, &mut pcm, false).unwrap();
                    features(&pcm[..n * 2])
                });
                out.push((*at, f));
            }
            *decoded = ticks.len();
            out
        };
        self.wait_ticks(self.count() + 10);
        let before: Vec<(Instant, (f32, f32, f32))> = decode_new(dec, decoded)
            .into_iter()
            .filter_map(|(at, f)| Some((at, f?)))
            .collect();
        let mut lefts: Vec<f32> = before.iter().rev().take(8).map(|(_, f)| f.0).collect();
        lefts.sort_by(f32::total_cmp);
        let base = lefts[lefts.len() / 2];
        assert!(
            !before
                .iter()
                .rev()
                .take(8)
                .any(|(_, f)| change.shows(*f, base)),
            "{change:?} already heard before the command"
        );
        let sent = Instant::now();
        self.player.send(change.command());
        self.wait_ticks(self.count() + 8);
        let after = decode_new(dec, decoded);
        let mut k = 0;
        for (at, f) in after {
            if at < sent {
                continue;
            }
            if f.is_some_and(|f| change.shows(f, base)) {
                let ms = at.duration_since(sent).as_secs_f64() * 1e3;
                self.player.send(change.undo());
                return (k, ms);
            }
            k += 1;
        }
        panic!("{change:?} not heard within 8 ticks");
    }
}

#[test]
fn a_change_is_heard_in_the_next_packet() {
    let dir = tmpdir("change-latency");
    let path = dir.join("marked.wav");
    write_marked_wav(&path);
    let s = start(&path);
    let mut dec = opus2::Decoder::new(48_000, opus2::Channels::Stereo).unwrap();
    let mut decoded = 0;
    s.wait_ticks(25);
    let mut report = Vec::new();
    for round in 0..3 {
        for change in [Change::Volume, Change::Filter, Change::Seek] {
            let (k, ms) = s.measure(change, &mut dec, &mut decoded);
            report.push(format!(
                "{change:?} round {round}: tick {k} after the command, {ms:.1} ms"
            ));
            eprintln!("{}", report.last().unwrap());
            assert!(
                k < 2,
                "{change:?} heard only at tick {k} after the command ({ms:.1} ms):\n{}",
                report.join("\n")
            );
        }
    }
    s.engine.shutdown();
}
