//! Where COPY and ADD take files from: the build context (a directory,
//! with its `.dockerignore`), another stage's filesystem or an image's.
//! Only what an instruction names is read: a glob walks directory
//! entries, never file contents, so a large context costs nothing that
//! the Dockerfile does not copy.
//!
//! Sources are resolved as Docker resolves them: inside the tree, a
//! symlink named as a source is followed but never out of the tree (an
//! absolute target starts again at its root), and symlinks inside a copied
//! directory are copied as symlinks.

use super::BuildError;
use crate::container::resolve::{self, ResolveError};
use crate::digest::Hasher;
use crate::dockerfile::ignore::Ignore;
use crate::pathmatch;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Symlinks followed for one source before giving up, as Linux does.
const MAX_SYMLINKS: usize = 40;

/// A tree files are copied from.
pub struct Tree<'a> {
    pub root: &'a Path,
    /// The build context's `.dockerignore`; none for a stage or an image.
    pub ignore: Option<&'a Ignore>,
}

/// One source an instruction named, resolved.
#[derive(Debug)]
pub struct Source {
    /// The host path (symlinks of the name itself followed).
    pub host: PathBuf,
    /// Its path in the tree, `/`-separated and relative (`""` for the root).
    pub rel: String,
    /// The base name it is copied under (its last component as written).
    pub name: String,
    pub is_dir: bool,
}

/// A file or directory to write into the rootfs: the host path, and its
/// path under the destination.
#[derive(Debug)]
pub struct Item {
    pub host: PathBuf,
    pub dest: String,
    pub meta: fs::Metadata,
}

fn io_error(context: String) -> impl FnOnce(io::Error) -> BuildError {
    move |source| BuildError::Io { context, source }
}

fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

