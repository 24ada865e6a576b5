//! One node's benchmark: players created over the standard API, a measuring window at each
//! player count (CPU and RSS of the node's pid, lateness and delivery at the fake voice
//! server), then the change tests on a few players, and the ramp's choice of the next count.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::fakevoice::{FakeVoice, SESSION, TOKEN};
use crate::measure::{self, Change, Spread};
use crate::node::Node;
use crate::progress::Progress;
use crate::sysproc;

/// A run passes with at least this share of frames delivered...
pub const MIN_DELIVERY: f64 = 0.99;
/// ...and a p99 pacing lateness under this.
pub const MAX_P99_MS: f64 = 5.0;

#[derive(Clone, Debug)]
pub struct Settings {
    pub seconds: f64,
    pub warmup: f64,
    pub change_players: usize,
    pub ramp: bool,
    pub players: usize,
    pub max_players: usize,
}

/// One node under test.
pub struct Target {
    pub url: String,
    pub password: String,
    pub pid: Option<u32>,
}

#[derive(Clone, Debug)]
pub struct PlayerFigures {
    pub guild: u64,
    pub delivered: u64,
    /// Packets without audio (Opus silence) in the window: the node had nothing to send.
    pub silence: u64,
    pub expected: u64,
    pub lateness: Option<Spread>,
}

/// Latency in ms of one change kind, one entry per watched player (None: not heard in time).
pub type ChangeLatency = (Change, Vec<Option<f64>>);

#[derive(Clone, Debug)]
pub struct RunFigures {
    pub players: usize,
    pub cpu_percent: Option<f64>,
    pub rss_mib: Option<f64>,
    /// RSS above the node's idle RSS (before the first player), per player.
    pub rss_mib_per_player: Option<f64>,
    pub lateness: Option<Spread>,
    pub delivered: u64,
    pub silence: u64,
    pub expected: u64,
    /// Change latency in ms per change kind, one entry per watched player (None: not seen).
    pub changes: Vec<ChangeLatency>,
    pub bench_cpu_percent: f64,
    pub per_player: Vec<PlayerFigures>,
    pub errors: Vec<String>,
}

impl RunFigures {
    pub fn delivery(&self) -> f64 {
        if self.expected == 0 {
            0.0
        } else {
            self.delivered as f64 / self.expected as f64
        }
    }
    pub fn pass(&self) -> bool {
        self.delivery() >= MIN_DELIVERY && self.lateness.is_some_and(|l| l.p99 < MAX_P99_MS)
    }
}

pub struct NodeReport {
    pub url: String,
    pub version: String,
    pub pid: Option<u32>,
    pub idle_rss_mib: Option<f64>,
    pub runs: Vec<RunFigures>,
    pub error: Option<String>,
}

impl NodeReport {
    /// The most players of a passing run.
    pub fn max_passing(&self) -> Option<usize> {
        self.runs
            .iter()
            .filter(|r| r.pass())
            .map(|r| r.players)
            .max()
    }
}

/// Guild ids: a block per node so nodes never share a player on the voice server.
fn guild(node_index: usize, player: usize) -> u64 {
    800_000_000_000_000_000 + node_index as u64 * 1_000_000 + player as u64
}

struct Bench<'a> {
    node: Node,
    voice: &'a FakeVoice,
    track: String,
    node_index: usize,
    pid: Option<u32>,
    active: usize,
    settings: &'a Settings,
    progress: &'a mut Progress,
    idle_rss: Option<f64>,
}

pub fn run_node(
    target: &Target,
    node_index: usize,
    media_url: &str,
    voice: &FakeVoice,
    settings: &Settings,
    progress: &mut Progress,
) -> NodeReport {
    let mut report = NodeReport {
        url: target.url.clone(),
        version: String::new(),
        pid: target.pid,
        idle_rss_mib: None,
        runs: Vec::new(),
        error: None,
    };
    let node = match Node::connect(&target.url, &target.password) {
        Ok(n) => n,
        Err(e) => {
            report.error = Some(e);
            return report;
        }
    };
    report.pid = target.pid.or_else(|| {
        node.addr
            .ip()
            .is_loopback()
            .then(|| sysproc::pid_listening_on(node.addr.port()))
            .flatten()
    });
    report.version = node.version().unwrap_or_else(|e| format!("unknown ({e})"));
    let track = match node.load(media_url) {
        Ok(t) => t,
        Err(e) => {
            report.error = Some(e);
            return report;
        }
    };
    report.idle_rss_mib = report.pid.and_then(sysproc::rss_mib);
    let mut b = Bench {
        node,
        voice,
        track,
        node_index,
        pid: report.pid,
        active: 0,
        settings,
        progress,
        idle_rss: report.idle_rss_mib,
    };
    let result = if settings.ramp {
        b.ramp(&mut report.runs)
    } else {
        b.measure(settings.players).map(|r| report.runs.push(r))
    };
    if let Err(e) = result {
        report.error = Some(e);
    }
    b.set_players(0).ok();
    report
}

