//! Voice send-path cost per packet and its share of the 20 ms budget at N players.
//!
//! Run: `cargo bench --bench voice_send` (or `-- --quick`). Stages measured separately:
//! transport encryption (AES-256-GCM / XChaCha20-Poly1305 rtpsize), DAVE frame encryption
//! (AES-128-GCM, truncated tag), and the whole `FrameSink::send_frame` (header, DAVE,
//! transport, non-blocking UDP send to loopback) for N connections ticked as the pacer does.
//! Output: ns per packet and, for N players, µs per 20 ms tick and % of one core's budget.

use std::hint::black_box;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use basalt::voice::crypto::{write_rtp_header, DaveEncryptor, Mode, TransportCipher};
use basalt::voice::udp::{SendCore, Update};

const FRAME_BYTES: usize = 320; // ~128 kbit/s stereo Opus

fn time_per_iter(iters: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..iters / 10 {
        f();
    }
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    t.elapsed() / iters
}

fn transport(mode: Mode, iters: u32) -> Duration {
    let c = TransportCipher::new(mode, &[9u8; 32]);
    let mut buf = [0u8; 1500];
    let mut n = 0u32;
    time_per_iter(iters, || {
        write_rtp_header(&mut buf, n as u16, n.wrapping_mul(960), 7);
        n = n.wrapping_add(1);
        black_box(c.seal(&mut buf, FRAME_BYTES, n));
    })
}

fn dave(iters: u32) -> Duration {
    let mut e = DaveEncryptor::new(&[3u8; 16]);
    let frame = [0xABu8; FRAME_BYTES];
    let mut out = [0u8; 1500];
    time_per_iter(iters, || {
        black_box(e.encrypt_opus(&frame, &mut out));
    })
}

/// N send cores with their own connected sockets, all pointed at one loopback sink.
fn players(n: usize, mode: Mode, with_dave: bool) -> (Vec<std::sync::Arc<SendCore>>, UdpSocket) {
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = sink.local_addr().unwrap();
    let mut cores = Vec::new();
    for i in 0..n {
        let (core, mut tx) = SendCore::new();
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.connect(to).unwrap();
        s.set_nonblocking(true).unwrap();
        let cipher = TransportCipher::new(mode, &[i as u8; 32]);
        let _ = tx.push(Update::Transport {
            socket: s,
            ssrc: i as u32,
            cipher,
        });
        if with_dave {
            let _ = tx.push(Update::Dave(Some(DaveEncryptor::new(&[i as u8; 16]))));
        }
        core.set_ready(true);
        cores.push(core);
    }
    (cores, sink)
}

fn drain(sock: &UdpSocket) {
    sock.set_nonblocking(true).unwrap();
    let mut b = [0u8; 2048];
    while sock.recv(&mut b).is_ok() {}
}

/// Average wall time of one pacer tick (one frame to each of N players).
fn tick(n: usize, mode: Mode, with_dave: bool, ticks: u32) -> Duration {
    let (cores, sink) = players(n, mode, with_dave);
    let frame = [0x5Au8; FRAME_BYTES];
    for c in &cores {
        c.send_frame(&frame);
    }
    let mut total = Duration::ZERO;
    for _ in 0..ticks {
        let t = Instant::now();
        for c in &cores {
            c.send_frame(black_box(&frame));
        }
        total += t.elapsed();
        drain(&sink);
    }
    total / ticks
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let iters = if quick { 20_000 } else { 200_000 };
    println!("voice send path, {FRAME_BYTES}-byte Opus frames (20 ms budget = 20000 µs per core)");
    for mode in [Mode::Aes256Gcm, Mode::XChaCha20Poly1305] {
        println!(
            "  transport {:<32} {:>7.0} ns/packet",
            mode.as_str(),
            transport(mode, iters).as_nanos() as f64
        );
    }
    println!(
        "  DAVE frame encryption            {:>7.0} ns/packet",
        dave(iters).as_nanos() as f64
    );
    let ticks = if quick { 20 } else { 100 };
    println!("  full send_frame (RTP + DAVE? + transport + UDP send), per pacer tick:");
    for &n in &[1usize, 100, 1000] {
        for (mode, d) in [
            (Mode::Aes256Gcm, false),
            (Mode::Aes256Gcm, true),
            (Mode::XChaCha20Poly1305, true),
        ] {
            let t = tick(n, mode, d, ticks);
            let per = t.as_nanos() as f64 / n as f64;
            let share = t.as_secs_f64() / 0.020 * 100.0;
            println!(
                "    N={n:<5} {:<32} dave={:<5} {:>8.1} µs/tick {:>7.0} ns/packet {:>6.2}% of 20 ms",
                mode.as_str(),
                d,
                t.as_secs_f64() * 1e6,
                per,
                share
            );
        }
    }
}
