//! Local image management through the real binary: images, tag, rmi,
//! inspect, history, image prune and system df on synthetic images.

mod common;

use chrono::{Duration, SecondsFormat, Utc};
use common::{Compression, Fixture, ImageSpec};
use std::collections::BTreeSet;

fn days_ago(days: i64) -> String {
    (Utc::now() - Duration::days(days)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn blob_count(fx: &Fixture) -> usize {
    std::fs::read_dir(fx.root().join("blobs/sha256"))
        .unwrap()
        .count()
}

#[test]
fn images_table_matches_docker_layout() {
    let fx = Fixture::new();
    let app = fx.add_image(&ImageSpec::new(&["app:1"]).created(&days_ago(5)));
    let web =
        fx.add_image(&ImageSpec::new(&["localhost:5000/team/web:latest"]).created(&days_ago(400)));
    let out = fx.ok(&["images"]);
    // Docker's tabwriter: cells padded by 3, columns at least 10 wide.
    let expected = format!(
        "REPOSITORY                TAG       IMAGE ID       CREATED         SIZE\n\
         app                       1         {}   5 days ago      5B\n\
         localhost:5000/team/web   latest    {}   13 months ago   30B\n",
        app.id.short(),
        web.id.short()
    );
    assert_eq!(out, expected);
}

#[test]
fn empty_store_prints_only_the_header() {
    let fx = Fixture::new();
    assert_eq!(
        fx.ok(&["images"]),
        "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n"
    );
    assert_eq!(fx.ok(&["images", "-q"]), "");
}

#[test]
fn quiet_repeats_ids_per_tag_and_no_trunc_shows_full_ids() {
    let fx = Fixture::new();
    let img = fx.add_image(&ImageSpec::new(&["a:1", "b:2"]));
    let short = img.id.short().to_string();
    assert_eq!(fx.ok(&["images", "-q"]), format!("{short}\n{short}\n"));
    assert_eq!(
        fx.ok(&["images", "-q", "--no-trunc"]),
        format!("{}\n{}\n", img.id, img.id)
    );
    assert_eq!(
        fx.ok(&["image", "ls", "-aq"]),
        format!("{short}\n{short}\n")
    );
}

#[test]
fn untagged_images_show_none_and_dangling_filter() {
    let fx = Fixture::new();
    let untagged = fx.add_image(&ImageSpec::new(&[]).created(&days_ago(1)));
    let tagged = fx.add_image(&ImageSpec::new(&["app"]).created(&days_ago(2)));
    let rows = fx.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    assert_eq!(
        rows,
        format!(
            "<none>:<none> {}\napp:latest {}\n",
            untagged.id.short(),
            tagged.id.short()
        )
    );
    assert_eq!(
        fx.ok(&["images", "-q", "--filter", "dangling=true"]),
        format!("{}\n", untagged.id.short())
    );
    assert_eq!(
        fx.ok(&["images", "-q", "-f", "dangling=false"]),
        format!("{}\n", tagged.id.short())
    );
}

#[test]
fn filters_by_label_time_and_reference() {
    let fx = Fixture::new();
    let old = fx.add_image(
        &ImageSpec::new(&["ubuntu:18.04"])
            .created(&days_ago(30))
            .label("tier", "base"),
    );
    let mid = fx.add_image(
        &ImageSpec::new(&["ubuntu:20.04", "localhost:5000/ubuntu:20.04"])
            .created(&days_ago(20))
            .label("tier", "base"),
    );
    let new = fx.add_image(
        &ImageSpec::new(&["user/app:1"])
            .created(&days_ago(10))
            .label("tier", "app"),
    );
    let q = |args: &[&str]| {
        let mut all = vec!["images", "--format", "{{.Repository}}:{{.Tag}}"];
        all.extend_from_slice(args);
        fx.ok(&all)
    };
    assert_eq!(
        q(&["--filter", "label=tier=base"]),
        "localhost:5000/ubuntu:20.04\nubuntu:20.04\nubuntu:18.04\n"
    );
    assert_eq!(
        q(&["-f", "label=tier", "-f", "label=tier=app"]),
        "user/app:1\n"
    );
    assert_eq!(q(&["-f", "before=ubuntu:20.04"]), "ubuntu:18.04\n");
    assert_eq!(
        q(&["-f", &format!("since={}", old.id.short())]),
        "user/app:1\nlocalhost:5000/ubuntu:20.04\nubuntu:20.04\n"
    );
    assert_eq!(
        q(&["-f", "reference=ubuntu:*"]),
        "ubuntu:20.04\nubuntu:18.04\n"
    );
    assert_eq!(q(&["-f", "reference=*/app"]), "user/app:1\n");
    assert_eq!(q(&["ubuntu"]), "ubuntu:20.04\nubuntu:18.04\n");
    assert_eq!(q(&["ubuntu:18.04"]), "ubuntu:18.04\n");
    let _ = (mid, new);

    let bad = fx.run(&["images", "-f", "colour=red"]);
    assert_eq!(bad.code, 1);
    assert_eq!(bad.stderr, "Error: Invalid filter 'colour'\n");
    // Docker 20.10's words, its Go slice of values and all.
    let bad = fx.run(&["images", "-f", "dangling=maybe"]);
    assert_eq!(
        (bad.code, bad.stderr.as_str()),
        (1, "Error: Invalid filter 'dangling=[maybe]'\n")
    );
    let bad = fx.run(&["image", "prune", "-f", "--filter", "until=xx"]);
    assert_eq!(
        (bad.code, bad.stderr.as_str()),
        (
            1,
            "Error: failed to parse value as time or duration: \"xx\"\n"
        )
    );
    // No `=`: a flag error, in the words of Docker's flag library.
    let bad = fx.run(&["images", "-f", "dangling"]);
    assert_eq!(
        (bad.code, bad.stderr.as_str()),
        (
            125,
            "invalid argument \"dangling\" for \"-f, --filter\" flag: \
             bad format of filter (expected name=value)\nSee 'rimg images --help'.\n"
        )
    );
}

#[test]
fn digests_column_and_templates() {
    let fx = Fixture::new();
    let img = fx.add_image(&ImageSpec::new(&["app:1"]).created(&days_ago(3)));
    let digest_ref = format!("app@{}", img.manifest.digest);
    fx.ok(&["tag", "app:1", "app:2"]);
    // A digest reference is recorded the way pull records repo digests.
    let store = fx.store();
    let named = rimg::reference::Reference::parse(&digest_ref).unwrap();
    rimg::image::register(&store, &img.manifest, &[named]).unwrap();

    let out = fx.ok(&["images", "--digests"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "REPOSITORY   TAG       DIGEST                                                                    IMAGE ID       CREATED      SIZE"
    );
    assert_eq!(lines.len(), 3);
    assert!(lines[1].starts_with(&format!("app          1         {}", img.manifest.digest)));

    let plain = fx.ok(&["images", "--format", "{{.Tag}} {{.Digest}}"]);
    assert_eq!(
        plain,
        format!("1 {}\n2 {}\n", img.manifest.digest, img.manifest.digest)
    );
    let table = fx.ok(&["images", "--format", "table {{.Repository}}\t{{.Tag}}"]);
    assert_eq!(table, "REPOSITORY   TAG\napp          1\napp          2\n");
    let json_line = fx.ok(&["images", "--format", "{{json .}}"]);
    let first: serde_json::Value = serde_json::from_str(json_line.lines().next().unwrap()).unwrap();
    assert_eq!(first["Repository"], "app");
    assert_eq!(first["ID"], img.id.short());
    assert_eq!(first["Size"], "5B");
    // `{{json .}}` escapes as Go's json.Marshal does (Docker 20.10:
    // `"Digest":"\u003cnone\u003e"`), and `json` is the same.
    let json_mode = fx.ok(&["images", "--format", "json"]);
    assert_eq!(json_mode, json_line);
    assert!(
        json_line.contains(r#""Digest":"\u003cnone\u003e""#),
        "{json_line}"
    );
}

#[test]
fn tag_accepts_names_ids_and_digests() {
    let fx = Fixture::new();
    let img = fx.add_image(&ImageSpec::new(&["app:1"]));
    fx.ok(&["tag", "app:1", "app:by-name"]);
    fx.ok(&["tag", &img.id.short()[..5], "app:by-prefix"]);
    fx.ok(&["tag", img.id.as_str(), "app:by-id"]);
    fx.ok(&["tag", img.id.hex(), "localhost:5000/app"]);
    let by_digest = format!("app@{}", img.manifest.digest);
    let named = rimg::reference::Reference::parse(&by_digest).unwrap();
    rimg::image::register(&fx.store(), &img.manifest, &[named]).unwrap();
    fx.ok(&["image", "tag", &by_digest, "app:by-digest"]);
    assert_eq!(
        fx.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]),
        "app:1\napp:by-digest\napp:by-id\napp:by-name\napp:by-prefix\nlocalhost:5000/app:latest\n"
    );

    let missing = fx.run(&["tag", "nope", "x"]);
    assert_eq!(
        (missing.code, missing.stderr.as_str()),
        (1, "Error: No such image: nope:latest\n")
    );
    let bad = fx.run(&["tag", "app:1", "Bad/Name"]);
    assert_eq!(bad.code, 1);
    assert_eq!(
        bad.stderr,
        "Error: Error parsing reference: \"Bad/Name\" is not a valid repository/tag: invalid reference format: repository name (Name) must be lowercase\n"
    );
}

#[test]
fn moving_a_tag_leaves_the_old_image_dangling() {
    let fx = Fixture::new();
    let old = fx.add_image(&ImageSpec::new(&["app:1"]).created(&days_ago(2)));
    let new = fx.add_image(&ImageSpec::new(&["other:1"]).created(&days_ago(1)));
    fx.ok(&["tag", "other:1", "app:1"]);
    assert_eq!(
        fx.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]),
        format!(
            "app:1 {n}\nother:1 {n}\n<none>:<none> {o}\n",
            n = new.id.short(),
            o = old.id.short()
        )
    );
}

