//! Configuration loading: defaults, every error path (one line naming key, value and
//! file), `BASALT_SECTION_KEY` overrides and Lavalink's substitutions.

use std::path::PathBuf;

use basalt::config::{from_parts, load, load_with_env, Config, ConfigError, ResamplingQuality};

const FILE: &str = "test.toml";

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    from_parts(Some(text), FILE, env(&[]))
}

fn err(text: &str) -> String {
    let e = parse(text).unwrap_err().to_string();
    assert!(!e.contains('\n'), "not one line: {e}");
    e
}

const PW: &str = "[server]\npassword = \"pw\"\n";

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("basalt-config-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn minimal_file_gives_defaults() {
    let c = parse(PW).unwrap();
    assert_eq!(c.server.password.as_deref(), Some("pw"));
    assert_eq!(c.server.port, 2333);
    assert_eq!(c.server.address, "0.0.0.0");
    assert_eq!(c.player.opus_encoding_quality, 10);
    assert_eq!(c.player.player_update_interval_s, 5);
    assert_eq!(c.player.resampling_quality, ResamplingQuality::Low);
    assert!(c.sources.youtube && !c.sources.local && !c.sources.nico);
    assert!(c.filters.low_pass);
    assert!(!c.metrics.prometheus);
    assert_eq!(c.metrics.prometheus_endpoint, "/metrics");
    assert_eq!(c.ratelimit.strategy, "RotateOnBan");
    assert_eq!(c.logging.level, "info");
}

#[test]
fn repository_config_toml_is_valid_and_documents_every_key() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let c = load_with_env(&path, env(&[])).unwrap();
    assert_eq!(c.server.password.as_deref(), Some("youshallnotpass"));
    assert_eq!(c.server.port, 2333);
    // Every key of the model appears in the shipped file (commented or set).
    let defaults = toml::Value::try_from(Config::default()).unwrap();
    for (section, keys) in defaults.as_table().unwrap() {
        assert!(
            text.contains(&format!("[{section}]")),
            "section {section} missing"
        );
        for key in keys.as_table().unwrap().keys() {
            assert!(
                text.lines().any(|l| {
                    let l = l.trim_start_matches(['#', ' ']);
                    l.starts_with(&format!("{key} =")) || l.starts_with(&format!("{key}="))
                }),
                "key {section}.{key} missing from config.toml"
            );
        }
    }
}

#[test]
fn missing_file_uses_defaults_but_still_needs_a_password() {
    let path = temp_dir("missing").join("nope.toml");
    let e = load_with_env(&path, env(&[])).unwrap_err();
    assert!(matches!(e, ConfigError::MissingPassword { .. }));
    let msg = e.to_string();
    assert!(
        msg.contains("nope.toml") && msg.contains("server.password"),
        "{msg}"
    );
    let c = load_with_env(&path, env(&[("BASALT_SERVER_PASSWORD", "secret")])).unwrap();
    assert_eq!(c.server.password.as_deref(), Some("secret"));
    assert_eq!(c.server.port, 2333);
}

#[test]
fn reads_a_file_from_disk() {
    let path = temp_dir("disk").join("basalt.toml");
    std::fs::write(
        &path,
        format!("{PW}port = 4444\n[player]\nopus_encoding_quality = 3\n"),
    )
    .unwrap();
    let c = load_with_env(&path, env(&[])).unwrap();
    assert_eq!(c.server.port, 4444);
    // The process environment (no BASALT_SERVER_PORT / _PLAYER_OPUS… set in tests).
    if std::env::var_os("BASALT_SERVER_PORT").is_none() {
        assert_eq!(load(&path).unwrap().server.port, 4444);
    }
    assert_eq!(c.player.opus_encoding_quality, 3);
    // A directory is not a readable file.
    let e = load_with_env(path.parent().unwrap(), env(&[])).unwrap_err();
    assert!(matches!(e, ConfigError::Io { .. }), "{e}");
    assert!(e.to_string().starts_with("cannot read "));
}

#[test]
fn password_required_and_non_empty() {
    assert!(matches!(
        parse(""),
        Err(ConfigError::MissingPassword { .. })
    ));
    assert!(matches!(
        parse("[server]\npassword = \"\"\n"),
        Err(ConfigError::MissingPassword { .. })
    ));
    assert_eq!(
        err("[server]\nport = 1\n"),
        "test.toml: `server.password` is required (set it in the file or with BASALT_SERVER_PASSWORD)"
    );
}

#[test]
fn unknown_keys_and_sections() {
    assert_eq!(
        err(&format!("{PW}[player]\nopus_quality = 5\n")),
        "test.toml: unknown key `player.opus_quality` = 5"
    );
    assert_eq!(
        err(&format!("{PW}[lavalink]\nx = 1\n")),
        "test.toml: unknown key `lavalink` = {…}"
    );
    assert_eq!(
        err(&format!("port = 1\n{PW}")),
        "test.toml: unknown key `port` = 1"
    );
}

