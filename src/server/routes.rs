//! REST routing and handlers (spec §4, §9, §11).

use super::method::Method;
use serde_json::{Map, Value};

use super::error::ApiError;
use super::update::{
    apply_update, decode_for_play, parse_json, parse_update_player, parse_update_session,
};
use super::{dto, Node};
use crate::server::session::{lock, Session};

/// One request as the handlers see it.
pub struct Req<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub body: &'a [u8],
    pub content_type: Option<&'a str>,
    pub is_metrics: bool,
}

impl Req<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub enum Body {
    Empty,
    Json(Value),
    Text(String),
    Raw(Vec<u8>, &'static str),
}

pub struct Reply {
    pub status: u16,
    pub body: Body,
}

impl Reply {
    fn json(v: Value) -> Reply {
        Reply {
            status: 200,
            body: Body::Json(v),
        }
    }
    fn no_content() -> Reply {
        Reply {
            status: 204,
            body: Body::Empty,
        }
    }
}

/// `a=b&c` → pairs, percent-decoded with `+` as space (as the servlet container does).
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

/// `trace` present with any value but `false` (§3).
pub fn wants_trace(q: &[(String, String)]) -> bool {
    q.iter()
        .any(|(k, v)| k == "trace" && !v.eq_ignore_ascii_case("false"))
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

fn parse_bool_param(name: &str, v: &str) -> Result<bool, ApiError> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "Failed to convert value of type 'java.lang.String' to required type 'boolean' for parameter '{name}': Invalid boolean value [{v}]"
        ))),
    }
}

fn parse_guild(s: &str) -> Result<u64, ApiError> {
    s.parse::<u64>().map_err(|_| {
        ApiError::bad_request(format!(
            "Failed to convert value of type 'java.lang.String' to required type 'long'; For input string: \"{s}\""
        ))
    })
}

fn session(node: &Node, id: &str) -> Result<std::sync::Arc<Session>, ApiError> {
    node.sessions
        .get_connected(id)
        .ok_or_else(|| ApiError::not_found("Session not found"))
}

fn require_json(r: &Req) -> Result<(), ApiError> {
    match r.content_type {
        Some(ct) if !ct.to_ascii_lowercase().contains("json") => Err(
            ApiError::UnsupportedMediaType(format!("Content-Type '{ct}' is not supported")),
        ),
        _ => Ok(()),
    }
}

fn method_not_allowed(r: &Req) -> ApiError {
    ApiError::MethodNotAllowed(format!("Request method '{}' is not supported", r.method))
}

