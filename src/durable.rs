//! Replacing a file durably: the new content goes to a temporary file on
//! the target's filesystem, is fsynced, takes its mode, is renamed over the
//! target, and the rename is fsynced in the directory. After a crash the
//! name holds the old content or the whole new content, never a mix or a
//! short file; a failure before the rename leaves the target untouched and
//! no temporary file behind.

use std::fs::{self, File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

/// The mode the written file ends up with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// 0600: only the owner may read it (credentials, the store's files).
    Private,
    /// The mode the target already has, or `default` for a new file, so a
    /// user's own choice survives a rewrite.
    Keep { default: u32 },
    /// 0666 less the process umask, as Go's `os.Create` gives (Docker's
    /// `save -o` and `export -o`).
    Umask,
}

/// A temporary file that replaces `target` on [`AtomicFile::commit`];
/// dropped uncommitted, it is removed and the target left alone.
pub struct AtomicFile {
    tmp: NamedTempFile,
    target: PathBuf,
    /// The mode to set before the rename; `None` keeps the one the
    /// temporary file was created with.
    chmod: Option<Mode>,
}

impl AtomicFile {
    /// A temporary file beside `target`, so the rename never crosses a
    /// filesystem.
    pub fn create(target: &Path, mode: Mode) -> io::Result<AtomicFile> {
        // Created 0666, the kernel applies the umask exactly as to any new
        // file; reading the umask instead would race other threads.
        let created = match mode {
            Mode::Umask => 0o666,
            Mode::Private | Mode::Keep { .. } => 0o600,
        };
        let tmp = tempfile::Builder::new()
            .prefix(".rimg-")
            .permissions(Permissions::from_mode(created))
            .tempfile_in(parent_dir(target))?;
        Ok(AtomicFile {
            tmp,
            target: target.to_path_buf(),
            chmod: (mode != Mode::Umask).then_some(mode),
        })
    }

    /// Takes over a temporary file the caller made (the store makes its
    /// own, locked, where `system check` looks for leftovers); it keeps the
    /// mode it was created with. It must be on `target`'s filesystem.
    pub fn adopt(tmp: NamedTempFile, target: &Path) -> AtomicFile {
        AtomicFile {
            tmp,
            target: target.to_path_buf(),
            chmod: None,
        }
    }

    /// The file to write the content to. Writing through `&File` lets
    /// `io::copy` hand copies from other files to the kernel.
    pub fn as_file(&self) -> &File {
        self.tmp.as_file()
    }

    /// Makes the content durable, sets the mode and replaces the target.
    pub fn commit(self) -> io::Result<()> {
        self.tmp.as_file().sync_all()?;
        let dir = parent_dir(&self.target).to_path_buf();
        self.rename()?;
        sync_dir(&dir)
    }

    /// Replaces the target without any fsync: for caches that can be
    /// rebuilt, where losing the file to a crash costs only recomputing it.
    pub fn commit_unsynced(self) -> io::Result<()> {
        self.rename()
    }

    fn rename(self) -> io::Result<()> {
        let mode = match self.chmod {
            None | Some(Mode::Umask) => None,
            Some(Mode::Private) => Some(0o600),
            Some(Mode::Keep { default }) => Some(match fs::metadata(&self.target) {
                Ok(meta) => meta.permissions().mode() & 0o777,
                Err(e) if e.kind() == io::ErrorKind::NotFound => default,
                Err(e) => return Err(e),
            }),
        };
        if let Some(mode) = mode {
            self.tmp
                .as_file()
                .set_permissions(Permissions::from_mode(mode))?;
        }
        self.tmp.persist(&self.target).map_err(|e| e.error)?;
        Ok(())
    }
}

/// Replaces `target` with `bytes`, durably.
pub fn replace(target: &Path, mode: Mode, bytes: &[u8]) -> io::Result<()> {
    let file = AtomicFile::create(target, mode)?;
    file.as_file().write_all(bytes)?;
    file.commit()
}

/// The directory `path` is in: `.` for a bare file name.
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// fsyncs a directory so a rename into it (or a removal from it) survives
/// a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// The process umask, read without changing it (other tests run in
    /// parallel threads of this process).
    fn umask() -> u32 {
        let status = fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
        u32::from_str_radix(line["Umask:".len()..].trim(), 8).unwrap()
    }

    #[test]
    fn private_is_0600_even_over_a_looser_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        replace(&path, Mode::Private, b"one").unwrap();
        assert_eq!(mode_of(&path), 0o600);
        fs::set_permissions(&path, Permissions::from_mode(0o644)).unwrap();
        replace(&path, Mode::Private, b"two").unwrap();
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(fs::read(&path).unwrap(), b"two");
    }

    #[test]
    fn keep_takes_the_existing_mode_or_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let keep = Mode::Keep { default: 0o600 };
        replace(&path, keep, b"new").unwrap();
        assert_eq!(mode_of(&path), 0o600);
        fs::set_permissions(&path, Permissions::from_mode(0o640)).unwrap();
        replace(&path, keep, b"again").unwrap();
        assert_eq!(mode_of(&path), 0o640);
    }

    #[test]
    fn umask_gives_0666_less_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        replace(&path, Mode::Umask, b"x").unwrap();
        assert_eq!(mode_of(&path), 0o666 & !umask());
    }

    #[test]
    fn an_uncommitted_or_failed_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = AtomicFile::create(&path, Mode::Private).unwrap();
        file.as_file().write_all(b"partial").unwrap();
        drop(file);
        assert!(names_in(dir.path()).is_empty());

        // A rename that fails (over a non-empty directory) removes the
        // temporary file too.
        let busy = dir.path().join("busy");
        fs::create_dir(&busy).unwrap();
        fs::write(busy.join("inside"), b"").unwrap();
        assert!(replace(&busy, Mode::Private, b"x").is_err());
        assert_eq!(names_in(dir.path()), vec!["busy"]);
    }

    #[test]
    fn the_target_is_replaced_whole_by_a_rename() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"old").unwrap();
        let old_inode = fs::metadata(&path).unwrap().ino();
        let reader = File::open(&path).unwrap();

        let file = AtomicFile::create(&path, Mode::Private).unwrap();
        file.as_file().write_all(b"new content").unwrap();
        // Until the commit the name still holds the old content.
        assert_eq!(fs::read(&path).unwrap(), b"old");
        file.commit().unwrap();

        assert_eq!(fs::read(&path).unwrap(), b"new content");
        assert_ne!(fs::metadata(&path).unwrap().ino(), old_inode);
        // A reader of the old file still sees it whole.
        assert_eq!(io::read_to_string(reader).unwrap(), "old");
        assert_eq!(names_in(dir.path()), vec!["f"]);
    }

    #[test]
    fn an_adopted_file_keeps_its_mode_and_a_bare_name_lives_in_dot() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = tempfile::Builder::new()
            .permissions(Permissions::from_mode(0o640))
            .tempfile_in(dir.path())
            .unwrap();
        let path = dir.path().join("f");
        let file = AtomicFile::adopt(tmp, &path);
        file.as_file().write_all(b"cache").unwrap();
        file.commit_unsynced().unwrap();
        assert_eq!(mode_of(&path), 0o640 & !umask());
        assert_eq!(parent_dir(Path::new("f")), Path::new("."));
    }
}
