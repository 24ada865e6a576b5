//! Operating the node: `--check-config`, `--print-default-config`, and Lavalink's
//! `application.yml` read as is (through the binary and through `config::load`).

#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/poll.rs"]
mod poll;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use basalt::config::ResamplingQuality;
use http_client::*;

const BIN: &str = env!("CARGO_BIN_EXE_basalt");

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/application.yml")
}

fn temp(name: &str, body: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("basalt-ops-{}-{name}", std::process::id()));
    std::fs::write(&p, body).unwrap();
    p
}

/// Runs the binary with `args` and no BASALT_* variables from the test environment.
fn run(args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("BASALT_")) {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

#[test]
fn print_default_config_is_the_repository_file_and_valid() {
    let (code, out, _) = run(&[os("--print-default-config")], &[]);
    assert_eq!(code, Some(0));
    let repo =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml")).unwrap();
    assert_eq!(out, repo, "prints config.toml byte for byte");
    assert!(out.contains("# Basalt configuration."), "with its comments");

    let p = temp("default.toml", &out);
    let (code, out, err) = run(&[os("--check-config"), os("--config"), p.as_os_str()], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, format!("{}: configuration is valid\n", p.display()));
}

#[test]
fn check_config_refuses_with_the_one_line_error() {
    let p = temp("bad.toml", "[server]\npassword = \"x\"\nport = 70000\n");
    let (code, out, err) = run(&[os("--config"), p.as_os_str(), os("--check-config")], &[]);
    assert_eq!(code, Some(1));
    assert_eq!(out, "");
    assert_eq!(
        err,
        format!(
            "basalt: {}: `server.port` = 70000 is out of range (1–65535)\n",
            p.display()
        )
    );

    let p = temp(
        "typo.toml",
        "[server]\npassword = \"x\"\n[player]\nopus_quality = 3\n",
    );
    let (code, _, err) = run(&[os("--check-config"), os("--config"), p.as_os_str()], &[]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("unknown key `player.opus_quality` = 3"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    // the environment is checked too
    let p = temp("envok.toml", "[server]\npassword = \"x\"\n");
    let (code, _, err) = run(
        &[os("--check-config"), os("--config"), p.as_os_str()],
        &[("BASALT_PLAYER_OPUS_ENCODING_QUALITY", "11")],
    );
    assert_eq!(code, Some(1));
    assert!(
        err.contains("environment variable BASALT_PLAYER_OPUS_ENCODING_QUALITY"),
        "{err}"
    );

    // a missing file is an error here (a start would use built-in defaults)
    let missing = std::env::temp_dir().join("basalt-ops-no-such-file.toml");
    let (code, _, err) = run(
        &[os("--check-config"), os("--config"), missing.as_os_str()],
        &[],
    );
    assert_eq!(code, Some(1));
    assert!(err.starts_with("basalt: cannot read "), "{err}");

    // no password at all
    let p = temp("nopw.toml", "[server]\nport = 2333\n");
    let (code, _, err) = run(&[os("--check-config"), os("--config"), p.as_os_str()], &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("`server.password` is required"), "{err}");
}

#[test]
fn application_yml_maps_every_supported_key() {
    let c = basalt::config::load_with_env(&fixture(), Vec::new()).expect("loads");
    assert_eq!(c.server.port, 2333);
    assert_eq!(c.server.address, "127.0.0.1");
    assert_eq!(
        c.server.password.as_deref(),
        Some("12345"),
        "number → string"
    );
    assert!(!c.sources.youtube);
    assert!(c.sources.nico && c.sources.http && !c.sources.local);
    assert!(!c.filters.channel_mix && c.filters.low_pass);
    assert_eq!(c.player.buffer_duration_ms, 400);
    assert_eq!(c.player.frame_buffer_duration_ms, 5000, "kebab-case key");
    assert_eq!(c.player.opus_encoding_quality, 8);
    assert_eq!(c.player.resampling_quality, ResamplingQuality::High);
    assert_eq!(c.player.player_update_interval_s, 3);
    assert!(c.player.youtube_search_enabled && c.player.soundcloud_search_enabled);
    assert_eq!(c.ratelimit.ip_blocks, vec!["10.0.0.0/24".to_string()]);
    assert_eq!(c.ratelimit.excluded_ips, vec!["10.0.0.1".to_string()]);
    assert_eq!(c.ratelimit.strategy, "LoadBalance");
    assert_eq!(c.ratelimit.retry_limit, -1);
    assert_eq!(c.http.proxy_host, "proxy.internal");
    assert_eq!(c.http.proxy_port, 3128);
    assert_eq!(c.timeouts.connect_timeout_ms, 2000);
    assert_eq!(c.timeouts.connection_request_timeout_ms, 2500);
    assert_eq!(c.timeouts.socket_timeout_ms, 4000);
    assert!(c.metrics.prometheus);
    assert_eq!(c.metrics.prometheus_endpoint, "/metrics");
    assert_eq!(
        c.logging.level, "debug",
        "logging.level.lavalink wins over root"
    );
    assert_eq!(c.logging.file, "./logs/spring.log");
    assert!(c.logging.request_logging);
}

#[test]
fn application_yml_translation_and_ignored_keys() {
    let text = std::fs::read_to_string(fixture()).unwrap();
    let mut known = toml::Table::try_from(basalt::config::Config::default()).unwrap();
    // Plugin sections as a build with LavaSrc knows them.
    let plugins: toml::Table = toml::from_str(
        "[lavasrc]\nproviders = [\"a\"]\n[lavasrc.sources]\nspotify = false\n\
         [lavasrc.lyrics_sources]\nlrc_lib = false\n\
         [lavasrc.spotify]\nclient_id = \"\"\nclient_secret = \"\"\ncountry_code = \"\"\n\
         playlist_load_limit = 0\nalbum_load_limit = 0\n",
    )
    .unwrap();
    known.insert("plugins".into(), toml::Value::Table(plugins));
    known
        .get_mut("server")
        .and_then(|s| s.as_table_mut())
        .unwrap()
        .insert("password".into(), toml::Value::String(String::new()));
    let t = basalt::lavalink_yaml::translate(&text, "application.yml", &known).unwrap();
    let out: toml::Table = toml::from_str(&t.toml).unwrap();
    let spotify = &out["plugins"]["lavasrc"]["spotify"];
    assert_eq!(spotify["client_id"].as_str(), Some("0123456789abcdef"));
    assert_eq!(spotify["client_secret"].as_str(), Some("fedcba9876543210"));
    assert_eq!(spotify["country_code"].as_str(), Some("US"));
    assert_eq!(spotify["playlist_load_limit"].as_integer(), Some(6));
    assert_eq!(
        out["plugins"]["lavasrc"]["lyrics_sources"]["lrc_lib"].as_bool(),
        Some(true)
    );
    assert_eq!(
        out["plugins"]["lavasrc"]["providers"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(out["server"]["password"].as_str(), Some("12345"));
    for key in [
        "server.http2.enabled",
        "plugins.youtube.enabled",
        "plugins.youtube.clients",
        "lavalink.plugins",
        "lavalink.pluginsDir",
        "lavalink.server.nonAllocatingFrameBuffer",
        "lavalink.server.gc-warnings",
        "sentry.dsn",
        "sentry.environment",
        "logging.request.includeClientInfo",
        "logging.request.maxPayloadLength",
        "logging.logback.rollingpolicy.max-file-size",
    ] {
        assert!(
            t.ignored.iter().any(|k| k == key),
            "{key} in {:?}",
            t.ignored
        );
    }
    for mapped in [
        "server.port",
        "lavalink.server.password",
        "plugins.lavasrc.spotify.clientId",
    ] {
        assert!(!t.ignored.iter().any(|k| k == mapped), "{mapped} mapped");
    }
}

#[test]
fn check_config_lists_ignored_lavalink_keys_once() {
    let f = fixture();
    let (code, out, err) = run(&[os("--check-config"), os("--config"), f.as_os_str()], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.ends_with("configuration is valid\n"), "{out}");
    let warn: Vec<&str> = err.lines().filter(|l| l.contains("ignored:")).collect();
    assert_eq!(warn.len(), 1, "{err}");
    assert!(warn[0].contains("lavalink.server.gc-warnings"), "{err}");
    assert!(warn[0].contains("sentry.dsn"), "{err}");

    // a YAML error: one line with the position
    let p = temp("bad.yml", "lavalink:\n  server:\n    password: [unclosed\n");
    let (code, _, err) = run(&[os("--check-config"), os("--config"), p.as_os_str()], &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("invalid YAML"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    // a supported key with a bad value: the usual message, naming Basalt's key
    let p = temp(
        "range.yml",
        "lavalink:\n  server:\n    password: x\n    opusEncodingQuality: 11\n",
    );
    let (code, _, err) = run(&[os("--check-config"), os("--config"), p.as_os_str()], &[]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("`player.opus_encoding_quality` = 11 is out of range (0–10)"),
        "{err}"
    );
}

#[test]
fn node_starts_on_an_application_yml() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let yml = std::fs::read_to_string(fixture())
        .unwrap()
        .replace("port: 2333", &format!("port: {port}"))
        .replace("path: ./logs/", "path: \"\"");
    let yml = yml.replace("  file:\n    path: \"\"\n", "");
    let p = temp("node.yml", &yml);
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&p)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = Client::new(format!("127.0.0.1:{port}").parse().unwrap(), "12345");
    poll::wait_listening(&mut child, client.addr);
    let info = client.get("/v4/info");
    assert_eq!(info.status, 200, "password from the yml");
    let filters = info.json()["filters"].clone();
    assert!(!filters
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f == "channelMix"));
    let m = request(client.addr, "GET", "/metrics", &[], None);
    assert_eq!(m.status, 200, "metrics.prometheus.enabled from the yml");
    let _ = child.kill();
    let _ = child.wait();
}

/// `[player] cpu_affinity`: the pacer and the workers run on the chosen core, the HTTP
/// threads keep the whole set.
#[test]
fn cpu_affinity_pins_engine_threads_only() {
    let allowed = |status: &str| -> String {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let own = allowed(&std::fs::read_to_string("/proc/self/status").unwrap());
    let first: String = own.chars().take_while(|c| c.is_ascii_digit()).collect();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = temp(
        "affinity.toml",
        &format!(
            "[server]\naddress = \"127.0.0.1\"\nport = {port}\npassword = \"pw\"\n\
             [player]\nrealtime_pacer = false\ncpu_affinity = \"{first}\"\n"
        ),
    );
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&p)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    poll::wait_listening(&mut child, ([127, 0, 0, 1], port).into());
    let mut seen = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{}/task", child.id())).unwrap() {
        let dir = t.unwrap().path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        let name = name.trim().to_string();
        let cpus = allowed(&std::fs::read_to_string(dir.join("status")).unwrap_or_default());
        seen.push((name, cpus));
    }
    let _ = child.kill();
    let _ = child.wait();
    let pacer = seen
        .iter()
        .find(|(n, _)| n == "basalt-pacer")
        .expect("pacer thread");
    assert_eq!(pacer.1, first, "{seen:?}");
    for (n, c) in seen
        .iter()
        .filter(|(n, _)| n.starts_with("basalt-encode") || n.starts_with("basalt-decode"))
    {
        assert_eq!(c, &first, "{n}");
    }
    let http = seen
        .iter()
        .find(|(n, _)| n.starts_with("http-"))
        .expect("http thread");
    assert_eq!(http.1, own, "control plane unpinned: {seen:?}");

    // a core list the system refuses stops start-up with one line
    let p = temp(
        "affinity-bad.toml",
        "[server]\npassword = \"pw\"\n[player]\ncpu_affinity = \"1-0\"\n",
    );
    let (code, _, err) = run(&[os("--check-config"), os("--config"), p.as_os_str()], &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("`player.cpu_affinity` = \"1-0\""), "{err}");
}
