//! `GET /v4/websocket`: the handshake checks of §2/§5.1, the 101 answer, and one thread
//! per socket that writes the session's messages and notices when the client goes away.
//!
//! tiny_http hands over the upgraded stream as an opaque reader/writer without timeouts.
//! To interleave reading (close detection) and writing on one thread, the socket is found
//! again by its addresses and duplicated, and the WebSocket runs on that duplicate with a
//! short read timeout; tiny_http's stream is kept alive (dropping it shuts the socket down).

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{self, Receiver, TryRecvError};
use tiny_http::{Header, Request, Response, StatusCode};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocket};
use tungstenite::Message;

use super::Node;
use crate::session::{next_generation, OutTx, Outgoing, Session, Sessions};

/// Upper bound of one read once poll said the socket is readable.
const POLL: Duration = Duration::from_millis(20);
/// Longest sleep in poll without any wake-up.
const IDLE_POLL_MS: i32 = 250;

fn header<'a>(req: &'a Request, name: &'static str) -> Option<&'a str> {
    req.headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str())
}

fn refuse(req: Request, status: u16) {
    let h = Header::from_bytes(&b"Lavalink-Api-Version"[..], &b"4"[..]).expect("static header");
    let _ = req.respond(Response::empty(StatusCode(status)).with_header(h));
}

/// Handle an authenticated upgrade request (auth was checked by the HTTP layer: 401 there
/// for missing and wrong passwords alike on this path).
pub fn accept(node: &Arc<Node>, req: Request, port: u16) {
    let user_id = match header(&req, "User-Id")
        .map(str::trim)
        .map(str::parse::<u64>)
    {
        Some(Ok(id)) if id != 0 => id,
        _ => return refuse(req, 400),
    };
    let Some(key) = header(&req, "Sec-WebSocket-Key").map(str::to_string) else {
        return refuse(req, 400);
    };
    match header(&req, "Client-Name") {
        Some(name) => log::info!("connection from {name} (user {user_id})"),
        None => log::warn!("a client without Client-Name connected (user {user_id})"),
    }
    let resume_id = header(&req, "Session-Id").map(str::to_string);
    let Some(peer) = req.remote_addr().copied() else {
        return refuse(req, 500);
    };
    let Some(stream) = find_socket(peer, port) else {
        log::error!("cannot find the socket of {peer} for the WebSocket upgrade");
        return refuse(req, 500);
    };
    let (tx, rx) = channel::unbounded();
    let Ok((wake_tx, wake_rx)) = std::os::unix::net::UnixStream::pair() else {
        return refuse(req, 500);
    };
    let tx = OutTx::new(tx, wake_tx);
    let generation = next_generation();
    let resumed = resume_id
        .as_deref()
        .and_then(|id| node.sessions.resume(id, tx.clone(), generation));
    let is_resumed = resumed.is_some();
    let session = match resumed {
        Some(s) => s,
        None => Sessions::create(node, user_id, tx, generation),
    };
    let mut resp = Response::new(StatusCode(101), Vec::new(), std::io::empty(), Some(0), None);
    for (k, v) in [
        (
            "Sec-WebSocket-Accept",
            tungstenite::handshake::derive_accept_key(key.as_bytes()),
        ),
        ("Session-Resumed", is_resumed.to_string()),
        ("Lavalink-Api-Version", "4".to_string()),
    ] {
        if let Ok(h) = Header::from_bytes(k.as_bytes(), v.as_bytes()) {
            resp.add_header(h);
        }
    }
    let keep_alive = req.upgrade("websocket", resp);
    node.open_sockets.fetch_add(1, Ordering::Relaxed);
    let n = node.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("ws-{}", session.id))
        .spawn({
            let session = session.clone();
            move || {
                serve(&n, stream, wake_rx, &session, rx, generation);
                drop(keep_alive);
                n.open_sockets.fetch_sub(1, Ordering::Relaxed);
            }
        });
    if spawned.is_err() {
        node.open_sockets.fetch_sub(1, Ordering::Relaxed);
        session.socket_closed(node, generation);
    }
}

/// A duplicate of the connection's socket, found by its peer address and local port.
fn find_socket(peer: SocketAddr, port: u16) -> Option<TcpStream> {
    use std::os::fd::FromRawFd;
    let dir = std::fs::read_dir("/proc/self/fd").ok()?;
    for entry in dir.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: dup() on any descriptor number is harmless; a failed dup returns −1 and
        // a successful one gives us a descriptor we own exclusively.
        let dup = unsafe { libc::dup(fd) };
        if dup < 0 {
            continue;
        }
        // SAFETY: `dup` is a fresh descriptor owned by nobody else; TcpStream closes it.
        let s = unsafe { TcpStream::from_raw_fd(dup) };
        let same_peer = s.peer_addr().ok() == Some(peer);
        let same_port = s.local_addr().ok().map(|a| a.port()) == Some(port);
        if same_peer && same_port {
            return Some(s);
        }
    }
    None
}

fn serve(
    node: &Node,
    stream: TcpStream,
    wake: UnixStream,
    session: &Arc<Session>,
    rx: Receiver<Outgoing>,
    generation: u64,
) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(POLL));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let _ = wake.set_nonblocking(true);
    let sock_fd = stream.as_raw_fd();
    let mut ws = WebSocket::from_raw_socket(stream, Role::Server, None);
    'outer: loop {
        loop {
            match rx.try_recv() {
                Ok(Outgoing::Text(t)) => {
                    if ws.send(Message::text(t)).is_err() {
                        break 'outer;
                    }
                }
                Ok(Outgoing::Close(code)) => {
                    close_with(&mut ws, code);
                    return;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    close_with(&mut ws, 1000);
                    break 'outer;
                }
            }
        }
        let (readable, woken) = wait(sock_fd, wake.as_raw_fd());
        if woken {
            let mut buf = [0u8; 256];
            while matches!((&wake).read(&mut buf), Ok(n) if n > 0) {}
        }
        if !readable {
            continue;
        }
        match ws.read() {
            Ok(Message::Close(_)) => {
                let _ = ws.flush();
                break;
            }
            Ok(Message::Text(_)) | Ok(Message::Binary(_)) => {
                log::warn!(
                    "session {}: ignoring a client message (not part of v4)",
                    session.id
                );
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    session.socket_closed(node, generation);
}

/// Sleep until the client socket is readable or a message was queued (or a short
/// timeout, which also covers frames tungstenite has already buffered).
fn wait(sock: i32, wake: i32) -> (bool, bool) {
    let mut fds = [
        libc::pollfd {
            fd: sock,
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: wake,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // SAFETY: `fds` is a valid array of two pollfd structs for the duration of the call.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), 2, IDLE_POLL_MS) };
    if rc <= 0 {
        return (rc == 0, false);
    }
    let ready = |f: &libc::pollfd| f.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0;
    (ready(&fds[0]), ready(&fds[1]))
}

/// Send a close frame and wait briefly for the client's answer.
fn close_with(ws: &mut WebSocket<TcpStream>, code: u16) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: "".into(),
    };
    let _ = ws.close(Some(frame));
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        match ws.read() {
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
            Ok(_) => {}
        }
    }
}
