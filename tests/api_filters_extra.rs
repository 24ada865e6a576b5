//! The extra filters through the real binary (plugins.md §7.3): listed in `/v4/info`
//! (`filters` in order, `lavadspx-plugin` in `plugins`), echoed in PATCH answers like the
//! built-ins, and disableable in `[filters]` by snake_case name or LavaDSPX's literal name.

#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/poll.rs"]
mod poll;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use http_client::*;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_basalt");

struct Running {
    child: Child,
    client: Client,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary on a config that disables LavaDSPX's `high-pass` and the top-level `reverb`.
fn spawn() -> Running {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg =
        std::env::temp_dir().join(format!("basalt-extra-filters-{}.toml", std::process::id()));
    std::fs::write(
        &cfg,
        format!(
            "[server]\naddress = \"127.0.0.1\"\nport = {port}\npassword = \"pw\"\n\n\
             [player]\nrealtime_pacer = false\n\n\
             [filters]\n\"high-pass\" = false\nreverb = false\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let client = Client::new(format!("127.0.0.1:{port}").parse().unwrap(), "pw");
    poll::wait_listening(&mut child, client.addr);
    Running { child, client }
}

#[test]
fn extra_filters_listed_echoed_and_disableable() {
    let r = spawn();
    let c = r.client.clone();
    let info = c.get("/v4/info").json();
    assert_eq!(
        info["filters"],
        json!([
            "volume",
            "equalizer",
            "karaoke",
            "timescale",
            "tremolo",
            "vibrato",
            "distortion",
            "rotation",
            "channelMix",
            "lowPass",
            "echo",
            "low-pass",
            "normalization",
            "highPass",
            "chorus",
            "flanger",
            "phaser",
            "compressor",
            "spatial"
        ])
    );
    assert_eq!(info["plugins"][0]["name"], "lavadspx-plugin");

    let mut ws = c.ws(None);
    let ready = ws.next(Duration::from_secs(5)).unwrap().unwrap();
    let sid = ready["sessionId"].as_str().unwrap().to_string();
    let path = format!("/v4/sessions/{sid}/players/1");

    let body = json!({"filters": {
        "volume": 0.8,
        "echo": {"delay": 250, "feedback": 0.4, "mix": 0.5, "transition": {"durationMs": 200}},
        "highPass": {"cutoffFrequency": 80},
        "chorus": {"rate": 1.5, "depth": 0.7},
        "flanger": {"rate": 0.3},
        "phaser": {"rate": 0.5, "stages": 6},
        "compressor": {"gain": 2},
        "spatial": {"depth": 0.6},
        "pluginFilters": {
            "low-pass": {"cutoffFrequency": 2000, "boostFactor": 1.5},
            "echo": {"echoLength": 0.3, "decay": 0.5},
            "normalization": {"maxAmplitude": 0.8, "adaptive": false}
        }
    }});
    let resp = c.patch(&path, &body.to_string());
    assert_eq!(resp.status, 200, "{}", resp.text());
    let f = &resp.json()["filters"];
    let keys: Vec<&str> = f.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "volume",
            "echo",
            "highPass",
            "chorus",
            "flanger",
            "phaser",
            "compressor",
            "spatial",
            "pluginFilters"
        ]
    );
    assert_eq!(
        f["echo"],
        json!({"delay": 250.0, "feedback": 0.4, "mix": 0.5})
    );
    assert_eq!(
        f["highPass"],
        json!({"cutoffFrequency": 80.0, "boostFactor": 1.0})
    );
    assert_eq!(
        f["chorus"],
        json!({"rate": 1.5, "depth": 0.7, "delay": 25.0, "mix": 0.5, "feedback": 0.0})
    );
    assert_eq!(
        f["compressor"],
        json!({"threshold": -24.0, "ratio": 4.0, "attack": 0.01, "release": 0.1, "makeupGain": 2.0})
    );
    assert_eq!(f["phaser"]["stages"], 6);
    assert_eq!(
        f["pluginFilters"]["low-pass"],
        json!({"cutoffFrequency": 2000, "boostFactor": 1.5})
    );
    // GET shows the same set.
    assert_eq!(&c.get(&path).json()["filters"], f);

    // `"high-pass" = false` disables LavaDSPX's key only: top-level `highPass` stays on.
    let resp = c.patch(
        &path,
        r#"{"filters":{"pluginFilters":{"high-pass":{"cutoffFrequency":80}}}}"#,
    );
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.json()["message"],
        "Following filters are disabled in the config: high-pass"
    );
    let resp = c.patch(
        &path,
        r#"{"filters":{"reverb":null,"highPass":{"smoothing":20}}}"#,
    );
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.json()["message"],
        "Following filters are disabled in the config: reverb"
    );
    let resp = c.patch(&path, r#"{"filters":{"highPass":{"smoothing":20}}}"#);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        resp.json()["filters"],
        json!({"highPass": {"smoothing": 20.0}})
    );

    // A wrong type in an extra is a 400 naming the field.
    let resp = c.patch(&path, r#"{"filters":{"compressor":{"ratio":"high"}}}"#);
    assert_eq!(resp.status, 400);
    let msg = resp.json()["message"].as_str().unwrap().to_string();
    assert!(msg.contains("filters.compressor.ratio"), "{msg}");
}
