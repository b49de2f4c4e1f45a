//! The same command lines run by the Docker 20.10 CLI against the test
//! suite's private engine and by rimg, on the same images (pulled from the
//! test registry, loaded from an archive, tagged, imported), their outputs
//! compared after normalising only what must differ:
//!
//! * `Error response from daemon: ` is rimg's `Error: ` (there is no daemon),
//!   and a flag error's `See 'docker images --help'.` is `See 'rimg …`;
//! * relative times of images made during the test (`import`), their
//!   absolute times (the two sides may straddle a second), and those
//!   images' IDs (their creation time is in their config), in the cases
//!   marked [`Check::Volatile`]; columns then line up differently, so runs
//!   of spaces compare as one; and Docker 20.10's `292 years ago` for a
//!   history entry without a time is the newer CLI's `N/A`;
//! * the order of lines where Docker's is random ([`Check::Unordered`]):
//!   `images` lists the tags of one image across repositories, and images
//!   created in the same second, in Go's map order;
//! * the part of `inspect` that describes Docker's own storage
//!   (`GraphDriver`), and the time of `Metadata.LastTagTime` (whether it
//!   is set is compared), in [`Check::Inspect`].
//!
//! Cases whose difference is deliberate are listed in
//! `docs/compatibility.md` with the reason and checked for their exit code
//! only ([`Check::ExitCode`]). One engine and one registry serve every
//! case: dockerd takes seconds to start. Docker's CLI is Debian's 20.10 at
//! `/usr/bin/docker` (another on `PATH` may be newer).

mod common;
#[path = "common/layers.rs"]
mod layers;

use common::archive::{legacy_archive, LegacyImage};
use common::docker::Dockerd;
use common::layout::ImageSpec;
use common::registry::Registry;
use common::{output_with_stdin, rimg_command};
use layers::Layer;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use tempfile::TempDir;

const DOCKER: &str = "/usr/bin/docker";

#[derive(Clone, Copy, PartialEq)]
enum Check {
    /// stdout, stderr and exit code, byte for byte.
    Exact,
    /// As `Exact` once times and IDs of images made now are normalised.
    Volatile,
    /// As `Volatile`, the lines in any order.
    Unordered,
    /// `inspect`'s JSON, less Docker's storage details.
    Inspect,
    /// A deliberate difference (`docs/compatibility.md`): the exit code.
    ExitCode,
}

struct Outcome {
    stdout: String,
    stderr: String,
    code: i32,
}

/// The two sides: the engine with its CLI, and a rimg store.
struct Sides {
    docker: Dockerd,
    config: TempDir,
    root: TempDir,
    /// IDs of the images made during the test, per side, full hex.
    made: (Vec<String>, Vec<String>),
}

impl Sides {
    fn docker_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(DOCKER);
        command
            .arg("-H")
            .arg(format!("unix://{}", self.docker.socket().display()))
            .args(args)
            .env("DOCKER_CONFIG", self.config.path())
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT");
        command
    }

    fn rimg_command(&self, args: &[&str]) -> Command {
        let mut command = rimg_command(self.root.path());
        command.args(args);
        command
    }

    fn run(command: &mut Command, stdin: &[u8]) -> Outcome {
        let out = output_with_stdin(command, stdin);
        Outcome {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code().unwrap_or(-1),
        }
    }

    /// Runs `args` on both sides; a description of the difference, if any.
    fn compare(&self, args: &[&str], check: Check) -> Option<String> {
        let docker = Sides::run(&mut self.docker_command(args), b"");
        let rimg = Sides::run(&mut self.rimg_command(args), b"");
        compare_outcomes(args, check, &docker, &rimg, &self.made)
    }

    /// Compares each of `steps` in order; how many there were.
    fn compare_all(&self, steps: &[(&[&str], Check)], failures: &mut Vec<String>) -> usize {
        for (args, check) in steps {
            failures.extend(self.compare(args, *check));
        }
        steps.len()
    }

    /// Runs `args` on both sides, failing the test unless both succeed.
    fn both_ok(&self, args: &[&str]) -> (String, String) {
        let docker = Sides::run(&mut self.docker_command(args), b"");
        let rimg = Sides::run(&mut self.rimg_command(args), b"");
        assert!(
            docker.code == 0 && rimg.code == 0,
            "{args:?}: docker {} {:?}, rimg {} {:?}",
            docker.code,
            docker.stderr,
            rimg.code,
            rimg.stderr
        );
        (docker.stdout, rimg.stdout)
    }
}