impl Tree<'_> {
    fn excluded(&self, rel: &str) -> bool {
        !rel.is_empty() && self.ignore.is_some_and(|i| i.excludes(rel))
    }

    /// The sources `patterns` name, in order; globs expand to every match
    /// (sorted), as Go's `filepath.Glob` does.
    pub fn sources(&self, what: &str, patterns: &[String]) -> Result<Vec<Source>, BuildError> {
        let mut out = Vec::new();
        for pattern in patterns {
            let cleaned = pathmatch::clean(&format!("/{pattern}"));
            let rel = cleaned.trim_start_matches('/');
            // Climbing above the root: Docker's check on the path as
            // written, before cleaning hides it.
            if escapes(pattern) {
                return Err(BuildError::OutsideContext {
                    what: what.to_string(),
                    path: pattern.clone(),
                });
            }
            if is_glob(rel) {
                let mut matched = Vec::new();
                self.glob(rel, Path::new(""), &mut matched)?;
                matched.sort();
                for rel in matched {
                    out.push(self.resolve(what, &rel, pattern)?);
                }
                continue;
            }
            out.push(self.resolve(what, rel, pattern)?);
        }
        if out.is_empty() {
            return Err(BuildError::NoSources(what.to_string()));
        }
        Ok(out)
    }

    /// Paths under `dir` (relative) that match `pattern` component by
    /// component.
    fn glob(&self, pattern: &str, dir: &Path, out: &mut Vec<String>) -> Result<(), BuildError> {
        let (first, rest) = match pattern.split_once('/') {
            Some((first, rest)) => (first, Some(rest)),
            None => (pattern, None),
        };
        let host = self.root.join(dir);
        let entries = match fs::read_dir(&host) {
            Ok(entries) => entries,
            Err(_) => return Ok(()),
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            if !pathmatch::go_match(first, &name).unwrap_or(false) {
                continue;
            }
            let rel = dir.join(&name);
            let rel_str = rel.to_string_lossy().into_owned();
            if self.excluded(&rel_str) {
                continue;
            }
            match rest {
                None => out.push(rel_str),
                Some(rest) if self.root.join(&rel).is_dir() => self.glob(rest, &rel, out)?,
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Resolves `rel` inside the tree, following symlinks of the path
    /// itself without leaving the tree.
    fn resolve(&self, what: &str, rel: &str, written: &str) -> Result<Source, BuildError> {
        let not_found = || BuildError::SourceNotFound {
            what: what.to_string(),
            path: written.to_string(),
        };
        if self.excluded(rel) {
            return Err(not_found());
        }
        let name = rel.rsplit('/').next().unwrap_or("").to_string();
        let mut parts: Vec<Vec<u8>> = rel
            .split('/')
            .filter(|p| !p.is_empty())
            .map(|p| p.as_bytes().to_vec())
            .collect();
        let resolving = |e: ResolveError| BuildError::Io {
            context: format!("resolving {written}"),
            source: io::Error::other(e.to_string()),
        };
        for _ in 0..MAX_SYMLINKS {
            let Some((last, parents)) = parts.split_last() else {
                return Ok(Source {
                    host: self.root.to_path_buf(),
                    rel: String::new(),
                    name,
                    is_dir: true,
                });
            };
            let parent_refs: Vec<&[u8]> = parents.iter().map(Vec::as_slice).collect();
            let Some(dir) =
                resolve::resolve_dir(self.root, &parent_refs, false).map_err(resolving)?
            else {
                return Err(not_found());
            };
            let host = dir.join(OsStr::from_bytes(last));
            let meta = fs::symlink_metadata(&host).map_err(|_| not_found())?;
            if !meta.file_type().is_symlink() {
                let rel = host
                    .strip_prefix(self.root)
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default();
                return Ok(Source {
                    host,
                    rel,
                    name,
                    is_dir: meta.is_dir(),
                });
            }
            let target = fs::read_link(&host).map_err(io_error(format!("reading {written}")))?;
            let target = target.as_os_str().as_bytes();
            let mut next: Vec<Vec<u8>> = if target.starts_with(b"/") {
                Vec::new()
            } else {
                parents.to_vec()
            };
            for part in target.split(|&b| b == b'/') {
                match part {
                    b"" | b"." => {}
                    b".." => {
                        next.pop();
                    }
                    _ => next.push(part.to_vec()),
                }
            }
            parts = next;
        }
        Err(resolving(ResolveError::TooManySymlinks(
            written.to_string(),
        )))
    }

    /// Everything `source` copies, named under `dest` (a directory source
    /// gives its contents), in a stable order; excluded paths left out.
    pub fn items(&self, source: &Source, dest: &str) -> Result<Vec<Item>, BuildError> {
        let mut out = Vec::new();
        let meta = fs::metadata(&source.host)
            .map_err(io_error(format!("reading {}", source.host.display())))?;
        if !source.is_dir {
            out.push(Item {
                host: source.host.clone(),
                dest: dest.to_string(),
                meta,
            });
            return Ok(out);
        }
        self.walk(&source.host, &source.rel, dest, &mut out)?;
        Ok(out)
    }

    fn walk(
        &self,
        dir: &Path,
        rel: &str,
        dest: &str,
        out: &mut Vec<Item>,
    ) -> Result<(), BuildError> {
        let reading = || io_error(format!("reading {}", dir.display()));
        let mut names: Vec<std::ffi::OsString> = fs::read_dir(dir)
            .map_err(reading())?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(reading())?;
        names.sort();
        for name in names {
            let name = name.to_string_lossy().into_owned();
            let child_rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if self.excluded(&child_rel) {
                continue;
            }
            let host = dir.join(&name);
            let meta = fs::symlink_metadata(&host)
                .map_err(io_error(format!("reading {}", host.display())))?;
            let child_dest = format!("{}/{name}", dest.trim_end_matches('/'));
            let is_dir = meta.is_dir();
            out.push(Item {
                host: host.clone(),
                dest: child_dest.clone(),
                meta,
            });
            if is_dir {
                self.walk(&host, &child_rel, &child_dest, out)?;
            }
        }
        Ok(())
    }
}

/// Whether a source as written climbs above the tree's root.
fn escapes(path: &str) -> bool {
    let mut depth: i64 = 0;
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => depth += 1,
        }
    }
    false
}

/// Owner and mode overrides of COPY/ADD (`--chown`, `--chmod`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Ownership {
    pub uid: u32,
    pub gid: u32,
    pub mode: Option<u32>,
}

/// What an item looks like in the layer: mode, type and target, owner,
/// size; the cache key hashes this and the contents, never the mtime.
fn describe(item: &Item, owner: &Ownership) -> String {
    let meta = &item.meta;
    let mode = owner.mode.unwrap_or(meta.mode() & 0o7777);
    format!(
        "{}\0{:o}\0{:o}\0{}:{}\0{}",
        item.dest,
        meta.mode() & libc::S_IFMT,
        mode,
        owner.uid,
        owner.gid,
        meta.len()
    )
}

