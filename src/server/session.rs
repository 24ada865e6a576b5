//! Client sessions: one per WebSocket, their players, the outgoing message stream and
//! resuming (spec §5).
//!
//! Each session has one thread that turns engine events into `event` ops, keeps the
//! `stats` and `playerUpdate` cadence, samples frame counters, and ends a paused session
//! when its resume timeout runs out. Locks are fine here: this is the control plane.
//! Lock order (never take them the other way round): sessions map → player → orphans →
//! session state.
//!
//! Sessions reach the rest of the node only through [`SessionHost`] (make an engine
//! player, the registry, the periodic-op intervals and figures, the plugin event hooks).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam::channel::{self, Receiver, Sender};
use rand::Rng;
use serde_json::{Map, Value};

use crate::player::{
    EndReason, GuildId, PlayerCommand, PlayerEvent, PlayerEventKind, PlayerHandle,
};
use crate::server::backend::{VoiceData, VoiceLink};
use crate::server::{dto, now_ms};
use crate::track::TrackData;

/// A message for the client socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    Text(String),
    /// Close the socket with this code (server shutdown: 1001).
    Close(u16),
}

/// The sending side of a socket's message queue: a channel plus a wake-up byte on a
/// socket pair, so the socket thread can sleep in `poll` instead of spinning.
#[derive(Clone)]
pub struct OutTx {
    tx: Sender<Outgoing>,
    wake: Arc<std::os::unix::net::UnixStream>,
    /// Set once a message was dropped (logged once per socket).
    overflowed: Arc<std::sync::atomic::AtomicBool>,
}

/// Messages one client socket may have waiting (a resume pushes the paused queue plus one
/// playerUpdate per player at once, so this is generous). It fills only while the socket
/// thread is stuck writing to a client that does not read; that write times out
/// (`[server] write_timeout_ms`) and the socket closes, so dropping beyond it loses
/// nothing a reading client would have received.
pub const OUT_QUEUE: usize = 16_384;
/// Messages a paused (resumable) session keeps for its client; the oldest go first.
pub const RESUME_QUEUE: usize = 16_384;

impl OutTx {
    /// A queue of [`OUT_QUEUE`] messages and the sender side of it.
    pub fn channel(wake: std::os::unix::net::UnixStream) -> (OutTx, Receiver<Outgoing>) {
        let (tx, rx) = channel::bounded(OUT_QUEUE);
        let _ = wake.set_nonblocking(true);
        let out = OutTx {
            tx,
            wake: Arc::new(wake),
            overflowed: Default::default(),
        };
        (out, rx)
    }

    pub fn send(&self, m: Outgoing) -> Result<(), channel::TrySendError<Outgoing>> {
        use std::io::Write;
        if let Err(e) = self.tx.try_send(m) {
            if matches!(e, channel::TrySendError::Full(_))
                && !self.overflowed.swap(true, Ordering::Relaxed)
            {
                log::warn!("a client socket does not read its messages; dropping them");
            }
            return Err(e);
        }
        // A full wake buffer already means "wake up"; nothing else can go wrong here.
        let _ = (&*self.wake).write(&[1]);
        Ok(())
    }
}

pub use crate::sync::lock;

/// A track as the control plane knows it: the blob plus the client's `userData`.
#[derive(Debug, Clone)]
pub struct CurrentTrack {
    pub track: Arc<TrackData>,
    pub user_data: Map<String, Value>,
}

/// Per-minute frame counters of one player, for `frameStats` (§5.2).
#[derive(Debug, Default)]
struct FrameTracker {
    bucket: i64,
    /// The first bucket observed started before the player existed: its counts are partial.
    partial: bool,
    start_sent: u64,
    start_nulled: u64,
    last_minute: Option<(i64, u64, u64)>,
    playing_since_ms: Option<i64>,
}

impl FrameTracker {
    fn new(now: i64) -> FrameTracker {
        FrameTracker {
            bucket: now / 60_000,
            partial: true,
            ..Default::default()
        }
    }

