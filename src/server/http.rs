//! The tiny_http side: listening, the worker pool, body limits, panics → 500, headers.

use std::io::Read;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;

use tiny_http::{Header, Method, Request, Response, StatusCode};

use super::routes::{self, Body, Reply, Req};
use super::{websocket, ApiError, Backend, Node, ServerError, ServerOptions};
use crate::config::Config;

/// A running control plane. `shutdown` (or drop) stops it.
pub struct Server {
    node: Arc<Node>,
    http: Arc<tiny_http::Server>,
    workers: Vec<JoinHandle<()>>,
    addr: SocketAddr,
}

impl Server {
    /// Bind `[server] address:port` (port 0 = any free port) and start the workers.
    pub fn start(
        config: Config,
        backend: Backend,
        options: ServerOptions,
    ) -> Result<Server, ServerError> {
        let addr = format!("{}:{}", config.server.address, config.server.port);
        let node = Arc::new(Node::new(config, backend, options)?);
        let http = tiny_http::Server::http(&addr).map_err(|e| ServerError::Bind {
            addr: addr.clone(),
            reason: e.to_string(),
        })?;
        let local = http
            .server_addr()
            .to_ip()
            .ok_or_else(|| ServerError::Bind {
                addr: addr.clone(),
                reason: "not an IP socket".into(),
            })?;
        let http = Arc::new(http);
        let mut workers = Vec::new();
        for i in 0..node.options.workers.max(1) {
            let (n, h) = (node.clone(), http.clone());
            let w = std::thread::Builder::new()
                .name(format!("http-{i}"))
                .spawn(move || worker(n, h, local.port()))
                .map_err(|e| ServerError::Thread(e.to_string()))?;
            workers.push(w);
        }
        log::info!("listening on {local}");
        Ok(Server {
            node,
            http,
            workers,
            addr: local,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// Clean shutdown: sessions closed (1001), players stopped, workers joined.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if self.workers.is_empty() {
            return;
        }
        self.node.shutdown();
        for _ in 0..self.workers.len() {
            self.http.unblock();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn worker(node: Arc<Node>, http: Arc<tiny_http::Server>, port: u16) {
    loop {
        let req = match http.recv() {
            Ok(r) => r,
            Err(_) => break,
        };
        if node.is_shutting_down() {
            let _ = req.respond(Response::empty(StatusCode(503)).with_header(api_header()));
            break;
        }
        let result = catch_unwind(AssertUnwindSafe(|| handle(&node, req, port)));
        if result.is_err() {
            log::error!("a request handler panicked");
        }
    }
}

fn header<'a>(req: &'a Request, name: &'static str) -> Option<&'a str> {
    req.headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str())
}

fn api_header() -> Header {
    Header::from_bytes(&b"Lavalink-Api-Version"[..], &b"4"[..]).expect("static header")
}

fn handle(node: &Arc<Node>, mut req: Request, port: u16) {
    let url = req.url().to_string();
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (url.clone(), String::new()),
    };
    let method = req.method().clone();
    let is_metrics = node.config.metrics.prometheus
        && !node.config.metrics.prometheus_endpoint.is_empty()
        && path == node.config.metrics.prometheus_endpoint;

    if !is_metrics {
        match super::auth::check(header(&req, "Authorization"), node.password()) {
            super::auth::Auth::Ok => {}
            super::auth::Auth::Missing => return empty(req, 401),
            // The WebSocket handshake refuses both with 401 (§2).
            super::auth::Auth::Wrong if path == "/v4/websocket" => return empty(req, 401),
            super::auth::Auth::Wrong => return empty(req, 403),
        }
    }
    if path == "/v4/websocket" && method == Method::Get {
        if header(&req, "Upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket")) {
            return websocket::accept(node, req, port);
        }
        let e = ApiError::bad_request("Can \"Upgrade\" only to \"WebSocket\".");
        return send(req, error_reply(&e, &path, &query), &path);
    }

    let query_params = routes::parse_query(&query);
    let with_trace = routes::wants_trace(&query_params);
    let max = node.options.max_body_bytes;
    if req.body_length().is_some_and(|l| l > max) {
        let e = ApiError::PayloadTooLarge(format!("Request body exceeds {max} bytes"));
        return send(req, error_reply_t(&e, &path, with_trace), &path);
    }
    let mut body = Vec::new();
    if let Err(e) = req.as_reader().take(max as u64 + 1).read_to_end(&mut body) {
        let e = ApiError::bad_request(format!("Cannot read the request body: {e}"));
        return send(req, error_reply_t(&e, &path, with_trace), &path);
    }
    if body.len() > max {
        let e = ApiError::PayloadTooLarge(format!("Request body exceeds {max} bytes"));
        return send(req, error_reply_t(&e, &path, with_trace), &path);
    }
    let content_type = header(&req, "Content-Type").map(str::to_string);
    let r = Req {
        method: &method,
        path: &path,
        query: &query_params,
        body: &body,
        content_type: content_type.as_deref(),
        is_metrics,
    };
    let reply = match catch_unwind(AssertUnwindSafe(|| routes::dispatch(node, &r))) {
        Ok(Ok(reply)) => reply,
        Ok(Err(e)) => error_reply_t(&e, &path, with_trace),
        Err(_) => {
            log::error!("handler for {method} {path} panicked");
            error_reply_t(
                &ApiError::internal("Internal Server Error"),
                &path,
                with_trace,
            )
        }
    };
    if node.config.logging.request_logging {
        log::info!("{method} {url} -> {}", reply.status);
    }
    crate::telemetry::http_request(Some(&path), is_metrics, reply.status);
    send(req, reply, &path)
}

fn error_reply(e: &ApiError, path: &str, query: &str) -> Reply {
    error_reply_t(e, path, routes::wants_trace(&routes::parse_query(query)))
}

fn error_reply_t(e: &ApiError, path: &str, with_trace: bool) -> Reply {
    Reply {
        status: e.status(),
        body: Body::Json(e.to_json(path, with_trace)),
    }
}

fn empty(req: Request, status: u16) {
    crate::telemetry::http_request(
        Some(req.url().split('?').next().unwrap_or("")),
        false,
        status,
    );
    let resp = Response::empty(StatusCode(status)).with_header(api_header());
    let _ = req.respond(resp);
}

fn send(req: Request, reply: Reply, path: &str) {
    let (bytes, ctype): (Vec<u8>, Option<&str>) = match reply.body {
        Body::Empty => (Vec::new(), None),
        Body::Json(v) => (v.to_string().into_bytes(), Some("application/json")),
        Body::Text(t) => (t.into_bytes(), Some("text/plain;charset=UTF-8")),
        Body::Raw(b, ct) => (b, Some(ct)),
    };
    let mut resp = Response::from_data(bytes).with_status_code(StatusCode(reply.status));
    resp.add_header(api_header());
    if let Some(ct) = ctype {
        if let Ok(h) = Header::from_bytes(&b"Content-Type"[..], ct.as_bytes()) {
            resp.add_header(h);
        }
    }
    if let Err(e) = req.respond(resp) {
        log::debug!("writing the response to {path} failed: {e}");
    }
}
