//! Output formatting shared by the commands: Docker's human units, aligned
//! tables and Go-template `--format` strings.
//!
//! * [`units`]: sizes (`72.8MB`), durations and "2 years ago", exactly as
//!   docker/go-units and the docker CLI print them.
//! * [`table`]: Docker's tab-aligned columns.
//! * [`template`]: `--format` (`table …`, `json`, Go templates) for
//!   listings and `inspect`, on top of gtmpl.
//! * [`json`]: JSON byte-for-byte like Go's `encoding/json`.
//! * [`display`]: short IDs and `…` truncation.

pub mod display;
mod funcs;
mod gonum;
pub mod json;
mod rewrite;
pub mod table;
pub mod template;
pub mod units;
mod value;

pub use display::{ellipsis, escape_controls, truncate_id};
pub use table::{write_aligned, Table};
pub use template::{
    render_each, render_inspect, render_list, Format, FormatError, ItemTemplate, ListFormatter,
};
pub use units::{human_duration, human_size, human_size4, human_size_precision, time_ago};
pub use value::{GoFields, GoType};