    fn sample(&mut self, now: i64, playing: bool, sent: u64, nulled: u64) {
        let b = now / 60_000;
        if b != self.bucket {
            if !self.partial && b == self.bucket + 1 {
                self.last_minute = Some((
                    self.bucket,
                    sent.saturating_sub(self.start_sent),
                    nulled.saturating_sub(self.start_nulled),
                ));
            } else {
                self.last_minute = None;
            }
            self.bucket = b;
            self.partial = false;
            self.start_sent = sent;
            self.start_nulled = nulled;
        }
        if playing {
            self.playing_since_ms.get_or_insert(now);
        } else {
            self.playing_since_ms = None;
        }
    }

    /// Counts of the last full minute if the player played through all of it.
    fn eligible(&self, now: i64) -> Option<(u64, u64)> {
        let b = now / 60_000;
        let (lb, s, n) = self.last_minute?;
        let since = self.playing_since_ms?;
        (lb == b - 1 && since <= (b - 1) * 60_000).then_some((s, n))
    }
}

/// The control plane's view of one player (§6.1) plus its engine handle.
pub struct Player {
    pub guild_id: GuildId,
    pub handle: PlayerHandle,
    pub current: Option<CurrentTrack>,
    /// The track replaced or stopped last, so its end event still finds its userData.
    pub previous: Option<CurrentTrack>,
    pub volume: u16,
    pub paused: bool,
    pub filters: basalt_dsp::Filters,
    pub voice: Option<VoiceData>,
    pub link: Option<Box<dyn VoiceLink>>,
    /// Next periodic playerUpdate while a track is loaded.
    pub update_due: Option<Instant>,
    /// Start position of a track sent to the engine whose TrackStart has not come back
    /// yet (until then PlayerShared still describes the previous track).
    pub pending_start: Option<i64>,
    frames: FrameTracker,
}

impl Player {
    pub fn position(&self) -> i64 {
        if let (Some(start), Some(_)) = (self.pending_start, &self.current) {
            start
        } else if self.current.is_some() {
            self.handle.shared.position().max(0)
        } else {
            0
        }
    }

    pub fn state_json(&self) -> Value {
        self.state_json_at(self.position())
    }

    fn state_json_at(&self, position: i64) -> Value {
        let (connected, ping) = match &self.link {
            Some(l) if l.is_connected() => (true, l.ping_ms()),
            _ => (false, -1),
        };
        dto::player_state(now_ms(), position, connected, ping)
    }

    /// The `Player` object.
    pub fn to_json(&self) -> Value {
        let pos = self.position();
        let track = match &self.current {
            Some(c) => dto::live_track(&c.track, pos, &c.user_data),
            None => Value::Null,
        };
        serde_json::json!({
            "guildId": self.guild_id.to_string(),
            "track": track,
            "volume": self.volume,
            "paused": self.paused,
            "state": self.state_json_at(pos),
            "voice": dto::voice_state(self.voice.as_ref()),
            "filters": self.filters.to_json(),
        })
    }

    pub fn update_json(&self) -> String {
        dto::player_update(self.guild_id, self.state_json()).to_string()
    }

    /// Stop the track and free the engine player and the voice connection.
    fn destroy(&mut self) {
        self.handle.send(PlayerCommand::Destroy);
        if let Some(link) = self.link.take() {
            link.close();
        }
        self.update_due = None;
    }

    fn user_data_for(&self, track: &TrackData, replaced: bool) -> Option<Map<String, Value>> {
        let same = |c: &Option<CurrentTrack>| {
            c.as_ref()
                .filter(|c| c.track.info == track.info)
                .map(|c| c.user_data.clone())
        };
        if replaced {
            same(&self.previous).or_else(|| same(&self.current))
        } else {
            same(&self.current).or_else(|| same(&self.previous))
        }
    }
}

enum Link {
    Connected {
        tx: OutTx,
        generation: u64,
    },
    Paused {
        queue: std::collections::VecDeque<String>,
        deadline: Instant,
    },
    Closed,
}

struct SessionState {
    resuming: bool,
    timeout_s: i64,
    link: Link,
}

