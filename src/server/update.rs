//! PATCH bodies: the player update (spec §4.9, §6) and the session update (§4.11).
//!
//! Every field keeps Lavalink's three states (absent / null / value) so the §6 algorithm
//! can tell "leave it" from "clear it"; null where Lavalink's DTO is not nullable is a 400.

use serde_json::{Map, Value};

use super::backend::VoiceData;
use super::error::ApiError;

/// A request field: absent, explicit `null`, or a value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Field<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<T> Field<T> {
    pub fn is_present(&self) -> bool {
        !matches!(self, Field::Absent)
    }
    pub fn value(&self) -> Option<&T> {
        match self {
            Field::Value(v) => Some(v),
            _ => None,
        }
    }
}

/// The resolved "track spec" of §6 step 1 (from `track` or the deprecated top-level fields).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrackSpec {
    /// `encoded`: null stops, a value plays.
    pub encoded: Field<String>,
    /// `identifier`: never null (rejected while parsing).
    pub identifier: Option<String>,
    pub user_data: Option<Map<String, Value>>,
}

impl TrackSpec {
    /// §6: a new track is requested iff `encoded` (value or null) or `identifier` is given.
    pub fn requests_new_track(&self) -> bool {
        self.encoded.is_present() || self.identifier.is_some()
    }
}

/// The `filters` object: the parsed set plus the keys present (for the disabled check).
#[derive(Debug, Clone, PartialEq)]
pub struct FiltersUpdate {
    pub filters: basalt_dsp::Filters,
    /// Every key of the object, even those with null values, then every `pluginFilters` key.
    pub keys: Vec<String>,
}

/// A parsed `PATCH /v4/sessions/{id}/players/{guild}` body.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UpdatePlayer {
    pub track: TrackSpec,
    pub position: Option<i64>,
    pub end_time: Field<i64>,
    /// Clamped to 0–1000 already.
    pub volume: Option<u16>,
    pub paused: Option<bool>,
    pub filters: Option<FiltersUpdate>,
    pub voice: Option<VoiceUpdate>,
}

/// Parse a player update body. Errors are 400s naming the offending field, except the
/// ordering checks of §6 that Lavalink also answers with 400 (`track` + deprecated fields).
pub fn parse_update_player(body: &[u8]) -> Result<UpdatePlayer, ApiError> {
    let obj = parse_object(body)?;
    let mut up = UpdatePlayer::default();

    let track = match obj.get("track") {
        None => None,
        Some(Value::Null) => return Err(null_field("track")),
        Some(Value::Object(t)) => Some(t),
        Some(_) => return Err(wrong_type("track", "an object")),
    };
    let encoded_track = opt_nullable_string(&obj, "encodedTrack", "encodedTrack")?;
    let identifier = opt_string(&obj, "identifier", "identifier")?;

    if let Some(t) = track {
        if encoded_track.is_present() || identifier.is_some() {
            return Err(ApiError::bad_request(
                "Cannot specify both track and encodedTrack/identifier",
            ));
        }
        up.track.encoded = opt_nullable_string(t, "encoded", "track.encoded")?;
        up.track.identifier = opt_string(t, "identifier", "track.identifier")?;
        up.track.user_data = match t.get("userData") {
            None => None,
            Some(Value::Null) => return Err(null_field("track.userData")),
            Some(Value::Object(m)) => Some(m.clone()),
            Some(_) => return Err(wrong_type("track.userData", "an object")),
        };
    } else {
        up.track.encoded = encoded_track;
        up.track.identifier = identifier;
    }
    if up.track.encoded.is_present() && up.track.identifier.is_some() {
        return Err(ApiError::bad_request(
            "Cannot specify both encodedTrack and identifier",
        ));
    }

    up.position = opt_i64(&obj, "position")?;
    up.end_time = match obj.get("endTime") {
        None => Field::Absent,
        Some(Value::Null) => Field::Null,
        Some(v) => Field::Value(as_i64(v, "endTime")?),
    };
    up.volume = match obj.get("volume") {
        None => None,
        Some(Value::Null) => return Err(null_field("volume")),
        Some(v) => {
            let n = as_i64(v, "volume")?;
            // Lavalink's DTO holds a Java int; larger numbers fail deserialisation.
            if n < i64::from(i32::MIN) || n > i64::from(i32::MAX) {
                return Err(ApiError::bad_request(format!(
                    "Field 'volume' is out of range for an int: {n}"
                )));
            }
            Some(n.clamp(0, 1000) as u16)
        }
    };
    up.paused = match obj.get("paused") {
        None => None,
        Some(Value::Null) => return Err(null_field("paused")),
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(wrong_type("paused", "a boolean")),
    };
    up.filters = match obj.get("filters") {
        None => None,
        Some(Value::Null) => return Err(null_field("filters")),
        Some(v @ Value::Object(m)) => {
            let mut keys: Vec<String> = m.keys().cloned().collect();
            if let Some(Value::Object(p)) = m.get("pluginFilters") {
                keys.extend(p.keys().cloned());
            }
            let filters = basalt_dsp::Filters::from_json(v)
                .map_err(|e| ApiError::bad_request(format!("Invalid filters: {e}")))?;
            Some(FiltersUpdate { filters, keys })
        }
        Some(_) => return Err(wrong_type("filters", "an object")),
    };
    up.voice = match obj.get("voice") {
        None => None,
        Some(Value::Null) => return Err(null_field("voice")),
        Some(Value::Object(v)) => Some(parse_voice(v)?),
        Some(_) => return Err(wrong_type("voice", "an object")),
    };
    Ok(up)
}

