//! An HTTPS-intercepting proxy with mock upstreams, for testing online sources offline
//! through the real outbound code: the node is configured with `[http] proxy_host`,
//! `proxy_port` and `ca_file` pointing here, exactly as an operator would.
//!
//! `CONNECT host:443` tunnels are terminated with a leaf certificate for that host, signed
//! by a CA made for this test run; plain-http requests arrive in absolute form. Requests are
//! answered by a `Router` of (method, host, path) handlers; a request no route claims is
//! answered 599 and recorded as unrouted, which is how a test proves that no real service
//! was contacted. Every request is recorded for assertions on headers and parameters.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// One request as the mock saw it.
#[derive(Debug, Clone)]
pub struct MockRequest {
    pub method: String,
    /// `https` (through a CONNECT tunnel) or `http`.
    pub scheme: String,
    /// Lower-cased host without port.
    pub host: String,
    /// Path without the query.
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The `Proxy-Authorization` the client sent to the proxy (on CONNECT for https).
    pub proxy_authorization: Option<String>,
}

impl MockRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn body_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// `scheme://host/path?query` for messages.
    pub fn url(&self) -> String {
        let mut u = format!("{}://{}{}", self.scheme, self.host, self.path);
        if !self.query.is_empty() {
            let q: Vec<String> = self.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            u.push('?');
            u.push_str(&q.join("&"));
        }
        u
    }
}

/// A recorded request and whether any route claimed it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub request: MockRequest,
    pub unrouted: bool,
}

/// What a handler answers.
#[derive(Debug, Clone)]
pub struct MockResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Honour `Range: bytes=a-[b]` with 206 (media files).
    pub ranges: bool,
    /// Wait before answering.
    pub delay: Option<Duration>,
    /// Close the connection after this many body bytes (a dropped transfer).
    pub cut_after: Option<usize>,
}

impl MockResponse {
    pub fn status(code: u16) -> MockResponse {
        MockResponse {
            status: code,
            headers: Vec::new(),
            body: Vec::new(),
            ranges: false,
            delay: None,
            cut_after: None,
        }
    }

    /// 200 with a JSON body.
    pub fn json(v: serde_json::Value) -> MockResponse {
        MockResponse::text(&v.to_string(), "application/json; charset=utf-8")
    }

    /// 200 with a text body.
    pub fn text(body: &str, content_type: &str) -> MockResponse {
        MockResponse {
            body: body.as_bytes().to_vec(),
            ..MockResponse::status(200)
        }
        .header("Content-Type", content_type)
    }

    /// 200 with bytes; `Range` requests get 206 and `Content-Range`.
    pub fn bytes(body: Vec<u8>, content_type: &str) -> MockResponse {
        MockResponse {
            body,
            ranges: true,
            ..MockResponse::status(200)
        }
        .header("Content-Type", content_type)
        .header("Accept-Ranges", "bytes")
    }

    /// A redirect to `location`.
    pub fn redirect(code: u16, location: &str) -> MockResponse {
        MockResponse::status(code).header("Location", location)
    }

    pub fn header(mut self, k: &str, v: &str) -> MockResponse {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }

    pub fn with_status(mut self, code: u16) -> MockResponse {
        self.status = code;
        self
    }

    pub fn delayed(mut self, d: Duration) -> MockResponse {
        self.delay = Some(d);
        self
    }

    pub fn cut_after(mut self, bytes: usize) -> MockResponse {
        self.cut_after = Some(bytes);
        self
    }
}

type Handler = Arc<dyn Fn(&MockRequest) -> MockResponse + Send + Sync>;

struct Route {
    method: String,
    host: String,
    path: String,
    handler: Handler,
}

impl Route {
    fn matches(&self, req: &MockRequest) -> bool {
        let method_ok = self.method == "*" || self.method.eq_ignore_ascii_case(&req.method);
        let host_ok = match self.host.strip_prefix("*.") {
            Some(suffix) => req
                .host
                .strip_suffix(suffix)
                .is_some_and(|head| head.ends_with('.')),
            None => self.host == "*" || self.host.eq_ignore_ascii_case(&req.host),
        };
        let path_ok = match self.path.strip_suffix('*') {
            Some(prefix) => req.path.starts_with(prefix),
            None => self.path == req.path,
        };
        method_ok && host_ok && path_ok
    }
}

