//! The results three ways: a table on the terminal, `report.json` (runs by player count, each
//! with every node's figures) and `report.svg` (players against CPU, RSS and p99 lateness,
//! one column per node on shared axes so nodes compare side by side).

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::bench::{NodeReport, RunFigures, Settings, MAX_P99_MS, MIN_DELIVERY};
use crate::measure::{self, Spread};

fn spread_json(s: Option<Spread>) -> Value {
    s.map_or(
        Value::Null,
        |s| json!({"p50": round(s.p50), "p99": round(s.p99), "max": round(s.max)}),
    )
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn opt(x: Option<f64>) -> Value {
    x.map_or(Value::Null, |v| json!(round(v)))
}

fn changes_json(r: &RunFigures) -> Value {
    let mut out = serde_json::Map::new();
    for (change, seen) in &r.changes {
        let values: Vec<f64> = seen.iter().flatten().copied().collect();
        out.insert(
            change.name().to_string(),
            json!({
                "median": opt(measure::percentile(&values, 0.5)),
                "max": opt(values.iter().copied().reduce(f64::max)),
                "players": seen.iter().map(|s| opt(*s)).collect::<Vec<_>>(),
            }),
        );
    }
    Value::Object(out)
}

fn run_json(node: &NodeReport, r: &RunFigures) -> Value {
    json!({
        "node": node.url,
        "cpu_percent": opt(r.cpu_percent),
        "cpu_percent_per_player": opt(r.cpu_percent.map(|c| c / r.players.max(1) as f64)),
        "rss_mib": opt(r.rss_mib),
        "rss_mib_per_player": opt(r.rss_mib_per_player),
        "lateness_ms": spread_json(r.lateness),
        "frames": {"delivered": r.delivered, "silence": r.silence, "expected": r.expected},
        "delivery": round(r.delivery()),
        "pass": r.pass(),
        "change_latency_ms": changes_json(r),
        "bench_cpu_percent": round(r.bench_cpu_percent),
        "errors": r.errors,
        "players_detail": r.per_player.iter().map(|p| json!({
            "guild": p.guild.to_string(),
            "frames": {"delivered": p.delivered, "silence": p.silence, "expected": p.expected},
            "lateness_ms": spread_json(p.lateness),
        })).collect::<Vec<_>>(),
    })
}

pub fn to_json(nodes: &[NodeReport], settings: &Settings, media_url: &str) -> Value {
    let mut counts: Vec<usize> = nodes
        .iter()
        .flat_map(|n| n.runs.iter().map(|r| r.players))
        .collect();
    counts.sort_unstable();
    counts.dedup();
    let runs: Vec<Value> = counts
        .iter()
        .map(|&players| {
            let per_node: Vec<Value> = nodes
                .iter()
                .flat_map(|n| {
                    n.runs
                        .iter()
                        .filter(move |r| r.players == players)
                        .map(move |r| run_json(n, r))
                })
                .collect();
            json!({"players": players, "nodes": per_node})
        })
        .collect();
    json!({
        "tool": "basalt-perf",
        "version": env!("CARGO_PKG_VERSION"),
        "settings": {
            "mode": if settings.ramp { "ramp" } else { "fixed" },
            "seconds": settings.seconds,
            "warmup_seconds": settings.warmup,
            "change_players": settings.change_players,
            "max_players": settings.max_players,
        },
        "criteria": {"min_delivery": MIN_DELIVERY, "max_p99_lateness_ms": MAX_P99_MS},
        "media": {"url": media_url, "format": "WAV, PCM 16-bit, 48 kHz, stereo"},
        "nodes": nodes.iter().map(|n| json!({
            "node": n.url,
            "version": n.version,
            "pid": n.pid,
            "idle_rss_mib": opt(n.idle_rss_mib),
            "max_players_passing": n.max_passing(),
            "error": n.error,
        })).collect::<Vec<_>>(),
        "runs": runs,
    })
}

fn cell(x: Option<f64>, digits: usize) -> String {
    x.map_or("-".to_string(), |v| format!("{v:.digits$}"))
}

fn change_cell(r: &RunFigures, i: usize) -> String {
    r.changes.get(i).map_or("-".to_string(), |(_, seen)| {
        let v: Vec<f64> = seen.iter().flatten().copied().collect();
        if v.is_empty() && !seen.is_empty() {
            "none".to_string()
        } else {
            cell(measure::percentile(&v, 0.5), 0)
        }
    })
}

/// The terminal table: one row per node and run.
pub fn table(nodes: &[NodeReport]) -> String {
    let header = [
        "node",
        "players",
        "CPU %",
        "CPU/pl",
        "RSS MiB",
        "MiB/pl",
        "p50 ms",
        "p99 ms",
        "max ms",
        "delivered",
        "vol ms",
        "filt ms",
        "seek ms",
        "pass",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for n in nodes {
        if let Some(e) = &n.error {
            rows.push(vec![n.url.clone(), format!("error: {e}")]);
        }
        for r in &n.runs {
            rows.push(vec![
                n.url.clone(),
                r.players.to_string(),
                cell(r.cpu_percent, 1),
                cell(r.cpu_percent.map(|c| c / r.players.max(1) as f64), 2),
                cell(r.rss_mib, 1),
                cell(r.rss_mib_per_player, 2),
                cell(r.lateness.map(|l| l.p50), 2),
                cell(r.lateness.map(|l| l.p99), 2),
                cell(r.lateness.map(|l| l.max), 2),
                format!("{:.2}%", r.delivery() * 100.0),
                change_cell(r, 0),
                change_cell(r, 1),
                change_cell(r, 2),
                if r.pass() { "yes" } else { "no" }.to_string(),
            ]);
        }
    }
    let cols = header.len();
    let mut width = vec![0usize; cols];
    for row in &rows {
        if row.len() == cols {
            for (w, c) in width.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let w = if row.len() == cols { width[i] } else { 0 };
                if i == 0 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    for n in nodes {
        let _ = writeln!(
            out,
            "{} ({}): most players at >= {:.0}% delivery and p99 < {MAX_P99_MS} ms: {}",
            n.url,
            n.version,
            MIN_DELIVERY * 100.0,
            n.max_passing()
                .map_or("none".to_string(), |m| m.to_string())
        );
    }
    out
}

/// A round axis maximum (1, 2 or 5 times a power of ten) at or above `v`.
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= v {
            return m * p;
        }
    }
    10.0 * p
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

struct Metric {
    title: &'static str,
    value: fn(&RunFigures) -> Option<f64>,
    /// A limit line (the pass criterion).
    limit: Option<f64>,
}

const METRICS: [Metric; 3] = [
    Metric {
        title: "CPU % (of one core)",
        value: |r| r.cpu_percent,
        limit: None,
    },
    Metric {
        title: "RSS MiB",
        value: |r| r.rss_mib,
        limit: None,
    },
    Metric {
        title: "p99 pacing lateness ms",
        value: |r| r.lateness.map(|l| l.p99),
        limit: Some(MAX_P99_MS),
    },
];

/// Players (x) against each metric (rows), one column per node, axes shared across nodes.
pub fn to_svg(nodes: &[NodeReport]) -> String {
    const COL_W: f64 = 400.0;
    const PANEL_H: f64 = 170.0;
    const LEFT: f64 = 56.0;
    const RIGHT: f64 = 16.0;
    const TOP: f64 = 100.0;
    const GAP: f64 = 46.0;
    let cols = nodes.len().max(1);
    let width = COL_W * cols as f64;
    let height = TOP + METRICS.len() as f64 * (PANEL_H + GAP) + 10.0;
    let x_max = nice_max(
        nodes
            .iter()
            .flat_map(|n| n.runs.iter().map(|r| r.players as f64))
            .fold(1.0, f64::max),
    );
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        s,
        r#"<rect width="100%" height="100%" fill="white"/><text x="10" y="18" font-size="14" font-weight="bold">basalt-perf</text><text x="10" y="33">players vs CPU, RSS and p99 lateness; green: ≥ {:.0}% delivered and p99 &lt; {MAX_P99_MS} ms</text>"#,
        MIN_DELIVERY * 100.0
    );
    for (mi, m) in METRICS.iter().enumerate() {
        let mut y_max = nodes
            .iter()
            .flat_map(|n| n.runs.iter().filter_map(|r| (m.value)(r)))
            .fold(0.0, f64::max);
        if let Some(l) = m.limit {
            y_max = y_max.max(l * 1.2);
        }
        let y_max = nice_max(y_max);
        for (ci, n) in nodes.iter().enumerate() {
            let x0 = ci as f64 * COL_W + LEFT;
            let pw = COL_W - LEFT - RIGHT;
            let y0 = TOP + mi as f64 * (PANEL_H + GAP);
            let px = |p: f64| x0 + p / x_max * pw;
            let py = |v: f64| y0 + PANEL_H - (v / y_max).min(1.05) * PANEL_H;
            if mi == 0 {
                let best = n
                    .max_passing()
                    .map_or("none passed".to_string(), |b| format!("max {b} players"));
                let _ = writeln!(
                    s,
                    r#"<text class="node" x="{x0}" y="56" font-weight="bold">{}</text><text x="{x0}" y="70">{} · {best}</text>"#,
                    esc(&n.url),
                    esc(&n.version)
                );
            }
            let _ = writeln!(
                s,
                r##"<text x="{x0}" y="{}" font-weight="bold">{}</text><rect x="{x0}" y="{y0}" width="{pw}" height="{PANEL_H}" fill="none" stroke="#888"/>"##,
                y0 - 6.0,
                m.title
            );
            for k in 0..=4 {
                let v = y_max * k as f64 / 4.0;
                let y = py(v);
                let _ = writeln!(
                    s,
                    r##"<line x1="{x0}" y1="{y}" x2="{}" y2="{y}" stroke="#eee"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
                    x0 + pw,
                    x0 - 4.0,
                    y + 4.0,
                    trim_num(v)
                );
                let xv = x_max * k as f64 / 4.0;
                let _ = writeln!(
                    s,
                    r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
                    px(xv),
                    y0 + PANEL_H + 14.0,
                    trim_num(xv)
                );
            }
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" text-anchor="middle">players</text>"#,
                x0 + pw / 2.0,
                y0 + PANEL_H + 28.0
            );
            if let Some(l) = m.limit {
                let _ = writeln!(
                    s,
                    r##"<line x1="{x0}" y1="{y}" x2="{}" y2="{y}" stroke="#d33" stroke-dasharray="4 3"/>"##,
                    x0 + pw,
                    y = py(l)
                );
            }
            let mut pts: Vec<(usize, f64, bool)> = n
                .runs
                .iter()
                .filter_map(|r| (m.value)(r).map(|v| (r.players, v, r.pass())))
                .collect();
            pts.sort_by_key(|p| p.0);
            if pts.len() > 1 {
                let path: Vec<String> = pts
                    .iter()
                    .map(|(p, v, _)| format!("{:.1},{:.1}", px(*p as f64), py(*v)))
                    .collect();
                let _ = writeln!(
                    s,
                    r##"<polyline fill="none" stroke="#36c" stroke-width="1.5" points="{}"/>"##,
                    path.join(" ")
                );
            }
            for (p, v, pass) in &pts {
                let _ = writeln!(
                    s,
                    r#"<circle class="point" data-players="{p}" data-value="{}" cx="{:.1}" cy="{:.1}" r="3.5" fill="{}"><title>{p} players: {}</title></circle>"#,
                    round(*v),
                    px(*p as f64),
                    py(*v),
                    if *pass { "#2a2" } else { "#d33" },
                    round(*v)
                );
            }
        }
    }
    s.push_str("</svg>\n");
    s
}

fn trim_num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_round_up() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(3.2), 5.0);
        assert_eq!(nice_max(120.0), 200.0);
        assert_eq!(nice_max(10.0), 10.0);
        assert_eq!(esc("a<b&\""), "a&lt;b&amp;&quot;");
    }
}
