//! `basalt --config PATH`: load the configuration, start sources, engine, voice and the
//! control plane, then wait for signals: SIGTERM drains then shuts down (exit 0), a second
//! SIGTERM exits at once, SIGINT shuts down without draining, SIGHUP reloads the config.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use basalt::server::{Backend, Server, ServerOptions};

const USAGE: &str = "\
Usage: basalt [--config PATH] [--check-config]
       basalt --print-default-config

A Lavalink v4 compatible audio node.

Options:
  -c, --config PATH   configuration file (default: ./config.toml; built-in defaults
                      when the file does not exist; BASALT_SECTION_KEY variables override).
                      A .yml/.yaml file is read as Lavalink's application.yml
      --check-config  validate the configuration (file and environment), print the
                      result and exit: 0 when it is valid, 1 when not
      --print-default-config
                      print the default, commented config.toml and exit
  -h, --help          print this help
  -V, --version       print the version
";

/// The default configuration, commented: the repository's `config.toml` itself.
const DEFAULT_CONFIG: &str = include_str!("../config.toml");

enum Cli {
    Run(PathBuf),
    CheckConfig(PathBuf),
    PrintDefaultConfig,
    Help,
    Version,
}

fn parse_args(args: &[String]) -> Result<Cli, String> {
    let mut config = PathBuf::from("config.toml");
    let mut check = false;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        match a {
            "-h" | "--help" => return Ok(Cli::Help),
            "-V" | "--version" => return Ok(Cli::Version),
            "--print-default-config" => return Ok(Cli::PrintDefaultConfig),
            "--check-config" => check = true,
            "-c" | "--config" => {
                i += 1;
                let p = args.get(i).ok_or_else(|| format!("{a} needs a path"))?;
                config = PathBuf::from(p);
            }
            _ if a.starts_with("--config=") => config = PathBuf::from(&a["--config=".len()..]),
            _ => return Err(format!("unknown argument {a:?}")),
        }
        i += 1;
    }
    Ok(if check {
        Cli::CheckConfig(config)
    } else {
        Cli::Run(config)
    })
}

