//! Outbound HTTP for every source and plugin: one place that applies the operator's
//! `[http]` proxy (plain http through the proxy, https through CONNECT), extra trusted
//! roots (`ca_file`), fixed per-host headers, `user:password@` Basic authentication and the
//! `[timeouts]`, so no request of any source can bypass them.
//!
//! Built on reqwest's blocking client (its private runtime never touches the audio path).
//! Redirects are followed here, hop by hop, so per-host headers and credentials are applied
//! to each host and never leak to another one.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
pub use reqwest::{Method, Url};

use crate::config::Config;

pub mod routeplanner;

use routeplanner::RoutePlanner;

/// A neutral desktop-browser User-Agent (sources.md §0.5).
pub const USER_AGENT: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";
/// Largest body `Response::text`/`json` read (pages, API answers, playlists).
pub const MAX_TEXT: usize = 8 * 1024 * 1024;
/// Redirect hops followed before giving up.
const MAX_REDIRECTS: usize = 10;
/// Connect, connection and read timeout of live HLS segment requests (lavaplayer's
/// streaming request config, sources.md §0.5): a fixed 5000 ms whatever `[timeouts]` says.
pub const LIVE_SEGMENT_TIMEOUT: Duration = Duration::from_millis(5000);

/// Why an outbound request failed before a status line arrived, or its body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("I/O error: {0}")]
    Io(String),
    #[error("response body larger than {0} bytes")]
    TooLarge(usize),
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("too many redirects")]
    TooManyRedirects,
    /// Every address the route planner offered was banned (lavaplayer's message).
    #[error("Retry aborted, too many retries on ratelimit.")]
    RateLimited,
    /// The route planner had no usable address left.
    #[error("{0}")]
    NoAddress(String),
}

impl NetError {
    /// The underlying text without the kind prefix (for Java-style cause strings).
    pub fn detail(&self) -> String {
        match self {
            NetError::InvalidUrl(s)
            | NetError::Connect(s)
            | NetError::Timeout(s)
            | NetError::Io(s)
            | NetError::Json(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

/// `Authorization: Basic …` for a URL carrying `user:password@`, else None.
pub fn userinfo_auth(url: &Url) -> Option<String> {
    if url.username().is_empty() {
        return None;
    }
    let user = percent_decode(url.username());
    let pass = percent_decode(url.password().unwrap_or(""));
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    Some(format!("Basic {token}"))
}

/// Reads `path` as a PEM bundle of root certificates: the certificates, or why not.
pub fn read_ca_file(path: &str) -> Result<Vec<reqwest::Certificate>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("{path} is not a PEM certificate bundle: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{path} holds no PEM certificate"));
    }
    Ok(certs)
}

/// Settings shared by every client built from one configuration.
struct Settings {
    proxy: Option<(String, Option<(String, String)>)>,
    /// Built-in roots plus `ca_file`'s.
    roots: Vec<reqwest::Certificate>,
    connect_timeout: Duration,
    /// `connection_request_timeout_ms`: the whole acquisition of a connection (see
    /// `make_client`).
    request_timeout: Duration,
    read_timeout: Duration,
    /// Lower-cased host → headers.
    host_headers: BTreeMap<String, Vec<(String, String)>>,
    planner: Option<Arc<RoutePlanner>>,
}

/// Clients bound to route-planner addresses, kept so a stable address keeps its pool.
const ROUTED_CLIENTS: usize = 16;

/// Idle kept-alive connections kept per host. Every idle connection keeps its read buffer
/// (hyper grows it to the largest response read in one go): media streams read in range
/// windows return their connection after each window, and after a burst of starts the pool
/// otherwise kept one idle connection per player for its 90 s idle timeout. Window requests
/// take milliseconds each, so a handful of connections serves hundreds of players.
const MAX_IDLE_PER_HOST: usize = 8;

/// The outbound client. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Outbound {
    settings: Arc<Settings>,
    client: reqwest::blocking::Client,
    user_agent: String,
    cookies: Option<Arc<reqwest::cookie::Jar>>,
    /// Bind each request to a route-planner address (when a planner is configured).
    routed: bool,
    routed_clients: Arc<std::sync::Mutex<Vec<(std::net::IpAddr, reqwest::blocking::Client)>>>,
    /// The live-segment variant of `client` (same settings, `LIVE_SEGMENT_TIMEOUT`), built
    /// on first use and shared by every clone.
    live: Arc<std::sync::OnceLock<reqwest::blocking::Client>>,
}

