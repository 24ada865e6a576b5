//! A fake Discord voice server for many players at once: a voice gateway (ws:// on loopback,
//! one thread per connection, v8 message shapes, no DAVE offered) and one UDP socket that
//! answers IP discovery and records every RTP packet with the kernel's receive timestamp
//! (`SO_TIMESTAMPNS`), so the benchmark's own scheduling on a busy machine does not show up
//! as the node's lateness. Packets are told apart by SSRC (one per gateway session) and
//! filed under the guild that identified with it. Transport decryption runs only for the
//! players a change test is watching.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, MutexGuard};

use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::Aes256Gcm;
use chacha20poly1305::XChaCha20Poly1305;
use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

pub const AES: &str = "aead_aes256_gcm_rtpsize";
pub const XCHACHA: &str = "aead_xchacha20_poly1305_rtpsize";

/// One RTP packet as it arrived.
#[derive(Clone, Copy, Debug)]
pub struct Arrival {
    pub seq: u16,
    /// CLOCK_REALTIME nanoseconds (kernel receive time).
    pub ns: i64,
    /// Carries audio (longer than Opus silence).
    pub audio: bool,
}

/// What the server saw of one guild's player.
#[derive(Default)]
pub struct PlayerRec {
    pub audio_total: u64,
    pub packets_total: u64,
    /// Packets received while recording is on.
    pub window: Vec<Arrival>,
    /// Decrypted Opus frames with their arrival, while a change test watches this player.
    pub capture: Option<Vec<(i64, Vec<u8>)>>,
    pub sessions: u32,
    pub decrypt_errors: u64,
}

struct Stream {
    guild: u64,
    mode: String,
    key: Option<[u8; 32]>,
}

#[derive(Default)]
pub struct Shared {
    streams: HashMap<u32, Stream>,
    pub players: HashMap<u64, PlayerRec>,
    pub recording: bool,
    pub errors: Vec<String>,
    next_ssrc: u32,
}

pub struct FakeVoice {
    /// `ws://127.0.0.1:PORT`, given to nodes as the voice endpoint.
    pub endpoint: String,
    shared: Arc<Mutex<Shared>>,
}

pub const TOKEN: &str = "basalt-perf-token";
pub const SESSION: &str = "basalt-perf-session";