#[test]
fn wrong_types() {
    assert_eq!(
        err("[server]\npassword = \"pw\"\nport = \"2333\"\n"),
        "test.toml: `server.port` = \"2333\": expected an integer"
    );
    assert_eq!(
        err(&format!("{PW}[sources]\nlocal = \"yes\"\n")),
        "test.toml: `sources.local` = \"yes\": expected a boolean (true/false)"
    );
    assert_eq!(
        err("[server]\npassword = 1234\n"),
        "test.toml: `server.password` = 1234: expected a string"
    );
    assert_eq!(
        err(&format!("{PW}[ratelimit]\nip_blocks = [1]\n")),
        "test.toml: `ratelimit.ip_blocks` = [1]: expected a list of strings"
    );
    assert_eq!(
        err("server = 5\n"),
        "test.toml: `server` = 5: expected a table"
    );
}

#[test]
fn out_of_range_values() {
    for (text, msg) in [
        (
            "[player]\nopus_encoding_quality = 11\n",
            "test.toml: `player.opus_encoding_quality` = 11 is out of range (0–10)",
        ),
        (
            "[player]\nopus_encoding_quality = -1\n",
            "test.toml: `player.opus_encoding_quality` = -1 is out of range (0–10)",
        ),
        (
            "[server]\nport = 0\n",
            "test.toml: `server.port` = 0 is out of range (1–65535)",
        ),
        (
            "[server]\nport = 65536\n",
            "test.toml: `server.port` = 65536 is out of range (1–65535)",
        ),
        (
            "[player]\nplayer_update_interval_s = 0\n",
            "test.toml: `player.player_update_interval_s` = 0 is out of range (1–86400)",
        ),
        (
            "[timeouts]\nsocket_timeout_ms = -5\n",
            "test.toml: `timeouts.socket_timeout_ms` = -5 is out of range (0–2147483647)",
        ),
        (
            "[http]\nproxy_port = 0\n",
            "test.toml: `http.proxy_port` = 0 is out of range (1–65535)",
        ),
    ] {
        assert_eq!(
            err(&format!("{PW}{text}").replace("[server]\npassword = \"pw\"\n[server]\n", PW)),
            msg
        );
    }
}

#[test]
fn formats_and_choices() {
    assert_eq!(
        err(&format!("{PW}[player]\nresampling_quality = \"ultra\"\n")),
        "test.toml: `player.resampling_quality` = \"ultra\": expected one of low, medium, high"
    );
    let c = parse(&format!("{PW}[player]\nresampling_quality = \"HIGH\"\n")).unwrap();
    assert_eq!(c.player.resampling_quality, ResamplingQuality::High);
    let c = parse(&format!(
        "{PW}[logging]\nlevel = \"DEBUG\"\n[ratelimit]\nstrategy = \"loadbalance\"\n"
    ))
    .unwrap();
    assert_eq!(c.logging.level, "debug");
    assert_eq!(c.ratelimit.strategy, "LoadBalance");
    assert!(err(&format!("{PW}[logging]\nlevel = \"loud\"\n"))
        .starts_with("test.toml: `logging.level` = \"loud\""));
    assert_eq!(
        err(&format!(
            "{PW}[metrics]\nprometheus_endpoint = \"metrics\"\n"
        )),
        "test.toml: `metrics.prometheus_endpoint` = \"metrics\": expected a path starting with /"
    );
    assert_eq!(
        err(&format!("{PW}[ratelimit]\nip_blocks = [\"1.2.3.0/33\"]\n")),
        "test.toml: `ratelimit.ip_blocks` = [\"1.2.3.0/33\"]: \"1.2.3.0/33\" is not an IP block (e.g. 1.2.3.0/24)"
    );
    assert!(
        err(&format!("{PW}[ratelimit]\nexcluded_ips = [\"1.2.3\"]\n"))
            .contains("is not an IP address")
    );
    assert!(err("[server]\npassword = \"pw\"\naddress = \"\"\n")
        .contains("expected an IP address or host name"));
    let c = parse(&format!(
        "{PW}[ratelimit]\nip_blocks = [\"1.2.3.0/24\", \"2001:db8::/64\"]\n"
    ))
    .unwrap();
    assert_eq!(c.ratelimit.ip_blocks, vec!["1.2.3.0/24", "2001:db8::/64"]);
}

#[test]
fn syntax_errors_name_file_and_line() {
    let e = err("[server]\npassword = \"pw\"\nport = = 3\n");
    assert!(e.starts_with("test.toml:3:"), "{e}");
    assert!(e.contains("invalid TOML"), "{e}");
}