pub struct Session {
    pub id: String,
    pub user_id: u64,
    state: Mutex<SessionState>,
    players: Mutex<HashMap<GuildId, Arc<Mutex<Player>>>>,
    /// Tracks of destroyed players whose end event has not arrived yet.
    orphans: Mutex<HashMap<GuildId, CurrentTrack>>,
    events_tx: Sender<PlayerEvent>,
    wake_tx: Sender<()>,
}

static GENERATION: AtomicU64 = AtomicU64::new(1);

/// A fresh id for one socket connection, so a stale socket cannot pause a resumed session.
pub fn next_generation() -> u64 {
    GENERATION.fetch_add(1, Ordering::Relaxed)
}

impl Session {
    /// Queue a message for the client (or the resume queue; playerUpdates are not queued).
    pub fn send(&self, text: String, is_player_update: bool) {
        let mut st = lock(&self.state);
        match &mut st.link {
            Link::Connected { tx, .. } => {
                let _ = tx.send(Outgoing::Text(text));
            }
            Link::Paused { queue, .. } => {
                if !is_player_update {
                    if queue.len() >= RESUME_QUEUE {
                        queue.pop_front();
                        log::warn!(
                            "session {}: resume queue full; dropping its oldest event",
                            self.id
                        );
                    }
                    queue.push_back(text);
                }
            }
            Link::Closed => {}
        }
    }

    pub fn send_player_update(&self, player: &Player) {
        self.send(player.update_json(), true);
    }

    /// True while a client socket is attached (only then is the session visible over REST).
    pub fn is_connected(&self) -> bool {
        matches!(lock(&self.state).link, Link::Connected { .. })
    }

    pub fn is_closed(&self) -> bool {
        matches!(lock(&self.state).link, Link::Closed)
    }

    /// `(resuming, timeout)` after applying the update.
    pub fn update_resuming(&self, resuming: Option<bool>, timeout: Option<i64>) -> (bool, i64) {
        let mut st = lock(&self.state);
        if let Some(r) = resuming {
            st.resuming = r;
        }
        if let Some(t) = timeout {
            st.timeout_s = t;
        }
        (st.resuming, st.timeout_s)
    }

    pub fn player(&self, guild: GuildId) -> Option<Arc<Mutex<Player>>> {
        lock(&self.players).get(&guild).cloned()
    }

    pub fn players(&self) -> Vec<Arc<Mutex<Player>>> {
        lock(&self.players).values().cloned().collect()
    }

    /// Get or create (§6 step 5: volume 100, not paused, no filters, no track).
    pub fn get_or_create_player(
        &self,
        host: &dyn SessionHost,
        guild: GuildId,
    ) -> Arc<Mutex<Player>> {
        let mut map = lock(&self.players);
        map.entry(guild)
            .or_insert_with(|| {
                let handle = host.create_player(guild, self.events_tx.clone());
                Arc::new(Mutex::new(Player {
                    guild_id: guild,
                    handle,
                    current: None,
                    previous: None,
                    volume: 100,
                    paused: false,
                    filters: basalt_dsp::Filters::default(),
                    voice: None,
                    link: None,
                    update_due: None,
                    pending_start: None,
                    frames: FrameTracker::new(now_ms()),
                }))
            })
            .clone()
    }

    /// DELETE: destroy the player if it exists.
    pub fn destroy_player(&self, guild: GuildId) {
        let removed = lock(&self.players).remove(&guild);
        if let Some(p) = removed {
            let mut p = lock(&p);
            if let Some(c) = p.current.take() {
                lock(&self.orphans).insert(guild, c);
            }
            p.destroy();
        }
    }

    /// The events sender handed to the engine and voice for this session's players.
    pub fn events(&self) -> Sender<PlayerEvent> {
        self.events_tx.clone()
    }

    /// Counts (players, playing) for stats.
    pub fn player_counts(&self) -> (usize, usize) {
        let players = self.players();
        let playing = players
            .iter()
            .filter(|p| {
                let p = lock(p);
                p.current.is_some() && p.handle.shared.is_playing()
            })
            .count();
        (players.len(), playing)
    }

