//! Platforms: `os/arch[/variant]` as `--platform` names them, as index
//! entries and image configs record them, and which one matches which,
//! normalised as containerd's `platforms` package does (`x86_64` is
//! `amd64`, arm64 without a variant is v8, arm without one v7).

use crate::oci::{Descriptor, ImageConfig, Index, Platform};

#[derive(Debug, thiserror::Error)]
#[error("invalid platform {0:?}: expected os/arch[/variant]")]
pub struct InvalidPlatform(String);

/// Parses `os/arch[/variant]`, normalising the usual architecture aliases.
/// No default variant is filled in, so the platform prints as it was asked
/// for.
pub fn parse(s: &str) -> Result<Platform, InvalidPlatform> {
    let parts: Vec<&str> = s.split('/').collect();
    let invalid = || InvalidPlatform(s.to_string());
    let (os, arch, variant) = match parts[..] {
        [os, arch] => (os, arch, None),
        [os, arch, variant] => (os, arch, Some(variant)),
        _ => return Err(invalid()),
    };
    if os.is_empty() || arch.is_empty() || variant.is_some_and(str::is_empty) {
        return Err(invalid());
    }
    let (architecture, variant) = match (arch.to_ascii_lowercase().as_str(), variant) {
        ("x86_64" | "x86-64", v) => ("amd64".to_string(), v.map(str::to_string)),
        ("aarch64", v) => ("arm64".to_string(), v.map(str::to_string)),
        ("armhf", None) => ("arm".to_string(), Some("v7".to_string())),
        ("armel", None) => ("arm".to_string(), Some("v6".to_string())),
        (a, v) => (a.to_string(), v.map(str::to_string)),
    };
    Ok(Platform {
        os: os.to_ascii_lowercase(),
        architecture,
        variant,
        ..Platform::default()
    })
}

/// `os/arch[/variant]`, as Docker prints a platform.
pub fn format(p: &Platform) -> String {
    match &p.variant {
        Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
        None => format!("{}/{}", p.os, p.architecture),
    }
}

/// This machine's platform: what a pull picks from an index when none is
/// asked for, and what `import` records.
pub fn host() -> Platform {
    let architecture = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    Platform {
        architecture: architecture.to_string(),
        os: std::env::consts::OS.to_string(),
        variant: (architecture == "arm64").then(|| "v8".to_string()),
        ..Platform::default()
    }
}

/// The platform an image config records.
pub fn of_config(config: &ImageConfig) -> Platform {
    Platform {
        os: config.os.clone(),
        architecture: config.architecture.clone(),
        variant: config.variant.clone(),
        ..Platform::default()
    }
}

/// OS and architecture must agree; the variant too when the wanted one has
/// a variant, its own or its architecture's default.
pub fn matches(wanted: &Platform, have: &Platform) -> bool {
    let wanted = Normal::of(wanted);
    let have = Normal::of(have);
    wanted.os == have.os
        && wanted.architecture == have.architecture
        && (wanted.variant.is_none() || wanted.variant == have.variant)
}

/// The first entry of `index` for `wanted` that `usable` accepts.
pub fn choose<'i>(
    index: &'i Index,
    wanted: &Platform,
    usable: impl Fn(&Descriptor) -> bool,
) -> Option<&'i Descriptor> {
    index
        .manifests
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| matches(wanted, p)) && usable(d))
}

/// The platforms an index offers, for a message saying none matched.
/// Attestation manifests (BuildKit's provenance) use unknown/unknown and
/// are left out.
pub fn offered(index: &Index) -> Vec<String> {
    let mut offered: Vec<String> = index
        .manifests
        .iter()
        .filter_map(|d| d.platform.as_ref())
        .filter(|p| p.os != "unknown")
        .map(format)
        .collect();
    offered.dedup();
    offered
}

/// A platform as containerd's `platforms.Normalize` leaves it.
struct Normal {
    os: String,
    architecture: String,
    variant: Option<String>,
}