impl Outbound {
    /// Builds the client from `[http]` and `[timeouts]`. A `ca_file` that cannot be read
    /// was already refused by config validation; here it is logged and skipped.
    pub fn new(config: &Config) -> Outbound {
        let h = &config.http;
        let proxy = (!h.proxy_host.trim().is_empty()).then(|| {
            let url = format!("http://{}:{}", h.proxy_host.trim(), h.proxy_port);
            let auth = (!h.proxy_user.trim().is_empty())
                .then(|| (h.proxy_user.clone(), h.proxy_password.clone()));
            (url, auth)
        });
        let mut roots: Vec<reqwest::Certificate> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .filter_map(|c| reqwest::Certificate::from_der(c.as_ref()).ok())
            .collect();
        let extra_roots = if h.ca_file.trim().is_empty() {
            Vec::new()
        } else {
            read_ca_file(h.ca_file.trim()).unwrap_or_else(|e| {
                log::error!("[http] ca_file: {e}");
                Vec::new()
            })
        };
        let host_headers = h
            .headers
            .iter()
            .map(|(host, hs)| {
                let list = hs.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                (host.trim().to_ascii_lowercase(), list)
            })
            .collect();
        let t = &config.timeouts;
        let settings = Arc::new(Settings {
            proxy,
            roots: {
                roots.extend(extra_roots);
                roots
            },
            connect_timeout: timeout_setting(t.connect_timeout_ms),
            request_timeout: timeout_setting(t.connection_request_timeout_ms),
            read_timeout: timeout_setting(t.socket_timeout_ms),
            host_headers,
            planner: config.planner.get(&config.ratelimit),
        });
        Outbound::build(settings, USER_AGENT.to_string(), None, false)
    }

    fn build(
        settings: Arc<Settings>,
        user_agent: String,
        cookies: Option<Arc<reqwest::cookie::Jar>>,
        routed: bool,
    ) -> Outbound {
        let client = make_client(&settings, &user_agent, cookies.as_ref(), None, None);
        Outbound {
            settings,
            client,
            user_agent,
            cookies,
            routed,
            routed_clients: Default::default(),
            live: Default::default(),
        }
    }

    /// The same client with lavaplayer's live-segment timeouts (`LIVE_SEGMENT_TIMEOUT` for
    /// connecting, obtaining a connection and each read) instead of `[timeouts]`: for the
    /// segments of live HLS streams. Routed requests keep `[timeouts]`.
    pub fn live_segments(&self) -> Outbound {
        let client = self
            .live
            .get_or_init(|| {
                make_client(
                    &self.settings,
                    &self.user_agent,
                    self.cookies.as_ref(),
                    None,
                    Some(LIVE_SEGMENT_TIMEOUT),
                )
            })
            .clone();
        Outbound {
            client,
            ..self.clone()
        }
    }

    /// The same client, binding every request to an address of the route planner
    /// (`[ratelimit] ip_blocks`) and retrying from another one on a ban. Without a
    /// planner it is the plain client.
    pub fn routed(&self) -> Outbound {
        Outbound {
            routed: true,
            ..self.clone()
        }
    }

    /// The configured route planner, if any.
    pub fn planner(&self) -> Option<&Arc<RoutePlanner>> {
        self.settings.planner.as_ref()
    }

    /// Reports the address that carried `resp` as banned (a bot wall answered 200, say),
    /// so the next request leaves from another one.
    pub fn report_ban(&self, resp: &Response) {
        if let (Some(p), Some(ip)) = (self.planner(), resp.local_address()) {
            p.mark_failing(ip);
        }
    }

    fn client_for(&self, local: Option<std::net::IpAddr>) -> reqwest::blocking::Client {
        let Some(ip) = local else {
            return self.client.clone();
        };
        let mut cache = self
            .routed_clients
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some((_, c)) = cache.iter().find(|(a, _)| *a == ip) {
            return c.clone();
        }
        let c = make_client(
            &self.settings,
            &self.user_agent,
            self.cookies.as_ref(),
            Some(ip),
            None,
        );
        if cache.len() >= ROUTED_CLIENTS {
            cache.remove(0);
        }
        cache.push((ip, c.clone()));
        c
    }
}