    /// The socket of `generation` went away: pause (resumable) or shut down.
    pub fn socket_closed(&self, host: &dyn SessionHost, generation: u64) {
        let shutdown = {
            let mut st = lock(&self.state);
            match st.link {
                Link::Connected { generation: g, .. } if g == generation => {
                    if st.resuming {
                        let secs = st.timeout_s.max(0) as u64;
                        // Any i64 is accepted as `timeout`; far-future deadlines are capped
                        // (a century) instead of overflowing `Instant` under the state lock.
                        let now = Instant::now();
                        let deadline = now
                            .checked_add(Duration::from_secs(secs))
                            .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400));
                        st.link = Link::Paused {
                            queue: Default::default(),
                            deadline,
                        };
                        log::info!(
                            "session {} paused; resumable for {} s",
                            self.id,
                            st.timeout_s
                        );
                        false
                    } else {
                        true
                    }
                }
                _ => false,
            }
        };
        let _ = self.wake_tx.send(());
        if shutdown {
            log::info!("session {} closed", self.id);
            self.shutdown(host);
        }
    }

    /// End the session: players destroyed (their events dropped), voice closed.
    pub fn shutdown(&self, host: &dyn SessionHost) {
        lock(&self.state).link = Link::Closed;
        self.teardown(host);
    }

    /// Ends a paused session whose resume deadline has passed. The check and the close are
    /// one step under the state lock, so a resume racing the expiry either wins (the session
    /// lives on, players intact) or finds the session closed; never resumed-then-destroyed.
    fn expire(&self, host: &dyn SessionHost, now: Instant) -> bool {
        {
            let mut st = lock(&self.state);
            match st.link {
                Link::Paused { deadline, .. } if now >= deadline => st.link = Link::Closed,
                _ => return false,
            }
        }
        self.teardown(host);
        true
    }

    fn teardown(&self, host: &dyn SessionHost) {
        let players: Vec<_> = lock(&self.players).drain().map(|(_, p)| p).collect();
        for p in players {
            lock(&p).destroy();
        }
        lock(&self.orphans).clear();
        host.sessions().remove(&self.id);
        let _ = self.wake_tx.send(());
    }

    /// Server shutdown: close the client socket with 1001 and end the session.
    pub fn close_for_shutdown(&self, host: &dyn SessionHost) {
        if let Link::Connected { tx, .. } = &lock(&self.state).link {
            let _ = tx.send(Outgoing::Close(1001));
        }
        self.shutdown(host);
    }

    fn paused_deadline(&self) -> Option<Instant> {
        match lock(&self.state).link {
            Link::Paused { deadline, .. } => Some(deadline),
            _ => None,
        }
    }

    fn handle_event(&self, ev: PlayerEvent, interval: Duration) {
        let guild = ev.guild_id;
        let player = self.player(guild);
        let mut guard = player.as_ref().map(|p| lock(p));
        let ud_for = |p: &Option<MutexGuard<'_, Player>>, track: &TrackData, replaced: bool| {
            if let Some(p) = p {
                if let Some(ud) = p.user_data_for(track, replaced) {
                    return ud;
                }
            }
            let mut orphans = lock(&self.orphans);
            match orphans.get(&guild) {
                Some(c) if c.track.info == track.info => {
                    let ud = c.user_data.clone();
                    if !replaced {
                        orphans.remove(&guild);
                    }
                    ud
                }
                _ => Map::new(),
            }
        };
        match ev.kind {
            PlayerEventKind::TrackStart { track } => {
                let ud = ud_for(&guard, &track, false);
                let t = dto::live_track(&track, track.position, &ud);
                self.send(
                    dto::event("TrackStartEvent", guild, vec![("track", t)]).to_string(),
                    false,
                );
                if let Some(p) = guard.as_mut() {
                    if p.current
                        .as_ref()
                        .is_some_and(|c| c.track.info == track.info)
                    {
                        p.pending_start = None;
                    }
                    if p.current.is_some() {
                        self.send_player_update(p);
                        p.update_due = Some(Instant::now() + interval);
                    }
                }
            }
            PlayerEventKind::TrackEnd { track, reason } => {
                let replaced = reason == EndReason::Replaced;
                // Until the engine confirms the track we just sent (TrackStart), any end
                // event is about the one before it.
                let stale = guard.as_ref().is_some_and(|p| p.pending_start.is_some());
                let ud = ud_for(&guard, &track, replaced || stale);
                if let Some(p) = guard.as_mut() {
                    let ends_current = p
                        .current
                        .as_ref()
                        .is_some_and(|c| c.track.info == track.info);
                    if !replaced && !stale && ends_current {
                        p.previous = p.current.take();
                        p.update_due = None;
                    }
                }
                let t = dto::live_track(&track, track.position, &ud);
                let fields = vec![("track", t), ("reason", Value::from(reason.as_str()))];
                self.send(
                    dto::event("TrackEndEvent", guild, fields).to_string(),
                    false,
                );
            }
            PlayerEventKind::TrackException { track, exception } => {
                let ud = ud_for(&guard, &track, false);
                let t = dto::live_track(&track, track.position, &ud);
                let fields = vec![("track", t), ("exception", dto::exception(&exception))];
                self.send(
                    dto::event("TrackExceptionEvent", guild, fields).to_string(),
                    false,
                );
            }
            PlayerEventKind::TrackStuck {
                track,
                threshold_ms,
            } => {
                let ud = ud_for(&guard, &track, false);
                let t = dto::live_track(&track, track.position, &ud);
                let fields = vec![("track", t), ("thresholdMs", Value::from(threshold_ms))];
                self.send(
                    dto::event("TrackStuckEvent", guild, fields).to_string(),
                    false,
                );
                if let Some(p) = guard.as_ref() {
                    self.send_player_update(p);
                }
            }
            PlayerEventKind::VoiceReady => {
                if let Some(p) = guard.as_ref() {
                    self.send_player_update(p);
                }
            }
            PlayerEventKind::VoiceClosed {
                code,
                reason,
                by_remote,
            } => {
                let fields = vec![
                    ("code", Value::from(code)),
                    ("reason", Value::from(reason)),
                    ("byRemote", Value::from(by_remote)),
                ];
                self.send(
                    dto::event("WebSocketClosedEvent", guild, fields).to_string(),
                    false,
                );
                if let Some(p) = guard.as_ref() {
                    self.send_player_update(p);
                }
            }
            PlayerEventKind::WasmFilterFault { filter, reason } => {
                let fields = vec![
                    ("filter", Value::from(filter)),
                    ("reason", Value::from(reason)),
                ];
                self.send(
                    dto::event("WasmFilterFaultEvent", guild, fields).to_string(),
                    false,
                );
            }
        }
    }

    /// Sample counters, send due playerUpdates; returns the earliest next due time.
    fn tick_players(&self, now: Instant, interval: Duration) -> Option<Instant> {
        let now_epoch = now_ms();
        let mut next: Option<Instant> = None;
        let connected = self.is_connected();
        for p in self.players() {
            let mut p = lock(&p);
            let shared = p.handle.shared.clone();
            let playing = p.current.is_some() && shared.is_playing();
            p.frames.sample(
                now_epoch,
                playing,
                shared.frames_sent.load(Ordering::Relaxed),
                shared.frames_nulled.load(Ordering::Relaxed),
            );
            if let Some(due) = p.update_due {
                if due <= now {
                    // Not generated while the session is paused (§5.4).
                    if connected {
                        self.send_player_update(&p);
                    }
                    let mut nd = due + interval;
                    if nd <= now {
                        nd = now + interval;
                    }
                    p.update_due = Some(nd);
                }
                let d = p.update_due.unwrap_or(now + interval);
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        next
    }

    /// frameStats of this session, `None` when no player is eligible (§5.2).
    pub fn frame_stats(&self) -> Option<dto::FrameStats> {
        let now = now_ms();
        let mut n = 0i64;
        let (mut sent, mut nulled, mut deficit) = (0i64, 0i64, 0i64);
        for p in self.players() {
            let p = lock(&p);
            if !(p.current.is_some() && p.handle.shared.is_playing()) {
                continue;
            }
            if let Some((s, nu)) = p.frames.eligible(now) {
                n += 1;
                sent += s as i64;
                nulled += nu as i64;
                deficit += 3000 - (s as i64 + nu as i64);
            }
        }
        (n > 0).then(|| dto::FrameStats {
            sent: sent / n,
            nulled: nulled / n,
            deficit: deficit / n,
        })
    }
}

/// What sessions need from the rest of the node, and nothing more: engine players, the
/// session registry, the intervals and figures of the periodic ops, and the plugins' event
/// hooks. `Node` implements it; session code never sees the node itself.
pub trait SessionHost: Send + Sync {
    /// A new engine player for `guild` whose events go to `events`.
    fn create_player(&self, guild: GuildId, events: Sender<PlayerEvent>) -> PlayerHandle;
    /// Every session (a new one registers itself, a torn-down one leaves).
    fn sessions(&self) -> &Sessions;
    fn player_update_interval(&self) -> Duration;
    fn stats_interval(&self) -> Duration;
    /// Memory, CPU and uptime for the `stats` op.
    fn system_figures(&self) -> dto::SystemFigures;
    /// Plugin hooks around each player event of `session`.
    fn before_event(&self, session: &Arc<Session>, ev: &PlayerEvent);
    fn after_event(&self, session: &Arc<Session>, ev: &PlayerEvent);
}

/// Every session of the node, connected or waiting to be resumed.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Arc<Session>>>,
}

