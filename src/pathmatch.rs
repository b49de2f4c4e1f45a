//! Go's `path.Match` and `path.Clean`, and the `.dockerignore` pattern
//! language of `moby/patternmatcher` built on the same compiled form, so
//! `reference=` filters and build-context exclusions share one matcher.
//!
//! A pattern compiles to tokens and is matched by a table over (token,
//! position): time and memory stay linear in the name for each token, with
//! no backtracking however many stars a pattern has.

/// Go's `path.ErrBadPattern`.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
#[error("syntax error in pattern")]
pub struct BadPattern;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `*`: any run of characters but `/`.
    Star,
    /// `?`: one character but `/`.
    One,
    /// `[...]`: one character (`/` included, as Go) in or out of ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// A trailing `**`: anything, `/` included.
    Anything,
    /// `**` (and `**/`) elsewhere: zero or more whole directories.
    Dirs,
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    tokens: Vec<Token>,
    /// patternmatcher's `suffixMatch`: a pattern that starts with `**` and
    /// has nothing special after it is a plain suffix test (so `**.txt`
    /// matches `a.txt`), with `**/name` also matching `name`.
    suffix: Option<String>,
}

impl Pattern {
    /// Go's `path.Match` pattern: `*`, `?`, `[...]`, `\` escapes.
    pub fn go(pattern: &str) -> Result<Pattern, BadPattern> {
        compile(pattern, false)
    }

    /// A `.dockerignore` pattern (already cleaned): Go's syntax plus `**`.
    pub fn ignore(pattern: &str) -> Result<Pattern, BadPattern> {
        compile(pattern, true)
    }

    pub fn matches(&self, name: &str) -> bool {
        if let Some(suffix) = &self.suffix {
            return name.ends_with(suffix.as_str())
                || suffix.strip_prefix('/').is_some_and(|rest| rest == name);
        }
        let name: Vec<char> = name.chars().collect();
        let n = name.len();
        let mut reach = vec![false; n + 1];
        reach[0] = true;
        let mut next = vec![false; n + 1];
        for token in &self.tokens {
            next.iter_mut().for_each(|x| *x = false);
            match token {
                Token::Literal(_) | Token::One | Token::Class { .. } => {
                    for i in 0..n {
                        next[i + 1] = reach[i] && token_accepts(token, name[i]);
                    }
                }
                Token::Star => {
                    for i in 0..=n {
                        next[i] = reach[i] || (i > 0 && next[i - 1] && name[i - 1] != '/');
                    }
                }
                Token::Anything => {
                    let mut seen = false;
                    for i in 0..=n {
                        seen |= reach[i];
                        next[i] = seen;
                    }
                }
                Token::Dirs => {
                    let mut seen = false;
                    for i in 0..=n {
                        next[i] |= reach[i];
                        seen |= reach[i];
                        if i < n && name[i] == '/' && seen {
                            next[i + 1] = true;
                        }
                    }
                }
            }
            std::mem::swap(&mut reach, &mut next);
        }
        reach[n]
    }
}

fn token_accepts(token: &Token, c: char) -> bool {
    match token {
        Token::Literal(l) => *l == c,
        Token::One => c != '/',
        Token::Class { negated, ranges } => {
            ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
        }
        _ => false,
    }
}

fn compile(pattern: &str, double_star: bool) -> Result<Pattern, BadPattern> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    // Whether anything but literals was seen: patternmatcher tests a
    // leading-`**` pattern by suffix only when nothing else is special.
    let mut special_after_start = false;
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' if double_star && chars.get(i + 1) == Some(&'*') => {
                special_after_start |= i > 0;
                i += 2;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                tokens.push(if i == chars.len() {
                    Token::Anything
                } else {
                    Token::Dirs
                });
                continue;
            }
            '*' => {
                special_after_start = true;
                if tokens.last() != Some(&Token::Star) {
                    tokens.push(Token::Star);
                }
            }
            '?' => {
                special_after_start = true;
                tokens.push(Token::One);
            }
            '[' => {
                special_after_start = true;
                let (token, end) = class(&chars, i + 1)?;
                tokens.push(token);
                i = end;
                continue;
            }
            '\\' => {
                special_after_start = true;
                let c = *chars.get(i + 1).ok_or(BadPattern)?;
                tokens.push(Token::Literal(c));
                i += 1;
            }
            c => tokens.push(Token::Literal(c)),
        }
        i += 1;
    }
    let suffix = (double_star && pattern.starts_with("**") && !special_after_start)
        .then(|| pattern[2..].to_string());
    Ok(Pattern { tokens, suffix })
}

