//! `basalt-perf`: benchmarks any Lavalink v4 node (Basalt, Lavalink, NodeLink, Rustalink...)
//! through the standard v4 REST and WebSocket API. It serves its own generated media over
//! local HTTP, runs its own fake Discord voice server (ws:// gateway + UDP on 127.0.0.1; the
//! node needs its insecure-endpoint switch on, e.g. Basalt's `[voice] allow_insecure_endpoints`)
//! and reports CPU and RSS of the node's process, pacing lateness and delivered frames at the
//! voice server, and how long a volume, filter or seek change takes to be heard.

mod bench;
mod fakevoice;
mod measure;
mod media;
mod node;
mod progress;
mod report;
mod sysproc;

use std::path::PathBuf;

use bench::{Settings, Target};

const USAGE: &str = "\
usage: basalt-perf --node http://HOST:PORT [--node ...] --password PW [--password ...]
                   [--pid PID ...] [--players N | --ramp] [--out DIR]
                   [--seconds S] [--warmup S] [--change-players K] [--max-players M]

  --node URL          a Lavalink v4 node (repeat to compare nodes; they run one after another)
  --password PW       its password (one for all nodes, or one per --node in order)
  --pid PID           the node's process for CPU and RSS (one per --node in order; default:
                      the local process listening on the node's port, if visible)
  --players N         one run with N players (default 10)
  --ramp              double the players while runs pass (>= 99% frames delivered and
                      p99 lateness < 5 ms), then bisect: the most players that pass
  --out DIR           where report.json and report.svg go (default perf-report)
  --seconds S         measuring window per run (default 10)
  --warmup S          wait after the players start before measuring (default 3)
  --change-players K  players the volume/filter/seek changes are timed on (default 3)
  --max-players M     the ramp's upper bound (default 1000)

The node must accept ws:// voice endpoints (Basalt: [voice] allow_insecure_endpoints = true)
and load http:// URLs on 127.0.0.1 (its HTTP source).";

struct Args {
    nodes: Vec<String>,
    passwords: Vec<String>,
    pids: Vec<u32>,
    out: PathBuf,
    settings: Settings,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        nodes: Vec::new(),
        passwords: Vec::new(),
        pids: Vec::new(),
        out: PathBuf::from("perf-report"),
        settings: Settings {
            seconds: 10.0,
            warmup: 3.0,
            change_players: 3,
            ramp: false,
            players: 10,
            max_players: 1000,
        },
    };
    let mut players_given = false;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let num = |name: &str, v: String| {
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| format!("{name}: not a number: {v:?}"))
        };
        match flag.as_str() {
            "--node" => a.nodes.push(value("--node")?),
            "--password" => a.passwords.push(value("--password")?),
            "--pid" => {
                let v = value("--pid")?;
                a.pids
                    .push(v.parse().map_err(|_| format!("--pid: not a pid: {v:?}"))?);
            }
            "--players" => {
                a.settings.players = num("--players", value("--players")?)? as usize;
                players_given = true;
            }
            "--ramp" => a.settings.ramp = true,
            "--out" => a.out = PathBuf::from(value("--out")?),
            "--seconds" => a.settings.seconds = num("--seconds", value("--seconds")?)?.max(1.0),
            "--warmup" => a.settings.warmup = num("--warmup", value("--warmup")?)?,
            "--change-players" => {
                a.settings.change_players =
                    num("--change-players", value("--change-players")?)? as usize
            }
            "--max-players" => {
                a.settings.max_players = num("--max-players", value("--max-players")?)? as usize
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if a.nodes.is_empty() {
        return Err("at least one --node is needed".into());
    }
    if a.passwords.is_empty() {
        return Err("--password is needed".into());
    }
    if a.passwords.len() != 1 && a.passwords.len() != a.nodes.len() {
        return Err("give one --password, or one per --node".into());
    }
    if !a.pids.is_empty() && a.pids.len() != a.nodes.len() {
        return Err("give one --pid per --node (or none)".into());
    }
    if players_given && a.settings.ramp {
        return Err("--players and --ramp exclude each other".into());
    }
    if !a.settings.ramp && a.settings.players == 0 {
        return Err("--players must be at least 1".into());
    }
    for n in &a.nodes {
        node::parse_node_url(n)?;
    }
    Ok(a)
}

fn main() {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&raw) {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("basalt-perf: {e}\n");
            }
            eprintln!("{USAGE}");
            std::process::exit(if e.is_empty() { 0 } else { 2 });
        }
    };
    if let Err(e) = run(args) {
        eprintln!("basalt-perf: {e}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<(), String> {
    std::fs::create_dir_all(&args.out).map_err(|e| format!("--out {}: {e}", args.out.display()))?;
    let media = media::MediaServer::start().map_err(|e| format!("media server: {e}"))?;
    let voice = fakevoice::FakeVoice::start().map_err(|e| format!("fake voice server: {e}"))?;
    let mut progress = progress::Progress::new();
    let mut reports = Vec::new();
    for (i, url) in args.nodes.iter().enumerate() {
        let target = Target {
            url: url.trim_end_matches('/').to_string(),
            password: args.passwords.get(i).unwrap_or(&args.passwords[0]).clone(),
            pid: args.pids.get(i).copied(),
        };
        progress.set_stage(&target.url);
        reports.push(bench::run_node(
            &target,
            i,
            &media.url(),
            &voice,
            &args.settings,
            &mut progress,
        ));
    }
    progress.finish();
    let json = report::to_json(&reports, &args.settings, &media.url());
    let json_path = args.out.join("report.json");
    let svg_path = args.out.join("report.svg");
    std::fs::write(
        &json_path,
        serde_json::to_string_pretty(&json).unwrap_or_default() + "\n",
    )
    .map_err(|e| format!("{}: {e}", json_path.display()))?;
    std::fs::write(&svg_path, report::to_svg(&reports))
        .map_err(|e| format!("{}: {e}", svg_path.display()))?;
    print!("{}", report::table(&reports));
    println!("wrote {} and {}", json_path.display(), svg_path.display());
    let failed: Vec<String> = reports
        .iter()
        .filter_map(|r| r.error.as_ref().map(|e| format!("{}: {e}", r.url)))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Args, String> {
        parse_args(&s.split_whitespace().map(str::to_string).collect::<Vec<_>>())
    }

    #[test]
    fn arguments() {
        let a =
            args("--node http://127.0.0.1:2333 --password pw --players 4 --out /tmp/x").unwrap();
        assert_eq!(a.settings.players, 4);
        assert!(!a.settings.ramp);
        assert!(args("--node http://127.0.0.1:2333 --password pw --ramp --players 3").is_err());
        assert!(args("--password pw").is_err());
        assert!(args(
            "--node http://127.0.0.1:1 --node http://127.0.0.1:2 --password a --password b --pid 1"
        )
        .is_err());
        assert!(args("--node http://127.0.0.1:1 --password pw --players x").is_err());
        assert!(args("--node http://127.0.0.1:1 --password pw --frobnicate").is_err());
        assert_eq!(args("--help").err().as_deref(), Some(""));
    }
}
