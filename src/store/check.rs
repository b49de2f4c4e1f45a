//! `system check`: verifies the whole store against its own digests and
//! finds what a crash or a foreign tool may have left behind. Damage (a
//! corrupt blob, a stray file, an incomplete image) is told apart from
//! what a stopped command legitimately leaves (orphaned verified blobs,
//! resumable downloads, idle temporary files, stale cache entries): those
//! are only reclaimable space.

use super::{io_context, Cached, Result, Store, StoreError, StoreLock};
use crate::digest::Digest;
use crate::oci::{annotation, media_type, Index, Manifest};
use std::collections::BTreeSet;
use std::fmt;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A download cut short stays resumable this long; `--repair` and the
/// commands that sweep the store remove older ones.
pub const PARTIAL_EXPIRY: Duration = Duration::from_secs(24 * 60 * 60);

/// An idle temporary file older than this belongs to no running command
/// (each holds its own locked) and is swept by commands taking a lease.
pub const TEMP_EXPIRY: Duration = Duration::from_secs(60 * 60);

/// Something wrong with the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A blob whose content does not hash to its name.
    CorruptBlob { digest: Digest, actual: Digest },
    /// A file under `blobs/sha256/` that is not named by a digest.
    StrayFile(PathBuf),
    /// A blob an index entry needs but the store lacks (or cannot parse).
    Incomplete {
        name: String,
        digest: Digest,
        reason: String,
    },
    /// A blob no index entry references and no live writer's lease names.
    Orphan { digest: Digest, size: u64 },
    /// A temporary file no running rimg is writing, or the lease of a
    /// writer that died.
    Leftover(PathBuf),
    /// A cached layer measurement for a blob that is gone.
    StaleCache(PathBuf),
    /// A download no running rimg is writing: the next pull of the blob
    /// resumes it. `--repair` removes it once it has expired.
    Resumable { path: PathBuf, size: u64 },
    /// A layer snapshot no image, container or mount uses: what a killed
    /// `rmi` or `rm` did not get to remove. Found by `container::check`,
    /// which knows the containers (the store does not).
    UnusedSnapshot { chain: Digest, size: u64 },
    /// A layer snapshot's unpack (or removal) a killed command left an
    /// hour ago or more. Found by `container::check`, as unused snapshots
    /// are.
    UnfinishedSnapshot { path: PathBuf, size: u64 },
}

impl Problem {
    /// Whether this is damage, as opposed to what a stopped command
    /// leaves and `--repair` may reclaim.
    pub fn is_damage(&self) -> bool {
        matches!(
            self,
            Problem::CorruptBlob { .. } | Problem::StrayFile(_) | Problem::Incomplete { .. }
        )
    }

    /// The bytes a leftover takes on disk (none for damage).
    fn reclaimable(&self) -> u64 {
        match self {
            Problem::Orphan { size, .. }
            | Problem::Resumable { size, .. }
            | Problem::UnusedSnapshot { size, .. }
            | Problem::UnfinishedSnapshot { size, .. } => *size,
            Problem::Leftover(path) | Problem::StaleCache(path) => {
                fs::metadata(path).map_or(0, |m| m.len())
            }
            _ => 0,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::CorruptBlob { digest, actual } => {
                write!(f, "corrupt blob {digest}: its content hashes to {actual}")
            }
            Problem::StrayFile(p) => write!(f, "stray file {}", p.display()),
            Problem::Incomplete {
                name,
                digest,
                reason,
            } => write!(f, "incomplete image {name}: blob {digest} {reason}"),
            Problem::Orphan { digest, size } => {
                write!(
                    f,
                    "orphaned blob {digest} ({size} bytes), referenced by no image"
                )
            }
            Problem::Leftover(p) => write!(f, "leftover temporary file {}", p.display()),
            Problem::StaleCache(p) => write!(f, "stale layer cache entry {}", p.display()),
            Problem::Resumable { path, size } => write!(
                f,
                "resumable download {} ({size} bytes), kept for the next pull",
                path.display()
            ),
            Problem::UnusedSnapshot { chain, size } => write!(
                f,
                "unused layer snapshot {chain} ({size} bytes), named by no image, container or mount"
            ),
            Problem::UnfinishedSnapshot { path, size } => write!(
                f,
                "unfinished layer snapshot {} ({size} bytes), left by a stopped unpack or removal",
                path.display()
            ),
        }
    }
}

#[derive(Debug, Default)]
pub struct CheckReport {
    pub blobs: usize,
    pub entries: usize,
    /// Problems still present after the check (and any repair).
    pub problems: Vec<Problem>,
    /// Problems `--repair` fixed.
    pub repaired: Vec<Problem>,
}

impl CheckReport {
    /// The damage found: what makes `system check` fail.
    pub fn damage(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.is_damage())
    }

    /// What stopped commands left that is still there, with the bytes it
    /// takes.
    pub fn leftovers(&self) -> (usize, u64) {
        self.problems
            .iter()
            .filter(|p| !p.is_damage())
            .fold((0, 0), |(n, bytes), p| (n + 1, bytes + p.reclaimable()))
    }
}

