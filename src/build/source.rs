//! Where a build's context and Dockerfile come from, as `docker build`
//! takes them: a directory (`-f` anywhere, or `-f -` from stdin), `-` (a
//! Dockerfile, or a context tarball plain or compressed, on stdin), a git
//! repository (`URL#ref:subdir`, cloned shallowly by the real `git`), or
//! an `http(s)://` tarball or Dockerfile. Tarballs are unpacked with the
//! layer unpacker, so no entry lands outside the context directory.

use super::BuildError;
use crate::container::unpack;
use crate::dockerfile::ignore::Ignore;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::Command;
use tempfile::TempDir;

/// A context ready to build from.
pub struct Prepared {
    pub dir: PathBuf,
    pub dockerfile: String,
    /// The Dockerfile's name as errors show it.
    pub dockerfile_name: String,
    pub ignore: Ignore,
    /// A context made for this build (unpacked, cloned), removed with it.
    _temp: Option<TempDir>,
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> BuildError {
    let context = context.into();
    move |source| BuildError::Io { context, source }
}

/// An I/O error in Go's words, as Docker prints them.
fn go_words(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

fn unable(message: String) -> BuildError {
    BuildError::Context(message)
}

/// Whether `context` is a git repository as Docker recognises one.
pub fn is_git(context: &str) -> bool {
    let url = context.split('#').next().unwrap_or(context);
    url.starts_with("git://")
        || url.starts_with("git@")
        || url.starts_with("github.com/")
        || ((url.starts_with("https://") || url.starts_with("http://")) && url.ends_with(".git"))
}

/// The `-f` Dockerfile (relative to the current directory), else
/// `Dockerfile` (or `dockerfile`) in the context, and its ignore file:
/// `<Dockerfile>.dockerignore` beside it wins over the context's.
fn read_dockerfile(
    dir: &Path,
    file: Option<&Path>,
    stdin: Option<String>,
    temp: Option<TempDir>,
) -> Result<Prepared, BuildError> {
    let path = match file {
        Some(file) if file.is_relative() && temp.is_some() => dir.join(file),
        Some(file) => file.to_path_buf(),
        None if !dir.join("Dockerfile").exists() && dir.join("dockerfile").exists() => {
            dir.join("dockerfile")
        }
        None => dir.join("Dockerfile"),
    };
    let (dockerfile, name) = match stdin {
        Some(text) => (text, "Dockerfile".to_string()),
        None => {
            let text = fs::read(&path).map_err(|e| {
                unable(format!(
                    "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: {}",
                    path.display(),
                    go_words(&e)
                ))
            })?;
            let name = path
                .file_name()
                .map_or("Dockerfile".into(), |n| n.to_string_lossy().into_owned());
            (String::from_utf8_lossy(&text).into_owned(), name)
        }
    };
    let beside = path.with_file_name(format!("{name}.dockerignore"));
    let ignore_text = fs::read_to_string(&beside)
        .or_else(|_| fs::read_to_string(dir.join(".dockerignore")))
        .unwrap_or_default();
    let ignore =
        Ignore::parse(&ignore_text).map_err(|e| unable(format!("parsing .dockerignore: {e}")))?;
    Ok(Prepared {
        dir: dir.to_path_buf(),
        dockerfile,
        dockerfile_name: name,
        ignore,
        _temp: temp,
    })
}

/// A directory for a context made for this build, removed with it.
fn temp_dir(tmp: &Path, prefix: &str) -> Result<TempDir, BuildError> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(tmp)
        .map_err(io_error(format!(
            "creating a directory in {}",
            tmp.display()
        )))
}

/// A context directory; `dockerfile_stdin` is `-f -`'s text.
pub fn from_dir(
    dir: &Path,
    file: Option<&Path>,
    dockerfile_stdin: Option<String>,
) -> Result<Prepared, BuildError> {
    if !dir.is_dir() {
        return Err(unable(format!(
            "unable to prepare context: path {:?} not found",
            dir.display().to_string()
        )));
    }
    read_dockerfile(dir, file, dockerfile_stdin, None)
}

/// `-` or a downloaded file: a (compressed) tar context, or else a
/// Dockerfile with an empty context.
pub fn from_stream<R: Read>(
    input: R,
    tmp: &Path,
    file: Option<&Path>,
) -> Result<Prepared, BuildError> {
    let temp = temp_dir(tmp, "context-")?;
    let dir = temp.path().to_path_buf();
    let mut input = BufReader::with_capacity(1 << 16, input);
    let head = input
        .fill_buf()
        .map_err(io_error("reading the context"))?
        .to_vec();
    let reading = || io_error("reading the context");
    let compressed = !matches!(
        crate::layer::Compression::sniff(&head),
        crate::layer::Compression::None
    );
    let is_tar = head.len() >= 262 && &head[257..262] == b"ustar";
    if !compressed && !is_tar {
        let mut text = String::new();
        input.read_to_string(&mut text).map_err(reading())?;
        return read_dockerfile(&dir, None, Some(text), Some(temp));
    }
    let reader = crate::layer::decompress(input, None).map_err(reading())?;
    unpack::unpack_layer(&dir, reader, unpack::Options::for_current_user())
        .map_err(|e| unable(format!("unpacking the context: {e}")))?;
    read_dockerfile(&dir, file, None, Some(temp))
}

/// A git repository: `URL[#ref[:subdir]]`, cloned with depth 1.
pub fn from_git(url: &str, tmp: &Path, file: Option<&Path>) -> Result<Prepared, BuildError> {
    let (repo, fragment) = url.split_once('#').unwrap_or((url, ""));
    let (reference, subdir) = fragment.split_once(':').unwrap_or((fragment, ""));
    let temp = temp_dir(tmp, "git-")?;
    let checkout = temp.path().join("checkout");
    let mut clone = Command::new("git");
    clone.args(["clone", "--quiet", "--depth", "1", "--recurse-submodules"]);
    if !reference.is_empty() {
        clone.args(["--branch", reference]);
    }
    clone.arg(repo).arg(&checkout);
    let output = clone
        .output()
        .map_err(|e| unable(format!("unable to prepare context: running git: {e}")))?;
    if !output.status.success() {
        return Err(unable(format!(
            "unable to prepare context: unable to 'git clone' to temporary context directory: error fetching: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let dir = match subdir.trim_matches('/') {
        "" => checkout.clone(),
        sub => crate::container::resolve::resolve_dir(&checkout, &super::components(sub), false)
            .ok()
            .flatten()
            .ok_or_else(|| {
                unable(format!(
                    "unable to prepare context: subdirectory {sub} not found in {repo}"
                ))
            })?,
    };
    read_dockerfile(&dir, file, None, Some(temp))
}

/// An `http(s)://` context: downloaded, then a tarball or a Dockerfile.
pub async fn from_url(url: &str, tmp: &Path, file: Option<&Path>) -> Result<Prepared, BuildError> {
    let temp = temp_dir(tmp, "download-")?;
    let path = temp.path().join("context");
    download(url, &path)
        .await
        .map_err(|e| unable(format!("unable to download remote context {url}: {e}")))?;
    let input = fs::File::open(&path).map_err(io_error(format!("reading {}", path.display())))?;
    from_stream(input, tmp, file)
}

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    #[error("the server answered {0}")]
    Status(reqwest::StatusCode),
    #[error("writing {path}")]
    Write {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// Downloads `url` into the file `dest` as it arrives; the server's
/// `Last-Modified`, as seconds since 1970.
pub async fn download(url: &str, dest: &Path) -> Result<Option<i64>, DownloadError> {
    use std::io::Write;
    let mut response = reqwest::get(url).await?;
    if !response.status().is_success() {
        return Err(DownloadError::Status(response.status()));
    }
    let modified = response
        .headers()
        .get(reqwest::header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
        .map(|t| t.timestamp());
    let write_error = |source| DownloadError::Write {
        path: dest.display().to_string(),
        source,
    };
    let mut out = fs::File::create(dest).map_err(write_error)?;
    while let Some(chunk) = response.chunk().await? {
        out.write_all(&chunk).map_err(write_error)?;
    }
    Ok(modified)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_contexts_are_told_apart_from_tarball_urls() {
        assert!(is_git(
            "https://github.com/docker-library/hello-world.git#master:amd64/hello-world"
        ));
        assert!(is_git("git@github.com:a/b"));
        assert!(is_git("git://host/repo#v1"));
        assert!(is_git("github.com/a/b"));
        assert!(!is_git("https://example.com/context.tar.gz"));
        assert!(!is_git("."));
    }
}