fn compare_outcomes(
    args: &[&str],
    check: Check,
    docker: &Outcome,
    rimg: &Outcome,
    made: &(Vec<String>, Vec<String>),
) -> Option<String> {
    let same = match check {
        Check::ExitCode => docker.code == rimg.code,
        Check::Exact => {
            (docker.code, &docker.stdout, daemonless(&docker.stderr))
                == (rimg.code, &rimg.stdout, rimg.stderr.clone())
        }
        Check::Volatile | Check::Unordered => {
            let normal = |o: &Outcome, made: &[String]| {
                let stdout = volatile(&o.stdout, made);
                let mut lines: Vec<&str> = stdout.lines().collect();
                if check == Check::Unordered {
                    lines.sort();
                }
                let lines = lines.join("\n");
                (o.code, lines, volatile(&daemonless(&o.stderr), made))
            };
            normal(docker, &made.0) == normal(rimg, &made.1)
        }
        Check::Inspect => {
            docker.code == rimg.code
                && without_storage(&docker.stdout) == without_storage(&rimg.stdout)
        }
    };
    (!same).then(|| {
        format!(
            "{args:?}\n--- docker (exit {}):\n{}{}--- rimg (exit {}):\n{}{}",
            docker.code, docker.stdout, docker.stderr, rimg.code, rimg.stdout, rimg.stderr
        )
    })
}

/// rimg has no daemon: what the engine reports, rimg reports itself; and
/// its flag errors send the user to its own help.
fn daemonless(stderr: &str) -> String {
    stderr
        .replace("Error response from daemon: ", "Error: ")
        .replace("See 'docker ", "See 'rimg ")
}

