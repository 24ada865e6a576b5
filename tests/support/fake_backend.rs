//! A scripted engine, loader and voice for driving the control plane in tests: the
//! engine side of the command/event interface behaves like the real one (event order,
//! PlayerShared) without audio.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use basalt::player::{
    EndReason, FrameSink, GuildId, PlayerCommand, PlayerEvent, PlayerEventKind, PlayerHandle,
    PlayerShared,
};
use basalt::server::backend::{
    Backend, PlayerFactory, TrackLoader, VoiceConnectError, VoiceConnector, VoiceData, VoiceLink,
};
use basalt::source::LoadResult;
use basalt::track::{decode_track, Severity, TrackData, TrackException};
use crossbeam::channel::{self, Sender};

pub const RICK_V3: &str = "QAAA2QMAPFJpY2sgQXN0bGV5IC0gTmV2ZXIgR29ubmEgR2l2ZSBZb3UgVXAgKE9mZmljaWFsIE11c2ljIFZpZGVvKQALUmljayBBc3RsZXkAAAAAAANACAALZFF3NHc5V2dYY1EAAQAraHR0cHM6Ly93d3cueW91dHViZS5jb20vd2F0Y2g/dj1kUXc0dzlXZ1hjUQEANGh0dHBzOi8vaS55dGltZy5jb20vdmkvZFF3NHc5V2dYY1EvbWF4cmVzZGVmYXVsdC5qcGcAAAd5b3V0dWJlAAAAAAAAAAA=";
pub const RICK_V2: &str = "QAAAjQIAJVJpY2sgQXN0bGV5IC0gTmV2ZXIgR29ubmEgR2l2ZSBZb3UgVXAADlJpY2tBc3RsZXlWRVZPAAAAAAADPCAAC2RRdzR3OVdnWGNRAAEAK2h0dHBzOi8vd3d3LnlvdXR1YmUuY29tL3dhdGNoP3Y9ZFF3NHc5V2dYY1EAB3lvdXR1YmUAAAAAAAAAAA==";
pub const HTTP_MP3: &str = "QAAAjQMAC0RlYXRoIG9mIE1lAApTQUlOVCBQSE5YAAAAAAAAdVgAKGh0dHBzOi8vd3d3Lm1ib3hkcml2ZS5jb20vc3RhcnRtdXNpYy5tcDMAAQAoaHR0cHM6Ly93d3cubWJveGRyaXZlLmNvbS9zdGFydG11c2ljLm1wMwAAAARodHRwAANtcDMAAAAAAAAAAA==";
pub const SOUNDCLOUD: &str = "QAABJAMAClRhbGsgYSBMb3QACjQwNHZpbmNlbnQAAAAAAAHr1gBxTzpodHRwczovL2FwaS12Mi5zb3VuZGNsb3VkLmNvbS9tZWRpYS9zb3VuZGNsb3VkOnRyYWNrczo4NTE0MjEwNzYvMzUyYTRiOTAtNzYxOS00M2E5LWJiOGItMjIxMzE0YzFjNjNhL3N0cmVhbS9obHMAAQAsaHR0cHM6Ly9zb3VuZGNsb3VkLmNvbS80MDR2aW5jZW50L3RhbGstYS1sb3QBADpodHRwczovL2kxLnNuZGNkbi5jb20vYXJ0d29ya3MtRTN1ek5Gc0Y4QzBXLTAtb3JpZ2luYWwuanBnAQAMUVpITkExOTg1Nzg0AApzb3VuZGNsb3VkAAAAAAAAAAA=";

pub fn track(encoded: &str) -> TrackData {
    decode_track(encoded).expect("test vector decodes").data
}

/// One fake engine player: its shared state, the commands it got, its event sender.
pub struct FakePlayer {
    pub shared: Arc<PlayerShared>,
    pub events: Sender<PlayerEvent>,
    pub log: Arc<Mutex<Vec<String>>>,
}

