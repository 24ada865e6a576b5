//! The UDP media path: IP discovery, inbound drain, keepalive, and the per-connection send core
//! behind the `FrameSink` the pacer calls every 20 ms.
//!
//! The send core is shared between the connection's gateway (on the voice I/O thread) and the
//! pacer through one `Arc`, but the gateway side never touches the packet state: it pushes
//! keys and sockets through an SPSC ring (rtrb, allocation-free) that the pacer drains at the
//! start of a frame. The values carried are heap-free, so the pacer can drop replaced ones without freeing.

use std::cell::UnsafeCell;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use super::crypto::{
    write_rtp_header, DaveEncryptor, TransportCipher, DAVE_MAX_OVERHEAD, OPUS_SILENCE,
    RTP_HEADER_LEN, TRANSPORT_NONCE_SUFFIX_LEN, TRANSPORT_TAG_LEN,
};
use crate::player::FrameSink;

pub const DISCOVERY_LEN: usize = 74;
/// Largest Opus packet sent (the shared limit).
pub use crate::audio_format::MAX_OPUS_PACKET as MAX_OPUS;
const PACKET_CAP: usize =
    RTP_HEADER_LEN + MAX_OPUS + DAVE_MAX_OVERHEAD + TRANSPORT_TAG_LEN + TRANSPORT_NONCE_SUFFIX_LEN;
/// Silence frames sent when audio stops (§3.6).
pub const SILENCE_FRAMES: u8 = 5;
/// Most packets one connection sends in one system call: a held Speaking frame plus a
/// catch-up of up to four frames.
pub const MAX_BATCH: usize = 5;

thread_local! {
    /// Packet buffers, one set per sending thread rather than per connection (1.3 KiB
    /// less per player; thread-local and inline: taking it never allocates).
    static BATCH: std::cell::RefCell<[[u8; PACKET_CAP]; MAX_BATCH]> =
        const { std::cell::RefCell::new([[0; PACKET_CAP]; MAX_BATCH]) };
}

/// Builds the 74-byte discovery request (type 1, length 70, SSRC, zeros).
pub fn discovery_request(ssrc: u32) -> [u8; DISCOVERY_LEN] {
    let mut b = [0u8; DISCOVERY_LEN];
    b[0..2].copy_from_slice(&1u16.to_be_bytes());
    b[2..4].copy_from_slice(&70u16.to_be_bytes());
    b[4..8].copy_from_slice(&ssrc.to_be_bytes());
    b
}

/// Parses a discovery response: exactly 74 bytes of type 2; address up to the first NUL, a
/// valid IP; port big-endian. Anything else is None (the caller keeps waiting).
pub fn parse_discovery_response(b: &[u8]) -> Option<(IpAddr, u16)> {
    if b.len() != DISCOVERY_LEN || b[0..2] != [0, 2] || b[2..4] != [0, 70] {
        return None;
    }
    let addr = &b[8..72];
    let end = addr.iter().position(|&c| c == 0).unwrap_or(addr.len());
    let ip: IpAddr = std::str::from_utf8(&addr[..end]).ok()?.parse().ok()?;
    let port = u16::from_be_bytes([b[72], b[73]]);
    Some((ip, port))
}

