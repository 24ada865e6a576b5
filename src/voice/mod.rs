//! Discord voice: gateway v8, UDP/RTP, transport encryption and DAVE (spec discord-voice.md).
//!
//! One voice I/O thread (`io`) serves every connection's gateway socket (heartbeats, MLS,
//! speaking, close); audio never passes through it. The engine's pacer calls the connection's
//! `FrameSink`, which builds, encrypts and sends each RTP packet itself without blocking,
//! locking or allocating.

pub mod connection;
pub mod crypto;
pub mod dave;
pub mod fuzzing;
pub mod gateway;
pub mod io;
pub mod udp;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use log::warn;

use crate::config::Config;
use crate::player::{FrameSink, GuildId, PlayerEvent};
use connection::ConnShared;

/// The voice credentials the bot forwards in a player PATCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceServerInfo {
    pub token: String,
    pub endpoint: String,
    pub session_id: String,
    pub channel_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    /// A `ws://`/`wss://` endpoint while `[voice] allow_insecure_endpoints` is off (→ 400).
    #[error(
        "voice endpoint {0:?} has a scheme; only allowed with [voice] allow_insecure_endpoints"
    )]
    InsecureEndpoint(String),
    #[error("invalid voice endpoint {0:?}")]
    BadEndpoint(String),
    #[error("invalid channel id {0:?}")]
    BadChannelId(String),
    #[error("voice I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("voice gateway handshake failed: {0}")]
    Handshake(String),
    #[error("voice gateway protocol error: {0}")]
    Protocol(String),
    #[error("voice gateway closed: {code} {reason}")]
    Closed { code: u16, reason: String },
    #[error("timed out connecting to the voice server")]
    Timeout,
    #[error("voice manager is shut down")]
    Shutdown,
}

/// Tunables; `VoiceManager::start` uses the defaults.
#[derive(Debug, Clone)]
pub struct VoiceOptions {
    pub connect_timeout: Duration,
    /// Advertised in Identify; 0 disables DAVE (Discord then closes with 4017 outside Stage
    /// channels — useful only for tests).
    pub max_dave_protocol_version: u16,
}

impl Default for VoiceOptions {
    fn default() -> Self {
        VoiceOptions {
            connect_timeout: Duration::from_secs(10),
            max_dave_protocol_version: davey::DAVE_PROTOCOL_VERSION,
        }
    }
}

/// Owns the voice I/O thread that serves every connection; `shutdown` closes them and joins it.
pub struct VoiceManager {
    allow_insecure: bool,
    options: VoiceOptions,
    shut: AtomicBool,
    io: io::VoiceIo,
}

impl VoiceManager {
    pub fn start(config: &Config) -> Result<VoiceManager, VoiceError> {
        VoiceManager::start_with(config, VoiceOptions::default())
    }

    pub fn start_with(config: &Config, options: VoiceOptions) -> Result<VoiceManager, VoiceError> {
        // wss:// uses rustls' process-wide provider; pin it so a dependency enabling a second
        // provider cannot make TLS set-up ambiguous (an Err just means one is installed).
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let allow_insecure = config.voice.allow_insecure_endpoints;
        if allow_insecure {
            warn!("[voice] allow_insecure_endpoints is on: ws:// voice endpoints are accepted (test servers only)");
        }
        Ok(VoiceManager {
            allow_insecure,
            options,
            shut: AtomicBool::new(false),
            io: io::VoiceIo::start()?,
        })
    }

    /// Blocks until the gateway handshake is done (Ready + Session Description) or fails.
    pub fn connect(
        &self,
        user_id: u64,
        guild_id: GuildId,
        info: VoiceServerInfo,
        events: crossbeam::channel::Sender<PlayerEvent>,
    ) -> Result<VoiceConnection, VoiceError> {
        if self.shut.load(Ordering::Acquire) {
            return Err(VoiceError::Shutdown);
        }
        let url = gateway::gateway_url(&info.endpoint, self.allow_insecure)?;
        let channel_id: u64 = info
            .channel_id
            .trim()
            .parse()
            .map_err(|_| VoiceError::BadChannelId(info.channel_id.clone()))?;
        let params = connection::Params {
            user_id,
            guild_id,
            channel_id,
            info: info.clone(),
            url,
            max_dave_protocol_version: self.options.max_dave_protocol_version,
            connect_timeout: self.options.connect_timeout,
        };
        let gw = connection::handshake(params, events, self.io.waker())?;
        let shared: Arc<ConnShared> = gw.shared().clone();
        self.io.add(gw)?;
        Ok(VoiceConnection { shared, info })
    }

    /// The checks `connect` starts with, without connecting: the endpoint's form and a
    /// numeric channel id (so the control plane can answer 400 before queueing a handshake).
    pub fn check(&self, endpoint: &str, channel_id: &str) -> Result<(), VoiceError> {
        let url = gateway::gateway_url(endpoint, self.allow_insecure)?;
        let uri: tungstenite::http::Uri = url
            .parse()
            .map_err(|_| VoiceError::BadEndpoint(endpoint.to_string()))?;
        if uri.host().is_none_or(str::is_empty) {
            return Err(VoiceError::BadEndpoint(endpoint.to_string()));
        }
        channel_id
            .trim()
            .parse::<u64>()
            .map_err(|_| VoiceError::BadChannelId(channel_id.to_string()))?;
        Ok(())
    }

    pub fn shutdown(&self) {
        self.shut.store(true, Ordering::Release);
        self.io.shutdown();
    }
}

/// Dropping the manager ends its connections and the I/O thread, as `shutdown` does.
impl Drop for VoiceManager {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A live voice connection. Closing (or dropping) it closes the gateway with 1000 and stops
/// the sink; no `VoiceClosed` event is emitted for a close we asked for.
pub struct VoiceConnection {
    shared: Arc<ConnShared>,
    info: VoiceServerInfo,
}

impl VoiceConnection {
    /// A sink for the engine. Every sink of a connection shares one RTP/encryption state, so
    /// handing out a new one (re-attaching a player) continues sequence numbers and nonces.
    pub fn sink(&self) -> Box<dyn FrameSink> {
        Box::new(udp::VoiceSink {
            core: self.shared.core.clone(),
        })
    }

    pub fn info(&self) -> &VoiceServerInfo {
        &self.info
    }

    pub fn is_connected(&self) -> bool {
        self.shared.alive.load(Ordering::Acquire) && self.shared.core.is_ready()
    }

    /// Last measured heartbeat round trip, ms; -1 when not connected.
    pub fn ping_ms(&self) -> i64 {
        if self.is_connected() {
            self.shared.ping_ms.load(Ordering::Relaxed)
        } else {
            -1
        }
    }

    pub fn close(&self) {
        self.shared.request_close();
    }

    /// Send-path counters (tests and benches).
    pub fn send_stats(&self) -> &udp::SendStats {
        &self.shared.core.stats
    }

    /// Number of resume / identify attempts made so far (tests).
    pub fn gateway_attempts(&self) -> (u32, u32) {
        (
            self.shared.resumes.load(Ordering::Relaxed),
            self.shared.identifies.load(Ordering::Relaxed),
        )
    }

    /// Voice I/O worker services of this connection so far (tests: an idle connection must
    /// not spin).
    pub fn gateway_wakeups(&self) -> u32 {
        self.shared.wakeups.load(Ordering::Relaxed)
    }

    /// Test hook: cut the gateway's TCP connection as a network failure would.
    pub fn sever_gateway(&self) {
        self.shared.sever();
    }
}

impl Drop for VoiceConnection {
    fn drop(&mut self) {
        self.close();
    }
}
