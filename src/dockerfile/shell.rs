//! The Dockerfile word lexer (BuildKit's `frontend/dockerfile/shell`):
//! quotes, the escape character and `$VAR`, `${VAR}`, `${VAR:-x}`,
//! `${VAR-x}`, `${VAR:+x}`, `${VAR+x}`, `${VAR:?msg}`, `${VAR?msg}`
//! expansion, as the builder applies them to the words of ENV, ARG, LABEL,
//! COPY, ADD, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL and FROM.

/// Variables a word is expanded from.
pub trait Env {
    fn lookup(&self, name: &str) -> Option<&str>;
}

/// Pairs, the last of a name winning (an ENV after an ARG of the same name).
impl Env for [(String, String)] {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A runtime config's `KEY=value` list; a bare `KEY` is set and empty.
impl Env for [String] {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find_map(|entry| match entry.split_once('=') {
                Some((k, v)) if k == name => Some(v),
                None if entry == name => Some(""),
                _ => None,
            })
    }
}

/// Nothing set: the parser's own use of the lexer (heredoc words).
pub(crate) struct NoEnv;

impl Env for NoEnv {
    fn lookup(&self, _: &str) -> Option<&str> {
        None
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum ShellErrorKind {
    #[error("unexpected end of statement while looking for matching single-quote")]
    SingleQuote,
    #[error("unexpected end of statement while looking for matching double-quote")]
    DoubleQuote,
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    #[error("unsupported modifier ({0}) in substitution")]
    UnsupportedModifier(String),
    /// `${VAR?msg}` / `${VAR:?msg}` on an unset (or empty) variable.
    #[error("{name}: {message}")]
    Required { name: String, message: String },
    /// Nesting Go's growable stack survives but ours would not.
    #[error("substitutions nested too deeply")]
    TooDeep,
}

/// A word that could not be processed, as BuildKit words it.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
#[error("failed to process {source_word:?}: {kind}")]
pub struct ShellError {
    pub source_word: String,
    pub kind: ShellErrorKind,
}

/// `${a:-${b:-…}}` recursion is bounded by this depth.
const MAX_DEPTH: usize = 64;

/// The lexer for one Dockerfile (its escape character).
#[derive(Debug, Clone, Copy)]
pub struct Lexer {
    escape: char,
    /// Keep quotes in the output (heredoc detection).
    raw_quotes: bool,
    /// Keep escape characters in the output (heredoc detection).
    raw_escapes: bool,
    /// Leave `$UNSET` as written (heredoc names).
    skip_unset: bool,
    /// Quotes are ordinary characters (heredoc bodies).
    keep_quotes: bool,
}

impl Lexer {
    pub fn new(escape: char) -> Lexer {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset: false,
            keep_quotes: false,
        }
    }

    /// This lexer for a heredoc body (COPY's, when its delimiter is
    /// unquoted): variables are expanded, quotes left alone.
    pub fn for_heredoc(self) -> Lexer {
        Lexer {
            keep_quotes: true,
            ..self
        }
    }

    /// BuildKit's lexer as the parser runs it to find heredoc words.
    pub(crate) fn raw(raw_quotes: bool, raw_escapes: bool, skip_unset: bool) -> Lexer {
        Lexer {
            escape: '\\',
            raw_quotes,
            raw_escapes,
            skip_unset,
            keep_quotes: false,
        }
    }

    /// The word with quotes and escapes removed and variables expanded
    /// (unquoted whitespace kept as it is).
    pub fn process_word(
        &self,
        word: &str,
        env: &(impl Env + ?Sized),
    ) -> Result<String, ShellError> {
        self.process(word, env).map(|(result, _)| result)
    }

    /// The words, split on unquoted whitespace, including whitespace that
    /// unquoted variables bring (`EXPOSE $PORTS`).
    pub fn process_words(
        &self,
        word: &str,
        env: &(impl Env + ?Sized),
    ) -> Result<Vec<String>, ShellError> {
        self.process(word, env).map(|(_, words)| words)
    }

    fn process(
        &self,
        source: &str,
        env: &(impl Env + ?Sized),
    ) -> Result<(String, Vec<String>), ShellError> {
        let chars: Vec<char> = source.chars().collect();
        let mut word = Word {
            lexer: *self,
            chars: &chars,
            pos: 0,
            env,
            raw_escapes: self.raw_escapes,
            depth: 0,
        };
        word.stop_on(None).map_err(|kind| ShellError {
            source_word: source.to_string(),
            kind,
        })
    }
}

/// Words being collected (BuildKit's `wordsStruct`).
#[derive(Default)]
struct Words {
    buf: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, c: char) {
        if c.is_whitespace() {
            if self.in_word && !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(c);
        }
    }