/// Routes by (method, host, path); the first matching route answers.
#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    pub fn new() -> Router {
        Router::default()
    }

    /// `method` ("GET", "POST", "*"), `host` exact or `*.suffix` (or "*"), `path` exact or
    /// a prefix ending in `*`.
    pub fn route(
        mut self,
        method: &str,
        host: &str,
        path: &str,
        f: impl Fn(&MockRequest) -> MockResponse + Send + Sync + 'static,
    ) -> Router {
        self.routes.push(Route {
            method: method.to_string(),
            host: host.to_ascii_lowercase(),
            path: path.to_string(),
            handler: Arc::new(f),
        });
        self
    }

    fn answer(&self, req: &MockRequest) -> Option<MockResponse> {
        self.routes
            .iter()
            .find(|r| r.matches(req))
            .map(|r| (r.handler)(req))
    }
}

struct Shared {
    router: Router,
    recorded: Mutex<Vec<Recorded>>,
    tls: Arc<rustls::ServerConfig>,
    proxy_auth: Option<String>,
    stop: AtomicBool,
}

/// The running proxy. Dropping it stops accepting.
pub struct Mitm {
    shared: Arc<Shared>,
    port: u16,
    dir: PathBuf,
    ca_path: PathBuf,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Mitm {
    pub fn start(router: Router) -> Mitm {
        Mitm::start_inner(router, None)
    }

    /// A proxy that answers 407 unless `Proxy-Authorization` carries `user:password`.
    pub fn start_with_auth(router: Router, user: &str, password: &str) -> Mitm {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Mitm::start_inner(router, Some(format!("Basic {token}")))
    }

    fn start_inner(router: Router, proxy_auth: Option<String>) -> Mitm {
        let dir = std::env::temp_dir().join(format!(
            "basalt-mitm-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("mitm temp dir");
        let (ca_pem, resolver) = CertMaker::new();
        let ca_path = dir.join("ca.pem");
        std::fs::write(&ca_path, ca_pem).expect("write CA");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("tls versions")
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(resolver));
        // Only HTTP/1.1 is offered: a client that cannot speak it fails the handshake.
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind mitm");
        let port = listener.local_addr().expect("addr").port();
        let shared = Arc::new(Shared {
            router,
            recorded: Mutex::new(Vec::new()),
            tls: Arc::new(tls),
            proxy_auth,
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || {
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
                    serve_connection(&s, conn);
                });
            }
        });
        Mitm {
            shared,
            port,
            dir,
            ca_path,
        }
    }

    pub fn proxy_port(&self) -> u16 {
        self.port
    }

    pub fn ca_pem_path(&self) -> &Path {
        &self.ca_path
    }

    /// The `[http]` section that sends all outbound traffic through this proxy.
    pub fn config_toml(&self) -> String {
        format!(
            "[http]\nproxy_host = \"127.0.0.1\"\nproxy_port = {}\nca_file = \"{}\"\n",
            self.port,
            self.ca_path.display()
        )
    }

    /// The same as `BASALT_HTTP_*` environment variables (for tests that start the binary).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("BASALT_HTTP_PROXY_HOST".into(), "127.0.0.1".into()),
            ("BASALT_HTTP_PROXY_PORT".into(), self.port.to_string()),
            (
                "BASALT_HTTP_CA_FILE".into(),
                self.ca_path.display().to_string(),
            ),
        ]
    }

    /// A `Config` with this proxy's `[http]` section and otherwise defaults (plus `extra`
    /// TOML appended, e.g. `[sources]` switches).
    pub fn config(&self, extra: &str) -> basalt::config::Config {
        let text = format!(
            "[server]\npassword = \"x\"\n{}\n{extra}",
            self.config_toml()
        );
        basalt::config::from_parts(Some(&text), "mitm.toml", Vec::new()).expect("mitm config")
    }

    pub fn requests(&self) -> Vec<MockRequest> {
        self.recorded().into_iter().map(|r| r.request).collect()
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.shared.recorded.lock().unwrap().clone()
    }

    /// Requests that no route claimed (a test asserts this is empty).
    pub fn unrouted(&self) -> Vec<MockRequest> {
        self.recorded()
            .into_iter()
            .filter(|r| r.unrouted)
            .map(|r| r.request)
            .collect()
    }

    /// Requests to `host` whose path starts with `path_prefix`.
    pub fn requests_to(&self, host: &str, path_prefix: &str) -> Vec<MockRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.host.eq_ignore_ascii_case(host) && r.path.starts_with(path_prefix))
            .collect()
    }
}

