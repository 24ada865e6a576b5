//! The server: the listening socket, the acceptor thread (`acceptor`), the fixed worker
//! pool that runs handlers on complete requests, panics → 500, and response writing.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam::channel::Receiver;

use super::acceptor::{Acceptor, Gate, Handback, Ready, Returned, Settings, StopHandle};
use super::limits::Limiter;
use super::method::Method;
use super::request::{self, Head};
use super::routes::{self, Body, Reply, Req};
use super::{websocket, ApiError, Backend, Node, ServerError, ServerOptions};
use crate::config::Config;

/// A running control plane. `shutdown` (or drop) stops it.
pub struct Server {
    node: Arc<Node>,
    /// The acceptor's limiter (a config reload applies new rate limits to it).
    pub(crate) limiter: Arc<Limiter>,
    stop: StopHandle,
    threads: Vec<JoinHandle<()>>,
    addr: SocketAddr,
}

/// Authentication as the acceptor applies it (before any body is read).
struct NodeGate(Arc<Node>);

impl Gate for NodeGate {
    fn authorize(&self, head: &Head) -> Option<u16> {
        let path = head.path();
        if is_metrics(&self.0, path) {
            return None;
        }
        match super::auth::check(head.header("Authorization"), &self.0.password()) {
            super::auth::Auth::Ok => None,
            super::auth::Auth::Missing => Some(401),
            // The WebSocket handshake refuses both with 401 (§2).
            super::auth::Auth::Wrong if path == "/v4/websocket" => Some(401),
            super::auth::Auth::Wrong => Some(403),
        }
    }
}

fn is_metrics(node: &Node, path: &str) -> bool {
    node.config.metrics.prometheus
        && !node.config.metrics.prometheus_endpoint.is_empty()
        && path == node.config.metrics.prometheus_endpoint
}

impl Server {
    /// Bind `[server] address:port` (port 0 = any free port) and start the threads.
    pub fn start(
        config: Config,
        backend: Backend,
        options: ServerOptions,
    ) -> Result<Server, ServerError> {
        let addr = format!("{}:{}", config.server.address, config.server.port);
        let bind_err = |reason: String| ServerError::Bind {
            addr: addr.clone(),
            reason,
        };
        let listener = TcpListener::bind(&addr).map_err(|e| bind_err(e.to_string()))?;
        let local = listener.local_addr().map_err(|e| bind_err(e.to_string()))?;
        let mut settings = Settings::from_config(&config.server);
        settings.max_body_bytes = options.max_body_bytes;
        let limiter = Limiter::new(&config.server);
        let node = Arc::new(Node::new(config, backend, options)?);
        let workers = node.options.workers.max(1);
        // A short queue: requests wait here only while every worker is busy.
        let (jobs_tx, jobs_rx) = crossbeam::channel::bounded::<Ready>(workers * 4);
        let gate = Arc::new(NodeGate(node.clone()));
        let (acceptor, handback, stop) =
            Acceptor::new(listener, settings, limiter.clone(), gate, jobs_tx, workers)
                .map_err(|e| bind_err(e.to_string()))?;
        let mut threads = Vec::new();
        let spawn = |name: String, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name)
                .spawn(f)
                .map_err(|e| ServerError::Thread(e.to_string()))
        };
        for i in 0..workers {
            let (n, rx, hb) = (node.clone(), jobs_rx.clone(), handback.clone());
            threads.push(spawn(
                format!("http-{i}"),
                Box::new(move || worker(n, rx, hb)),
            )?);
        }
        threads.push(spawn(
            "http-accept".into(),
            Box::new(move || acceptor.run()),
        )?);
        log::info!("listening on {local}");
        Ok(Server {
            node,
            limiter,
            stop,
            threads,
            addr: local,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// Clean shutdown: sessions closed (1001), players stopped, threads joined.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        self.node.shutdown();
        self.stop.stop();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn worker(node: Arc<Node>, jobs: Receiver<Ready>, handback: Handback) {
    while let Ok(ready) = jobs.recv() {
        let result = catch_unwind(AssertUnwindSafe(|| handle(&node, ready, &handback)));
        if result.is_err() {
            log::error!("a request handler panicked");
        }
    }
}

fn handle(node: &Arc<Node>, r: Ready, handback: &Handback) {
    let Ready {
        mut stream,
        peer,
        guard,
        head,
        body,
        rest,
    } = r;
    let target = head.target.clone();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (target.as_str(), ""),
    };
    if node.is_shutting_down() {
        crate::telemetry::http_request(Some(path), is_metrics(node, path), 503);
        let _ = stream.write_all(&request::response(503, None, b"", false, &[]));
        return;
    }
    let query_params = routes::parse_query(query);
    let with_trace = routes::wants_trace(&query_params);
    if path == "/v4/websocket" && head.method == Method::Get {
        if head.is_upgrade() {
            if node.drain.is_draining() {
                // Clients open their sessions on another node.
                return websocket::refuse(stream, 503);
            }
            return websocket::accept(node, head, stream, rest, guard);
        }
        let e = ApiError::bad_request("Can \"Upgrade\" only to \"WebSocket\".");
        let reply = error_reply(&e, path, with_trace);
        crate::telemetry::http_request(Some(path), false, reply.status);
        let _ = stream.write_all(&encode(reply, false));
        return;
    }
    // HEAD is answered as GET without the body (as Spring does for every GET route).
    let is_head = head.method == Method::Head;
    let r = Req {
        method: if is_head { &Method::Get } else { &head.method },
        path,
        query: &query_params,
        body: &body,
        content_type: head.header("Content-Type"),
        is_metrics: is_metrics(node, path),
    };
    let reply = match catch_unwind(AssertUnwindSafe(|| routes::dispatch(node, &r))) {
        Ok(Ok(reply)) => reply,
        Ok(Err(e)) => error_reply(&e, path, with_trace),
        Err(_) => {
            log::error!("handler for {} {path} panicked", head.method);
            error_reply(
                &ApiError::internal("Internal Server Error"),
                path,
                with_trace,
            )
        }
    };
    if node.live().logging.request_logging {
        log::info!("{} {target} -> {}", head.method, reply.status);
    }
    crate::telemetry::http_request(Some(path), is_metrics(node, path), reply.status);
    let keep_alive = head.keep_alive;
    let mut bytes = encode(reply, keep_alive);
    if is_head {
        bytes.truncate(head_len(&bytes));
    }
    if let Err(e) = stream.write_all(&bytes) {
        log::debug!("writing the response to {path} for {peer} failed: {e}");
        return;
    }
    if keep_alive {
        handback.give(Returned {
            stream,
            peer,
            guard,
            rest,
        });
    }
}

fn error_reply(e: &ApiError, path: &str, with_trace: bool) -> Reply {
    Reply {
        status: e.status(),
        body: Body::Json(e.to_json(path, with_trace)),
    }
}

/// Length of an encoded response's head (through the blank line).
fn head_len(response: &[u8]) -> usize {
    response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |i| i + 4)
}

fn encode(reply: Reply, keep_alive: bool) -> Vec<u8> {
    let (bytes, ctype): (Vec<u8>, Option<&str>) = match reply.body {
        Body::Empty => (Vec::new(), None),
        Body::Json(v) => (v.to_string().into_bytes(), Some("application/json")),
        Body::Text(t) => (t.into_bytes(), Some("text/plain;charset=UTF-8")),
        Body::Raw(b, ct) => (b, Some(ct)),
    };
    request::response(reply.status, ctype, &bytes, keep_alive, &[])
}
