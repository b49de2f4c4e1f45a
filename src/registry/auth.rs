//! The registry auth flow: parsing `WWW-Authenticate` challenges and keeping
//! the resulting `Authorization` values for the rest of the run.
//!
//! A request goes out with whatever is cached for its host and scope; a 401
//! carries a challenge, which is answered (Basic: the stored credential;
//! Bearer: a token from the challenge's realm) and the request is sent again.

use std::collections::HashMap;
use std::sync::Mutex;

/// One challenge from a `WWW-Authenticate` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// Lower-cased: `basic` or `bearer`.
    pub scheme: String,
    /// Parameter names lower-cased, values unquoted.
    pub params: HashMap<String, String>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Parses every challenge in a `WWW-Authenticate` header value (RFC 7235:
/// `scheme k=v, k="v", scheme2 ...`).
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut challenges: Vec<Challenge> = Vec::new();
    let mut rest = header.trim_start();
    while !rest.is_empty() {
        let token_end = rest.find([' ', ',', '=']).unwrap_or(rest.len());
        let token = &rest[..token_end];
        let after = rest[token_end..].trim_start();
        if let Some(value_part) = after.strip_prefix('=') {
            // `token=value`: a parameter of the current challenge.
            let (value, remainder) = parse_value(value_part.trim_start());
            if let Some(current) = challenges.last_mut() {
                current.params.insert(token.to_ascii_lowercase(), value);
            }
            rest = remainder;
        } else {
            if !token.is_empty() {
                challenges.push(Challenge {
                    scheme: token.to_ascii_lowercase(),
                    params: HashMap::new(),
                });
            }
            rest = after;
        }
        rest = rest.trim_start_matches([',', ' ', '\t']);
    }
    challenges
}

/// A quoted string (with backslash escapes) or a bare token, and what
/// follows it.
fn parse_value(s: &str) -> (String, &str) {
    let Some(quoted) = s.strip_prefix('"') else {
        let end = s.find([',', ' ']).unwrap_or(s.len());
        return (s[..end].to_string(), &s[end..]);
    };
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    value.push(escaped);
                }
            }
            '"' => return (value, &quoted[i + 1..]),
            c => value.push(c),
        }
    }
    (value, "")
}

/// What a token endpoint answers (Docker's token spec; `access_token` is
/// the OAuth2 spelling).
#[derive(serde::Deserialize)]
pub struct TokenResponse {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub access_token: Option<String>,
}

impl TokenResponse {
    pub fn into_token(self) -> Option<String> {
        self.token
            .filter(|t| !t.is_empty())
            .or(self.access_token.filter(|t| !t.is_empty()))
    }
}

/// `Authorization` header values by (host, scope), reused for every
/// request of the run. Basic credentials do not depend on the scope but are
/// cached the same way; it costs one extra 401 per scope at most.
#[derive(Default)]
pub struct AuthCache {
    entries: Mutex<HashMap<(String, String), String>>,
}

impl AuthCache {
    pub fn get(&self, host: &str, scope: &str) -> Option<String> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(&(host.to_string(), scope.to_string())).cloned()
    }

    pub fn insert(&self, host: &str, scope: &str, value: String) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.insert((host.to_string(), scope.to_string()), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_hub_bearer_challenge() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull",error="insufficient_scope""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c[0].param("service"), Some("registry.docker.io"));
        assert_eq!(c[0].param("scope"), Some("repository:library/ubuntu:pull"));
        assert_eq!(c[0].param("error"), Some("insufficient_scope"));
    }

    #[test]
    fn parses_several_challenges_and_escapes() {
        let c = parse_challenges(
            r#"Basic realm="a \"quoted\" realm", Bearer realm=https://x/t, service=s"#,
        );
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].param("realm"), Some(r#"a "quoted" realm"#));
        assert_eq!(c[1].param("realm"), Some("https://x/t"));
        assert_eq!(c[1].param("service"), Some("s"));
    }
}