impl Drop for Mitm {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The test CA and a leaf certificate per host name, made on demand.
struct CertMaker {
    issuer: Issuer<'static, KeyPair>,
    cache: Mutex<HashMap<String, Arc<CertifiedKey>>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl std::fmt::Debug for CertMaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CertMaker")
    }
}

impl CertMaker {
    fn new() -> (String, CertMaker) {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Basalt test CA");
        let cert = params.self_signed(&key).expect("CA cert");
        let maker = CertMaker {
            issuer: Issuer::new(params, key),
            cache: Mutex::new(HashMap::new()),
            provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
        };
        (cert.pem(), maker)
    }

    fn leaf(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        let mut cache = self.cache.lock().ok()?;
        if let Some(k) = cache.get(host) {
            return Some(k.clone());
        }
        let key = KeyPair::generate().ok()?;
        let mut params = CertificateParams::new(vec![host.to_string()]).ok()?;
        params.distinguished_name.push(DnType::CommonName, host);
        let cert = params.signed_by(&key, &self.issuer).ok()?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signer = self.provider.key_provider.load_private_key(der).ok()?;
        let ck = Arc::new(CertifiedKey::new(
            vec![CertificateDer::from(cert.der().to_vec())],
            signer,
        ));
        cache.insert(host.to_string(), ck.clone());
        Some(ck)
    }
}

impl ResolvesServerCert for CertMaker {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.leaf(hello.server_name().unwrap_or("localhost"))
    }
}

/// One parsed request head.
struct Head {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

fn read_head<R: BufRead>(r: &mut R) -> Option<Head> {
    let mut lines = Vec::new();
    let mut total = 0;
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line).ok()?;
        if n == 0 {
            return None;
        }
        total += n;
        if total > 256 * 1024 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            if lines.is_empty() {
                continue;
            }
            break;
        }
        lines.push(line);
    }
    let mut parts = lines[0].split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let headers = lines[1..]
        .iter()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(Head {
        method,
        target,
        headers,
    })
}