/// One reqwest client. Timeouts, as Lavalink's `[timeouts]` map onto reqwest:
/// `connect_timeout_ms` → reqwest's connect timeout (the TCP connect; reqwest also bounds the
/// rest of the connection set-up by it); `connection_request_timeout_ms` → a deadline on the
/// whole acquisition of a new connection (DNS, TCP connect, proxy CONNECT, TLS handshake: a
/// connector layer). Lavalink's meaning, the wait for a free connection of a bounded pool,
/// has no counterpart (reqwest's pool is unbounded and never makes a request wait), so the
/// key bounds what stands between a request and a usable connection instead.
/// `socket_timeout_ms` → the wait for the response head and for each body read.
/// A `[timeouts]` value: 0 means no limit, as in Lavalink (Apache HttpClient), here a day,
/// so a dead peer still releases its thread eventually.
pub fn timeout_setting(ms: u64) -> Duration {
    if ms == 0 {
        NO_LIMIT
    } else {
        Duration::from_millis(ms)
    }
}

/// What a `[timeouts]` value of 0 stands for.
pub const NO_LIMIT: Duration = Duration::from_secs(24 * 3600);

fn make_client(
    settings: &Settings,
    user_agent: &str,
    cookies: Option<&Arc<reqwest::cookie::Jar>>,
    local: Option<std::net::IpAddr>,
    all_timeouts: Option<Duration>,
) -> reqwest::blocking::Client {
    let roots = settings.roots.clone();
    let (connect, request, read) = match all_timeouts {
        Some(t) => (t, t, t),
        None => (
            settings.connect_timeout,
            settings.request_timeout,
            settings.read_timeout,
        ),
    };
    let mut b = reqwest::blocking::Client::builder()
        .user_agent(user_agent)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect)
        .connector_layer(tower::timeout::TimeoutLayer::new(request))
        .timeout(read)
        .http1_only()
        .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
        .tls_certs_only(roots);
    b = match &settings.proxy {
        Some((url, auth)) => match reqwest::Proxy::all(url) {
            Ok(p) => b.proxy(match auth {
                Some((u, pw)) => p.basic_auth(u, pw),
                None => p,
            }),
            Err(e) => {
                log::error!("ignoring [http] proxy {url}: {e}");
                b.no_proxy()
            }
        },
        None => b.no_proxy(),
    };
    if let Some(jar) = cookies {
        b = b.cookie_provider(jar.clone());
    }
    if let Some(ip) = local {
        b = b.local_address(ip);
    }
    b.build().unwrap_or_else(|e| {
        log::error!("outbound HTTP client setup failed ({e}); using defaults");
        reqwest::blocking::Client::new()
    })
}

impl Outbound {
    /// The same settings with a cookie jar of its own (one jar per source, sources.md §0.5).
    pub fn with_cookies(&self) -> Outbound {
        Outbound::build(
            self.settings.clone(),
            self.user_agent.clone(),
            Some(Arc::new(reqwest::cookie::Jar::default())),
            self.routed,
        )
    }

    /// The same settings with another User-Agent (SoundCloud, YouTube clients).
    pub fn with_user_agent(&self, ua: &str) -> Outbound {
        Outbound::build(
            self.settings.clone(),
            ua.to_string(),
            self.cookies.clone(),
            self.routed,
        )
    }

    /// Adds a cookie to this client's jar (e.g. a session cookie from config).
    pub fn set_cookie(&self, cookie: &str, url: &Url) {
        if let Some(jar) = &self.cookies {
            jar.add_cookie_str(cookie, url);
        }
    }

    pub fn get(&self, url: &str) -> Request {
        self.request(Method::GET, url)
    }

    pub fn post(&self, url: &str) -> Request {
        self.request(Method::POST, url)
    }