/// Relative times become `<ago>`, times of today (or yesterday, for a run
/// across midnight) `<now>`, the IDs in `made` `<made>`, and runs of spaces
/// (column padding) one space.
fn volatile(text: &str, made: &[String]) -> String {
    let mut text = without_recent_times(&text.replace("292 years ago", "N/A"));
    for id in made {
        text = text
            .replace(id.as_str(), "<made>")
            .replace(&id[..12], "<made>");
    }
    for phrase in ["Less than a second", "About a minute", "About an hour"] {
        text = text.replace(&format!("{phrase} ago"), "<ago>");
    }
    let units = ["second", "minute", "hour", "day", "week", "month", "year"];
    let mut out = String::new();
    let mut rest = text.as_str();
    // `N unit(s) ago`: the number and unit before each ` ago`.
    while let Some(at) = rest.find(" ago") {
        let before = &rest[..at];
        let phrase = before.rsplit_once(' ').and_then(|(head, unit)| {
            let unit_known = units.iter().any(|u| unit.trim_end_matches('s') == *u);
            let digits = head.len() - head.trim_end_matches(|c: char| c.is_ascii_digit()).len();
            (unit_known && digits > 0).then(|| head.len() - digits)
        });
        match phrase {
            Some(start) => {
                out.push_str(&before[..start]);
                out.push_str("<ago>");
            }
            None => out.push_str(&rest[..at + 4]),
        }
        rest = &rest[at + 4..];
    }
    out.push_str(rest);
    out.lines()
        .map(|line| {
            line.split(' ')
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .map(|line| line + "\n")
        .collect()
}

/// Each `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DDTHH:MM:SS` (with any fraction)
/// of today or yesterday replaced by `<now>`: only images made during the
/// test have such times, and each side makes them in its own second.
fn without_recent_times(text: &str) -> String {
    let now = chrono::Utc::now();
    let mut text = text.to_string();
    for day in [now, now - chrono::Duration::days(1)] {
        let date = day.format("%Y-%m-%d").to_string();
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(at) = rest.find(&date) {
            out.push_str(&rest[..at]);
            let after = &rest[at + date.len()..];
            let clock = after.get(..9).filter(|c| {
                let bytes = c.as_bytes();
                (bytes[0] == b' ' || bytes[0] == b'T') && bytes[3] == b':' && bytes[6] == b':'
            });
            match clock {
                Some(clock) => {
                    let fraction = after[9..].strip_prefix('.').map_or(0, |f| {
                        1 + f.len() - f.trim_start_matches(|c: char| c.is_ascii_digit()).len()
                    });
                    out.push_str("<now>");
                    rest = &after[clock.len() + fraction..];
                }
                None => {
                    out.push_str(&date);
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        text = out;
    }
    text
}

/// `inspect`'s array with what describes Docker's storage taken out, and
/// the time of the last tag reduced to whether there was one.
fn without_storage(stdout: &str) -> Value {
    let mut doc: Value = serde_json::from_str(stdout).unwrap_or(Value::Null);
    if let Value::Array(items) = &mut doc {
        for item in items {
            if let Value::Object(fields) = item {
                fields.remove("GraphDriver");
                // When the image was last tagged differs; whether it was
                // (by `tag`, not by a pull or load) must not.
                if let Some(Value::Object(metadata)) = fields.get_mut("Metadata") {
                    if let Some(time) = metadata.get_mut("LastTagTime") {
                        let tagged = time != "0001-01-01T00:00:00Z";
                        *time = Value::Bool(tagged);
                    }
                }
            }
        }
    }
    doc
}

/// A tarball for `import`: a file, a symlink, a hard link (sizes that
/// tell Docker's measure from the tar's).
fn rootfs_tar() -> Vec<u8> {
    Layer::new()
        .dir("etc", 0o755)
        .file("etc/release", b"imported <&>\n", 0o644)
        .symlink("etc/link", "release")
        .hardlink("etc/hard", "etc/release")
        .finish()
}

/// Makes the same images on both sides: two pulled (one under two
/// names), one loaded, one imported twice (with and without changes),
/// and extra tags. Checks the messages of those steps on the way.
fn set_up(registry: &Registry, work: &Path, failures: &mut Vec<String>) -> Sides {
    let mut sides = Sides {
        docker: Dockerd::start(),
        config: TempDir::new().unwrap(),
        root: TempDir::new().unwrap(),
        made: (Vec::new(), Vec::new()),
    };
    registry.push_image(&ImageSpec::new(61, 3, 20_000), "diff/app:v1");
    registry.push_image(&ImageSpec::new(62, 1, 5_000), "diff/base:1");
    registry.push_image(&ImageSpec::new(62, 1, 5_000), "diff/base:2");
    let app = registry.image("diff/app:v1");
    // A new pull: the layer lines come in any order, the rest exactly.
    let docker = Sides::run(&mut sides.docker_command(&["pull", &app]), b"");
    let rimg = Sides::run(&mut sides.rimg_command(&["pull", &app]), b"");
    // Docker skips `Verifying Checksum` for a layer that arrives at once,
    // so only each layer's first and last lines are compared.
    fn sorted(o: &Outcome) -> (i32, String, Vec<&str>, Vec<&str>) {
        let mut lines: Vec<&str> = o.stdout.lines().collect();
        let first = lines.remove(0).to_string();
        let last = lines.split_off(lines.len().saturating_sub(3));
        let mut layers: Vec<&str> = lines
            .into_iter()
            .filter(|l| l.ends_with(": Pulling fs layer") || l.ends_with(": Pull complete"))
            .collect();
        layers.sort();
        (o.code, first, layers, last)
    }
    if sorted(&docker) != sorted(&rimg) {
        failures.push(format!(
            "pull of a new image\n--- docker:\n{}--- rimg:\n{}",
            docker.stdout, rimg.stdout
        ));
    }
    for name in ["diff/base:1", "diff/base:2"] {
        sides.both_ok(&["pull", "-q", &registry.image(name)]);
    }
    // `load` of one archive, and its message.
    let legacy = LegacyImage::new(
        &[&[("bin/tool", &[7u8; 3000])], &[("etc/conf", b"x=1\n")]],
        &["loaded:1", "loaded:2"],
    );
    let archive = work.join("legacy.tar");
    std::fs::write(&archive, legacy_archive(&[legacy])).unwrap();
    let load = ["load", "-i", archive.to_str().unwrap()];
    failures.extend(sides.compare(&load, Check::Exact));
    // `import` from a file, with changes and a message: new IDs each side.
    let tarball = work.join("rootfs.tar");
    std::fs::write(&tarball, rootfs_tar()).unwrap();
    let file = tarball.to_str().unwrap();
    let imports: [&[&str]; 2] = [
        &["import", file, "imp:plain"],
        &[
            "import",
            "-c",
            "CMD [\"/bin/sh\"]",
            "-c",
            "ENV A=1 B=<&>",
            "-c",
            "EXPOSE 80/udp 8080",
            "-c",
            "LABEL k=v",
            "-c",
            "USER nobody",
            "-c",
            "WORKDIR /srv",
            "-c",
            "VOLUME /data",
            "-m",
            "made <here>",
            file,
            "imp:changed",
        ],
    ];
    for import in imports {
        let (d, r) = sides.both_ok(import);
        for id in [&d, &r] {
            assert!(
                id.starts_with("sha256:") && id.trim_end().len() == 71,
                "{id:?}"
            );
        }
        sides
            .made
            .0
            .push(d.trim_end()["sha256:".len()..].to_string());
        sides
            .made
            .1
            .push(r.trim_end()["sha256:".len()..].to_string());
    }
    for (source, target) in [
        (app.as_str(), "app:latest"),
        (app.as_str(), "other/app:x"),
        ("loaded:1", "loaded:extra"),
    ] {
        failures.extend(sides.compare(&["tag", source, target], Check::Exact));
    }
    sides
}

/// `inspect` templates on the fields whose Go type JSON loses: null
/// lists and maps (`[]`, `map[]`), sets (`map[/data:{}]`), nil pointers
/// (`<nil>`), `Metadata.LastTagTime` (a `time.Time`), the strings and
/// bools Docker's JSON leaves out when empty, a map's missing keys, and
/// whole structs.
const TYPED_FORMATS: [&str; 8] = [
    "{{.Config.Entrypoint}}|{{.Config.Cmd}}|{{.Config.Env}}|{{.Config.OnBuild}}|{{.Config.Volumes}}|\
     {{.Config.ExposedPorts}}|{{.Config.Labels}}|{{.Config.Shell}}|{{.Config.Healthcheck}}|\
     {{.Config.StopTimeout}}",
    "{{.ContainerConfig.Entrypoint}}|{{.ContainerConfig.Cmd}}|{{.ContainerConfig.Env}}|\
     {{.ContainerConfig.Volumes}}|{{.ContainerConfig.OnBuild}}|{{.ContainerConfig.Labels}}|\
     {{.ContainerConfig.ExposedPorts}}",
    "{{if .Config.Entrypoint}}y{{else}}n{{end}} {{len .Config.Volumes}} {{len .Config.Env}} \
     {{range .Config.Entrypoint}}x{{else}}none{{end}} {{with .Config.Labels}}w{{else}}nw{{end}} \
     {{and .Config.Entrypoint 1}} {{or .Config.OnBuild 1}} {{not .Config.Entrypoint}} \
     {{join .Config.Entrypoint \",\"}} {{range $k, $v := .Config.ExposedPorts}}{{$k}}={{$v}} {{end}}",
    "{{json .Config.Entrypoint}} {{json .Config.Shell}} {{json .Config.Volumes}} {{json .ContainerConfig.Labels}}",
    "{{.Metadata.LastTagTime}}|{{json .Metadata.LastTagTime}}|{{json .Metadata}}",
    "{{.Config.StopSignal}}|{{.Config.ArgsEscaped}}|{{.Config.MacAddress}}|\
     {{.Config.NetworkDisabled}}|{{.Variant}}|{{.OsVersion}}|{{.RootFS.BaseLayer}}|\
     {{eq .Config.StopSignal \"\"}}|{{len .Config.MacAddress}}|{{json .RootFS}}",
    "{{index .Config.Labels \"x\"}}|{{index .Config.Labels \"k\"}}|{{index .Config.Volumes \"/x\"}}|\
     {{.Config.Labels.x}}|{{.Config.Volumes.x}}",
    "{{.Config}}|{{.ContainerConfig}}|{{.RootFS}}|{{.Metadata}}|{{printf \"%v\" .RootFS}}",
];

#[test]
fn rimg_prints_what_docker_prints() {
    let registry = Registry::start();
    let work = TempDir::new().unwrap();
    let mut failures = Vec::new();
    let mut sides = set_up(&registry, work.path(), &mut failures);
    let app = registry.image("diff/app:v1");
    let base = registry.image("diff/base:1");
    let app_repo = registry.image("diff/app");
    use Check::*;
    let mut cases: Vec<(Vec<String>, Check)> = Vec::new();
    let mut case = |args: &[&str], check: Check| {
        cases.push((args.iter().map(|a| a.to_string()).collect(), check));
    };
    // `images`: flags, filters, formats.
    for args in [
        &["images"][..],
        &["images", "-a"],
        &["images", "-q"],
        &["images", "-aq"],
        &["images", "--no-trunc"],
        &["images", "-q", "--no-trunc"],
        &["images", "--digests"],
        &["image", "ls"],
        &["images", "-f", "dangling=true"],
        &["images", "-f", "dangling=false"],
        &["images", "-f", "label=k"],
        &["images", "-f", "label=k=v"],
        &["images", "-f", "label=nope"],
        &["images", "-f", "since=loaded:1"],
        &["images", "-f", "before=imp:plain"],
        &["images", "-f", "reference=loaded"],
        &["images", "-f", "reference=*/app"],
        &["images", "-f", "reference=*app*"],
        &["images", "loaded"],
        &["images", "loaded:2"],
        &["images", "imp"],
        &["images", "nosuch"],
        &["images", "--format", "{{.Repository}}:{{.Tag}}"],
        &[
            "images",
            "--format",
            "table {{.Repository}}\t{{.Tag}}\t{{.Size}}",
        ],
        &["images", "--format", "{{json .}}"],
        &[
            "images",
            "--format",
            "{{.ID}} {{.Size}} {{.VirtualSize}} {{.SharedSize}} {{.UniqueSize}} {{.Containers}}",
        ],
        &["images", "--format", "{{.Digest}} {{json .Digest}}"],
        &[
            "images",
            "--format",
            "{{join (split .Repository \"/\") \",\"}} {{upper .Tag}} {{len .Tag}}",
        ],
        &[
            "images",
            "--format",
            "{{if eq .Tag \"<none>\"}}untagged{{else}}{{.Tag}}{{end}}",
        ],
        &["images", "--format", "{{printf \"%-12s|\" .Tag}}"],
        &["images", "--format", "table {{.ID}}"],
        &["images", "--format", "{{.CreatedAt}}"],
    ] {
        case(args, Unordered);
    }
    // `history`.
    for name in [app.as_str(), "loaded:1", "imp:changed"] {
        for args in [
            &["history", name][..],
            &["history", "-H=false", name],
            &["history", "--no-trunc", name],
            &["history", "-q", name],
            &[
                "history",
                "--format",
                "{{.Size}}|{{.Comment}}|{{.CreatedBy}}",
                name,
            ],
            &["history", "--format", "{{json .}}", name],
            &["history", "--format", "table {{.ID}}\t{{.Size}}", name],
        ] {
            case(args, Volatile);
        }
    }
    // `inspect`: whole documents and single fields.
    for name in [app.as_str(), "loaded:1", base.as_str()] {
        case(&["inspect", name], Inspect);
        case(&["image", "inspect", name], Inspect);
        for format in [
            "{{.Id}}",
            "{{.RepoTags}} {{.RepoDigests}}",
            "{{.Size}} {{.VirtualSize}}",
            "{{json .Config}}",
            "{{json .ContainerConfig}}",
            "{{.Os}}/{{.Architecture}} {{.Parent}} {{.Comment}} {{.Author}}",
            "{{json .RootFS}}",
            "{{.Config.User}}|{{.Config.WorkingDir}}",
            "{{index .RepoTags 0}}",
            "{{range .RootFS.Layers}}{{.}} {{end}}",
            "{{len .RootFS.Layers}}",
        ] {
            case(&["inspect", "--format", format, name], Exact);
        }
        // Null lists and maps print as Go's typed zero values, and times
        // as Go's `time.Time` (today's are normalised: tags set them).
        for format in TYPED_FORMATS {
            case(&["image", "inspect", "--format", format, name], Volatile);
        }
    }
    for format in [
        "{{json .Config}}",
        "{{.Comment}} {{.Size}} {{json .Config.Env}} {{json .Config.ExposedPorts}}",
        "{{json .Config.Volumes}} {{.Config.User}} {{json .Config.Labels}}",
    ]
    .into_iter()
    .chain(TYPED_FORMATS)
    {
        case(
            &["inspect", "-f", format, "imp:changed", "imp:plain"],
            Volatile,
        );
    }
    // Errors, and what Docker's engine says for them.
    for args in [
        &["inspect", "nosuch"][..],
        &["image", "inspect", "nosuch"],
        &["inspect", "-f", "{{.Id}}", "loaded:1", "nosuch"],
        &["history", "nosuch"],
        &["rmi", "nosuch"],
        &["rmi", "-f", "nosuch"],
        &["tag", "nosuch", "x"],
        // Filters without `=`: flag errors, exit 125.
        &["images", "-f", "dangling"],
        &["images", "--filter", "dangling", "-q"],
        &["image", "ls", "-f", "dangling"],
        &["image", "prune", "-f", "--filter", "until"],
        &["ps", "-a", "-f", "status"],
        &["images", "--filter", "bogus=1"],
        &["images", "--filter", "dangling=maybe"],
        &["image", "prune", "-f", "--filter", "bogus=1"],
    ] {
        case(args, Exact);
    }
    // Tags and removals, in order.
    for args in [
        &["tag", "loaded:1", "loaded:3"][..],
        &["rmi", "loaded:3"],
        &["rmi", "loaded:extra", "loaded:2"],
        &["tag", "loaded:1", "again:1"],
        &["image", "prune", "-f"],
        &["system", "df"],
        &[
            "system",
            "df",
            "--format",
            "{{.Type}}: {{.TotalCount}} {{.Active}} {{.Size}} {{.Reclaimable}}",
        ],
        &["system", "df", "--format", "{{json .}}"],
    ] {
        case(args, Volatile);
    }
    case(&["system", "df", "-v"], Unordered);
    case(&["images", "loaded"], Unordered);
    // An up-to-date pull; a missing tag and a bad reference.
    case(&["pull", &base], Exact);
    case(&["pull", &format!("{app_repo}:nope")], Exact);
    // Deliberate: rimg words reference errors as Docker 25+ does.
    case(&["pull", "UPPER/case"], ExitCode);
    case(&["tag", "loaded:1", "Bad/Name"], ExitCode);
    for (args, check) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        failures.extend(sides.compare(&args, *check));
    }
    let steps = containers_and_commit(&mut sides, &mut failures)
        + archives(&sides, work.path(), &mut failures);
    assert!(
        cases.len() >= 80,
        "the table holds {} command lines",
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} command lines differ:\n\n{}",
        failures.len(),
        cases.len() + steps,
        failures.join("\n\n")
    );
}

/// `save` and `load` (each side loads the archive rimg wrote last, Docker
/// so reading rimg's), and archives that are none; how many command lines.
fn archives(sides: &Sides, work: &Path, failures: &mut Vec<String>) -> usize {
    use Check::*;
    let saved = work.join("saved.tar");
    let saved = saved.to_str().unwrap();
    let junk = work.join("junk.tar");
    std::fs::write(&junk, b"this is not a tar archive, not even close").unwrap();
    let junk = junk.to_str().unwrap();
    let steps: [(&[&str], Check); 7] = [
        (&["save", "-o", saved, "again:1", "app:latest"], Exact),
        (&["load", "-i", saved], Exact),
        (&["load", "-q", "-i", saved], Exact),
        (&["save", "-o", saved, "nosuch:1"], Exact),
        // Deliberate: rimg prefixes every error with `Error: ` and words
        // the system's errors its own way; it says what is wrong with an
        // archive that is none.
        (&["load", "-i", "/nonexistent/archive.tar"], ExitCode),
        (&["load", "-i", junk], ExitCode),
        (&["import", junk], ExitCode),
    ];
    sides.compare_all(&steps, failures)
}

/// Containers (created, never run), what they hold on to, `commit`, a
/// dangling image and its pruning, in order; how many command lines.
fn containers_and_commit(sides: &mut Sides, failures: &mut Vec<String>) -> usize {
    use Check::*;
    // New IDs on each side: recorded to be normalised.
    let made = |sides: &mut Sides, args: &[&str]| {
        let (d, r) = sides.both_ok(args);
        let hex = |out: &str| out.trim_end().trim_start_matches("sha256:").to_string();
        sides.made.0.push(hex(&d));
        sides.made.1.push(hex(&r));
    };
    made(sides, &["create", "--name", "c1", "loaded:1"]);
    made(sides, &["commit", "-m", "from c1", "c1", "com:1"]);
    // A commit of a commit: history names the parent's ID in its row.
    made(sides, &["create", "--name", "c2", "com:1"]);
    made(sides, &["commit", "c2", "com:2"]);
    let steps: [(&[&str], Check); 37] = [
        (&["ps", "-a", "-s"], Unordered),
        (
            &["ps", "-a", "--format", "{{.Names}}: {{.Size}}"],
            Unordered,
        ),
        // Filters: regular expressions on the name with its `/`, a status
        // listing stopped containers without -a, ancestors and their
        // descendants, creation order, keys that match nothing.
        (
            &["ps", "-a", "--format", "{{.Names}}", "-f", "name=c1"],
            Exact,
        ),
        (
            &["ps", "-a", "--format", "{{.Names}}", "-f", "name=^/c"],
            Unordered,
        ),
        (
            &["ps", "--format", "{{.Names}}", "-f", "status=created"],
            Unordered,
        ),
        (
            &["ps", "-a", "--format", "{{.Names}}", "-f", "ancestor=com:1"],
            Exact,
        ),
        (
            &[
                "ps",
                "-a",
                "--format",
                "{{.Names}}",
                "-f",
                "ancestor=loaded:1",
            ],
            Unordered,
        ),
        (
            &["ps", "-a", "--format", "{{.Names}}", "-f", "before=c2"],
            Exact,
        ),
        (
            &[
                "ps",
                "-a",
                "--format",
                "{{.Names}}",
                "-f",
                "since=c1",
                "-f",
                "status=created",
            ],
            Exact,
        ),
        (
            &["ps", "-aq", "-f", "exited=0", "-f", "label=nosuch"],
            Exact,
        ),
        (&["ps", "-a", "-f", "colour=red"], ExitCode),
        (
            &[
                "inspect",
                "-f",
                "{{json .Config}}|{{json .ContainerConfig}}|{{.Container}}",
                "com:1",
                "com:2",
            ],
            Volatile,
        ),
        (&["history", "com:2"], Volatile),
        (&["history", "-q", "--no-trunc", "com:2"], Volatile),
        (
            &["inspect", "-f", "{{.Parent}}", "com:2", "com:1"],
            Volatile,
        ),
        (
            &["inspect", "-f", TYPED_FORMATS[1], "com:2", "com:1"],
            Volatile,
        ),
        (
            &["inspect", "-f", TYPED_FORMATS[7], "com:2", "com:1"],
            Volatile,
        ),
        (
            &["image", "inspect", "-f", "{{.Parent}}", "loaded:1"],
            Exact,
        ),
        (&["rmi", "com:1"], Volatile),
        (&["ps", "-a"], Volatile),
        (
            &[
                "ps",
                "-a",
                "--no-trunc",
                "--format",
                "{{.ID}} {{.Image}} {{.Command}} {{.Status}} {{.Names}}",
            ],
            Volatile,
        ),
        (&["ps", "-aq"], Volatile),
        (
            &[
                "container",
                "ls",
                "-a",
                "--format",
                "{{.Command}} {{.State}} {{.Status}} {{.Labels}} {{.Mounts}} {{.LocalVolumes}}",
            ],
            Volatile,
        ),
        (&["rmi", "loaded:1"], Volatile),
        (&["history", "com:1"], Volatile),
        (&["images", "com"], Unordered),
        (
            &[
                "inspect",
                "-f",
                "{{.Comment}} {{.Author}} {{len .RootFS.Layers}} {{.Config.Cmd}}",
                "com:1",
            ],
            Volatile,
        ),
        // Not ACTIVE, nor ps's Networks and Size: see docs/compatibility.md.
        (
            &[
                "system",
                "df",
                "--format",
                "{{.Type}} {{.TotalCount}} {{.Size}}",
            ],
            Volatile,
        ),
        // Moves imp:plain's name away: the image it named is dangling now.
        (&["tag", "imp:changed", "imp:plain"], Exact),
        (&["images", "-f", "dangling=true"], Volatile),
        (&["images", "-q", "-f", "dangling=true"], Volatile),
        (&["image", "prune", "-f"], Volatile),
        (&["rm", "c1"], Exact),
        (&["rm", "c1"], Exact),
        (&["rm", "c2"], Exact),
        (&["rmi", "com:2", "com:1"], Volatile),
        (&["ps", "-a"], Exact),
    ];
    sides.compare_all(&steps, failures) + 4
}

/// Images imported in 14:48:41 by Docker and in 14:48:42 by rimg (a CI run
/// did): their absolute times must not count as a difference.
#[test]
fn times_of_images_made_in_different_seconds_compare_equal() {
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let outcome = |second: &str| {
        Outcome {
        stdout: format!(
            "IMAGE CREATED AT SIZE\n{today}T14:48:{second}Z 20\n{today} 14:48:{second}.123 +0000 UTC\n2024-01-02 03:04:05 +0000 UTC\n"
        ),
        stderr: String::new(),
        code: 0,
    }
    };
    let (docker, rimg) = (outcome("41"), outcome("42"));
    let made = (Vec::new(), Vec::new());
    assert_eq!(
        compare_outcomes(&[], Check::Volatile, &docker, &rimg, &made),
        None
    );
    assert_eq!(
        without_recent_times(&docker.stdout),
        "IMAGE CREATED AT SIZE\n<now>Z 20\n<now> +0000 UTC\n2024-01-02 03:04:05 +0000 UTC\n"
    );
}
