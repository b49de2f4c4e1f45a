//! The OCI runtime bundle's `config.json` for a container, as Docker's
//! defaults make it: the default capability set, namespaces, masked and
//! read-only `/proc` paths, `/dev` as tmpfs with pts, shm and mqueue, `/sys`
//! read-only, and per-container `/etc/hosts`, `/etc/hostname` and
//! `/etc/resolv.conf` bind-mounted from the container's directory so they
//! never become part of the rootfs.

use super::user::ExecUser;
use super::{Bind, ContainerSpec, Network, ProcessConfig, RuntimeError};
use oci_spec::runtime::{
    get_default_maskedpaths, get_default_mounts, get_default_readonly_paths, Capability,
    LinuxBuilder, LinuxCapabilitiesBuilder, LinuxNamespaceBuilder, LinuxNamespaceType, Mount,
    MountBuilder, Process, ProcessBuilder, RootBuilder, Spec, UserBuilder,
};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Docker's default capabilities (moby's `caps.DefaultCapabilities`).
const DEFAULT_CAPABILITIES: [Capability; 14] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// The generated files bind-mounted over the rootfs's own.
pub const ETC_FILES: [&str; 3] = ["/etc/resolv.conf", "/etc/hostname", "/etc/hosts"];

fn spec_error(e: oci_spec::OciSpecError) -> RuntimeError {
    RuntimeError::Spec(e.to_string())
}

/// The process part of the spec: also what `exec` hands the runtime.
pub fn process(config: &ProcessConfig, user: &ExecUser) -> Result<Process, RuntimeError> {
    let caps: HashSet<Capability> = DEFAULT_CAPABILITIES.into_iter().collect();
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .build()
        .map_err(spec_error)?;
    let mut env = config.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }
    if config.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    let mut builder = UserBuilder::default().uid(user.uid).gid(user.gid);
    if !user.additional_gids.is_empty() {
        builder = builder.additional_gids(user.additional_gids.clone());
    }
    ProcessBuilder::default()
        .terminal(config.tty)
        .args(config.args.clone())
        .env(env)
        .cwd(if config.cwd.is_empty() {
            "/"
        } else {
            &config.cwd
        })
        .user(builder.build().map_err(spec_error)?)
        .capabilities(capabilities)
        .no_new_privileges(false)
        .rlimits(Vec::new())
        .build()
        .map_err(spec_error)
}

fn bind(destination: &str, source: &Path, read_only: bool) -> Result<Mount, RuntimeError> {
    let mut options = vec!["rbind".to_string(), "rprivate".to_string()];
    if read_only {
        options.push("ro".into());
    }
    MountBuilder::default()
        .destination(destination)
        .typ("bind")
        .source(source)
        .options(options)
        .build()
        .map_err(spec_error)
}

