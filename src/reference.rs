//! Docker image reference grammar.
//!
//! A hand-written port of `github.com/distribution/reference` v0.6 (the package
//! the docker CLI vendors) plus the digest checks of `go-digest` v1.0.0:
//! `ParseNormalizedNamed`, `TagNameOnly`, `FamiliarName`, `FamiliarString` and
//! `FamiliarMatch`. Error messages are Docker's, word for word, because users
//! and scripts match on them.

use std::fmt;
use std::str::FromStr;

const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
const DEFAULT_TAG: &str = "latest";

/// Longest repository path accepted (`RepositoryNameTotalLengthMax`). Since
/// distribution/reference v0.6 (docker 26+) only the path counts, not the domain.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum ReferenceError {
    #[error("invalid reference format")]
    InvalidFormat,
    /// From `ParseNormalizedNamed`; carries the offending remote name.
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    UppercaseRepository(String),
    /// From `Parse`, when only lower-casing the whole input makes it valid.
    #[error("repository name must be lowercase")]
    NameContainsUppercase,
    #[error("repository name must not be more than 255 characters")]
    NameTooLong,
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexRepositoryName(String),
    #[error("invalid tag format")]
    InvalidTag,
    #[error("invalid digest format")]
    InvalidDigest,
    #[error("invalid checksum digest format")]
    ChecksumFormat,
    #[error("invalid checksum digest length")]
    ChecksumLength,
    #[error("unsupported digest algorithm")]
    UnsupportedDigest,
    /// Go's `path.ErrBadPattern`, from [`try_familiar_match`].
    #[error("syntax error in pattern")]
    BadPattern,
}

use ReferenceError as E;

/// A normalized image reference: `domain/path[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl Reference {
    /// Docker's `ParseNormalizedNamed`: `ubuntu` becomes `docker.io/library/ubuntu`.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        if is_full_image_id(s) {
            return Err(E::HexRepositoryName(s.to_string()));
        }
        let (domain, remainder) = split_docker_domain(s);
        // Go cuts at the first ':' even when it belongs to a digest, so an
        // upper-case digest algorithm is reported as an upper-case name too.
        let remote = remainder.split_once(':').map_or(&remainder[..], |(r, _)| r);
        if remote.to_lowercase() != remote {
            return Err(E::UppercaseRepository(remote.to_string()));
        }
        parse_full(&format!("{domain}/{remainder}"))
    }

    /// `parse` followed by `TagNameOnly`: adds `latest` when there is neither
    /// a tag nor a digest.
    pub fn parse_with_default_tag(s: &str) -> Result<Reference, ReferenceError> {
        let mut r = Reference::parse(s)?;
        r.add_default_tag();
        Ok(r)
    }

    /// `TagNameOnly` in place; says whether it added `latest`.
    fn add_default_tag(&mut self) -> bool {
        let missing = self.tag.is_none() && self.digest.is_none();
        if missing {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        missing
    }

    /// The `NAME` of `pull`/`push`: with `all_tags` the repository as given
    /// (the command refuses a tag), else `parse_with_default_tag`. The flag
    /// says whether `latest` was added, which `push` announces as Docker does.
    pub fn parse_for_transfer(
        s: &str,
        all_tags: bool,
    ) -> Result<(Reference, bool), ReferenceError> {
        let mut r = Reference::parse(s)?;
        let defaulted = !all_tags && r.add_default_tag();
        Ok((r, defaulted))
    }

    /// The registry host (and port). Empty only for Go's odd case of a first
    /// component that is neither a valid domain nor left on Docker Hub, e.g. `a_b.com/x`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// `algorithm:hex`, e.g. `sha256:…`.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// Full repository name without tag or digest: `docker.io/library/ubuntu`.
    pub fn name(&self) -> String {
        if self.domain.is_empty() {
            self.path.clone()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// The short name Docker prints: `ubuntu`, `user/app`, `quay.io/x/y`.
    pub fn familiar_name(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.name();
        }
        match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
            // Only single-level official names lose the prefix.
            Some(rest) if !rest.contains('/') => rest.to_string(),
            _ => self.path.clone(),
        }
    }

    /// `familiar_name` plus `:tag` and `@digest` when present.
    pub fn familiar_string(&self) -> String {
        self.familiar_name() + &self.suffix()
    }

    /// A copy with `tag` and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !valid_tag(tag) {
            return Err(E::InvalidTag);
        }
        Ok(Reference {
            tag: Some(tag.to_string()),
            ..self.name_only()
        })
    }

    /// A copy with `digest` and no tag. The digest must satisfy both the
    /// reference grammar and go-digest's checks.
    pub fn with_digest(&self, digest: &str) -> Result<Reference, ReferenceError> {
        if !is_digest(digest) {
            return Err(E::InvalidDigest);
        }
        validate_checksum(digest)?;
        Ok(Reference {
            digest: Some(digest.to_string()),
            ..self.name_only()
        })
    }

    pub fn name_only(&self) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: None,
        }
    }

    fn suffix(&self) -> String {
        let mut s = String::new();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.name(), self.suffix())
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