/// The cache key part of copying `items`: names, metadata and contents.
pub fn content_digest(items: &[Item], owner: &Ownership) -> Result<String, BuildError> {
    let mut hasher = Hasher::new();
    for item in items {
        hasher.update(describe(item, owner).as_bytes());
        hasher.update(b"\0");
        if item.meta.file_type().is_symlink() {
            let target = fs::read_link(&item.host)
                .map_err(io_error(format!("reading {}", item.host.display())))?;
            hasher.update(target.as_os_str().as_bytes());
        } else if item.meta.is_file() {
            let mut file = fs::File::open(&item.host)
                .map_err(io_error(format!("reading {}", item.host.display())))?;
            io::copy(&mut file, &mut hasher)
                .map_err(io_error(format!("reading {}", item.host.display())))?;
        }
        hasher.update(b"\n");
    }
    Ok(hasher.finish().hex().to_string())
}

/// Writes `items` as a tar stream (names relative to the rootfs), owned
/// as `owner` says, mtimes clamped to `clamp`; sockets and devices are
/// left out, as Docker's context never carries them.
pub fn write_tar<W: Write>(
    items: &[Item],
    owner: &Ownership,
    clamp: Option<u64>,
    out: W,
) -> io::Result<W> {
    let mut builder = tar::Builder::new(out);
    for item in items {
        let meta = &item.meta;
        let name = item.dest.trim_start_matches('/');
        if name.is_empty() {
            continue;
        }
        let mut header = tar::Header::new_gnu();
        header.set_mode(owner.mode.unwrap_or(meta.mode() & 0o7777));
        header.set_uid(owner.uid as u64);
        header.set_gid(owner.gid as u64);
        let mtime = meta.mtime().max(0) as u64;
        header.set_mtime(clamp.map_or(mtime, |c| mtime.min(c)));
        header.set_size(0);
        let kind = meta.file_type();
        if kind.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            builder.append_data(&mut header, format!("{name}/"), io::empty())?;
        } else if kind.is_symlink() {
            header.set_entry_type(tar::EntryType::Symlink);
            let target = fs::read_link(&item.host)?;
            builder.append_link(&mut header, name, target)?;
        } else if kind.is_file() {
            header.set_entry_type(tar::EntryType::Regular);
            let file = fs::File::open(&item.host)?;
            header.set_size(meta.len());
            // Exactly the size recorded: a file that grows meanwhile
            // must not break the stream.
            let mut data = file.take(meta.len()).chain(io::repeat(0)).take(meta.len());
            builder.append_data(&mut header, name, &mut data)?;
        }
    }
    builder.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn climbing_above_the_root_is_seen_as_written() {
        assert!(escapes("../x"));
        assert!(escapes("a/../../x"));
        assert!(!escapes("a/../x"));
        assert!(!escapes("./x/."));
    }

    #[test]
    fn symlinks_named_as_sources_stay_in_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("sub")).unwrap();
        fs::write(root.join("sub/file"), b"in").unwrap();
        std::os::unix::fs::symlink("/sub/file", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../etc/passwd", root.join("up")).unwrap();
        let tree = Tree { root, ignore: None };
        let abs = tree.sources("COPY", &["abs".into()]).unwrap();
        assert_eq!(abs[0].host, root.join("sub/file"));
        assert_eq!(abs[0].name, "abs");
        // `..` stops at the root: /etc/passwd of the tree, which is absent.
        assert!(matches!(
            tree.sources("COPY", &["up".into()]),
            Err(BuildError::SourceNotFound { .. })
        ));
    }

    #[test]
    fn globs_match_per_component_and_skip_ignored_paths() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in ["a.txt", "b.txt", "c.md", "d/e.txt"] {
            let path = root.join(f);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, f).unwrap();
        }
        let ignore = Ignore::parse("b.txt\n").unwrap();
        let tree = Tree {
            root,
            ignore: Some(&ignore),
        };
        let found = tree.sources("COPY", &["*.txt".into()]).unwrap();
        let rels: Vec<&str> = found.iter().map(|s| s.rel.as_str()).collect();
        assert_eq!(rels, ["a.txt"]);
        let nested = tree.sources("COPY", &["*/*.txt".into()]).unwrap();
        assert_eq!(nested[0].rel, "d/e.txt");
        assert!(matches!(
            tree.sources("COPY", &["b.txt".into()]),
            Err(BuildError::SourceNotFound { .. })
        ));
        assert!(matches!(
            tree.sources("COPY", &["*.rs".into()]),
            Err(BuildError::NoSources(_))
        ));
    }
}