#[test]
fn rmi_untags_then_deletes_like_docker() {
    let fx = Fixture::new();
    let img = fx.add_image(&ImageSpec::new(&["app:1", "app:2"]));
    assert_eq!(fx.ok(&["rmi", "app:1"]), "Untagged: app:1\n");
    let out = fx.ok(&["rmi", "app:2"]);
    let chain = rimg::oci::chain_ids(&img.diff_ids);
    assert_eq!(
        out,
        format!(
            "Untagged: app:2\nDeleted: {}\nDeleted: {}\n",
            img.id, chain[0]
        )
    );
    assert_eq!(blob_count(&fx), 0);
    assert_eq!(fx.ok(&["images", "-q"]), "");
}

#[test]
fn rmi_by_id_needs_force_when_referenced_in_several_repositories() {
    let fx = Fixture::new();
    let img = fx.add_image(&ImageSpec::new(&["a:1", "b:1"]));
    let run = fx.run(&["rmi", img.id.short()]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        format!(
            "Error: conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories\n",
            img.id.short()
        )
    );
    assert_eq!(run.stdout, "");
    let out = fx.ok(&["rmi", "-f", img.id.short()]);
    assert!(
        out.starts_with("Untagged: a:1\nUntagged: b:1\nDeleted: sha256:"),
        "{out}"
    );
    // A single tag: removal by ID needs no force.
    let one = fx.add_image(&ImageSpec::new(&["solo:1"]));
    let out = fx.ok(&["image", "rm", &one.id.hex()[..8]]);
    assert!(out.starts_with("Untagged: solo:1\nDeleted: "), "{out}");
}