/// `--check-config`: the same loading and validation as a start, then a verdict. A
/// file that does not exist is an error here (a start would fall back to defaults).
fn check_config(path: &std::path::Path) -> ExitCode {
    if !path.exists() {
        eprintln!("basalt: cannot read {}: no such file", path.display());
        return ExitCode::FAILURE;
    }
    match basalt::config::load(path) {
        Ok(config) => {
            // Writes what loading logged (ignored Lavalink keys, substituted values) to
            // stderr; the log file is left alone.
            let mut logging = config.logging.clone();
            logging.file.clear();
            let _ = basalt::logging::init(&logging);
            println!("{}: configuration is valid", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("basalt: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Block SIGINT/SIGTERM/SIGHUP in this thread (and so in every thread spawned after), so
/// that only `next_signal` below receives them: the main thread takes them synchronously,
/// with no handler, self-pipe or async runtime.
fn block_signals() -> libc::sigset_t {
    // SAFETY: plain libc signal-set calls on a local, zero-initialised sigset_t.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// The next pending signal of `set`, waiting at most `timeout` (None: none came).
fn next_signal(set: &libc::sigset_t, timeout: std::time::Duration) -> Option<i32> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `set` is a valid, initialised signal set; `ts` a valid timespec; the info
    // pointer may be null.
    let sig = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &ts) };
    (sig > 0).then_some(sig)
}

/// Serves until SIGINT, a finished drain, or a second SIGTERM (exits at once). A drain
/// (SIGTERM or `POST /v4/drain`) ends once no track plays or `drain_timeout_s` passed.
fn serve(
    server: &Server,
    path: &std::path::Path,
    set: &libc::sigset_t,
    drain_timeout: std::time::Duration,
) {
    let node = server.node();
    // A drain `POST /v4/drain` started still waits for the supervisor's first SIGTERM.
    let mut sigterm_seen = false;
    loop {
        match next_signal(set, std::time::Duration::from_millis(100)) {
            Some(libc::SIGINT) => {
                log::info!("SIGINT received; shutting down");
                return;
            }
            Some(libc::SIGTERM) if sigterm_seen => {
                log::warn!("second SIGTERM received; exiting without waiting for the drain");
                std::process::exit(0);
            }
            Some(libc::SIGTERM) => {
                sigterm_seen = true;
                node.drain.start();
                let (players, playing) = node.sessions.player_counts();
                log::info!(
                    "SIGTERM received: draining ({players} players, {playing} playing; \
                     at most {} s); a second SIGTERM exits at once",
                    drain_timeout.as_secs()
                );
            }
            Some(libc::SIGHUP) => {
                log::info!("SIGHUP received; reloading {}", path.display());
                server.reload(path);
            }
            _ => {}
        }
        if let Some(since) = node.drain.since() {
            let (_, playing) = node.sessions.player_counts();
            if playing == 0 {
                log::info!("drain done: no track plays; shutting down");
                return;
            }
            if since.elapsed() >= drain_timeout {
                log::info!("drain timeout passed with {playing} tracks playing; shutting down");
                return;
            }
        }
    }
}

/// Raises the open-file soft limit to the hard limit: each voice connection holds a few
/// descriptors (gateway socket, UDP socket, their copies), so the common 1,024 default
/// would cap a node at ~140 players.
fn raise_fd_limit() {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid, writable rlimit; setrlimit only reads it.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 || r.rlim_cur >= r.rlim_max {
            return;
        }
        let before = r.rlim_cur;
        // An unlimited hard limit still stops at the kernel's nr_open (1,048,576 by default).
        r.rlim_cur = if r.rlim_max == libc::RLIM_INFINITY {
            1 << 20
        } else {
            r.rlim_max
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &r) == 0 {
            log::debug!("open-file limit raised from {before} to {}", r.rlim_cur);
        } else {
            log::warn!("open-file limit {before}: cannot raise it; voice connections may run out");
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = match parse_args(&args) {
        Ok(Cli::Run(p)) => p,
        Ok(Cli::CheckConfig(p)) => return check_config(&p),
        Ok(Cli::PrintDefaultConfig) => {
            print!("{DEFAULT_CONFIG}");
            return ExitCode::SUCCESS;
        }
        Ok(Cli::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Cli::Version) => {
            println!("basalt {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("basalt: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let signals = block_signals();

    let config = match basalt::config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("basalt: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = basalt::logging::init(&config.logging) {
        eprintln!("basalt: {e}");
        return ExitCode::FAILURE;
    }
    basalt::engine::install_panic_hook();
    raise_fd_limit();
    let sources = Arc::new(basalt::source::SourceManager::new(&config));
    // Engine threads inherit the pinned set; the guard unpins this thread afterwards.
    let cores = basalt::affinity::parse(&config.player.cpu_affinity).unwrap_or_default();
    let pinned = match basalt::affinity::pin_for_engine(cores.as_deref()) {
        Ok(g) => g,
        Err(e) => {
            log::error!(
                "player.cpu_affinity = {:?}: {e}",
                config.player.cpu_affinity
            );
            return ExitCode::FAILURE;
        }
    };
    if let Some(c) = &cores {
        log::info!("audio engine pinned to cores {c:?}");
    }
    let engine = basalt::engine::Engine::start(&config, sources.clone());
    drop(pinned);
    let engine = match engine {
        Ok(e) => Arc::new(e),
        Err(e) => {
            log::error!("cannot start the audio engine: {e}");
            return ExitCode::FAILURE;
        }
    };
    let voice = match basalt::voice::VoiceManager::start(&config) {
        Ok(v) => Arc::new(v),
        Err(e) => {
            log::error!("cannot start voice: {e}");
            engine.shutdown();
            return ExitCode::FAILURE;
        }
    };
    let options = ServerOptions::from_config(&config);
    let drain_timeout = std::time::Duration::from_secs(u64::from(config.server.drain_timeout_s));
    let server = match Server::start(
        config,
        Backend::real(engine.clone(), sources, voice.clone()),
        options,
    ) {
        Ok(s) => s,
        Err(e) => {
            log::error!("{e}");
            voice.shutdown();
            engine.shutdown();
            return ExitCode::FAILURE;
        }
    };
    log::info!(
        "basalt {} ready on {}",
        env!("CARGO_PKG_VERSION"),
        server.local_addr()
    );
    serve(&server, &path, &signals, drain_timeout);
    server.shutdown();
    log::info!("bye");
    ExitCode::SUCCESS
}
