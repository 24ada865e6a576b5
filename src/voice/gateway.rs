//! The Discord voice gateway (v8) wire format and a blocking tungstenite client.
//!
//! Parsing is separate from I/O so the fuzzers can drive it: `parse_text` for JSON frames,
//! `parse_binary` for DAVE binary frames (`seq u16 | opcode u8 | payload`).

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde_json::{json, Value};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use super::VoiceError;

/// Over mio's stream type so a reconnect can run its handshake non-blocking on the voice I/O
/// worker; the first handshake uses the same type over a blocking fd.
pub type Socket = WebSocket<MaybeTlsStream<mio::net::TcpStream>>;

pub mod op {
    pub const IDENTIFY: u8 = 0;
    pub const SELECT_PROTOCOL: u8 = 1;
    pub const READY: u8 = 2;
    pub const HEARTBEAT: u8 = 3;
    pub const SESSION_DESCRIPTION: u8 = 4;
    pub const SPEAKING: u8 = 5;
    pub const HEARTBEAT_ACK: u8 = 6;
    pub const RESUME: u8 = 7;
    pub const HELLO: u8 = 8;
    pub const RESUMED: u8 = 9;
    pub const CLIENTS_CONNECT: u8 = 11;
    pub const CLIENT_DISCONNECT: u8 = 13;
    pub const DAVE_PREPARE_TRANSITION: u8 = 21;
    pub const DAVE_EXECUTE_TRANSITION: u8 = 22;
    pub const DAVE_TRANSITION_READY: u8 = 23;
    pub const DAVE_PREPARE_EPOCH: u8 = 24;
    pub const DAVE_EXTERNAL_SENDER: u8 = 25;
    pub const DAVE_KEY_PACKAGE: u8 = 26;
    pub const DAVE_PROPOSALS: u8 = 27;
    pub const DAVE_COMMIT_WELCOME: u8 = 28;
    pub const DAVE_ANNOUNCE_COMMIT: u8 = 29;
    pub const DAVE_WELCOME: u8 = 30;
    pub const DAVE_INVALID_COMMIT_WELCOME: u8 = 31;
}

/// Builds the gateway URL: `wss://ENDPOINT/?v=8`; an endpoint with a scheme only when
/// `allow_insecure` (local test servers), then used as given plus `/?v=8` when it has no path.
pub fn gateway_url(endpoint: &str, allow_insecure: bool) -> Result<String, VoiceError> {
    let endpoint = endpoint.trim();
    if endpoint.is_empty() {
        return Err(VoiceError::BadEndpoint(endpoint.to_string()));
    }
    if let Some((scheme, rest)) = endpoint.split_once("://") {
        if !allow_insecure {
            return Err(VoiceError::InsecureEndpoint(endpoint.to_string()));
        }
        if scheme != "ws" && scheme != "wss" || rest.is_empty() {
            return Err(VoiceError::BadEndpoint(endpoint.to_string()));
        }
        if rest.contains('/') {
            return Ok(endpoint.to_string());
        }
        return Ok(format!("{endpoint}/?v=8"));
    }
    if endpoint.contains('/') || endpoint.contains(char::is_whitespace) {
        return Err(VoiceError::BadEndpoint(endpoint.to_string()));
    }
    Ok(format!("wss://{endpoint}/?v=8"))
}

