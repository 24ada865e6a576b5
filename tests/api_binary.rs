//! The `basalt` binary: command line, start-up on a config file, the real wiring answering
//! REST and WebSocket, and SIGTERM/SIGINT → sockets closed with 1001, exit 0.

#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/poll.rs"]
mod poll;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http_client::*;

const BIN: &str = env!("CARGO_BIN_EXE_basalt");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write_config(name: &str, body: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("basalt-api-{}-{name}.toml", std::process::id()));
    std::fs::write(&p, body).unwrap();
    p
}

struct Running {
    child: Child,
    client: Client,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(name: &str) -> Running {
    let port = free_port();
    let cfg = write_config(
        name,
        &format!(
            "[server]\naddress = \"127.0.0.1\"\nport = {port}\npassword = \"pw\"\n\n[player]\nrealtime_pacer = false\n"
        ),
    );
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let client = Client::new(format!("127.0.0.1:{port}").parse().unwrap(), "pw");
    poll::wait_listening(&mut child, client.addr);
    Running { child, client }
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    poll::wait_for("the binary to exit", within, || child.try_wait().unwrap())
}

#[test]
fn help_version_and_bad_arguments() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--config PATH"), "{text}");
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("basalt {}", env!("CARGO_PKG_VERSION"))
    );
    let out = Command::new(BIN).arg("--frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(BIN).arg("--config").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bad_config_stops_startup() {
    let cfg = write_config("nopw", "[server]\nport = 1\n");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .env_remove("BASALT_SERVER_PASSWORD")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("password"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg = write_config("unknown", "[server]\npassword = \"x\"\nbogus = 1\n");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bogus"));
}

#[test]
fn serves_and_shuts_down_on_sigterm() {
    let mut r = spawn("term");
    let c = r.client.clone();
    assert_eq!(c.get("/version").status, 200);
    let info = c.get("/v4/info").json();
    let sources: Vec<&str> = info["sourceManagers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        sources.last(),
        Some(&"http"),
        "http registered last: {sources:?}"
    );
    assert_eq!(request(c.addr, "GET", "/v4/info", &[], None).status, 401);

    // decodetrack through the real sources: an http blob with a known probe decodes, one
    // naming a probe that does not exist is a client error (400; Java answers 500)
    let http_mp3 = "QAAAjQMAC0RlYXRoIG9mIE1lAApTQUlOVCBQSE5YAAAAAAAAdVgAKGh0dHBzOi8vd3d3Lm1ib3hkcml2ZS5jb20vc3RhcnRtdXNpYy5tcDMAAQAoaHR0cHM6Ly93d3cubWJveGRyaXZlLmNvbS9zdGFydG11c2ljLm1wMwAAAARodHRwAANtcDMAAAAAAAAAAA==";
    let heck = "QAAAggIACXRyYWNrLm1wMwAUPG5vIGF1dGhvciBwcm92aWRlZD4AAAAAAAAACgAYPG5vIGlkZW50aWZpZXIgcHJvdmlkZWQ+AAEAImh0dHA6Ly9zb21ld2Vic2l0ZS5ncmVlbi90cmFjay5tcDMABGh0dHAACGhlY2t8bWFuAAAAAAAAAAA=";
    let enc = |s: &str| {
        s.replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D")
    };
    let d = c.get(&format!("/v4/decodetrack?encodedTrack={}", enc(http_mp3)));
    assert_eq!(d.status, 200, "{}", d.text());
    assert_eq!(d.json()["pluginInfo"]["probeInfo"], "mp3");
    let d = c.get(&format!("/v4/decodetrack?encodedTrack={}", enc(heck)));
    assert_eq!(d.status, 400);
    assert_eq!(
        d.json()["message"],
        "Failed to decode track due to a mismatching version or missing source manager"
    );

    let mut ws = c.ws(None);
    let ready = ws.next(Duration::from_secs(5)).unwrap().unwrap();
    let sid = ready["sessionId"].as_str().unwrap().to_string();
    ws.expect("stats", None, Duration::from_secs(5));
    // a real engine player
    let r1 = c.patch(&format!("/v4/sessions/{sid}/players/1"), r#"{"volume":80}"#);
    assert_eq!(r1.status, 200, "{}", r1.text());
    assert_eq!(r1.json()["volume"], 80);
    assert_eq!(c.get("/v4/stats").json()["players"], 1);

    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(r.child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = loop {
        match ws.ws.read() {
            Ok(tungstenite::Message::Close(f)) => break f.map(|f| u16::from(f.code)),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("socket ended without a close frame: {e}"),
        }
        assert!(Instant::now() < deadline, "no close frame");
    };
    assert_eq!(code, Some(1001));
    let status = wait_exit(&mut r.child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "clean exit");
}

#[test]
fn sigint_also_exits_cleanly() {
    let mut r = spawn("int");
    assert_eq!(r.client.get("/version").status, 200);
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(r.child.id() as i32, libc::SIGINT) };
    let status = wait_exit(&mut r.child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
}

#[test]
fn raises_the_open_file_soft_limit_to_the_hard_limit() {
    use std::os::unix::process::CommandExt;
    let port = free_port();
    let cfg = write_config(
        "nofile",
        &format!(
            "[server]\naddress = \"127.0.0.1\"\nport = {port}\npassword = \"pw\"\n\n[player]\nrealtime_pacer = false\n"
        ),
    );
    let mut cmd = Command::new(BIN);
    cmd.arg("--config")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: only async-signal-safe libc calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let mut r: libc::rlimit = std::mem::zeroed();
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
            r.rlim_cur = 256.min(r.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
            Ok(())
        });
    }
    let child = cmd.spawn().expect("binary starts");
    let mut r = Running {
        child,
        client: Client::new(format!("127.0.0.1:{port}").parse().unwrap(), "pw"),
    };
    poll::wait_listening(&mut r.child, r.client.addr);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", r.child.id())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let v: Vec<&str> = line.split_whitespace().collect();
    let (soft, hard) = (v[3], v[4]);
    if hard == "unlimited" {
        assert_eq!(soft, "1048576", "{line}");
    } else {
        assert_eq!(soft, hard, "{line}");
    }
}