/// Route one authenticated request.
pub fn dispatch(node: &Node, r: &Req) -> Result<Reply, ApiError> {
    if r.is_metrics {
        return if *r.method == Method::Get {
            metrics(node, r)
        } else {
            Err(method_not_allowed(r))
        };
    }
    let segs: Vec<&str> = r.path.trim_start_matches('/').split('/').collect();
    let get = *r.method == Method::Get;
    match segs.as_slice() {
        ["version"] if get => Ok(Reply {
            status: 200,
            body: Body::Text(dto::LAVALINK_VERSION.into()),
        }),
        [""] | ["v3", "websocket"] if get => {
            log::warn!(
                "a client used the legacy path {}; use /v4/websocket",
                r.path
            );
            Ok(Reply {
                status: 200,
                body: Body::Empty,
            })
        }
        ["v4", "info"] if get => Ok(Reply::json(info(node))),
        ["v4", "stats"] if get => {
            let (players, playing) = node.sessions.player_counts();
            Ok(Reply::json(dto::stats(
                None,
                players,
                playing,
                &node.system_figures(),
            )))
        }
        ["v4", "loadtracks"] if get => {
            let id = r.param("identifier").ok_or_else(|| {
                ApiError::bad_request("Required request parameter 'identifier' for method parameter type String is not present")
            })?;
            let started = std::time::Instant::now();
            let result = node.load_pool.load(&node.backend.loader, id);
            crate::telemetry::load_done(id, &result, started.elapsed());
            Ok(Reply::json(dto::load_result(&result)))
        }
        ["v4", "decodetrack"] if get => {
            let enc = r
                .param("encodedTrack")
                .or_else(|| r.param("track"))
                .ok_or_else(|| ApiError::bad_request("No track to decode provided"))?;
            Ok(Reply::json(decode_echo(node, enc)?))
        }
        ["v4", "decodetracks"] if *r.method == Method::Post => {
            require_json(r)?;
            let list = match parse_json(r.body)? {
                Value::Array(a) => a,
                _ => {
                    return Err(ApiError::bad_request(
                        "Request body must be a JSON array of strings",
                    ))
                }
            };
            if list.is_empty() {
                return Err(ApiError::bad_request("No tracks to decode provided"));
            }
            let mut out = Vec::with_capacity(list.len());
            for v in &list {
                let s = v.as_str().ok_or_else(|| {
                    ApiError::bad_request("Request body must be a JSON array of strings")
                })?;
                out.push(decode_echo(node, s)?);
            }
            Ok(Reply::json(Value::Array(out)))
        }
        ["v4", "sessions", sid, "players"] if get => {
            let s = session(node, sid)?;
            let list: Vec<Value> = s.players().iter().map(|p| lock(p).to_json()).collect();
            Ok(Reply::json(Value::Array(list)))
        }
        ["v4", "sessions", sid, "players", gid] => {
            let guild = parse_guild(gid)?;
            let s = session(node, sid)?;
            match *r.method {
                Method::Get => match s.player(guild) {
                    Some(p) => Ok(Reply::json(lock(&p).to_json())),
                    None => Err(ApiError::not_found("Player not found")),
                },
                Method::Patch => {
                    require_json(r)?;
                    let no_replace = match r.param("noReplace") {
                        Some(v) => parse_bool_param("noReplace", v)?,
                        None => false,
                    };
                    let up = parse_update_player(r.body)?;
                    node.drain.check_update(&s, guild, &up)?;
                    Ok(Reply::json(apply_update(node, &s, guild, up, no_replace)?))
                }
                Method::Delete => {
                    s.destroy_player(guild);
                    Ok(Reply::no_content())
                }
                _ => Err(method_not_allowed(r)),
            }
        }
        ["v4", "sessions", sid] => {
            if *r.method != Method::Patch {
                return Err(method_not_allowed(r));
            }
            let s = session(node, sid)?;
            require_json(r)?;
            let up = parse_update_session(r.body)?;
            let (resuming, timeout) = s.update_resuming(up.resuming, up.timeout);
            Ok(Reply::json(
                serde_json::json!({"resuming": resuming, "timeout": timeout}),
            ))
        }
        ["v4", "routeplanner", "status"] if get => match &node.planner {
            Some(p) => Ok(Reply::json(p.status())),
            None => Ok(Reply::no_content()),
        },
        ["v4", "routeplanner", "free", what] if *r.method == Method::Post => {
            let planner = node
                .planner
                .as_ref()
                .ok_or_else(|| ApiError::internal("Can't access disabled route planner"))?;
            match *what {
                "all" => {
                    planner.free_all();
                    Ok(Reply::no_content())
                }
                "address" => {
                    require_json(r)?;
                    let obj = super::update::parse_object(r.body)?;
                    let addr = match obj.get("address") {
                        Some(Value::String(a)) => a.clone(),
                        _ => return Err(ApiError::bad_request("Field 'address' must be a string")),
                    };
                    planner
                        .free_address(&addr)
                        .map_err(|d| ApiError::bad_request(format!("Invalid address: {d}")))?;
                    Ok(Reply::no_content())
                }
                _ => Err(ApiError::not_found("Not Found")),
            }
        }
        ["v4", "drain"] if *r.method == Method::Post => {
            if node.drain.start() {
                let (players, playing) = node.sessions.player_counts();
                log::info!(
                    "drain started by POST /v4/drain ({players} players, {playing} playing)"
                );
            }
            Ok(Reply::no_content())
        }
        ["version"]
        | [""]
        | ["v4", "drain"]
        | ["v3", "websocket"]
        | ["v4", "info" | "stats" | "loadtracks" | "decodetrack"]
        | ["v4", "decodetracks"]
        | ["v4", "sessions", _, "players"]
        | ["v4", "routeplanner", "status"]
        | ["v4", "routeplanner", "free", _] => Err(method_not_allowed(r)),
        ["youtube", ..] => {
            youtube_routes(node, r, &segs).unwrap_or_else(|| Err(ApiError::not_found("Not Found")))
        }
        #[cfg(feature = "wasm-plugins")]
        ["v4", "wasm", rest @ ..] => wasm_routes(node, r, rest),
        _ => node
            .plugins
            .route(node, r)
            .unwrap_or_else(|| Err(ApiError::not_found("Not Found"))),
    }
}

/// youtube-source's `/youtube…` routes, answered by the built-in YouTube source.
fn youtube_routes(node: &Node, r: &Req, segs: &[&str]) -> Option<Result<Reply, ApiError>> {
    use crate::source::youtube::rest::{handle, RestReply};
    let method = match *r.method {
        Method::Get => "GET",
        Method::Post => "POST",
        _ => "OTHER",
    };
    let source = node.backend.loader.youtube();
    let yt = source
        .as_deref()
        .and_then(|s| s.as_any())
        .and_then(|a| a.downcast_ref::<crate::source::youtube::YoutubeSource>());
    let answer = handle(yt, method, segs, r.query, r.body)?;
    Some(match answer {
        Ok(RestReply::Json(v)) => Ok(Reply::json(v)),
        Ok(RestReply::NoContent) => Ok(Reply::no_content()),
        Ok(RestReply::Media { bytes, mime }) => Ok(Reply {
            status: 200,
            body: Body::Raw(bytes, mime),
        }),
        Err((405, _)) => Err(method_not_allowed(r)),
        Err((400, m)) => Err(ApiError::bad_request(m)),
        Err((_, m)) => Err(ApiError::internal(m)),
    })
}