#[test]
fn rmi_reports_each_failure_and_processes_the_rest() {
    let fx = Fixture::new();
    fx.add_image(&ImageSpec::new(&["keep:1"]));
    fx.add_image(&ImageSpec::new(&["gone:1"]));
    let run = fx.run(&["rmi", "missing", "gone:1", "Upper"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.starts_with("Untagged: gone:1\nDeleted: "),
        "{run:?}"
    );
    assert_eq!(
        run.stderr,
        "Error: No such image: missing\nError: invalid reference format: repository name (library/Upper) must be lowercase\n"
    );
    // -f forgives missing images (exit 0) but still reports them.
    let run = fx.run(&["rmi", "-f", "missing"]);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (0, "Error: No such image: missing\n")
    );
    assert_eq!(fx.ok(&["images", "--format", "{{.Repository}}"]), "keep\n");
}

#[test]
fn ambiguous_id_prefix_is_an_error() {
    let fx = Fixture::new();
    // Find two images whose IDs share a first hex digit.
    let mut by_first: std::collections::HashMap<char, Vec<String>> = Default::default();
    let mut i = 0;
    let pair = loop {
        let img = fx.add_image(&ImageSpec::new(&[&format!("img{i}")]));
        let first = img.id.hex().chars().next().unwrap();
        let ids = by_first.entry(first).or_default();
        ids.push(img.id.hex().to_string());
        if ids.len() == 2 {
            break first;
        }
        i += 1;
    };
    let run = fx.run(&["rmi", &pair.to_string()]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        format!("Error: No such image: {pair} (the ID prefix is ambiguous: it matches 2 images)\n")
    );
}

