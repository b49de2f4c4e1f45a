//! `.dockerignore` as Docker reads it (BuildKit's `dockerignore.ReadAll`
//! and `moby/patternmatcher`): one pattern a line, `#` comments, patterns
//! cleaned as Go's `filepath.Clean` and made relative to the context,
//! `**` for any number of directories, `!` exceptions, the last matching
//! line deciding; a path is excluded when it or one of its parent
//! directories matches.

use crate::pathmatch::{self, Pattern};

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum IgnoreError {
    #[error("illegal exclusion pattern: \"!\"")]
    BareExclusion,
    #[error("syntax error in pattern: {0}")]
    BadPattern(String),
}

#[derive(Debug, Clone)]
struct Rule {
    pattern: Pattern,
    exclusion: bool,
}

/// The rules of one `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    rules: Vec<Rule>,
}

impl Ignore {
    /// Reads a `.dockerignore`'s text.
    pub fn parse(text: &str) -> Result<Ignore, IgnoreError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut rules = Vec::new();
        for line in text.lines() {
            // Only a `#` in the very first column starts a comment.
            if line.starts_with('#') {
                continue;
            }
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (exclusion, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            if exclusion && pattern.is_empty() {
                return Err(IgnoreError::BareExclusion);
            }
            let mut pattern = pathmatch::clean(pattern);
            if pattern.len() > 1 && pattern.starts_with('/') {
                pattern.remove(0);
            }
            let compiled =
                Pattern::ignore(&pattern).map_err(|_| IgnoreError::BadPattern(pattern.clone()))?;
            rules.push(Rule {
                pattern: compiled,
                exclusion,
            });
        }
        Ok(Ignore { rules })
    }

    /// Whether `path` (relative to the context, `/`-separated) is left out
    /// of the context: patternmatcher's `MatchesOrParentMatches`.
    pub fn excludes(&self, path: &str) -> bool {
        let path = pathmatch::clean(path.trim_start_matches('/'));
        let parents: Vec<&str> = match path.rfind('/') {
            Some(i) => path[..i].split('/').collect(),
            None => Vec::new(),
        };
        let mut excluded = false;
        for rule in &self.rules {
            // A rule can only change the answer: an exception only when
            // excluded so far, a pattern only when not.
            if rule.exclusion != excluded {
                continue;
            }
            let mut matched = rule.pattern.matches(&path);
            let mut end = 0;
            for parent in &parents {
                if matched {
                    break;
                }
                end += parent.len() + usize::from(end > 0);
                matched = rule.pattern.matches(&path[..end]);
            }
            if matched {
                excluded = !rule.exclusion;
            }
        }
        excluded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(rules: &str, cases: &[(&str, bool)]) {
        let ignore = Ignore::parse(rules).unwrap();
        for (path, want) in cases {
            assert_eq!(ignore.excludes(path), *want, "{path} with {rules:?}");
        }
    }

    #[test]
    fn reference_examples() {
        // The Dockerfile reference's example file.
        check(
            "# comment\n*/temp*\n*/*/temp*\ntemp?\n",
            &[
                ("somedir/temporary.txt", true),
                ("somedir/temp", true),
                ("somedir/subdir/temporary.txt", true),
                ("tempa", true),
                ("tempab", false),
                ("temporary.txt", false),
                ("# comment", false),
            ],
        );
        check(
            "*.md\n!README.md\n",
            &[("a.md", true), ("README.md", false), ("d/a.md", false)],
        );
        check(
            "*.md\n!README*.md\nREADME-secret.md\n",
            &[
                ("README-secret.md", true),
                ("README-x.md", false),
                ("x.md", true),
            ],
        );
        check(
            "*.md\nREADME-secret.md\n!README*.md\n",
            &[("README-secret.md", false)],
        );
        check(
            "**/*.go\n",
            &[("a.go", true), ("x/y/a.go", true), ("a.gox", false)],
        );
    }

    #[test]
    fn parents_slashes_and_cleaning() {
        check(
            "/build/\n./docs//old/..\n  spaced  \n",
            &[
                ("build", true),
                ("build/a/b", true),
                ("docs/x", true),
                ("spaced", true),
                ("src/build", false),
            ],
        );
        // An exception brings back a file inside an excluded directory.
        check(
            "dir\n!dir/keep\n",
            &[("dir/keep", false), ("dir/other", true)],
        );
        check(" # not a comment\n", &[("# not a comment", true)]);
        assert_eq!(
            Ignore::parse("!\n").unwrap_err(),
            IgnoreError::BareExclusion
        );
        assert!(matches!(
            Ignore::parse("a[\n"),
            Err(IgnoreError::BadPattern(_))
        ));
    }
}