impl Sessions {
    /// A session visible over REST (connected only, §4).
    pub fn get_connected(&self, id: &str) -> Option<Arc<Session>> {
        lock(&self.map)
            .get(id)
            .filter(|s| s.is_connected())
            .cloned()
    }

    pub fn all(&self) -> Vec<Arc<Session>> {
        lock(&self.map).values().cloned().collect()
    }

    fn remove(&self, id: &str) {
        lock(&self.map).remove(id);
    }

    /// A new session for a fresh socket: `ready` is queued first, then the session thread
    /// starts (its first `stats` follows immediately).
    pub fn create(
        host: Arc<dyn SessionHost>,
        user_id: u64,
        out: OutTx,
        generation: u64,
    ) -> Arc<Session> {
        let (events_tx, events_rx) = channel::unbounded();
        let (wake_tx, wake_rx) = channel::unbounded();
        let session = {
            let mut map = lock(&host.sessions().map);
            let id = loop {
                let id = random_id();
                if !map.contains_key(&id) {
                    break id;
                }
            };
            let _ = out.send(Outgoing::Text(dto::ready(false, &id).to_string()));
            let s = Arc::new(Session {
                id: id.clone(),
                user_id,
                state: Mutex::new(SessionState {
                    resuming: false,
                    timeout_s: 60,
                    link: Link::Connected {
                        tx: out,
                        generation,
                    },
                }),
                players: Mutex::new(HashMap::new()),
                orphans: Mutex::new(HashMap::new()),
                events_tx,
                wake_tx,
            });
            map.insert(id, s.clone());
            s
        };
        let (h, s) = (host.clone(), session.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("session-{}", session.id))
            .spawn(move || run_session(h, s, events_rx, wake_rx));
        if let Err(e) = spawned {
            log::error!("cannot start a session thread: {e}");
            session.shutdown(&*host);
        }
        session
    }

