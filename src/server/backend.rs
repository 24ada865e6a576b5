//! What the control plane needs from the rest of the node, as small traits.
//!
//! The HTTP/WebSocket layer only talks to these, so tests can drive it with fakes and the
//! real engine, sources and voice plug in without touching the routes.

use std::sync::Arc;

use crossbeam::channel::Sender;

use crate::player::{FrameSink, GuildId, PlayerEvent, PlayerHandle};
use crate::source::LoadResult;
use crate::track::TrackData;

/// Creates engine players (the real one is `engine::Engine`).
pub trait PlayerFactory: Send + Sync {
    fn create_player(&self, guild_id: GuildId, events: Sender<PlayerEvent>) -> PlayerHandle;
    /// Stop every player and join the engine's threads.
    fn shutdown(&self) {}
}

/// Resolves identifiers (the real one is `source::SourceManager`).
pub trait TrackLoader: Send + Sync {
    /// `sourceName`s of the registered sources, in registration order.
    fn source_names(&self) -> Vec<&'static str>;
    /// Blocking; may take seconds for network sources.
    fn load(&self, identifier: &str) -> LoadResult;
    /// A config reload: switch sources on and off as `config` says (SIGHUP).
    fn reload(&self, _config: &crate::config::Config) {}
    /// The built-in YouTube source while it is enabled, for youtube-source's `/youtube…`
    /// routes (the caller downcasts it).
    fn youtube(&self) -> Option<std::sync::Arc<dyn crate::source::Source>> {
        None
    }
    /// Whether a decoded blob belongs here (Lavalink answers `decodetrack` and PATCH with
    /// 500 otherwise): its source is registered (and, for http/local, its probe known).
    /// Any layout Basalt knows decodes, registered source or not (issue 9 departs from
    /// Lavalink's 500 here); http/local need a probe that exists.
    fn can_decode(&self, track: &TrackData) -> bool {
        let registered = self
            .source_names()
            .contains(&track.info.source_name.as_str());
        match track.info.source_name.as_str() {
            "http" | "local" => registered && crate::source::descriptor_known(track),
            _ => registered || crate::track::known_layout(track),
        }
    }
}

/// Voice data of a PATCH, validated (all four present and non-blank).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceData {
    pub token: String,
    pub endpoint: String,
    pub session_id: String,
    pub channel_id: String,
}

/// Why a voice connect failed, as the control plane answers it.
#[derive(Debug, thiserror::Error)]
pub enum VoiceConnectError {
    /// The endpoint is not allowed (e.g. `ws://` without `allow_insecure_endpoints`) → 400.
    #[error("{0}")]
    Rejected(String),
    /// Anything else → 500 "Failed to connect to voice server".
    #[error("{0}")]
    Failed(String),
}

/// One guild's voice connection as the control plane sees it.
pub trait VoiceLink: Send {
    fn sink(&self) -> Box<dyn FrameSink>;
    fn is_connected(&self) -> bool;
    /// Gateway round trip, −1 while not connected.
    fn ping_ms(&self) -> i64;
    fn close(&self);
}

/// Connects guilds to Discord voice (the real one is `voice::VoiceManager`).
pub trait VoiceConnector: Send + Sync {
    /// Blocks until the voice handshake is done or failed.
    fn connect(
        &self,
        user_id: u64,
        guild_id: GuildId,
        voice: &VoiceData,
        events: Sender<PlayerEvent>,
    ) -> Result<Box<dyn VoiceLink>, VoiceConnectError>;
    /// Checks the voice data without connecting (a bad endpoint or channel id → 400).
    fn check(&self, _voice: &VoiceData) -> Result<(), VoiceConnectError> {
        Ok(())
    }
    fn shutdown(&self) {}
}

/// The three collaborators of the control plane.
#[derive(Clone)]
pub struct Backend {
    pub players: Arc<dyn PlayerFactory>,
    pub loader: Arc<dyn TrackLoader>,
    pub voice: Arc<dyn VoiceConnector>,
}

// ---------------------------------------------------------------------------------------
// The real collaborators.

impl PlayerFactory for crate::engine::Engine {
    fn create_player(&self, guild_id: GuildId, events: Sender<PlayerEvent>) -> PlayerHandle {
        crate::engine::Engine::create_player(self, guild_id, events)
    }
    fn shutdown(&self) {
        crate::engine::Engine::shutdown(self)
    }
}

impl TrackLoader for crate::source::SourceManager {
    fn source_names(&self) -> Vec<&'static str> {
        crate::source::SourceManager::source_names(self)
    }
    fn load(&self, identifier: &str) -> LoadResult {
        crate::source::SourceManager::load(self, identifier)
    }
    fn reload(&self, config: &crate::config::Config) {
        crate::source::SourceManager::reload(self, config);
    }
    fn youtube(&self) -> Option<std::sync::Arc<dyn crate::source::Source>> {
        self.source("youtube")
    }
    /// Any blob whose layout Basalt knows decodes, enabled source or not (playing one of
    /// a disabled source then fails that track with an exception, not the request); a
    /// registered source may accept layouts of its own.
    fn can_decode(&self, track: &TrackData) -> bool {
        match track.info.source_name.as_str() {
            // A descriptor naming a probe that does not exist cannot be replayed (Lavalink).
            "http" | "local" => crate::source::descriptor_known(track),
            _ => {
                crate::track::known_layout(track)
                    || crate::source::SourceManager::can_decode(self, track)
            }
        }
    }
}

impl VoiceLink for crate::voice::VoiceConnection {
    fn sink(&self) -> Box<dyn FrameSink> {
        crate::voice::VoiceConnection::sink(self)
    }
    fn is_connected(&self) -> bool {
        crate::voice::VoiceConnection::is_connected(self)
    }
    fn ping_ms(&self) -> i64 {
        crate::voice::VoiceConnection::ping_ms(self)
    }
    fn close(&self) {
        crate::voice::VoiceConnection::close(self)
    }
}

impl VoiceConnector for crate::voice::VoiceManager {
    fn connect(
        &self,
        user_id: u64,
        guild_id: GuildId,
        voice: &VoiceData,
        events: Sender<PlayerEvent>,
    ) -> Result<Box<dyn VoiceLink>, VoiceConnectError> {
        let info = crate::voice::VoiceServerInfo {
            token: voice.token.clone(),
            endpoint: voice.endpoint.clone(),
            session_id: voice.session_id.clone(),
            channel_id: voice.channel_id.clone(),
        };
        match crate::voice::VoiceManager::connect(self, user_id, guild_id, info, events) {
            Ok(c) => Ok(Box::new(c)),
            Err(e @ crate::voice::VoiceError::InsecureEndpoint(_)) => {
                Err(VoiceConnectError::Rejected(e.to_string()))
            }
            Err(e) => Err(VoiceConnectError::Failed(e.to_string())),
        }
    }
    fn check(&self, voice: &VoiceData) -> Result<(), VoiceConnectError> {
        crate::voice::VoiceManager::check(self, &voice.endpoint, &voice.channel_id)
            .map_err(|e| VoiceConnectError::Rejected(e.to_string()))
    }
    fn shutdown(&self) {
        crate::voice::VoiceManager::shutdown(self)
    }
}

impl Backend {
    /// The production wiring: engine players, all configured sources, Discord voice.
    pub fn real(
        engine: Arc<crate::engine::Engine>,
        sources: Arc<crate::source::SourceManager>,
        voice: Arc<crate::voice::VoiceManager>,
    ) -> Backend {
        Backend {
            players: engine,
            loader: sources,
            voice,
        }
    }
}
