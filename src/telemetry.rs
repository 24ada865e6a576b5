//! Basalt's own Prometheus families (`basalt_*`): what an operator acts on — frames
//! sent, silent or missed, pacing lateness, per-frame encode and decode cost, voice
//! health, track failures, loads and HTTP traffic.
//!
//! Every figure is a static atomic that the pipeline bumps with one relaxed
//! `fetch_add` (no lock, no allocation) and the scrape only reads, so scraping costs the
//! audio path nothing. Label values come from fixed lists (no guild or session ids):
//! anything outside a list is counted under `other`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// A monotonically increasing count.
pub struct Counter(AtomicU64);

impl Counter {
    pub const fn new() -> Counter {
        Counter(AtomicU64::new(0))
    }
    #[inline]
    pub fn inc(&self) {
        self.0.fetch_add(1, Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

impl Default for Counter {
    fn default() -> Self {
        Counter::new()
    }
}

/// Most buckets a histogram has (its bounds plus `+Inf`).
const MAX_BUCKETS: usize = 12;

/// A histogram of durations with fixed upper bounds (ns); observations are counted in
/// their first bucket whose bound they do not exceed, cumulated only when rendered.
pub struct Histogram {
    bounds_ns: &'static [u64],
    buckets: [AtomicU64; MAX_BUCKETS],
    sum_ns: AtomicU64,
}

impl Histogram {
    pub const fn new(bounds_ns: &'static [u64]) -> Histogram {
        assert!(bounds_ns.len() < MAX_BUCKETS);
        Histogram {
            bounds_ns,
            buckets: [const { AtomicU64::new(0) }; MAX_BUCKETS],
            sum_ns: AtomicU64::new(0),
        }
    }

    #[inline]
    pub fn observe(&self, d: Duration) {
        self.observe_ns(d.as_nanos().min(u64::MAX as u128) as u64);
    }

    #[inline]
    pub fn observe_ns(&self, ns: u64) {
        let mut i = 0;
        while i < self.bounds_ns.len() && ns > self.bounds_ns[i] {
            i += 1;
        }
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(ns, Relaxed);
    }

    /// (cumulative counts per bound then `+Inf`, sum in seconds).
    fn snapshot(&self) -> (Vec<u64>, f64) {
        let mut acc = 0;
        let counts = (0..=self.bounds_ns.len())
            .map(|i| {
                acc += self.buckets[i].load(Relaxed);
                acc
            })
            .collect();
        (counts, self.sum_ns.load(Relaxed) as f64 / 1e9)
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Relaxed)).sum()
    }
}

const MS: u64 = 1_000_000;
const US: u64 = 1_000;
/// Pacer wake-up lateness: sub-millisecond is healthy, 5 ms is the budget's limit.
const LATENESS_BOUNDS: &[u64] = &[
    100 * US,
    250 * US,
    500 * US,
    MS,
    2 * MS,
    5 * MS,
    10 * MS,
    20 * MS,
    50 * MS,
    100 * MS,
];
/// Per-frame codec cost: tens of µs is normal, 20 ms (a frame's duration) is a stall.
const CODEC_BOUNDS: &[u64] = &[
    25 * US,
    50 * US,
    100 * US,
    250 * US,
    500 * US,
    MS,
    2 * MS,
    5 * MS,
    10 * MS,
    20 * MS,
];
/// Track loads go to the network: tens of ms to seconds.
const LOAD_BOUNDS: &[u64] = &[
    25 * MS,
    50 * MS,
    100 * MS,
    250 * MS,
    500 * MS,
    1000 * MS,
    2500 * MS,
    5000 * MS,
    10_000 * MS,
    30_000 * MS,
];

// ---------------------------------------------------------------------------------
// Label sets

/// Source names a label may take (the rest are `other`).
pub const SOURCES: &[&str] = &[
    "youtube",
    "soundcloud",
    "bandcamp",
    "twitch",
    "vimeo",
    "nico",
    "http",
    "local",
    "spotify",
    "applemusic",
    "deezer",
    "other",
];
const N_SOURCES: usize = 12;

fn source_index(name: &str) -> usize {
    SOURCES
        .iter()
        .position(|s| s.eq_ignore_ascii_case(name))
        .unwrap_or(N_SOURCES - 1)
}

pub const LOAD_RESULTS: &[&str] = &["track", "playlist", "search", "empty", "error"];
pub const SEVERITIES: &[&str] = &["common", "suspicious", "fault"];
pub const RECONNECT_REASONS: &[&str] = &[
    "connection_lost",
    "voice_server_crashed",
    "server_restart",
    "other_close",
];
pub const FRAME_RESULTS: &[&str] = &["sent", "silence", "missed"];

/// REST routes by template (ids replaced), then the WebSocket, the scrape, the rest.
pub const ROUTES: &[&str] = &[
    "/version",
    "/v4/info",
    "/v4/stats",
    "/v4/loadtracks",
    "/v4/decodetrack",
    "/v4/decodetracks",
    "/v4/sessions/{sessionId}",
    "/v4/sessions/{sessionId}/players",
    "/v4/sessions/{sessionId}/players/{guildId}",
    "/v4/routeplanner/status",
    "/v4/routeplanner/free/address",
    "/v4/routeplanner/free/all",
    "/v4/drain",
    "/v4/websocket",
    "metrics",
    "other",
];
const N_ROUTES: usize = 16;
/// Status codes the node answers with; anything else is `other`.
const STATUSES: &[u16] = &[
    101, 200, 204, 400, 401, 403, 404, 405, 413, 415, 429, 500, 503,
];
const N_STATUSES: usize = 14;

// ---------------------------------------------------------------------------------
// The figures

static FRAMES: [Counter; 3] = [const { Counter::new() }; 3];
pub static PACING_LATENESS: Histogram = Histogram::new(LATENESS_BOUNDS);
pub static ENCODE: Histogram = Histogram::new(CODEC_BOUNDS);
pub static DECODE: Histogram = Histogram::new(CODEC_BOUNDS);
static VOICE_CONNECTED: AtomicU64 = AtomicU64::new(0);
static VOICE_RECONNECTING: AtomicU64 = AtomicU64::new(0);
static RECONNECTS: [Counter; 4] = [const { Counter::new() }; 4];
pub static VOICE_UDP_SEND_ERRORS: Counter = Counter::new();
static TRACK_EXCEPTIONS: [[Counter; 3]; N_SOURCES] =
    [const { [const { Counter::new() }; 3] }; N_SOURCES];
pub static TRACK_STUCK: Counter = Counter::new();
static LOADS: [[Counter; 5]; N_SOURCES] = [const { [const { Counter::new() }; 5] }; N_SOURCES];
static LOAD_SECONDS: [Histogram; N_SOURCES] = [const { Histogram::new(LOAD_BOUNDS) }; N_SOURCES];
static HTTP: [[Counter; N_STATUSES]; N_ROUTES] =
    [const { [const { Counter::new() }; N_STATUSES] }; N_ROUTES];
pub static RATELIMIT_REJECTIONS: Counter = Counter::new();

// ---------------------------------------------------------------------------------
// Hooks (one call at each site)

/// The pacer sent a frame to a voice connection.
#[inline]
pub fn frame_sent() {
    FRAMES[0].inc();
}

/// The pacer had no frame for a connected player: silence when it is not playing
/// (paused, no track), missed when it is (the pipeline fell behind).
#[inline]
pub fn frame_empty(playing: bool) {
    FRAMES[if playing { 2 } else { 1 }].inc();
}

/// One pacer tick's totals of `frame_sent` / `frame_empty` (a shard adds them once per
/// tick rather than once per player).
#[inline]
pub fn frames_paced(sent: u64, silent: u64, missed: u64) {
    for (i, n) in [sent, silent, missed].into_iter().enumerate() {
        if n > 0 {
            FRAMES[i].0.fetch_add(n, Relaxed);
        }
    }
}

/// Runs one decode step and records its cost per 20 ms stereo frame produced
/// (`pushed` interleaved samples; 1,920 per frame).
#[inline]
pub fn timed_decode<E>(
    step: impl FnOnce() -> Result<crate::decode::Fill, E>,
) -> Result<crate::decode::Fill, E> {
    let t0 = Instant::now();
    let r = step();
    if let Ok(f) = &r {
        if f.pushed > 0 {
            let ns = t0.elapsed().as_nanos() as u64;
            DECODE.observe_ns(
                ns.saturating_mul(crate::audio_format::FRAME_SAMPLES as u64) / f.pushed as u64,
            );
        }
    }
    r
}

/// Runs one Opus encode (one frame) and records its cost.
#[inline]
pub fn timed_encode<T>(encode: impl FnOnce() -> T) -> T {
    let t0 = Instant::now();
    let r = encode();
    ENCODE.observe(t0.elapsed());
    r
}

/// The voice I/O worker's current connection counts (it publishes them as they change).
pub fn voice_connections(connected: usize, reconnecting: usize) {
    VOICE_CONNECTED.store(connected as u64, Relaxed);
    VOICE_RECONNECTING.store(reconnecting as u64, Relaxed);
}

/// A voice gateway connection was lost with `code` and a reconnect starts.
pub fn voice_reconnect(code: u16, by_remote: bool) {
    let reason = match code {
        _ if !by_remote || code == 1006 => 0,
        4015 => 1,
        1000 | 1001 => 2,
        _ => 3,
    };
    RECONNECTS[reason].inc();
}

/// A track failed (TrackExceptionEvent) with this source and severity.
pub fn track_exception(source: &str, severity: crate::track::Severity) {
    use crate::track::Severity;
    let s = match severity {
        Severity::Common => 0,
        Severity::Suspicious => 1,
        Severity::Fault => 2,
    };
    TRACK_EXCEPTIONS[source_index(source)][s].inc();
}

/// A `/v4/loadtracks` finished: result kind, source (of the tracks, else guessed from
/// the identifier's search prefix) and time taken.
pub fn load_done(identifier: &str, result: &crate::source::LoadResult, took: Duration) {
    use crate::source::LoadResult;
    let (kind, first) = match result {
        LoadResult::Track(t) => (0, Some(t)),
        LoadResult::Playlist { tracks, .. } => (1, tracks.first()),
        LoadResult::Search(tracks) => (2, tracks.first()),
        LoadResult::Empty => (3, None),
        LoadResult::Error(_) => (4, None),
    };
    let source = match first {
        Some(t) => source_index(&t.info.source_name),
        None => source_index(source_of_identifier(identifier)),
    };
    LOADS[source][kind].inc();
    LOAD_SECONDS[source].observe(took);
}

/// The source an identifier targets, from its search prefix or URL host.
fn source_of_identifier(id: &str) -> &'static str {
    let id = id.trim();
    let prefix = id
        .split_once(':')
        .map_or("", |(p, _)| p)
        .to_ascii_lowercase();
    match prefix.as_str() {
        "ytsearch" | "ytmsearch" => return "youtube",
        "scsearch" => return "soundcloud",
        "bcsearch" => return "bandcamp",
        "spsearch" | "sprec" => return "spotify",
        "amsearch" => return "applemusic",
        "dzsearch" | "dzisrc" | "dzrec" => return "deezer",
        "http" | "https" => {}
        _ => {
            return if id.starts_with('/') {
                "local"
            } else {
                "other"
            }
        }
    }
    let host = id
        .split_once("://")
        .map_or("", |(_, r)| r.split(['/', '?', '#']).next().unwrap_or(""))
        .to_ascii_lowercase();
    let known: &[(&str, &str)] = &[
        ("youtube.com", "youtube"),
        ("youtu.be", "youtube"),
        ("soundcloud.com", "soundcloud"),
        ("bandcamp.com", "bandcamp"),
        ("twitch.tv", "twitch"),
        ("vimeo.com", "vimeo"),
        ("nicovideo.jp", "nico"),
        ("spotify.com", "spotify"),
        ("music.apple.com", "applemusic"),
        ("deezer.com", "deezer"),
    ];
    known
        .iter()
        .find(|(h, _)| host == *h || host.ends_with(&format!(".{h}")))
        .map_or("http", |(_, s)| s)
}

