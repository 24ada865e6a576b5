//! Memory, CPU and uptime figures for the `stats` op, `GET /v4/stats` and `/metrics`
//! (spec: lavalink-v4.md §5.2, §11).
//!
//! Lavalink reports JVM heap figures; a native process maps them as follows:
//! * `allocated` — resident set size (memory obtained from the OS and in RAM),
//!   from `/proc/self/statm`;
//! * `free` — bytes the allocator holds but has not handed out (glibc `mallinfo2`),
//!   capped at `allocated`; 0 where the allocator cannot tell;
//! * `used` — `allocated − free`;
//! * `reservable` — the most the process may get: the cgroup memory limit when one is
//!   set, else physical RAM (`MemTotal`).
//!
//! CPU loads are 0–1 fractions from deltas between two readings (`/proc/stat` for the
//! system, process CPU time ÷ wall time ÷ cores for the node). Like Lavalink's
//! collector they are recomputed at most every 30 s; the first sample reports 0.
//! Everything here reads small procfs files: call it from the control plane, never
//! from an audio thread.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long computed CPU loads are reused.
pub const CPU_REFRESH: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NodeStats {
    pub memory: MemoryStats,
    pub cpu: CpuStats,
    /// Milliseconds since the process started.
    pub uptime_ms: u64,
}

/// Bytes, mapped as described in the module docs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryStats {
    pub free: u64,
    pub used: u64,
    pub allocated: u64,
    pub reservable: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuStats {
    /// Logical CPUs available to the process.
    pub cores: u32,
    /// Whole-system CPU use, 0–1.
    pub system_load: f64,
    /// This process's CPU use over all cores, 0–1.
    pub lavalink_load: f64,
}

/// The `process_*` figures Prometheus clients export.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds_total: f64,
    pub start_time_seconds: f64,
    pub open_fds: u64,
    pub max_fds: u64,
    pub virtual_memory_bytes: u64,
    pub resident_memory_bytes: u64,
}

/// Current node figures (memory fresh, CPU at most 30 s old).
pub fn sample() -> NodeStats {
    let cores = cores();
    let cpu = {
        let mut t = tracker().lock().unwrap_or_else(|e| e.into_inner());
        t.sample(Instant::now(), read_cpu(), cores)
    };
    NodeStats {
        memory: memory(),
        cpu: CpuStats {
            cores,
            system_load: cpu.0,
            lavalink_load: cpu.1,
        },
        uptime_ms: uptime_ms(),
    }
}

/// Figures for the `process_*` metric families.
pub fn process() -> ProcessStats {
    let stat = read_self_stat();
    let page = page_size();
    let resident = read_statm().map_or(0, |(_, rss)| rss * page);
    ProcessStats {
        cpu_seconds_total: process_cpu_time().as_secs_f64(),
        start_time_seconds: start_time_unix().unwrap_or(0.0),
        open_fds: std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64),
        max_fds: max_fds(),
        virtual_memory_bytes: stat.map_or(0, |s| s.vsize),
        resident_memory_bytes: resident,
    }
}

/// Logical CPUs this process may run on (affinity and cgroup quota aware).
pub fn cores() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

// ---------------------------------------------------------------------------------
// CPU

/// One reading of the counters CPU loads are computed from.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuReading {
    /// System-wide jiffies: busy (everything but idle and iowait) and total.
    pub system_busy: u64,
    pub system_total: u64,
    /// CPU time this process has used.
    pub process_cpu: Duration,
}

/// Turns successive readings into loads, recomputing at most every `CPU_REFRESH`.
#[derive(Debug, Default)]
pub struct CpuTracker {
    last: Option<(Instant, CpuReading)>,
    loads: (f64, f64),
}

