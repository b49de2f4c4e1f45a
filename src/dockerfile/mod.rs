//! The Dockerfile frontend, apart from execution as BuildKit's: the grammar
//! ([`parser`]), typed instructions and stages ([`instructions`]), the word
//! lexer with `$VAR` expansion ([`shell`]) and `.dockerignore` ([`ignore`]).
//! Pure logic: no file, process or network access; every error names the
//! file and line before anything runs.

pub mod ignore;
pub mod instructions;
pub mod parser;
pub mod shell;

/// What is wrong with a Dockerfile, in Docker's words.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum ErrorKind {
    #[error("only one {0} parser directive can be used")]
    DuplicateDirective(String),
    #[error("invalid escape token '{0}' does not match ` or \\")]
    InvalidEscape(String),
    #[error("unterminated heredoc")]
    UnterminatedHeredoc,
    #[error("file with no instructions")]
    NoInstructions,
    #[error("when using JSON array syntax, arrays must be comprised of strings only")]
    NotStringArray,
    #[error("{0} must have two arguments")]
    TwoArguments(&'static str),
    #[error("Syntax error - can't find = in {0:?}. Must be of the form: name=value")]
    MissingEquals(String),
    #[error("unknown instruction: {0}")]
    UnknownInstruction(String),
    #[error("{0} requires at least one argument")]
    AtLeastOneArgument(&'static str),
    #[error("{0} requires exactly one argument")]
    ExactlyOneArgument(&'static str),
    #[error("{0} requires at least two arguments, but only one was provided. Destination could not be determined")]
    NoDestination(&'static str),
    #[error("{0} names can not be blank")]
    BlankNames(&'static str),
    #[error("{0} requires the arguments to be in JSON form")]
    NotJson(&'static str),
    #[error("{command} cannot accept a heredoc as {what}")]
    Heredoc {
        command: &'static str,
        what: &'static str,
    },
    #[error("unknown flag: {0}")]
    UnknownFlag(String),
    #[error("duplicate flag specified: {0}")]
    DuplicateFlag(String),
    #[error("missing a value on flag: {0}")]
    MissingFlagValue(String),
    #[error("expecting boolean value for flag {flag}, not: {value}")]
    BoolFlag { flag: String, value: String },
    #[error("FROM requires either one or three arguments")]
    FromArguments,
    #[error(
        "invalid name for build stage: {0:?}, name can't start with a number or contain symbols"
    )]
    StageName(String),
    #[error("duplicate stage name {0:?}")]
    DuplicateStage(String),
    #[error("no build stage in current context")]
    NoStage,
    #[error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")]
    OnbuildChain,
    #[error("{0} isn't allowed as an ONBUILD trigger")]
    OnbuildTrigger(String),
    /// Other malformed values (mounts, healthcheck options, …).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Shell(#[from] shell::ShellError),
}

/// An error at a place in a Dockerfile: `Dockerfile:7: unknown
/// instruction: COPPY`.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
#[error("{file}:{line}: {kind}")]
pub struct DockerfileError {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based column of the instruction's keyword.
    pub column: usize,
    pub kind: ErrorKind,
}

impl DockerfileError {
    pub(crate) fn new(file: &str, line: usize, column: usize, kind: ErrorKind) -> DockerfileError {
        DockerfileError {
            file: file.to_string(),
            line,
            column,
            kind,
        }
    }
}
