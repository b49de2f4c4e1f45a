//! What a build shows as it goes: Docker's classic builder's lines (the
//! default, as the seed tutorials show them) or BuildKit's plain progress
//! (`--progress plain`: numbered steps, `CACHED`, `DONE 0.4s`, and a RUN's
//! output prefixed with its step and time).

use crate::digest::Digest;
use std::io::{self, Write};
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Style {
    #[default]
    Classic,
    Plain,
}

pub struct Reporter<'a> {
    out: &'a mut dyn Write,
    style: Style,
    /// BuildKit's step number, and when that step started.
    vertex: usize,
    since: Instant,
}

impl<'a> Reporter<'a> {
    pub fn new(out: &'a mut dyn Write, style: Style) -> Reporter<'a> {
        Reporter {
            out,
            style,
            vertex: 0,
            since: Instant::now(),
        }
    }

    pub fn style(&self) -> Style {
        self.style
    }

    fn line(&mut self, line: &str) -> io::Result<()> {
        writeln!(self.out, "{line}")?;
        self.out.flush()
    }

    /// A step begins: `Step 3/7 : RUN …`, or `#3 [build 2/4] RUN …`.
    pub fn step(
        &mut self,
        number: usize,
        total: usize,
        stage: (&str, usize, usize),
        text: &str,
    ) -> io::Result<()> {
        match self.style {
            Style::Classic => self.line(&format!("Step {number}/{total} : {text}")),
            Style::Plain => {
                self.vertex += 1;
                self.since = Instant::now();
                let (name, index, count) = stage;
                self.line(&format!(
                    "\n#{} [{name} {index}/{count}] {text}",
                    self.vertex
                ))
            }
        }
    }

    /// A step is done and made `id` (none for `FROM scratch`).
    pub fn done(&mut self, id: Option<&Digest>) -> io::Result<()> {
        match self.style {
            Style::Classic => {
                let shown = id.map_or("", |id| &id.hex()[..12]);
                self.line(&format!(" ---> {shown}"))
            }
            Style::Plain => {
                let took = self.since.elapsed().as_secs_f64();
                self.line(&format!("#{} DONE {took:.1}s", self.vertex))
            }
        }
    }

    pub fn cached(&mut self) -> io::Result<()> {
        match self.style {
            Style::Classic => self.line(" ---> Using cache"),
            Style::Plain => self.line(&format!("#{} CACHED", self.vertex)),
        }
    }

    /// A done line for a cached step: classic prints the ID, plain has
    /// said `CACHED` already.
    pub fn cached_done(&mut self, id: &Digest) -> io::Result<()> {
        match self.style {
            Style::Classic => self.done(Some(id)),
            Style::Plain => Ok(()),
        }
    }

    /// A RUN's container starts (`---> Running in …`) or is removed.
    pub fn container(&mut self, id: &str, started: bool) -> io::Result<()> {
        match (self.style, started) {
            (Style::Classic, true) => self.line(&format!(" ---> Running in {}", &id[..12])),
            (Style::Classic, false) => {
                self.line(&format!("Removing intermediate container {}", &id[..12]))
            }
            (Style::Plain, _) => Ok(()),
        }
    }

    /// Another line of the current step (`# Executing 1 build trigger`).
    pub fn note(&mut self, text: &str) -> io::Result<()> {
        match self.style {
            Style::Classic => self.line(text),
            Style::Plain => self.line(&format!("#{} {text}", self.vertex)),
        }
    }

    /// How a RUN's output lines are prefixed in plain progress: the step
    /// number and when the step started.
    pub fn output_prefix(&self) -> Option<(usize, Instant)> {
        (self.style == Style::Plain).then_some((self.vertex, self.since))
    }

    /// Plain progress ends with BuildKit's export step.
    pub fn exported(&mut self, id: &Digest, names: &[String]) -> io::Result<()> {
        if self.style == Style::Classic {
            return Ok(());
        }
        self.vertex += 1;
        let n = self.vertex;
        self.line(&format!("\n#{n} exporting to image"))?;
        self.line(&format!("#{n} writing image {id} done"))?;
        for name in names {
            self.line(&format!("#{n} naming to {name} done"))?;
        }
        self.line(&format!("#{n} DONE 0.0s"))
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Copies a RUN's output to `out` line by line as plain progress shows it:
/// `#5 0.231 the line`.
pub fn prefixed_lines<R: io::Read>(input: R, out: &mut dyn Write, prefix: (usize, Instant)) {
    use std::io::BufRead;
    let (vertex, since) = prefix;
    for line in io::BufReader::new(input).split(b'\n').map_while(Result::ok) {
        let at = since.elapsed().as_secs_f64();
        let text = String::from_utf8_lossy(&line);
        let _ = writeln!(out, "#{vertex} {at:.3} {text}");
    }
}
