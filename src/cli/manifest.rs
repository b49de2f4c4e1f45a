//! `manifest inspect/create/annotate/push/rm`.

use super::Context;
use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use rimg::manifest::{self, Annotation};
use rimg::progress::Progress;
use rimg::reference::Reference;
use rimg::registry::{Client, RegistryConfig};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ManifestCommand {
    /// Add additional information to a local image manifest
    Annotate(AnnotateArgs),
    /// Create a local manifest list for annotating and pushing to a registry
    Create(CreateArgs),
    /// Display an image manifest, or manifest list
    Inspect(InspectArgs),
    /// Push a manifest list to a repository
    Push(PushArgs),
    /// Delete one or more manifest lists from local storage
    Rm(RmArgs),
}

#[derive(Args)]
pub struct InspectArgs {
    /// Output additional info including layers and platform
    #[arg(short, long)]
    verbose: bool,
    /// Allow communication with an insecure registry
    #[arg(long)]
    insecure: bool,
    /// `[MANIFEST_LIST] MANIFEST`: with two, the element of a local list.
    #[arg(value_name = "MANIFEST", required = true, num_args = 1..=2)]
    names: Vec<String>,
}

#[derive(Args)]
pub struct CreateArgs {
    /// Amend an existing manifest list
    #[arg(short, long)]
    amend: bool,
    /// Allow communication with an insecure registry
    #[arg(long)]
    insecure: bool,
    #[arg(value_name = "MANIFEST_LIST")]
    list: String,
    #[arg(value_name = "MANIFEST", required = true)]
    manifests: Vec<String>,
}

#[derive(Args)]
pub struct AnnotateArgs {
    /// Set architecture
    #[arg(long, default_value = "")]
    arch: String,
    /// Set operating system
    #[arg(long, default_value = "")]
    os: String,
    /// Set operating system feature
    #[arg(long = "os-features", value_delimiter = ',')]
    os_features: Vec<String>,
    /// Set operating system version
    #[arg(long = "os-version", default_value = "")]
    os_version: String,
    /// Set architecture variant
    #[arg(long, default_value = "")]
    variant: String,
    #[arg(value_name = "MANIFEST_LIST")]
    list: String,
    #[arg(value_name = "MANIFEST")]
    manifest: String,
}

#[derive(Args)]
pub struct PushArgs {
    /// Allow push to an insecure registry
    #[arg(long)]
    insecure: bool,
    /// Remove the local manifest list after push
    #[arg(short, long)]
    purge: bool,
    #[arg(value_name = "MANIFEST_LIST")]
    list: String,
}

#[derive(Args)]
pub struct RmArgs {
    #[arg(value_name = "MANIFEST_LIST", required = true)]
    lists: Vec<String>,
}

pub fn run(ctx: &Context, command: ManifestCommand) -> Result<ExitCode> {
    match command {
        ManifestCommand::Inspect(args) => inspect(ctx, args),
        ManifestCommand::Create(args) => {
            let list = Reference::parse_with_default_tag(&args.list)
                .with_context(|| format!("error parsing name for manifest list {}", args.list))?;
            let elements = args
                .manifests
                .iter()
                .map(|m| Reference::parse_with_default_tag(m))
                .collect::<Result<Vec<_>, _>>()?;
            let client = client(ctx, &list, args.insecure)?;
            ctx.block_on(manifest::create(
                &ctx.store, &client, &list, &elements, args.amend,
            ))??;
            println!("Created manifest list {list}");
            Ok(ExitCode::SUCCESS)
        }
        ManifestCommand::Annotate(args) => {
            let list = Reference::parse_with_default_tag(&args.list).with_context(|| {
                format!(
                    "annotate: error parsing name for manifest list {}",
                    args.list
                )
            })?;
            let element = Reference::parse_with_default_tag(&args.manifest).with_context(|| {
                format!(
                    "annotate: error parsing name for manifest {}",
                    args.manifest
                )
            })?;
            let set = Annotation {
                os: args.os,
                arch: args.arch,
                variant: args.variant,
                os_features: args.os_features,
                os_version: args.os_version,
            };
            manifest::annotate(
                &ctx.store,
                &list,
                &element,
                &set,
                (&args.list, &args.manifest),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        ManifestCommand::Push(args) => {
            let list = Reference::parse_with_default_tag(&args.list)?;
            let client = client(ctx, &list, args.insecure)?;
            let progress = Progress::new(false);
            let digest = ctx.block_on(manifest::push(
                &ctx.store, &client, &list, args.purge, &progress,
            ))??;
            println!("{digest}");
            Ok(ExitCode::SUCCESS)
        }
        ManifestCommand::Rm(args) => {
            let mut errors = Vec::new();
            for name in &args.lists {
                let removed = Reference::parse_with_default_tag(name)
                    .map_err(anyhow::Error::from)
                    .and_then(|list| Ok(manifest::remove(&ctx.store, &list)?));
                errors.extend(removed.err());
            }
            let ok = errors.is_empty();
            super::print_errors(errors);
            Ok(super::exit_code(ok))
        }
    }
}

fn inspect(ctx: &Context, args: InspectArgs) -> Result<ExitCode> {
    let json = match &args.names[..] {
        [list, element] => manifest::inspect_element(
            &ctx.store,
            &Reference::parse_with_default_tag(list)?,
            &Reference::parse_with_default_tag(element)?,
            args.verbose,
        )?,
        [name] => {
            let reference = Reference::parse_with_default_tag(name)?;
            let client = client(ctx, &reference, args.insecure)?;
            ctx.block_on(manifest::inspect(
                &ctx.store,
                &client,
                &reference,
                args.verbose,
            ))??
        }
        _ => anyhow::bail!("\"manifest inspect\" requires at least 1 and at most 2 arguments"),
    };
    println!("{json}");
    Ok(ExitCode::SUCCESS)
}

/// A registry client; `--insecure` adds the reference's registry to the
/// insecure ones.
fn client(ctx: &Context, reference: &Reference, insecure: bool) -> Result<Client> {
    let mut config = RegistryConfig::load()?;
    if insecure {
        config
            .insecure_registries
            .push(reference.domain().to_string());
    }
    ctx.registry_client(Some(config))
}
