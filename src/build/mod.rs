//! `build`: a Dockerfile executed stage by stage, as Docker's classic
//! builder does it and shows it (`Step 2/5 : RUN …`, ` ---> Using cache`),
//! with BuildKit's habits where they are better: stages the target does
//! not need are skipped, and a step whose result is cached costs no
//! container and no extraction.
//!
//! Each step's result is an image in the store (a config and a manifest
//! over the layers so far), kept in the build cache under a key made of
//! the parent image, the instruction as expanded (its history line) and
//! the config it produces, and for COPY/ADD the contents of the files
//! copied ([`crate::store::CacheRecord`]). A stage's files are unpacked
//! into a working tree only when a step misses the cache; RUN goes
//! through the OCI runtime ([`step`]), and each step that changes files
//! becomes one layer ([`tree`]). The image is named only once the whole
//! build succeeded.

pub mod context;
mod mounts;
pub mod report;
pub mod source;
mod step;
mod tree;

use crate::container::{self, names, remove_tree, resolve, ContainerError};
use crate::digest::Digest;
use crate::dockerfile::ignore::Ignore;
use crate::dockerfile::instructions::{self, ArgDef, Copy, Instruction, Located, Stage, Stages};
use crate::dockerfile::shell::Lexer;
use crate::dockerfile::{parser, DockerfileError};
use crate::image::instruction::{self as apply, InstructionError};
use crate::image::writer;
use crate::image::{Catalog, ImageError};
use crate::oci::{Descriptor, Field, History, ImageConfig, KeepOrder, Platform, RuntimeConfig};
use crate::reference::Reference;
use crate::runtime::{Network, ProcessConfig, Runtime, RuntimeError};
use crate::store::{Lease, Store, StoreError};
use context::{Ownership, Tree};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use tree::{StepLayer, WorkingTree};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Dockerfile(#[from] DockerfileError),
    /// Docker's words for a base that is not for the platform asked for.
    #[error("image with reference {image} was found but does not match the specified platform: wanted {wanted}, actual: {actual}")]
    Platform {
        image: String,
        wanted: String,
        actual: String,
    },
    /// The context or Dockerfile could not be had, in Docker's words.
    #[error("{0}")]
    Context(String),
    #[error("failed to reach build target {0} in Dockerfile")]
    UnknownTarget(String),
    #[error("The command '{command}' returned a non-zero code: {code}")]
    CommandFailed { command: String, code: i32 },
    #[error("{what} failed: file not found in build context or excluded by .dockerignore: stat {path}: file does not exist")]
    SourceNotFound { what: String, path: String },
    #[error("{0} failed: no source files were specified")]
    NoSources(String),
    #[error("{what} failed: forbidden path outside the build context: {path}")]
    OutsideContext { what: String, path: String },
    #[error("When using {0} with more than one source file, the destination must be a directory and end with a /")]
    DestinationNotDirectory(String),
    #[error("{what} failed: {reason}")]
    Copy { what: String, reason: String },
    #[error("invalid chmod value {0:?}: an octal mode is expected")]
    BadChmod(String),
    #[error("RUN --mount: {0}")]
    Mount(String),
    /// SIGINT or SIGTERM: the steps that finished are in the build cache.
    #[error("build interrupted")]
    Interrupted(i32),
    #[error("No image was generated. Is your Dockerfile empty?")]
    NoImage,
    #[error("{0} is not supported by rimg yet")]
    Unsupported(String),
    #[error("pulling {image}")]
    Pull {
        image: String,
        #[source]
        source: HostError,
    },
    #[error("ADD failed: downloading {url}")]
    Download {
        url: String,
        #[source]
        source: HostError,
    },
    #[error("OCI runtime failed: {runtime}: {message}")]
    Runtime { runtime: String, message: String },
    #[error("{0}")]
    Expansion(String),
    #[error(transparent)]
    Instruction(#[from] InstructionError),
    #[error(transparent)]
    RuntimeSetup(#[from] RuntimeError),
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

type Result<T, E = BuildError> = std::result::Result<T, E>;

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> BuildError {
    let context = context.into();
    move |source| BuildError::Io { context, source }
}

/// An error of the caller's, passed through.
pub type HostError = Box<dyn std::error::Error + Send + Sync>;

/// What the caller provides: the network, through its registry client
/// and async runtime.
pub trait Host {
    /// Pulls `name` into the store (printing its progress), for
    /// `platform` if given, else this machine's.
    fn pull(&self, name: &str, platform: Option<&Platform>) -> std::result::Result<(), HostError>;
    /// Downloads `url` (ADD's remote source) into the file `dest`; its
    /// `Last-Modified` time, if the server sent one.
    fn download(&self, url: &str, dest: &Path) -> std::result::Result<Option<i64>, HostError>;
}

/// `build`'s inputs besides the context.
pub struct BuildOptions {
    /// The Dockerfile's text, and its name for errors.
    pub dockerfile: String,
    pub dockerfile_name: String,
    pub context: PathBuf,
    pub ignore: Ignore,
    pub tags: Vec<Reference>,
    pub target: Option<String>,
    /// `--build-arg`s with their values.
    pub build_args: BTreeMap<String, String>,
    pub no_cache: bool,
    /// `--cache-from`: images whose history can stand for steps.
    pub cache_from: Vec<String>,
    /// `--pull`: base images are pulled even when present.
    pub pull: bool,
    /// `-q`: only the image ID is printed (by the caller).
    pub quiet: bool,
    pub labels: BTreeMap<String, String>,
    /// `--progress`: classic (the default) or plain.
    pub progress: report::Style,
    pub network: Network,
    /// `--secret id=…`: the files secret mounts give.
    pub secrets: BTreeMap<String, PathBuf>,
    pub runtime: Option<String>,
    /// `SOURCE_DATE_EPOCH`: every time in the image, and no file's mtime
    /// in a layer, later than this.
    pub source_date_epoch: Option<i64>,
    /// `--platform`: what to build for; `None` is this machine's.
    pub platform: Option<Platform>,
}

/// What a build made.
pub struct Built {
    pub id: Digest,
    /// `--build-arg`s no stage declared, for Docker's warning.
    pub unused_args: Vec<String>,
}

/// The proxy variables Docker passes to RUN without an ARG declaring them
/// (and leaves out of the history).
const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The platform ARGs BuildKit defines in the global scope: TARGET* for
/// the platform built for, BUILD* for this machine.
fn platform_args(target: &Platform) -> Vec<(String, String)> {
    let mut args = Vec::new();
    for (prefix, platform) in [("TARGET", target), ("BUILD", &crate::platform::host())] {
        let variant = platform.variant.clone().unwrap_or_default();
        args.push((
            format!("{prefix}PLATFORM"),
            crate::platform::format(platform),
        ));
        args.push((format!("{prefix}OS"), platform.os.clone()));
        args.push((format!("{prefix}ARCH"), platform.architecture.clone()));
        args.push((format!("{prefix}VARIANT"), variant));
    }
    args
}

/// Builds the image `options` describe, printing Docker's classic progress
/// to `out`.
pub fn build(
    store: &Store,
    host: &dyn Host,
    options: &BuildOptions,
    out: &mut dyn Write,
) -> Result<Built> {
    let stages = instructions::parse(&options.dockerfile_name, &options.dockerfile)?;
    let mut builder = Builder::new(store, host, options, &stages, out)?;
    let id = builder.run()?;
    let unused_args = options
        .build_args
        .keys()
        .filter(|k| !builder.consumed.contains(*k) && !PROXY_ARGS.contains(&k.as_str()))
        .cloned()
        .collect();
    Ok(Built { id, unused_args })
}

/// A stage's state between steps.
struct State {
    /// The stage's index in the Dockerfile.
    index: usize,
    config: ImageConfig,
    layers: Vec<Descriptor>,
    /// The current step's image; `None` for `FROM scratch` before a step.
    id: Option<Digest>,
    tree: Option<WorkingTree>,
    /// ARGs in scope with their values.
    args: Vec<(String, String)>,
    /// A CMD came earlier in this stage (an ENTRYPOINT then keeps it).
    cmd_set: bool,
    /// A step made `id` (here or in the stage this one is built on); else
    /// `id` is the base image, whose config is as it was stored.
    stepped: bool,
}

impl State {
    fn runtime_config(&self) -> KeepOrder<RuntimeConfig> {
        self.config.config.clone().unwrap_or_default()
    }

    /// The variables words are expanded from: ARGs, then ENV over them.
    fn expansion_env(&self) -> Vec<(String, String)> {
        let mut env = self.args.clone();
        for entry in self.runtime_config().env.get().into_iter().flatten() {
            let (k, v) = entry.split_once('=').unwrap_or((entry, ""));
            env.push((k.to_string(), v.to_string()));
        }
        env
    }

    fn shell(&self) -> Vec<String> {
        match self.runtime_config().shell.get() {
            Some(shell) if !shell.is_empty() => shell.clone(),
            _ => vec!["/bin/sh".into(), "-c".into()],
        }
    }
}

/// How a step changes the stage, besides its config.
enum Work<'a> {
    /// Config only (ENV, LABEL, CMD, …): an empty layer.
    None,
    Run(RunCommand),
    Copy(&'a Copy, CopyPlan),
    Workdir(String),
}

/// What a RUN runs: the arguments (shell form through the SHELL), a
/// heredoc for its standard input, its network.
struct RunCommand {
    args: Vec<String>,
    stdin: Option<String>,
    network: Network,
    mounts: Vec<instructions::Mount>,
    /// What the mounts add to the cache key: each mount as written, and a
    /// context bind's contents.
    key: String,
}

/// What a COPY/ADD's cache key and history line need, found without
/// unpacking anything: the context's sources (resolved, with the digest of
/// what they hold) or, `--from` a stage or an image, that image's ID.
struct CopyPlan {
    /// The sources in the context (or downloaded, or heredocs); `None`
    /// `--from` another tree, resolved once it is unpacked.
    sources: Option<Vec<context::Source>>,
    /// The digest of the contents, or of the `--from` image and paths.
    digest: String,
    /// What the history line calls the sources: `file`, `dir`, `multi`.
    kind: &'static str,
}

struct Builder<'a> {
    store: &'a Store,
    host: &'a dyn Host,
    options: &'a BuildOptions,
    stages: &'a Stages,
    report: report::Reporter<'a>,
    /// The current stage's name in plain progress, and the step's place in
    /// it (FROM is the first) out of how many.
    stage_step: (String, usize, usize),
    lease: Lease,
    /// `<root>/builds/<id>`: working trees and run bundles, removed at
    /// the end.
    dir: PathBuf,
    _dir_lock: File,
    lexer: Lexer,
    global_args: Vec<(String, String)>,
    results: Vec<Option<State>>,
    consumed: BTreeSet<String>,
    step: usize,
    total: usize,
    /// The index of the stage built last, whose image is the result.
    target: usize,
    runtime: Option<Runtime>,
    /// `--cache-from` images, read when a step first misses the cache.
    cache_from: Option<Vec<(ImageConfig, Vec<Descriptor>)>>,
}

impl Drop for Builder<'_> {
    fn drop(&mut self) {
        let _ = remove_tree(&self.dir);
    }
}

/// Removes what killed builds left under `builds/`: a directory whose lock
/// can be taken belongs to no running build. A RUN it was running may
/// still be alive: each has a `run-<runtime>-<id>` directory, and is
/// deleted (killed) in its runtime first.
fn sweep_builds(builds: &Path, state_dir: &Path) {
    for entry in fs::read_dir(builds).into_iter().flatten().flatten() {
        let lock = entry.path().join("lock");
        let Ok(file) = fs::OpenOptions::new().write(true).open(&lock) else {
            continue;
        };
        if file.try_lock().is_err() {
            continue;
        }
        for run in fs::read_dir(entry.path()).into_iter().flatten().flatten() {
            let name = run.file_name().to_string_lossy().into_owned();
            let Some((runtime, id)) = name.strip_prefix("run-").and_then(|r| r.rsplit_once('-'))
            else {
                continue;
            };
            if let Ok(runtime) = Runtime::find(Some(runtime), state_dir) {
                let _ = runtime.delete(id);
            }
        }
        let _ = remove_tree(&entry.path());
    }
}

impl<'a> Builder<'a> {
    fn new(
        store: &'a Store,
        host: &'a dyn Host,
        options: &'a BuildOptions,
        stages: &'a Stages,
        out: &'a mut dyn Write,
    ) -> Result<Builder<'a>> {
        let builds = store.root().join("builds");
        fs::create_dir_all(&builds).map_err(io_error(format!("creating {}", builds.display())))?;
        crate::store::make_private(&builds)?;
        sweep_builds(&builds, &crate::runtime::state_dir(store.root()));
        let id = names::new_id().map_err(io_error("naming the build"))?;
        let dir = builds.join(&id[..16]);
        fs::create_dir(&dir).map_err(io_error(format!("creating {}", dir.display())))?;
        let dir_lock = crate::store::lock_file(&dir.join("lock"))?;
        let lexer = Lexer::new(stages.escape);
        let target = options
            .platform
            .clone()
            .unwrap_or_else(crate::platform::host);
        let mut global_args = platform_args(&target);
        let mut consumed = BTreeSet::new();
        for def in &stages.global_args {
            let value = arg_value(def, &options.build_args, &lexer, &global_args)?;
            if options.build_args.contains_key(&def.name) {
                consumed.insert(def.name.clone());
            }
            if let Some(value) = value {
                global_args.push((def.name.clone(), value));
            }
        }
        Ok(Builder {
            store,
            host,
            options,
            stages,
            report: report::Reporter::new(out, options.progress),
            stage_step: (String::new(), 0, 0),
            lease: store.lease()?,
            dir,
            _dir_lock: dir_lock,
            lexer,
            global_args,
            results: stages.stages.iter().map(|_| None).collect(),
            consumed,
            step: 0,
            total: 0,
            target: 0,
            runtime: None,
            cache_from: None,
        })
    }

    /// Shows something through the reporter.
    fn show(
        &mut self,
        what: impl FnOnce(&mut report::Reporter<'a>) -> io::Result<()>,
    ) -> Result<()> {
        what(&mut self.report).map_err(io_error("writing the build output"))
    }

    /// The stage a FROM or `COPY --from` names, if it is one before `before`.
    fn stage_named(&self, name: &str, before: usize) -> Option<usize> {
        self.stages
            .find(name)
            .map(|s| s.index)
            .filter(|&i| i < before)
    }

    /// Expands a word with the global ARGs (FROM, and `--from` when
    /// working out which stages are needed).
    fn expand_global(&self, word: &str) -> Result<String> {
        self.lexer
            .process_word(word, self.global_args.as_slice())
            .map_err(|e| BuildError::Expansion(e.to_string()))
    }

    /// The stages the target needs, in Dockerfile order.
    fn needed(&self, target: usize) -> Result<Vec<usize>> {
        let mut needed = BTreeSet::new();
        let mut pending = vec![target];
        while let Some(index) = pending.pop() {
            if !needed.insert(index) {
                continue;
            }
            let stage = &self.stages.stages[index];
            let mut names = vec![self.expand_global(&stage.from.image)?];
            for located in &stage.instructions {
                if let Instruction::Copy(Copy {
                    from: Some(from), ..
                }) = &located.instruction
                {
                    names.push(self.expand_global(from)?);
                }
            }
            pending.extend(names.iter().filter_map(|n| self.stage_named(n, index)));
        }
        Ok(needed.into_iter().collect())
    }

    fn run(&mut self) -> Result<Digest> {
        let target = match &self.options.target {
            Some(name) => self
                .stages
                .find(name)
                .map(|s| s.index)
                .ok_or_else(|| BuildError::UnknownTarget(name.clone()))?,
            None => self.stages.stages.len() - 1,
        };
        self.target = target;
        let needed = self.needed(target)?;
        self.total = needed
            .iter()
            .map(|&i| 1 + self.stages.stages[i].instructions.len())
            .sum::<usize>()
            + self.options.labels.len();
        for index in needed {
            let stage = &self.stages.stages[index];
            let mut state = self.from(stage)?;
            for located in &stage.instructions {
                self.dispatch(&mut state, located)?;
            }
            if index == target {
                for (key, value) in &self.options.labels {
                    let located = Located {
                        instruction: Instruction::Label(vec![(key.clone(), value.clone())]),
                        original: format!("LABEL {key}={value}"),
                        line: 0,
                        column: 0,
                    };
                    self.dispatch(&mut state, &located)?;
                }
            }
            self.results[index] = Some(state);
        }
        let state = self.results[target].take().expect("the target was built");
        self.finish(state)
    }

    /// Stores the target's image (the base's, when no step made one) and
    /// names it.
    fn finish(&mut self, state: State) -> Result<Digest> {
        let image = match &state.id {
            Some(_) if state.stepped => {
                writer::store_image(&self.lease, &state.config, state.layers.clone())?
            }
            // No step: the base image itself, as Docker's builder gives it.
            Some(id) => {
                let catalog = Catalog::load(self.store)?;
                let found = catalog.image(&catalog.find(&id.to_string())?);
                writer::NewImage {
                    id: found.id.clone(),
                    manifest: found.descriptor.clone(),
                }
            }
            None => return Err(BuildError::NoImage),
        };
        let lock = self.store.lock()?;
        writer::name_image(self.store, &lock, &image, &self.options.tags, None)?;
        drop(lock);
        let names: Vec<String> = self.options.tags.iter().map(|t| t.to_string()).collect();
        let id = image.id.clone();
        self.show(|r| r.exported(&id, &names))?;
        Ok(image.id)
    }

    /// FROM: the base's config and layers, pulled if missing (or always
    /// with `--pull`); its ONBUILD triggers run at once.
    fn from(&mut self, stage: &Stage) -> Result<State> {
        self.step += 1;
        // `--label`s are steps of the target stage.
        let labels = if stage.index == self.target {
            self.options.labels.len()
        } else {
            0
        };
        let name = stage
            .from
            .name
            .clone()
            .unwrap_or_else(|| format!("stage-{}", stage.index));
        self.stage_step = (name, 1, 1 + stage.instructions.len() + labels);
        let (total, step) = (self.total, self.step);
        let label = self.stage_step.0.clone();
        let count = self.stage_step.2;
        self.show(|r| r.step(step, total, (&label, 1, count), &stage.original))?;
        let name = self.expand_global(&stage.from.image)?;
        // `FROM --platform` (often `$BUILDPLATFORM`), else `--platform`.
        let platform = match &stage.from.platform {
            Some(p) => Some(
                crate::platform::parse(&self.expand_global(p)?)
                    .map_err(|e| BuildError::Expansion(e.to_string()))?,
            ),
            None => self.options.platform.clone(),
        };
        let mut state = if name.eq_ignore_ascii_case("scratch") {
            let platform = platform.unwrap_or_else(crate::platform::host);
            State {
                index: stage.index,
                config: ImageConfig {
                    architecture: platform.architecture,
                    os: platform.os,
                    variant: platform.variant,
                    rootfs: crate::oci::RootFs {
                        kind: "layers".into(),
                        ..Default::default()
                    },
                    ..Default::default()
                },
                layers: Vec::new(),
                id: None,
                tree: None,
                args: Vec::new(),
                cmd_set: false,
                stepped: false,
            }
        } else if let Some(index) = self.stage_named(&name, stage.index) {
            let base = self.results[index]
                .as_ref()
                .expect("stages are built in order");
            State {
                index: stage.index,
                config: base.config.clone(),
                layers: base.layers.clone(),
                id: base.id.clone(),
                tree: None,
                args: Vec::new(),
                cmd_set: false,
                stepped: base.stepped,
            }
        } else {
            let (id, config, layers) = self.base_image(&name, platform.as_ref())?;
            State {
                index: stage.index,
                config,
                layers,
                id: Some(id),
                tree: None,
                args: Vec::new(),
                cmd_set: false,
                stepped: false,
            }
        };
        // As Docker's builder: a stage whose base sets no PATH gets the
        // default one, in what it expands and in the image it makes.
        let config = state.config.config.get_or_insert_with(Default::default);
        let env = config.env.get_or_default();
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.push(container::run::DEFAULT_PATH.to_string());
        }
        let id = state.id.clone();
        self.show(|r| r.done(id.as_ref()))?;
        let triggers = state
            .config
            .config
            .as_ref()
            .and_then(|c| c.on_build.get().cloned())
            .unwrap_or_default();
        if let Some(config) = state.config.config.as_mut() {
            if !config.on_build.is_absent() {
                config.on_build = Field::Null;
            }
        }
        if !triggers.is_empty() {
            let s = if triggers.len() == 1 { "" } else { "s" };
            let note = format!("# Executing {} build trigger{s}", triggers.len());
            self.show(|r| r.note(&note))?;
            let parsed = parser::parse("ONBUILD", &triggers.join("\n"))?;
            for node in &parsed.nodes {
                let instruction = instructions::parse_node(node).map_err(|kind| {
                    DockerfileError::new(&self.options.dockerfile_name, stage.line, 1, kind)
                })?;
                let located = Located {
                    instruction,
                    original: node.original.clone(),
                    line: stage.line,
                    column: 1,
                };
                self.dispatch_quietly(&mut state, &located)?;
            }
        }
        Ok(state)
    }

    /// The image `name`, pulled if missing, with `--pull`, or (when a
    /// platform is asked for) for another platform.
    fn base_image(
        &mut self,
        name: &str,
        platform: Option<&Platform>,
    ) -> Result<(Digest, ImageConfig, Vec<Descriptor>)> {
        let find = |store: &Store| -> Result<Option<(Digest, ImageConfig, Vec<Descriptor>)>> {
            let catalog = Catalog::load(store)?;
            Ok(catalog.find(name).ok().map(|found| {
                let image = catalog.image(&found);
                (
                    image.id.clone(),
                    image.config.clone(),
                    image.manifest.layers.clone(),
                )
            }))
        };
        let fits = |config: &ImageConfig| {
            platform
                .is_none_or(|p| crate::platform::matches(p, &crate::platform::of_config(config)))
        };
        let found = if self.options.pull {
            None
        } else {
            find(self.store)?.filter(|(_, config, _)| fits(config))
        };
        let (id, config, layers) = match found {
            Some(found) => found,
            None => {
                self.show(|r| r.flush())?;
                let pulled = self.host.pull(name, platform);
                match (pulled, find(self.store)?) {
                    (Ok(()), Some(found)) => found,
                    (Ok(()), None) => return Err(ImageError::NotFound(name.to_string()).into()),
                    // One here for another platform says more than the
                    // registry's answer.
                    (Err(_), Some(found)) if platform.is_some() => found,
                    (Err(source), _) => {
                        return Err(BuildError::Pull {
                            image: name.to_string(),
                            source,
                        })
                    }
                }
            }
        };
        if let Some(wanted) = platform.filter(|_| !fits(&config)) {
            return Err(BuildError::Platform {
                image: name.to_string(),
                wanted: crate::platform::format(wanted),
                actual: crate::platform::format(&crate::platform::of_config(&config)),
            });
        }
        // The base's blobs stay until the build ends, whatever `rmi` does.
        self.lease.reuse(&id)?;
        for layer in &layers {
            self.lease.reuse(&layer.digest)?;
        }
        Ok((id, config, layers))
    }

    fn dispatch(&mut self, state: &mut State, located: &Located) -> Result<()> {
        if let Some(signal) = crate::runtime::interrupted() {
            return Err(BuildError::Interrupted(signal));
        }
        self.step += 1;
        self.stage_step.1 += 1;
        let (total, step) = (self.total, self.step);
        let (label, index, count) = self.stage_step.clone();
        self.show(|r| r.step(step, total, (&label, index, count), &located.original))?;
        self.dispatch_quietly(state, located)
    }

    /// Runs one instruction without its `Step` line (ONBUILD triggers run
    /// under their FROM's).
    fn dispatch_quietly(&mut self, state: &mut State, located: &Located) -> Result<()> {
        let mut instruction = located.instruction.clone();
        let env = state.expansion_env();
        // Where in the Dockerfile, as its parse errors say it.
        let place = format!("{}:{}", self.options.dockerfile_name, located.line);
        instruction
            .expand(&self.lexer, env.as_slice())
            .map_err(|e| BuildError::Expansion(format!("{place}: {e}")))?;
        let mut config = state.runtime_config();
        let shell = state.shell();
        match &instruction {
            Instruction::Arg(defs) => {
                let mut shown = Vec::new();
                for def in defs {
                    if self.options.build_args.contains_key(&def.name) {
                        self.consumed.insert(def.name.clone());
                    }
                    let global = self.global_args.iter().rev().find(|(k, _)| *k == def.name);
                    let value = match arg_value(def, &self.options.build_args, &self.lexer, &env)? {
                        Some(value) => Some(value),
                        None => global.map(|(_, v)| v.clone()),
                    };
                    if let Some(value) = value {
                        state.args.retain(|(k, _)| *k != def.name);
                        state.args.push((def.name.clone(), value));
                    }
                    shown.push(match &def.default {
                        Some(d) => format!("{}={d}", def.name),
                        None => def.name.clone(),
                    });
                }
                let created_by = nop(&shell, &format!("ARG {}", shown.join(" ")));
                self.step_image(state, config, created_by, Work::None)
            }
            Instruction::Maintainer(who) => {
                let created_by = nop(&shell, &format!("MAINTAINER {who}"));
                state.config.author = Some(who.clone());
                self.step_image(state, config, created_by, Work::None)
            }
            Instruction::Run(run) => {
                let command = self.run_command(run, &shell, &env)?;
                let build_args = self.run_args(state, &config);
                let mut shown = Vec::new();
                if !build_args.is_empty() {
                    shown.push(format!("|{}", build_args.len()));
                    shown.extend(build_args.iter().map(|(k, v)| format!("{k}={v}")));
                }
                shown.extend(command.args.iter().cloned());
                let created_by = shown.join(" ");
                self.step_image(state, config, created_by, Work::Run(command))
            }
            Instruction::Copy(copy) => {
                let what = if copy.add { "ADD" } else { "COPY" };
                let plan = self.plan_copy(state, copy)?;
                let comment = format!("{what} {}:{} in {} ", plan.kind, plan.digest, copy.dest);
                let created_by = format!("{} #(nop) {comment}", shell.join(" "));
                self.step_image(state, config, created_by, Work::Copy(copy, plan))
            }
            Instruction::Workdir(_) => {
                apply::apply(&mut config, instruction.clone(), &mut state.cmd_set)?;
                let dir = config.working_dir.get().cloned().unwrap_or_default();
                let created_by = format!("{} #(nop) WORKDIR {dir}", shell.join(" "));
                self.step_image(state, config, created_by, Work::Workdir(dir))
            }
            other => {
                apply::apply(&mut config, other.clone(), &mut state.cmd_set)?;
                let comment = config_comment(other, &config).unwrap_or_default();
                let created_by = nop(&shell, &comment);
                self.step_image(state, config, created_by, Work::None)
            }
        }
    }

    /// A RUN's command: in shell form its heredocs go to the shell with it,
    /// as BuildKit runs them (a heredoc that is the whole command is the
    /// script); in exec form the first heredoc is the command's input.
    fn run_command(
        &self,
        run: &instructions::Run,
        shell: &[String],
        env: &[(String, String)],
    ) -> Result<RunCommand> {
        let mut args = run.command.args.clone();
        let mut stdin = None;
        if run.command.prepend_shell {
            let files = &run.command.files;
            let whole = args.len() == 1 && files.len() == 1 && heredoc_only(&args[0]);
            if whole {
                args = vec![files[0].data.clone()];
            } else if !files.is_empty() {
                let mut script = args.join(" ");
                for file in files {
                    script.push('\n');
                    script.push_str(&file.data);
                    if !file.data.ends_with('\n') {
                        script.push('\n');
                    }
                    script.push_str(&file.name);
                }
                args = vec![script];
            }
            args = shell.iter().cloned().chain(args).collect();
        } else if let Some(first) = run.command.files.first() {
            stdin = Some(first.data.clone());
        }
        let network = match run.network {
            instructions::Network::None => Network::None,
            instructions::Network::Host => Network::Host,
            instructions::Network::Default => self.options.network,
        };
        let mounts = run
            .mounts(&self.lexer, env)
            .map_err(|e| BuildError::Mount(e.to_string()))?;
        let mut key = String::new();
        for mount in &mounts {
            key.push_str(&format!("{mount:?}\n"));
            // A bind of the context: its contents, as BuildKit keys it.
            if mount.kind == instructions::MountType::Bind && mount.from.is_none() {
                let tree = Tree {
                    root: &self.options.context,
                    ignore: Some(&self.options.ignore),
                };
                let source = mount.source.clone().unwrap_or_else(|| ".".into());
                let sources = tree.sources("RUN --mount", &[source])?;
                let mut items = Vec::new();
                for source in &sources {
                    items.extend(tree.items(source, &source.name)?);
                }
                key.push_str(&context::content_digest(&items, &Ownership::default())?);
            }
        }
        Ok(RunCommand {
            args,
            stdin,
            network,
            mounts,
            key,
        })
    }

    /// The ARGs RUN sees and its history shows: declared ones with a value
    /// that no ENV overrides, sorted.
    fn run_args(&self, state: &State, config: &RuntimeConfig) -> Vec<(String, String)> {
        let env: Vec<&str> = config
            .env
            .get()
            .into_iter()
            .flatten()
            .map(|e| e.split('=').next().unwrap_or(e))
            .collect();
        let mut args: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in &state.args {
            if !env.contains(&k.as_str()) {
                args.insert(k.clone(), v.clone());
            }
        }
        args.into_iter().collect()
    }

    /// A COPY/ADD's key material, before any tree is unpacked.
    fn plan_copy(&mut self, state: &State, copy: &Copy) -> Result<CopyPlan> {
        let what = if copy.add { "ADD" } else { "COPY" };
        let is_url = |s: &String| s.starts_with("http://") || s.starts_with("https://");
        if copy.checksum.is_some() {
            return Err(BuildError::Unsupported(format!("{what} --checksum")));
        }
        if !copy.add && copy.sources.iter().any(is_url) {
            return Err(BuildError::Copy {
                what: what.to_string(),
                reason: "source can't be a URL for COPY".into(),
            });
        }
        // Owners and modes as written: the same words on the same parent
        // give the same result.
        let flags = format!("{:?} {:?}", copy.chown, copy.chmod);
        let count = copy.sources.len() + copy.inline.len();
        if let Some(from) = &copy.from {
            // The same image holds the same files: its ID stands for them.
            let id = match self.stage_named(from, state.index) {
                Some(index) => self.results[index]
                    .as_ref()
                    .and_then(|r| r.id.clone())
                    .map_or_else(|| "scratch".to_string(), |id| id.to_string()),
                None => {
                    let platform = self.options.platform.clone();
                    self.base_image(from, platform.as_ref())?.0.to_string()
                }
            };
            let key = format!("{id}\0{:?}\0{flags}", copy.sources);
            let kind = match &copy.sources[..] {
                [one] if one.ends_with('/') => "dir",
                [_] => "file",
                _ => "multi",
            };
            return Ok(CopyPlan {
                sources: None,
                digest: Digest::of(key.as_bytes()).hex().to_string(),
                kind,
            });
        }
        let inline_dir = self.dir.join(format!("inline-{}", self.step));
        for file in &copy.inline {
            fs::create_dir_all(&inline_dir)
                .map_err(io_error(format!("creating {}", inline_dir.display())))?;
            let path = inline_dir.join(&file.name);
            fs::write(&path, &file.data)
                .map_err(io_error(format!("writing {}", path.display())))?;
        }
        let tree = Tree {
            root: &self.options.context,
            ignore: Some(&self.options.ignore),
        };
        let (urls, paths): (Vec<String>, Vec<String>) =
            copy.sources.iter().cloned().partition(is_url);
        let mut sources = if paths.is_empty() {
            Vec::new()
        } else {
            tree.sources(what, &paths)?
        };
        if !urls.is_empty() {
            let downloads = self.download_dir();
            sources.extend(self.download(&urls, &downloads)?);
        }
        if !copy.inline.is_empty() {
            let inline_tree = Tree {
                root: &inline_dir,
                ignore: None,
            };
            let names: Vec<String> = copy.inline.iter().map(|f| f.name.clone()).collect();
            sources.extend(inline_tree.sources(what, &names)?);
        }
        let mut items = Vec::new();
        for source in &sources {
            items.extend(tree.items(source, &source.name)?);
        }
        let digest = context::content_digest(&items, &Ownership::default())?;
        let digest = Digest::of(format!("{digest}\0{flags}").as_bytes())
            .hex()
            .to_string();
        let kind = match &sources[..] {
            [one] if one.is_dir && count == 1 => "dir",
            [_] if count == 1 => "file",
            _ => "multi",
        };
        Ok(CopyPlan {
            sources: Some(sources),
            digest,
            kind,
        })
    }

    /// Where this step's ADD downloads go.
    fn download_dir(&self) -> PathBuf {
        self.dir.join(format!("download-{}", self.step))
    }

    /// ADD's remote sources, downloaded into `dir` under the name of the
    /// URL's last path component, mode 0600 and the server's
    /// `Last-Modified` as mtime, as Docker's builder keeps them.
    fn download(&mut self, urls: &[String], dir: &Path) -> Result<Vec<context::Source>> {
        use std::os::unix::fs::PermissionsExt;
        let mut sources = Vec::new();
        for (i, url) in urls.iter().enumerate() {
            let path_part = url.split(['?', '#']).next().unwrap_or(url);
            let after_host = path_part.splitn(4, '/').nth(3).unwrap_or("");
            let name = after_host
                .rsplit('/')
                .find(|n| !n.is_empty())
                .unwrap_or("download")
                .to_string();
            let slot = dir.join(i.to_string());
            fs::create_dir_all(&slot).map_err(io_error(format!("creating {}", slot.display())))?;
            let file = slot.join(&name);
            self.show(|r| r.flush())?;
            let modified =
                self.host
                    .download(url, &file)
                    .map_err(|source| BuildError::Download {
                        url: url.clone(),
                        source,
                    })?;
            let setting = || io_error(format!("setting the mode of {}", file.display()));
            fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).map_err(setting())?;
            if let Some(time) = modified {
                let time =
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(time.max(0) as u64);
                fs::File::options()
                    .write(true)
                    .open(&file)
                    .and_then(|f| f.set_modified(time))
                    .map_err(setting())?;
            }
            sources.push(context::Source {
                host: file,
                rel: name.clone(),
                name,
                is_dir: false,
            });
        }
        Ok(sources)
    }

    /// `--chown` resolved in the stage's `/etc/passwd` and `/etc/group`;
    /// `--chmod` as an octal mode.
    fn ownership(&mut self, state: &mut State, copy: &Copy) -> Result<Ownership> {
        let mode = match &copy.chmod {
            Some(chmod) => Some(
                u32::from_str_radix(chmod, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| BuildError::BadChmod(chmod.clone()))?,
            ),
            None => None,
        };
        let (uid, gid) = match &copy.chown {
            Some(chown) => {
                let numeric = chown
                    .split(':')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
                let rootfs = if numeric || state.layers.is_empty() {
                    self.dir.join("no-rootfs")
                } else {
                    self.tree(state)?.rootfs.clone()
                };
                let user = crate::runtime::user::resolve_in(&rootfs, chown)?;
                // "A username without groupname or a UID without GID will
                // use the same numeric UID as the GID" (Docker's docs).
                let gid = if chown.contains(':') {
                    user.gid
                } else {
                    user.uid
                };
                (user.uid, gid)
            }
            None => (0, 0),
        };
        Ok(Ownership { uid, gid, mode })
    }

    /// The files `COPY --from=NAME` reads: a stage's (its working tree if it
    /// has a current one) or an image's, unpacked.
    fn copy_source_root(&mut self, from: &str, current: usize) -> Result<PathBuf> {
        if let Some(index) = self.stage_named(from, current) {
            let dir = self.dir.join(format!("stage-{index}"));
            let result = self.results[index]
                .as_mut()
                .expect("needed stages are built first");
            if result.tree.is_none() {
                result.tree = Some(WorkingTree::materialize(
                    self.store,
                    &self.lease,
                    &result.layers,
                    &dir,
                )?);
            }
            return Ok(result.tree.as_ref().expect("just made").rootfs.clone());
        }
        // An image's files, as BuildKit's, for the platform built for.
        let platform = self.options.platform.clone();
        let (id, _, layers) = self.base_image(from, platform.as_ref())?;
        let dir = self.dir.join(format!("image-{}", &id.hex()[..12]));
        if !dir.exists() {
            WorkingTree::materialize(self.store, &self.lease, &layers, &dir)?;
        }
        Ok(dir.join("rootfs"))
    }

    /// The stage's working tree, unpacked on first use.
    fn tree<'s>(&mut self, state: &'s mut State) -> Result<&'s mut WorkingTree> {
        if state.tree.is_none() {
            let dir = self.dir.join(format!("tree-{}", self.step));
            state.tree = Some(WorkingTree::materialize(
                self.store,
                &self.lease,
                &state.layers,
                &dir,
            )?);
        }
        Ok(state.tree.as_mut().expect("just made"))
    }

    /// One step: its cached image, or the work done and a new image.
    fn step_image(
        &mut self,
        state: &mut State,
        runtime_config: KeepOrder<RuntimeConfig>,
        created_by: String,
        work: Work<'_>,
    ) -> Result<()> {
        // `scratch` for a platform: the same steps for another one make
        // another image.
        let parent = state.id.as_ref().map_or_else(
            || {
                let platform = crate::platform::of_config(&state.config);
                format!("scratch {}", crate::platform::format(&platform))
            },
            Digest::to_string,
        );
        let contents = match &work {
            Work::Copy(_, plan) => plan.digest.clone(),
            Work::Run(command) => command.key.clone(),
            _ => String::new(),
        };
        // Docker's field order, whatever order the base image's config
        // had: the same step gives the same key and the same image.
        let runtime_config = KeepOrder::from(RuntimeConfig::clone(&runtime_config));
        let config_json = serde_json::to_string(&runtime_config).unwrap_or_default();
        let key = Digest::of(
            format!(
                "rimg-build-v1\0{parent}\0{created_by}\0{contents}\0{config_json}\0{:?}",
                state.config.author
            )
            .as_bytes(),
        );
        // With `--cache-from`, only those images stand for steps, as in
        // Docker's builder.
        if !self.options.no_cache && self.options.cache_from.is_empty() {
            if let Some((record, manifest)) = self.store.cache_lookup(&key)? {
                self.lease.reuse(&record.manifest.digest)?;
                self.lease.reuse(&manifest.config.digest)?;
                for layer in &manifest.layers {
                    self.lease.reuse(&layer.digest)?;
                }
                if let Ok(config) = self.store.read_json::<ImageConfig>(&manifest.config.digest) {
                    let id = manifest.config.digest.clone();
                    self.show(|r| r.cached().and_then(|()| r.cached_done(&id)))?;
                    state.config = config;
                    state.layers = manifest.layers;
                    state.id = Some(manifest.config.digest);
                    state.stepped = true;
                    // The working tree, if any, is of another state now.
                    if let Some(tree) = state.tree.take() {
                        let _ = remove_tree(&tree.dir);
                    }
                    self.store.cache_record(&key, &record.manifest)?;
                    return Ok(());
                }
            }
        }
        if !self.options.no_cache {
            if let Some((history, layer)) = self.cache_from_hit(state, &created_by)? {
                self.show(|r| r.cached())?;
                return self.store_step(state, runtime_config, history, layer, &key, true);
            }
        }
        let (now, created) = self.now();
        let clamp = self.options.source_date_epoch.map(|e| e.max(0) as u64);
        let layer = match work {
            Work::None => None,
            Work::Run(command) => {
                self.run_step(state, &runtime_config, &created_by, command)?;
                self.tree(state)?.commit(&self.lease, now, clamp)?
            }
            Work::Copy(copy, plan) => {
                self.copy_step(state, copy, plan, &runtime_config, clamp)?;
                self.tree(state)?.commit(&self.lease, now, clamp)?
            }
            Work::Workdir(dir) => {
                let tree = self.tree(state)?;
                resolve::resolve_dir(&tree.rootfs, &components(&dir), true).map_err(|e| {
                    BuildError::Io {
                        context: format!("creating the working directory {dir}"),
                        source: io::Error::other(e.to_string()),
                    }
                })?;
                tree.commit(&self.lease, now, clamp)?
            }
        };
        let history = History {
            created: Some(created),
            created_by: Some(created_by),
            author: None,
            comment: None,
            empty_layer: layer.is_none(),
        };
        self.store_step(state, runtime_config, history, layer, &key, false)
    }

    /// Stores a step's image (the state's, with `runtime_config`, the
    /// history entry and the layer) and records it under `key`.
    fn store_step(
        &mut self,
        state: &mut State,
        runtime_config: KeepOrder<RuntimeConfig>,
        history: History,
        layer: Option<StepLayer>,
        key: &Digest,
        cached: bool,
    ) -> Result<()> {
        let mut config = state.config.clone();
        config.created = history.created.clone();
        config.config = Some(runtime_config);
        for stale in ["container", "container_config", "docker_version", "comment"] {
            config.extra.remove(stale);
        }
        config.history.push(history);
        let mut layers = state.layers.clone();
        if let Some(layer) = layer {
            config.rootfs.diff_ids.push(layer.diff_id);
            layers.push(layer.descriptor);
        }
        if config.rootfs.kind.is_empty() {
            config.rootfs.kind = "layers".into();
        }
        let image = writer::store_image(&self.lease, &config, layers.clone())?;
        self.store.cache_record(key, &image.manifest)?;
        let id = image.id.clone();
        self.show(|r| {
            if cached {
                r.cached_done(&id)
            } else {
                r.done(Some(&id))
            }
        })?;
        state.config = config;
        state.layers = layers;
        state.id = Some(image.id);
        state.stepped = true;
        Ok(())
    }

    /// A `--cache-from` image that was built from this state and whose
    /// next history entry is this step: that entry, and its layer unless
    /// the step made none (Docker's classic cache-from, by history).
    fn cache_from_hit(
        &mut self,
        state: &State,
        created_by: &str,
    ) -> Result<Option<(History, Option<StepLayer>)>> {
        if self.options.cache_from.is_empty() {
            return Ok(None);
        }
        if self.cache_from.is_none() {
            let mut images = Vec::new();
            for name in &self.options.cache_from {
                // An image that cannot be had is no cache, as in Docker.
                if let Ok((_, config, layers)) = self.base_image(name, None) {
                    images.push((config, layers));
                }
            }
            self.cache_from = Some(images);
        }
        let same = |a: &History, b: &History| {
            (&a.created, &a.created_by, a.empty_layer) == (&b.created, &b.created_by, b.empty_layer)
        };
        let done = state.config.history.len();
        let diff_ids = &state.config.rootfs.diff_ids;
        for (config, layers) in self.cache_from.iter().flatten() {
            let prefix = config.history.len() > done
                && config.history[..done]
                    .iter()
                    .zip(&state.config.history)
                    .all(|(a, b)| same(a, b))
                && config.rootfs.diff_ids.starts_with(diff_ids)
                && layers.len() == config.rootfs.diff_ids.len();
            if !prefix {
                continue;
            }
            let next = &config.history[done];
            if next.created_by.as_deref() != Some(created_by) {
                continue;
            }
            let layer = if next.empty_layer {
                None
            } else {
                let index = diff_ids.len();
                match (layers.get(index), config.rootfs.diff_ids.get(index)) {
                    (Some(layer), Some(diff_id)) => Some(StepLayer {
                        descriptor: layer.clone(),
                        diff_id: diff_id.clone(),
                    }),
                    _ => continue,
                }
            };
            return Ok(Some((next.clone(), layer)));
        }
        Ok(None)
    }

    /// The step's time: `SOURCE_DATE_EPOCH` when set, else now.
    fn now(&self) -> (i64, String) {
        let time = match self.options.source_date_epoch {
            Some(epoch) => chrono::DateTime::from_timestamp(epoch, 0).unwrap_or_default(),
            None => chrono::Utc::now(),
        };
        (
            time.timestamp(),
            crate::format::units::go_rfc3339_nano(time),
        )
    }

    fn runtime(&mut self) -> Result<Runtime> {
        if let Some(runtime) = &self.runtime {
            return Ok(runtime.clone());
        }
        let state_dir = crate::runtime::state_dir(self.store.root());
        // Unless one is named, a build's RUNs prefer crun as root: it starts
        // a container in about half runc's time, and a RUN is never paused
        // (crun cannot pause without cgroups here). Without root, crun
        // refuses hybrid cgroup hosts, so the usual choice stands.
        let root = crate::runtime::userns::host_uid() == 0;
        let runtime = match self.options.runtime.as_deref() {
            None if root => Runtime::find(Some("crun"), &state_dir)
                .or_else(|_| Runtime::find(None, &state_dir))?,
            named => Runtime::find(named, &state_dir)?,
        };
        self.runtime = Some(runtime.clone());
        Ok(runtime)
    }

    fn run_step(
        &mut self,
        state: &mut State,
        config: &RuntimeConfig,
        created_by: &str,
        command: RunCommand,
    ) -> Result<()> {
        let mut env = config.env.get().cloned().unwrap_or_default();
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.insert(0, container::run::DEFAULT_PATH.to_string());
        }
        for (k, v) in self.run_args(state, config) {
            env.push(format!("{k}={v}"));
        }
        for (k, v) in &self.options.build_args {
            if PROXY_ARGS.contains(&k.as_str()) {
                self.consumed.insert(k.clone());
                env.push(format!("{k}={v}"));
            }
        }
        let id = names::new_id().map_err(io_error("naming the build container"))?;
        let runtime = self.runtime()?;
        let workdir = config.working_dir.get().cloned().unwrap_or_default();
        let tree = self.tree(state)?;
        if !workdir.is_empty() {
            crate::runtime::mounts::ensure(
                &tree.rootfs,
                &workdir,
                crate::runtime::mounts::Kind::Dir,
            )?;
        }
        let rootfs = tree.rootfs.clone();
        let run_dir = self.dir.join(format!("run-{}-{id}", runtime.name()));
        let mut roots = Vec::new();
        for mount in &command.mounts {
            roots.push(match (&mount.from, mount.kind) {
                (Some(from), instructions::MountType::Bind) => {
                    self.copy_source_root(from, state.index)?
                }
                _ => self.options.context.clone(),
            });
        }
        let scratch = run_dir.join("mounts");
        fs::create_dir_all(&scratch)
            .map_err(io_error(format!("creating {}", scratch.display())))?;
        let binds = mounts::binds(
            &command.mounts,
            &mounts::Sources {
                roots: &roots,
                cache_dir: &self.store.root().join("build-mounts").join("cache"),
                secrets: &self.options.secrets,
                scratch: &scratch,
            },
        )?;
        let made = mounts::make_points(&rootfs, &binds)?;
        self.show(|r| r.container(&id, true))?;
        let code = step::run(
            &runtime,
            &rootfs,
            &run_dir,
            step::RunStep {
                id: &id,
                process: ProcessConfig {
                    args: command.args,
                    env,
                    cwd: workdir,
                    user: config.user.get().cloned().unwrap_or_default(),
                    tty: false,
                },
                network: command.network,
                stdin: command.stdin.as_deref(),
                quiet: self.options.quiet,
                prefix: self.report.output_prefix(),
                binds,
            },
        );
        mounts::remove_points(&made);
        let _ = remove_tree(&run_dir);
        // An interrupt killed the runtime: that, not how it ended, is news.
        if let Some(signal) = crate::runtime::interrupted() {
            return Err(BuildError::Interrupted(signal));
        }
        let code = code?;
        if code != 0 {
            return Err(BuildError::CommandFailed {
                command: created_by.to_string(),
                code,
            });
        }
        self.show(|r| r.container(&id, false))
    }

    /// Writes a COPY/ADD's files into the stage's tree, as Docker names
    /// them: a directory source's contents go into the destination; a file
    /// goes into it when it is a directory (ends with `/`, several sources,
    /// or one there already), else becomes it.
    fn copy_step(
        &mut self,
        state: &mut State,
        copy: &Copy,
        plan: CopyPlan,
        config: &RuntimeConfig,
        clamp: Option<u64>,
    ) -> Result<()> {
        let what = if copy.add { "ADD" } else { "COPY" };
        let workdir = config.working_dir.get().cloned().unwrap_or_default();
        let dest = absolute(&workdir, &copy.dest);
        let (root, sources) = match (&copy.from, plan.sources) {
            (Some(from), _) => {
                let root = self.copy_source_root(from, state.index)?;
                let tree = Tree {
                    root: &root,
                    ignore: None,
                };
                let sources = tree.sources(what, &copy.sources)?;
                (Some(root), sources)
            }
            (None, Some(sources)) => (None, sources),
            (None, None) => (None, Vec::new()),
        };
        if sources.len() > 1 && !copy.dest.ends_with('/') {
            return Err(BuildError::DestinationNotDirectory(what.to_string()));
        }
        let owner = self.ownership(state, copy)?;
        let rootfs = self.tree(state)?.rootfs.clone();
        let dest_is_dir = dest.ends_with('/')
            || sources.len() > 1
            || dest.trim_matches('/').is_empty()
            || matches!(
                resolve::resolve_dir(&rootfs, &components(&dest), false),
                Ok(Some(_))
            );
        let downloads = self.download_dir();
        let mut items = Vec::new();
        let mut archives = Vec::new();
        for source in &sources {
            let tree = Tree {
                root: root.as_deref().unwrap_or(&source.host),
                ignore: root.is_none().then_some(&self.options.ignore),
            };
            // Only a local archive is extracted; a download never is.
            let local = !source.host.starts_with(&downloads);
            if copy.add && local && !source.is_dir && is_archive(&source.host) {
                archives.push((source.host.clone(), dest.clone()));
                continue;
            }
            let target = if source.is_dir {
                dest.clone()
            } else if dest_is_dir {
                format!("{}/{}", dest.trim_end_matches('/'), source.name)
            } else {
                dest.clone()
            };
            items.extend(tree.items(source, &target)?);
        }
        let failed = |e: &dyn std::fmt::Display| BuildError::Copy {
            what: what.to_string(),
            reason: e.to_string(),
        };
        unpack_produced(&rootfs, |writer| {
            context::write_tar(&items, &owner, clamp, writer).map(drop)
        })
        .map_err(|e| failed(&e))?;
        for (archive, dest) in &archives {
            extract_archive(&rootfs, archive, dest).map_err(|e| failed(&e))?;
        }
        Ok(())
    }
}

