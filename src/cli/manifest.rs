//! `manifest inspect`; `manifest create/annotate/push/rm` will join it.

use super::Context;
use anyhow::Result;
use clap::{Args, Subcommand};
use rimg::reference::Reference;
use rimg::registry::RegistryConfig;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ManifestCommand {
    /// Display an image manifest, or manifest list
    Inspect(InspectArgs),
}

#[derive(Args)]
pub struct InspectArgs {
    /// Output additional info including layers and platform
    #[arg(short, long)]
    verbose: bool,
    /// Allow communication with an insecure registry
    #[arg(long)]
    insecure: bool,
    #[arg(value_name = "MANIFEST")]
    name: String,
}

pub fn run(ctx: &Context, command: ManifestCommand) -> Result<ExitCode> {
    match command {
        ManifestCommand::Inspect(args) => {
            let reference = Reference::parse_with_default_tag(&args.name)?;
            let mut config = RegistryConfig::load()?;
            if args.insecure {
                config
                    .insecure_registries
                    .push(reference.domain().to_string());
            }
            let client = ctx.registry_client(Some(config))?;
            let json =
                ctx.block_on(rimg::manifest::inspect(&client, &reference, args.verbose))??;
            println!("{json}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