/// A full image ID: exactly 64 lowercase hex digits.
pub fn is_full_image_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(is_lower_hex)
}

/// `[\w][\w.-]{0,127}`.
pub fn valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b.iter().all(|&c| word(c) || c == b'.' || c == b'-')
}

/// Docker's `FamiliarMatch`: a Go `path.Match` pattern tried against the
/// familiar string (`ubuntu:18.04`), then the familiar name (`ubuntu`).
/// A malformed pattern matches nothing.
pub fn familiar_match(pattern: &str, reference: &Reference) -> bool {
    try_familiar_match(pattern, reference).unwrap_or(false)
}

/// Like [`familiar_match`], but reports a malformed pattern as Go does.
pub fn try_familiar_match(pattern: &str, reference: &Reference) -> Result<bool, ReferenceError> {
    let first = path_match(pattern, &reference.familiar_string());
    if first == Ok(true) {
        return Ok(true);
    }
    let second = path_match(pattern, &reference.familiar_name()).unwrap_or(false);
    first.map(|_| second)
}

/// Go's `splitDockerDomain`: decides whether the first component is a registry.
fn split_docker_domain(name: &str) -> (&str, String) {
    let Some((first, rest)) = name.split_once('/') else {
        // A single component is always a Docker Hub official image, even
        // "localhost" or "localhost:5000" (the latter is tag "5000").
        return (DEFAULT_DOMAIN, format!("{OFFICIAL_REPO_PREFIX}{name}"));
    };
    let (domain, remote) = if first == LEGACY_DEFAULT_DOMAIN {
        (DEFAULT_DOMAIN, rest)
    } else if first == "localhost"
        || first.contains(['.', ':'])
        // Hub namespaces are lowercase, so an upper-case one must be a host.
        || first.to_lowercase() != first
    {
        (first, rest)
    } else {
        (DEFAULT_DOMAIN, name)
    };
    if domain == DEFAULT_DOMAIN && !remote.contains('/') {
        (domain, format!("{OFFICIAL_REPO_PREFIX}{remote}"))
    } else {
        (domain, remote.to_string())
    }
}

/// Go's `Parse`, for an already normalized string.
fn parse_full(s: &str) -> Result<Reference, ReferenceError> {
    let Some((domain, path, tag, digest)) = match_reference(s) else {
        let lower = s.to_lowercase();
        return Err(if lower != s && match_reference(&lower).is_some() {
            E::NameContainsUppercase
        } else {
            E::InvalidFormat
        });
    };
    if path.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(E::NameTooLong);
    }
    if let Some(d) = digest {
        validate_checksum(d)?;
    }
    Ok(Reference {
        domain: domain.to_string(),
        path: path.to_string(),
        tag: tag.map(str::to_string),
        digest: digest.map(str::to_string),
    })
}

type Parts<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>);

/// The anchored `ReferenceRegexp`: `name[:tag][@digest]` split into
/// domain, path, tag and digest.
fn match_reference(s: &str) -> Option<Parts<'_>> {
    // No part of the grammar before the digest contains '@'.
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    if digest.is_some_and(|d| !is_digest(d)) {
        return None;
    }
    // A ':' after the last '/' can only start a tag: ports and IPv6 hosts
    // sit before the first '/', and a name without '/' has no domain.
    let (name, tag) = match rest.rfind(':') {
        Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    if tag.is_some_and(|t| !valid_tag(t)) {
        return None;
    }
    let (domain, path) = split_name(name)?;
    Some((domain, path, tag, digest))
}

/// The anchored name regexp. Go's regexp prefers taking a domain; if the first
/// component is no valid domain the whole name may still be a path.
fn split_name(name: &str) -> Option<(&str, &str)> {
    if let Some((d, p)) = name.split_once('/') {
        if is_domain_and_port(d) && is_remote_name(p) {
            return Some((d, p));
        }
    }
    is_remote_name(name).then_some(("", name))
}

