//! Flood protection for the control plane: per-address connection caps, a token bucket of
//! requests per address, failed-authentication throttling, and counters of every refusal.
//!
//! Addresses in `[server] rate_limit_allow` are exempt (bots usually run next to the node).
//! The table is touched by the acceptor thread and by connection guards when a connection
//! ends; entries without open connections and with a full bucket are pruned, so it stays as
//! small as the set of recently active addresses.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::config::ServerConfig;

/// Refusals since start, by reason, for metrics (read with `rejections()`).
pub struct Rejections {
    /// 429: too many requests from one address.
    pub rate_limited: AtomicU64,
    /// 429 at accept: too many open connections from one address.
    pub connections_per_ip: AtomicU64,
    /// 503 at accept: the node-wide connection cap.
    pub connections_total: AtomicU64,
    /// 429: too many failed authentications from one address.
    pub auth_throttled: AtomicU64,
    /// Connections closed for missing a header, body, idle or write deadline.
    pub timed_out: AtomicU64,
    /// 400 / 413 / 431: malformed or oversized requests.
    pub malformed: AtomicU64,
}

static REJECTIONS: Rejections = Rejections {
    rate_limited: AtomicU64::new(0),
    connections_per_ip: AtomicU64::new(0),
    connections_total: AtomicU64::new(0),
    auth_throttled: AtomicU64::new(0),
    timed_out: AtomicU64::new(0),
    malformed: AtomicU64::new(0),
};

/// The process-wide refusal counters (for the metrics endpoint).
pub fn rejections() -> &'static Rejections {
    &REJECTIONS
}

impl Rejections {
    /// All refusals together.
    pub fn total(&self) -> u64 {
        [
            &self.rate_limited,
            &self.connections_per_ip,
            &self.connections_total,
            &self.auth_throttled,
            &self.timed_out,
            &self.malformed,
        ]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum()
    }
}

pub(crate) fn count(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// How long an address that failed authentication too often is refused.
const AUTH_BLOCK: Duration = Duration::from_secs(60);

struct Entry {
    conns: u32,
    tokens: f64,
    refilled: Instant,
    auth_failures: u32,
    auth_window: Instant,
    blocked_until: Option<Instant>,
}

pub struct Limiter {
    /// Connections open now (all addresses).
    open: std::sync::atomic::AtomicUsize,
    /// The `[server]` limits; replaced by a config reload (`reconfigure`).
    params: RwLock<Params>,
    table: Mutex<HashMap<IpAddr, Entry>>,
}

/// The limits of `[server]` the limiter applies.
struct Params {
    max_total: usize,
    allow: Vec<IpAddr>,
    per_ip_conns: u32,
    rate: f64,
    burst: f64,
    auth_per_min: u32,
}

impl Params {
    fn from_config(cfg: &ServerConfig) -> Params {
        Params {
            max_total: cfg.max_connections as usize,
            allow: cfg
                .rate_limit_allow
                .iter()
                .filter_map(|s| s.trim().parse().ok())
                .collect(),
            per_ip_conns: cfg.max_connections_per_ip,
            rate: f64::from(cfg.requests_per_s_per_ip.max(1)),
            burst: f64::from(cfg.request_burst_per_ip.max(1)),
            auth_per_min: cfg.auth_failures_per_min_per_ip.max(1),
        }
    }

    fn is_allowed(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.allow.contains(&ip)
    }
}

/// Why a request is refused, with the seconds to put in `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    TooManyRequests(u64),
    AuthThrottled(u64),
}

impl Limiter {
    pub fn new(cfg: &ServerConfig) -> Arc<Limiter> {
        Arc::new(Limiter {
            open: std::sync::atomic::AtomicUsize::new(0),
            params: RwLock::new(Params::from_config(cfg)),
            table: Mutex::new(HashMap::new()),
        })
    }

    /// Applies new limits (config reload). Open connections keep their slots; buckets
    /// refill at the new rate up to the new burst.
    pub fn reconfigure(&self, cfg: &ServerConfig) {
        *self.params.write().unwrap_or_else(|p| p.into_inner()) = Params::from_config(cfg);
    }