    fn add_raw_char(&mut self, c: char) {
        self.buf.push(c);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(self.buf);
        }
        self.words
    }
}

struct Word<'a, E: ?Sized> {
    lexer: Lexer,
    chars: &'a [char],
    pos: usize,
    env: &'a E,
    raw_escapes: bool,
    depth: usize,
}

impl<E: Env + ?Sized> Word<'_, E> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += usize::from(c.is_some());
        c
    }

    /// Processes up to `stop` (consumed) or the end.
    fn stop_on(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), ShellErrorKind> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                return Ok((result, words.finish()));
            }
            match c {
                '$' => {
                    let value = self.dollar()?;
                    value.chars().for_each(|c| words.add_char(c));
                    result.push_str(&value);
                }
                '\'' | '"' if !self.lexer.keep_quotes => {
                    let quoted = if c == '\'' {
                        self.single_quote()?
                    } else {
                        self.double_quote()?
                    };
                    words.buf.push_str(&quoted);
                    words.in_word = true;
                    result.push_str(&quoted);
                }
                _ => {
                    self.pos += 1;
                    if c == self.lexer.escape {
                        if self.raw_escapes {
                            words.add_raw_char(c);
                            result.push(c);
                        }
                        // An escape at the very end is dropped.
                        let Some(escaped) = self.next() else { break };
                        words.add_raw_char(escaped);
                        result.push(escaped);
                    } else {
                        words.add_char(c);
                        result.push(c);
                    }
                }
            }
        }
        match stop {
            Some(_) => Err(ShellErrorKind::MissingBrace),
            None => Ok((result, words.finish())),
        }
    }

    /// Consumes a quote at the cursor, into `out` when quotes are kept.
    fn quote_mark(&mut self, out: &mut String) {
        let mark = self.next();
        if self.lexer.raw_quotes {
            out.extend(mark);
        }
    }

    fn single_quote(&mut self) -> Result<String, ShellErrorKind> {
        let mut out = String::new();
        self.quote_mark(&mut out);
        loop {
            match self.peek() {
                None => return Err(ShellErrorKind::SingleQuote),
                Some('\'') => {
                    self.quote_mark(&mut out);
                    return Ok(out);
                }
                Some(c) => {
                    self.pos += 1;
                    out.push(c);
                }
            }
        }
    }

    fn double_quote(&mut self) -> Result<String, ShellErrorKind> {
        let mut out = String::new();
        self.quote_mark(&mut out);
        loop {
            match self.peek() {
                None => return Err(ShellErrorKind::DoubleQuote),
                Some('"') => {
                    self.quote_mark(&mut out);
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(c) => {
                    self.pos += 1;
                    let mut c = c;
                    if c == self.lexer.escape {
                        if self.raw_escapes {
                            out.push(c);
                        }
                        match self.peek() {
                            // An escape before the closing end is dropped.
                            None => continue,
                            // Only these are escaped inside double quotes.
                            Some(n) if n == '"' || n == '$' || n == self.lexer.escape => {
                                c = n;
                                self.pos += 1;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    /// A `$` reference at the cursor.
    fn dollar(&mut self) -> Result<String, ShellErrorKind> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.env.lookup(&name) {
                Some(v) => v.to_string(),
                None if self.lexer.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1;
        match self.peek() {
            None => return Err(ShellErrorKind::MissingBrace),
            Some('{' | '}' | ':') => return Err(ShellErrorKind::BadSubstitution),
            Some(_) => {}
        }
        let name = self.name();
        let Some(first) = self.next() else {
            return Err(ShellErrorKind::MissingBrace);
        };
        let value = self.env.lookup(&name).map(str::to_string);
        let mut modifier = first.to_string();
        let mut op = first;
        let null_is_unset = first == ':';
        match first {
            '}' => {
                return Ok(match value {
                    Some(v) => v,
                    None if self.lexer.skip_unset => format!("${{{name}}}"),
                    None => String::new(),
                })
            }
            ':' => {
                op = self.next().ok_or(ShellErrorKind::MissingBrace)?;
                modifier.push(op);
            }
            '+' | '-' | '?' => {}
            _ => return Err(ShellErrorKind::UnsupportedModifier(modifier)),
        }
        if self.depth >= MAX_DEPTH {
            return Err(ShellErrorKind::TooDeep);
        }
        self.depth += 1;
        let saved = std::mem::replace(&mut self.raw_escapes, false);
        let word = self.stop_on(Some('}'));
        self.raw_escapes = saved;
        self.depth -= 1;
        let (word, _) = word?;
        if value.is_none() && self.lexer.skip_unset {
            return Ok(format!("${{{name}{modifier}{word}}}"));
        }
        let empty = value
            .as_deref()
            .is_none_or(|v| null_is_unset && v.is_empty());
        match op {
            '-' => Ok(if empty {
                word
            } else {
                value.unwrap_or_default()
            }),
            '+' => Ok(if empty { String::new() } else { word }),
            '?' => match value {
                Some(v) if !empty => Ok(v),
                _ => {
                    let message = if !word.is_empty() {
                        word
                    } else if value.is_none() {
                        "is not allowed to be unset".into()
                    } else {
                        "is not allowed to be empty".into()
                    };
                    Err(ShellErrorKind::Required { name, message })
                }
            },
            _ => Err(ShellErrorKind::UnsupportedModifier(modifier)),
        }
    }

    /// A variable name: letters, digits and `_`; a run of digits or one
    /// special parameter (`$@`, `$1`, …) when it starts with one.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_numeric() {
                while let Some(d) = self.peek().filter(|d| d.is_numeric()) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                return c.to_string();
            }
            if !(c.is_alphabetic() || c.is_numeric() || c == '_') {
                break;
            }
            name.push(c);
            self.pos += 1;
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<(String, String)> {
        [("A", "1"), ("E", ""), ("SP", "x  y"), ("HOME", "/root")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn word(s: &str) -> Result<String, ShellErrorKind> {
        Lexer::new('\\')
            .process_word(s, env().as_slice())
            .map_err(|e| e.kind)
    }

    #[test]
    fn substitution_forms() {
        #[rustfmt::skip]
        let cases = [
            ("$A", "1"), ("${A}", "1"), ("${NO}", ""), ("a$A$A", "a11"), ("$", "$"), ("$ x", "$ x"),
            ("${NO:-x}", "x"), ("${E:-x}", "x"), ("${E-x}", ""), ("${NO-x}", "x"), ("${A:-x}", "1"),
            ("${A:+x}", "x"), ("${E:+x}", ""), ("${E+x}", "x"), ("${NO+x}", ""),
            ("${NO:-$A}", "1"), ("${NO:-${NO2:-deep}}", "deep"), ("${NO:-'a b'}", "a b"),
            ("'$A'", "$A"), ("\"$A\"", "1"), ("\\$A", "$A"), ("\"\\$A\"", "$A"),
            ("\"a\\b\"", "a\\b"), ("a\\ b", "a b"), ("x\\", "x"), ("$1", ""), ("${A}b", "1b"),
            ("$HOME/x", "/root/x"), ("\"${A:?}\"", "1"), ("$A_B", ""), ("${SP}", "x  y"),
        ];
        for (input, want) in cases {
            assert_eq!(word(input).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn substitution_errors() {
        assert_eq!(
            word("${NO:?}"),
            Err(ShellErrorKind::Required {
                name: "NO".into(),
                message: "is not allowed to be unset".into()
            })
        );
        assert_eq!(
            word("${E:?need it}"),
            Err(ShellErrorKind::Required {
                name: "E".into(),
                message: "need it".into()
            })
        );
        assert_eq!(word("${E?x}").as_deref(), Ok(""));
        assert_eq!(word("${A"), Err(ShellErrorKind::MissingBrace));
        assert_eq!(word("${A:-x"), Err(ShellErrorKind::MissingBrace));
        assert_eq!(word("${}"), Err(ShellErrorKind::BadSubstitution));
        assert_eq!(word("${:a}"), Err(ShellErrorKind::BadSubstitution));
        assert_eq!(
            word("${A!}"),
            Err(ShellErrorKind::UnsupportedModifier("!".into()))
        );
        assert_eq!(
            word("${A:x}"),
            Err(ShellErrorKind::UnsupportedModifier(":x".into()))
        );
        assert_eq!(word("'a"), Err(ShellErrorKind::SingleQuote));
        assert_eq!(word("\"a"), Err(ShellErrorKind::DoubleQuote));
        let deep = format!("{}x{}", "${N:-".repeat(1000), "}".repeat(1000));
        assert_eq!(word(&deep), Err(ShellErrorKind::TooDeep));
        let err = Lexer::new('\\')
            .process_word("'a", env().as_slice())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "failed to process \"'a\": unexpected end of statement while looking for matching single-quote"
        );
    }

    #[test]
    fn words_split_on_unquoted_whitespace_and_variables() {
        let words = |s: &str| Lexer::new('\\').process_words(s, env().as_slice()).unwrap();
        assert_eq!(words("a  b\t c"), ["a", "b", "c"]);
        assert_eq!(words("'a b' \"c d\""), ["a b", "c d"]);
        assert_eq!(words("$SP z"), ["x", "y", "z"]);
        assert_eq!(words("\"$SP\""), ["x  y"]);
        assert_eq!(words("a\\ b"), ["a b"]);
        assert_eq!(words("\"\" x"), ["x"]);
    }

    #[test]
    fn backtick_escape() {
        let lexer = Lexer::new('`');
        let env: &[(String, String)] = &[];
        assert_eq!(lexer.process_word("c:\\dir`$x", env).unwrap(), "c:\\dir$x");
        assert_eq!(lexer.process_word("\"a`\"b\"", env).unwrap(), "a\"b");
    }

    #[test]
    fn buildkit_lexer_cases() {
        // Cases of BuildKit's own lexer tests, with its environment.
        let env: Vec<(String, String)> = [("PWD", "/home"), ("SHELL", "bash"), ("NULL", "")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let word = |s: &str| Lexer::new('\\').process_word(s, env.as_slice()).ok();
        #[rustfmt::skip]
        let cases: &[(&str, Option<&str>)] = &[
            ("he'll'o", Some("hello")), ("he'llo", None), ("he\\'llo", Some("he'llo")),
            ("he\\\\'llo", None), ("abc\\tdef", Some("abctdef")), ("\"abc\\tdef\"", Some("abc\\tdef")),
            ("\"abc\\\\tdef\"", Some("abc\\tdef")), ("hello\\\\", Some("hello\\")), ("\"hello\\\"", None),
            ("'hello\\'", Some("hello\\")), ("\"''\"", Some("''")), ("$.", Some("$.")), ("he$1x", Some("hex")),
            ("he$.x", Some("he$.x")), ("he$pwd.", Some("he.")), ("he\\\\$PWD", Some("he\\/home")),
            ("\"he\\\\$PWD\"", Some("he\\/home")), ("\\${}", Some("${}")), ("he${}xx", None), ("he${.}", None),
            ("he${XXX:-${YYY:-yyy}}xx", Some("heyyyxx")), ("he${XXX:YYY}", None), ("he${XXX?}", None),
            ("he${PWD:?}", Some("he/home")), ("he${NULL?}", Some("he")), ("he${NULL:?}", None),
            ("he${PWD:+${SHELL}}xx", Some("hebashxx")), ("he${XXX:+000}xx", Some("hexx")),
            ("\"he'$PWD'\"", Some("he'/home'")), ("'\\$PWD'", Some("\\$PWD")), ("he${PWD", None),
            ("he${PWD=000}xx", None), ("he${PWD+${PWD}:}xx", Some("he/home:xx")),
        ];
        for (input, want) in cases {
            assert_eq!(word(input).as_deref(), *want, "{input}");
        }
        let env: Vec<(String, String)> = [
            ("space", "abc  def"),
            ("leading", "  ab c"),
            ("trailing", "ab c   "),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let words = |s: &str| Lexer::new('\\').process_words(s, env.as_slice()).unwrap();
        assert_eq!(words("hello${space}bye"), ["helloabc", "defbye"]);
        assert_eq!(words("hello \"${space}\"bye"), ["hello", "abc  defbye"]);
        assert_eq!(words("hello${leading}def"), ["hello", "ab", "cdef"]);
        assert_eq!(words("hello\"${leading}\" def"), ["hello  ab c", "def"]);
        assert_eq!(words("hello${trailing}d"), ["helloab", "c", "d"]);
        assert_eq!(words("hel\"lo${trailing}\""), ["helloab c   "]);
        assert_eq!(words("hello\\\" there"), ["hello\"", "there"]);
        assert_eq!(words("hello'\\\\there'"), ["hello\\\\there"]);
    }

    #[test]
    fn heredoc_bodies_keep_quotes() {
        let lexer = Lexer::new('\\').for_heredoc();
        let body = "echo \"$A\" '$A' \\$A\n";
        assert_eq!(
            lexer.process_word(body, env().as_slice()).unwrap(),
            "echo \"1\" '1' $A\n"
        );
    }

    #[test]
    fn runtime_config_env() {
        let list = vec!["A=1".to_string(), "B".to_string(), "A=2".to_string()];
        assert_eq!(list.as_slice().lookup("A"), Some("2"));
        assert_eq!(list.as_slice().lookup("B"), Some(""));
        assert_eq!(list.as_slice().lookup("C"), None);
    }
}