const VOICE_MISSING: &str =
    "token, endpoint, sessionId and channelId must be provided in voice state";

/// The `voice` object as sent; blank values are rejected later, in §6 order (step 3).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VoiceUpdate {
    pub token: String,
    pub endpoint: String,
    pub session_id: String,
    /// Nullable in Lavalink's DTO; required non-blank by step 3.
    pub channel_id: Option<String>,
}

impl VoiceUpdate {
    /// §6 step 3: all four non-blank.
    pub fn validate(&self) -> Result<VoiceData, ApiError> {
        let blank = |s: &str| s.trim().is_empty();
        match &self.channel_id {
            Some(c)
                if !blank(c)
                    && !blank(&self.token)
                    && !blank(&self.endpoint)
                    && !blank(&self.session_id) =>
            {
                Ok(VoiceData {
                    token: self.token.clone(),
                    endpoint: self.endpoint.clone(),
                    session_id: self.session_id.clone(),
                    channel_id: c.clone(),
                })
            }
            _ => Err(ApiError::bad_request(VOICE_MISSING)),
        }
    }
}

/// Deserialisation of `voice`: token, endpoint and sessionId are non-null strings.
fn parse_voice(v: &Map<String, Value>) -> Result<VoiceUpdate, ApiError> {
    let field = |key: &str| -> Result<String, ApiError> {
        match v.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            None | Some(Value::Null) => Err(ApiError::bad_request(VOICE_MISSING)),
            Some(_) => Err(wrong_type(&format!("voice.{key}"), "a string")),
        }
    };
    let channel_id = match v.get("channelId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(wrong_type("voice.channelId", "a string or null")),
    };
    Ok(VoiceUpdate {
        token: field("token")?,
        endpoint: field("endpoint")?,
        session_id: field("sessionId")?,
        channel_id,
    })
}

/// A parsed `PATCH /v4/sessions/{id}` body.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UpdateSession {
    pub resuming: Option<bool>,
    /// Seconds; not range-checked (Lavalink does not either).
    pub timeout: Option<i64>,
}

pub fn parse_update_session(body: &[u8]) -> Result<UpdateSession, ApiError> {
    let obj = parse_object(body)?;
    let resuming = match obj.get("resuming") {
        None => None,
        Some(Value::Null) => return Err(null_field("resuming")),
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(wrong_type("resuming", "a boolean")),
    };
    Ok(UpdateSession {
        resuming,
        timeout: opt_i64(&obj, "timeout")?,
    })
}

/// The body must be one JSON object.
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let v = parse_json(body)?;
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::bad_request("Request body must be a JSON object")),
    }
}

pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::bad_request("Required request body is missing"));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Malformed JSON request body: {e}")))
}

fn null_field(name: &str) -> ApiError {
    ApiError::bad_request(format!("Field '{name}' must not be null"))
}

fn wrong_type(name: &str, what: &str) -> ApiError {
    ApiError::bad_request(format!("Field '{name}' must be {what}"))
}

fn as_i64(v: &Value, name: &str) -> Result<i64, ApiError> {
    match v {
        Value::Number(n) => n.as_i64().ok_or_else(|| {
            ApiError::bad_request(format!("Field '{name}' must be a 64-bit integer, got {n}"))
        }),
        _ => Err(wrong_type(name, "an integer")),
    }
}

