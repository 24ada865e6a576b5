//! InnerTube requests (sources.md §6.4): one JSON POST per call, the client's context and
//! headers, visitor data for app clients, and the response check. Every failure names the
//! client that produced it (the chain in `mod.rs` prefixes `Client [<NAME>]`).

use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::clients::ClientSpec;
use super::mapping::YtError;
use crate::net::Outbound;

/// Avoids the EU consent interstitial on HTML fetches (youtube-source sends it always).
pub const CONSENT_COOKIE: &str = "CONSENT=YES+cb.20210328-17-p0.en+FX+471";
/// Visitor data is refreshed at most this often.
const VISITOR_TTL: Duration = Duration::from_secs(600);

/// Extra fields of one `/player` request.
#[derive(Debug, Default, Clone)]
pub struct PlayerOptions {
    /// `clientScreen: EMBED` + `thirdParty.embedUrl` (non-OAuth clients, first attempt).
    pub embed: bool,
    pub signature_timestamp: Option<u32>,
    pub encrypted_host_flags: Option<String>,
    pub po_token: Option<String>,
    /// `Authorization` for OAuth clients.
    pub authorization: Option<String>,
}

pub struct Innertube {
    out: Outbound,
    base: String,
    music_base: String,
    /// Static visitor data from config (paired with a static PO token), else fetched.
    static_visitor: RwLock<Option<String>>,
    visitor: Mutex<Option<(String, Instant)>>,
    /// `[youtube] ban_on_bot_wall`: the bot wall marks the planner address failing (off
    /// keeps Lavalink's behaviour, where only HTTP 429 does).
    ban_on_bot_wall: bool,
    /// `[youtube] web_version_from_page`: WEB's version scraped from youtube.com's ytcfg.
    web_version: Option<super::webcfg::WebVersion>,
}

impl Innertube {
    pub fn new(out: Outbound, base: &str, music_base: &str, static_visitor: &str) -> Innertube {
        Innertube {
            out,
            base: base.trim_end_matches('/').to_string(),
            music_base: music_base.trim_end_matches('/').to_string(),
            static_visitor: RwLock::new(
                (!static_visitor.trim().is_empty()).then(|| static_visitor.trim().into()),
            ),
            visitor: Mutex::new(None),
            ban_on_bot_wall: true,
            web_version: None,
        }
    }

    /// WEB's `clientVersion` comes from youtube.com's ytcfg (fetched once, §6.4).
    pub fn with_web_version_from_page(mut self, on: bool) -> Innertube {
        self.web_version = on.then(|| super::webcfg::WebVersion::new(self.out.clone()));
        self
    }

    /// The version client `c` sends: the scraped one for WEB when enabled and found.
    fn client_version<'a>(&'a self, c: &'a ClientSpec) -> &'a str {
        match &self.web_version {
            Some(w) if c.client_name == "WEB" => w.get().unwrap_or(&c.client_version),
            _ => &c.client_version,
        }
    }

    /// Whether a bot-wall answer marks the route planner's address failing.
    pub fn with_bot_wall_ban(mut self, on: bool) -> Innertube {
        self.ban_on_bot_wall = on;
        self
    }

    pub fn outbound(&self) -> &Outbound {
        &self.out
    }

    /// `context` for a client (§6.4).
    fn context(&self, c: &ClientSpec, embed: bool, visitor: Option<&str>) -> Value {
        let mut client = Map::new();
        client.insert("clientName".into(), c.client_name.clone().into());
        client.insert("clientVersion".into(), self.client_version(c).into());
        client.insert("hl".into(), "en".into());
        client.insert("gl".into(), "US".into());
        for (k, v) in &c.client_fields {
            client.insert(k.clone(), v.clone());
        }
        if let Some(v) = visitor {
            client.insert("visitorData".into(), v.into());
        }
        if embed {
            client.insert("clientScreen".into(), "EMBED".into());
        }
        let mut ctx = Map::new();
        ctx.insert("client".into(), Value::Object(client));
        if c.locked_safety_mode {
            ctx.insert("user".into(), json!({"lockedSafetyMode": false}));
        }
        if embed {
            ctx.insert(
                "thirdParty".into(),
                json!({"embedUrl": "https://google.com"}),
            );
        }
        Value::Object(ctx)
    }

