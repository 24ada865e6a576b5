//! Run-time WASM filters through the real binary: the example module
//! (`plugins/wasm/gain.wat`) loads from `[plugins] wasm_dir`, answers to
//! `pluginFilters.gain`, changes the audio heard at the fake voice server within a frame or
//! two, unloads and reloads over REST; a module that traps, overruns its deadline or grows
//! its memory while processing is switched off for that player only (an event and a
//! metric) while another player on the node keeps its level and cadence.
#![cfg(feature = "wasm-plugins")]

#[path = "support/fake_voice/mod.rs"]
mod fake_voice;
#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/ops_node.rs"]
mod ops_node;
#[path = "support/poll.rs"]
mod poll;

use std::path::{Path, PathBuf};
use std::time::Duration;

use fake_voice::FakeVoice;
use ops_node::*;
use serde_json::{json, Value};

const PW: &str = "wasm-pw";

fn example() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/wasm/gain.wat"))
        .expect("plugins/wasm/gain.wat")
}

/// The example with `prefix` run at the start of every `basalt_process` call.
fn variant(prefix: &str) -> String {
    let marker = "(local.set $g (f32.load offset=4 (call $slot (local.get $h))))";
    let src = example();
    assert!(src.contains(marker));
    src.replace(marker, &format!("{prefix}\n    {marker}"))
}

/// A directory with the example and three broken variants.
fn wasm_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("basalt-wasm-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("gain.wat"), example()).unwrap();
    std::fs::write(dir.join("trap.wat"), variant("(unreachable)")).unwrap();
    std::fs::write(
        dir.join("spin.wat"),
        variant("(loop $forever (br $forever))"),
    )
    .unwrap();
    let grow = variant("(drop (memory.grow (i32.const 1)))").replace(
        "(memory (export \"memory\") 1 1)",
        "(memory (export \"memory\") 1 4)",
    );
    std::fs::write(dir.join("grow.wat"), grow).unwrap();
    dir
}

fn start(tag: &str, dir: &Path) -> Node {
    let port = free_port();
    let config = config_text(
        port,
        PW,
        "",
        &format!(
            "[metrics]\nprometheus = true\n\n[plugins]\nwasm_dir = \"{}\"\n",
            dir.display()
        ),
    );
    Node::start(tag, port, &config)
}

/// RMS of the left channel of each decoded 20 ms packet.
fn levels(f: &FakeVoice) -> Vec<f64> {
    let pcm = fake_voice::decode(&f.packets());
    pcm.chunks(1920).map(fake_voice::rms).collect()
}

fn wait_packets(f: &FakeVoice, n: usize, secs: u64) {
    assert!(
        f.wait(Duration::from_secs(secs), |s| s.packets.len() >= n),
        "only {} packets",
        f.packets().len()
    );
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap().to_string())
        .collect()
}

