//! The route planner status of spec §9, built from `[ratelimit]`.
//!
//! Basalt has no IP-rotating outbound HTTP yet, so the planner only carries the configured
//! block and an (empty unless marked) failing list; the REST shapes are Lavalink's.

use std::net::IpAddr;
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::config::RateLimitConfig;
use crate::session::lock;

#[derive(Debug)]
pub struct RoutePlanner {
    class: &'static str,
    ipv6: bool,
    /// Number of addresses in all blocks, as a decimal string (may exceed 2^64).
    size: String,
    first: Option<IpAddr>,
    /// (address, epoch ms)
    failing: Mutex<Vec<(IpAddr, i64)>>,
}

impl RoutePlanner {
    /// None when no `ip_blocks` are configured (planner disabled).
    pub fn from_config(c: &RateLimitConfig) -> Option<RoutePlanner> {
        if c.ip_blocks.is_empty() {
            return None;
        }
        let class = match c.strategy.to_ascii_lowercase().as_str() {
            "loadbalance" => "BalancingIpRoutePlanner",
            "nanoswitch" => "NanoIpRoutePlanner",
            "rotatingnanoswitch" => "RotatingNanoIpRoutePlanner",
            _ => "RotatingIpRoutePlanner",
        };
        let mut size = "0".to_string();
        let mut ipv6 = false;
        let mut first = None;
        for block in &c.ip_blocks {
            let Some((ip, prefix)) = parse_cidr(block) else {
                log::warn!("ignoring invalid ip block {block}");
                continue;
            };
            let bits = if ip.is_ipv6() { 128 } else { 32 };
            ipv6 |= ip.is_ipv6();
            first.get_or_insert(network(ip, prefix));
            size = add_decimal(&size, &pow2_decimal(bits - prefix));
        }
        Some(RoutePlanner {
            class,
            ipv6,
            size,
            first,
            failing: Mutex::new(Vec::new()),
        })
    }

    pub fn status(&self) -> Value {
        let failing: Vec<Value> = lock(&self.failing)
            .iter()
            .map(|(ip, ts)| {
                json!({
                    "failingAddress": format!("/{ip}"),
                    "failingTimestamp": ts,
                    "failingTime": java_date(*ts),
                })
            })
            .collect();
        let mut details = json!({
            "ipBlock": {
                "type": if self.ipv6 { "Inet6Address" } else { "Inet4Address" },
                "size": self.size,
            },
            "failingAddresses": failing,
        });
        let d = details.as_object_mut().expect("object literal");
        match self.class {
            "RotatingIpRoutePlanner" => {
                d.insert("rotateIndex".into(), json!("0"));
                d.insert("ipIndex".into(), json!("0"));
                let addr = self.first.map(|a| format!("/{a}")).unwrap_or_default();
                d.insert("currentAddress".into(), json!(addr));
            }
            "NanoIpRoutePlanner" => {
                d.insert("currentAddressIndex".into(), json!(nanos().to_string()));
            }
            "RotatingNanoIpRoutePlanner" => {
                d.insert("blockIndex".into(), json!("0"));
                d.insert("currentAddressIndex".into(), json!(nanos().to_string()));
            }
            _ => {}
        }
        json!({"class": self.class, "details": details})
    }

    /// Unmark one address; `Err` carries the `Invalid address: …` detail.
    pub fn free_address(&self, address: &str) -> Result<(), String> {
        let ip = resolve(address)?;
        lock(&self.failing).retain(|(a, _)| *a != ip);
        Ok(())
    }

    pub fn free_all(&self) {
        lock(&self.failing).clear();
    }

    /// Mark an address as failing (used by sources that rotate addresses).
    pub fn mark_failing(&self, ip: IpAddr) {
        let mut f = lock(&self.failing);
        if !f.iter().any(|(a, _)| *a == ip) {
            f.push((ip, crate::server::now_ms()));
        }
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
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix)
            };
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            IpAddr::V6((u128::from(a) & mask).into())
        }
    }
}

fn pow2_decimal(n: u32) -> String {
    let mut s = "1".to_string();
    for _ in 0..n {
        s = add_decimal(&s, &s);
    }
    s
}

fn add_decimal(a: &str, b: &str) -> String {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut out = Vec::new();
    let (mut i, mut j, mut carry) = (a.len(), b.len(), 0u8);
    while i > 0 || j > 0 || carry > 0 {
        let mut d = carry;
        if i > 0 {
            i -= 1;
            d += a[i] - b'0';
        }
        if j > 0 {
            j -= 1;
            d += b[j] - b'0';
        }
        out.push(b'0' + d % 10);
        carry = d / 10;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() % 1_000_000_000)
        .unwrap_or(0)
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

    #[test]
    fn sizes_and_dates() {
        assert_eq!(pow2_decimal(8), "256");
        assert_eq!(pow2_decimal(80), "1208925819614629174706176");
        assert_eq!(pow2_decimal(128), "340282366920938463463374607431768211456");
        assert_eq!(java_date(1_573_520_707_545), "Tue Nov 12 01:05:07 UTC 2019");
        assert_eq!(
            network("192.0.2.77".parse().unwrap(), 24).to_string(),
            "192.0.2.0"
        );
    }
}