impl CpuTracker {
    /// (system_load, lavalink_load). The first call only takes the baseline → (0, 0).
    pub fn sample(&mut self, now: Instant, reading: CpuReading, cores: u32) -> (f64, f64) {
        match self.last {
            None => self.last = Some((now, reading)),
            Some((then, prev)) => {
                let wall = now.saturating_duration_since(then);
                if wall >= CPU_REFRESH {
                    self.loads = loads(prev, reading, wall, cores);
                    self.last = Some((now, reading));
                }
            }
        }
        self.loads
    }
}

fn loads(prev: CpuReading, cur: CpuReading, wall: Duration, cores: u32) -> (f64, f64) {
    let busy = cur.system_busy.saturating_sub(prev.system_busy) as f64;
    let total = cur.system_total.saturating_sub(prev.system_total) as f64;
    let system = if total > 0.0 { busy / total } else { 0.0 };
    let cpu = cur
        .process_cpu
        .saturating_sub(prev.process_cpu)
        .as_secs_f64();
    let denom = wall.as_secs_f64() * cores.max(1) as f64;
    let process = if denom > 0.0 { cpu / denom } else { 0.0 };
    (system.clamp(0.0, 1.0), process.clamp(0.0, 1.0))
}

fn tracker() -> &'static Mutex<CpuTracker> {
    static T: OnceLock<Mutex<CpuTracker>> = OnceLock::new();
    T.get_or_init(Default::default)
}

fn read_cpu() -> CpuReading {
    let (system_busy, system_total) = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| parse_proc_stat_cpu(&s))
        .unwrap_or((0, 0));
    CpuReading {
        system_busy,
        system_total,
        process_cpu: process_cpu_time(),
    }
}

/// (busy, total) jiffies from the aggregate `cpu` line of `/proc/stat`.
/// Guest time is already counted in user/nice, so only the first 8 columns are summed.
pub fn parse_proc_stat_cpu(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map_while(|x| x.parse().ok())
        .collect();
    if v.len() < 4 {
        return None;
    }
    let total: u64 = v.iter().sum();
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

fn process_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the call only writes into it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

// ---------------------------------------------------------------------------------
// Memory

fn memory() -> MemoryStats {
    let allocated = read_statm().map_or(0, |(_, rss)| rss * page_size());
    let free = crate::heap_trim::free_bytes().min(allocated);
    MemoryStats {
        free,
        used: allocated - free,
        allocated,
        reservable: reservable_bytes(),
    }
}

/// (size, resident) in pages.
fn read_statm() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let mut it = s.split_whitespace().map(|x| x.parse::<u64>().ok());
    Some((it.next()??, it.next()??))
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as u64
    } else {
        4096
    }
}

fn reservable_bytes() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| parse_meminfo_total(&s))
        .unwrap_or(0);
    match cgroup_memory_limit() {
        Some(limit) if total == 0 || limit < total => limit,
        _ => total,
    }
}

/// `MemTotal` in bytes.
pub fn parse_meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The memory limit of this process's cgroup (v2 `memory.max`, v1
/// `memory.limit_in_bytes`), if one is set.
fn cgroup_memory_limit() -> Option<u64> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut candidates = Vec::new();
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next(), parts.next()?, parts.next()?);
        if controllers.is_empty() {
            candidates.push(format!("/sys/fs/cgroup{path}/memory.max"));
        } else if controllers.split(',').any(|c| c == "memory") {
            candidates.push(format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes"));
        }
    }
    candidates.push("/sys/fs/cgroup/memory.max".into());
    candidates.push("/sys/fs/cgroup/memory/memory.limit_in_bytes".into());
    candidates
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .find_map(|s| parse_cgroup_limit(&s))
}

/// A cgroup limit file's value; `max` and v1's "unlimited" (a huge page-rounded
/// number) mean no limit.
pub fn parse_cgroup_limit(text: &str) -> Option<u64> {
    let v: u64 = text.trim().parse().ok()?;
    (v < (1u64 << 62)).then_some(v)
}

// ---------------------------------------------------------------------------------
// Process