    /// Resume a paused session: ready(resumed) → queued messages → one playerUpdate per
    /// player, all pushed under the state lock so nothing can overtake them.
    pub fn resume(&self, id: &str, out: OutTx, generation: u64) -> Option<Arc<Session>> {
        let session = lock(&self.map).get(id).cloned()?;
        // Player states first: the lock order everywhere else is player → session state.
        let updates: Vec<String> = session
            .players()
            .iter()
            .map(|p| lock(p).update_json())
            .collect();
        let mut st = lock(&session.state);
        let queue = match &mut st.link {
            Link::Paused { queue, .. } => std::mem::take(queue),
            _ => return None,
        };
        let _ = out.send(Outgoing::Text(dto::ready(true, id).to_string()));
        for m in queue {
            let _ = out.send(Outgoing::Text(m));
        }
        for u in updates {
            let _ = out.send(Outgoing::Text(u));
        }
        st.link = Link::Connected {
            tx: out,
            generation,
        };
        drop(st);
        let _ = session.wake_tx.send(());
        log::info!("session {id} resumed");
        Some(session)
    }

    /// (players, playing players) across all sessions.
    pub fn player_counts(&self) -> (usize, usize) {
        self.all()
            .iter()
            .map(|s| s.player_counts())
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    }
}

fn random_id() -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..16)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

