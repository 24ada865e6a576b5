//! Outbound timeouts: `[timeouts] connection_request_timeout_ms` bounds the acquisition of
//! a connection (TCP connect, proxy CONNECT, TLS handshake) even when the connect and read
//! timeouts are long; live HLS segments use lavaplayer's fixed 5000 ms instead of
//! `[timeouts]` (sources.md §0.5). Loopback peers that never answer stand in for a
//! black-holed server.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use basalt::config::{self, Config};
use basalt::net::Outbound;
use basalt::source::hls;

fn config(extra: &str) -> Config {
    let text = format!("[server]\npassword = \"x\"\n{extra}");
    config::from_parts(Some(&text), "timeouts.toml", Vec::new()).expect("config")
}

/// A listener whose connections the kernel completes but nobody ever reads or writes:
/// a TLS handshake or a proxy CONNECT on it never finishes. Accepted sockets are kept open.
fn silent_listener() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        for c in l.incoming().flatten() {
            held.push(c);
        }
    });
    port
}

const SLOW: &str = "[timeouts]\nconnect_timeout_ms = 20000\nsocket_timeout_ms = 20000\n";

#[test]
fn connection_request_timeout_bounds_a_tls_handshake_that_never_completes() {
    let port = silent_listener();
    let out = Outbound::new(&config(&format!(
        "{SLOW}connection_request_timeout_ms = 400\n"
    )));
    let start = Instant::now();
    let err = out
        .get(&format!("https://127.0.0.1:{port}/x"))
        .send()
        .err()
        .expect("a handshake that never completes fails");
    let took = start.elapsed();
    eprintln!("failed after {took:?}: {err}");
    assert!(
        took >= Duration::from_millis(350) && took < Duration::from_secs(3),
        "took {took:?}"
    );
}

#[test]
fn connection_request_timeout_bounds_a_proxy_that_never_answers_connect() {
    let port = silent_listener();
    let out = Outbound::new(&config(&format!(
        "{SLOW}connection_request_timeout_ms = 400\n[http]\nproxy_host = \"127.0.0.1\"\nproxy_port = {port}\n"
    )));
    let start = Instant::now();
    let err = out
        .get("https://media.example/x")
        .send()
        .err()
        .expect("a CONNECT that is never answered fails");
    let took = start.elapsed();
    eprintln!("failed after {took:?}: {err}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[test]
fn a_fast_peer_is_unaffected_by_a_short_connection_request_timeout() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let mut buf = [0u8; 2048];
            let _ = c.read(&mut buf);
            let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
    });
    let out = Outbound::new(&config(
        "[timeouts]\nconnection_request_timeout_ms = 1000\n",
    ));
    let resp = out
        .get(&format!("http://127.0.0.1:{port}/"))
        .send()
        .expect("fast peer");
    assert_eq!(resp.text().unwrap(), "ok");
}

/// A live playlist of one segment served by `segment` (called with the connection).
fn live_server(segment: fn(TcpStream)) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            std::thread::spawn(move || loop {
                let mut buf = [0u8; 4096];
                let n = match c.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if buf[..n].starts_with(b"GET /live.m3u8") {
                    let list = "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:1.0,\nseg0.mp3\n";
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.apple.mpegurl\r\nContent-Length: {}\r\n\r\n{list}",
                        list.len()
                    );
                    if c.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                } else {
                    segment(c);
                    return;
                }
            });
        }
    });
    port
}

const SEGMENT_LEN: usize = 4000;

#[test]
fn a_live_segment_slower_than_socket_timeout_but_within_5_s_plays() {
    let port = live_server(|mut c| {
        std::thread::sleep(Duration::from_millis(2000));
        let mut body = vec![0u8; SEGMENT_LEN];
        body[..4].copy_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
        let head = format!("HTTP/1.1 200 OK\r\nContent-Type: audio/mpeg\r\nContent-Length: {SEGMENT_LEN}\r\nConnection: close\r\n\r\n");
        let _ = c.write_all(head.as_bytes());
        let _ = c.write_all(&body);
    });
    let net = Outbound::new(&config(
        "[timeouts]\nsocket_timeout_ms = 800\nconnect_timeout_ms = 800\n",
    ));
    let url = hls::Url::parse(&format!("http://127.0.0.1:{port}/live.m3u8")).unwrap();
    let mut input = hls::open(&net, &url, false).expect("the live segment opens");
    assert!(input.is_stream);
    let mut all = Vec::new();
    input
        .reader
        .read_to_end(&mut all)
        .expect("reads to the end");
    assert_eq!(all.len(), SEGMENT_LEN);
}

#[test]
fn a_live_segment_that_never_answers_gives_up_after_5_s() {
    let port = live_server(|c| {
        std::thread::sleep(Duration::from_secs(30));
        drop(c);
    });
    let net = Outbound::new(&config(&format!(
        "{SLOW}connection_request_timeout_ms = 20000\n"
    )));
    let url = hls::Url::parse(&format!("http://127.0.0.1:{port}/live.m3u8")).unwrap();
    let start = Instant::now();
    let err = hls::open(&net, &url, false)
        .err()
        .expect("no segment ever arrives");
    let took = start.elapsed();
    eprintln!("gave up after {took:?}: {err}");
    assert!(
        took >= Duration::from_millis(4800) && took < Duration::from_secs(12),
        "took {took:?}"
    );
}