#[derive(Default)]
pub struct FakeEngine {
    pub players: Mutex<HashMap<GuildId, FakePlayer>>,
    pub created: AtomicUsize,
}

impl FakeEngine {
    pub fn shared(&self, guild: GuildId) -> Arc<PlayerShared> {
        self.players.lock().unwrap()[&guild].shared.clone()
    }
    pub fn commands(&self, guild: GuildId) -> Vec<String> {
        self.players
            .lock()
            .unwrap()
            .get(&guild)
            .map(|p| p.log.lock().unwrap().clone())
            .unwrap_or_default()
    }
    /// Inject an event as if the engine or voice produced it.
    pub fn emit(&self, guild: GuildId, kind: PlayerEventKind) {
        let tx = self.players.lock().unwrap()[&guild].events.clone();
        tx.send(PlayerEvent {
            guild_id: guild,
            kind,
        })
        .unwrap();
    }
}

impl PlayerFactory for FakeEngine {
    fn create_player(&self, guild_id: GuildId, events: Sender<PlayerEvent>) -> PlayerHandle {
        self.created.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = channel::unbounded::<PlayerCommand>();
        let shared = Arc::new(PlayerShared::default());
        let log = Arc::new(Mutex::new(Vec::new()));
        self.players.lock().unwrap().insert(
            guild_id,
            FakePlayer {
                shared: shared.clone(),
                events: events.clone(),
                log: log.clone(),
            },
        );
        let sh = shared.clone();
        std::thread::spawn(move || {
            let mut current: Option<Arc<TrackData>> = None;
            let send = |kind| {
                let _ = events.send(PlayerEvent { guild_id, kind });
            };
            let at = |t: &Arc<TrackData>, sh: &PlayerShared| {
                Arc::new(TrackData {
                    position: sh.position(),
                    ..(**t).clone()
                })
            };
            while let Ok(cmd) = rx.recv() {
                let entry = match &cmd {
                    PlayerCommand::Play(r) => format!(
                        "play:{}:{}:{:?}:{}",
                        r.track.info.identifier, r.start_ms, r.end_ms, r.paused
                    ),
                    PlayerCommand::Stop => "stop".into(),
                    PlayerCommand::SetPaused(p) => format!("paused:{p}"),
                    PlayerCommand::Seek(ms) => format!("seek:{ms}"),
                    PlayerCommand::SetEndTime(ms) => format!("endTime:{ms}"),
                    PlayerCommand::SetVolume(v) => format!("volume:{v}"),
                    PlayerCommand::SetFilters(_) => "filters".into(),
                    #[cfg(feature = "wasm-plugins")]
                    PlayerCommand::SetWasmFilters(s) => format!("wasmFilters:{}", s.len()),
                    PlayerCommand::AttachSink(_) => "attach".into(),
                    PlayerCommand::DetachSink => "detach".into(),
                    PlayerCommand::Destroy => "destroy".into(),
                };
                log.lock().unwrap().push(entry);
                match cmd {
                    PlayerCommand::Play(r) => {
                        if let Some(old) = current.take() {
                            send(PlayerEventKind::TrackEnd {
                                track: at(&old, &sh),
                                reason: EndReason::Replaced,
                            });
                        }
                        sh.position_ms.store(r.start_ms, Ordering::Relaxed);
                        sh.paused.store(r.paused, Ordering::Relaxed);
                        sh.has_track.store(true, Ordering::Relaxed);
                        current = Some(r.track.clone());
                        send(PlayerEventKind::TrackStart {
                            track: at(&r.track, &sh),
                        });
                    }
                    PlayerCommand::Stop | PlayerCommand::Destroy => {
                        let destroy = matches!(cmd, PlayerCommand::Destroy);
                        if let Some(old) = current.take() {
                            send(PlayerEventKind::TrackEnd {
                                track: at(&old, &sh),
                                reason: EndReason::Stopped,
                            });
                        }
                        sh.has_track.store(false, Ordering::Relaxed);
                        sh.position_ms.store(0, Ordering::Relaxed);
                        if destroy {
                            break;
                        }
                    }
                    PlayerCommand::SetPaused(p) => sh.paused.store(p, Ordering::Relaxed),
                    PlayerCommand::Seek(ms) => sh.position_ms.store(ms, Ordering::Relaxed),
                    _ => {}
                }
            }
        });
        PlayerHandle {
            guild_id,
            commands: tx,
            shared,
        }
    }
}