    fn static_visitor(&self) -> Option<String> {
        self.static_visitor
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces (or with None clears) the visitor data paired with a static PO token.
    pub fn set_static_visitor(&self, v: Option<&str>) {
        *self
            .static_visitor
            .write()
            .unwrap_or_else(|e| e.into_inner()) = v.map(str::to_string);
    }

    /// Visitor data for app clients: the configured one, else `/visitor_id` (cached 10 min).
    fn visitor_data(&self) -> Option<String> {
        if let Some(v) = self.static_visitor() {
            return Some(v);
        }
        let mut cell = self.visitor.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((v, at)) = cell.as_ref() {
            if at.elapsed() < VISITOR_TTL {
                return Some(v.clone());
            }
        }
        let android = super::clients::builtin()
            .into_iter()
            .find(|c| c.name == "ANDROID")?;
        let body = json!({ "context": self.context(&android, false, None) });
        let url = format!("{}/youtubei/v1/visitor_id?prettyPrint=false", self.base);
        let resp = self
            .out
            .post(&url)
            .header("Cookie", CONSENT_COOKIE)
            .header("User-Agent", &android.user_agent)
            .json(&body)
            .send()
            .ok()?;
        if !resp.is_success() {
            log::warn!("youtube: visitor_id answered {}", resp.status());
            return None;
        }
        let v = resp.json().ok()?;
        let data = v
            .pointer("/responseContext/visitorData")?
            .as_str()?
            .to_string();
        *cell = Some((data.clone(), Instant::now()));
        Some(data)
    }

    /// POSTs `body` (its `context` added) to an endpoint as client `c`.
    fn post(
        &self,
        c: &ClientSpec,
        url: &str,
        body: Map<String, Value>,
        embed: bool,
        what: &str,
    ) -> Result<Value, YtError> {
        self.post_auth(c, url, body, embed, what, None)
    }

    /// `post` with an `Authorization` header (OAuth clients).
    fn post_auth(
        &self,
        c: &ClientSpec,
        url: &str,
        mut body: Map<String, Value>,
        embed: bool,
        what: &str,
        authorization: Option<&str>,
    ) -> Result<Value, YtError> {
        let app = !c.user_agent.is_empty();
        let visitor = if app {
            self.visitor_data()
        } else {
            self.static_visitor()
        };
        body.insert("context".into(), self.context(c, embed, visitor.as_deref()));
        for (k, v) in &c.root_fields {
            body.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let mut req = self
            .out
            .post(url)
            .header("Cookie", CONSENT_COOKIE)
            .header("X-YouTube-Client-Name", &c.id.to_string())
            .header("X-YouTube-Client-Version", self.client_version(c))
            .json(&Value::Object(body));
        if let Some(a) = authorization {
            req = req.header("Authorization", a);
        }
        if c.family == super::clients::Family::Music {
            req = req.header("Referer", "music.youtube.com");
        }
        if app {
            req = req.header("User-Agent", &c.user_agent);
            if let Some(v) = &visitor {
                req = req.header("X-Goog-Visitor-Id", v);
            }
        }
        let resp = req.send().map_err(|e| {
            let mut y = YtError::suspicious(format!("Request for {what} failed: {}", e.detail()));
            y.network = is_retriable(&e);
            y
        })?;
        let status = resp.status();
        let json_type = resp
            .header("content-type")
            .is_some_and(|t| t.contains("json"));
        if !(200..300).contains(&status) || !json_type {
            let mut e = YtError::suspicious(format!("Invalid status code for {what}: {status}"));
            e.status = Some(status);
            return Err(e);
        }
        let local = resp.local_address();
        let v = resp.json().map_err(|e| {
            let mut y = YtError::suspicious(format!("Invalid JSON for {what}: {}", e.detail()));
            y.network = is_retriable(&e);
            y
        })?;
        if self.ban_on_bot_wall && is_bot_wall(&v) {
            self.flag_address(local);
        }
        Ok(v)
    }

    /// The route-planner hook for YouTube's bot wall (§6.15 item 5): the address that got
    /// "Sign in to confirm you're not a bot" is marked failing, so the retry leaves from
    /// another one. Lavalink only reacts to 429; this is the improvement the spec asks for.
    fn flag_address(&self, local: Option<std::net::IpAddr>) {
        if let (Some(p), Some(ip)) = (self.out.planner(), local) {
            log::warn!("youtube: bot wall on {ip}; marking it failing");
            p.mark_failing(ip);
        }
    }

    /// Whether a bot-wall answer is worth one retry: a planner exists and the bot wall
    /// moves it to another address.
    pub fn rotates(&self) -> bool {
        self.ban_on_bot_wall && self.out.planner().is_some()
    }

    fn endpoint(&self, name: &str) -> String {
        format!("{}/youtubei/v1/{name}?prettyPrint=false", self.base)
    }

    pub fn player(
        &self,
        c: &ClientSpec,
        video_id: &str,
        o: &PlayerOptions,
    ) -> Result<Value, YtError> {
        let mut body = Map::new();
        body.insert("videoId".into(), video_id.into());
        body.insert("racyCheckOk".into(), true.into());
        body.insert("contentCheckOk".into(), true.into());
        if !c.player_params.is_empty() {
            body.insert("params".into(), c.player_params.clone().into());
        }
        let mut cpc = Map::new();
        if let Some(sts) = o.signature_timestamp {
            cpc.insert("signatureTimestamp".into(), sts.into());
        }
        if let Some(f) = &o.encrypted_host_flags {
            cpc.insert("encryptedHostFlags".into(), f.clone().into());
        }
        if !cpc.is_empty() {
            body.insert(
                "playbackContext".into(),
                json!({ "contentPlaybackContext": cpc }),
            );
        }
        if let Some(t) = &o.po_token {
            body.insert("serviceIntegrityDimensions".into(), json!({ "poToken": t }));
        }
        self.post_auth(
            c,
            &self.endpoint("player"),
            body,
            o.embed && !c.oauth,
            "player",
            o.authorization.as_deref().filter(|_| c.oauth),
        )
    }

    pub fn search(&self, c: &ClientSpec, query: &str) -> Result<Value, YtError> {
        let mut body = Map::new();
        body.insert("query".into(), query.into());
        body.insert("params".into(), "EgIQAfABAQ==".into());
        self.post(c, &self.endpoint("search"), body, false, "search")
    }

    pub fn music_search(&self, c: &ClientSpec, query: &str) -> Result<Value, YtError> {
        let mut body = Map::new();
        body.insert("query".into(), query.into());
        body.insert(
            "params".into(),
            "Eg-KAQwIARAAGAAgACgAMABqChADEAQQCRAFEAo=".into(),
        );
        let url = format!("{}/youtubei/v1/search?prettyPrint=false", self.music_base);
        self.post(c, &url, body, false, "music search")
    }

    pub fn browse(
        &self,
        c: &ClientSpec,
        browse_id: Option<&str>,
        continuation: Option<&str>,
    ) -> Result<Value, YtError> {
        let mut body = Map::new();
        if let Some(b) = browse_id {
            body.insert("browseId".into(), b.into());
        }
        if let Some(t) = continuation {
            body.insert("continuation".into(), t.into());
        }
        self.post(c, &self.endpoint("browse"), body, false, "playlist")
    }

    pub fn next(&self, c: &ClientSpec, video_id: &str, list: &str) -> Result<Value, YtError> {
        let mut body = Map::new();
        body.insert("videoId".into(), video_id.into());
        body.insert("playlistId".into(), list.into());
        self.post(c, &self.endpoint("next"), body, false, "mix")
    }
}

/// lavaplayer's "retriable network exception": a reset or closed connection, a read
/// timeout, a body cut short. Refused connections and bad URLs are not transient.
fn is_retriable(e: &crate::net::NetError) -> bool {
    use crate::net::NetError;
    match e {
        NetError::Timeout(_) | NetError::Io(_) => true,
        NetError::Connect(s) => {
            let s = s.to_ascii_lowercase();
            s.contains("reset") || s.contains("closed") || s.contains("timed out")
        }
        _ => false,
    }
}

/// The bot wall: `LOGIN_REQUIRED` whose reason asks to confirm "not a bot".
pub fn is_bot_wall(v: &Value) -> bool {
    v.pointer("/playabilityStatus/status")
        .and_then(Value::as_str)
        == Some("LOGIN_REQUIRED")
        && v.pointer("/playabilityStatus/reason")
            .and_then(Value::as_str)
            .is_some_and(|r| r.contains("not a bot"))
}

impl Innertube {
    /// POSTs to a YouTube Music InnerTube endpoint (`music/get_search_suggestions`, `next`,
    /// `browse`, `search`) as client `c`: LavaSrc's search suggestions and lyrics use the
    /// same context, headers and visitor data as the source's own calls.
    pub fn music_call(
        &self,
        c: &ClientSpec,
        endpoint: &str,
        body: Map<String, Value>,
        what: &str,
    ) -> Result<Value, YtError> {
        let url = format!(
            "{}/youtubei/v1/{endpoint}?prettyPrint=false",
            self.music_base
        );
        self.post(c, &url, body, false, what)
    }
}