/// The whole `config.json` for `container`, whose generated `/etc` files
/// are in `etc_dir`.
/// `cgroup_mount`: whether `/sys/fs/cgroup` is mounted (read-only, as
/// Docker); not for crun, which refuses this machine's hybrid hierarchy
/// when asked to.
pub fn build(
    container: &ContainerSpec,
    rootfs: &Path,
    etc_dir: &Path,
    user: &ExecUser,
    cgroup_mount: bool,
) -> Result<Spec, RuntimeError> {
    let mut mounts: Vec<Mount> = get_default_mounts();
    // As root of rimg's user namespace (an unprivileged user's rimg): no
    // cgroup to mount, no sysfs of the host's network namespace.
    let unprivileged = super::userns::in_user_namespace();
    if !cgroup_mount || unprivileged {
        mounts.retain(|m| m.destination() != Path::new("/sys/fs/cgroup"));
    }
    if unprivileged {
        // Without its own network namespace an unprivileged user may not
        // mount sysfs, and devpts takes no gid it does not own: what rootless
        // podman and runc's `spec --rootless` do instead.
        for mount in &mut mounts {
            match mount.destination().to_str() {
                Some("/sys") if container.network == Network::Host => {
                    *mount = bind("/sys", Path::new("/sys"), true)?;
                }
                Some("/dev/pts") => {
                    if let Some(options) = mount.options_mut() {
                        options.retain(|o| o != "gid=5");
                    }
                }
                _ => {}
            }
        }
    }
    for name in ETC_FILES {
        let file = etc_dir.join(name.trim_start_matches("/etc/"));
        mounts.push(bind(name, &file, false)?);
    }
    for Bind {
        source,
        destination,
        read_only,
    } in &container.binds
    {
        mounts.push(bind(destination, &PathBuf::from(source), *read_only)?);
    }

    let mut namespaces = vec![
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
    ];
    if container.network == Network::None {
        namespaces.push(LinuxNamespaceType::Network);
    }
    let namespaces = namespaces
        .into_iter()
        .map(|typ| LinuxNamespaceBuilder::default().typ(typ).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(spec_error)?;
    let linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .masked_paths(get_default_maskedpaths())
        .readonly_paths(get_default_readonly_paths());

    let mut spec = Spec::default();
    spec.set_process(Some(process(&container.process, user)?));
    spec.set_root(Some(
        RootBuilder::default()
            .path(rootfs)
            .readonly(container.read_only)
            .build()
            .map_err(spec_error)?,
    ));
    spec.set_hostname(Some(container.hostname.clone()));
    spec.set_mounts(Some(mounts));
    spec.set_linux(Some(linux.build().map_err(spec_error)?));
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(network: Network) -> ContainerSpec {
        ContainerSpec {
            process: ProcessConfig {
                args: vec!["sh".into()],
                env: vec!["PATH=/bin".into()],
                cwd: String::new(),
                user: String::new(),
                tty: true,
            },
            hostname: "abc".into(),
            network,
            binds: vec![Bind {
                source: "/srv/data".into(),
                destination: "/data".into(),
                read_only: true,
            }],
            read_only: false,
        }
    }

    /// The spec's JSON for `container(network)` run as `user`.
    fn spec_json(network: Network, user: ExecUser) -> serde_json::Value {
        let etc = Path::new("/c/etc");
        let spec = build(&container(network), Path::new("/r"), etc, &user, true).unwrap();
        serde_json::to_value(&spec).unwrap()
    }

    #[test]
    fn docker_defaults_and_the_generated_etc_files() {
        let user = ExecUser {
            uid: 0,
            gid: 0,
            additional_gids: vec![],
            home: "/root".into(),
        };
        let json = spec_json(Network::None, user);
        let process = &json["process"];
        assert_eq!(process["cwd"], "/");
        assert_eq!(process["terminal"], true);
        let env: Vec<&str> = process["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(env, ["PATH=/bin", "HOME=/root", "TERM=xterm"]);
        assert_eq!(
            process["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .len(),
            14
        );
        let namespaces: Vec<&str> = json["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(namespaces, ["pid", "ipc", "uts", "mount", "network"]);
        let mounts = json["mounts"].as_array().unwrap();
        let hosts = mounts
            .iter()
            .find(|m| m["destination"] == "/etc/hosts")
            .unwrap();
        assert_eq!(hosts["source"], "/c/etc/hosts");
        let data = mounts.iter().find(|m| m["destination"] == "/data").unwrap();
        assert_eq!(
            data["options"],
            serde_json::json!(["rbind", "rprivate", "ro"])
        );
        assert_eq!(json["hostname"], "abc");
    }

    #[test]
    fn host_network_shares_the_network_namespace() {
        let user = ExecUser {
            uid: 1,
            gid: 1,
            additional_gids: vec![4],
            home: "/".into(),
        };
        let json = spec_json(Network::Host, user);
        assert!(!json["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["type"] == "network"));
        assert_eq!(
            json["process"]["user"]["additionalGids"],
            serde_json::json!([4])
        );
    }
}
