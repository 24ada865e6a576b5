//! `config.toml`: the node's configuration model and its defaults.
//!
//! Key names are fixed (tools outside the repo write them); each maps to a Lavalink
//! `application.yml` key, named in `config.toml`'s comments. Loading, environment
//! overrides (`BASALT_SECTION_KEY`) and validation live in `load`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub sources: SourcesConfig,
    pub filters: FiltersConfig,
    pub player: PlayerConfig,
    pub voice: VoiceConfig,
    pub metrics: MetricsConfig,
    pub ratelimit: RateLimitConfig,
    pub http: HttpProxyConfig,
    pub timeouts: TimeoutsConfig,
    pub logging: LoggingConfig,
    /// `[youtube]`: client chains and overrides, PO token (sources.md §6).
    pub youtube: crate::source::youtube::YoutubeConfig,
    /// The route planner made from `[ratelimit]`, shared by every clone of this
    /// configuration so sources and the REST routes see the same instance. Not a key.
    #[serde(skip)]
    pub planner: crate::net::routeplanner::PlannerCell,
    pub soundcloud: crate::source::soundcloud::SoundCloudConfig,
    /// `[plugins.<name>]`: checked and parsed by `crate::plugin::config`.
    #[serde(skip)]
    pub plugins: crate::plugin::config::PluginsConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub address: String,
    pub port: u16,
    /// Required: start-up refuses to run without one.
    pub password: Option<String>,
    /// Threads running REST handlers (requests reach them fully read).
    pub workers: u32,
    /// Open client connections in all (above: 503 and close).
    pub max_connections: u32,
    /// Open connections from one address not in `rate_limit_allow` (above: 429).
    pub max_connections_per_ip: u32,
    /// Request line plus headers (above: 431).
    pub max_header_bytes: u32,
    /// Request body (above: 413, never read).
    pub max_body_bytes: u32,
    /// Time for a whole request line + headers once the first byte came.
    pub header_timeout_ms: u32,
    /// Time for a whole request body once the headers came.
    pub body_timeout_ms: u32,
    /// An idle keep-alive connection is closed after this.
    pub idle_timeout_ms: u32,
    /// A client that does not take a response or WebSocket message within this is dropped.
    pub write_timeout_ms: u32,
    /// Largest WebSocket message and frame a client may send (v4 clients send almost nothing).
    pub ws_max_message_bytes: u32,
    /// WebSocket messages (pings included) a client may send per second before it is closed.
    pub ws_max_messages_per_s: u32,
    /// Sustained requests per second per address not in `rate_limit_allow` (above: 429).
    pub requests_per_s_per_ip: u32,
    /// Requests an address may send at once before `requests_per_s_per_ip` applies.
    pub request_burst_per_ip: u32,
    /// Failed authentications per minute per address before it gets 429 for a while.
    pub auth_failures_per_min_per_ip: u32,
    /// Addresses no rate or connection limit applies to.
    pub rate_limit_allow: Vec<String>,
    /// Threads running track loads; at most this many REST workers wait on loads.
    pub loaders: u32,
    /// A load not done within this answers a load error (the REST worker is freed).
    pub load_timeout_ms: u32,
    /// Longest a graceful drain (SIGTERM, `POST /v4/drain`) waits for playing tracks.
    pub drain_timeout_s: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            address: "0.0.0.0".into(),
            port: 2333,
            password: None,
            workers: 16,
            max_connections: 4096,
            max_connections_per_ip: 64,
            max_header_bytes: 16 * 1024,
            max_body_bytes: 1 << 20,
            header_timeout_ms: 10_000,
            body_timeout_ms: 30_000,
            idle_timeout_ms: 60_000,
            write_timeout_ms: 10_000,
            ws_max_message_bytes: 64 * 1024,
            ws_max_messages_per_s: 50,
            requests_per_s_per_ip: 20,
            request_burst_per_ip: 100,
            auth_failures_per_min_per_ip: 10,
            rate_limit_allow: vec!["127.0.0.1".into(), "::1".into()],
            loaders: 4,
            load_timeout_ms: 20_000,
            drain_timeout_s: 30,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourcesConfig {
    pub youtube: bool,
    pub soundcloud: bool,
    pub bandcamp: bool,
    pub twitch: bool,
    pub vimeo: bool,
    pub nico: bool,
    pub http: bool,
    pub local: bool,
}