fn opt_i64(obj: &Map<String, Value>, key: &str) -> Result<Option<i64>, ApiError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Null) => Err(null_field(key)),
        Some(v) => as_i64(v, key).map(Some),
    }
}

fn opt_string(obj: &Map<String, Value>, key: &str, name: &str) -> Result<Option<String>, ApiError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Null) => Err(null_field(name)),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(wrong_type(name, "a string")),
    }
}

fn opt_nullable_string(
    obj: &Map<String, Value>,
    key: &str,
    name: &str,
) -> Result<Field<String>, ApiError> {
    match obj.get(key) {
        None => Ok(Field::Absent),
        Some(Value::Null) => Ok(Field::Null),
        Some(Value::String(s)) => Ok(Field::Value(s.clone())),
        Some(_) => Err(wrong_type(name, "a string or null")),
    }
}

// ---------------------------------------------------------------------------------------
// The §6 algorithm.

use std::sync::{Arc, Mutex};

use crate::player::{GuildId, PlayRequest, PlayerCommand, PlayerEvent, PlayerEventKind};
use crate::server::session::{lock, CurrentTrack, Player, Session};
use crate::source::LoadResult;
use crate::track::TrackData;

use super::backend::VoiceConnectError;
use super::Node;

/// Apply a parsed update to `guild`'s player of `session` in Lavalink's order and return
/// the resulting `Player` object.
pub fn apply_update(
    node: &Node,
    session: &Session,
    guild: GuildId,
    up: UpdatePlayer,
    no_replace: bool,
) -> Result<Value, ApiError> {
    // 2. disabled filters (any key present, even null, plugin filter names included)
    if let Some(f) = &up.filters {
        let live = node.live();
        let disabled: Vec<&str> = f
            .keys
            .iter()
            .filter(|k| !live.filters.is_enabled(k))
            .map(String::as_str)
            .collect();
        if !disabled.is_empty() {
            return Err(ApiError::bad_request(format!(
                "Following filters are disabled in the config: {}",
                disabled.join(", ")
            )));
        }
    }
    // 2b. WASM filters parse their JSON now (control thread): a bad configuration is a
    // 400 before anything changes.
    #[cfg(feature = "wasm-plugins")]
    let wasm_specs = match &up.filters {
        Some(f) => Some(wasm_specs(node, &f.filters.plugin_filters)?),
        None => None,
    };
    // 3.
    let voice = up.voice.as_ref().map(VoiceUpdate::validate).transpose()?;
    if let Some(v) = &voice {
        node.backend.voice.check(v).map_err(|e| match e {
            VoiceConnectError::Rejected(m) | VoiceConnectError::Failed(m) => {
                ApiError::bad_request(m)
            }
        })?;
    }
    // 4.
    if let Field::Value(t) = up.end_time {
        if t <= 0 {
            return Err(ApiError::bad_request("End time must be greater than 0"));
        }
    }
    // 5.
    let player = session.get_or_create_player(node, guild);
    // 6.
    if let Some(v) = &voice {
        connect_voice(node, session, &player, v)?;
    }
    let new_track = up.track.requests_new_track();
    {
        let mut p = lock(&player);
        // 7.
        if !new_track {
            if let Some(paused) = up.paused {
                p.paused = paused;
                p.handle.send(PlayerCommand::SetPaused(paused));
            }
            if let (Some(ud), Some(c)) = (&up.track.user_data, p.current.as_mut()) {
                c.user_data = ud.clone();
            }
        }
        // 8.
        if let Some(v) = up.volume {
            p.volume = v;
            p.handle.send(PlayerCommand::SetVolume(v));
        }
        // 9.
        if !new_track && p.current.is_some() {
            if let Some(pos) = up.position {
                if p.pending_start.is_some() {
                    p.pending_start = Some(pos.max(0));
                }
                p.handle.send(PlayerCommand::Seek(pos.max(0)));
                node.plugins.on_seek(&session.id, guild, pos.max(0));
                session.send_player_update(&p);
            }
            if let Field::Value(t) = up.end_time {
                p.handle.send(PlayerCommand::SetEndTime(t));
            }
        }
        // 10.
        if let Some(f) = &up.filters {
            // Lavalink keeps only names a registered plugin filter answers to.
            let mut filters = f.filters.clone();
            filters.plugin_filters = node.plugins.keep_plugin_filters(&filters.plugin_filters);
            // Only players that run (or ran) a WASM filter hear about them.
            #[cfg(feature = "wasm-plugins")]
            let had_wasm = p
                .filters
                .plugin_filters
                .keys()
                .any(|k| node.wasm.get(k).is_some());
            #[cfg(feature = "wasm-plugins")]
            for name in node.wasm.names() {
                if let Some(v) = f.filters.plugin_filters.get(&name) {
                    filters.plugin_filters.insert(name, v.clone());
                }
            }
            p.filters = filters.clone();
            p.handle.send(PlayerCommand::SetFilters(Box::new(filters)));
            #[cfg(feature = "wasm-plugins")]
            if let Some(specs) = wasm_specs.filter(|s| had_wasm || !s.is_empty()) {
                p.handle.send(PlayerCommand::SetWasmFilters(specs));
            }
            session.send_player_update(&p);
        }
        if !new_track {
            return Ok(p.to_json());
        }
        // 11.
        if no_replace && p.current.is_some() {
            return Ok(p.to_json());
        }
        let paused = up.paused.unwrap_or(false);
        p.paused = paused;
        if up.track.encoded == Field::Null {
            p.handle.send(PlayerCommand::SetPaused(paused));
            if p.current.is_some() {
                p.previous = p.current.take();
                p.handle.send(PlayerCommand::Stop);
            }
            p.update_due = None;
            p.pending_start = None;
            return Ok(p.to_json());
        }
    }
    // Resolve outside the player lock: loading may take seconds.
    let (track, stored_position) = match (&up.track.encoded, &up.track.identifier) {
        (Field::Value(enc), _) => {
            let t = decode_for_play(node, enc)?;
            let pos = t.position;
            (t, pos)
        }
        (_, Some(id)) => (load_single(node, id)?, 0),
        _ => return Err(ApiError::internal("no track to play")),
    };
    let start_ms = up.position.unwrap_or(stored_position).max(0);
    let mut p = lock(&player);
    let track = Arc::new(TrackData {
        position: start_ms,
        ..track
    });
    let user_data = up.track.user_data.clone().unwrap_or_default();
    p.previous = p.current.take();
    p.current = Some(CurrentTrack {
        track: track.clone(),
        user_data,
    });
    p.pending_start = Some(start_ms);
    p.handle.send(PlayerCommand::Play(PlayRequest {
        track,
        start_ms,
        end_ms: up.end_time.value().copied(),
        paused: p.paused,
    }));
    Ok(p.to_json())
}