/// decodetrack: the input echoed as `encoded`, the stored position, `userData` `{}`.
fn decode_echo(node: &Node, encoded: &str) -> Result<Value, ApiError> {
    let data = decode_for_play(node, encoded)?;
    Ok(dto::track_with(&data, encoded.to_string(), &Map::new()))
}

fn info(node: &Node) -> Value {
    let sources = node.backend.loader.source_names();
    let filters = node.live().filters.enabled_names();
    let mut v = dto::info(&sources, &filters);
    // The native LavaDSPX entry from `dto::info`, then the built-in plugins.
    let mut plugins = v["plugins"].as_array().cloned().unwrap_or_default();
    plugins.extend(node.plugins.info().as_array().cloned().unwrap_or_default());
    // The built-in YouTube source answers for youtube-source's plugin entry.
    plugins.extend(crate::source::youtube::info_plugins(&sources));
    v["plugins"] = Value::Array(plugins);
    // Loaded WASM filters answer to `pluginFilters.<name>` like plugins' filters.
    #[cfg(feature = "wasm-plugins")]
    if let Some(list) = v["filters"].as_array_mut() {
        list.extend(node.wasm.names().into_iter().map(Value::from));
    }
    v
}

/// After modules are (re)loaded, the players whose filters name one of them run the new
/// module with their stored configuration: a reload must not silently drop a filter that
/// is playing.
#[cfg(feature = "wasm-plugins")]
fn reapply_wasm(node: &Node, names: &[String]) {
    for s in node.sessions.all() {
        for p in s.players() {
            let p = lock(&p);
            if !names
                .iter()
                .any(|n| p.filters.plugin_filters.contains_key(n))
            {
                continue;
            }
            match super::update::wasm_specs(node, &p.filters.plugin_filters) {
                Ok(specs) => p
                    .handle
                    .send(crate::player::PlayerCommand::SetWasmFilters(specs)),
                Err(e) => log::warn!("player {}: {e} after a WASM reload", p.guild_id),
            }
        }
    }
}

/// `/v4/wasm/…`: list, load (or reload), unload the run-time WASM filters, rescan their
/// directory.
#[cfg(feature = "wasm-plugins")]
fn wasm_routes(node: &Node, r: &Req, rest: &[&str]) -> Result<Reply, ApiError> {
    use crate::plugin::wasm::WasmError;
    let err = |e: WasmError| match e.status() {
        404 => ApiError::not_found(e.to_string()),
        _ => ApiError::bad_request(e.to_string()),
    };
    match (rest, r.method) {
        (["filters"], Method::Get) => Ok(Reply::json(node.wasm.list())),
        (["filters", name], Method::Post) => {
            let info = node.wasm.load(name).map_err(err)?;
            reapply_wasm(node, &[name.to_string()]);
            Ok(Reply::json(info))
        }
        (["filters", name], Method::Delete) => node
            .wasm
            .unload(name)
            .map(|_| Reply::no_content())
            .map_err(err),
        (["rescan"], Method::Post) => {
            let report = node.wasm.rescan().map_err(err)?;
            let loaded: Vec<String> = report["loaded"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect();
            reapply_wasm(node, &loaded);
            Ok(Reply::json(report))
        }
        (["filters"] | ["filters", _] | ["rescan"], _) => Err(method_not_allowed(r)),
        _ => Err(ApiError::not_found("Not Found")),
    }
}

fn metrics(node: &Node, r: &Req) -> Result<Reply, ApiError> {
    let names: Vec<String> = r
        .query
        .iter()
        .filter(|(k, _)| k == "name[]")
        .map(|(_, v)| v.clone())
        .collect();
    let (players, playing) = node.sessions.player_counts();
    let mut fig = crate::metrics::Figures::gather(players as u64, playing as u64, node.uptime_ms());
    fig.basalt = basalt_figures(node, players, playing);
    let text = crate::metrics::render(&fig, &names);
    Ok(Reply {
        status: 200,
        body: Body::Raw(text.into_bytes(), crate::metrics::CONTENT_TYPE),
    })
}

/// Player states and the route planner's failing addresses for the `basalt_*` families.
fn basalt_figures(node: &Node, players: usize, playing: usize) -> crate::telemetry::ScrapeFigures {
    let paused = node
        .sessions
        .all()
        .iter()
        .flat_map(|s| s.players())
        .filter(|p| {
            let p = lock(p);
            p.current.is_some() && p.paused
        })
        .count();
    let failing = node.planner.as_ref().map(|p| {
        p.status()["details"]["failingAddresses"]
            .as_array()
            .map_or(0, |a| a.len() as u64)
    });
    crate::telemetry::ScrapeFigures {
        playing: playing as u64,
        paused: paused as u64,
        idle: players.saturating_sub(playing + paused) as u64,
        failing_addresses: failing,
        #[cfg(feature = "wasm-plugins")]
        wasm_faults: node.wasm.fault_counts(),
        #[cfg(not(feature = "wasm-plugins"))]
        wasm_faults: Vec::new(),
    }
}