impl Default for SourcesConfig {
    fn default() -> Self {
        SourcesConfig {
            youtube: true,
            soundcloud: true,
            bandcamp: true,
            twitch: true,
            vimeo: true,
            nico: false,
            http: true,
            local: false,
        }
    }
}

/// One switch per filter; a disabled filter is rejected in PATCH and hidden in `/v4/info`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FiltersConfig {
    pub volume: bool,
    pub equalizer: bool,
    pub karaoke: bool,
    pub timescale: bool,
    pub tremolo: bool,
    pub vibrato: bool,
    pub distortion: bool,
    pub rotation: bool,
    pub channel_mix: bool,
    pub low_pass: bool,
    /// Extra filters (plugins.md §7.3). `echo` covers LavaDSPX's `pluginFilters.echo` and
    /// the top-level `echo`.
    pub echo: bool,
    #[serde(rename = "high-pass")]
    pub lavadspx_high_pass: bool,
    #[serde(rename = "low-pass")]
    pub lavadspx_low_pass: bool,
    pub normalization: bool,
    pub high_pass: bool,
    pub chorus: bool,
    pub flanger: bool,
    pub phaser: bool,
    pub compressor: bool,
    pub spatial: bool,
    pub reverb: bool,
}

impl Default for FiltersConfig {
    fn default() -> Self {
        FiltersConfig {
            volume: true,
            equalizer: true,
            karaoke: true,
            timescale: true,
            tremolo: true,
            vibrato: true,
            distortion: true,
            rotation: true,
            channel_mix: true,
            low_pass: true,
            echo: true,
            lavadspx_high_pass: true,
            lavadspx_low_pass: true,
            normalization: true,
            high_pass: true,
            chorus: true,
            flanger: true,
            phaser: true,
            compressor: true,
            spatial: true,
            reverb: true,
        }
    }
}

