//! `rimg login` / `logout` against a real registry with htpasswd Basic
//! auth and with token auth, writing Docker's `config.json`.

mod common;

use common::output_with_stdin;
use common::registry::{isolated_rimg, AuthKind, Registry, PASSWORD, USER};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use tempfile::TempDir;

fn rimg(config: &Path, args: &[&str], stdin: &str) -> Output {
    rimg_with_path(config, None, args, stdin)
}

/// `rimg` with `PATH` set, for credential helpers.
fn rimg_with_path(config: &Path, path: Option<&str>, args: &[&str], stdin: &str) -> Output {
    let root = config.join("store");
    let mut command = isolated_rimg(&root, Some(config));
    if let Some(path) = path {
        command.env("PATH", path);
    }
    output_with_stdin(command.args(args), stdin.as_bytes())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn read_config(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap()
}

#[test]
fn login_logout_round_trip_with_basic_and_token_auth() {
    for kind in [AuthKind::Basic, AuthKind::Token] {
        let registry = Registry::start_with(kind);
        let config = TempDir::new().unwrap();
        let login = ["login", "-u", USER, "--password-stdin", &registry.addr];

        // A wrong password is refused and saves nothing.
        let out = rimg(config.path(), &login, "wrong\n");
        assert_eq!(out.status.code(), Some(1), "{kind:?}");
        let err = text(&out.stderr);
        assert!(err.contains("unauthorized"), "{kind:?}: {err}");
        assert!(!err.contains("wrong"), "{err}");
        assert!(!config.path().join("config.json").exists());

        let out = rimg(config.path(), &login, &format!("{PASSWORD}\n"));
        assert!(out.status.success(), "{kind:?}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "Login Succeeded\n");
        assert!(!text(&out.stdout).contains(PASSWORD));
        assert!(!text(&out.stderr).contains(PASSWORD));
        let mode = std::fs::metadata(config.path().join("config.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let saved = read_config(config.path());
        assert!(saved["auths"][&registry.addr]["auth"].is_string());

        // The saved login is what push and pull then use.
        let store = config.path().join("store");
        let out = isolated_rimg(&store, Some(config.path()))
            .args(["pull", &registry.image("nothing:here")])
            .output()
            .unwrap();
        assert!(
            text(&out.stderr).contains("not found"),
            "{}",
            text(&out.stderr)
        );

        let out = rimg(config.path(), &["logout", &registry.addr], "");
        assert!(out.status.success());
        assert_eq!(
            text(&out.stdout),
            format!("Removing login credentials for {}\n", registry.addr)
        );
        assert!(read_config(config.path())["auths"]
            .get(&registry.addr)
            .is_none());
        let out = rimg(config.path(), &["logout", &registry.addr], "");
        assert_eq!(
            text(&out.stdout),
            format!("Not logged in to {}\n", registry.addr)
        );
    }
}

#[test]
fn login_keeps_other_keys_and_mode_and_warns_about_p() {
    let registry = Registry::start_with(AuthKind::Basic);
    let config = TempDir::new().unwrap();
    let file = config.path().join("config.json");
    std::fs::write(
        &file,
        r#"{"auths":{"other.example":{"auth":"eDp5"}},"psFormat":"table {{.ID}}","proxies":{"default":{"httpProxy":"x"}}}"#,
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = rimg(
        config.path(),
        &["login", "-u", USER, "-p", PASSWORD, &registry.addr],
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr)
        .contains("WARNING! Using --password via the CLI is insecure. Use --password-stdin."));
    let saved = read_config(config.path());
    assert_eq!(saved["psFormat"], "table {{.ID}}");
    assert_eq!(saved["proxies"]["default"]["httpProxy"], "x");
    assert_eq!(saved["auths"]["other.example"]["auth"], "eDp5");
    assert!(saved["auths"][&registry.addr]["auth"].is_string());
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o640);

    let out = rimg(config.path(), &["logout", &registry.addr], "");
    assert!(out.status.success());
    let saved = read_config(config.path());
    assert_eq!(saved["auths"]["other.example"]["auth"], "eDp5");
    assert!(saved["auths"].get(&registry.addr).is_none());
}

#[test]
fn login_goes_through_the_configured_credential_helper() {
    let registry = Registry::start_with(AuthKind::Basic);
    let config = TempDir::new().unwrap();
    let bin = TempDir::new().unwrap();
    let log = bin.path().join("calls");
    // A helper that records its arguments and stdin.
    let helper = bin.path().join("docker-credential-rimgtest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\necho \"args: $*\" >> {log}\ncat >> {log}\necho >> {log}\n",
            log = log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        config.path().join("config.json"),
        r#"{"credsStore":"rimgtest"}"#,
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );
    let run = |args: &[&str], stdin: &str| rimg_with_path(config.path(), Some(&path), args, stdin);
    let out = run(
        &["login", "-u", USER, "--password-stdin", &registry.addr],
        PASSWORD,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(calls.starts_with("args: store\n"), "{calls}");
    assert!(
        calls.contains(&format!("\"Secret\":\"{PASSWORD}\"")),
        "{calls}"
    );
    // The password went over stdin only.
    assert!(!calls
        .lines()
        .any(|l| l.starts_with("args:") && l.contains(PASSWORD)));
    let saved = read_config(config.path());
    assert_eq!(saved["credsStore"], "rimgtest");
    assert!(saved["auths"][&registry.addr].get("auth").is_none());

    let out = run(&["logout", &registry.addr], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(
        calls.contains(&format!("args: erase\n{}", registry.addr)),
        "{calls}"
    );
}
