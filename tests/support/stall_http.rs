//! One loopback HTTP media server for the stall and fault tests: a body sent partly at once,
//! then stalled, trickled or followed by endless junk, each connection on its own thread
//! until the client goes away. The sleeps in here are the slow host being simulated, not
//! waits for a condition.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What comes after the first `Plan::fast` bytes.
#[derive(Clone, Copy)]
pub enum Then {
    /// A pause, then the rest at once.
    StallFor(Duration),
    /// Nothing more, ever; the connection stays open (an empty write each second notices
    /// the client leaving).
    StallForever,
    /// `bytes` every `every` up to byte `until`, then the rest at once.
    Trickle {
        bytes: usize,
        every: Duration,
        until: usize,
    },
    /// After the whole body, endless junk with no byte over 0x7F (so never an MPEG sync
    /// word), `chunk` bytes every `every`.
    Junk { chunk: usize, every: Duration },
}

pub struct Plan {
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Send `Content-Length` (else the body is a stream of unknown length).
    pub with_length: bool,
    /// Answer `Range: bytes=N-` with a 206 from N, as a CDN would (else ranges are ignored).
    pub ranges: bool,
    /// Bytes of the body sent at once.
    pub fast: usize,
    pub then: Then,
}

pub struct Served {
    pub port: u16,
    /// Set once a write failed: the client let go of a connection.
    pub gone: Arc<AtomicBool>,
}

/// Serves `plan` on a loopback port, every connection afresh.
pub fn serve(plan: Plan) -> Served {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let gone = Arc::new(AtomicBool::new(false));
    let flag = gone.clone();
    let plan = Arc::new(plan);
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let (plan, flag) = (plan.clone(), flag.clone());
            std::thread::spawn(move || {
                if answer(&plan, &mut s).is_err() {
                    flag.store(true, Ordering::Release);
                }
            });
        }
    });
    Served { port, gone }
}

fn answer(plan: &Plan, s: &mut std::net::TcpStream) -> std::io::Result<()> {
    let body = &plan.body;
    let mut req = [0u8; 4096];
    let n = s.read(&mut req).unwrap_or(0);
    let text = String::from_utf8_lossy(&req[..n]).to_ascii_lowercase();
    let from = if plan.ranges {
        text.split("range: bytes=")
            .nth(1)
            .and_then(|r| r.split('-').next())
            .and_then(|n| n.trim().parse::<usize>().ok())
            .unwrap_or(0)
            .min(body.len())
    } else {
        0
    };
    let mut head = if from > 0 {
        format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {from}-{}/{}\r\n",
            body.len() - 1,
            body.len()
        )
    } else {
        "HTTP/1.1 200 OK\r\n".to_string()
    };
    head += &format!(
        "Content-Type: {}\r\nConnection: close\r\n",
        plan.content_type
    );
    if plan.with_length {
        head += &format!("Content-Length: {}\r\n", body.len() - from);
    }
    head += "\r\n";
    s.write_all(head.as_bytes())?;
    if text.starts_with("head") {
        return Ok(());
    }
    let fast = plan.fast.min(body.len());
    if from < fast {
        s.write_all(&body[from..fast])?;
    }
    let at = fast.max(from);
    match plan.then {
        Then::StallFor(d) => {
            std::thread::sleep(d);
            s.write_all(&body[at..])
        }
        Then::StallForever => loop {
            std::thread::sleep(Duration::from_secs(1));
            s.write_all(&[])?;
        },
        Then::Trickle {
            bytes,
            every,
            until,
        } => {
            let until = until.clamp(at, body.len());
            for piece in body[at..until].chunks(bytes.max(1)) {
                std::thread::sleep(every);
                s.write_all(piece)?;
            }
            s.write_all(&body[until..])
        }
        Then::Junk { chunk, every } => {
            s.write_all(&body[at..])?;
            let mut x = 0x1234_5678u32;
            let mut junk = vec![0u8; chunk];
            loop {
                for b in junk.iter_mut() {
                    x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    *b = (x >> 25) as u8;
                }
                s.write_all(&junk)?;
                std::thread::sleep(every);
            }
        }
    }
}