impl FiltersConfig {
    /// Enabled filters by their JSON names, in Lavalink's `/v4/info` order.
    pub fn enabled_names(&self) -> Vec<&'static str> {
        self.all()
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(n, _)| n)
            .collect()
    }

    /// Whether the filter with this JSON name (e.g. `channelMix`) is enabled.
    /// Names that are not built-in filters (plugin filters) are enabled.
    pub fn is_enabled(&self, json_name: &str) -> bool {
        self.all()
            .into_iter()
            .find(|(n, _)| *n == json_name)
            .map(|(_, on)| on)
            .unwrap_or(true)
    }

    /// Every filter by JSON name in `/v4/info` order: the ten built-ins, LavaDSPX's four
    /// (`echo` also names the top-level echo), then the top-level extras.
    fn all(&self) -> [(&'static str, bool); 21] {
        [
            ("volume", self.volume),
            ("equalizer", self.equalizer),
            ("karaoke", self.karaoke),
            ("timescale", self.timescale),
            ("tremolo", self.tremolo),
            ("vibrato", self.vibrato),
            ("distortion", self.distortion),
            ("rotation", self.rotation),
            ("channelMix", self.channel_mix),
            ("lowPass", self.low_pass),
            ("echo", self.echo),
            ("high-pass", self.lavadspx_high_pass),
            ("low-pass", self.lavadspx_low_pass),
            ("normalization", self.normalization),
            ("highPass", self.high_pass),
            ("chorus", self.chorus),
            ("flanger", self.flanger),
            ("phaser", self.phaser),
            ("compressor", self.compressor),
            ("spatial", self.spatial),
            ("reverb", self.reverb),
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResamplingQuality {
    Low,
    Medium,
    High,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlayerConfig {
    pub buffer_duration_ms: u32,
    pub frame_buffer_duration_ms: u32,
    /// Opus encoder complexity 0–10.
    pub opus_encoding_quality: u8,
    pub resampling_quality: ResamplingQuality,
    pub track_stuck_threshold_ms: u64,
    pub use_seek_ghosting: bool,
    pub player_update_interval_s: u64,
    pub youtube_playlist_load_limit: u32,
    pub youtube_search_enabled: bool,
    pub soundcloud_search_enabled: bool,
    /// Run the pacer thread at SCHED_FIFO when the process may.
    pub realtime_pacer: bool,
    /// Decode worker threads; 0 = one per core.
    pub decode_workers: usize,
    /// Filter + encode worker threads; 0 = one per core.
    pub encode_workers: usize,
    /// Cores for the pacer and workers (`"2-5,8"`); "" = no pinning (`crate::affinity`).
    pub cpu_affinity: String,
    /// End every player's path with the look-ahead limiter instead of the soft clip.
    pub limiter: bool,
    /// Most pacer threads (shards of the 20 ms clock); 0 = one per two cores. A shard runs
    /// only once the ones before it hold `pacer_players_per_thread` players.
    pub pacer_threads: usize,
    /// Players a pacer thread takes before the next one starts; 0 = 1,000.
    pub pacer_players_per_thread: usize,
}

impl Default for PlayerConfig {
    fn default() -> Self {
        PlayerConfig {
            buffer_duration_ms: 400,
            frame_buffer_duration_ms: 5000,
            opus_encoding_quality: 10,
            resampling_quality: ResamplingQuality::Low,
            track_stuck_threshold_ms: 10_000,
            use_seek_ghosting: true,
            player_update_interval_s: 5,
            youtube_playlist_load_limit: 6,
            youtube_search_enabled: true,
            soundcloud_search_enabled: true,
            realtime_pacer: true,
            decode_workers: 0,
            encode_workers: 0,
            cpu_affinity: String::new(),
            limiter: false,
            pacer_threads: 0,
            pacer_players_per_thread: 0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct VoiceConfig {
    /// Accept `ws://HOST:PORT` voice endpoints as given (local test servers only).
    pub allow_insecure_endpoints: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    pub prometheus: bool,
    pub prometheus_endpoint: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            prometheus: false,
            prometheus_endpoint: "/metrics".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    pub ip_blocks: Vec<String>,
    pub excluded_ips: Vec<String>,
    pub strategy: String,
    pub search_triggers_fail: bool,
    pub retry_limit: i32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            ip_blocks: Vec::new(),
            excluded_ips: Vec::new(),
            strategy: "RotateOnBan".into(),
            search_triggers_fail: true,
            retry_limit: -1,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpProxyConfig {
    pub proxy_host: String,
    pub proxy_port: u16,
    pub proxy_user: String,
    pub proxy_password: String,
    /// A PEM file of extra root certificates trusted for every outbound HTTPS connection,
    /// besides the built-in roots ("" = none).
    pub ca_file: String,
    /// `[http.headers."<host>"]`: fixed headers added to every request to that host.
    pub headers: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
}

impl Default for HttpProxyConfig {
    fn default() -> Self {
        HttpProxyConfig {
            proxy_host: String::new(),
            proxy_port: 3128,
            proxy_user: String::new(),
            proxy_password: String::new(),
            ca_file: String::new(),
            headers: Default::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeoutsConfig {
    pub connect_timeout_ms: u64,
    pub connection_request_timeout_ms: u64,
    pub socket_timeout_ms: u64,
}

impl Default for TimeoutsConfig {
    fn default() -> Self {
        TimeoutsConfig {
            connect_timeout_ms: 3000,
            connection_request_timeout_ms: 3000,
            socket_timeout_ms: 3000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// error | warn | info | debug | trace
    pub level: String,
    /// Also append log lines to this file ("" = stderr only).
    pub file: String,
    /// Log one line per REST request.
    pub request_logging: bool,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            level: "info".into(),
            file: String::new(),
            request_logging: true,
        }
    }
}

// ---------------------------------------------------------------------------------
// Loading and validation

/// Why the configuration cannot be used. Each message is one line naming the key, the
/// value and where it came from (the file, or the environment variable and the file).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {file}: {error}")]
    Io { file: String, error: std::io::Error },
    #[error("{file}:{line}:{column}: invalid TOML: {message}")]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{origin}: unknown key `{key}` = {value}")]
    UnknownKey {
        origin: String,
        key: String,
        value: String,
    },
    #[error("{origin}: `{key}` = {value}: expected {expected}")]
    WrongType {
        origin: String,
        key: String,
        value: String,
        expected: &'static str,
    },
    #[error("{origin}: `{key}` = {value} is out of range ({allowed})")]
    OutOfRange {
        origin: String,
        key: String,
        value: String,
        allowed: String,
    },
    #[error("{origin}: `{key}` = {value}: {reason}")]
    Invalid {
        origin: String,
        key: String,
        value: String,
        reason: String,
    },
    #[error(
        "{file}: `server.password` is required (set it in the file or with BASALT_SERVER_PASSWORD)"
    )]
    MissingPassword { file: String },
    #[error("{file}: {message}")]
    Other { file: String, message: String },
}

/// Loads `path` (TOML), applies `BASALT_SECTION_KEY` environment overrides and
/// validates everything. A missing file means built-in defaults (logged); a password
/// is always required.
pub fn load(path: &std::path::Path) -> Result<Config, ConfigError> {
    // vars_os: a variable that is not valid Unicode (never one of ours) must not panic.
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    load_with_env(path, env)
}

/// `load` with an explicit environment (tests; the process environment is global).
pub fn load_with_env(
    path: &std::path::Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    crate::logging::install();
    let file = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            log::info!("No configuration file at {file}; using built-in defaults");
            None
        }
        Err(error) => return Err(ConfigError::Io { file, error }),
    };
    // Lavalink's application.yml, as is: translated to config.toml text first.
    let text = match text {
        Some(t) if crate::lavalink_yaml::is_yaml(path) => {
            let tr = crate::lavalink_yaml::translate(&t, &file, &schema())?;
            if !tr.ignored.is_empty() {
                log::warn!(
                    "{file}: Lavalink keys Basalt does not use, ignored: {}",
                    tr.ignored.join(", ")
                );
            }
            Some(tr.toml)
        }
        other => other,
    };
    from_parts(text.as_deref(), &file, env)
}

/// Parses, overrides and validates. `text` None = no file (defaults).
pub fn from_parts(
    text: Option<&str>,
    file: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    use toml::Value;

    let schema = schema();
    let mut table = match text {
        Some(t) => parse_toml(t, file)?,
        None => toml::Table::new(),
    };
    // `[plugins.*]` nests deeper than the core sections: its own module checks it.
    let plugins = table.remove("plugins");
    // Where each value came from, for error messages.
    let mut origins: std::collections::HashMap<String, String> = Default::default();

    // The file: known sections and keys, right types.
    for (section, v) in table.iter_mut() {
        let Some(keys) = schema.get(section).and_then(Value::as_table) else {
            return Err(ConfigError::UnknownKey {
                origin: file.into(),
                key: section.clone(),
                value: show(v),
            });
        };
        let Value::Table(entries) = v else {
            return Err(ConfigError::WrongType {
                origin: file.into(),
                key: section.clone(),
                value: show(v),
                expected: "a table",
            });
        };
        for (key, val) in entries.iter_mut() {
            let full = format!("{section}.{key}");
            let Some(default) = keys.get(key) else {
                return Err(ConfigError::UnknownKey {
                    origin: file.into(),
                    key: full,
                    value: show(val),
                });
            };
            check_type(val, default, &full, file)?;
            origins.insert(full, file.into());
        }
    }

    // Environment overrides: BASALT_<SECTION>_<KEY>. Variables whose second part is not
    // a section (e.g. a launcher's BASALT_HOME) are not ours and are left alone.
    let mut env: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("BASALT_"))
        .collect();
    env.sort();
    for (name, raw) in env {
        let rest = name["BASALT_".len()..].to_ascii_lowercase();
        let Some((section, key)) = rest.split_once('_') else {
            continue;
        };
        let Some(keys) = schema.get(section).and_then(Value::as_table) else {
            continue;
        };
        let origin = format!("environment variable {name} (overriding {file})");
        let full = format!("{section}.{key}");
        let Some(default) = keys.get(key) else {
            return Err(ConfigError::UnknownKey {
                origin,
                key: full,
                value: format!("{raw:?}"),
            });
        };
        let mut val = env_value(&raw, default);
        check_type(&mut val, default, &full, &origin)?;
        let entry = table
            .entry(section.to_string())
            .or_insert_with(|| Value::Table(Default::default()));
        if let Value::Table(t) = entry {
            t.insert(key.to_string(), val);
        }
        origins.insert(full, origin);
    }

    // Ranges and formats.
    for (section, v) in table.iter_mut() {
        let Value::Table(entries) = v else { continue };
        for (key, val) in entries.iter_mut() {
            let full = format!("{section}.{key}");
            let origin = origins.get(&full).map_or(file, String::as_str);
            check_value(&full, val, origin)?;
        }
    }

    let mut config: Config = Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::Other {
            file: file.into(),
            message: one_line(e.message()),
        })?;

    match config.server.password.as_deref() {
        Some(p) if !p.is_empty() => {}
        _ => return Err(ConfigError::MissingPassword { file: file.into() }),
    }
    apply_lavalink_substitutions(&mut config.player);
    config.plugins = crate::plugin::config::from_toml(plugins, file)?;
    Ok(config)
}

/// Values Lavalink accepts but replaces (spec §10.4); we do the same, with a warning,
/// instead of refusing to start.
fn apply_lavalink_substitutions(p: &mut PlayerConfig) {
    // bufferDurationMs: ≤ 0 disables the native send buffer (kept as 0), < 40 → 400.
    if (1..40).contains(&p.buffer_duration_ms) {
        log::warn!(
            "player.buffer_duration_ms = {} is below 40; using 400 as Lavalink does",
            p.buffer_duration_ms
        );
        p.buffer_duration_ms = 400;
    }
    // frameBufferDurationMs: < 200 → default.
    if p.frame_buffer_duration_ms < 200 {
        log::warn!(
            "player.frame_buffer_duration_ms = {} is below 200; using 5000 as Lavalink does",
            p.frame_buffer_duration_ms
        );
        p.frame_buffer_duration_ms = 5000;
    }
    // trackStuckThresholdMs: < 100 → default.
    if p.track_stuck_threshold_ms < 100 {
        log::warn!(
            "player.track_stuck_threshold_ms = {} is below 100; using 10000 as Lavalink does",
            p.track_stuck_threshold_ms
        );
        p.track_stuck_threshold_ms = 10_000;
    }
}

/// Every section and key with its default value (the type to expect), taken from
/// `Config::default()` so that a field added to a struct is known here too.
fn schema() -> toml::Table {
    let mut t = match toml::Value::try_from(Config::default()) {
        Ok(toml::Value::Table(t)) => t,
        _ => toml::Table::new(),
    };
    // `password` has no default (None is not serialised) but is a string.
    if let Some(toml::Value::Table(server)) = t.get_mut("server") {
        server.insert("password".into(), toml::Value::String(String::new()));
    }
    t
}

fn parse_toml(text: &str, file: &str) -> Result<toml::Table, ConfigError> {
    toml::from_str::<toml::Table>(text).map_err(|e| {
        let (line, column) = match e.span() {
            Some(span) => {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                (line, column)
            }
            None => (0, 0),
        };
        ConfigError::Syntax {
            file: file.into(),
            line,
            column,
            message: one_line(e.message()),
        }
    })
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A value as TOML would write it, shortened for one-line messages.
fn show(v: &toml::Value) -> String {
    let s = match v {
        toml::Value::Table(_) => "{…}".to_string(),
        other => one_line(&other.to_string()),
    };
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

fn type_name(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a number",
        toml::Value::Boolean(_) => "a boolean (true/false)",
        toml::Value::Datetime(_) => "a date",
        toml::Value::Array(_) => "a list of strings",
        toml::Value::Table(_) => "a table",
    }
}

/// Checks `val` has the type of `default` (an integer is fine where a number is
/// expected; list items must be strings).
fn check_type(
    val: &mut toml::Value,
    default: &toml::Value,
    key: &str,
    origin: &str,
) -> Result<(), ConfigError> {
    use toml::Value;
    let ok = match (default, &*val) {
        (Value::Float(_), Value::Integer(i)) => {
            *val = Value::Float(*i as f64);
            true
        }
        (Value::Array(_), Value::Array(items)) => items.iter().all(Value::is_str),
        (d, v) => std::mem::discriminant(d) == std::mem::discriminant(v),
    };
    if ok {
        Ok(())
    } else {
        Err(ConfigError::WrongType {
            origin: origin.into(),
            key: key.into(),
            value: show(val),
            expected: type_name(default),
        })
    }
}

/// An environment value as a TOML literal, else as a plain string. For string keys a
/// non-string literal (`BASALT_SERVER_PASSWORD=1234`) is taken as the raw text; for
/// lists a bare `a,b` is split at commas.
fn env_value(raw: &str, default: &toml::Value) -> toml::Value {
    use toml::Value;
    let literal = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"));
    match (default, literal) {
        (Value::String(_), Some(Value::String(s))) => Value::String(s),
        (Value::String(_), _) => Value::String(raw.to_string()),
        (Value::Array(_), Some(v @ Value::Array(_))) => v,
        (Value::Array(_), _) => Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.into()))
                .collect(),
        ),
        (Value::Boolean(_), None) if raw.eq_ignore_ascii_case("true") => Value::Boolean(true),
        (Value::Boolean(_), None) if raw.eq_ignore_ascii_case("false") => Value::Boolean(false),
        (_, Some(v)) => v,
        (_, None) => Value::String(raw.to_string()),
    }
}

/// Per-key ranges and formats. Integers also have to fit their field's type; keys
/// without an entry here are bounded by that alone.
fn check_value(key: &str, val: &mut toml::Value, origin: &str) -> Result<(), ConfigError> {
    use toml::Value;
    let range = |lo: i64, hi: i64| -> Option<(i64, i64)> { Some((lo, hi)) };
    const U32: i64 = u32::MAX as i64;
    const I32: i64 = i32::MAX as i64;
    let bounds = match key {
        "server.port" | "http.proxy_port" => range(1, 65_535),
        // Opus complexity. Lavalink silently uses 10 for values outside 0–10; we refuse
        // to start instead (an out-of-range value is a mistake worth a clear message).
        "player.opus_encoding_quality" => range(0, 10),
        // Seconds between playerUpdate ops: 0 would mean a busy loop.
        "player.player_update_interval_s" => range(1, 86_400),
        "player.buffer_duration_ms" | "player.frame_buffer_duration_ms" => range(0, 60_000),
        "player.track_stuck_threshold_ms" => range(0, U32),
        "player.youtube_playlist_load_limit" => range(0, U32),
        "youtube.media_chunk_bytes" => range(1024, I32),
        "player.decode_workers" | "player.encode_workers" | "player.pacer_threads" => range(0, 256),
        "player.pacer_players_per_thread" => range(0, 1_000_000),
        "ratelimit.retry_limit" => range(i32::MIN as i64, I32),
        "server.workers" | "server.loaders" => range(1, 256),
        "server.load_timeout_ms" => range(100, 3_600_000),
        "server.drain_timeout_s" => range(0, 86_400),
        "server.max_connections" | "server.max_connections_per_ip" => range(1, 1_000_000),
        "server.max_header_bytes" => range(1024, 1 << 20),
        "server.max_body_bytes" => range(1024, 256 << 20),
        "server.ws_max_message_bytes" => range(1024, 16 << 20),
        "server.header_timeout_ms"
        | "server.body_timeout_ms"
        | "server.idle_timeout_ms"
        | "server.write_timeout_ms" => range(100, 3_600_000),
        "server.ws_max_messages_per_s"
        | "server.requests_per_s_per_ip"
        | "server.request_burst_per_ip"
        | "server.auth_failures_per_min_per_ip" => range(1, 1_000_000),
        "timeouts.connect_timeout_ms"
        | "timeouts.connection_request_timeout_ms"
        | "timeouts.socket_timeout_ms" => range(0, I32),
        _ => None,
    };
    if let (Some((lo, hi)), Value::Integer(i)) = (bounds, &*val) {
        if *i < lo || *i > hi {
            return Err(ConfigError::OutOfRange {
                origin: origin.into(),
                key: key.into(),
                value: i.to_string(),
                allowed: format!("{lo}–{hi}"),
            });
        }
        return Ok(());
    }
    let invalid = |val: &Value, reason: String| ConfigError::Invalid {
        origin: origin.into(),
        key: key.into(),
        value: show(val),
        reason,
    };
    // Case-insensitive choices, normalised to the spelling the field expects.
    let choices: &[&str] = match key {
        "player.resampling_quality" => &["low", "medium", "high"],
        "logging.level" => &["error", "warn", "info", "debug", "trace", "off"],
        "ratelimit.strategy" => &[
            "RotateOnBan",
            "LoadBalance",
            "NanoSwitch",
            "RotatingNanoSwitch",
        ],
        _ => &[],
    };
    if !choices.is_empty() {
        let s = val.as_str().unwrap_or_default();
        return match choices.iter().find(|c| c.eq_ignore_ascii_case(s.trim())) {
            Some(c) => {
                *val = Value::String((*c).to_string());
                Ok(())
            }
            None => Err(invalid(
                val,
                format!("expected one of {}", choices.join(", ")),
            )),
        };
    }
    match key {
        "server.rate_limit_allow" => {
            let items = val.as_array().cloned().unwrap_or_default();
            if let Some(bad) = items.iter().find(|v| {
                v.as_str()
                    .and_then(|s| s.trim().parse::<std::net::IpAddr>().ok())
                    .is_none()
            }) {
                return Err(invalid(bad, "expected IP addresses".into()));
            }
        }
        "server.address" => {
            let s = val.as_str().unwrap_or_default();
            if s.is_empty() || s.chars().any(char::is_whitespace) {
                return Err(invalid(val, "expected an IP address or host name".into()));
            }
        }
        "player.cpu_affinity" => {
            if let Err(reason) = crate::affinity::parse(val.as_str().unwrap_or_default()) {
                return Err(invalid(
                    val,
                    format!("expected cores like \"2-5,8\": {reason}"),
                ));
            }
        }
        "metrics.prometheus_endpoint" => {
            let s = val.as_str().unwrap_or_default();
            if !s.starts_with('/') || s.chars().any(char::is_whitespace) {
                return Err(invalid(val, "expected a path starting with /".into()));
            }
        }
        "ratelimit.ip_blocks" => {
            for item in val.as_array().into_iter().flatten() {
                let s = item.as_str().unwrap_or_default();
                if !is_cidr(s) {
                    return Err(invalid(
                        val,
                        format!("{s:?} is not an IP block (e.g. 1.2.3.0/24)"),
                    ));
                }
            }
        }
        "http.ca_file" => {
            let s = val.as_str().unwrap_or_default();
            if !s.is_empty() {
                if let Err(reason) = crate::net::read_ca_file(s) {
                    return Err(invalid(val, reason));
                }
            }
        }
        "http.headers" => {
            for (host, h) in val.as_table().into_iter().flatten() {
                let ok = h
                    .as_table()
                    .is_some_and(|t| t.values().all(toml::Value::is_str));
                if !ok || host.is_empty() {
                    return Err(invalid(
                        val,
                        format!("[http.headers.{host:?}] must be a table of header = \"value\""),
                    ));
                }
            }
        }
        "ratelimit.excluded_ips" => {
            for item in val.as_array().into_iter().flatten() {
                let s = item.as_str().unwrap_or_default();
                if s.parse::<std::net::IpAddr>().is_err() {
                    return Err(invalid(val, format!("{s:?} is not an IP address")));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn is_cidr(s: &str) -> bool {
    let Some((addr, bits)) = s.split_once('/') else {
        return false;
    };
    let Ok(bits) = bits.parse::<u8>() else {
        return false;
    };
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => bits <= 32,
        Ok(std::net::IpAddr::V6(_)) => bits <= 128,
        Err(_) => false,
    }
}