impl Store {
    /// Verifies every blob's digest, that every index entry resolves to a
    /// complete image, and looks for orphans and leftovers. With `repair`,
    /// removes corrupt and orphaned blobs, stray files, stale cache entries,
    /// leftover temporary files and stale leases. Holds the store lock
    /// throughout, so no other rimg changes the index meanwhile; blobs a
    /// live writer holds a lease on are not orphans.
    pub fn check(&self, repair: bool) -> Result<CheckReport> {
        let lock = self.lock()?;
        let index = self.read_index()?;
        let mut report = CheckReport {
            entries: index.manifests.len(),
            ..CheckReport::default()
        };
        let mut found = Vec::new();
        let mut present = BTreeSet::new();
        for entry in read_dir(&self.blob_dir())? {
            let Ok(digest) = blob_digest(&entry) else {
                found.push(Problem::StrayFile(entry.path()));
                continue;
            };
            report.blobs += 1;
            match self.verify_blob(&digest) {
                Ok(_) => {
                    present.insert(digest);
                }
                Err(StoreError::Mismatch { actual, .. }) => {
                    found.push(Problem::CorruptBlob { digest, actual })
                }
                Err(e) => return Err(e),
            }
        }
        found.extend(self.incomplete_images(&index, &present));
        let mut referenced = self.referenced_blobs(&index)?;
        // Read after listing the blobs, as `remove_blobs` does.
        referenced.extend(self.leased_blobs()?);
        for digest in present.difference(&referenced) {
            let size = fs::metadata(self.blob_path(digest)).map_or(0, |m| m.len());
            found.push(Problem::Orphan {
                digest: digest.clone(),
                size,
            });
        }
        for entry in read_dir(&self.tmp_dir())? {
            // A live writer holds its temporary file locked.
            if idle(&entry.path()).is_some() {
                found.push(Problem::Leftover(entry.path()));
            }
        }
        for path in self.idle_partials()? {
            let size = fs::metadata(&path).map_or(0, |m| m.len());
            found.push(Problem::Resumable { path, size });
        }
        found.extend(self.stale_leases()?.into_iter().map(Problem::Leftover));
        for entry in read_dir(&self.layer_info_dir())? {
            let name = entry.file_name().to_string_lossy().into_owned();
            let described = present.iter().find(|d| d.hex() == name);
            if !described.is_some_and(|d| self.layer_info_is_true(d)) {
                found.push(Problem::StaleCache(entry.path()));
            }
        }
        for problem in found {
            if !repair {
                report.problems.push(problem);
                continue;
            }
            let fixed = match &problem {
                Problem::CorruptBlob { digest, .. } | Problem::Orphan { digest, .. } => {
                    // A writer may have leased it since it was found.
                    let one = BTreeSet::from([digest.clone()]);
                    !self.remove_blobs(&lock, &one, &BTreeSet::new())?.is_empty()
                        || !self.has_blob(digest)
                }
                Problem::StrayFile(path) | Problem::Leftover(path) | Problem::StaleCache(path) => {
                    fs::remove_file(path).is_ok() || !path.exists()
                }
                Problem::Resumable { path, .. } => remove_if_expired(path, PARTIAL_EXPIRY),
                // Pulling or loading the image again is the repair.
                Problem::Incomplete { .. } => false,
                // Not the store's to find (see `container::check`).
                Problem::UnusedSnapshot { .. } | Problem::UnfinishedSnapshot { .. } => false,
            };
            if fixed {
                report.repaired.push(problem);
            } else {
                report.problems.push(problem);
            }
        }
        Ok(report)
    }

    /// Partial downloads no live process holds.
    fn idle_partials(&self) -> Result<Vec<PathBuf>> {
        let dir = self.partial_dir();
        if !dir.exists() {
            return Ok(Vec::new());
        }
        Ok(read_dir(&dir)?
            .into_iter()
            .map(|e| e.path())
            .filter(|p| idle(p).is_some())
            .collect())
    }

    /// Removes idle temporary files older than [`TEMP_EXPIRY`] and
    /// partial downloads older than [`PARTIAL_EXPIRY`], so that what
    /// killed commands leave does not pile up. Best effort: a file that
    /// cannot be removed now is tried again next time.
    pub(super) fn sweep_expired(&self) {
        let expired = |dir: PathBuf, age: Duration| {
            for entry in read_dir(&dir).unwrap_or_default() {
                remove_if_expired(&entry.path(), age);
            }
        };
        expired(self.tmp_dir(), TEMP_EXPIRY);
        expired(self.partial_dir(), PARTIAL_EXPIRY);
    }

    /// Reclaims what stopped commands left and no live process holds:
    /// blobs no index entry references and no lease names, and expired
    /// temporary files and partial downloads (see `sweep_expired`). For
    /// `image prune`; returns the bytes the blobs took.
    pub fn reclaim_leftovers(&self, lock: &StoreLock) -> Result<u64> {
        let present: BTreeSet<Digest> = read_dir(&self.blob_dir())?
            .into_iter()
            .filter_map(|e| blob_digest(&e).ok())
            .collect();
        // Read after listing the blobs, as `remove_blobs` reads the leases.
        let referenced = self.referenced_blobs(&self.read_index()?)?;
        let removed = self.remove_blobs(lock, &present, &referenced)?;
        self.sweep_expired();
        Ok(removed.iter().map(|(_, size)| size).sum())
    }