fn head_header<'a>(h: &'a Head, name: &str) -> Option<&'a str> {
    h.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn read_body<R: BufRead>(r: &mut R, head: &Head) -> Option<Vec<u8>> {
    if head_header(head, "transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        let mut body = Vec::new();
        loop {
            let mut size = String::new();
            r.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).ok()?;
            if n == 0 {
                return Some(body);
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    let len: usize = head_header(head, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(body)
}

fn serve_connection(shared: &Shared, conn: TcpStream) {
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut writer = conn;
    let Some(first) = read_head(&mut reader) else {
        return;
    };
    let proxy_auth = head_header(&first, "proxy-authorization").map(str::to_string);
    if let Some(want) = &shared.proxy_auth {
        if proxy_auth.as_deref() != Some(want.as_str()) {
            let _ = writer.write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"mitm\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            return;
        }
    }
    if first.method.eq_ignore_ascii_case("CONNECT") {
        let host = first
            .target
            .rsplit_once(':')
            .map_or(first.target.as_str(), |(h, _)| h)
            .trim_matches(['[', ']'])
            .to_ascii_lowercase();
        if writer
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .is_err()
        {
            return;
        }
        let Ok(tls) = rustls::ServerConnection::new(shared.tls.clone()) else {
            return;
        };
        // Any bytes already buffered belong to the TLS handshake.
        let buffered = reader.buffer().to_vec();
        let sock = Prefixed {
            prefix: buffered,
            pos: 0,
            inner: writer,
        };
        let stream = rustls::StreamOwned::new(tls, sock);
        let mut r = BufReader::new(stream);
        while let Some(head) = read_head(&mut r) {
            let Some(body) = read_body(&mut r, &head) else {
                return;
            };
            let req = to_request(&head, "https", Some(&host), body, proxy_auth.clone());
            let keep = respond(shared, &req, &head, r.get_mut());
            if !keep {
                return;
            }
        }
        return;
    }
    let mut head = first;
    loop {
        let Some(body) = read_body(&mut reader, &head) else {
            return;
        };
        let req = to_request(&head, "http", None, body, proxy_auth.clone());
        if !respond(shared, &req, &head, &mut writer) {
            return;
        }
        match read_head(&mut reader) {
            Some(h) => head = h,
            None => return,
        }
    }
}

fn to_request(
    head: &Head,
    scheme: &str,
    tunnel_host: Option<&str>,
    body: Vec<u8>,
    proxy_authorization: Option<String>,
) -> MockRequest {
    // Absolute form (`http://host/path`) from a proxied plain request, else origin form.
    let (host, path_query) = match head.target.split_once("://") {
        Some((_, rest)) => match rest.find('/') {
            Some(i) => (rest[..i].to_string(), rest[i..].to_string()),
            None => (rest.to_string(), "/".to_string()),
        },
        None => (
            tunnel_host
                .map(str::to_string)
                .or_else(|| head_header(head, "host").map(str::to_string))
                .unwrap_or_default(),
            head.target.clone(),
        ),
    };
    let host = host
        .rsplit_once(':')
        .filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit()))
        .map_or(host.as_str(), |(h, _)| h)
        .to_ascii_lowercase();
    let (path, query) = path_query
        .split_once('?')
        .map_or((path_query.as_str(), ""), |(p, q)| (p, q));
    let query = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    MockRequest {
        method: head.method.clone(),
        scheme: scheme.to_string(),
        host,
        path: path.to_string(),
        query,
        headers: head.headers.clone(),
        body,
        proxy_authorization,
    }
}

/// Answers one request; false when the connection must close.
fn respond(shared: &Shared, req: &MockRequest, head: &Head, out: &mut dyn Write) -> bool {
    let answer = shared.router.answer(req);
    shared.recorded.lock().unwrap().push(Recorded {
        request: req.clone(),
        unrouted: answer.is_none(),
    });
    let mut resp = answer.unwrap_or_else(|| {
        MockResponse::text(&format!("unrouted: {}", req.url()), "text/plain").with_status(599)
    });
    if let Some(d) = resp.delay {
        std::thread::sleep(d);
    }
    let mut body = std::mem::take(&mut resp.body);
    let mut status = resp.status;
    let mut extra = Vec::new();
    if resp.ranges && status == 200 {
        if let Some((from, to)) = head_header(head, "range").and_then(parse_range) {
            let total = body.len();
            if from >= total {
                status = 416;
                extra.push(("Content-Range".to_string(), format!("bytes */{total}")));
                body.clear();
            } else {
                let to = to.map_or(total - 1, |t| t.min(total - 1));
                body = body[from..=to].to_vec();
                status = 206;
                extra.push((
                    "Content-Range".to_string(),
                    format!("bytes {from}-{to}/{total}"),
                ));
            }
        }
    }
    let is_head = req.method.eq_ignore_ascii_case("HEAD");
    let mut text = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in resp.headers.iter().chain(extra.iter()) {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    if out.write_all(text.as_bytes()).is_err() {
        return false;
    }
    if !is_head {
        let n = resp.cut_after.unwrap_or(body.len()).min(body.len());
        if out.write_all(&body[..n]).is_err() {
            return false;
        }
        if n < body.len() {
            let _ = out.flush();
            return false;
        }
    }
    out.flush().is_ok()
}

fn parse_range(v: &str) -> Option<(usize, Option<usize>)> {
    let spec = v.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let from = a.trim().parse().ok()?;
    let to = if b.trim().is_empty() {
        None
    } else {
        Some(b.trim().parse().ok()?)
    };
    Some((from, to))
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// A socket whose first bytes were already read into a buffer.
struct Prefixed {
    prefix: Vec<u8>,
    pos: usize,
    inner: TcpStream,
}

impl Read for Prefixed {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos < self.prefix.len() {
            let n = (self.prefix.len() - self.pos).min(buf.len());
            buf[..n].copy_from_slice(&self.prefix[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

impl Write for Prefixed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
