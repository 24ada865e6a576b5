//! lavalink-client (the npm package) uses Basalt's plugin surface unmodified: its
//! `lavaSearch`, lyrics and SponsorBlock helpers against the real binary with mocked
//! upstreams (`tests/clients/lavalink_client_plugins.cjs`).
//!
//! Needs `node` and the package installed under `target/npm-client` (`.ci/run` does
//! `npm install lavalink-client@2.11.0` there); without them the test says so and passes,
//! except in CI (`CI` set), where it fails.

#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/mitm.rs"]
mod mitm;
#[path = "support/plugin_node.rs"]
mod plugin_node;
#[path = "support/poll.rs"]
mod poll;

use std::path::PathBuf;
use std::process::Command;

use mitm::{Mitm, Router};
use plugin_node::*;

#[test]
fn lavalink_client_plugin_helpers_work_against_basalt() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let modules = root.join("target/npm-client/node_modules");
    let have_node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_node || !modules.join("lavalink-client").exists() {
        let msg = "lavalink-client not installed (npm install --prefix target/npm-client lavalink-client@2.11.0)";
        assert!(std::env::var_os("CI").is_none(), "{msg}");
        eprintln!("skipped: {msg}");
        return;
    }
    let m = Mitm::start(lrclib_routes(media_routes(spotify_routes(Router::new()))));
    let node = start(
        "lavalink-client",
        &m,
        &format!("{LAVASRC_SPOTIFY}[plugins.lavasrc.lyrics_sources]\nlrc_lib = true\n"),
    );
    let out = Command::new("node")
        .arg(root.join("tests/clients/lavalink_client_plugins.cjs"))
        .env("NODE_PATH", &modules)
        .env("BASALT_HOST", "127.0.0.1")
        .env("BASALT_PORT", node.addr.port().to_string())
        .env("BASALT_PASSWORD", PW)
        .env("BASALT_GUILD", GUILD.to_string())
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "client script failed:\n{stdout}\n{stderr}"
    );
    assert!(!stdout.contains("FAIL"), "{stdout}");
    assert!(m.unrouted().is_empty(), "{:?}", m.unrouted());
}