/// Whether a shell command is nothing but a heredoc (`<<EOF`, `<<-"EOF"`).
fn heredoc_only(command: &str) -> bool {
    let word = command.trim();
    word.starts_with("<<") && !word.contains(char::is_whitespace)
}

/// A path's components, for [`resolve::resolve_dir`].
pub(crate) fn components(path: &str) -> Vec<&[u8]> {
    path.split('/')
        .filter(|p| !p.is_empty())
        .map(str::as_bytes)
        .collect()
}

/// An ARG's value: the `--build-arg`, else its default expanded from `env`.
fn arg_value(
    def: &ArgDef,
    build_args: &BTreeMap<String, String>,
    lexer: &Lexer,
    env: &[(String, String)],
) -> Result<Option<String>> {
    if let Some(value) = build_args.get(&def.name) {
        return Ok(Some(value.clone()));
    }
    match &def.default {
        Some(default) => lexer
            .process_word(default, env)
            .map(Some)
            .map_err(|e| BuildError::Expansion(e.to_string())),
        None => Ok(None),
    }
}

/// A metadata step's history line: `/bin/sh -c #(nop)  CMD ["sh"]`, the
/// shell and Docker's two-space `#(nop) ` comment.
fn nop(shell: &[String], comment: &str) -> String {
    format!("{} #(nop)  {comment}", shell.join(" "))
}

