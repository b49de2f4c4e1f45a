//! `image ls/tag/rm/inspect/history/prune` (and `images`, `tag`, `rmi`,
//! `inspect`, `history`); `image save/load/import` are in `archive`.

use super::{archive, confirm, exit_code, print_errors, print_table, Context};
use anyhow::Result;
use chrono::Utc;
use clap::{Args, Subcommand};
use rimg::format::{self, human_size4};
use rimg::image::{self, Catalog, ImageError, ImageFilter, ListOptions, RemoveEvent, Sizes};
use rimg::{container, view};
use std::io::{self, Write};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ImageCommand {
    /// List images
    #[command(visible_alias = "list", name = "ls")]
    Ls(ImagesArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm(RmiArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Remove unused images
    Prune(PruneArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(archive::ImportArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(archive::SaveArgs),
    /// Load images from a tar archive or STDIN
    Load(archive::LoadArgs),
    /// Build an image from a Dockerfile
    Build(Box<super::build::BuildArgs>),
}

#[derive(Args)]
pub struct ImagesArgs {
    /// Show all images (rimg keeps no intermediate images, so this changes nothing)
    #[arg(short, long)]
    all: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Filter output based on conditions provided
    #[arg(short, long, value_name = "FILTER", value_parser = super::filter_flag)]
    filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', or a Go template)
    #[arg(long)]
    format: Option<String>,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    reference: Option<String>,
}

#[derive(Args)]
pub struct TagArgs {
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    source: String,
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    target: String,
}

#[derive(Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short, long)]
    force: bool,
    /// Do not delete untagged parents (rimg keeps no parent images)
    #[arg(long)]
    no_prune: bool,
    #[arg(value_name = "IMAGE", required = true)]
    images: Vec<String>,
}

#[derive(Args)]
pub struct InspectArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short, long)]
    format: Option<String>,
    #[arg(value_name = "IMAGE", required = true)]
    images: Vec<String>,
    /// Set for `rimg inspect`, which stands for any kind of object.
    #[arg(skip)]
    pub any_object: bool,
}

#[derive(Args)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    human: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    #[arg(value_name = "IMAGE")]
    image: String,
}

#[derive(Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (e.g. 'label=<key>=<value>')
    #[arg(long, value_name = "FILTER", value_parser = super::filter_flag)]
    filter: Vec<String>,
}

pub fn run(ctx: &Context, command: ImageCommand) -> Result<ExitCode> {
    match command {
        ImageCommand::Ls(args) => images(ctx, args),
        ImageCommand::Tag(args) => {
            image::tag(&ctx.store, &args.source, &args.target)?;
            Ok(ExitCode::SUCCESS)
        }
        ImageCommand::Rm(args) => rmi(ctx, args),
        ImageCommand::Inspect(args) => inspect(ctx, args),
        ImageCommand::History(args) => history(ctx, args),
        ImageCommand::Prune(args) => prune(ctx, args),
        ImageCommand::Import(args) => archive::import(ctx, args),
        ImageCommand::Save(args) => archive::save(ctx, args),
        ImageCommand::Load(args) => archive::load(ctx, args),
        ImageCommand::Build(args) => {
            super::build::run(ctx, super::build::BuildCommand::Build(args))
        }
    }
}

fn images(ctx: &Context, args: ImagesArgs) -> Result<ExitCode> {
    let catalog = Catalog::load(&ctx.store)?;
    let mut filter = ImageFilter::parse(&args.filter, &catalog)?;
    if let Some(reference) = &args.reference {
        filter.add_reference(reference);
    }
    let custom = args.format.as_deref().filter(|f| *f != "table");
    let digests = args.digests || custom.is_some_and(|f| f.contains("{{.Digest}}"));
    let rows = image::list(&catalog, &ListOptions { filter, digests });
    let now = Utc::now();
    let mut sizes = Sizes::new(&ctx.store);
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        let size = sizes.image(row.image)?;
        items.push(view::image_row(row, size, !args.no_trunc, now));
    }
    let table = if args.digests {
        view::IMAGES_TABLE_DIGESTS
    } else {
        view::IMAGES_TABLE
    };
    print_table(custom, args.quiet, table, &view::images_header(), &items)
}

/// The docker CLI names a missing image of `rmi` and `inspect` as typed
/// (`No such image: app`, where `history` and `tag`, reported by the
/// daemon, say `app:latest`).
fn as_typed(e: ImageError, arg: &str) -> ImageError {
    match e {
        ImageError::NotFound(_) => ImageError::NotFound(arg.to_string()),
        e => e,
    }
}

