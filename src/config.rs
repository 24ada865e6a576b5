//! `config.toml`: the node's configuration model and its defaults.
//!
//! Key names are fixed (tools outside the repo write them); each maps to a Lavalink
//! `application.yml` key, named in `config.toml`'s comments. Loading, environment
//! overrides (`BASALT_SECTION_KEY`) and validation live in `load`.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, Default)]
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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub address: String,
    pub port: u16,
    /// Required: start-up refuses to run without one.
    pub password: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig { address: "0.0.0.0".into(), port: 2333, password: None }
    }
}

#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
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
        }
    }
}

impl FiltersConfig {
    /// Enabled filters by their JSON names, in Lavalink's `/v4/info` order.
    pub fn enabled_names(&self) -> Vec<&'static str> {
        self.all().into_iter().filter(|(_, on)| *on).map(|(n, _)| n).collect()
    }

    /// Whether the filter with this JSON name (e.g. `channelMix`) is enabled.
    /// Names that are not built-in filters (plugin filters) are enabled.
    pub fn is_enabled(&self, json_name: &str) -> bool {
        self.all().into_iter().find(|(n, _)| *n == json_name).map(|(_, on)| on).unwrap_or(true)
    }

    fn all(&self) -> [(&'static str, bool); 10] {
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
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResamplingQuality {
    Low,
    Medium,
    High,
}

#[derive(Debug, Clone, Deserialize)]
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
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct VoiceConfig {
    /// Accept `ws://HOST:PORT` voice endpoints as given (local test servers only).
    pub allow_insecure_endpoints: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    pub prometheus: bool,
    pub prometheus_endpoint: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { prometheus: false, prometheus_endpoint: "/metrics".into() }
    }
}

#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpProxyConfig {
    pub proxy_host: String,
    pub proxy_port: u16,
    pub proxy_user: String,
    pub proxy_password: String,
}

impl Default for HttpProxyConfig {
    fn default() -> Self {
        HttpProxyConfig {
            proxy_host: String::new(),
            proxy_port: 3128,
            proxy_user: String::new(),
            proxy_password: String::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
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
        LoggingConfig { level: "info".into(), file: String::new(), request_logging: true }
    }
}