    pub fn request(&self, method: Method, url: &str) -> Request {
        Request {
            out: self.clone(),
            method,
            url: url.to_string(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            follow: true,
            timeout: None,
            search: false,
        }
    }

    /// Connect and read timeouts from `[timeouts]`.
    pub fn timeouts(&self) -> (Duration, Duration) {
        (self.settings.connect_timeout, self.settings.read_timeout)
    }

    /// The `[http]` proxy as `(http://host:port, Some((user, password)))`, for the few
    /// raw-socket paths (ICY status lines) that cannot use the client.
    pub fn proxy(&self) -> Option<(&str, Option<(&str, &str)>)> {
        self.settings.proxy.as_ref().map(|(url, auth)| {
            (
                url.as_str(),
                auth.as_ref().map(|(u, p)| (u.as_str(), p.as_str())),
            )
        })
    }

    /// The `[http.headers."<host>"]` headers configured for `host`.
    pub fn headers_for(&self, host: &str) -> &[(String, String)] {
        self.settings
            .host_headers
            .get(&host.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }
}

/// One request being built; `send` consumes it.
pub struct Request {
    out: Outbound,
    method: Method,
    url: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<(Vec<u8>, String)>,
    follow: bool,
    timeout: Option<Duration>,
    search: bool,
}

impl Request {
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn query(mut self, pairs: &[(&str, &str)]) -> Request {
        self.query
            .extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self
    }

    /// A JSON body (sets `Content-Type: application/json`).
    pub fn json(self, body: &serde_json::Value) -> Request {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        self.body(bytes, "application/json")
    }

    /// A form body (`application/x-www-form-urlencoded`).
    pub fn form(self, pairs: &[(&str, &str)]) -> Request {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            s.append_pair(k, v);
        }
        self.body(s.finish().into_bytes(), "application/x-www-form-urlencoded")
    }

    pub fn body(mut self, bytes: Vec<u8>, content_type: &str) -> Request {
        self.body = Some((bytes, content_type.to_string()));
        self
    }

    /// `Range: bytes=from-[to]` (to inclusive).
    pub fn range(self, from: u64, to_inclusive: Option<u64>) -> Request {
        let v = match to_inclusive {
            Some(to) => format!("bytes={from}-{to}"),
            None => format!("bytes={from}-"),
        };
        self.header("Range", &v)
    }

    /// Follow redirects (default) or hand 3xx answers back.
    pub fn follow_redirects(mut self, follow: bool) -> Request {
        self.follow = follow;
        self
    }

    /// A deadline for the whole exchange, body included (default: `[timeouts]` per read).
    pub fn timeout(mut self, total: Duration) -> Request {
        self.timeout = Some(total);
        self
    }

    /// Marks a search request: a 429 on it bans the route-planner address only when
    /// `[ratelimit] search_triggers_fail` is on.
    pub fn search(mut self, search: bool) -> Request {
        self.search = search;
        self
    }

    /// Sends the request, following redirects hop by hop. Any status is `Ok`. On a routed
    /// client a 429 or a bind failure bans the address and the request is retried from
    /// another one, up to `[ratelimit] retry_limit` times.
    pub fn send(self) -> Result<Response, NetError> {
        let planner = match (self.out.routed, self.out.planner()) {
            (true, Some(p)) => p.clone(),
            _ => return self.send_from(None),
        };
        let mut retries = 0;
        loop {
            let ip = planner
                .next_address()
                .map_err(|e| NetError::NoAddress(e.0))?;
            match self.send_from(Some(ip)) {
                Ok(r) if r.status() == 429 && (!self.search || planner.search_triggers_fail()) => {
                    log::warn!("route planner: {ip} was rate limited; rotating");
                    planner.mark_failing(ip);
                }
                Err(NetError::Connect(e)) if is_bind_error(&e) => {
                    log::warn!("route planner: cannot bind {ip} ({e})");
                    planner.mark_failing(ip);
                }
                other => return other,
            }
            retries += 1;
            if retries > planner.max_retries() {
                return Err(NetError::RateLimited);
            }
        }
    }

    fn send_from(&self, local: Option<std::net::IpAddr>) -> Result<Response, NetError> {
        let mut url = Url::parse(&self.url).map_err(|e| NetError::InvalidUrl(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(NetError::InvalidUrl(strip_userinfo(&url).to_string()));
        }
        if !self.query.is_empty() {
            url.query_pairs_mut().extend_pairs(self.query.iter());
        }
        let client = self.out.client_for(local);
        let mut method = self.method.clone();
        let mut body = self.body.clone();
        for _ in 0..=MAX_REDIRECTS {
            let resp = self.send_once(&client, &method, &url, body.as_ref())?;
            let status = resp.status().as_u16();
            let location = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .and_then(|l| url.join(l.trim()).ok());
            match (self.follow, status, location) {
                (true, 301 | 302 | 303 | 307 | 308, Some(next)) => {
                    if status == 303 || (matches!(status, 301 | 302) && method == Method::POST) {
                        method = Method::GET;
                        body = None;
                    }
                    url = next;
                }
                _ => {
                    let mut r = Response::new(resp, strip_userinfo(&url));
                    r.local = local;
                    return Ok(r);
                }
            }
        }
        Err(NetError::TooManyRedirects)
    }

    fn send_once(
        &self,
        client: &reqwest::blocking::Client,
        method: &Method,
        url: &Url,
        body: Option<&(Vec<u8>, String)>,
    ) -> Result<reqwest::blocking::Response, NetError> {
        let bare = strip_userinfo(url);
        let mut rb = client.request(method.clone(), bare.clone());
        if let Some(auth) = userinfo_auth(url) {
            rb = rb.header("Authorization", auth);
        }
        for (k, v) in self.out.headers_for(url.host_str().unwrap_or("")) {
            rb = rb.header(k.as_str(), v.as_str());
        }
        for (k, v) in &self.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        if let Some((bytes, ctype)) = body {
            rb = rb
                .header("Content-Type", ctype.as_str())
                .body(bytes.clone());
        }
        if let Some(t) = self.timeout {
            rb = rb.timeout(t);
        }
        rb.send().map_err(|e| classify(&e))
    }
}

/// "Cannot assign requested address" and friends: the local address is unusable.
fn is_bind_error(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("assign requested address") || t.contains("address family not supported")
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The URL without `user:password@`, so credentials never reach logs or error texts.
pub fn strip_userinfo(url: &Url) -> Url {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u
}

fn classify(e: &reqwest::Error) -> NetError {
    let text = error_chain(e);
    if e.is_timeout() {
        NetError::Timeout(text)
    } else if e.is_connect() {
        NetError::Connect(text)
    } else {
        NetError::Io(text)
    }
}

/// An error and its sources on one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// A response: status, headers (names lower-cased) and a body read on demand.
pub struct Response {
    status: u16,
    url: Url,
    /// The route-planner address the request left from.
    local: Option<std::net::IpAddr>,
    headers: Vec<(String, String)>,
    body: reqwest::blocking::Response,
}

impl Response {
    fn new(resp: reqwest::blocking::Response, url: Url) -> Response {
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        Response {
            status: resp.status().as_u16(),
            url,
            local: None,
            headers,
            body: resp,
        }
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    /// The route-planner address the request was bound to, if routed.
    pub fn local_address(&self) -> Option<std::net::IpAddr> {
        self.local
    }

    /// The final URL, after redirects.
    pub fn url(&self) -> &Url {
        &self.url
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// All headers, names lower-cased.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// 200, 203 and 206 are success; 204 and other 2xx are not (lavaplayer).
    pub fn is_success(&self) -> bool {
        matches!(self.status, 200 | 203 | 206)
    }

    /// The body as text (lossy UTF-8), at most `MAX_TEXT` bytes.
    pub fn text(self) -> Result<String, NetError> {
        let bytes = self.bytes(MAX_TEXT)?;
        Ok(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// The body parsed as JSON, at most `MAX_TEXT` bytes.
    pub fn json(self) -> Result<serde_json::Value, NetError> {
        let bytes = self.bytes(MAX_TEXT)?;
        serde_json::from_slice(&bytes).map_err(|e| NetError::Json(e.to_string()))
    }

    /// The body, refused when longer than `limit`.
    pub fn bytes(self, limit: usize) -> Result<Vec<u8>, NetError> {
        let mut buf = Vec::new();
        let mut r = self.body.take(limit as u64 + 1);
        r.read_to_end(&mut buf)
            .map_err(|e| NetError::Io(error_chain(&e)))?;
        if buf.len() > limit {
            return Err(NetError::TooLarge(limit));
        }
        Ok(buf)
    }

    /// The body as a reader (media bytes).
    pub fn into_reader(self) -> Box<dyn Read + Send> {
        Box::new(self.body)
    }

    /// Headers and the body reader, for callers that keep both.
    pub fn into_parts(self) -> (u16, Vec<(String, String)>, Box<dyn Read + Send>) {
        (self.status, self.headers, Box::new(self.body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_of_zero_means_no_limit_as_in_lavalink() {
        assert_eq!(timeout_setting(0), NO_LIMIT);
        assert_eq!(timeout_setting(1), Duration::from_millis(1));
        assert_eq!(timeout_setting(3000), Duration::from_millis(3000));
    }
}