/// Opens the media socket, connected to the server's ip:port, and runs IP discovery (resend
/// once a second, as Koe does, until `timeout`).
pub fn discover(
    server: SocketAddr,
    ssrc: u32,
    timeout: Duration,
) -> io::Result<(UdpSocket, IpAddr, u16)> {
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()
    .expect("literal");
    let std_sock = UdpSocket::bind(bind)?;
    shrink_receive_buffer(&std_sock);
    std_sock.connect(server)?;
    std_sock.set_nonblocking(true)?;
    let mut sock = mio::net::UdpSocket::from_std(std_sock.try_clone()?);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut sock, Token(0), Interest::READABLE)?;
    let mut events = Events::with_capacity(4);
    let req = discovery_request(ssrc);
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 1500];
    while Instant::now() < deadline {
        let _ = sock.send(&req);
        let resend_at = (Instant::now() + Duration::from_secs(1)).min(deadline);
        loop {
            let now = Instant::now();
            if now >= resend_at {
                break;
            }
            poll.poll(&mut events, Some(resend_at - now))?;
            loop {
                match sock.recv(&mut buf) {
                    Ok(n) => {
                        if let Some((ip, port)) = parse_discovery_response(&buf[..n]) {
                            poll.registry().deregister(&mut sock)?;
                            return Ok((std_sock, ip, port));
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => break,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        "UDP IP discovery timed out",
    ))
}

/// We never consume inbound media (RTCP, other users' audio): a small kernel receive buffer
/// keeps thousands of idle sockets from pinning ~200 KiB each; overflow is simply dropped.
fn shrink_receive_buffer(sock: &UdpSocket) {
    use std::os::fd::AsRawFd;
    let size: libc::c_int = 16 * 1024;
    // SAFETY: plain setsockopt on a valid fd with a correctly sized int option.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &size as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Reads and drops everything queued on the socket (RTCP, other users' audio) so it never fills.
pub fn drain(sock: &UdpSocket) {
    let mut buf = [0u8; 1500];
    for _ in 0..256 {
        match sock.recv(&mut buf) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(_) => break,
        }
    }
}

/// A short non-RTP datagram (the SSRC) to keep NAT bindings open during long silences.
pub fn keepalive(sock: &UdpSocket, ssrc: u32) {
    let _ = sock.send(&ssrc.to_be_bytes());
}

/// What the gateway side hands to the pacer side.
// Inline on purpose (no Box): the pacer drops replaced values, which must not free memory.
#[allow(clippy::large_enum_variant)]
pub enum Update {
    /// New media session (first handshake or a fresh identify): socket, SSRC, transport key.
    Transport {
        socket: UdpSocket,
        ssrc: u32,
        cipher: TransportCipher,
    },
    /// DAVE sender key for a new epoch, or None = transport-only.
    Dave(Option<DaveEncryptor>),
}

/// Speaking state requested by the send path, applied by the gateway side (op 5).
pub const SPEAK_NONE: u8 = 0;
pub const SPEAK_ON: u8 = 1;
pub const SPEAK_OFF: u8 = 2;

struct SendState {
    updates: rtrb::Consumer<Update>,
    socket: Option<UdpSocket>,
    ssrc: u32,
    cipher: Option<TransportCipher>,
    dave: Option<DaveEncryptor>,
    dave_on: bool,
    seq: u16,
    timestamp: u32,
    counter: u32,
    silence_left: u8,
    speaking: bool,
    /// The first frame after a speaking change, held for one tick so the gateway side can
    /// send Speaking first (receivers map the SSRC to the user from it; DAVE receivers
    /// cannot decrypt before). Sent with the next frame, so nothing is lost.
    held: [u8; MAX_OPUS],
    held_len: usize,
}

/// Counters the perf bench and tests read.
#[derive(Default)]
pub struct SendStats {
    pub packets: AtomicU64,
    pub dave_packets: AtomicU64,
    pub send_errors: AtomicU64,
    pub dropped_busy: AtomicU64,
}

/// One per voice connection; every sink handed out points at it.
pub struct SendCore {
    /// Guards `state` for the (single) thread sending; a second sink sending at the same
    /// instant skips its frame instead of waiting.
    busy: AtomicBool,
    state: UnsafeCell<SendState>,
    /// Transport key installed and the connection not closed.
    ready: AtomicBool,
    closed: AtomicBool,
    pub speak_request: AtomicU8,
    /// The gateway side has sent Speaking with a non-zero flag (op 5) and not cleared it.
    pub speaking_sent: AtomicBool,
    /// Wakes the gateway side for a speaking change (an eventfd write, only on changes).
    waker: Option<Arc<mio::Waker>>,
    pub stats: SendStats,
}

// SAFETY: `state` is only accessed by the thread that won `busy` (see `with_state`).
unsafe impl Sync for SendCore {}

impl SendCore {
    /// Returns the core and the producer the gateway side keeps.
    pub fn new() -> (Arc<SendCore>, rtrb::Producer<Update>) {
        SendCore::with_waker(None)
    }

    pub fn with_waker(waker: Option<Arc<mio::Waker>>) -> (Arc<SendCore>, rtrb::Producer<Update>) {
        // Four slots (each ~1 KiB of cipher state, per player): updates come at most three
        // at once (a handshake's DAVE reset, transport and first key) and the send path
        // drains them every 20 ms; an overflow waits, in order, for the gateway's next timer.
        let (tx, rx) = rtrb::RingBuffer::new(4);
        let state = SendState {
            updates: rx,
            socket: None,
            ssrc: 0,
            cipher: None,
            dave: None,
            dave_on: false,
            seq: rand::random(),
            timestamp: rand::random(),
            counter: rand::random(),
            silence_left: 0,
            speaking: false,
            held: [0u8; MAX_OPUS],
            held_len: 0,
        };
        let core = SendCore {
            busy: AtomicBool::new(false),
            state: UnsafeCell::new(state),
            ready: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            speak_request: AtomicU8::new(SPEAK_NONE),
            speaking_sent: AtomicBool::new(false),
            waker,
            stats: SendStats::default(),
        };
        (Arc::new(core), tx)
    }

    fn wake(&self) {
        if let Some(w) = &self.waker {
            let _ = w.wake();
        }
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.ready.store(false, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire) && !self.closed.load(Ordering::Acquire)
    }

    fn with_state(&self, f: impl FnOnce(&mut SendState, &SendCore)) {
        if self.busy.swap(true, Ordering::Acquire) {
            self.stats.dropped_busy.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // SAFETY: we hold `busy`, so no other thread has a reference into `state`.
        let st = unsafe { &mut *self.state.get() };
        f(st, self);
        self.busy.store(false, Ordering::Release);
    }

    /// Applies pending updates from the gateway side (allocation-free; the values are
    /// plain data, so replacing one frees nothing).
    fn apply_updates(st: &mut SendState) {
        while let Ok(u) = st.updates.pop() {
            match u {
                Update::Transport {
                    socket,
                    ssrc,
                    cipher,
                } => {
                    st.socket = Some(socket);
                    st.ssrc = ssrc;
                    st.cipher = Some(cipher);
                }
                Update::Dave(Some(enc)) => {
                    // Re-installing the same epoch's key keeps the nonce sequence.
                    let same = st.dave.as_ref().is_some_and(|cur| cur.same_domain(&enc));
                    if !same {
                        st.dave = Some(enc);
                    }
                    st.dave_on = true;
                }
                Update::Dave(None) => st.dave_on = false,
            }
        }
    }

    /// Builds the next packet for `opus` into `buf` (RTP header, DAVE, transport seal) and
    /// advances the sequence; returns its length, or None if it cannot be sent.
    fn seal(
        st: &mut SendState,
        core: &SendCore,
        opus: &[u8],
        dave: bool,
        buf: &mut [u8; PACKET_CAP],
    ) -> Option<usize> {
        let cipher = st.cipher.as_ref()?;
        write_rtp_header(buf, st.seq, st.timestamp, st.ssrc);
        let body = &mut buf[RTP_HEADER_LEN..];
        let payload_len = match (dave, st.dave.as_mut()) {
            (true, Some(enc)) if st.dave_on => {
                // Never fall back to plain audio inside a DAVE call.
                let n = enc.encrypt_opus(opus, body)?;
                core.stats.dave_packets.fetch_add(1, Ordering::Relaxed);
                n
            }
            _ => {
                body[..opus.len()].copy_from_slice(opus);
                opus.len()
            }
        };
        let counter = st.counter;
        let len = cipher.seal(buf, payload_len, counter)?;
        st.counter = counter.wrapping_add(1);
        st.seq = st.seq.wrapping_add(1);
        st.timestamp = st.timestamp.wrapping_add(crate::audio_format::FRAME as u32);
        Some(len)
    }

    fn sent(core: &SendCore, ok: usize, failed: usize) {
        core.stats.packets.fetch_add(ok as u64, Ordering::Relaxed);
        if failed > 0 {
            core.stats
                .send_errors
                .fetch_add(failed as u64, Ordering::Relaxed);
            for _ in 0..failed {
                crate::telemetry::VOICE_UDP_SEND_ERRORS.inc();
            }
        }
    }

    fn send_payload(st: &mut SendState, core: &SendCore, opus: &[u8], dave: bool) {
        if st.socket.is_none() {
            return;
        }
        BATCH.with(|b| {
            let Ok(mut bufs) = b.try_borrow_mut() else {
                return;
            };
            let Some(len) = Self::seal(st, core, opus, dave, &mut bufs[0]) else {
                return;
            };
            let Some(socket) = st.socket.as_ref() else {
                return;
            };
            // The socket is connected to the voice server (`discover`): the kernel keeps
            // the route, and `send` skips the per-packet address handling of `send_to`.
            match socket.send(&bufs[0][..len]) {
                Ok(_) => Self::sent(core, 1, 0),
                Err(_) => Self::sent(core, 0, 1),
            }
        });
    }

    /// Sends several packets of this connection with one `sendmmsg`: a held Speaking frame
    /// with the next one, or a late tick's catch-up frames. (Linux has no `sendmmsg` across
    /// sockets, and each connection has its own socket, so packets of different players
    /// cannot share a system call; only one connection's own packets batch.)
    fn send_batch(st: &mut SendState, core: &SendCore, frames: &[&[u8]]) {
        use std::os::fd::AsRawFd;
        BATCH.with(|b| {
            let Ok(mut bufs) = b.try_borrow_mut() else {
                return;
            };
            let mut lens = [0usize; MAX_BATCH];
            let mut n = 0;
            for f in frames.iter().take(MAX_BATCH) {
                if let Some(len) = Self::seal(st, core, f, *f != OPUS_SILENCE, &mut bufs[n]) {
                    lens[n] = len;
                    n += 1;
                }
            }
            let Some(socket) = st.socket.as_ref() else {
                return;
            };
            // SAFETY: zeroed iovec/mmsghdr are valid; every pointer set below points into
            // `bufs`, which outlives the call, with its true length.
            let mut iov: [libc::iovec; MAX_BATCH] = unsafe { std::mem::zeroed() };
            let mut msgs: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
            for i in 0..n {
                iov[i].iov_base = bufs[i].as_mut_ptr().cast();
                iov[i].iov_len = lens[i];
                msgs[i].msg_hdr.msg_iov = &mut iov[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
            }
            let mut done = 0;
            while done < n {
                // SAFETY: `msgs[done..n]` are initialised above; the socket is open.
                let r = unsafe {
                    libc::sendmmsg(
                        socket.as_raw_fd(),
                        msgs[done..].as_mut_ptr(),
                        (n - done) as libc::c_uint,
                        libc::MSG_DONTWAIT,
                    )
                };
                if r <= 0 {
                    // The first unsent packet failed (full buffer, unreachable): count it
                    // and go on with the rest, as single sends would.
                    Self::sent(core, 0, 1);
                    done += 1;
                } else {
                    Self::sent(core, r as usize, 0);
                    done += r as usize;
                }
            }
        });
    }

    /// One paced frame (see `send_frames`).
    pub fn send_frame(&self, opus: &[u8]) {
        self.send_frames(&[opus]);
    }

    /// This tick's frames of one player, oldest first: normally one, more when a late
    /// tick catches up. Sent with one system call when there are several.
    pub fn send_frames(&self, frames: &[&[u8]]) {
        if self.closed.load(Ordering::Relaxed) || frames.is_empty() {
            return;
        }
        if frames.iter().any(|f| f.len() > MAX_OPUS || f.is_empty()) {
            return;
        }
        self.with_state(|st, core| {
            Self::apply_updates(st);
            st.silence_left = SILENCE_FRAMES;
            let mut frames = frames;
            if !st.speaking {
                st.speaking = true;
                core.speak_request.store(SPEAK_ON, Ordering::Release);
                core.wake();
                if !core.speaking_sent.load(Ordering::Acquire) {
                    let first = frames[0];
                    st.held[..first.len()].copy_from_slice(first);
                    st.held_len = first.len();
                    frames = &frames[1..];
                    if frames.is_empty() {
                        return;
                    }
                }
            }
            if st.held_len == 0 && frames.len() == 1 {
                let f = frames[0];
                return Self::send_payload(st, core, f, f != OPUS_SILENCE);
            }
            let mut batch: [&[u8]; MAX_BATCH] = [&[]; MAX_BATCH];
            let mut k = 0;
            let held = st.held;
            if st.held_len > 0 {
                batch[0] = &held[..st.held_len];
                st.held_len = 0;
                k = 1;
            }
            for f in frames.iter().take(MAX_BATCH - k) {
                batch[k] = f;
                k += 1;
            }
            Self::send_batch(st, core, &batch[..k]);
        });
    }

    /// Sends the frame held back for Speaking, if any (one tick later, before the next).
    fn send_held(st: &mut SendState, core: &SendCore) {
        if st.held_len == 0 {
            return;
        }
        let (held, n) = (st.held, st.held_len);
        st.held_len = 0;
        Self::send_payload(st, core, &held[..n], held[..n] != OPUS_SILENCE);
    }

    pub fn no_frame(&self) {
        if self.closed.load(Ordering::Relaxed) {
            return;
        }
        self.with_state(|st, core| {
            Self::apply_updates(st);
            Self::send_held(st, core);
            if st.silence_left == 0 {
                return;
            }
            st.silence_left -= 1;
            Self::send_payload(st, core, &OPUS_SILENCE, false);
            if st.silence_left == 0 && st.speaking {
                st.speaking = false;
                core.speak_request.store(SPEAK_OFF, Ordering::Release);
                core.wake();
            }
        });
    }
}

/// The `FrameSink` given to the engine.
pub struct VoiceSink {
    pub core: Arc<SendCore>,
}

impl FrameSink for VoiceSink {
    fn send_frame(&mut self, opus: &[u8]) {
        self.core.send_frame(opus);
    }
    fn send_frames(&mut self, frames: &[&[u8]]) {
        self.core.send_frames(frames);
    }
    fn no_frame(&mut self) {
        self.core.no_frame();
    }
    fn is_connected(&self) -> bool {
        self.core.is_ready()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_roundtrip() {
        let mut resp = discovery_request(42);
        resp[1] = 2;
        resp[8..17].copy_from_slice(b"127.0.0.1");
        resp[72..74].copy_from_slice(&50004u16.to_be_bytes());
        assert_eq!(
            parse_discovery_response(&resp),
            Some(("127.0.0.1".parse().unwrap(), 50004))
        );
        assert_eq!(parse_discovery_response(&resp[..73]), None);
        resp[8] = b'x';
        assert_eq!(parse_discovery_response(&resp), None);
    }

    /// A connected core sending to a local receiver (transport only).
    fn core_to_receiver() -> (Arc<SendCore>, UdpSocket, TransportCipher) {
        use super::super::crypto::Mode;
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.connect(rx.local_addr().unwrap()).unwrap();
        tx.set_nonblocking(true).unwrap();
        let (core, mut updates) = SendCore::new();
        let key = [7u8; 32];
        let _ = updates.push(Update::Transport {
            socket: tx,
            ssrc: 9,
            cipher: TransportCipher::new(Mode::Aes256Gcm, &key),
        });
        core.set_ready(true);
        (core, rx, TransportCipher::new(Mode::Aes256Gcm, &key))
    }

    /// (RTP sequence, decrypted payload) of the next `n` packets.
    fn receive(rx: &UdpSocket, cipher: &TransportCipher, n: usize) -> Vec<(u16, Vec<u8>)> {
        let mut buf = [0u8; 2048];
        (0..n)
            .map(|_| {
                let len = rx.recv(&mut buf).expect("packet");
                let seq = u16::from_be_bytes([buf[2], buf[3]]);
                (seq, cipher.open(&buf[..len]).expect("decrypts"))
            })
            .collect()
    }

    #[test]
    fn a_batch_goes_out_in_order_with_consecutive_sequence_numbers() {
        let (core, rx, cipher) = core_to_receiver();
        // Speaking not yet acknowledged: the first frame is held, then sent with the next.
        core.send_frame(&[1; 40]);
        core.speaking_sent.store(true, Ordering::Release);
        core.send_frames(&[&[2; 41], &[3; 42], &[4; 43]]);
        core.send_frame(&[5; 44]);
        let got = receive(&rx, &cipher, 5);
        for (i, (seq, payload)) in got.iter().enumerate() {
            assert_eq!(
                *seq,
                got[0].0.wrapping_add(i as u16),
                "sequence of packet {i}"
            );
            assert_eq!(payload.len(), 40 + i, "payload of packet {i}");
            assert!(
                payload.iter().all(|&b| b == i as u8 + 1),
                "payload of packet {i}"
            );
        }
        assert_eq!(core.stats.packets.load(Ordering::Relaxed), 5);
    }
}
