//! Leases, as in containerd: a writer that stores blobs before naming an
//! image holds a lease on them, so `system check --repair`, `rmi` and
//! `image prune` leave them alone until the image is named.
//!
//! A lease is a file `.rimg/leases/<id>` that its writer keeps flocked for
//! its lifetime, one digest a line. The rules that close every window:
//!
//! - a new blob's digest is appended before the blob is renamed into
//!   `blobs/`, so a blob a writer stores is never visible unleased;
//! - a blob the store already has is leased under the store lock, and
//!   checked to be still there (see [`Lease::reuse`]);
//! - a remover, holding the store lock, reads the leases only after it has
//!   seen the blobs it means to remove (see `Store::remove_blobs`).
//!
//! A lease file whose lock can be taken belongs to a writer that died: it
//! protects nothing and `system check --repair` removes it.

use super::{io_context, Ingest, Result, Store};
use crate::digest::Digest;
use std::collections::BTreeSet;
use std::fs::{self, File, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// A held lease; clones share it, and the last one dropped releases it.
#[derive(Clone)]
pub struct Lease {
    held: Arc<Held>,
}

struct Held {
    store: Store,
    path: PathBuf,
    /// Locked for the lease's lifetime; appends are serialized here.
    file: Mutex<File>,
}

impl Drop for Held {
    fn drop(&mut self) {
        // Removed while still locked, so no check sees it idle first. A
        // file left behind is stale and `system check --repair` removes it.
        let _ = fs::remove_file(&self.path);
    }
}

impl Store {
    pub(super) fn lease_dir(&self) -> PathBuf {
        self.meta_dir().join("leases")
    }

    /// Takes a new lease. Its file is created and locked in the temporary
    /// area, then renamed into `.rimg/leases/`: it is never there unlocked.
    /// Every writer takes one, so this is where expired leftovers of
    /// killed commands are swept.
    pub fn lease(&self) -> Result<Lease> {
        self.sweep_expired();
        let dir = self.lease_dir();
        fs::create_dir_all(&dir).map_err(io_context(format!("creating {}", dir.display())))?;
        let tmp = self.temp_file("lease-")?;
        let name = tmp
            .path()
            .file_name()
            .map(|n| format!("{}-{}", std::process::id(), n.to_string_lossy()))
            .unwrap_or_else(|| std::process::id().to_string());
        let path = dir.join(name);
        let file = tmp
            .persist_noclobber(&path)
            .map_err(|e| io_context(format!("creating lease {}", path.display()))(e.error))?;
        Ok(Lease {
            held: Arc::new(Held {
                store: self.clone(),
                path,
                file: Mutex::new(file),
            }),
        })
    }

    /// Every blob a live writer's lease names. Callers hold the store lock
    /// and call this after seeing the blobs they mean to remove.
    pub(super) fn leased_blobs(&self) -> Result<BTreeSet<Digest>> {
        let mut leased = BTreeSet::new();
        for (_, file) in self.leases()? {
            if let LeaseFile::Held(mut file) = file {
                let mut text = String::new();
                // A line cut short is one being appended now, for a blob
                // not yet visible; it does not parse and is skipped.
                if file.read_to_string(&mut text).is_ok() {
                    leased.extend(text.lines().filter_map(|l| Digest::parse(l).ok()));
                }
            }
        }
        Ok(leased)
    }

    /// Lease files whose writer is gone.
    pub(super) fn stale_leases(&self) -> Result<Vec<PathBuf>> {
        Ok(self
            .leases()?
            .into_iter()
            .filter_map(|(path, file)| matches!(file, LeaseFile::Stale).then_some(path))
            .collect())
    }

    fn leases(&self) -> Result<Vec<(PathBuf, LeaseFile)>> {
        let dir = self.lease_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            // No writer has taken a lease in this store yet.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_context(format!("listing {}", dir.display()))(e)),
        };
        let mut leases = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(io_context(format!("listing {}", dir.display())))?
                .path();
            let file = match File::open(&path) {
                Ok(file) => file,
                // Released since the listing.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_context(format!("opening {}", path.display()))(e)),
            };
            let state = match file.try_lock() {
                Err(TryLockError::WouldBlock) => LeaseFile::Held(file),
                Err(TryLockError::Error(e)) => {
                    return Err(io_context(format!("locking {}", path.display()))(e))
                }
                // Unlinked by its writer between our open and lock: it was
                // released, not abandoned.
                Ok(()) if file.metadata().is_ok_and(|m| m.nlink() == 0) => continue,
                Ok(()) => LeaseFile::Stale,
            };
            leases.push((path, state));
        }
        Ok(leases)
    }
}

enum LeaseFile {
    Held(File),
    Stale,
}

impl Lease {
    pub fn store(&self) -> &Store {
        &self.held.store
    }

    /// Starts writing a blob that this lease protects once it is stored.
    pub fn ingest(&self) -> Result<Ingest> {
        Ingest::new(&self.held.store, Some(self.clone()))
    }

