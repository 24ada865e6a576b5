//! The route planner (lavalink-v4.md §9, sources.md §10): which local address an outbound
//! connection binds to, built from `[ratelimit]`. Sources that rotate (YouTube, and any
//! source whose client is `Outbound::routed`) ask it for an address per request, report
//! bans (HTTP 429, a bot wall, a bind failure) and retry from another address.
//!
//! Addresses are picked by index into the configured blocks, concatenated into one virtual
//! block; marks of failing addresses expire after 7 days. The REST routes read `status`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use serde_json::{json, Value};

use crate::config::RateLimitConfig;

/// Failing marks older than this are ignored (Lavalink: 7 days).
const FAIL_EXPIRY_MS: i64 = 7 * 24 * 3600 * 1000;
/// Retries when `retry_limit` is 0 ("unlimited"): still bounded, so a load always ends.
const UNLIMITED_RETRIES: usize = 1000;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strategy {
    RotateOnBan,
    LoadBalance,
    NanoSwitch,
    RotatingNanoSwitch,
}

#[derive(Debug, Clone, Copy)]
struct Block {
    network: IpAddr,
    /// Addresses in the block, saturated at u128::MAX for a /0 of IPv6.
    size: u128,
}

#[derive(Debug)]
struct State {
    /// RotateOnBan: index of the current address and how often it moved.
    index: u128,
    rotate_index: u128,
    current: Option<IpAddr>,
    /// RotatingNanoSwitch: which /64 and since when.
    block_index: u128,
    block_since: Instant,
    /// The address most recently reported banned (a second report does not move again).
    last_banned: Option<IpAddr>,
    rng: u64,
}

/// Why no address could be chosen.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct PlannerError(pub String);

#[derive(Debug)]
pub struct RoutePlanner {
    strategy: Strategy,
    class: &'static str,
    ipv6: bool,
    blocks: Vec<Block>,
    total: u128,
    excluded: Vec<IpAddr>,
    search_triggers_fail: bool,
    retry_limit: i32,
    /// (address, epoch ms)
    failing: Mutex<Vec<(IpAddr, i64)>>,
    state: Mutex<State>,
    start: Instant,
}

/// The planner of one configuration, shared by every clone of that `Config` (sources and
/// REST routes must see the same failing marks).
#[derive(Clone, Default)]
pub struct PlannerCell(Arc<OnceLock<Option<Arc<RoutePlanner>>>>);

impl std::fmt::Debug for PlannerCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlannerCell")
    }
}

impl PlannerCell {
    /// The planner for `c` (None when no `ip_blocks` are configured), made on first use.
    pub fn get(&self, c: &RateLimitConfig) -> Option<Arc<RoutePlanner>> {
        self.0
            .get_or_init(|| RoutePlanner::from_config(c).map(Arc::new))
            .clone()
    }
}