/// The TrackStuckEvent was sent.
pub fn track_stuck() {
    TRACK_STUCK.inc();
}

/// An HTTP response was sent for `path` (None: before routing, e.g. refused auth).
pub fn http_request(path: Option<&str>, metrics_path: bool, status: u16) {
    let route = if metrics_path {
        N_ROUTES - 2
    } else {
        path.map_or(N_ROUTES - 1, route_index)
    };
    let s = STATUSES
        .iter()
        .position(|c| *c == status)
        .unwrap_or(N_STATUSES - 1);
    HTTP[route][s].inc();
}

fn route_index(path: &str) -> usize {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let template = match segs.as_slice() {
        ["version"] => "/version",
        ["v4", "info"] => "/v4/info",
        ["v4", "stats"] => "/v4/stats",
        ["v4", "loadtracks"] => "/v4/loadtracks",
        ["v4", "decodetrack"] => "/v4/decodetrack",
        ["v4", "decodetracks"] => "/v4/decodetracks",
        ["v4", "sessions", _] => "/v4/sessions/{sessionId}",
        ["v4", "sessions", _, "players"] => "/v4/sessions/{sessionId}/players",
        ["v4", "sessions", _, "players", _] => "/v4/sessions/{sessionId}/players/{guildId}",
        ["v4", "routeplanner", "status"] => "/v4/routeplanner/status",
        ["v4", "routeplanner", "free", "address"] => "/v4/routeplanner/free/address",
        ["v4", "routeplanner", "free", "all"] => "/v4/routeplanner/free/all",
        ["v4", "websocket"] => "/v4/websocket",
        ["v4", "drain"] => "/v4/drain",
        _ => "other",
    };
    ROUTES
        .iter()
        .position(|r| *r == template)
        .unwrap_or(N_ROUTES - 1)
}