    fn params(&self) -> std::sync::RwLockReadGuard<'_, Params> {
        self.params.read().unwrap_or_else(|p| p.into_inner())
    }

    fn is_allowed(&self, ip: IpAddr) -> bool {
        self.params().is_allowed(ip)
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Entry>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn entry<'a>(
        &self,
        t: &'a mut HashMap<IpAddr, Entry>,
        ip: IpAddr,
        now: Instant,
    ) -> &'a mut Entry {
        let burst = self.params().burst;
        t.entry(ip).or_insert_with(|| Entry {
            conns: 0,
            tokens: burst,
            refilled: now,
            auth_failures: 0,
            auth_window: now,
            blocked_until: None,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// A new connection from `ip`: a guard that gives the slot back on drop, or the status
    /// to refuse it with (503: the node is full; 429: the address has its share open).
    pub fn admit_connection(self: &Arc<Self>, ip: IpAddr) -> Result<ConnGuard, u16> {
        let (max_total, per_ip_conns, allowed) = {
            let p = self.params();
            (p.max_total, p.per_ip_conns, p.is_allowed(ip))
        };
        if self.open() >= max_total {
            count(&REJECTIONS.connections_total);
            return Err(503);
        }
        if !allowed {
            let mut t = self.table();
            let e = self.entry(&mut t, ip, Instant::now());
            if e.conns >= per_ip_conns {
                count(&REJECTIONS.connections_per_ip);
                return Err(429);
            }
            e.conns += 1;
        }
        self.open.fetch_add(1, Ordering::Relaxed);
        Ok(ConnGuard {
            limiter: self.clone(),
            ip,
            counted: !allowed,
        })
    }

    /// One request from `ip` (headers read): takes a token, or says how long to wait.
    pub fn admit_request(&self, ip: IpAddr) -> Result<(), Refusal> {
        if self.is_allowed(ip) {
            return Ok(());
        }
        let now = Instant::now();
        let mut t = self.table();
        let e = self.entry(&mut t, ip, now);
        if let Some(until) = e.blocked_until {
            if now < until {
                count(&REJECTIONS.auth_throttled);
                return Err(Refusal::AuthThrottled((until - now).as_secs().max(1)));
            }
            e.blocked_until = None;
        }
        let (rate, burst) = {
            let p = self.params();
            (p.rate, p.burst)
        };
        let dt = now.duration_since(e.refilled).as_secs_f64();
        e.tokens = (e.tokens + dt * rate).min(burst);
        e.refilled = now;
        if e.tokens >= 1.0 {
            e.tokens -= 1.0;
            Ok(())
        } else {
            count(&REJECTIONS.rate_limited);
            let wait = ((1.0 - e.tokens) / rate).ceil().max(1.0) as u64;
            Err(Refusal::TooManyRequests(wait))
        }
    }

    /// A failed authentication from `ip`; too many in a minute block the address.
    pub fn auth_failed(&self, ip: IpAddr) {
        if self.is_allowed(ip) {
            return;
        }
        let now = Instant::now();
        let mut t = self.table();
        let e = self.entry(&mut t, ip, now);
        if now.duration_since(e.auth_window) > Duration::from_secs(60) {
            e.auth_window = now;
            e.auth_failures = 0;
        }
        e.auth_failures += 1;
        if e.auth_failures >= self.params().auth_per_min {
            e.blocked_until = Some(now + AUTH_BLOCK);
        }
    }

    /// Drop entries of addresses with nothing open and nothing to remember.
    pub fn prune(&self) {
        let now = Instant::now();
        let (rate, burst) = {
            let p = self.params();
            (p.rate, p.burst)
        };
        self.table().retain(|_, e| {
            let full = e.tokens + now.duration_since(e.refilled).as_secs_f64() * rate >= burst;
            let blocked = e.blocked_until.is_some_and(|u| u > now);
            let recent_auth =
                e.auth_failures > 0 && now.duration_since(e.auth_window) <= Duration::from_secs(60);
            e.conns > 0 || !full || blocked || recent_auth
        });
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.table().len()
    }
}

/// One open connection's slot in its address's share.
pub struct ConnGuard {
    limiter: Arc<Limiter>,
    ip: IpAddr,
    /// Counted in its address's share (not in `rate_limit_allow` when admitted), so a
    /// reload changing the allow list gives back exactly what was taken.
    counted: bool,
}

impl ConnGuard {
    pub fn ip(&self) -> IpAddr {
        self.ip
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.limiter.open.fetch_sub(1, Ordering::Relaxed);
        if !self.counted {
            return;
        }
        if let Some(e) = self.limiter.table().get_mut(&self.ip) {
            e.conns = e.conns.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(rate: u32, burst: u32, conns: u32, auth: u32) -> Arc<Limiter> {
        let cfg = ServerConfig {
            requests_per_s_per_ip: rate,
            request_burst_per_ip: burst,
            max_connections_per_ip: conns,
            auth_failures_per_min_per_ip: auth,
            ..ServerConfig::default()
        };
        Limiter::new(&cfg)
    }

    #[test]
    fn connection_cap_and_release() {
        let l = limiter(10, 10, 2, 10);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let a = l.admit_connection(ip).unwrap();
        let _b = l.admit_connection(ip).unwrap();
        assert_eq!(l.admit_connection(ip).err(), Some(429));
        drop(a);
        assert!(l.admit_connection(ip).is_ok());
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let many: Vec<_> = (0..10)
            .filter_map(|_| l.admit_connection(local).ok())
            .collect();
        assert_eq!(many.len(), 10);
    }

    #[test]
    fn bucket_refuses_then_refills() {
        let l = limiter(1000, 3, 10, 10);
        let ip: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            l.admit_request(ip).unwrap();
        }
        assert!(matches!(
            l.admit_request(ip),
            Err(Refusal::TooManyRequests(1))
        ));
        std::thread::sleep(Duration::from_millis(5));
        l.admit_request(ip).unwrap();
        assert!(l.admit_request("::1".parse().unwrap()).is_ok());
    }

    #[test]
    fn auth_failures_block_and_prune_keeps_them() {
        let l = limiter(1000, 1000, 10, 3);
        let ip: IpAddr = "10.0.0.3".parse().unwrap();
        for _ in 0..3 {
            l.auth_failed(ip);
        }
        assert!(matches!(
            l.admit_request(ip),
            Err(Refusal::AuthThrottled(_))
        ));
        l.prune();
        assert_eq!(l.tracked(), 1);
        let other: IpAddr = "10.0.0.4".parse().unwrap();
        l.admit_request(other).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        l.prune();
        assert_eq!(l.tracked(), 1, "the refilled address is forgotten");
    }
}