    /// [`Store::put_blob`], the blob protected by this lease.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<Digest> {
        self.ingest()?.put(bytes)
    }

    /// Leases a blob the store may already have, under the store lock so
    /// that no removal is halfway through; true if it is there (and now
    /// protected), false if the caller must store it.
    pub fn reuse(&self, digest: &Digest) -> Result<bool> {
        let _lock = self.held.store.lock()?;
        self.protect(digest)?;
        Ok(self.held.store.has_blob(digest))
    }

    /// The blobs this lease protects.
    pub fn blobs(&self) -> Result<BTreeSet<Digest>> {
        let mut file = self.file();
        let mut text = String::new();
        file.rewind()
            .and_then(|()| file.read_to_string(&mut text))
            .map_err(io_context(format!(
                "reading lease {}",
                self.held.path.display()
            )))?;
        Ok(text.lines().filter_map(|l| Digest::parse(l).ok()).collect())
    }

    /// Removes those of `candidates` that no index entry references: for
    /// a writer that failed, or whose blobs ended up unneeded. Under the
    /// store lock this lease stops protecting anything first (it would
    /// keep them); no one can reuse them meanwhile, and a writer storing
    /// one anew leases it itself.
    pub fn remove_unreferenced(&self, candidates: &BTreeSet<Digest>) -> Result<()> {
        if candidates.is_empty() {
            return Ok(());
        }
        let store = &self.held.store;
        let lock = store.lock()?;
        self.clear()?;
        let keep = store.referenced_blobs(&store.read_index()?)?;
        store.remove_blobs(&lock, candidates, &keep)?;
        Ok(())
    }

    /// Stops protecting anything (see [`Lease::remove_unreferenced`]).
    fn clear(&self) -> Result<()> {
        let mut file = self.file();
        file.set_len(0)
            .and_then(|()| file.rewind())
            .map_err(io_context(format!(
                "clearing lease {}",
                self.held.path.display()
            )))
    }

    /// Appends `digest` to the lease file. No fsync: a lease only matters
    /// while its writer lives.
    pub(super) fn protect(&self, digest: &Digest) -> Result<()> {
        self.file()
            .write_all(format!("{digest}\n").as_bytes())
            .map_err(io_context(format!(
                "writing lease {}",
                self.held.path.display()
            )))
    }

    fn file(&self) -> std::sync::MutexGuard<'_, File> {
        // A panic elsewhere mid-append leaves at worst a line cut short,
        // which readers skip: the file is still usable.
        self.held
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Problem;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("root")).unwrap();
        (dir, store)
    }

    fn sweep(store: &Store, digest: &Digest) -> usize {
        let lock = store.lock().unwrap();
        let one = BTreeSet::from([digest.clone()]);
        store
            .remove_blobs(&lock, &one, &BTreeSet::new())
            .unwrap()
            .len()
    }

    #[test]
    fn a_held_lease_keeps_its_blobs_until_dropped() {
        let (_dir, store) = store();
        let lease = store.lease().unwrap();
        let digest = lease.put_blob(b"not named yet").unwrap();
        let clone = lease.clone();
        drop(lease);
        assert_eq!(
            store.leased_blobs().unwrap(),
            BTreeSet::from([digest.clone()])
        );
        assert_eq!(sweep(&store, &digest), 0);
        assert!(store.has_blob(&digest));

        drop(clone);
        assert!(store.leased_blobs().unwrap().is_empty());
        assert_eq!(fs::read_dir(store.lease_dir()).unwrap().count(), 0);
        assert_eq!(sweep(&store, &digest), 1);
        assert!(!store.has_blob(&digest));
    }

    #[test]
    fn reuse_leases_a_stored_blob_and_reports_a_missing_one() {
        let (_dir, store) = store();
        let stored = store.put_blob(b"already here").unwrap();
        let missing = Digest::of(b"never stored");
        let lease = store.lease().unwrap();
        assert!(lease.reuse(&stored).unwrap());
        assert!(!lease.reuse(&missing).unwrap());
        assert_eq!(sweep(&store, &stored), 0);

        // Storing bytes the store already has leases them too.
        let again = store.put_blob(b"stored twice").unwrap();
        assert_eq!(lease.put_blob(b"stored twice").unwrap(), again);
        assert_eq!(sweep(&store, &again), 0);

        lease.clear().unwrap();
        assert!(store.leased_blobs().unwrap().is_empty());
        assert_eq!(sweep(&store, &stored), 1);
    }

    #[test]
    fn check_keeps_leased_orphans_and_removes_stale_leases() {
        let (_dir, store) = store();
        let lease = store.lease().unwrap();
        let leased = lease.put_blob(b"leased").unwrap();
        // A lease whose writer died: nothing holds its lock.
        let abandoned = store.put_blob(b"abandoned").unwrap();
        let stale = store.lease_dir().join("dead-writer");
        fs::write(&stale, format!("{abandoned}\n")).unwrap();

        let report = store.check(false).unwrap();
        assert_eq!(
            report.problems,
            vec![
                Problem::Orphan {
                    digest: abandoned.clone(),
                    size: 9
                },
                Problem::Leftover(stale.clone()),
            ]
        );
        let report = store.check(true).unwrap();
        assert_eq!(report.repaired.len(), 2, "{:?}", report.repaired);
        assert!(report.problems.is_empty());
        assert!(!stale.exists() && !store.has_blob(&abandoned));
        assert!(store.has_blob(&leased));

        drop(lease);
        let report = store.check(true).unwrap();
        assert_eq!(
            report.repaired,
            vec![Problem::Orphan {
                digest: leased.clone(),
                size: 6
            }]
        );
        assert!(!store.has_blob(&leased));
    }
}