// ---------------------------------------------------------------------------------
// Exposition

/// Figures only the scrape can compute (they live in the control plane).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScrapeFigures {
    pub playing: u64,
    pub paused: u64,
    pub idle: u64,
    /// Route planner addresses currently marked failing (None: planner disabled).
    pub failing_addresses: Option<u64>,
    /// Per loaded WASM filter: players it faulted for (trap, overrun, memory, error).
    pub wasm_faults: Vec<(String, u64)>,
}

/// Appends the `basalt_*` families to a scrape body; `wanted` is the `name[]` filter.
pub fn render_into(out: &mut String, f: &ScrapeFigures, wanted: &dyn Fn(&str) -> bool) {
    let head = |out: &mut String, name: &str, kind: &str, help: &str| -> bool {
        // The filter names families or their samples (`x_bucket`, `x_sum`, `x_count`).
        let sample = |suffix: &str| wanted(&format!("{name}{suffix}"));
        if !(wanted(name)
            || (kind == "histogram" && ["_bucket", "_sum", "_count"].into_iter().any(sample)))
        {
            return false;
        }
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        true
    };
    if head(
        out,
        "basalt_frames_total",
        "counter",
        "Pacer ticks per connected player: frame sent, silence (not playing) or missed (playing, no frame ready).",
    ) {
        for (i, r) in FRAME_RESULTS.iter().enumerate() {
            let _ = writeln!(out, "basalt_frames_total{{result=\"{r}\"}} {}", FRAMES[i].get());
        }
    }
    if head(
        out,
        "basalt_pacing_lateness_seconds",
        "histogram",
        "How late the pacer woke for each 20 ms tick.",
    ) {
        histogram(out, "basalt_pacing_lateness_seconds", "", &PACING_LATENESS);
    }
    if head(
        out,
        "basalt_encode_seconds",
        "histogram",
        "Opus encode time per 20 ms frame.",
    ) {
        histogram(out, "basalt_encode_seconds", "", &ENCODE);
    }
    if head(
        out,
        "basalt_decode_seconds",
        "histogram",
        "Decode and resample time per 20 ms of stereo PCM produced.",
    ) {
        histogram(out, "basalt_decode_seconds", "", &DECODE);
    }
    if head(out, "basalt_players", "gauge", "Players by state.") {
        for (s, v) in [
            ("playing", f.playing),
            ("paused", f.paused),
            ("idle", f.idle),
        ] {
            let _ = writeln!(out, "basalt_players{{state=\"{s}\"}} {v}");
        }
    }
    if head(
        out,
        "basalt_voice_connections",
        "gauge",
        "Voice gateway connections: connected, or reconnecting after a drop.",
    ) {
        for (s, a) in [
            ("connected", &VOICE_CONNECTED),
            ("reconnecting", &VOICE_RECONNECTING),
        ] {
            let _ = writeln!(
                out,
                "basalt_voice_connections{{state=\"{s}\"}} {}",
                a.load(Relaxed)
            );
        }
    }
    if head(
        out,
        "basalt_voice_reconnects_total",
        "counter",
        "Voice gateway reconnects started, by why the connection ended.",
    ) {
        for (i, r) in RECONNECT_REASONS.iter().enumerate() {
            let _ = writeln!(
                out,
                "basalt_voice_reconnects_total{{reason=\"{r}\"}} {}",
                RECONNECTS[i].get()
            );
        }
    }
    if head(
        out,
        "basalt_voice_udp_send_errors_total",
        "counter",
        "Voice UDP packets the socket refused to send.",
    ) {
        let _ = writeln!(
            out,
            "basalt_voice_udp_send_errors_total {}",
            VOICE_UDP_SEND_ERRORS.get()
        );
    }
    if head(
        out,
        "basalt_track_exceptions_total",
        "counter",
        "TrackExceptionEvents by source and severity.",
    ) {
        for (si, s) in SOURCES.iter().enumerate() {
            for (vi, v) in SEVERITIES.iter().enumerate() {
                let n = TRACK_EXCEPTIONS[si][vi].get();
                let _ = writeln!(
                    out,
                    "basalt_track_exceptions_total{{source=\"{s}\",severity=\"{v}\"}} {n}"
                );
            }
        }
    }
    if head(
        out,
        "basalt_track_stuck_total",
        "counter",
        "TrackStuckEvents sent.",
    ) {
        let _ = writeln!(out, "basalt_track_stuck_total {}", TRACK_STUCK.get());
    }
    if head(
        out,
        "basalt_loads_total",
        "counter",
        "Track loads (/v4/loadtracks) by source and result.",
    ) {
        for (si, s) in SOURCES.iter().enumerate() {
            for (ri, r) in LOAD_RESULTS.iter().enumerate() {
                let n = LOADS[si][ri].get();
                let _ = writeln!(
                    out,
                    "basalt_loads_total{{source=\"{s}\",result=\"{r}\"}} {n}"
                );
            }
        }
    }
    if head(
        out,
        "basalt_load_seconds",
        "histogram",
        "Track load time by source.",
    ) {
        for (si, s) in SOURCES.iter().enumerate() {
            histogram(
                out,
                "basalt_load_seconds",
                &format!("source=\"{s}\","),
                &LOAD_SECONDS[si],
            );
        }
    }
    if head(
        out,
        "basalt_http_requests_total",
        "counter",
        "HTTP responses by route template and status code.",
    ) {
        for (ri, r) in ROUTES.iter().enumerate() {
            for (si, counter) in HTTP[ri].iter().enumerate() {
                let n = counter.get();
                if n == 0 {
                    continue; // 15 × 14 mostly-empty series would only be noise
                }
                let status = STATUSES.get(si).map_or("other".to_string(), u16::to_string);
                let _ = writeln!(
                    out,
                    "basalt_http_requests_total{{route=\"{r}\",status=\"{status}\"}} {n}"
                );
            }
        }
    }
    if head(
        out,
        "basalt_ratelimit_rejections_total",
        "counter",
        "Requests refused by the node's rate limiter.",
    ) {
        let _ = writeln!(
            out,
            "basalt_ratelimit_rejections_total {}",
            RATELIMIT_REJECTIONS.get() + crate::server::limits::rejections().total()
        );
    }
    if let Some(n) = f.failing_addresses {
        if head(
            out,
            "basalt_routeplanner_failing_addresses",
            "gauge",
            "Route planner addresses currently marked failing (banned).",
        ) {
            let _ = writeln!(out, "basalt_routeplanner_failing_addresses {n}");
        }
    }
    if head(
        out,
        "basalt_engine_threads_dead",
        "gauge",
        "Engine threads (decode, encode, pacer, helpers) lost to a panic outside a player's step; their players get no more frames.",
    ) {
        let _ = writeln!(
            out,
            "basalt_engine_threads_dead {}",
            crate::engine::dead_threads()
        );
    }
    if head(
        out,
        "basalt_wasm_filter_faults_total",
        "counter",
        "Players a loaded WASM filter was switched off for (trap, deadline overrun, memory growth, error code).",
    ) {
        for (name, n) in &f.wasm_faults {
            let _ = writeln!(out, "basalt_wasm_filter_faults_total{{filter=\"{name}\"}} {n}");
        }
    }
}