/// Opens the WebSocket (TLS for wss) with a connect timeout; the TCP stream clone lets another
/// thread shut the socket down and lets us change read timeouts.
pub fn connect(url: &str, timeout: Duration) -> Result<(Socket, TcpStream), VoiceError> {
    let uri: tungstenite::http::Uri = url
        .parse()
        .map_err(|_| VoiceError::BadEndpoint(url.to_string()))?;
    let host = uri
        .host()
        .ok_or_else(|| VoiceError::BadEndpoint(url.to_string()))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let tls = uri.scheme_str() == Some("wss");
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(VoiceError::Io)?
        .collect();
    let mut last = None;
    let mut stream = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let stream = match stream {
        Some(s) => s,
        None => {
            return Err(VoiceError::Io(last.unwrap_or_else(|| {
                std::io::Error::other("endpoint resolved to no address")
            })))
        }
    };
    stream.set_nodelay(true).ok();
    stream
        .set_read_timeout(Some(timeout))
        .map_err(VoiceError::Io)?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(VoiceError::Io)?;
    let handle = stream.try_clone().map_err(VoiceError::Io)?;
    // Still blocking (with the timeouts above): mio's stream only wraps the fd.
    let stream = mio::net::TcpStream::from_std(stream);
    let (ws, _resp) = tungstenite::client_tls_with_config(url, stream, Some(ws_config()), None)
        .map_err(|e| VoiceError::Handshake(e.to_string()))?;
    Ok((ws, handle))
}

/// The voice gateway's socket settings. tungstenite's default 128 KiB read buffer is
/// allocated per connection — half a player's memory budget for messages that are a few
/// hundred bytes (DAVE's MLS commits and welcomes reach a few KiB; they still fit the
/// message cap, and a longer message only grows the buffer while it is read).
pub fn ws_config() -> tungstenite::protocol::WebSocketConfig {
    tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20))
}

/// A server message, decoded enough for the client to act on.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMsg {
    Hello {
        heartbeat_interval_ms: f64,
    },
    Ready {
        ssrc: u32,
        ip: String,
        port: u16,
        modes: Vec<String>,
    },
    SessionDescription {
        mode: String,
        secret_key: [u8; 32],
        dave_protocol_version: u16,
    },
    HeartbeatAck {
        nonce: Option<u64>,
    },
    Resumed,
    ClientsConnect {
        user_ids: Vec<u64>,
    },
    ClientDisconnect {
        user_id: u64,
    },
    DavePrepareTransition {
        transition_id: u16,
        protocol_version: u16,
    },
    DaveExecuteTransition {
        transition_id: u16,
    },
    DavePrepareEpoch {
        epoch: u64,
        protocol_version: u16,
    },
    /// Speaking of other users and undocumented/unknown opcodes: ignored.
    Other {
        op: u64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct TextFrame {
    pub seq: Option<i64>,
    pub msg: ServerMsg,
}

fn snowflake(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

fn uint<T: TryFrom<u64>>(v: &Value) -> Option<T> {
    v.as_u64().and_then(|n| T::try_from(n).ok())
}

/// Parses one JSON text frame. Unknown opcodes become `Other`; a known opcode with a
/// malformed payload is an error (the caller logs and ignores it).
pub fn parse_text(text: &str) -> Result<TextFrame, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("bad JSON: {e}"))?;
    let op = v.get("op").and_then(Value::as_u64).ok_or("missing op")?;
    let seq = v.get("seq").and_then(Value::as_i64);
    let d = v.get("d").unwrap_or(&Value::Null);
    let bad = |what: &str| format!("op {op}: bad {what}");
    let msg = match op {
        8 => ServerMsg::Hello {
            heartbeat_interval_ms: d
                .get("heartbeat_interval")
                .and_then(Value::as_f64)
                .filter(|x| x.is_finite() && *x > 0.0)
                .ok_or_else(|| bad("heartbeat_interval"))?,
        },
        2 => ServerMsg::Ready {
            ssrc: d.get("ssrc").and_then(uint).ok_or_else(|| bad("ssrc"))?,
            ip: d
                .get("ip")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("ip"))?
                .to_string(),
            port: d.get("port").and_then(uint).ok_or_else(|| bad("port"))?,
            modes: d
                .get("modes")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("modes"))?
                .iter()
                .filter_map(|m| m.as_str().map(str::to_string))
                .collect(),
        },
        4 => {
            let key = d
                .get("secret_key")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("secret_key"))?;
            if key.len() != 32 {
                return Err(bad("secret_key length"));
            }
            let mut secret_key = [0u8; 32];
            for (dst, k) in secret_key.iter_mut().zip(key) {
                *dst = uint(k).ok_or_else(|| bad("secret_key byte"))?;
            }
            ServerMsg::SessionDescription {
                mode: d
                    .get("mode")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("mode"))?
                    .to_string(),
                secret_key,
                dave_protocol_version: d.get("dave_protocol_version").and_then(uint).unwrap_or(0),
            }
        }
        6 => ServerMsg::HeartbeatAck {
            nonce: match d {
                Value::Object(_) => d.get("t").and_then(Value::as_u64),
                other => other.as_u64(),
            },
        },
        9 => ServerMsg::Resumed,
        11 => ServerMsg::ClientsConnect {
            user_ids: d
                .get("user_ids")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("user_ids"))?
                .iter()
                .filter_map(snowflake)
                .collect(),
        },
        13 => ServerMsg::ClientDisconnect {
            user_id: d
                .get("user_id")
                .and_then(snowflake)
                .ok_or_else(|| bad("user_id"))?,
        },
        21 => ServerMsg::DavePrepareTransition {
            transition_id: d
                .get("transition_id")
                .and_then(uint)
                .ok_or_else(|| bad("transition_id"))?,
            protocol_version: d
                .get("protocol_version")
                .and_then(uint)
                .ok_or_else(|| bad("protocol_version"))?,
        },
        22 => ServerMsg::DaveExecuteTransition {
            transition_id: d
                .get("transition_id")
                .and_then(uint)
                .ok_or_else(|| bad("transition_id"))?,
        },
        24 => ServerMsg::DavePrepareEpoch {
            epoch: d
                .get("epoch")
                .and_then(Value::as_u64)
                .ok_or_else(|| bad("epoch"))?,
            protocol_version: d
                .get("protocol_version")
                .and_then(uint)
                .ok_or_else(|| bad("protocol_version"))?,
        },
        other => ServerMsg::Other { op: other },
    };
    Ok(TextFrame { seq, msg })
}