impl FakeVoice {
    pub fn start() -> io::Result<FakeVoice> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let ws_port = listener.local_addr()?.port();
        let udp = UdpSocket::bind("127.0.0.1:0")?;
        let udp_port = udp.local_addr()?.port();
        let timestamps = enable_timestamps(&udp);
        let shared = Arc::new(Mutex::new(Shared {
            next_ssrc: 0x1000,
            ..Shared::default()
        }));
        if !timestamps {
            lock(&shared)
                .errors
                .push("SO_TIMESTAMPNS unavailable: arrival times are taken in user space".into());
        }
        {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("voice-udp".into())
                .spawn(move || udp_loop(udp, &shared))?;
        }
        {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("voice-accept".into())
                .spawn(move || {
                    for stream in listener.incoming().flatten() {
                        let shared = shared.clone();
                        let _ =
                            std::thread::Builder::new()
                                .name("voice-gw".into())
                                .spawn(move || {
                                    if let Err(e) = serve(stream, udp_port, &shared) {
                                        lock(&shared).errors.push(format!("voice gateway: {e}"));
                                    }
                                });
                    }
                })?;
        }
        Ok(FakeVoice {
            endpoint: format!("ws://127.0.0.1:{ws_port}"),
            shared,
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, Shared> {
        lock(&self.shared)
    }
}

fn lock(s: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// A key that differs per session; not secret (loopback benchmark).
fn session_key(ssrc: u32) -> [u8; 32] {
    let mut x =
        crate::sysproc::realtime_ns() as u64 ^ (ssrc as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut key = [0u8; 32];
    for b in key.iter_mut() {
        // xorshift64*
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *b = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8;
    }
    key
}

struct Gateway {
    ws: WebSocket<TcpStream>,
    seq: i64,
}

impl Gateway {
    fn send(&mut self, op: u8, d: Value, numbered: bool) -> Result<(), String> {
        let msg = if numbered {
            self.seq += 1;
            json!({"op": op, "d": d, "seq": self.seq})
        } else {
            json!({"op": op, "d": d})
        };
        self.ws
            .send(Message::text(msg.to_string()))
            .map_err(|e| e.to_string())
    }
}

// tungstenite's accept error type is large; it is built once per connection.
#[allow(clippy::result_large_err)]
fn serve(stream: TcpStream, udp_port: u16, shared: &Mutex<Shared>) -> Result<(), String> {
    let _ = stream.set_nodelay(true);
    let ws = tungstenite::accept(stream).map_err(|e| e.to_string())?;
    let mut gw = Gateway { ws, seq: -1 };
    gw.send(8, json!({"heartbeat_interval": 13_750}), false)?;
    let mut ssrc = None;
    loop {
        let msg = match gw.ws.read() {
            Ok(m) => m,
            Err(_) => break,
        };
        let Message::Text(t) = msg else {
            if matches!(msg, Message::Close(_)) {
                break;
            }
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else {
            continue;
        };
        let d = &v["d"];
        match v["op"].as_u64() {
            Some(0) => {
                let guild = match &d["server_id"] {
                    Value::String(s) => s.parse::<u64>().ok(),
                    Value::Number(n) => n.as_u64(),
                    _ => None,
                }
                .ok_or_else(|| format!("identify without a server_id: {d}"))?;
                let id = {
                    let mut s = lock(shared);
                    s.next_ssrc += 1;
                    let id = s.next_ssrc;
                    s.streams.insert(
                        id,
                        Stream {
                            guild,
                            mode: String::new(),
                            key: None,
                        },
                    );
                    s.players.entry(guild).or_default().sessions += 1;
                    id
                };
                ssrc = Some(id);
                gw.send(
                    2,
                    json!({"ssrc": id, "ip": "127.0.0.1", "port": udp_port,
                        "modes": [AES, XCHACHA], "heartbeat_interval": 1}),
                    true,
                )?;
            }
            Some(1) => {
                let id = ssrc.ok_or("select protocol before identify")?;
                let mode = d["data"]["mode"].as_str().unwrap_or("").to_string();
                if mode != AES && mode != XCHACHA {
                    return Err(format!("node chose an unoffered mode {mode:?}"));
                }
                let key = session_key(id);
                if let Some(s) = lock(shared).streams.get_mut(&id) {
                    s.mode = mode.clone();
                    s.key = Some(key);
                }
                gw.send(
                    4,
                    json!({"mode": mode, "secret_key": key.to_vec(),
                        "dave_protocol_version": 0, "audio_codec": "opus"}),
                    true,
                )?;
            }
            Some(3) => {
                // v8 heartbeats are {t, seq_ack}; older versions send a bare nonce.
                let ack = if d.is_object() {
                    json!({"t": d["t"]})
                } else {
                    d.clone()
                };
                gw.send(6, ack, false)?;
            }
            Some(7) => gw.send(9, Value::Null, true)?,
            _ => {}
        }
    }
    Ok(())
}

/// Asks the kernel to stamp each datagram's arrival (CLOCK_REALTIME).
fn enable_timestamps(sock: &UdpSocket) -> bool {
    let on: libc::c_int = 1;
    let big: libc::c_int = 8 << 20;
    // SAFETY: setsockopt reads an int of the given size from a live local.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &big as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            &on as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        ) == 0
    }
}

/// recvmsg with the arrival timestamp from the control message (now if absent).
fn recv_stamped(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, i64)> {
    // SAFETY: every pointer in msghdr refers to a live local buffer of the stated length;
    // the CMSG_* helpers walk only the control buffer the kernel filled.
    unsafe {
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr() as *mut libc::c_void,
            iov_len: buf.len(),
        };
        let mut control = [0u64; 16];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = &mut addr as *mut libc::sockaddr_in as *mut libc::c_void;
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        let n = libc::recvmsg(sock.as_raw_fd(), &mut msg, 0);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut ns = None;
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::timespec);
                ns = Some(ts.tv_sec as i64 * 1_000_000_000 + ts.tv_nsec as i64);
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
        let ip = std::net::Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr));
        let from = SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(addr.sin_port)));
        Ok((
            n as usize,
            from,
            ns.unwrap_or_else(crate::sysproc::realtime_ns),
        ))
    }
}

/// RTP header length as the rtpsize modes count it (the extension header, not its body),
/// and the extension body's length (encrypted, at the start of the plaintext).
fn rtp_lengths(pkt: &[u8]) -> Option<(usize, usize)> {
    let cc = (pkt[0] & 0x0F) as usize;
    let ext = pkt[0] & 0x10 != 0;
    let hlen = 12 + 4 * cc + if ext { 4 } else { 0 };
    if pkt.len() < hlen {
        return None;
    }
    let ext_body = if ext {
        u16::from_be_bytes([pkt[hlen - 2], pkt[hlen - 1]]) as usize * 4
    } else {
        0
    };
    Some((hlen, ext_body))
}

