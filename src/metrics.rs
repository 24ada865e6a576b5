//! Prometheus text exposition (format 0.0.4) of the figures Lavalink exports
//! (spec: lavalink-v4.md §11): the `lavalink_*` gauges computed from the same data
//! as `/v4/stats`, `logback_appender_total` (log lines per level, so dashboards built
//! for Lavalink keep working) and the `process_*` families. JVM-only families (GC,
//! heap pools, threads, classes) have no native meaning and are not exported.
//!
//! `render` is a pure function of the figures so the control plane can gather them
//! once per scrape and tests can check the text exactly.

use std::fmt::Write as _;

use crate::stats::{NodeStats, ProcessStats};

/// `Content-Type` of a scrape response.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Everything one scrape shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// Players in all sessions.
    pub players: u64,
    /// Players with a track that are not paused, all sessions.
    pub playing_players: u64,
    pub uptime_ms: u64,
    pub node: NodeStats,
    pub process: ProcessStats,
    /// Log lines emitted so far, indexed error, warn, info, debug, trace
    /// (`crate::logging::line_counts()`).
    pub log_lines: [u64; 5],
    /// Scrape-time inputs of the `basalt_*` families (`crate::telemetry`).
    pub basalt: crate::telemetry::ScrapeFigures,
}

impl Figures {
    /// Gathers the process-wide figures; the caller supplies the player counts and
    /// its own uptime clock.
    pub fn gather(players: u64, playing_players: u64, uptime_ms: u64) -> Figures {
        Figures {
            players,
            playing_players,
            uptime_ms,
            node: crate::stats::sample(),
            process: crate::stats::process(),
            log_lines: crate::logging::line_counts(),
            basalt: Default::default(),
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Gauge,
    Counter,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

/// Renders the scrape body. `names` is the `name[]` query filter: when non-empty, only
/// families with a sample of one of those names are written (as the Prometheus Java
/// client's sample-name filter does).
pub fn render(f: &Figures, names: &[String]) -> String {
    let mut out = String::with_capacity(4096);
    let wanted = |n: &str| names.is_empty() || names.iter().any(|x| x == n);
    let mut family = |name: &str, kind: Kind, help: &str, samples: &[(&str, f64)]| {
        if !wanted(name) {
            return;
        }
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {}", kind.as_str());
        for (labels, v) in samples {
            let _ = writeln!(out, "{name}{labels} {}", number(*v));
        }
    };
    let m = &f.node.memory;
    let c = &f.node.cpu;
    let g = Kind::Gauge;
    family(
        "lavalink_players_total",
        g,
        "Players in all sessions.",
        &[("", f.players as f64)],
    );
    family(
        "lavalink_playing_players_total",
        g,
        "Players with a track that are not paused.",
        &[("", f.playing_players as f64)],
    );
    family(
        "lavalink_uptime_milliseconds",
        g,
        "Milliseconds since the node started.",
        &[("", f.uptime_ms as f64)],
    );
    family(
        "lavalink_memory_free_bytes",
        g,
        "Bytes held by the allocator but not in use.",
        &[("", m.free as f64)],
    );
    family(
        "lavalink_memory_used_bytes",
        g,
        "Bytes in use.",
        &[("", m.used as f64)],
    );
    family(
        "lavalink_memory_allocated_bytes",
        g,
        "Bytes obtained from the OS (resident set size).",
        &[("", m.allocated as f64)],
    );
    family(
        "lavalink_memory_reservable_bytes",
        g,
        "Most bytes the process may obtain (cgroup limit or physical memory).",
        &[("", m.reservable as f64)],
    );
    family(
        "lavalink_cpu_cores",
        g,
        "Logical CPUs available.",
        &[("", c.cores as f64)],
    );
    family(
        "lavalink_cpu_system_load_percentage",
        g,
        "System CPU load as a 0-1 fraction.",
        &[("", c.system_load)],
    );
    family(
        "lavalink_cpu_lavalink_load_percentage",
        g,
        "Node CPU load as a 0-1 fraction of all cores.",
        &[("", c.lavalink_load)],
    );
    let l = &f.log_lines;
    family(
        "logback_appender_total",
        Kind::Counter,
        "Log lines written, by level.",
        &[
            ("{level=\"trace\"}", l[4] as f64),
            ("{level=\"debug\"}", l[3] as f64),
            ("{level=\"info\"}", l[2] as f64),
            ("{level=\"warn\"}", l[1] as f64),
            ("{level=\"error\"}", l[0] as f64),
        ],
    );
    let p = &f.process;
    family(
        "process_cpu_seconds_total",
        Kind::Counter,
        "Total user and system CPU time spent in seconds.",
        &[("", p.cpu_seconds_total)],
    );
    family(
        "process_start_time_seconds",
        g,
        "Start time of the process since unix epoch in seconds.",
        &[("", p.start_time_seconds)],
    );
    family(
        "process_open_fds",
        g,
        "Number of open file descriptors.",
        &[("", p.open_fds as f64)],
    );
    family(
        "process_max_fds",
        g,
        "Maximum number of open file descriptors.",
        &[("", p.max_fds as f64)],
    );
    family(
        "process_virtual_memory_bytes",
        g,
        "Virtual memory size in bytes.",
        &[("", p.virtual_memory_bytes as f64)],
    );
    family(
        "process_resident_memory_bytes",
        g,
        "Resident memory size in bytes.",
        &[("", p.resident_memory_bytes as f64)],
    );
    // Plugin counters (`basalt_plugin_<name>_…`).
    for (name, help, samples) in crate::plugin::metrics::families() {
        family(name, Kind::Counter, help, &samples);
    }
    crate::telemetry::render_into(&mut out, &f.basalt, &wanted);
    out
}

/// A sample value: integers without a fraction, Prometheus spellings for the
/// non-finite values.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 9.0e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The `name[]` values of a query string (`name[]=a&name%5B%5D=b`), percent-decoded.
pub fn names_from_query(query: &str) -> Vec<String> {
    query
        .split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (percent_decode(k) == "name[]").then(|| percent_decode(v))
        })
        .filter(|v| !v.is_empty())
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                match (
                    b.get(i + 1).and_then(|&c| hex(c)),
                    b.get(i + 2).and_then(|&c| hex(c)),
                ) {
                    (Some(h), Some(l)) => {
                        out.push(h << 4 | l);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{CpuStats, MemoryStats};

    fn figures() -> Figures {
        Figures {
            players: 3,
            playing_players: 1,
            uptime_ms: 123_456,
            node: NodeStats {
                memory: MemoryStats {
                    free: 10,
                    used: 90,
                    allocated: 100,
                    reservable: 1000,
                },
                cpu: CpuStats {
                    cores: 4,
                    system_load: 0.25,
                    lavalink_load: 0.015,
                },
                uptime_ms: 1,
            },
            process: ProcessStats {
                cpu_seconds_total: 1.5,
                start_time_seconds: 1_700_000_000.25,
                open_fds: 12,
                max_fds: 1024,
                virtual_memory_bytes: 4096,
                resident_memory_bytes: 100,
            },
            log_lines: [1, 2, 3, 4, 5],
            basalt: Default::default(),
        }
    }

    #[test]
    fn full_text() {
        let t = render(&figures(), &[]);
        assert!(t.starts_with(
            "# HELP lavalink_players_total Players in all sessions.\n\
             # TYPE lavalink_players_total gauge\n\
             lavalink_players_total 3\n"
        ));
        for line in [
            "lavalink_playing_players_total 1",
            "lavalink_uptime_milliseconds 123456",
            "lavalink_memory_free_bytes 10",
            "lavalink_memory_used_bytes 90",
            "lavalink_memory_allocated_bytes 100",
            "lavalink_memory_reservable_bytes 1000",
            "lavalink_cpu_cores 4",
            "lavalink_cpu_system_load_percentage 0.25",
            "lavalink_cpu_lavalink_load_percentage 0.015",
            "logback_appender_total{level=\"error\"} 1",
            "logback_appender_total{level=\"trace\"} 5",
            "# TYPE process_cpu_seconds_total counter",
            "process_cpu_seconds_total 1.5",
            "process_start_time_seconds 1700000000.25",
            "process_open_fds 12",
            "process_max_fds 1024",
            "process_virtual_memory_bytes 4096",
            "process_resident_memory_bytes 100",
        ] {
            assert!(t.lines().any(|l| l == line), "missing {line:?} in\n{t}");
        }
        assert!(t.ends_with('\n'));
        // Every non-comment line is `name[{labels}] value`.
        for l in t.lines().filter(|l| !l.starts_with('#')) {
            let (_, v) = l.rsplit_once(' ').unwrap();
            assert!(v.parse::<f64>().is_ok(), "{l}");
        }
    }

    #[test]
    fn name_filter() {
        let names = vec![
            "lavalink_cpu_cores".to_string(),
            "process_open_fds".to_string(),
        ];
        let t = render(&figures(), &names);
        assert_eq!(
            t,
            "# HELP lavalink_cpu_cores Logical CPUs available.\n\
             # TYPE lavalink_cpu_cores gauge\n\
             lavalink_cpu_cores 4\n\
             # HELP process_open_fds Number of open file descriptors.\n\
             # TYPE process_open_fds gauge\n\
             process_open_fds 12\n"
        );
        assert_eq!(render(&figures(), &["nope".to_string()]), "");
    }

    #[test]
    fn query_names() {
        assert_eq!(
            names_from_query("name[]=a&x=1&name%5B%5D=b%5Fc&name[]="),
            vec!["a".to_string(), "b_c".to_string()]
        );
        assert!(names_from_query("").is_empty());
        assert_eq!(names_from_query("name[]=%zz%4"), vec!["%zz%4".to_string()]);
    }

    #[test]
    fn numbers() {
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(-f64::INFINITY), "-Inf");
    }
}