/// A server binary frame: v8 prefix `seq u16 BE | opcode | payload`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BinaryFrame<'a> {
    pub seq: u16,
    pub op: u8,
    pub payload: &'a [u8],
}

pub fn parse_binary(b: &[u8]) -> Option<BinaryFrame<'_>> {
    if b.len() < 3 {
        return None;
    }
    Some(BinaryFrame {
        seq: u16::from_be_bytes([b[0], b[1]]),
        op: b[2],
        payload: &b[3..],
    })
}

/// Splits a `transition_id u16 | rest` payload (ops 29 and 30).
pub fn split_transition(payload: &[u8]) -> Option<(u16, &[u8])> {
    if payload.len() < 2 {
        return None;
    }
    Some((u16::from_be_bytes([payload[0], payload[1]]), &payload[2..]))
}

pub fn text(op: u8, d: Value) -> Message {
    Message::text(json!({ "op": op, "d": d }).to_string())
}

pub fn binary(op: u8, payload: &[u8]) -> Message {
    let mut v = Vec::with_capacity(payload.len() + 1);
    v.push(op);
    v.extend_from_slice(payload);
    Message::binary(v)
}

pub fn identify(
    guild_id: u64,
    user_id: u64,
    session_id: &str,
    token: &str,
    max_dave: u16,
) -> Message {
    text(
        op::IDENTIFY,
        json!({
            "server_id": guild_id.to_string(),
            "user_id": user_id.to_string(),
            "session_id": session_id,
            "token": token,
            "max_dave_protocol_version": max_dave,
        }),
    )
}

pub fn resume(guild_id: u64, session_id: &str, token: &str, seq_ack: i64) -> Message {
    text(
        op::RESUME,
        json!({ "server_id": guild_id.to_string(), "session_id": session_id, "token": token, "seq_ack": seq_ack }),
    )
}