fn run_session(
    host: Arc<dyn SessionHost>,
    session: Arc<Session>,
    events: Receiver<PlayerEvent>,
    wake: Receiver<()>,
) {
    let interval = host.player_update_interval();
    let stats_every = host.stats_interval();
    let mut next_stats = Instant::now();
    loop {
        if session.is_closed() {
            break;
        }
        let now = Instant::now();
        if session.expire(&*host, now) {
            log::info!(
                "session {} was not resumed in time; destroyed it",
                session.id
            );
            break;
        }
        if now >= next_stats {
            let (players, playing) = host.sessions().player_counts();
            let fig = host.system_figures();
            let msg = dto::stats(Some(session.frame_stats()), players, playing, &fig);
            session.send(msg.to_string(), false);
            next_stats += stats_every;
            if next_stats <= now {
                next_stats = now + stats_every;
            }
        }
        let mut wake_at = session.tick_players(now, interval).unwrap_or(next_stats);
        wake_at = wake_at
            .min(next_stats)
            .min(now + Duration::from_millis(500));
        if let Some(d) = session.paused_deadline() {
            wake_at = wake_at.min(d);
        }
        let timeout = wake_at.saturating_duration_since(Instant::now());
        crossbeam::select! {
            recv(events) -> ev => match ev {
                Ok(ev) => {
                    host.before_event(&session, &ev);
                    session.handle_event(ev.clone(), interval);
                    host.after_event(&session, &ev);
                }
                Err(_) => std::thread::sleep(timeout),
            },
            recv(wake) -> _ => {},
            default(timeout) => {},
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FrameTracker;
    use super::{OutTx, Outgoing, OUT_QUEUE};

    /// A client that never reads costs at most OUT_QUEUE queued messages: later sends are
    /// refused (the socket thread's write deadline then closes the socket).
    #[test]
    fn a_socket_that_is_not_read_has_a_bounded_queue() {
        let (wake, _other) = std::os::unix::net::UnixStream::pair().unwrap();
        let (tx, rx) = OutTx::channel(wake);
        for i in 0..OUT_QUEUE {
            assert!(tx.send(Outgoing::Text(i.to_string())).is_ok());
        }
        for _ in 0..100 {
            assert!(tx.send(Outgoing::Text("more".into())).is_err());
        }
        assert_eq!(rx.len(), OUT_QUEUE);
        // Read again: it accepts again, in order.
        assert!(matches!(rx.recv(), Ok(Outgoing::Text(t)) if t == "0"));
        assert!(tx.send(Outgoing::Text("after".into())).is_ok());
    }

    const M: i64 = 60_000;

    #[test]
    fn frame_stats_need_a_full_playing_minute() {
        let t0 = 1000 * M + 30_000; // mid-minute start
        let mut f = FrameTracker::new(t0);
        f.sample(t0, true, 0, 0);
        // first (partial) minute ends: not recorded
        f.sample(1001 * M + 100, true, 1500, 0);
        assert_eq!(f.eligible(1001 * M + 100), None);
        // a full minute: 2990 sent, 10 nulled
        f.sample(1002 * M + 100, true, 1500 + 2990, 10);
        assert_eq!(f.eligible(1002 * M + 100), Some((2990, 10)));
        // still the same minute: same figures
        assert_eq!(f.eligible(1002 * M + 30_000), Some((2990, 10)));
        // a pause breaks eligibility until a full minute has been played again
        f.sample(1002 * M + 40_000, false, 6000, 10);
        f.sample(1002 * M + 41_000, true, 6000, 10);
        f.sample(1003 * M + 100, true, 7000, 20);
        assert_eq!(f.eligible(1003 * M + 100), None);
        f.sample(1004 * M + 100, true, 10_000, 20);
        assert_eq!(f.eligible(1004 * M + 100), Some((3000, 0)));
        // a skipped minute (no samples) is not a full minute
        f.sample(1006 * M + 100, true, 13_000, 20);
        assert_eq!(f.eligible(1006 * M + 100), None);
    }
}
