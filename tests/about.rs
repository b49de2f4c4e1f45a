//! The commands about rimg itself, which never open the store: `version`
//! (the fields of `docker version`'s client section that apply) and
//! `completion`.

mod common;

use common::Fixture;
use std::process::Command;

#[test]
fn version_prints_dockers_client_layout_and_takes_a_format() {
    let fx = Fixture::new();
    let out = fx.ok(&["version"]);
    let labels: Vec<&str> = out.lines().map(|l| l.get(..20).unwrap_or(l)).collect();
    assert_eq!(
        labels,
        [
            "Client:",
            " Version:           ",
            " Rust version:      ",
            " Git commit:        ",
            " Built:             ",
            " OS/Arch:           ",
            " OCI runtime:       ",
        ]
    );
    assert!(out.contains(&format!(
        " Version:           {}\n",
        env!("CARGO_PKG_VERSION")
    )));
    assert!(out.contains(" Rust version:      rustc 1."), "{out}");
    assert!(out.contains(" OS/Arch:           linux/"), "{out}");
    // The test machine has runc (Debian's), as `run` will need.
    assert!(out.contains(" OCI runtime:       runc "), "{out}");
    assert_eq!(
        fx.ok(&[
            "version",
            "--format",
            "{{.Client.Version}}|{{json .Client.Os}}"
        ]),
        format!("{}|\"linux\"\n", env!("CARGO_PKG_VERSION"))
    );
    assert!(!fx.root().exists(), "version opened the store");
}

#[test]
fn completion_scripts_load_in_their_shells() {
    let fx = Fixture::new();
    let bash = fx.ok(&["completion", "bash"]);
    // Sourced from a file, as users install it: the script is larger than
    // one command-line argument may be (128 KiB).
    let script = fx.dir.path().join("rimg.bash");
    std::fs::write(&script, &bash).unwrap();
    let loaded = Command::new("bash")
        .args(["-c", "source \"$1\" && complete -p rimg", "bash"])
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&loaded.stdout),
        "complete -o bashdefault -o default -o nosort -F _rimg rimg\n"
    );
    assert!(fx.ok(&["completion", "zsh"]).starts_with("#compdef rimg\n"));
    let fish = fx.ok(&["completion", "fish"]);
    assert!(fish.contains("complete -c rimg "), "{fish}");
    // Subcommands and their flags are in: `system df -v`, from clap.
    assert!(bash.contains("rimg__subcmd__system__subcmd__df)"), "{bash}");
    let run = fx.run(&["completion", "powershell"]);
    assert_eq!(run.code, 125, "{run:?}");
    assert!(!fx.root().exists(), "completion opened the store");
}