pub fn heartbeat(nonce: u64, seq_ack: i64) -> Message {
    text(op::HEARTBEAT, json!({ "t": nonce, "seq_ack": seq_ack }))
}

pub fn select_protocol(address: &str, port: u16, mode: &str) -> Message {
    text(
        op::SELECT_PROTOCOL,
        json!({ "protocol": "udp", "data": { "address": address, "port": port, "mode": mode } }),
    )
}

pub fn speaking(flags: u8, ssrc: u32) -> Message {
    text(
        op::SPEAKING,
        json!({ "speaking": flags, "delay": 0, "ssrc": ssrc }),
    )
}

pub fn transition_ready(transition_id: u16) -> Message {
    text(
        op::DAVE_TRANSITION_READY,
        json!({ "transition_id": transition_id }),
    )
}

pub fn invalid_commit_welcome(transition_id: u16) -> Message {
    text(
        op::DAVE_INVALID_COMMIT_WELCOME,
        json!({ "transition_id": transition_id }),
    )
}

/// Close code and reason of a close frame (1005 "no status" when the frame had none).
pub fn close_info(frame: Option<&CloseFrame>) -> (u16, String) {
    match frame {
        Some(f) => (u16::from(f.code), f.reason.to_string()),
        None => (1005, String::new()),
    }
}

pub fn close_frame(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason.to_string().into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_client_config_builds() {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let roots = rustls::RootCertStore::empty();
        let _ = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
    }

    #[test]
    fn urls() {
        assert_eq!(
            gateway_url("a.discord.media:2048", false).unwrap(),
            "wss://a.discord.media:2048/?v=8"
        );
        assert!(matches!(
            gateway_url("ws://127.0.0.1:5", false),
            Err(VoiceError::InsecureEndpoint(_))
        ));
        assert_eq!(
            gateway_url("ws://127.0.0.1:5", true).unwrap(),
            "ws://127.0.0.1:5/?v=8"
        );
        assert_eq!(
            gateway_url("ws://127.0.0.1:5/x?v=8", true).unwrap(),
            "ws://127.0.0.1:5/x?v=8"
        );
        assert!(gateway_url("", true).is_err());
        assert!(gateway_url("ftp://x", true).is_err());
    }

    #[test]
    fn parses_messages() {
        let f = parse_text(r#"{"op":2,"d":{"ssrc":4294967295,"ip":"1.2.3.4","port":5,"modes":["a"],"heartbeat_interval":1}}"#).unwrap();
        assert_eq!(
            f.msg,
            ServerMsg::Ready {
                ssrc: u32::MAX,
                ip: "1.2.3.4".into(),
                port: 5,
                modes: vec!["a".into()]
            }
        );
        let f = parse_text(r#"{"op":6,"d":{"t":7},"seq":3}"#).unwrap();
        assert_eq!(
            (f.seq, f.msg),
            (Some(3), ServerMsg::HeartbeatAck { nonce: Some(7) })
        );
        assert_eq!(
            parse_text(r#"{"op":99,"d":1}"#).unwrap().msg,
            ServerMsg::Other { op: 99 }
        );
        assert!(parse_text(r#"{"op":4,"d":{"mode":"x","secret_key":[1,2]}}"#).is_err());
        assert!(parse_text("[").is_err());
        let f = parse_text(r#"{"op":11,"d":{"user_ids":["1","2"]},"seq":1}"#).unwrap();
        assert_eq!(
            f.msg,
            ServerMsg::ClientsConnect {
                user_ids: vec![1, 2]
            }
        );
        assert_eq!(
            parse_binary(&[0, 5, 25, 1]),
            Some(BinaryFrame {
                seq: 5,
                op: 25,
                payload: &[1]
            })
        );
        assert_eq!(parse_binary(&[0, 5]), None);
    }
}