struct SelfStat {
    start_ticks: u64,
    vsize: u64,
}

fn read_self_stat() -> Option<SelfStat> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may contain spaces and parentheses: fields resume after the last ')'.
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Field N of proc(5) is f[N - 3]: starttime = 22, vsize = 23.
    Some(SelfStat {
        start_ticks: f.get(19)?.parse().ok()?,
        vsize: f.get(20)?.parse().ok()?,
    })
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

fn boot_time_unix() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

fn start_time_unix() -> Option<f64> {
    let stat = read_self_stat()?;
    Some(boot_time_unix()? as f64 + stat.start_ticks as f64 / clock_ticks() as f64)
}

fn uptime_ms() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    match start_time_unix() {
        Some(start) if now >= start => ((now - start) * 1000.0) as u64,
        _ => first_call().elapsed().as_millis() as u64,
    }
}

fn first_call() -> Instant {
    static T: OnceLock<Instant> = OnceLock::new();
    *T.get_or_init(Instant::now)
}

fn max_fds() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0 {
        r.rlim_cur
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(busy: u64, total: u64, cpu_ms: u64) -> CpuReading {
        CpuReading {
            system_busy: busy,
            system_total: total,
            process_cpu: Duration::from_millis(cpu_ms),
        }
    }

    #[test]
    fn first_sample_is_zero_and_refresh_waits_30s() {
        let mut t = CpuTracker::default();
        let t0 = Instant::now();
        assert_eq!(t.sample(t0, reading(0, 0, 0), 2), (0.0, 0.0));
        // 10 s later: still the cached zero.
        assert_eq!(
            t.sample(t0 + Duration::from_secs(10), reading(50, 100, 5_000), 2),
            (0.0, 0.0)
        );
        // 30 s later: 25 % system, 6 s CPU over 30 s × 2 cores = 10 %.
        let (sys, node) = t.sample(t0 + Duration::from_secs(30), reading(250, 1000, 6_000), 2);
        assert!((sys - 0.25).abs() < 1e-9);
        assert!((node - 0.1).abs() < 1e-9);
        // Cached until the next 30 s have passed.
        let again = t.sample(t0 + Duration::from_secs(40), reading(1000, 1000, 60_000), 2);
        assert_eq!(again, (sys, node));
    }

    #[test]
    fn loads_are_clamped() {
        let l = loads(
            reading(0, 10, 0),
            reading(100, 5, 1_000_000),
            Duration::from_secs(30),
            1,
        );
        assert_eq!(l, (0.0, 1.0));
    }

    #[test]
    fn parsers() {
        let stat = "cpu  76204 0 10518 61212 6919 0 103 304 0 0\ncpu0 1 2 3 4\nbtime 5\n";
        let (busy, total) = parse_proc_stat_cpu(stat).unwrap();
        assert_eq!(total, 76204 + 10518 + 61212 + 6919 + 103 + 304);
        assert_eq!(busy, total - 61212 - 6919);
        assert_eq!(
            parse_meminfo_total("MemTotal:       24684084 kB\n"),
            Some(24684084 * 1024)
        );
        assert_eq!(parse_cgroup_limit("max\n"), None);
        assert_eq!(parse_cgroup_limit("9223372036854771712\n"), None);
        assert_eq!(parse_cgroup_limit("536870912\n"), Some(536870912));
    }

    #[test]
    fn live_figures_are_consistent() {
        let s = sample();
        assert!(s.memory.allocated > 0);
        assert_eq!(s.memory.used + s.memory.free, s.memory.allocated);
        assert!(s.memory.reservable >= s.memory.allocated);
        assert!(s.cpu.cores >= 1);
        let p = process();
        assert!(p.resident_memory_bytes > 0 && p.virtual_memory_bytes >= p.resident_memory_bytes);
        assert!(p.open_fds > 0 && p.max_fds >= p.open_fds);
        assert!(p.start_time_seconds > 1.0e9);
    }
}