/// What Docker's classic builder writes in the history for a config
/// instruction, from the config after it (CMD and ENTRYPOINT show the
/// command with its shell).
fn config_comment(instruction: &Instruction, after: &RuntimeConfig) -> Option<String> {
    let list = |items: &[String]| {
        let quoted: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
        format!("[{}]", quoted.join(" "))
    };
    let pairs = |pairs: &[(String, String)]| {
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    Some(match instruction {
        Instruction::Env(p) => format!("ENV {}", pairs(p)),
        Instruction::Label(p) => format!("LABEL {}", pairs(p)),
        Instruction::User(u) => format!("USER {u}"),
        Instruction::Expose(ports) => format!("EXPOSE {}", ports.join(" ")),
        Instruction::Volume(v) => format!("VOLUME [{}]", v.join(" ")),
        Instruction::StopSignal(s) => format!("STOPSIGNAL {s}"),
        Instruction::Onbuild(e) => format!("ONBUILD {e}"),
        Instruction::Shell(s) => format!("SHELL [{}]", s.join(" ")),
        Instruction::Cmd(_) => format!("CMD {}", list(after.cmd.get()?)),
        Instruction::Entrypoint(_) => match after.entrypoint.get() {
            Some(e) => format!("ENTRYPOINT {}", list(e)),
            None => "ENTRYPOINT []".to_string(),
        },
        Instruction::Healthcheck(h) => {
            format!(
                "HEALTHCHECK &{{{} {} {} {} {}}}",
                list(&h.test),
                h.interval,
                h.timeout,
                h.start_period,
                h.retries
            )
        }
        _ => return None,
    })
}

/// Go's `%q` of a string: double-quoted, with `"` and `\` escaped and
/// control characters as escapes.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A COPY/ADD destination made absolute against WORKDIR, keeping a
/// trailing slash.
fn absolute(workdir: &str, dest: &str) -> String {
    if dest.starts_with('/') {
        return dest.to_string();
    }
    let base = if workdir.is_empty() { "/" } else { workdir };
    let joined = format!("{}/{dest}", base.trim_end_matches('/'));
    let mut cleaned = crate::pathmatch::clean(&joined);
    if (dest.ends_with('/') || dest == "." || dest.ends_with("/.")) && !cleaned.ends_with('/') {
        cleaned.push('/');
    }
    cleaned
}

/// Whether ADD extracts the file: a tar archive, plain or compressed with
/// gzip, bzip2, xz or zstd.
fn is_archive(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    let Ok(size) = file.metadata().map(|m| m.len()) else {
        return false;
    };
    let Ok(mut reader) = crate::layer::decompress(io::BufReader::new(file), Some(size)) else {
        return false;
    };
    let mut block = [0u8; 512];
    if io::Read::read_exact(&mut reader, &mut block).is_err() {
        return false;
    }
    // A tar header: the "ustar" magic, or a valid checksum in a v7 header.
    &block[257..262] == b"ustar"
        || tar::Header::from_byte_slice(&block).cksum().ok() == Some(header_sum(&block))
}

fn header_sum(block: &[u8; 512]) -> u32 {
    block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                b' ' as u32
            } else {
                b as u32
            }
        })
        .sum()
}

