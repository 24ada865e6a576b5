//! Voice send-path cost per packet, its share of the 20 ms budget at N players, and what
//! that means for players per node once pacing is sharded over threads.
//!
//! Run: `cargo bench --bench voice_send` (or `-- --quick`). Stages measured separately:
//! transport encryption (AES-256-GCM / XChaCha20-Poly1305 rtpsize), DAVE frame encryption
//! (AES-128-GCM, truncated tag), and the whole `FrameSink::send_frame` (header, DAVE,
//! transport, non-blocking UDP send to loopback) for N connections ticked as the pacer does.
//! Then, in the same run, ratios of the system call alone: `send_to` on an unbound-peer
//! socket against `send` on a connected one (what `connect()` saves per packet), and k
//! packets of one connection as k sends against one `sendmmsg` (a late tick's catch-up).
//! Output: ns per packet and, for N players, µs per 20 ms tick and % of one core's budget;
//! last a projection of players per node on 2, 16 and 64 cores.

use std::hint::black_box;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use basalt::audio_format::FRAME;
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
        write_rtp_header(&mut buf, n as u16, n.wrapping_mul(FRAME as u32), 7);
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

/// `n` sockets sending 360-byte datagrams to one loopback sink, round-robin as the pacer
/// does; `connected`: `send` on connected sockets, else `send_to` with the address.
fn raw_send(n: usize, connected: bool, rounds: u32) -> Duration {
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to: SocketAddr = sink.local_addr().unwrap();
    let socks: Vec<UdpSocket> = (0..n)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            if connected {
                s.connect(to).unwrap();
            }
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect();
    let pkt = [0x42u8; 360];
    let mut total = Duration::ZERO;
    for _ in 0..rounds {
        let t = Instant::now();
        for s in &socks {
            let _ = if connected {
                s.send(black_box(&pkt))
            } else {
                s.send_to(black_box(&pkt), to)
            };
        }
        total += t.elapsed();
        drain(&sink);
    }
    total / (rounds * n as u32)
}

/// Per packet: k frames of each of `n` connections sent one by one or as one batch
/// (`send_frames`, one `sendmmsg`).
fn batch_send(n: usize, k: usize, batched: bool, rounds: u32) -> Duration {
    let (cores, sink) = players(n, Mode::Aes256Gcm, false);
    let frame = [0x5Au8; FRAME_BYTES];
    let frames: Vec<&[u8]> = (0..k).map(|_| &frame[..]).collect();
    for c in &cores {
        c.send_frame(&frame);
        c.speaking_sent
            .store(true, std::sync::atomic::Ordering::Release);
        c.send_frame(&frame);
    }
    drain(&sink);
    let mut total = Duration::ZERO;
    for _ in 0..rounds {
        let t = Instant::now();
        for c in &cores {
            if batched {
                c.send_frames(black_box(&frames));
            } else {
                for f in &frames {
                    c.send_frame(black_box(f));
                }
            }
        }
        total += t.elapsed();
        drain(&sink);
    }
    total / (rounds * (n * k) as u32)
}

/// CPU per player per 20 ms tick outside the send path, from `perf/players` (README's
/// figures, release build): Opus passthrough 0.44 ms per player-second, full transcode
/// (MP3 → 48 kHz → Opus cx10) 166.8 µs per frame.
const PASSTHROUGH_US: f64 = 8.8;
const TRANSCODE_US: f64 = 166.8;
/// Share of each core the node may use (the rest: kernel, control plane, headroom), and the
/// players one pacer thread takes (`[player] pacer_players_per_thread` default).
const USABLE: f64 = 0.8;
const PER_PACER: f64 = 1000.0;

fn projection(send_us: f64) {
    println!();
    println!("projected players per node (send {send_us:.2} µs/packet measured above; encode");
    println!(
        "cost from perf/players; {:.0} % of each core usable):",
        USABLE * 100.0
    );
    println!(
        "  {:>5}  {:<12} {:>12} {:>16} {:>14} {:>8}",
        "cores", "audio", "CPU-bound", "one pacer", "sharded", "pacers"
    );
    // One pacer thread can send at most one core's worth of packets per tick.
    let one_pacer_ceiling = 20_000.0 / send_us;
    for cores in [2usize, 16, 64] {
        for (name, encode) in [("passthrough", PASSTHROUGH_US), ("transcode", TRANSCODE_US)] {
            let cpu = cores as f64 * 20_000.0 * USABLE / (encode + send_us);
            let one = cpu.min(one_pacer_ceiling);
            let shards = (cpu / PER_PACER).ceil().max(1.0) as usize;
            let max_shards = cores.div_ceil(2);
            let sharded = cpu.min(max_shards as f64 * one_pacer_ceiling);
            println!(
                "  {cores:>5}  {name:<12} {cpu:>12.0} {one:>16.0} {sharded:>14.0} {:>8}",
                shards.min(max_shards)
            );
        }
    }
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
    let mut full_send = 0.0;
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
            if n == 1000 && d && mode == Mode::Aes256Gcm {
                full_send = per / 1000.0;
            }
        }
    }
    let rounds = if quick { 20 } else { 100 };
    println!("  system call per packet, 1000 sockets (before → after, same run):");
    let to = raw_send(1000, false, rounds).as_nanos() as f64;
    let conn = raw_send(1000, true, rounds).as_nanos() as f64;
    println!(
        "    send_to, unconnected {to:>7.0} ns → send, connected {conn:>7.0} ns   ratio {:.2}",
        conn / to
    );
    for k in [2usize, 4] {
        let one = batch_send(1000, k, false, rounds).as_nanos() as f64;
        let batch = batch_send(1000, k, true, rounds).as_nanos() as f64;
        println!(
            "    {k} packets of one connection: {k} × send {one:>6.0} ns → sendmmsg {batch:>6.0} ns per packet   ratio {:.2}",
            batch / one
        );
    }
    projection(full_send);
}