const DECODE_MISMATCH: &str =
    "Failed to decode track due to a mismatching version or missing source manager";

/// Decode a client's `encoded` string as Lavalink's player manager would: undecodable
/// → 500 with the decoder's message, a source we do not have → 500.
pub fn decode_for_play(node: &Node, encoded: &str) -> Result<TrackData, ApiError> {
    // A client error (issue 14): 400 with the decoder's message, where Java answers 500.
    let decoded =
        crate::track::decode_track(encoded).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let data = decoded.data;
    if !node.backend.loader.can_decode(&data) {
        // An http/local descriptor naming no probe is a corrupt blob (the client's input,
        // 400); a source Basalt does not know, with trailing bytes it cannot read, keeps
        // Lavalink's 500 (issue 9).
        return Err(match data.info.source_name.as_str() {
            "http" | "local" => ApiError::bad_request(DECODE_MISMATCH),
            _ => ApiError::internal(DECODE_MISMATCH),
        });
    }
    Ok(data)
}

/// The loaded WASM filters named in `pluginFilters` (null values mean "off"), each
/// configured by its module; an unknown key is left to Lavalink's rule (dropped).
#[cfg(feature = "wasm-plugins")]
pub(crate) fn wasm_specs(
    node: &Node,
    plugin_filters: &serde_json::Map<String, Value>,
) -> Result<Vec<crate::plugin::wasm::Spec>, ApiError> {
    let mut specs = Vec::new();
    for (name, cfg) in plugin_filters {
        if cfg.is_null() || node.wasm.get(name).is_none() {
            continue;
        }
        let (plugin, params) = node
            .wasm
            .configure(name, cfg)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        specs.push(crate::plugin::wasm::Spec { plugin, params });
    }
    Ok(specs)
}

