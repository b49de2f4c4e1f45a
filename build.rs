//! Build facts `rimg version` prints, as `docker version` prints its own:
//! the git commit, the build time and the compiler.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// A command's trimmed output, if it ran and succeeded.
fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let commit = output("git", &["rev-parse", "--short=7", "HEAD"]).unwrap_or_default();
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rust = output(&rustc, &["--version"]).unwrap_or_default();
    // SOURCE_DATE_EPOCH, when set, makes the build reproducible.
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
    println!("cargo:rustc-env=RIMG_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=RIMG_RUST_VERSION={rust}");
    println!("cargo:rustc-env=RIMG_BUILD_EPOCH={epoch}");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    // Measured again when HEAD moves: the commit, and the branch it names
    // (in the common directory for a worktree, loose or packed). Only files
    // that exist are named: cargo reruns a build script that names a
    // missing one on every build, which would rebuild rimg every time.
    let mut watched = Vec::new();
    if let Some(git_dir) = output("git", &["rev-parse", "--git-dir"]) {
        watched.push(format!("{git_dir}/HEAD"));
    }
    if let (Some(common), Some(branch)) = (
        output("git", &["rev-parse", "--git-common-dir"]),
        output("git", &["symbolic-ref", "-q", "HEAD"]),
    ) {
        watched.push(format!("{common}/{branch}"));
        watched.push(format!("{common}/packed-refs"));
    }
    for path in watched.iter().filter(|p| std::path::Path::new(p).exists()) {
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
