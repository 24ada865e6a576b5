//! A small `log` backend: timestamped lines on stderr and, optionally, appended to a
//! file (`[logging] level`, `file`).
//!
//! Lines logged before `init` (e.g. config loading saying it fell back to defaults)
//! are kept and written once `init` knows where to write them. Our own targets
//! (`basalt…`) log at the configured level; dependencies (rustls, tungstenite,
//! reqwest, symphonia) are capped at `info` so `debug` stays readable — the same split
//! as Lavalink's `logging.level.root` vs `logging.level.lavalink`.
//!
//! Each line takes a mutex while it is written: never log per frame on an audio thread.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, Once};
use std::time::{SystemTime, UNIX_EPOCH};

use log::{Level, LevelFilter, Log, Metadata, Record};
use thiserror::Error;

use crate::config::LoggingConfig;

#[derive(Debug, Error)]
pub enum LoggingError {
    #[error("cannot open log file {path}: {error}")]
    OpenFile { path: String, error: std::io::Error },
}

/// Early lines kept at most (older ones are dropped) until `init` runs.
const EARLY_CAP: usize = 256;

struct Output {
    file: Option<File>,
    early: Vec<(Level, String)>,
}

struct Logger {
    /// Level for our own targets (`LevelFilter as usize`).
    level: AtomicUsize,
    ready: AtomicBool,
    /// Lines written, indexed error, warn, info, debug, trace.
    counts: [AtomicU64; 5],
    out: Mutex<Output>,
}

static LOGGER: Logger = Logger {
    level: AtomicUsize::new(LevelFilter::Info as usize),
    ready: AtomicBool::new(false),
    counts: [const { AtomicU64::new(0) }; 5],
    out: Mutex::new(Output {
        file: None,
        early: Vec::new(),
    }),
};

/// Installs the logger (buffering until `init`) if no logger is installed yet.
/// Called by `init` and by `config::load`, so nothing logged during start-up is lost.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if log::set_logger(&LOGGER).is_ok() {
            log::set_max_level(LevelFilter::Info);
        }
    });
}

/// Configures level and outputs, then writes the lines logged before it was called.
/// May be called again to reconfigure.
pub fn init(config: &LoggingConfig) -> Result<(), LoggingError> {
    install();
    let level = parse_level(&config.level);
    let file = if config.file.is_empty() {
        None
    } else {
        Some(
            open_append(Path::new(&config.file)).map_err(|error| LoggingError::OpenFile {
                path: config.file.clone(),
                error,
            })?,
        )
    };
    LOGGER.level.store(level as usize, Ordering::Relaxed);
    log::set_max_level(level);
    let mut out = LOGGER.out.lock().unwrap_or_else(|e| e.into_inner());
    out.file = file;
    let early = std::mem::take(&mut out.early);
    for (lvl, line) in early {
        if lvl <= level {
            write_line(&mut out, &line);
        }
    }
    LOGGER.ready.store(true, Ordering::Release);
    Ok(())
}

/// Lines written so far per level: error, warn, info, debug, trace (for `/metrics`).
pub fn line_counts() -> [u64; 5] {
    std::array::from_fn(|i| LOGGER.counts[i].load(Ordering::Relaxed))
}

/// `error|warn|info|debug|trace|off`, any case; anything else is `info`
/// (config validation rejects it before this point).
pub fn parse_level(s: &str) -> LevelFilter {
    s.trim().parse().unwrap_or(LevelFilter::Info)
}

fn open_append(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

fn write_line(out: &mut Output, line: &str) {
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    if let Some(f) = out.file.as_mut() {
        let _ = f.write_all(line.as_bytes());
    }
}

impl Logger {
    fn limit_for(&self, target: &str) -> LevelFilter {
        let ours = LevelFilter::iter()
            .nth(self.level.load(Ordering::Relaxed))
            .unwrap_or(LevelFilter::Info);
        if target.starts_with("basalt") {
            ours
        } else {
            ours.min(LevelFilter::Info)
        }
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= self.limit_for(metadata.target())
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = record.level();
        let thread = std::thread::current();
        let line = format!(
            "{} {:<5} [{}] {}: {}\n",
            timestamp(SystemTime::now()),
            level,
            thread.name().unwrap_or("-"),
            record.target(),
            record.args()
        );
        self.counts[level as usize - 1].fetch_add(1, Ordering::Relaxed);
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        if self.ready.load(Ordering::Acquire) {
            write_line(&mut out, &line);
        } else {
            if out.early.len() >= EARLY_CAP {
                out.early.remove(0);
            }
            out.early.push((level, line));
        }
    }

    fn flush(&self) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = out.file.as_mut() {
            let _ = f.flush();
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC) without a date crate.
pub fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, dd) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's
/// algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_000_000_123);
        assert_eq!(timestamp(t), "2026-11-18T11:06:40.123Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(timestamp(leap), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn levels() {
        assert_eq!(parse_level("DEBUG"), LevelFilter::Debug);
        assert_eq!(parse_level("warn"), LevelFilter::Warn);
        assert_eq!(parse_level("off"), LevelFilter::Off);
        assert_eq!(parse_level("bogus"), LevelFilter::Info);
    }

    #[test]
    fn early_lines_reach_the_file_and_are_counted() {
        let dir = std::env::temp_dir().join(format!("basalt-log-{}", std::process::id()));
        let path = dir.join("sub/basalt.log");
        install();
        log::info!(target: "basalt::test", "early line");
        let before = line_counts();
        log::warn!(target: "basalt::test", "second line");
        assert_eq!(line_counts()[1], before[1] + 1);
        let cfg = LoggingConfig {
            level: "debug".into(),
            file: path.to_string_lossy().into_owned(),
            request_logging: false,
        };
        init(&cfg).unwrap();
        log::debug!(target: "basalt::test", "after init");
        log::debug!(target: "rustls::x", "dependency debug is capped");
        log::logger().flush();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("INFO  ["), "{text}");
        assert!(text.contains("basalt::test: early line"), "{text}");
        assert!(text.contains("basalt::test: after init"), "{text}");
        assert!(!text.contains("dependency debug"), "{text}");
        let _ = std::fs::remove_dir_all(&dir);
        let bad = LoggingConfig {
            file: "/proc/nope/x.log".into(),
            ..cfg
        };
        assert!(init(&bad)
            .unwrap_err()
            .to_string()
            .starts_with("cannot open log file /proc/nope/x.log"));
    }
}