/// Plays a sine on `guild` through `f`, with `filters` set before it starts.
fn play(node: &Node, sid: &str, guild: u64, f: &FakeVoice, wav: &Path, filters: Value) {
    let c = node.client(PW);
    let mut body: Value = serde_json::from_str(&play_body(f, wav)).unwrap();
    body["filters"] = filters;
    let r = c.patch(
        &format!("/v4/sessions/{sid}/players/{guild}"),
        &body.to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

/// The first packet index from `from` on whose level is within 20 % of `want`.
fn first_at(levels: &[f64], from: usize, want: f64) -> Option<usize> {
    (from..levels.len()).find(|&i| (levels[i] - want).abs() < 0.2 * want)
}

#[test]
fn a_wasm_filter_changes_the_audio_within_a_frame_then_unloads_and_reloads() {
    let dir = wasm_dir("life");
    let node = start("wasm-life", &dir);
    let c = node.client(PW);
    let list = c.get("/v4/wasm/filters").json();
    for n in ["gain", "trap", "spin", "grow"] {
        assert!(names(&list).contains(&n.to_string()), "{list}");
    }
    let info = c.get("/v4/info").json();
    assert!(
        info["filters"].as_array().unwrap().contains(&json!("gain")),
        "{info}"
    );

    let (_ws, sid) = session(&node, PW);
    const GUILD: u64 = 811_000_000_000_000_001;
    let f = voice(GUILD);
    let wav = sine_wav(&node.dir, "sine.wav", 8.0);
    play(&node, &sid, GUILD, &f, &wav, json!({}));
    wait_packets(&f, 60, 15);
    let full = levels(&f)[30..55].iter().sum::<f64>() / 25.0;
    assert!(full > 3000.0, "level before {full}");

    // A quarter of the gain, heard within two packets of the PATCH answer.
    let player = format!("/v4/sessions/{sid}/players/{GUILD}");
    let at = f.packets().len();
    let r = c.patch(
        &player,
        r#"{"filters": {"pluginFilters": {"gain": {"gain": 0.25}}}}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["filters"]["pluginFilters"]["gain"],
        json!({"gain": 0.25})
    );
    wait_packets(&f, at + 25, 10);
    let lv = levels(&f);
    let first = first_at(&lv, at, full * 0.25).expect("quarter level never heard");
    assert!(
        first <= at + 2,
        "heard at packet {first}, PATCH answered at {at}: {lv:?}"
    );
    let after = lv[at + 5..at + 20].iter().sum::<f64>() / 15.0;
    assert!((after / full - 0.25).abs() < 0.05, "ratio {}", after / full);

    // A configuration the module refuses is the client's error; nothing changes.
    let r = c.patch(
        &player,
        r#"{"filters": {"pluginFilters": {"gain": {"gain": 50}}}}"#,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("pluginFilters.gain"));

    // Unload: the player drops the filter at its next frame, full level again; the key is
    // then ignored like any unknown plugin filter.
    let at = f.packets().len();
    assert_eq!(c.delete("/v4/wasm/filters/gain").status, 204);
    wait_packets(&f, at + 20, 10);
    let lv = levels(&f);
    assert!(
        first_at(&lv, at, full).is_some_and(|i| i <= at + 3),
        "{lv:?}"
    );
    let r = c.patch(
        &player,
        r#"{"filters": {"pluginFilters": {"gain": {"gain": 0.5}}}}"#,
    );
    assert_eq!(r.status, 200);
    assert!(
        r.json()["filters"]["pluginFilters"].get("gain").is_none(),
        "{}",
        r.text()
    );
    assert!(!names(&c.get("/v4/wasm/filters").json()).contains(&"gain".to_string()));
    assert_eq!(c.delete("/v4/wasm/filters/gain").status, 404);

    // Load it again by name; errors for bad names and missing files.
    let r = c.post("/v4/wasm/filters/gain", "");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["name"], "gain");
    assert_eq!(c.post("/v4/wasm/filters/nope", "").status, 404);
    assert_eq!(c.post("/v4/wasm/filters/..%2Fetc", "").status, 400);
    let at = f.packets().len();
    let r = c.patch(
        &player,
        r#"{"filters": {"pluginFilters": {"gain": {"gain": 0.5}}}}"#,
    );
    assert_eq!(r.status, 200);
    wait_packets(&f, at + 15, 10);
    let lv = levels(&f);
    assert!(
        first_at(&lv, at, full * 0.5).is_some_and(|i| i <= at + 2),
        "{lv:?}"
    );

    // Reload while in use: the player keeps its filter (re-applied from its stored
    // configuration to the new module), the level stays at half.
    let at = f.packets().len();
    let r = c.post("/v4/wasm/filters/gain", "");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["generation"].as_u64() > Some(0));
    wait_packets(&f, at + 20, 10);
    let lv = levels(&f);
    let after = lv[at + 5..at + 20].iter().sum::<f64>() / 15.0;
    assert!(
        (after / full - 0.5).abs() < 0.07,
        "after a reload: ratio {}",
        after / full
    );

    // Rescan: a new file appears, a removed one goes.
    std::fs::write(dir.join("second.wat"), example()).unwrap();
    std::fs::remove_file(dir.join("spin.wat")).unwrap();
    let r = c.post("/v4/wasm/rescan", "").json();
    assert_eq!(r["loaded"], json!(["second"]), "{r}");
    assert_eq!(r["unloaded"], json!(["spin"]), "{r}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_faulting_filter_stops_for_its_player_only() {
    let dir = wasm_dir("fault");
    let node = start("wasm-fault", &dir);
    let c = node.client(PW);
    let (mut ws, sid) = session(&node, PW);
    const CANARY: u64 = 811_000_000_000_000_002;
    const VICTIM: u64 = 811_000_000_000_000_003;
    let (fc, fv) = (voice(CANARY), voice(VICTIM));
    let wav = sine_wav(&node.dir, "sine.wav", 10.0);
    play(
        &node,
        &sid,
        CANARY,
        &fc,
        &wav,
        json!({"pluginFilters": {"gain": {"gain": 0.5}}}),
    );
    play(&node, &sid, VICTIM, &fv, &wav, json!({}));
    wait_packets(&fv, 40, 15);
    let victim = format!("/v4/sessions/{sid}/players/{VICTIM}");
    for (module, why) in [("trap", "trapped"), ("spin", "deadline"), ("grow", "grow")] {
        let body = json!({"filters": {"pluginFilters": {module: {"gain": 1.0}}}});
        let r = c.patch(&victim, &body.to_string());
        assert_eq!(r.status, 200, "{}", r.text());
        let ev = ws.expect(
            "event",
            Some("WasmFilterFaultEvent"),
            Duration::from_secs(10),
        );
        assert_eq!(ev["guildId"], VICTIM.to_string(), "{ev}");
        assert_eq!(ev["filter"], module, "{ev}");
        assert!(ev["reason"].as_str().unwrap().contains(why), "{ev}");
    }
    // The victim's audio went on (unfiltered), the canary kept its gain and its cadence.
    let n = fv.packets().len();
    wait_packets(&fv, n + 25, 10);
    let lv = levels(&fv);
    let tail = lv[lv.len() - 20..].iter().sum::<f64>() / 20.0;
    assert!(tail > 3000.0, "victim level {tail}");
    let canary = fc.packets();
    let gaps: Vec<Duration> = canary
        .windows(2)
        .skip(10)
        .map(|w| w[1].at.duration_since(w[0].at))
        .collect();
    let worst = gaps.iter().max().copied().unwrap_or_default();
    assert!(worst < Duration::from_millis(120), "canary gap {worst:?}");
    let lc = levels(&fc);
    let mid = lc[10..lc.len() - 2].iter().sum::<f64>() / (lc.len() - 12) as f64;
    assert!((2000.0..3500.0).contains(&mid), "canary level {mid}");

    let metrics = c.get("/metrics").text();
    for m in ["trap", "spin", "grow"] {
        let line = format!("basalt_wasm_filter_faults_total{{filter=\"{m}\"}} 1");
        assert!(metrics.contains(&line), "{line} missing:\n{metrics}");
    }
    // Each faulty filter is reported in the log once, for its player only.
    poll::wait_until("three 'switched off' log lines", poll::DEADLINE, || {
        node.stderr().matches("switched off").count() >= 3
    });
    let _ = std::fs::remove_dir_all(&dir);
}