fn rmi(ctx: &Context, args: RmiArgs) -> Result<ExitCode> {
    let store = &ctx.store;
    let results = image::remove_images(store, &args.images, args.force, || {
        Ok(container::image_users(store)?)
    })?;
    // The removed images' layer snapshots go with them.
    container::sweep_snapshots(store)?;
    let mut out = io::stdout().lock();
    let mut errors = Vec::new();
    let mut fatal = false;
    for (arg, result) in results {
        match result.map_err(|e| as_typed(e, &arg)) {
            Ok(events) => {
                for event in events {
                    match event {
                        RemoveEvent::Untagged(name) => writeln!(out, "Untagged: {name}")?,
                        RemoveEvent::Deleted(digest) => writeln!(out, "Deleted: {digest}")?,
                    }
                }
            }
            Err(e) => {
                fatal |= !matches!(e, ImageError::NotFound(_));
                errors.push(e);
            }
        }
    }
    out.flush()?;
    // Like Docker, `-f` forgives images that are already gone.
    let success = errors.is_empty() || (args.force && !fatal);
    print_errors(errors);
    Ok(exit_code(success))
}

fn inspect(ctx: &Context, args: InspectArgs) -> Result<ExitCode> {
    let catalog = Catalog::load(&ctx.store)?;
    let mut sizes = Sizes::new(&ctx.store);
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for arg in &args.images {
        match catalog.find(arg) {
            Ok(r) => {
                let image = catalog.image(&r);
                let metadata = view::Metadata {
                    last_tagged: catalog.last_tagged(image),
                    parent: catalog.parent_id(image),
                };
                found.push(view::inspect(image, sizes.image(image)?, &metadata));
            }
            // Docker's generic `inspect` looks for every kind of object
            // and names none when it finds nothing (a bad reference too).
            Err(ImageError::NotFound(_) | ImageError::Reference(_)) if args.any_object => {
                errors.push(ImageError::NoSuchObject(arg.clone()))
            }
            Err(e) => errors.push(as_typed(e, arg)),
        }
    }
    let mut out = io::stdout().lock();
    format::render_inspect(
        args.format.as_deref().unwrap_or(""),
        &found,
        view::INSPECT_TYPES,
        &mut out,
    )?;
    out.flush()?;
    let success = errors.is_empty();
    print_errors(errors);
    Ok(exit_code(success))
}

fn history(ctx: &Context, args: HistoryArgs) -> Result<ExitCode> {
    let catalog = Catalog::load(&ctx.store)?;
    let found = catalog.find(&args.image)?;
    let image = catalog.image(&found);
    let sizes = image
        .manifest
        .layers
        .iter()
        .map(|l| ctx.store.layer_size(l))
        .collect::<Result<Vec<u64>, _>>()?;
    let rows = view::history_rows(
        &catalog.lineage(image),
        &sizes,
        args.human,
        !args.no_trunc,
        Utc::now(),
    );
    // As the docker CLI: `-H=false` swaps the default table's second
    // column for CreatedAt, so its header reads CREATED AT.
    let default = if args.human {
        view::HISTORY_TABLE
    } else {
        view::HISTORY_TABLE_RAW
    };
    print_table(
        args.format.as_deref(),
        args.quiet,
        default,
        &view::history_header(),
        &rows,
    )
}

fn prune(ctx: &Context, args: PruneArgs) -> Result<ExitCode> {
    let filters = image::PruneFilter::parse(&args.filter)?;
    if !args.force {
        let warning = if args.all {
            "WARNING! This will remove all images without at least one container associated to them."
        } else {
            "WARNING! This will remove all dangling images."
        };
        if !confirm(warning)? {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let report = container::prune_images(&ctx.store, args.all, &filters)?;
    let mut out = io::stdout().lock();
    if !report.events.is_empty() {
        writeln!(out, "Deleted Images:")?;
        for event in &report.events {
            match event {
                RemoveEvent::Untagged(name) => writeln!(out, "untagged: {name}")?,
                RemoveEvent::Deleted(digest) => writeln!(out, "deleted: {digest}")?,
            }
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "Total reclaimed space: {}",
        human_size4(report.reclaimed)
    )?;
    Ok(ExitCode::SUCCESS)
}