/// `_bucket` lines (cumulative, `le` in seconds), `_sum` and `_count`. `labels` is
/// empty or `key="value",` (placed before `le`).
fn histogram(out: &mut String, name: &str, labels: &str, h: &Histogram) {
    let (counts, sum) = h.snapshot();
    for (i, c) in counts.iter().enumerate() {
        let le = match h.bounds_ns.get(i) {
            Some(ns) => format!("{}", *ns as f64 / 1e9),
            None => "+Inf".into(),
        };
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{le}\"}} {c}");
    }
    let plain = labels.trim_end_matches(',');
    let braces = if plain.is_empty() {
        String::new()
    } else {
        format!("{{{plain}}}")
    };
    let _ = writeln!(out, "{name}_sum{braces} {sum}");
    let _ = writeln!(
        out,
        "{name}_count{braces} {}",
        counts.last().copied().unwrap_or(0)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    static H: Histogram = Histogram::new(&[MS, 10 * MS]);

    #[test]
    fn histogram_cumulates_and_sums() {
        H.observe(Duration::from_micros(500));
        H.observe(Duration::from_millis(1));
        H.observe(Duration::from_millis(5));
        H.observe(Duration::from_secs(1));
        let mut s = String::new();
        histogram(&mut s, "x", "", &H);
        assert_eq!(
            s,
            "x_bucket{le=\"0.001\"} 2\nx_bucket{le=\"0.01\"} 3\nx_bucket{le=\"+Inf\"} 4\n\
             x_sum 1.0065\nx_count 4\n"
        );
        assert_eq!(H.count(), 4);
    }

    #[test]
    fn labels_are_bounded() {
        assert_eq!(SOURCES[source_index("YouTube")], "youtube");
        assert_eq!(SOURCES[source_index("some-plugin-source")], "other");
        assert_eq!(
            ROUTES[route_index("/v4/sessions/abc/players/123")],
            "/v4/sessions/{sessionId}/players/{guildId}"
        );
        assert_eq!(
            ROUTES[route_index("/v4/sessions/abc")],
            "/v4/sessions/{sessionId}"
        );
        assert_eq!(ROUTES[route_index("/v4/lyrics/xyz/zzz")], "other");
        assert_eq!(source_of_identifier("ytsearch:never gonna"), "youtube");
        assert_eq!(
            source_of_identifier("https://www.youtube.com/watch?v=x"),
            "youtube"
        );
        assert_eq!(source_of_identifier("https://example.com/a.mp3"), "http");
        assert_eq!(source_of_identifier("/srv/music/a.flac"), "local");
        assert_eq!(source_of_identifier("gibberish"), "other");
        assert_eq!(ROUTES.len(), N_ROUTES);
        assert_eq!(SOURCES.len(), N_SOURCES);
        assert_eq!(STATUSES.len() + 1, N_STATUSES);
    }
}