impl RoutePlanner {
    /// None when no `ip_blocks` are configured (planner disabled).
    pub fn from_config(c: &RateLimitConfig) -> Option<RoutePlanner> {
        let (strategy, class) = match c.strategy.to_ascii_lowercase().as_str() {
            "loadbalance" => (Strategy::LoadBalance, "BalancingIpRoutePlanner"),
            "nanoswitch" => (Strategy::NanoSwitch, "NanoIpRoutePlanner"),
            "rotatingnanoswitch" => (Strategy::RotatingNanoSwitch, "RotatingNanoIpRoutePlanner"),
            _ => (Strategy::RotateOnBan, "RotatingIpRoutePlanner"),
        };
        let mut blocks = Vec::new();
        let mut total: u128 = 0;
        let mut ipv6 = false;
        for block in &c.ip_blocks {
            let Some((ip, prefix)) = parse_cidr(block) else {
                log::warn!("ignoring invalid ip block {block}");
                continue;
            };
            let bits = if ip.is_ipv6() { 128 } else { 32 };
            ipv6 |= ip.is_ipv6();
            let size = 1u128.checked_shl(bits - prefix).unwrap_or(u128::MAX);
            total = total.saturating_add(size);
            blocks.push(Block {
                network: network(ip, prefix),
                size,
            });
        }
        if blocks.is_empty() {
            return None;
        }
        let excluded = c
            .excluded_ips
            .iter()
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15)
            | 1;
        Some(RoutePlanner {
            strategy,
            class,
            ipv6,
            blocks,
            total,
            excluded,
            search_triggers_fail: c.search_triggers_fail,
            retry_limit: c.retry_limit,
            failing: Mutex::new(Vec::new()),
            state: Mutex::new(State {
                index: 0,
                rotate_index: 0,
                current: None,
                block_index: 0,
                block_since: Instant::now(),
                last_banned: None,
                rng: seed,
            }),
            start: Instant::now(),
        })
    }

    /// Retries after a ban before a request fails: `retry_limit` −1 → 10, 0 → unlimited
    /// (bounded here), n → n.
    pub fn max_retries(&self) -> usize {
        match self.retry_limit {
            l if l < 0 => 10,
            0 => UNLIMITED_RETRIES,
            l => l as usize,
        }
    }

    /// Whether a 429 on a request classified as a search marks the address.
    pub fn search_triggers_fail(&self) -> bool {
        self.search_triggers_fail
    }

    fn address_at(&self, mut index: u128) -> Option<IpAddr> {
        for b in &self.blocks {
            if index < b.size {
                return Some(match b.network {
                    IpAddr::V4(a) => {
                        IpAddr::V4(Ipv4Addr::from(u32::from(a).wrapping_add(index as u32)))
                    }
                    IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a).wrapping_add(index))),
                });
            }
            index -= b.size;
        }
        None
    }

    fn is_failing(&self, ip: IpAddr) -> bool {
        let cutoff = now_ms() - FAIL_EXPIRY_MS;
        lock(&self.failing)
            .iter()
            .any(|(a, ts)| *a == ip && *ts > cutoff)
    }

    fn usable(&self, ip: IpAddr) -> bool {
        !self.excluded.contains(&ip) && !self.is_failing(ip)
    }

    fn next_random(state: &mut State) -> u64 {
        // xorshift64*: planner choices need spread, not cryptographic strength.
        let mut x = state.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn random_index(&self, state: &mut State) -> u128 {
        let r = (u128::from(Self::next_random(state)) << 64) | u128::from(Self::next_random(state));
        if self.total == u128::MAX {
            r
        } else {
            r % self.total
        }
    }

    /// RotateOnBan: step from the current index to the next usable address.
    fn rotate(&self, state: &mut State) -> Result<IpAddr, PlannerError> {
        let limit = self.total.saturating_mul(2);
        let mut tries: u128 = 0;
        loop {
            if tries > limit {
                return Err(PlannerError("Can't find a free ip".into()));
            }
            let step = if self.total > 128 {
                10 + u128::from(Self::next_random(state) % 10)
            } else {
                1
            };
            state.index = state.index.saturating_add(step);
            if state.index >= self.total {
                state.index = 0;
            }
            tries += 1;
            if let Some(ip) = self.address_at(state.index) {
                if self.usable(ip) {
                    state.rotate_index += 1;
                    state.current = Some(ip);
                    return Ok(ip);
                }
            }
        }
    }

    fn nano_offset(&self, since: Instant) -> u128 {
        u128::from(since.elapsed().as_nanos() as u64)
    }

    /// The local address for the next outbound request.
    pub fn next_address(&self) -> Result<IpAddr, PlannerError> {
        let mut state = lock(&self.state);
        match self.strategy {
            Strategy::RotateOnBan => match state.current {
                Some(ip) if self.usable(ip) => Ok(ip),
                _ => self.rotate(&mut state),
            },
            Strategy::LoadBalance => {
                for _ in 0..1000 {
                    let i = self.random_index(&mut state);
                    if let Some(ip) = self.address_at(i).filter(|ip| self.usable(*ip)) {
                        return Ok(ip);
                    }
                }
                Err(PlannerError("Can't find a free ip".into()))
            }
            Strategy::NanoSwitch => {
                let off = self.nano_offset(self.start) % self.total.max(1);
                self.address_at(off)
                    .ok_or_else(|| PlannerError("Can't find a free ip".into()))
            }
            Strategy::RotatingNanoSwitch => {
                let span: u128 = 1 << 64;
                let base = state.block_index.saturating_mul(span);
                let idx =
                    base.saturating_add(self.nano_offset(state.block_since)) % self.total.max(1);
                self.address_at(idx)
                    .ok_or_else(|| PlannerError("Can't find a free ip".into()))
            }
        }
    }

    /// An address was banned (429, bot wall, bind failure): mark it and move on.
    pub fn mark_failing(&self, ip: IpAddr) {
        {
            let mut f = lock(&self.failing);
            match f.iter_mut().find(|(a, _)| *a == ip) {
                Some(entry) => entry.1 = now_ms(),
                None => f.push((ip, now_ms())),
            }
        }
        let mut state = lock(&self.state);
        if state.last_banned == Some(ip) {
            return;
        }
        state.last_banned = Some(ip);
        match self.strategy {
            Strategy::RotateOnBan => {
                if state.current == Some(ip) {
                    state.current = None;
                }
            }
            Strategy::RotatingNanoSwitch => {
                state.block_index += 1;
                state.block_since = Instant::now();
            }
            Strategy::LoadBalance | Strategy::NanoSwitch => {}
        }
    }

    /// The body of `GET /v4/routeplanner/status`.
    pub fn status(&self) -> Value {
        let cutoff = now_ms() - FAIL_EXPIRY_MS;
        let failing: Vec<Value> = lock(&self.failing)
            .iter()
            .filter(|(_, ts)| *ts > cutoff)
            .map(|(ip, ts)| {
                json!({
                    "failingAddress": format!("/{ip}"),
                    "failingTimestamp": ts,
                    "failingTime": java_date(*ts),
                })
            })
            .collect();
        let size = if self.total == u128::MAX {
            // A /0 of IPv6 holds one more than u128 can say.
            "340282366920938463463374607431768211456".to_string()
        } else {
            self.total.to_string()
        };
        let mut details = json!({
            "ipBlock": {
                "type": if self.ipv6 { "Inet6Address" } else { "Inet4Address" },
                "size": size,
            },
            "failingAddresses": failing,
        });
        let d = details.as_object_mut().expect("object literal");
        let state = lock(&self.state);
        match self.strategy {
            Strategy::RotateOnBan => {
                d.insert("rotateIndex".into(), json!(state.rotate_index.to_string()));
                d.insert("ipIndex".into(), json!(state.index.to_string()));
                // Before the first request: the address at the current index, as Lavalink.
                let addr = state
                    .current
                    .or_else(|| self.address_at(state.index))
                    .map(|a| format!("/{a}"))
                    .unwrap_or_default();
                d.insert("currentAddress".into(), json!(addr));
            }
            Strategy::NanoSwitch => {
                let off = self.nano_offset(self.start);
                d.insert("currentAddressIndex".into(), json!(off.to_string()));
            }
            Strategy::RotatingNanoSwitch => {
                d.insert("blockIndex".into(), json!(state.block_index.to_string()));
                let off = self.nano_offset(state.block_since);
                d.insert("currentAddressIndex".into(), json!(off.to_string()));
            }
            Strategy::LoadBalance => {}
        }
        json!({"class": self.class, "details": details})
    }

    /// Unmark one address; `Err` carries the `Invalid address: …` detail.
    pub fn free_address(&self, address: &str) -> Result<(), String> {
        let ip = resolve(address)?;
        lock(&self.failing).retain(|(a, _)| *a != ip);
        let mut state = lock(&self.state);
        if state.last_banned == Some(ip) {
            state.last_banned = None;
        }
        Ok(())
    }

    pub fn free_all(&self) {
        lock(&self.failing).clear();
        lock(&self.state).last_banned = None;
    }

    /// The addresses marked failing now (metrics).
    pub fn failing_count(&self) -> usize {
        let cutoff = now_ms() - FAIL_EXPIRY_MS;
        lock(&self.failing)
            .iter()
            .filter(|(_, ts)| *ts > cutoff)
            .count()
    }
}

