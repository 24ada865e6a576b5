//! `GET /v4/websocket`: the handshake checks of §2/§5.1, the 101 answer written on the
//! connection's own socket, and one thread per socket that writes the session's messages
//! and notices when the client goes away.
//!
//! Clients send almost nothing in v4, so messages and frames are capped small
//! (`[server] ws_max_message_bytes`), a client sending more than `ws_max_messages_per_s`
//! (pings included) is closed with 1008, and one that does not take our messages within
//! `write_timeout_ms` is dropped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, TryRecvError};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocket, WebSocketConfig};
use tungstenite::Message;

use super::limits::ConnGuard;
use super::request::{self, Head};
use super::Node;
use crate::server::session::{next_generation, OutTx, Outgoing, Session, Sessions};

/// Upper bound of one read once poll said the socket is readable.
const POLL: Duration = Duration::from_millis(20);
/// Longest sleep in poll without any wake-up.
const IDLE_POLL_MS: i32 = 250;

/// Refuses the handshake with `status` (counted like any other response).
pub(crate) fn refuse(mut stream: TcpStream, status: u16) {
    crate::telemetry::http_request(Some(PATH), false, status);
    let _ = stream.write_all(&request::response(status, None, b"", false, &[]));
}

/// The route label of every handshake (bounded: no session ids).
const PATH: &str = "/v4/websocket";

/// Handle an authenticated upgrade request (auth was checked by the acceptor: 401 there
/// for missing and wrong passwords alike on this path). `rest` is what the client sent
/// after the request (frames may follow the handshake at once).
pub fn accept(
    node: &Arc<Node>,
    head: Head,
    mut stream: TcpStream,
    rest: Vec<u8>,
    guard: ConnGuard,
) {
    let user_id = match head.header("User-Id").map(str::trim).map(str::parse::<u64>) {
        Some(Ok(id)) if id != 0 => id,
        _ => return refuse(stream, 400),
    };
    let Some(key) = head.header("Sec-WebSocket-Key").map(str::to_string) else {
        return refuse(stream, 400);
    };
    match head.header("Client-Name") {
        Some(name) => log::info!("connection from {name} (user {user_id})"),
        None => log::warn!("a client without Client-Name connected (user {user_id})"),
    }
    let resume_id = head.header("Session-Id").map(str::to_string);
    let Ok((wake_tx, wake_rx)) = std::os::unix::net::UnixStream::pair() else {
        return refuse(stream, 500);
    };
    let (tx, rx) = OutTx::channel(wake_tx);
    let generation = next_generation();
    let resumed = resume_id
        .as_deref()
        .and_then(|id| node.sessions.resume(id, tx.clone(), generation));
    let is_resumed = resumed.is_some();
    let session = match resumed {
        Some(s) => s,
        None => {
            // The plugins' cue thread starts with the first session.
            node.plugins.start(node);
            Sessions::create(node.clone(), user_id, tx, generation)
        }
    };
    let accept_key = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept_key}\r\nSession-Resumed: {is_resumed}\r\n\
         Lavalink-Api-Version: 4\r\n\r\n"
    );
    if stream.write_all(answer.as_bytes()).is_err() {
        session.socket_closed(&**node, generation);
        return;
    }
    // Upgrades are requests too: counted as 101 beside the REST answers.
    crate::telemetry::http_request(Some(PATH), false, 101);
    node.open_sockets.fetch_add(1, Ordering::Relaxed);
    let n = node.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("ws-{}", session.id))
        .spawn({
            let session = session.clone();
            move || {
                serve(&n, stream, rest, wake_rx, &session, rx, generation);
                drop(guard);
                n.open_sockets.fetch_sub(1, Ordering::Relaxed);
            }
        });
    if spawned.is_err() {
        node.open_sockets.fetch_sub(1, Ordering::Relaxed);
        session.socket_closed(&**node, generation);
    }
}

/// Messages per second a client sent, over a one-second window.
struct Rate {
    window: Instant,
    count: u32,
}

fn serve(
    node: &Node,
    stream: TcpStream,
    rest: Vec<u8>,
    wake: UnixStream,
    session: &Arc<Session>,
    rx: Receiver<Outgoing>,
    generation: u64,
) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(POLL));
    let server = &node.config.server;
    let write_timeout = Duration::from_millis(u64::from(server.write_timeout_ms).max(1));
    let _ = stream.set_write_timeout(Some(write_timeout));
    let _ = wake.set_nonblocking(true);
    let sock_fd = stream.as_raw_fd();
    let cap = server.ws_max_message_bytes as usize;
    let config = WebSocketConfig::default()
        .max_message_size(Some(cap))
        .max_frame_size(Some(cap))
        .max_write_buffer_size(1 << 20)
        .read_buffer_size(4096);
    let mut ws = WebSocket::from_partially_read(stream, rest, Role::Server, Some(config));
    let max_rate = server.ws_max_messages_per_s;
    let mut rate = Rate {
        window: Instant::now(),
        count: 0,
    };
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
        let msg = ws.read();
        if msg.is_ok() {
            if rate.window.elapsed() >= Duration::from_secs(1) {
                rate = Rate {
                    window: Instant::now(),
                    count: 0,
                };
            }
            rate.count += 1;
            if rate.count > max_rate {
                log::warn!("session {}: client floods messages; closing", session.id);
                crate::server::limits::count(&crate::server::limits::rejections().rate_limited);
                close_with(&mut ws, 1008);
                break;
            }
        }
        match msg {
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
            Err(tungstenite::Error::Capacity(e)) => {
                log::warn!("session {}: {e}; closing", session.id);
                crate::server::limits::count(&crate::server::limits::rejections().malformed);
                close_with(&mut ws, 1009);
                break;
            }
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