/// Extracts a local archive into `dest` in the rootfs, as ADD does: the
/// entries as the archive has them, never outside the rootfs.
fn extract_archive(rootfs: &Path, archive: &Path, dest: &str) -> io::Result<()> {
    let file = File::open(archive)?;
    let size = file.metadata()?.len();
    let reader = crate::layer::decompress(io::BufReader::new(file), Some(size))?;
    resolve::resolve_dir(rootfs, &components(dest), true)
        .map_err(|e| io::Error::other(e.to_string()))?;
    let mut prefix = dest.trim_matches('/').as_bytes().to_vec();
    if !prefix.is_empty() {
        prefix.push(b'/');
    }
    unpack_produced(rootfs, |writer| {
        container::copy::relocate(reader, writer, &prefix, None, None, true)
    })
}

/// Unpacks into `rootfs`, on a thread of its own, the tar stream `produce`
/// writes into the pipe it is given; the unpacker's error first, as the
/// cause of the producer's broken pipe.
fn unpack_produced(
    rootfs: &Path,
    produce: impl FnOnce(io::PipeWriter) -> io::Result<()>,
) -> io::Result<()> {
    let (reader, writer) = io::pipe()?;
    std::thread::scope(|scope| {
        let unpacker = scope.spawn(move || {
            container::unpack::unpack_layer(
                rootfs,
                reader,
                container::unpack::Options::for_current_user(),
            )
            .map_err(|e| io::Error::other(e.to_string()))
        });
        let produced = produce(writer);
        let unpacked = unpacker
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the unpacking thread panicked")));
        unpacked?;
        produced
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_made_absolute_against_the_workdir() {
        assert_eq!(absolute("", "app/"), "/app/");
        assert_eq!(absolute("/srv", "x"), "/srv/x");
        assert_eq!(absolute("/srv", "."), "/srv/");
        assert_eq!(absolute("/srv", "/abs"), "/abs");
    }

    #[test]
    fn history_comments_quote_as_go() {
        assert_eq!(go_quote("daemon off;"), "\"daemon off;\"");
        assert_eq!(go_quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(
            nop(&["/bin/sh".into(), "-c".into()], "CMD [\"sh\"]"),
            "/bin/sh -c #(nop)  CMD [\"sh\"]"
        );
    }
}
