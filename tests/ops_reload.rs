//! Config reload on SIGHUP through the real binary: the file is rewritten, SIGHUP sent,
//! and the live keys (password, filters, sources, plugins, logging, rate limits) change
//! in `/v4/info` and at the door, while a player keeps playing across it; other keys are
//! named once per reload as needing a restart; a bad file is refused and the running
//! configuration stays.

#[path = "support/fake_voice/mod.rs"]
mod fake_voice;
#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/ops_node.rs"]
mod ops_node;
#[path = "support/poll.rs"]
mod poll;

use std::time::{Duration, Instant};

use ops_node::*;
use serde_json::{json, Value};

const GUILD: u64 = 817_327_181_659_111_454;

/// Whether a `/v4/info` list (of names, or of objects with a `name`) holds `name`.
fn has(v: &Value, name: &str) -> bool {
    names(v).iter().any(|n| n == name)
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| {
            x.as_str()
                .map_or_else(|| x["name"].as_str().unwrap().to_string(), str::to_string)
        })
        .collect()
}

/// Sends SIGHUP and waits for the reload's verdict in the log (the `n`-th).
fn sighup(node: &Node, n: usize, verdict: &str) {
    node.signal(libc::SIGHUP);
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let log = node.stderr();
        if log.matches(verdict).count() >= n {
            return;
        }
        assert!(
            Instant::now() < end,
            "no {verdict:?} #{n} in the log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(30));
    }
}