fn resolve(address: &str) -> Result<IpAddr, String> {
    if let Ok(ip) = address.parse::<IpAddr>() {
        return Ok(ip);
    }
    use std::net::ToSocketAddrs;
    match (address, 0).to_socket_addrs() {
        Ok(mut it) => it
            .next()
            .map(|s| s.ip())
            .ok_or_else(|| format!("{address}: no address")),
        Err(e) => Err(format!("{address}: {e}")),
    }
}

fn parse_cidr(s: &str) -> Option<(IpAddr, u32)> {
    let (ip, prefix) = s.split_once('/')?;
    let ip: IpAddr = ip.trim().parse().ok()?;
    let prefix: u32 = prefix.trim().parse().ok()?;
    let max = if ip.is_ipv6() { 128 } else { 32 };
    (prefix <= max).then_some((ip, prefix))
}

fn network(ip: IpAddr, prefix: u32) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    }
}

/// `java.util.Date.toString()` in UTC: `Mon Nov 11 20:05:07 UTC 2019`.
fn java_date(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // civil-from-days (proleptic Gregorian)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        WD[days.rem_euclid(7) as usize],
        MON[(mo - 1) as usize],
        d,
        h,
        m,
        s,
        y
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planner(blocks: &[&str], strategy: &str, excluded: &[&str]) -> RoutePlanner {
        RoutePlanner::from_config(&RateLimitConfig {
            ip_blocks: blocks.iter().map(|s| s.to_string()).collect(),
            excluded_ips: excluded.iter().map(|s| s.to_string()).collect(),
            strategy: strategy.into(),
            search_triggers_fail: true,
            retry_limit: -1,
        })
        .unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn sizes_and_dates() {
        assert_eq!(java_date(1_573_520_707_545), "Tue Nov 12 01:05:07 UTC 2019");
        assert_eq!(network(ip("192.0.2.77"), 24).to_string(), "192.0.2.0");
        let p = planner(&["10.0.0.0/24", "10.0.1.0/25"], "RotateOnBan", &[]);
        assert_eq!(p.status()["details"]["ipBlock"]["size"], "384");
        let p = planner(&["2001:db8::/48"], "NanoSwitch", &[]);
        assert_eq!(
            p.status()["details"]["ipBlock"]["size"],
            "1208925819614629174706176"
        );
        assert_eq!(p.status()["details"]["ipBlock"]["type"], "Inet6Address");
    }

    #[test]
    fn rotate_on_ban_keeps_an_address_until_it_is_banned() {
        let p = planner(&["127.0.0.0/29"], "RotateOnBan", &["127.0.0.2"]);
        let a = p.next_address().unwrap();
        assert_eq!(a, ip("127.0.0.1"));
        assert_eq!(p.next_address().unwrap(), a);
        p.mark_failing(a);
        // 127.0.0.2 is excluded.
        assert_eq!(p.next_address().unwrap(), ip("127.0.0.3"));
        let s = p.status();
        assert_eq!(s["class"], "RotatingIpRoutePlanner");
        assert_eq!(s["details"]["currentAddress"], "/127.0.0.3");
        assert_eq!(s["details"]["rotateIndex"], "2");
        assert_eq!(
            s["details"]["failingAddresses"][0]["failingAddress"],
            "/127.0.0.1"
        );
        p.free_all();
        assert_eq!(p.failing_count(), 0);
    }

    #[test]
    fn rotate_on_ban_gives_up_when_everything_is_failing() {
        let p = planner(&["127.0.0.0/30"], "RotateOnBan", &[]);
        for a in ["127.0.0.0", "127.0.0.1", "127.0.0.2", "127.0.0.3"] {
            p.mark_failing(ip(a));
        }
        assert_eq!(p.next_address().unwrap_err().0, "Can't find a free ip");
        p.free_address("127.0.0.2").unwrap();
        assert_eq!(p.next_address().unwrap(), ip("127.0.0.2"));
        assert!(p.free_address("not an address!").is_err());
    }

    #[test]
    fn load_balance_spreads_and_skips_failing() {
        let p = planner(&["127.0.1.0/28"], "LoadBalance", &[]);
        p.mark_failing(ip("127.0.1.5"));
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let a = p.next_address().unwrap();
            assert_ne!(a, ip("127.0.1.5"));
            seen.insert(a);
        }
        assert!(seen.len() > 8, "{seen:?}");
    }

    #[test]
    fn rotating_nano_switch_moves_block_on_ban() {
        let p = planner(&["2001:db8::/63"], "RotatingNanoSwitch", &[]);
        let a = p.next_address().unwrap();
        assert!(matches!(a, IpAddr::V6(_)));
        p.mark_failing(a);
        let s = p.status();
        assert_eq!(s["details"]["blockIndex"], "1");
        let b = p.next_address().unwrap();
        // The second /64 of the /63.
        assert_eq!(
            u128::from(match b {
                IpAddr::V6(v) => v,
                _ => unreachable!(),
            }) >> 64
                & 1,
            1
        );
    }

    #[test]
    fn retry_limits() {
        let mut c = RateLimitConfig {
            ip_blocks: vec!["127.0.0.0/30".into()],
            ..Default::default()
        };
        c.retry_limit = -1;
        assert_eq!(RoutePlanner::from_config(&c).unwrap().max_retries(), 10);
        c.retry_limit = 0;
        assert_eq!(
            RoutePlanner::from_config(&c).unwrap().max_retries(),
            UNLIMITED_RETRIES
        );
        c.retry_limit = 3;
        assert_eq!(RoutePlanner::from_config(&c).unwrap().max_retries(), 3);
    }
}