impl Bench<'_> {
    /// Doubles the players while runs pass, then bisects between the last pass and the
    /// first failure to within an eighth.
    fn ramp(&mut self, runs: &mut Vec<RunFigures>) -> Result<(), String> {
        let max = self.settings.max_players.max(1);
        let mut best = 0usize;
        let mut fail: Option<usize> = None;
        let mut n = 1usize;
        loop {
            let r = self.measure(n)?;
            let pass = r.pass();
            runs.push(r);
            if pass {
                best = best.max(n);
            } else {
                fail = Some(fail.map_or(n, |f| f.min(n)));
            }
            let next = match fail {
                None if n >= max => break,
                None => (n * 2).min(max),
                Some(f) => {
                    let gap = f.saturating_sub(best);
                    if gap <= (best / 8).max(1) {
                        break;
                    }
                    best + gap / 2
                }
            };
            if next == n || runs.iter().any(|r| r.players == next) {
                break;
            }
            n = next;
        }
        Ok(())
    }

    fn player_body(&self) -> Value {
        json!({
            "track": {"encoded": self.track},
            "volume": 100,
            "paused": false,
            "voice": {
                "token": TOKEN,
                "endpoint": self.voice.endpoint,
                "sessionId": SESSION,
                "channelId": "900000000000000001",
            }
        })
    }

    /// Creates or removes players until `n` play, and waits until every one sends audio.
    fn set_players(&mut self, n: usize) -> Result<(), String> {
        while self.active > n {
            self.active -= 1;
            self.node.delete(guild(self.node_index, self.active))?;
        }
        if self.active == n {
            return Ok(());
        }
        let body = self.player_body();
        let first_new = self.active;
        let start_counts: Vec<u64> = {
            let v = self.voice.lock();
            (first_new..n)
                .map(|i| {
                    v.players
                        .get(&guild(self.node_index, i))
                        .map_or(0, |p| p.audio_total)
                })
                .collect()
        };
        for i in first_new..n {
            self.node.patch(guild(self.node_index, i), &body)?;
            self.active = i + 1;
            self.progress.show(
                (i + 1 - first_new) as f64 / (n - first_new) as f64,
                &format!("{n} players: creating"),
            );
        }
        let deadline =
            Instant::now() + Duration::from_secs(20) + Duration::from_millis(50 * n as u64);
        loop {
            let waiting = {
                let v = self.voice.lock();
                (first_new..n)
                    .filter(|&i| {
                        v.players
                            .get(&guild(self.node_index, i))
                            .map_or(0, |p| p.audio_total)
                            <= start_counts[i - first_new] + 2
                    })
                    .count()
            };
            if waiting == 0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                // Players that never started count as undelivered in the run.
                return Ok(());
            }
            self.progress.show(
                1.0 - waiting as f64 / (n - first_new) as f64,
                &format!("{n} players: waiting for audio"),
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn sleep_with_progress(&mut self, secs: f64, what: &str) {
        let start = Instant::now();
        let total = Duration::from_secs_f64(secs);
        while start.elapsed() < total {
            self.progress.show(
                start.elapsed().as_secs_f64() / secs.max(1e-9),
                &format!("{what} {:.0}/{secs:.0} s", start.elapsed().as_secs_f64()),
            );
            std::thread::sleep(Duration::from_millis(100).min(total - start.elapsed().min(total)));
        }
    }

    /// One run at `n` players.
    fn measure(&mut self, n: usize) -> Result<RunFigures, String> {
        self.set_players(n)?;
        self.sleep_with_progress(self.settings.warmup, &format!("{n} players: warm-up"));
        for rec in self.voice.lock().players.values_mut() {
            rec.window.clear();
        }
        let cpu0 = self.pid.and_then(sysproc::cpu_seconds);
        let self0 = sysproc::self_cpu_seconds();
        let t0 = sysproc::realtime_ns();
        self.voice.lock().recording = true;
        self.sleep_with_progress(self.settings.seconds, &format!("{n} players: measuring"));
        self.voice.lock().recording = false;
        let t1 = sysproc::realtime_ns();
        let wall = (t1 - t0) as f64 / 1e9;
        let cpu1 = self.pid.and_then(sysproc::cpu_seconds);
        let self1 = sysproc::self_cpu_seconds();
        let rss = self.pid.and_then(sysproc::rss_mib);
        let expected = ((t1 - t0) / measure::FRAME_NS) as u64;
        let mut per_player = Vec::with_capacity(n);
        let mut all_lateness = Vec::new();
        {
            let mut v = self.voice.lock();
            for i in 0..n {
                let g = guild(self.node_index, i);
                let window = v
                    .players
                    .get_mut(&g)
                    .map(|p| std::mem::take(&mut p.window))
                    .unwrap_or_default();
                let delivered = window.iter().filter(|a| a.audio).count() as u64;
                let silence = window.len() as u64 - delivered;
                let late = measure::lateness_ms(&window);
                all_lateness.extend_from_slice(&late);
                per_player.push(PlayerFigures {
                    guild: g,
                    delivered: delivered.min(expected),
                    silence,
                    expected,
                    lateness: measure::spread(&late),
                });
            }
        }
        let changes = self.change_tests(n)?;
        let mut errors: Vec<String> = self.voice.lock().errors.drain(..).collect();
        {
            let ev = self.node.events.lock().unwrap_or_else(|e| e.into_inner());
            for ty in ["TrackExceptionEvent", "TrackStuckEvent"] {
                if let Some(c) = ev.by_type.get(ty) {
                    errors.push(format!("{c} {ty} so far"));
                }
            }
            if let Some(e) = &ev.last_exception {
                errors.push(format!("last exception: {e}"));
            }
            if ev.closed {
                errors.push("the node closed the WebSocket".into());
            }
        }
        Ok(RunFigures {
            players: n,
            cpu_percent: cpu0.zip(cpu1).map(|(a, b)| (b - a) / wall * 100.0),
            rss_mib: rss,
            rss_mib_per_player: rss
                .zip(self.idle_rss)
                .map(|(r, idle)| (r - idle).max(0.0) / n.max(1) as f64),
            lateness: measure::spread(&all_lateness),
            delivered: per_player.iter().map(|p| p.delivered).sum(),
            silence: per_player.iter().map(|p| p.silence).sum(),
            expected: expected * n as u64,
            changes,
            bench_cpu_percent: (self1 - self0) / wall * 100.0,
            per_player,
            errors,
        })
    }

    /// Volume, filter and seek on the first few players, each PATCH timed to the first
    /// packet whose decoded audio shows it; then the players are put back as they were.
    fn change_tests(&mut self, n: usize) -> Result<Vec<ChangeLatency>, String> {
        let k = self.settings.change_players.min(n);
        let guilds: Vec<u64> = (0..k).map(|i| guild(self.node_index, i)).collect();
        let mut out = Vec::new();
        if k == 0 {
            return Ok(out);
        }
        let mut decoders = Vec::with_capacity(k);
        for _ in 0..k {
            decoders.push(
                opus2::Decoder::new(crate::media::RATE as u32, opus2::Channels::Stereo)
                    .map_err(|e| format!("opus decoder: {e}"))?,
            );
        }
        {
            let mut v = self.voice.lock();
            for g in &guilds {
                v.players.entry(*g).or_default().capture = Some(Vec::new());
            }
        }
        let mut pcm = vec![0i16; 5760 * 2];
        for (step, change) in Change::ALL.into_iter().enumerate() {
            self.progress.show(
                step as f64 / 3.0,
                &format!("{n} players: {} change", change.name()),
            );
            // Level before the PATCH (decoders warm up on the same frames).
            std::thread::sleep(Duration::from_millis(300));
            let mut base = vec![0.0f64; k];
            for (i, g) in guilds.iter().enumerate() {
                let frames = self.take_capture(*g);
                let mut levels = Vec::new();
                for (_, opus) in frames {
                    if let Ok(s) = decoders[i].decode(&opus, &mut pcm, false) {
                        levels.push(measure::features(&pcm[..s * 2]).rms_left);
                    }
                }
                base[i] = measure::percentile(&levels, 0.5).unwrap_or(0.0);
            }
            let body = match change {
                Change::Volume => json!({"volume": 20}),
                Change::Filter => json!({"filters": {"channelMix": {
                    "leftToLeft": 0.0, "leftToRight": 1.0, "rightToLeft": 1.0, "rightToRight": 0.0}}}),
                Change::Seek => json!({"position": crate::media::SEEK_TARGET_MS}),
            };
            let mut sent = vec![0i64; k];
            for (i, g) in guilds.iter().enumerate() {
                sent[i] = sysproc::realtime_ns();
                self.node.patch(*g, &body)?;
            }
            let mut seen: Vec<Option<f64>> = vec![None; k];
            let deadline = Instant::now() + Duration::from_secs(6);
            while seen.iter().any(Option::is_none) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
                for (i, g) in guilds.iter().enumerate() {
                    for (ns, opus) in self.take_capture(*g) {
                        let Ok(s) = decoders[i].decode(&opus, &mut pcm, false) else {
                            continue;
                        };
                        let f = measure::features(&pcm[..s * 2]);
                        if seen[i].is_none() && ns >= sent[i] && change.shows(&f, base[i]) {
                            seen[i] = Some((ns - sent[i]) as f64 / 1e6);
                        }
                    }
                }
            }
            out.push((change, seen));
        }
        {
            let mut v = self.voice.lock();
            for g in &guilds {
                if let Some(p) = v.players.get_mut(g) {
                    p.capture = None;
                }
            }
        }
        let reset = json!({"volume": 100, "filters": {}, "position": 0});
        for g in &guilds {
            self.node.patch(*g, &reset)?;
        }
        Ok(out)
    }

    fn take_capture(&self, g: u64) -> Vec<(i64, Vec<u8>)> {
        self.voice
            .lock()
            .players
            .get_mut(&g)
            .and_then(|p| p.capture.as_mut().map(std::mem::take))
            .unwrap_or_default()
    }
}