#[test]
fn lavalink_substitutions() {
    let c = parse(&format!(
        "{PW}[player]\nframe_buffer_duration_ms = 100\ntrack_stuck_threshold_ms = 50\nbuffer_duration_ms = 20\n"
    ))
    .unwrap();
    assert_eq!(c.player.frame_buffer_duration_ms, 5000);
    assert_eq!(c.player.track_stuck_threshold_ms, 10_000);
    assert_eq!(c.player.buffer_duration_ms, 400);
    let c = parse(&format!("{PW}[player]\nbuffer_duration_ms = 0\n")).unwrap();
    assert_eq!(
        c.player.buffer_duration_ms, 0,
        "0 disables the send buffer, as in Lavalink"
    );
}

#[test]
fn environment_overrides() {
    let c = from_parts(
        Some(&format!("{PW}port = 1111\n")),
        FILE,
        env(&[
            ("BASALT_SERVER_PORT", "1234"),
            ("BASALT_SERVER_PASSWORD", "1234"),
            ("BASALT_PLAYER_OPUS_ENCODING_QUALITY", "5"),
            ("BASALT_SOURCES_LOCAL", "TRUE"),
            ("BASALT_PLAYER_RESAMPLING_QUALITY", "medium"),
            ("BASALT_RATELIMIT_IP_BLOCKS", "1.2.3.0/24, 10.0.0.0/8"),
            ("BASALT_RATELIMIT_EXCLUDED_IPS", "[\"1.2.3.4\"]"),
            ("BASALT_LOGGING_FILE", "\"quoted.log\""),
            ("BASALT_HOME", "/opt/basalt"),
            ("PATH", "/usr/bin"),
        ]),
    )
    .unwrap();
    assert_eq!(c.server.port, 1234);
    assert_eq!(c.server.password.as_deref(), Some("1234"));
    assert_eq!(c.player.opus_encoding_quality, 5);
    assert!(c.sources.local);
    assert_eq!(c.player.resampling_quality, ResamplingQuality::Medium);
    assert_eq!(c.ratelimit.ip_blocks, vec!["1.2.3.0/24", "10.0.0.0/8"]);
    assert_eq!(c.ratelimit.excluded_ips, vec!["1.2.3.4"]);
    assert_eq!(c.logging.file, "quoted.log");
}

#[test]
fn environment_errors_name_the_variable_and_the_file() {
    let e = |pairs: &[(&str, &str)]| {
        from_parts(Some(PW), FILE, env(pairs))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        e(&[("BASALT_SERVER_PORT", "abc")]),
        "environment variable BASALT_SERVER_PORT (overriding test.toml): `server.port` = \"abc\": expected an integer"
    );
    assert_eq!(
        e(&[("BASALT_PLAYER_OPUS_ENCODING_QUALITY", "42")]),
        "environment variable BASALT_PLAYER_OPUS_ENCODING_QUALITY (overriding test.toml): \
         `player.opus_encoding_quality` = 42 is out of range (0–10)"
    );
    assert_eq!(
        e(&[("BASALT_SERVER_NOPE", "1")]),
        "environment variable BASALT_SERVER_NOPE (overriding test.toml): unknown key `server.nope` = \"1\""
    );
    assert!(matches!(
        from_parts(Some(PW), FILE, env(&[("BASALT_SERVER_PASSWORD", "")])),
        Err(ConfigError::MissingPassword { .. })
    ));
}

/// The binary refuses a bad file with one line naming key, value and file (exit ≠ 0).
#[test]
fn binary_stops_on_a_bad_value_with_one_line() {
    let path = temp_dir("bin-bad").join("bad.toml");
    std::fs::write(&path, format!("{PW}[player]\nopus_encoding_quality = 42\n")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_basalt"))
        .arg("--config")
        .arg(&path)
        .env_remove("BASALT_SERVER_PASSWORD")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("bad.toml"), "{err}");
    assert!(
        lines[0].contains("player.opus_encoding_quality") && lines[0].contains("42"),
        "{err}"
    );
}

/// Without a file the binary starts on defaults (port/password from the environment) and
/// logs that it did; SIGTERM then stops it with exit 0.
#[test]
fn binary_without_a_file_uses_defaults_and_says_so() {
    use std::io::{BufRead, BufReader};
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let missing = temp_dir("bin-missing").join("absent.toml");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_basalt"))
        .arg("--config")
        .arg(&missing)
        .env("BASALT_SERVER_PASSWORD", "pw")
        .env("BASALT_SERVER_ADDRESS", "127.0.0.1")
        .env("BASALT_SERVER_PORT", port.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut seen = Vec::new();
    let mut found = false;
    while std::time::Instant::now() < deadline && !found {
        if let Ok(line) = rx.recv_timeout(std::time::Duration::from_millis(200)) {
            found = line.contains("No configuration file at") && line.contains("absent.toml");
            seen.push(line);
        }
    }
    // Stop it whatever happened, then judge.
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(found, "no defaults line in:\n{}", seen.join("\n"));
    assert!(status.success(), "exit {status:?}");
}
