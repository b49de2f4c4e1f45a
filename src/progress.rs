//! Pull progress as Docker prints it: a line per event keyed by the
//! layer's short digest when stdout is not a terminal (CI logs: no bars,
//! no control characters), live per-layer bars on a terminal.

use crate::digest::Digest;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `-q`: nothing but what the caller prints itself.
    Quiet,
    Plain,
    Terminal,
}

/// Where a command's progress goes.
#[derive(Clone, Debug)]
pub struct Progress {
    mode: Mode,
}

impl Progress {
    /// Bars when stdout is a terminal, plain lines otherwise, nothing when
    /// `quiet`.
    pub fn new(quiet: bool) -> Progress {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stdout().is_terminal() {
            Mode::Terminal
        } else {
            Mode::Plain
        };
        Progress { mode }
    }

    /// A status line such as `18.04: Pulling from library/ubuntu` or
    /// `Digest: sha256:...`.
    pub fn line(&self, text: &str) {
        if self.mode != Mode::Quiet {
            print_line(text);
        }
    }

    /// A display for one image's layers. Its bars stay on screen once it is
    /// dropped, and later lines print below them.
    pub fn board(&self) -> Board {
        let multi = (self.mode == Mode::Terminal)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stdout()));
        Board {
            mode: self.mode,
            multi,
        }
    }
}

/// The layers of one image being pulled.
pub struct Board {
    mode: Mode,
    multi: Option<MultiProgress>,
}

impl Board {
    /// Adds a layer line; it shows nothing until given a status.
    pub fn layer(&self, digest: &Digest) -> LayerProgress {
        let id = digest.short().to_string();
        let bar = self.multi.as_ref().map(|multi| {
            let bar = multi.add(ProgressBar::new(0).with_style(status_style()));
            bar.set_prefix(id.clone());
            bar
        });
        LayerProgress {
            mode: self.mode,
            id,
            bar,
        }
    }
}

/// One layer's line.
pub struct LayerProgress {
    mode: Mode,
    id: String,
    bar: Option<ProgressBar>,
}

impl LayerProgress {
    /// Shows a status (`Waiting`, `Verifying Checksum`, `Pull complete`, ...).
    pub fn status(&self, status: &str) {
        match (&self.bar, self.mode) {
            (Some(bar), _) => {
                bar.set_style(status_style());
                bar.set_message(status.to_string());
            }
            (None, Mode::Plain) => print_line(&format!("{}: {status}", self.id)),
            _ => {}
        }
    }

    /// Switches the line to a `Downloading` bar of `total` bytes. Docker
    /// prints nothing for this without a terminal, and neither do we.
    pub fn downloading(&self, total: u64) {
        self.transferring("Downloading", total);
    }

    /// The same as [`LayerProgress::downloading`] for a push's `Pushing`.
    pub fn pushing(&self, total: u64) {
        self.transferring("Pushing", total);
    }

    fn transferring(&self, verb: &'static str, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_message(verb);
            bar.set_length(total);
            bar.set_position(0);
            bar.reset_eta();
            bar.set_style(download_style());
        }
    }

    pub fn advance(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    /// Shows a final status and leaves the line on screen (a bar dropped
    /// unfinished is erased).
    pub fn finish(&self, status: &str) {
        self.status(status);
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

fn status_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix}: {msg}").unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// Docker's look (`Downloading [=====>    ]  12.3MB/45.6MB`) plus the rate;
/// the bar takes what the terminal width leaves, so lines never wrap.
fn download_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix}: {msg} [{wide_bar}] {decimal_bytes}/{decimal_total_bytes} {decimal_bytes_per_sec}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// Prints a line, ignoring a closed stdout (`rimg pull x | head -1`):
/// the pull itself should still finish.
fn print_line(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
}