pub struct FakeLoader;

impl TrackLoader for FakeLoader {
    fn source_names(&self) -> Vec<&'static str> {
        vec![
            "youtube",
            "soundcloud",
            "bandcamp",
            "twitch",
            "vimeo",
            "http",
        ]
    }
    fn load(&self, identifier: &str) -> LoadResult {
        match identifier {
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ" => LoadResult::Track(track(RICK_V3)),
            "https://www.mboxdrive.com/startmusic.mp3" => LoadResult::Track(track(HTTP_MP3)),
            "playlist" => LoadResult::Playlist {
                name: "Example YouTube Playlist".into(),
                selected_track: -1,
                tracks: vec![track(RICK_V3)],
            },
            id if id.starts_with("ytsearch:") => LoadResult::Search(vec![track(RICK_V3), track(SOUNDCLOUD)]),
            "error" => LoadResult::Error(TrackException {
                message: Some("This video is not available in your country.".into()),
                severity: Severity::Common,
                cause: "com.sedmelluq.discord.lavaplayer.tools.FriendlyException: This video is not available in your country.".into(),
                cause_stack_trace: "com.sedmelluq.discord.lavaplayer.tools.FriendlyException: This video is not available in your country.\n\tat ...".into(),
            }),
            _ => LoadResult::Empty,
        }
    }
}

pub struct FakeLink {
    pub connected: bool,
}

struct NullSink;
impl FrameSink for NullSink {
    fn send_frame(&mut self, _opus: &[u8]) {}
    fn no_frame(&mut self) {}
    fn is_connected(&self) -> bool {
        true
    }
}

impl VoiceLink for FakeLink {
    fn sink(&self) -> Box<dyn FrameSink> {
        Box::new(NullSink)
    }
    fn is_connected(&self) -> bool {
        self.connected
    }
    fn ping_ms(&self) -> i64 {
        if self.connected {
            42
        } else {
            -1
        }
    }
    fn close(&self) {}
}

#[derive(Default)]
pub struct FakeVoice {
    pub connects: AtomicUsize,
}

impl VoiceConnector for FakeVoice {
    fn connect(
        &self,
        _user_id: u64,
        _guild_id: GuildId,
        voice: &VoiceData,
        _events: Sender<PlayerEvent>,
    ) -> Result<Box<dyn VoiceLink>, VoiceConnectError> {
        self.connects.fetch_add(1, Ordering::Relaxed);
        if voice.endpoint.starts_with("ws://") {
            return Err(VoiceConnectError::Rejected(format!(
                "voice endpoint {:?} has a scheme",
                voice.endpoint
            )));
        }
        if voice.endpoint.contains("fail") {
            return Err(VoiceConnectError::Failed("connection refused".into()));
        }
        Ok(Box::new(FakeLink { connected: true }))
    }
    fn check(&self, voice: &VoiceData) -> Result<(), VoiceConnectError> {
        if voice.endpoint.starts_with("ws://") {
            return Err(VoiceConnectError::Rejected(format!(
                "voice endpoint {:?} has a scheme",
                voice.endpoint
            )));
        }
        Ok(())
    }
}

pub struct Fakes {
    pub engine: Arc<FakeEngine>,
    pub voice: Arc<FakeVoice>,
}

pub fn backend() -> (Backend, Fakes) {
    let engine = Arc::new(FakeEngine::default());
    let voice = Arc::new(FakeVoice::default());
    let b = Backend {
        players: engine.clone(),
        loader: Arc::new(FakeLoader),
        voice: voice.clone(),
    };
    (b, Fakes { engine, voice })
}