impl Normal {
    fn of(p: &Platform) -> Normal {
        let arch = p.architecture.to_ascii_lowercase();
        let variant = p.variant.as_deref().map(str::to_ascii_lowercase);
        let (architecture, variant) = match (arch.as_str(), variant.as_deref()) {
            ("x86_64" | "x86-64" | "amd64", Some("v1")) => ("amd64", None),
            ("x86_64" | "x86-64", v) => ("amd64", v),
            ("aarch64" | "arm64", None | Some("8" | "v8" | "v8.0")) => ("arm64", Some("v8")),
            ("aarch64" | "arm64", Some("9" | "9.0" | "v9.0")) => ("arm64", Some("v9")),
            ("aarch64", v) => ("arm64", v),
            ("armhf", _) => ("arm", Some("v7")),
            ("armel", _) => ("arm", Some("v6")),
            ("arm", None | Some("7")) => ("arm", Some("v7")),
            ("arm", Some("5")) => ("arm", Some("v5")),
            ("arm", Some("6")) => ("arm", Some("v6")),
            ("arm", Some("8")) => ("arm", Some("v8")),
            ("i386", _) => ("386", None),
            (a, v) => (a, v),
        };
        Normal {
            os: p.os.to_ascii_lowercase(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::oci::media_type;

    pub(crate) fn platform(os: &str, arch: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.into(),
            architecture: arch.into(),
            variant: variant.map(str::to_string),
            ..Platform::default()
        }
    }

    /// An index with one entry for each of `platforms`.
    pub(crate) fn index_of(platforms: Vec<Platform>) -> Index {
        let manifests = platforms
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let mut d = Descriptor::new(media_type::OCI_MANIFEST, Digest::of(&[i as u8]), 1);
                d.platform = Some(p);
                d
            })
            .collect();
        Index {
            manifests,
            ..Index::default()
        }
    }

    #[test]
    fn parses_platforms() {
        assert_eq!(
            parse("linux/arm/v7").unwrap(),
            platform("linux", "arm", Some("v7"))
        );
        assert_eq!(
            parse("linux/x86_64").unwrap(),
            platform("linux", "amd64", None)
        );
        assert_eq!(
            parse("Linux/armhf").unwrap(),
            platform("linux", "arm", Some("v7"))
        );
        assert!(parse("linux").is_err());
        assert!(parse("linux/arm/").is_err());
        assert_eq!(
            parse("a/b/c/d").unwrap_err().to_string(),
            "invalid platform \"a/b/c/d\": expected os/arch[/variant]"
        );
    }

    #[test]
    fn platform_matching() {
        let arm64 = platform("linux", "arm64", None);
        assert!(matches(&platform("linux", "arm64", Some("v8")), &arm64));
        assert!(matches(&arm64, &platform("linux", "arm64", Some("v8"))));
        assert!(!matches(
            &platform("linux", "arm", Some("v7")),
            &platform("linux", "arm", Some("v6"))
        ));
        assert!(!matches(&platform("linux", "amd64", None), &arm64));
    }

    #[test]
    fn matching_normalises_both_sides() {
        let amd64 = platform("linux", "amd64", None);
        assert!(matches(&amd64, &platform("linux", "x86_64", None)));
        // No variant wanted for amd64: any microarchitecture level will do.
        assert!(matches(&amd64, &platform("linux", "amd64", Some("v3"))));
        assert!(matches(
            &platform("linux", "amd64", Some("v1")),
            &platform("linux", "amd64", None)
        ));
        // arm without a variant is v7, so not v6.
        let arm = platform("linux", "arm", None);
        assert!(matches(&arm, &platform("linux", "arm", Some("v7"))));
        assert!(!matches(&arm, &platform("linux", "arm", Some("v6"))));
        assert!(matches(
            &platform("linux", "arm", Some("7")),
            &platform("linux", "armhf", None)
        ));
        assert!(!matches(
            &platform("linux", "arm64", None),
            &platform("linux", "arm64", Some("v9"))
        ));
        assert!(!matches(&amd64, &platform("windows", "amd64", None)));
    }

    #[test]
    fn choose_takes_the_first_usable_match() {
        let index = index_of(vec![
            platform("linux", "arm64", None),
            platform("linux", "amd64", None),
            platform("linux", "amd64", Some("v2")),
        ]);
        let amd64 = platform("linux", "amd64", None);
        let first = choose(&index, &amd64, |_| true).unwrap();
        assert_eq!(first.digest, index.manifests[1].digest);
        let second = &index.manifests[2].digest;
        let usable = choose(&index, &amd64, |d| d.digest == *second).unwrap();
        assert_eq!(usable.digest, *second);
        assert!(choose(&index, &platform("linux", "s390x", None), |_| true).is_none());
    }

    #[test]
    fn offered_names_each_platform_once_without_attestations() {
        let amd64 = platform("linux", "amd64", None);
        // BuildKit puts each platform's attestation manifest after it.
        let attestation = platform("unknown", "unknown", None);
        let index = index_of(vec![amd64.clone(), attestation.clone(), amd64, attestation]);
        assert_eq!(offered(&index), vec!["linux/amd64"]);
    }
}