/// A class after its `[`; returns it and the index after its `]`. Go's
/// rules: at least one range, no bare `-` or `]` where a character is due.
fn class(chars: &[char], mut i: usize) -> Result<(Token, usize), BadPattern> {
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        if !ranges.is_empty() && chars.get(i) == Some(&']') {
            return Ok((Token::Class { negated, ranges }, i + 1));
        }
        let (lo, after) = class_char(chars, i)?;
        i = after;
        let mut hi = lo;
        if chars.get(i) == Some(&'-') {
            (hi, i) = class_char(chars, i + 1)?;
        }
        ranges.push((lo, hi));
    }
}

/// One possibly escaped character of a class; the class must go on after it.
fn class_char(chars: &[char], mut i: usize) -> Result<(char, usize), BadPattern> {
    match chars.get(i) {
        None | Some('-' | ']') => return Err(BadPattern),
        Some('\\') => i += 1,
        _ => {}
    }
    let c = *chars.get(i).ok_or(BadPattern)?;
    if i + 1 >= chars.len() {
        return Err(BadPattern);
    }
    Ok((c, i + 1))
}

/// Go's `path.Match`.
pub fn go_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    Ok(Pattern::go(pattern)?.matches(name))
}

/// Go's `path.Clean`: the shortest equivalent path, lexically.
pub fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_path_match() {
        // A selection of Go's own path.Match tests.
        #[rustfmt::skip]
        let cases = [
            ("abc", "abc", true), ("*", "abc", true), ("*c", "abc", true), ("a*", "ab/c", false),
            ("a*/b", "abc/b", true), ("a*/b", "a/c/b", false), ("*x", "xxx", true),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", true), ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false), ("a*b?c*x", "abxbbxdbxebxczzx", true),
            ("a*b?c*x", "abxbbxdbxebxczzy", false), ("ab[c]", "abc", true), ("ab[b-d]", "abc", true),
            ("ab[e-g]", "abc", false), ("ab[^c]", "abc", false), ("ab[^e-g]", "abc", true),
            ("a\\*b", "a*b", true), ("a\\*b", "ab", false), ("a?b", "a☺b", true),
            ("a[^a]b", "a☺b", true), ("[\\-]", "-", true), ("[x\\-]", "z", false),
            ("a**b", "axyb", true), ("[*]", "*", true), ("a/**", "a/b", true), ("a/**", "a/b/c", false),
        ];
        for (p, s, want) in cases {
            assert_eq!(go_match(p, s), Ok(want), "{p} vs {s}");
        }
        for p in [
            "[]a]", "[-]", "[x-]", "[a-b-c]", "[", "[^", "[^bc", "a[", "a\\", "*\\", "a*[",
        ] {
            assert_eq!(go_match(p, "a"), Err(BadPattern), "{p}");
        }
    }

    #[test]
    fn double_star_patterns() {
        #[rustfmt::skip]
        let cases = [
            ("**", "a/b/c", true), ("**/foo", "foo", true), ("**/foo", "a/b/foo", true),
            ("**/foo", "afoo", false), ("**.txt", "a.txt", true), ("**.txt", "d/a.txt", true),
            ("**/*.go", "a/b.go", true), ("**/*.go", "b.go", true), ("a/**/b", "a/b", true),
            ("a/**/b", "a/x/y/b", true), ("a/**/b", "ab", false), ("a/**", "a/x/y", true),
            ("a/**", "b/x", false), ("*/**/x", "d/x", true), ("**/a*", "z/ab", true),
        ];
        for (p, s, want) in cases {
            assert_eq!(Pattern::ignore(p).unwrap().matches(s), want, "{p} vs {s}");
        }
    }

    #[test]
    fn go_path_clean() {
        for (input, want) in [
            ("", "."),
            ("abc/", "abc"),
            ("a//b/./c/..", "a/b"),
            ("/../a", "/a"),
            ("../../a/..", "../.."),
            ("./", "."),
            ("/", "/"),
            ("a/../..", ".."),
        ] {
            assert_eq!(clean(input), want, "{input}");
        }
    }

    #[test]
    fn long_names_and_many_stars_stay_cheap() {
        let name = "a".repeat(20_000);
        let pattern = format!("{}b", "*a".repeat(200));
        assert!(!go_match(&pattern, &name).unwrap());
    }
}