/// `track.identifier`: must resolve to exactly one track (§6 step 11).
fn load_single(node: &Node, identifier: &str) -> Result<TrackData, ApiError> {
    match node.load_pool.load(&node.backend.loader, identifier) {
        LoadResult::Track(t) => Ok(t),
        LoadResult::Empty => Err(ApiError::bad_request("No matches found for identifier")),
        LoadResult::Playlist { .. } | LoadResult::Search(_) => Err(ApiError::bad_request(
            "Cannot play a playlist or search result",
        )),
        LoadResult::Error(e) => {
            Err(ApiError::bad_request(e.message.unwrap_or_else(|| {
                "Something went wrong while looking up the track.".into()
            })))
        }
    }
}

/// §6 step 6: reconnect unless the same data is already connected. The handshake runs on
/// the voice pool (`voice_pool`), so the request answers at once (as Lavalink's does); a
/// failed handshake reaches the client as a WebSocketClosedEvent.
fn connect_voice(
    node: &Node,
    session: &Session,
    player: &Arc<Mutex<Player>>,
    v: &VoiceData,
) -> Result<(), ApiError> {
    let guild = {
        let mut p = lock(player);
        let alive = p.link.as_ref().is_some_and(|l| l.is_connected());
        if p.voice.as_ref() == Some(v) && (alive || p.link.is_none()) {
            // Connected, or this very handshake is still under way.
            return Ok(());
        }
        if let Some(old) = p.link.take() {
            p.handle.send(PlayerCommand::DetachSink);
            old.close();
        }
        // Marks the handshake under way; a newer voice update replaces it and the older
        // handshake's result is then dropped.
        p.voice = Some(v.clone());
        p.guild_id
    };
    let weak = Arc::downgrade(player);
    let connector = node.backend.voice.clone();
    let (user_id, events, data) = (session.user_id, session.events(), v.clone());
    let queued = node.voice_pool.submit(move || {
        let result = connector.connect(user_id, guild, &data, events.clone());
        let Some(player) = weak.upgrade() else {
            // Destroyed meanwhile.
            if let Ok(link) = result {
                link.close();
            }
            return;
        };
        let mut p = lock(&player);
        if p.voice.as_ref() != Some(&data) || p.link.is_some() {
            if let Ok(link) = result {
                link.close();
            }
            return;
        }
        match result {
            Ok(link) => {
                p.handle.send(PlayerCommand::AttachSink(link.sink()));
                p.link = Some(link);
            }
            Err(VoiceConnectError::Rejected(m)) | Err(VoiceConnectError::Failed(m)) => {
                log::warn!("voice connect for guild {guild} failed: {m}");
                p.voice = None;
                let _ = events.try_send(PlayerEvent {
                    guild_id: guild,
                    kind: PlayerEventKind::VoiceClosed {
                        code: 1006,
                        reason: format!("Failed to connect to voice server: {m}"),
                        by_remote: false,
                    },
                });
            }
        }
    });
    if !queued {
        lock(player).voice = None;
        return Err(ApiError::internal(
            "Too many voice connections are being set up; try again",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tri_state_and_nulls() {
        let u = parse_update_player(br#"{"track":{"encoded":null},"endTime":null}"#).unwrap();
        assert_eq!(u.track.encoded, Field::Null);
        assert_eq!(u.end_time, Field::Null);
        assert!(u.track.requests_new_track());
        assert!(parse_update_player(br#"{"track":{"identifier":null}}"#).is_err());
        assert!(parse_update_player(br#"{"volume":null}"#).is_err());
        assert!(parse_update_player(br#"{"position":1.5}"#).is_err());
        assert_eq!(
            parse_update_player(br#"{"volume":5000}"#).unwrap().volume,
            Some(1000)
        );
        assert_eq!(
            parse_update_player(br#"{"volume":-5}"#).unwrap().volume,
            Some(0)
        );
        assert!(parse_update_player(b"[1]").is_err());
        assert!(parse_update_player(b"").is_err());
        let e = parse_update_player(br#"{"track":{},"encodedTrack":"x"}"#).unwrap_err();
        assert_eq!(
            e.message(),
            "Cannot specify both track and encodedTrack/identifier"
        );
        let e = parse_update_player(br#"{"encodedTrack":"x","identifier":"y"}"#).unwrap_err();
        assert_eq!(
            e.message(),
            "Cannot specify both encodedTrack and identifier"
        );
    }
}