/// `host(:port)?` where host is a dotted domain name, an IPv4 address or a
/// bracketed IPv6 address.
fn is_domain_and_port(s: &str) -> bool {
    let (host_ok, port) = match s.strip_prefix('[') {
        Some(inner) => match inner.split_once(']') {
            Some((addr, port)) => (
                !addr.is_empty() && addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':'),
                port,
            ),
            None => return false,
        },
        None => {
            let (host, port) = s.split_at(s.find(':').unwrap_or(s.len()));
            (host.split('.').all(is_domain_component), port)
        }
    };
    host_ok
        && (port.is_empty()
            || port
                .strip_prefix(':')
                .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
}

/// `[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`.
fn is_domain_component(c: &str) -> bool {
    !c.is_empty()
        && !c.starts_with('-')
        && !c.ends_with('-')
        && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn is_remote_name(s: &str) -> bool {
    s.split('/').all(is_path_component)
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`. Separators and alphanumerics
/// share no characters, so the maximal runs must alternate.
fn is_path_component(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let b = c.as_bytes();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        let sep = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &b[sep..i];
        if !matches!(sep, b"." | b"_" | b"__") && !sep.iter().all(|&x| x == b'-') {
            return false;
        }
    }
}

/// The reference grammar's digest: `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[[:xdigit:]]{32,}`.
fn is_digest(d: &str) -> bool {
    let Some((alg, hex)) = d.split_once(':') else {
        return false;
    };
    hex.len() >= 32
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
        && alg.split(['-', '_', '+', '.']).all(|c| {
            c.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
                && c.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// go-digest v1.0.0 `Digest.Validate` for a string that already matches
/// [`is_digest`]: known algorithms need their exact length in lowercase hex.
fn validate_checksum(d: &str) -> Result<(), ReferenceError> {
    let (alg, hex) = d.split_once(':').ok_or(E::ChecksumFormat)?;
    let len = match alg {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        // go-digest's own pattern only admits lowercase algorithm names.
        _ if alg.bytes().any(|b| b.is_ascii_uppercase()) => return Err(E::ChecksumFormat),
        _ => return Err(E::UnsupportedDigest),
    };
    if hex.len() != len {
        return Err(E::ChecksumLength);
    }
    if !hex.bytes().all(is_lower_hex) {
        return Err(E::ChecksumFormat);
    }
    Ok(())
}

fn is_lower_hex(b: u8) -> bool {
    matches!(b, b'0'..=b'9' | b'a'..=b'f')
}

/// Go's `path.Match`, with its error as this module's.
fn path_match(pattern: &str, name: &str) -> Result<bool, ReferenceError> {
    crate::pathmatch::go_match(pattern, name).map_err(|_| E::BadPattern)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// input, domain, path, tag, digest, Display, familiar_string
    type Row<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        &'a str,
        &'a str,
    );

    #[test]
    fn parses_and_normalizes() {
        let d = format!("sha256:{H}");
        let d512 = format!("sha512:{H}{H}");
        #[rustfmt::skip]
        let cases: &[Row] = &[
            ("ubuntu", "docker.io", "library/ubuntu", None, None, "docker.io/library/ubuntu", "ubuntu"),
            ("ubuntu:18.04", "docker.io", "library/ubuntu", Some("18.04"), None, "docker.io/library/ubuntu:18.04", "ubuntu:18.04"),
            ("user/app:1", "docker.io", "user/app", Some("1"), None, "docker.io/user/app:1", "user/app:1"),
            ("localhost/app", "localhost", "app", None, None, "localhost/app", "localhost/app"),
            ("localhost:5000/app:tag", "localhost:5000", "app", Some("tag"), None, "localhost:5000/app:tag", "localhost:5000/app:tag"),
            // A lone component is never a domain, so this is tag "5000".
            ("localhost:5000", "docker.io", "library/localhost", Some("5000"), None, "docker.io/library/localhost:5000", "localhost:5000"),
            ("myregistry.com/a/b/c", "myregistry.com", "a/b/c", None, None, "myregistry.com/a/b/c", "myregistry.com/a/b/c"),
            ("index.docker.io/ubuntu", "docker.io", "library/ubuntu", None, None, "docker.io/library/ubuntu", "ubuntu"),
            ("docker.io/ubuntu", "docker.io", "library/ubuntu", None, None, "docker.io/library/ubuntu", "ubuntu"),
            ("docker.io/user/app", "docker.io", "user/app", None, None, "docker.io/user/app", "user/app"),
            ("docker.io/library/a/b", "docker.io", "library/a/b", None, None, "docker.io/library/a/b", "library/a/b"),
            ("[::1]:5000/app:1", "[::1]:5000", "app", Some("1"), None, "[::1]:5000/app:1", "[::1]:5000/app:1"),
            ("[2001:db8::1]/x", "[2001:db8::1]", "x", None, None, "[2001:db8::1]/x", "[2001:db8::1]/x"),
            ("127.0.0.1:5000/x/y:v1", "127.0.0.1:5000", "x/y", Some("v1"), None, "127.0.0.1:5000/x/y:v1", "127.0.0.1:5000/x/y:v1"),
            // Upper case is fine in a domain (and makes a first component one).
            ("Foo.com/bar", "Foo.com", "bar", None, None, "Foo.com/bar", "Foo.com/bar"),
            ("FOO/bar", "FOO", "bar", None, None, "FOO/bar", "FOO/bar"),
            ("a__b", "docker.io", "library/a__b", None, None, "docker.io/library/a__b", "a__b"),
            ("a.b_c--d:Tag_1.x-y", "docker.io", "library/a.b_c--d", Some("Tag_1.x-y"), None, "docker.io/library/a.b_c--d:Tag_1.x-y", "a.b_c--d:Tag_1.x-y"),
            // Not a valid domain, but a valid path: Go leaves the domain empty.
            ("a_b.com/x", "", "a_b.com/x", None, None, "a_b.com/x", "a_b.com/x"),
        ];
        for &(input, domain, path, tag, digest, full, familiar) in cases {
            let r = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(
                (r.domain(), r.path(), r.tag(), r.digest()),
                (domain, path, tag, digest),
                "{input}"
            );
            assert_eq!(r.to_string(), full, "{input}");
            assert_eq!(r.familiar_string(), familiar, "{input}");
            assert_eq!(
                Reference::parse(&r.familiar_string()),
                Ok(r.clone()),
                "{input}"
            );
            assert_eq!(Reference::parse(&r.to_string()), Ok(r), "{input}");
        }
        let r: Reference = format!("ubuntu@{d}").parse().unwrap();
        assert_eq!((r.tag(), r.digest()), (None, Some(d.as_str())));
        assert_eq!(r.familiar_string(), format!("ubuntu@{d}"));
        let r = Reference::parse(&format!("quay.io/x/y:1@{d512}")).unwrap();
        assert_eq!(r.to_string(), format!("quay.io/x/y:1@{d512}"));
        assert_eq!(
            (r.name(), r.familiar_name()),
            ("quay.io/x/y".into(), "quay.io/x/y".into())
        );
        // A 64-hex component is fine once it has a tag (the ID rule is anchored).
        assert!(Reference::parse(&format!("{H}:1")).is_ok());
    }

    #[test]
    fn rejects_like_docker() {
        let fmt = || E::InvalidFormat;
        #[rustfmt::skip]
        let cases: Vec<(String, ReferenceError)> = vec![
            ("".into(), fmt()),
            ("ubuntu:".into(), fmt()),
            ("a//b".into(), fmt()),
            ("-a".into(), fmt()),
            ("a-".into(), fmt()),
            ("a___b".into(), fmt()),
            ("a.-b".into(), fmt()),
            ("ubuntu:.x".into(), fmt()),
            ("ubuntu:-x".into(), fmt()),
            ("a:b:c".into(), fmt()),
            ("deislabs:8080:8080/porter-hello:latest".into(), fmt()),
            ("localhost:abc/x".into(), fmt()),
            ("example.com:/x".into(), fmt()),
            ("-foo.com/x".into(), fmt()),
            ("[::1/x".into(), fmt()),
            ("[]:5000/x".into(), fmt()),
            ("ubuntu@sha256".into(), fmt()),
            ("ubuntu@sha256:abc".into(), fmt()),
            (format!("ubuntu@{H}"), fmt()),
            (format!("ubuntu@sha256:{H}@x"), fmt()),
            (format!("ubuntu:{}", "a".repeat(129)), fmt()),
            ("Ubuntu".into(), E::UppercaseRepository("library/Ubuntu".into())),
            ("user/App:1".into(), E::UppercaseRepository("user/App".into())),
            ("localhost:5000/Foo:tag".into(), E::UppercaseRepository("Foo".into())),
            // Go looks for the lowercase check only up to the first ':'.
            (format!("a@SHA256:{H}"), E::UppercaseRepository("library/a@SHA256".into())),
            ("A_B.com/x".into(), E::NameContainsUppercase),
            (H.into(), E::HexRepositoryName(H.into())),
            (format!("ubuntu@sha256:{}", &H[..32]), E::ChecksumLength),
            (format!("ubuntu@sha256:{}", H.to_uppercase()), E::ChecksumFormat),
            (format!("ubuntu:1@Sha256:{H}"), E::ChecksumFormat),
            (format!("ubuntu@md5:{}", &H[..32]), E::UnsupportedDigest),
            ("a".repeat(248), E::NameTooLong),
        ];
        for (input, want) in cases {
            assert_eq!(Reference::parse(&input), Err(want), "{input:?}");
        }
    }

    #[test]
    fn limits_and_messages() {
        // The 255 limit counts the path ("library/" + 247), not the domain.
        assert!(Reference::parse(&"a".repeat(247)).is_ok());
        assert!(Reference::parse(&format!("example.com/{}", "a".repeat(255))).is_ok());
        assert!(Reference::parse(&format!("ubuntu:{}", "a".repeat(128))).is_ok());
        assert!(valid_tag("_x") && !valid_tag("") && !valid_tag(".x") && !valid_tag("a/b"));
        assert!(
            is_full_image_id(H)
                && !is_full_image_id(&H.to_uppercase())
                && !is_full_image_id(&H[1..])
        );
        #[rustfmt::skip]
        let msgs = [
            (E::UppercaseRepository("library/Ubuntu".into()), "invalid reference format: repository name (library/Ubuntu) must be lowercase"),
            (E::NameTooLong, "repository name must not be more than 255 characters"),
            (E::HexRepositoryName("ab".into()), "invalid repository name (ab), cannot specify 64-byte hexadecimal strings"),
            (E::ChecksumLength, "invalid checksum digest length"),
        ];
        for (e, s) in msgs {
            assert_eq!(e.to_string(), s);
        }
    }

    #[test]
    fn tags_and_digests() {
        let d = format!("sha256:{H}");
        let r = Reference::parse_with_default_tag("ubuntu").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/ubuntu:latest");
        let r = Reference::parse_with_default_tag(&format!("ubuntu@{d}")).unwrap();
        assert_eq!(r.tag(), None);
        let r = Reference::parse_with_default_tag("ubuntu:1").unwrap();
        assert_eq!(r.tag(), Some("1"));

        let both = Reference::parse(&format!("ubuntu:18.04@{d}")).unwrap();
        assert_eq!(
            both.to_string(),
            format!("docker.io/library/ubuntu:18.04@{d}")
        );
        assert_eq!(both.familiar_string(), format!("ubuntu:18.04@{d}"));
        assert_eq!(both.name_only().to_string(), "docker.io/library/ubuntu");
        assert_eq!(
            both.with_tag("2").unwrap().to_string(),
            "docker.io/library/ubuntu:2"
        );
        assert_eq!(
            both.with_digest(&d).unwrap().familiar_string(),
            format!("ubuntu@{d}")
        );
        assert_eq!(both.with_tag(".x"), Err(E::InvalidTag));
        assert_eq!(both.with_tag(&"a".repeat(129)), Err(E::InvalidTag));
        assert_eq!(both.with_digest("sha256:xyz"), Err(E::InvalidDigest));
        assert_eq!(both.with_digest(&d[..40]), Err(E::ChecksumLength));
        assert_eq!(
            both.with_digest(&format!("foo:{H}")),
            Err(E::UnsupportedDigest)
        );
    }

    #[test]
    fn familiar_matching() {
        let cases = [
            ("ubuntu", "ubuntu:18.04", true), // falls back to the name
            ("ubu*", "ubuntu:18.04", true),
            ("ubuntu:*", "ubuntu:18.04", true),
            ("ubuntu:1?.04", "ubuntu:18.04", true),
            ("ubuntu\\:18.04", "ubuntu:18.04", true),
            ("[a-u]buntu", "ubuntu", true),
            ("[^u]buntu", "ubuntu", false),
            ("debian", "ubuntu", false),
            ("docker.io/library/ubuntu", "ubuntu", false), // familiar forms only
            ("*/app", "user/app:1", true),
            ("*", "user/app:1", false), // '*' stops at '/'
            ("*", "ubuntu:18.04", true),
            ("localhost:5000/*", "localhost:5000/app:tag", true),
            ("*/*", "quay.io/x/y", false),
            ("*/*/*", "quay.io/x/y", true),
            ("ub[", "ubuntu", false),
        ];
        for (pattern, input, want) in cases {
            let r = Reference::parse(input).unwrap();
            assert_eq!(familiar_match(pattern, &r), want, "{pattern} vs {input}");
        }
        let r = Reference::parse("ubuntu").unwrap();
        assert_eq!(try_familiar_match("ub[", &r), Err(E::BadPattern));
    }
}