    /// Whether the cached layer info of blob `digest` is what measuring
    /// the blob gives: sizes shown, saved and pushed come from it. An entry
    /// an older rimg wrote is brought up to date, as any command that shows
    /// sizes would, rather than reported.
    fn layer_info_is_true(&self, digest: &Digest) -> bool {
        match self.read_cached_layer_info(digest) {
            Some(Cached::Current(cached)) => self.measure_layer(digest).is_ok_and(|m| m == cached),
            Some(Cached::Outdated) => self
                .measure_layer(digest)
                .and_then(|measured| self.record_layer_info(digest, &measured))
                .is_ok(),
            Some(Cached::Unreadable) | None => false,
        }
    }

    /// Entries whose manifest, config or layers are missing or unreadable.
    fn incomplete_images(&self, index: &Index, present: &BTreeSet<Digest>) -> Vec<Problem> {
        let mut problems = Vec::new();
        for entry in &index.manifests {
            let name = entry
                .annotation(annotation::REF_NAME)
                .map_or_else(|| format!("{} (untagged)", entry.digest), str::to_string);
            let mut needed = vec![entry.digest.clone()];
            if present.contains(&entry.digest) && media_type::is_manifest(&entry.media_type) {
                match self.read_json::<Manifest>(&entry.digest) {
                    Ok(m) => {
                        needed.push(m.config.digest);
                        needed.extend(m.layers.into_iter().map(|l| l.digest));
                    }
                    Err(e) => problems.push(Problem::Incomplete {
                        name: name.clone(),
                        digest: entry.digest.clone(),
                        reason: format!("is not a valid manifest ({e})"),
                    }),
                }
            }
            for digest in needed.into_iter().filter(|d| !present.contains(d)) {
                problems.push(Problem::Incomplete {
                    name: name.clone(),
                    digest,
                    reason: "is missing or corrupt".to_string(),
                });
            }
        }
        problems
    }
}

fn read_dir(dir: &std::path::Path) -> Result<Vec<fs::DirEntry>> {
    let context = || format!("listing {}", dir.display());
    fs::read_dir(dir)
        .map_err(io_context(context()))?
        .map(|e| e.map_err(io_context(context())))
        .collect()
}

/// The digest a file under `blobs/sha256/` is named by.
fn blob_digest(entry: &fs::DirEntry) -> Result<Digest, crate::digest::DigestError> {
    Digest::parse(&format!("sha256:{}", entry.file_name().to_string_lossy()))
}

/// The file at `path`, locked by us, if no live process holds it: every
/// writer keeps its temporary or partial file locked while it lives.
fn idle(path: &Path) -> Option<File> {
    let file = File::open(path).ok()?;
    file.try_lock().ok().map(|()| file)
}

/// Removes `path` if it is idle and unchanged for `age`; true if it is
/// gone. It is unlinked while we hold its lock: a process that opened it
/// meanwhile finds, once it has the lock, that the file is no longer
/// there (see `Lease::claim`).
fn remove_if_expired(path: &Path, age: Duration) -> bool {
    let Some(_held) = idle(path) else {
        return !path.exists();
    };
    let old = fs::metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| SystemTime::now().duration_since(t).unwrap_or_default() >= age);
    old && fs::remove_file(path).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age(path: &Path, by: Duration) {
        let file = fs::OpenOptions::new().write(true).open(path).unwrap();
        file.set_modified(SystemTime::now() - by).unwrap();
    }

    #[test]
    fn partials_are_leftovers_kept_until_they_expire() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("root")).unwrap();
        fs::create_dir_all(store.partial_dir()).unwrap();
        let young = store.partial_dir().join("young");
        let old = store.partial_dir().join("old");
        let live = store.partial_dir().join("live");
        fs::write(&young, b"half").unwrap();
        fs::write(&old, b"older").unwrap();
        age(&old, PARTIAL_EXPIRY * 2);
        let held = File::create(&live).unwrap();
        held.lock().unwrap();
        age(&live, PARTIAL_EXPIRY * 2);

        let report = store.check(false).unwrap();
        assert_eq!(report.damage().count(), 0);
        assert_eq!(report.leftovers(), (2, 9), "{:?}", report.problems);

        let report = store.check(true).unwrap();
        let resumable = |path: &Path, size| Problem::Resumable {
            path: path.to_path_buf(),
            size,
        };
        assert_eq!(report.repaired, vec![resumable(&old, 5)]);
        assert_eq!(report.problems, vec![resumable(&young, 4)]);

        // Taking a lease sweeps expired partials, never a held one.
        age(&young, PARTIAL_EXPIRY * 2);
        drop(store.lease().unwrap());
        assert!(!young.exists() && live.exists());
        drop(held);
    }
}