/// Opens an rtpsize AEAD packet: header as AAD, then ciphertext, 16-byte tag, 4-byte nonce.
pub fn open(mode: &str, key: &[u8; 32], pkt: &[u8]) -> Option<Vec<u8>> {
    let (hlen, ext_body) = rtp_lengths(pkt)?;
    if pkt.len() < hlen + 20 {
        return None;
    }
    let (aad, rest) = pkt.split_at(hlen);
    let (body, tail) = rest.split_at(rest.len() - 20);
    let (tag, suffix) = tail.split_at(16);
    let mut buf = body.to_vec();
    let tag = GenericArray::from_slice(tag);
    let ok = if mode == AES {
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(suffix);
        Aes256Gcm::new(GenericArray::from_slice(key))
            .decrypt_in_place_detached(GenericArray::from_slice(&nonce), aad, &mut buf, tag)
            .is_ok()
    } else {
        let mut nonce = [0u8; 24];
        nonce[..4].copy_from_slice(suffix);
        XChaCha20Poly1305::new(GenericArray::from_slice(key))
            .decrypt_in_place_detached(GenericArray::from_slice(&nonce), aad, &mut buf, tag)
            .is_ok()
    };
    (ok && buf.len() >= ext_body).then(|| buf.split_off(ext_body))
}

/// Opus frames of three bytes or fewer are silence (0xF8 0xFF 0xFE) or empty.
fn carries_audio(pkt: &[u8]) -> bool {
    rtp_lengths(pkt).is_some_and(|(hlen, ext)| pkt.len() > hlen + 20 + ext + 3)
}

fn udp_loop(sock: UdpSocket, shared: &Mutex<Shared>) {
    let mut buf = [0u8; 2048];
    loop {
        let Ok((n, from, ns)) = recv_stamped(&sock, &mut buf) else {
            continue;
        };
        let pkt = &buf[..n];
        if n == 74 && pkt[0..2] == [0, 1] {
            let mut resp = [0u8; 74];
            resp[0..2].copy_from_slice(&[0, 2]);
            resp[2..4].copy_from_slice(&[0, 70]);
            resp[4..8].copy_from_slice(&pkt[4..8]);
            let ip = from.ip().to_string();
            resp[8..8 + ip.len()].copy_from_slice(ip.as_bytes());
            resp[72..74].copy_from_slice(&from.port().to_be_bytes());
            let _ = sock.send_to(&resp, from);
            continue;
        }
        if n < 12 || pkt[0] >> 6 != 2 {
            continue;
        }
        let seq = u16::from_be_bytes([pkt[2], pkt[3]]);
        let ssrc = u32::from_be_bytes([pkt[8], pkt[9], pkt[10], pkt[11]]);
        let audio = carries_audio(pkt);
        let mut guard = lock(shared);
        let s = &mut *guard;
        let Some(stream) = s.streams.get(&ssrc) else {
            continue;
        };
        let rec = s.players.entry(stream.guild).or_default();
        rec.packets_total += 1;
        rec.audio_total += u64::from(audio);
        if s.recording {
            rec.window.push(Arrival { seq, ns, audio });
        }
        if let (Some(cap), Some(key)) = (rec.capture.as_mut(), stream.key.as_ref()) {
            match open(&stream.mode, key, pkt) {
                Some(opus) => cap.push((ns, opus)),
                None => rec.decrypt_errors += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_both_modes() {
        let key = session_key(7);
        for mode in [AES, XCHACHA] {
            let mut pkt = vec![0x80, 0x78, 0, 1, 0, 0, 3, 0xC0, 0, 0, 0x10, 1];
            let mut body = vec![1u8, 2, 3, 4, 5];
            let suffix = 9u32.to_be_bytes();
            let tag = if mode == AES {
                let mut nonce = [0u8; 12];
                nonce[..4].copy_from_slice(&suffix);
                Aes256Gcm::new(GenericArray::from_slice(&key))
                    .encrypt_in_place_detached(GenericArray::from_slice(&nonce), &pkt, &mut body)
                    .unwrap()
                    .to_vec()
            } else {
                let mut nonce = [0u8; 24];
                nonce[..4].copy_from_slice(&suffix);
                XChaCha20Poly1305::new(GenericArray::from_slice(&key))
                    .encrypt_in_place_detached(GenericArray::from_slice(&nonce), &pkt, &mut body)
                    .unwrap()
                    .to_vec()
            };
            pkt.extend_from_slice(&body);
            pkt.extend_from_slice(&tag);
            pkt.extend_from_slice(&suffix);
            assert_eq!(open(mode, &key, &pkt), Some(vec![1, 2, 3, 4, 5]));
            assert!(carries_audio(&pkt));
            let last = pkt.len() - 5;
            pkt[last] ^= 1;
            assert_eq!(open(mode, &key, &pkt), None);
        }
    }
}
