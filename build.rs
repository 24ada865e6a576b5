//! Stamps the git branch, commit and commit time into the binary: `/v4/info` reports them
//! as Lavalink does. Values already in the environment win (packagers building from a
//! tarball can set them); without git or a repository they stay "unknown".

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    let stamps: [(&str, &[&str]); 3] = [
        ("BASALT_GIT_BRANCH", &["rev-parse", "--abbrev-ref", "HEAD"]),
        ("BASALT_GIT_COMMIT", &["rev-parse", "--short=7", "HEAD"]),
        ("BASALT_GIT_COMMIT_TIME", &["log", "-1", "--format=%ct"]),
    ];
    for (key, args) in stamps {
        println!("cargo:rerun-if-env-changed={key}");
        if std::env::var_os(key).is_some() {
            continue;
        }
        if let Some(v) = git(args) {
            println!("cargo:rustc-env={key}={v}");
        }
    }
    // Re-stamp when HEAD moves: HEAD itself (branch switch) and the branch's ref (commit).
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        let dir = Path::new(&dir);
        // In a linked worktree refs live in the common directory, HEAD in the worktree's.
        let common = git(&["rev-parse", "--git-common-dir"]).map(std::path::PathBuf::from);
        let common = common.as_deref().unwrap_or(dir);
        let mut watch = vec![dir.join("HEAD"), common.join("packed-refs")];
        if let Some(r) = git(&["rev-parse", "--symbolic-full-name", "HEAD"]) {
            watch.push(dir.join(&r));
            watch.push(common.join(r));
        }
        for p in watch.iter().filter(|p| p.exists()) {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    } else {
        println!("cargo:rerun-if-changed=build.rs");
    }
}