#[test]
fn sighup_applies_live_keys_and_the_player_keeps_playing() {
    let port = free_port();
    let first = config_text(
        port,
        "pw-one",
        "workers = 8",
        "[filters]\ntimescale = true\n\n[logging]\nlevel = \"info\"\n\n\
         [plugins.sponsorblock]\nenabled = true\n",
    );
    let node = Node::start("reload", port, &first);
    let one = node.client("pw-one");
    let info = one.get("/v4/info").json();
    assert!(has(&info["filters"], "timescale"), "{info}");
    assert!(has(&info["sourceManagers"], "http"), "{info}");
    assert!(has(&info["plugins"], "sponsorblock-plugin"), "{info}");

    // a player plays a 4 s track through the reload
    let (mut ws, sid) = session(&node, "pw-one");
    let f = voice(GUILD);
    let wav = sine_wav(&node.dir, "sine.wav", 4.0);
    let player = format!("/v4/sessions/{sid}/players/{GUILD}");
    let r = one.patch(&player, &play_body(&f, &wav));
    assert_eq!(r.status, 200, "{}", r.text());
    ws.expect("event", Some("TrackStartEvent"), Duration::from_secs(10));
    let categories = format!("{player}/sponsorblock/categories");
    let r = one.send_json("PUT", &categories, r#"["sponsor"]"#);
    assert!((200..300).contains(&r.status), "{} {}", r.status, r.text());
    assert_eq!(one.get(&categories).json(), json!(["sponsor"]));

    // new password, timescale off, http source off, SponsorBlock off, workers changed
    // (restart only), logging quieter
    let second = config_text(
        port,
        "pw-two",
        "workers = 9",
        "[filters]\ntimescale = false\n\n[logging]\nlevel = \"warn\"\n\n\
         [plugins.sponsorblock]\nenabled = false\n\n[plugins.lavasrc.sources]\ndeezer = true\n",
    )
    .replace("vimeo = false\n", "vimeo = false\nhttp = false\n");
    node.rewrite_config(&second);
    sighup(&node, 1, "server.workers needs a restart");
    // The verdict is logged before the new config is applied, and the new password takes
    // effect before sources and plugins are swapped (the last step; its log line is at info
    // level, which this reload silences): wait for the swapped plugin list.
    poll::wait_until("the reload to apply", poll::DEADLINE, || {
        let info = node.client("pw-two").get("/v4/info");
        info.status == 200 && {
            let info = info.json();
            !has(&info["plugins"], "sponsorblock-plugin") && has(&info["sourceManagers"], "deezer")
        }
    });
    let log = node.stderr();
    assert_eq!(log.matches("needs a restart").count(), 1, "{log}");

    // auth: the old password is wrong now, the new one works
    assert_eq!(one.get("/v4/info").status, 403);
    let two = node.client("pw-two");
    let info = two.get("/v4/info").json();
    assert!(!has(&info["filters"], "timescale"), "{info}");
    assert!(has(&info["filters"], "volume"), "{info}");
    assert!(!has(&info["sourceManagers"], "http"), "{info}");
    assert!(has(&info["sourceManagers"], "local"), "{info}");
    assert!(!has(&info["plugins"], "sponsorblock-plugin"), "{info}");
    // LavaSrc's Deezer source switched on: the source, LavaSrc and LavaSearch appear
    assert!(has(&info["sourceManagers"], "deezer"), "{info}");
    assert!(has(&info["plugins"], "lavasrc-plugin"), "{info}");
    assert!(has(&info["plugins"], "lavasearch-plugin"), "{info}");
    // the disabled plugin's routes and the disabled source stop claiming
    let r = two.get(&categories);
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json()["message"],
        json!("Not Found"),
        "the core router answers"
    );
    let load = two.get("/v4/loadtracks?identifier=https%3A%2F%2Fexample.com%2Fa.mp3");
    assert_eq!(load.json()["loadType"], json!("empty"), "{}", load.text());
    // a disabled filter is refused
    let r = two.patch(&player, r#"{"filters": {"timescale": {"speed": 1.1}}}"#);
    assert_eq!(r.status, 400, "{}", r.text());
    // the existing socket and player are untouched: the track plays to its end
    let end = ws.expect("event", Some("TrackEndEvent"), Duration::from_secs(10));
    assert_eq!(end["reason"], json!("finished"), "{end}");
    let packets = f.packets().len();
    assert!(
        packets >= 150,
        "played through the reload: {packets} packets"
    );
    // a new session with the new password
    let (ws2, _) = session(&node, "pw-two");
    ws2.close();

    // a bad file is refused with its key and file named; the running config stays
    let bad = second.replace("[filters]\n", "[filters]\nbogus_filter = true\n");
    node.rewrite_config(&bad);
    sighup(&node, 1, "config reload refused");
    let log = node.stderr();
    let line = log
        .lines()
        .find(|l| l.contains("config reload refused"))
        .unwrap()
        .to_string();
    assert!(line.contains("filters.bogus_filter"), "{line}");
    assert!(line.contains("config.toml"), "{line}");
    assert_eq!(two.get("/v4/info").status, 200);
    assert_eq!(one.get("/v4/info").status, 403);
    // logging is at `warn` now: this reload's info line was not written
    assert_eq!(log.matches("SIGHUP received").count(), 1, "{log}");

    // plugins and rate limits switched back on/tightened live
    let third = config_text(
        port,
        "pw-two",
        "workers = 9\nrate_limit_allow = []\nrequests_per_s_per_ip = 1\nrequest_burst_per_ip = 3",
        "[logging]\nlevel = \"info\"\n\n[plugins.sponsorblock]\nenabled = true\n",
    );
    node.rewrite_config(&third);
    sighup(&node, 1, "configuration reloaded");
    let info = two.get("/v4/info").json();
    assert!(has(&info["plugins"], "sponsorblock-plugin"), "{info}");
    assert!(has(&info["filters"], "timescale"), "{info}");
    assert!(has(&info["sourceManagers"], "http"), "{info}");
    // Deezer off again: its source, LavaSrc and LavaSearch are gone
    assert!(!has(&info["sourceManagers"], "deezer"), "{info}");
    assert!(!has(&info["plugins"], "lavasrc-plugin"), "{info}");
    assert!(!has(&info["plugins"], "lavasearch-plugin"), "{info}");
    assert_eq!(two.get("/v4/loadsearch?query=dzsearch%3Aabc").status, 404);
    // the plugin came back as it was: the categories set before are still there
    assert_eq!(two.get(&categories).json(), json!(["sponsor"]));
    let statuses: Vec<u16> = (0..6).map(|_| two.get("/version").status).collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    let log = node.stderr();
    assert_eq!(
        log.matches("server.workers needs a restart").count(),
        2,
        "{log}"
    );
}
