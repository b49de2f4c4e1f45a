//! What "the store is consistent" means after a crash, a full disk or a
//! crowd of concurrent writers: `system check` finds nothing corrupt,
//! stray or incomplete and exits 0 — only leftovers of stopped commands
//! (orphaned blobs of an unfinished pull or load, resumable downloads,
//! idle temporary files, stale cache entries, layer snapshots of an image
//! a killed `rmi` removed, unpacks a killed `create` left) — and every
//! file under `blobs/sha256` hashes to its name, checked here
//! independently of rimg's own check.

use super::rimg_command;
use rimg::digest::Digest;
use std::path::Path;

/// What a killed or failed command may leave behind: no image depends on
/// any, `--repair` removes each (a resumable download once it expires).
const REPAIRABLE: &[&str] = &[
    "orphaned blob ",
    "leftover temporary file ",
    "stale layer cache entry ",
    "resumable download ",
    "unused layer snapshot ",
    "unfinished layer snapshot ",
];

/// Runs `rimg system check` and fails the test on anything but repairable
/// leftovers. Returns the leftovers it reported.
#[track_caller]
pub fn assert_consistent(root: &Path, what: &str) -> Vec<String> {
    let out = rimg_command(root)
        .args(["system", "check"])
        .output()
        .expect("running rimg system check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines: Vec<&str> = stdout.lines().collect();
    let summary = lines.pop().unwrap_or_default();
    assert!(
        summary.starts_with("checked "),
        "{what}: system check failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unexpected: Vec<&&str> = lines
        .iter()
        .filter(|l| !REPAIRABLE.iter().any(|p| l.starts_with(p)))
        .collect();
    assert!(
        unexpected.is_empty(),
        "{what}: the store is inconsistent: {unexpected:?}"
    );
    assert!(
        out.status.success(),
        "{what}: leftovers are not damage, yet system check failed: {stdout}"
    );
    assert_eq!(
        summary.contains(" leftover(s) of stopped commands "),
        !lines.is_empty(),
        "{what}: the summary does not count the leftovers: {stdout}"
    );
    assert_blobs_verify(root, what);
    lines.into_iter().map(str::to_string).collect()
}

/// Every file under `blobs/sha256` hashes to its name: no partial or
/// corrupt blob is ever visible.
#[track_caller]
pub fn assert_blobs_verify(root: &Path, what: &str) {
    let Ok(entries) = std::fs::read_dir(root.join("blobs/sha256")) else {
        return; // the command died before creating the store
    };
    for entry in entries {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let bytes = std::fs::read(entry.path()).unwrap();
        assert_eq!(
            Digest::of(&bytes).hex(),
            name,
            "{what}: blobs/sha256/{name} does not hash to its name"
        );
    }
}

/// `system check --repair` removes every leftover, after which the store
/// checks clean.
#[track_caller]
pub fn assert_repairs_clean(root: &Path, what: &str) {
    let repair = rimg_command(root)
        .args(["system", "check", "--repair"])
        .output()
        .unwrap();
    assert!(repair.status.success(), "{what}: repair failed: {repair:?}");
    let check = rimg_command(root)
        .args(["system", "check"])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{what}: not clean after repair: {}",
        String::from_utf8_lossy(&check.stdout)
    );
}