#[test]
fn images_quiet_piped_into_rmi_removes_everything_and_shared_layers_last() {
    let fx = Fixture::new();
    let base: &[(&str, &[u8])] = &[("bin/sh", b"shell")];
    let a = fx.add_image(&ImageSpec::new(&["a:1", "a:2"]).layers(&[base, &[("a", b"a")]]));
    let b = fx.add_image(&ImageSpec::new(&["b:1"]).layers(&[base, &[("b", b"b")]]));
    assert_eq!(a.layers[0], b.layers[0], "the base layer is shared");
    let shared = fx.root().join("blobs/sha256").join(a.layers[0].hex());

    fx.ok(&["rmi", "b:1"]);
    assert!(shared.exists(), "a still needs the shared layer");
    fx.ok(&["tag", "a:1", "c:1"]);

    let ids = fx.ok(&["images", "-q"]);
    let args: Vec<&str> = ids.lines().collect();
    assert_eq!(args.len(), 3, "{ids}");
    let mut cmd = vec!["rmi", "-f"];
    cmd.extend(args);
    let run = fx.run(&cmd);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "");
    assert!(!shared.exists());
    assert_eq!(blob_count(&fx), 0);
    assert_eq!(fx.ok(&["images", "-q"]), "");
}

#[test]
fn inspect_prints_docker_shaped_json() {
    let fx = Fixture::new();
    let img = fx.add_image(
        &ImageSpec::new(&["app:1"])
            .label("a", "b&c")
            .compression(Compression::Zstd),
    );
    let out = fx.ok(&["inspect", "app:1"]);
    assert!(
        out.starts_with("[\n    {\n        \"Id\": \"sha256:"),
        "{out}"
    );
    // Docker 20.10's daemon encodes inspect without HTML escaping.
    assert!(out.contains("\"a\": \"b&c\""), "{out}");
    let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
    let obj = &parsed[0];
    assert_eq!(obj["Id"], img.id.as_str());
    assert_eq!(obj["RepoTags"], serde_json::json!(["app:1"]));
    assert_eq!(obj["Architecture"], "amd64");
    assert_eq!(obj["Os"], "linux");
    assert_eq!(obj["Size"], 5);
    assert_eq!(obj["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(obj["RootFS"]["Type"], "layers");
    assert_eq!(obj["RootFS"]["Layers"][0], img.diff_ids[0].as_str());
    // Docker 20.10's `types.ImageInspect`, field for field.
    let keys: Vec<&str> = obj
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "Id",
            "RepoTags",
            "RepoDigests",
            "Parent",
            "Comment",
            "Created",
            "Container",
            "ContainerConfig",
            "DockerVersion",
            "Author",
            "Config",
            "Architecture",
            "Os",
            "Size",
            "VirtualSize",
            "GraphDriver",
            "RootFS",
            "Metadata"
        ]
    );
    // Docker's LastTagTime: none for an image pulled or loaded, set by
    // `tag`, and kept when that tag goes.
    let last_tagged = |fx: &Fixture| {
        let out = fx.ok(&["inspect", "-f", "{{json .Metadata}}", "app:1"]);
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["LastTagTime"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(last_tagged(&fx), "0001-01-01T00:00:00Z");
    let before = Utc::now();
    fx.ok(&["tag", "app:1", "app:again"]);
    let tagged = last_tagged(&fx);
    let at = chrono::DateTime::parse_from_rfc3339(&tagged).unwrap();
    assert!(
        at >= before - Duration::seconds(1) && at <= Utc::now(),
        "{tagged}"
    );
    fx.ok(&["rmi", "app:again"]);
    assert_eq!(last_tagged(&fx), tagged);
    // The whole container.Config, as Docker re-encodes it, every time.
    assert_eq!(
        fx.ok(&[
            "inspect",
            "--format",
            "{{json .Config}}|{{.Config.User}}|",
            "app:1"
        ]),
        "{\"Hostname\":\"\",\"Domainname\":\"\",\"User\":\"\",\"AttachStdin\":false,\
         \"AttachStdout\":false,\"AttachStderr\":false,\"Tty\":false,\"OpenStdin\":false,\
         \"StdinOnce\":false,\"Env\":[\"PATH=/usr/bin:/bin\"],\"Cmd\":[\"sh\"],\"Image\":\"\",\
         \"Volumes\":null,\"WorkingDir\":\"\",\"Entrypoint\":null,\"OnBuild\":null,\
         \"Labels\":{\"a\":\"b&c\"}}||\n"
    );

    assert_eq!(
        fx.ok(&["image", "inspect", "--format", "{{.Id}}", "app:1"]),
        format!("{}\n", img.id)
    );
    assert_eq!(
        fx.ok(&[
            "inspect",
            "-f",
            "{{index .RepoTags 0}} {{.Config.Cmd}} {{json .Config.Labels}}",
            "app:1"
        ]),
        "app:1 [sh] {\"a\":\"b&c\"}\n"
    );
    // As Docker 20.10: the generic `inspect` names no kind of object, and
    // both name it as typed.
    let run = fx.run(&["image", "inspect", "nope"]);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (1, "Error: No such image: nope\n")
    );
    let run = fx.run(&["inspect", "-f", "{{.Id}}", "UPPER"]);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (1, "Error: No such object: UPPER\n")
    );
    let run = fx.run(&["inspect", "app:1", "nope"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stderr, "Error: No such object: nope\n");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&run.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn history_lists_layers_newest_first() {
    let fx = Fixture::new();
    // One timestamp for the image and the assertion: computed twice, a
    // second may tick over between them on a busy machine.
    let created = days_ago(3);
    let img = fx.add_image(
        &ImageSpec::new(&["app:1"])
            .created(&created)
            .layers(&[&[("a", b"a")], &[("b", &[7u8; 3000])]]),
    );
    let out = fx.ok(&["history", "app:1"]);
    let expected = format!(
        "IMAGE          CREATED      CREATED BY                           SIZE      COMMENT\n\
         {}   3 days ago   /bin/sh -c #(nop)  CMD [\"sh\"]        0B        \n\
         <missing>      3 days ago   /bin/sh -c #(nop) ADD layer 1 in /   3kB       \n\
         <missing>      3 days ago   /bin/sh -c #(nop) ADD layer 0 in /   1B        \n",
        img.id.short()
    );
    assert_eq!(out, expected);
    assert_eq!(
        fx.ok(&["history", "-q", "app:1"]),
        format!("{}\n<missing>\n<missing>\n", img.id.short())
    );
    let raw = fx.ok(&[
        "image",
        "history",
        "-H=false",
        "--format",
        "{{.Size}} {{.CreatedSince}}",
        "app:1",
    ]);
    assert_eq!(raw.lines().nth(1).unwrap(), format!("3000 {created}"));
    // Docker's `-H=false` table shows CreatedAt, headed CREATED AT.
    let raw_table = fx.ok(&["history", "-H=false", "app:1"]);
    assert_eq!(
        raw_table.lines().take(3).collect::<Vec<_>>(),
        [
            "IMAGE          CREATED AT             CREATED BY                           SIZE      COMMENT",
            &format!("{}   {created}   /bin/sh -c #(nop)  CMD [\"sh\"]        0         ", img.id.short()),
            &format!("<missing>      {created}   /bin/sh -c #(nop) ADD layer 1 in /   3000      "),
        ]
    );
    let full = fx.ok(&["history", "--no-trunc", "--format", "{{.ID}}", "app:1"]);
    assert_eq!(full.lines().next().unwrap(), img.id.as_str());
}

#[test]
fn prune_removes_dangling_or_all_unused_images() {
    let fx = Fixture::new();
    let dangling = fx.add_image(&ImageSpec::new(&[]));
    fx.add_image(&ImageSpec::new(&["keep:1"]));
    let out = fx.ok(&["image", "prune", "-f"]);
    assert!(
        out.starts_with(&format!(
            "Deleted Images:\ndeleted: {}\ndeleted: sha256:",
            dangling.id
        )),
        "{out}"
    );
    assert!(out.contains("Total reclaimed space: "));
    assert_eq!(
        fx.ok(&["image", "prune", "-f"]),
        "Total reclaimed space: 0B\n"
    );

    // Declining the prompt changes nothing.
    let run = fx.run_with_stdin(&["image", "prune", "-a"], "n\n");
    assert_eq!(run.code, 0);
    assert!(run.stderr.contains(
        "WARNING! This will remove all images without at least one container associated to them."
    ));
    assert_eq!(fx.ok(&["images", "-q"]).lines().count(), 1);

    let run = fx.run_with_stdin(&["image", "prune", "-a"], "y\n");
    assert_eq!(run.code, 0);
    assert!(
        run.stdout
            .starts_with("Deleted Images:\nuntagged: keep:1\ndeleted: sha256:"),
        "{run:?}"
    );
    assert_eq!(blob_count(&fx), 0);
}

#[test]
fn system_df_counts_shared_layers_once() {
    let fx = Fixture::new();
    let base: &[(&str, &[u8])] = &[("base", &[1u8; 5000])];
    fx.add_image(&ImageSpec::new(&["a"]).layers(&[base]).created(&days_ago(4)));
    fx.add_image(
        &ImageSpec::new(&["b"])
            .layers(&[base, &[("b", b"b")]])
            .created(&days_ago(3)),
    );
    let out = fx.ok(&["system", "df"]);
    assert_eq!(
        out,
        "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\n\
         Images          2         0         5.001kB   5.001kB (100%)\n\
         Containers      0         0         0B        0B\n\
         Local Volumes   0         0         0B        0B\n\
         Build Cache     0         0         0B        0B\n"
    );
    // Docker's verbose layout: each image once, its shared and unique
    // sizes, and the sections rimg has nothing in yet.
    let id = |name: &str| fx.ok(&["images", "-q", name]).trim().to_string();
    assert_eq!(
        fx.ok(&["system", "df", "-v"]),
        format!(
            "Images space usage:\n\n\
             REPOSITORY   TAG       IMAGE ID       CREATED      SIZE      SHARED SIZE   UNIQUE SIZE   CONTAINERS\n\
             b            latest    {}   3 days ago   5.001kB   5kB           1B            0\n\
             a            latest    {}   4 days ago   5kB       5kB           0B            0\n\n\
             Containers space usage:\n\n\
             CONTAINER ID   IMAGE     COMMAND   LOCAL VOLUMES   SIZE      CREATED   STATUS    NAMES\n\n\
             Local Volumes space usage:\n\n\
             VOLUME NAME   LINKS     SIZE\n\n\
             Build cache usage: 0B\n\n\
             CACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED\n",
            id("b"),
            id("a"),
        )
    );
}

#[test]
fn bad_usage_exits_like_docker() {
    let fx = Fixture::new();
    assert_eq!(fx.run(&["images", "--bogus"]).code, 125);
    assert_eq!(fx.run(&["rmi"]).code, 1);
    let run = fx.run(&["tag", "a"]);
    assert_eq!(run.code, 1);
}

#[test]
fn store_is_a_valid_oci_layout() {
    let fx = Fixture::new();
    fx.add_image(&ImageSpec::new(&["app:1"]));
    let layout: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fx.root().join("oci-layout")).unwrap()).unwrap();
    assert_eq!(layout["imageLayoutVersion"], "1.0.0");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fx.root().join("index.json")).unwrap()).unwrap();
    assert_eq!(index["schemaVersion"], 2);
    let names: BTreeSet<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .collect();
    assert_eq!(names, BTreeSet::from(["docker.io/library/app:1"]));
}
