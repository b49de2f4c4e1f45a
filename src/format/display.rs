//! Small display helpers from the docker CLI's formatter package
//! (`TruncateID`, `Ellipsis`), and the escaping of control characters in
//! messages that quote what a registry or an archive said.

/// Length of a short image/container ID.
pub const SHORT_ID_LEN: usize = 12;

/// `formatter.TruncateID`: drop an algorithm prefix such as `sha256:` and
/// keep the first 12 characters (`sha256:5a214d77f5d7…` -> `5a214d77f5d7`).
pub fn truncate_id(id: &str) -> &str {
    let id = match id.find(':') {
        Some(i) => &id[i + 1..],
        None => id,
    };
    // IDs are hex; `get` keeps us safe if one is not.
    id.get(..SHORT_ID_LEN).unwrap_or(id)
}

/// `s` with every control character but newline and tab written as a
/// `\x1b`-style escape. Errors quote registry messages and archive entry
/// names; printed raw, an `ESC ]0;…` or `ESC [2J` in them would retitle
/// or clear the user's terminal.
pub fn escape_controls(s: &str) -> std::borrow::Cow<'_, str> {
    let harmful = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !s.contains(harmful) {
        return s.into();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if harmful(c) {
            // Control characters (Unicode's Cc) are all below U+0100.
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// Display width of a character: 2 for East Asian wide and fullwidth
/// characters, 1 otherwise, as the CLI's `charWidth` does with
/// golang.org/x/text/width. The ranges are the wide/fullwidth blocks of
/// Unicode's EastAsianWidth.txt, condensed.
fn char_width(c: char) -> usize {
    let c = c as u32;
    let wide = matches!(c,
        0x1100..=0x115F
        | 0x231A..=0x231B
        | 0x2329..=0x232A
        | 0x23E9..=0x23EC
        | 0x23F0
        | 0x23F3
        | 0x25FD..=0x25FE
        | 0x2614..=0x2615
        | 0x2648..=0x2653
        | 0x267F
        | 0x2693
        | 0x26A1
        | 0x26AA..=0x26AB
        | 0x26BD..=0x26BE
        | 0x26C4..=0x26C5
        | 0x26CE
        | 0x26D4
        | 0x26EA
        | 0x26F2..=0x26F3
        | 0x26F5
        | 0x26FA
        | 0x26FD
        | 0x2705
        | 0x270A..=0x270B
        | 0x2728
        | 0x274C
        | 0x274E
        | 0x2753..=0x2755
        | 0x2757
        | 0x2795..=0x2797
        | 0x27B0
        | 0x27BF
        | 0x2B1B..=0x2B1C
        | 0x2B50
        | 0x2B55
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xA960..=0xA97F
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE10..=0xFE19
        | 0xFE30..=0xFE6F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x16FE0..=0x18AFF
        | 0x1B000..=0x1B2FF
        | 0x1F004
        | 0x1F0CF
        | 0x1F18E
        | 0x1F191..=0x1F19A
        | 0x1F200..=0x1F251
        | 0x1F300..=0x1F64F
        | 0x1F680..=0x1F6FF
        | 0x1F7E0..=0x1F7EB
        | 0x1F90C..=0x1F9FF
        | 0x1FA70..=0x1FAFF
        | 0x20000..=0x3FFFD
    );
    if wide {
        2
    } else {
        1
    }
}

/// `formatter.Ellipsis`: shorten `s` to at most `max_width` display columns,
/// ending in `…` when something was cut. A width of 1 keeps just the first
/// character; 0 gives an empty string.
pub fn ellipsis(s: &str, max_width: usize) -> String {
    if max_width == 0 {
        return String::new();
    }
    let chars: Vec<char> = s.chars().collect();
    if max_width == 1 {
        return chars.first().map(|c| c.to_string()).unwrap_or_default();
    }
    let widths: Vec<usize> = chars.iter().map(|&c| char_width(c)).collect();
    let total: usize = widths.iter().sum();
    if total <= max_width {
        return s.to_owned();
    }
    // Keep the longest prefix that fits in max_width-1 columns, then "…".
    let mut used = 0;
    let mut out = String::new();
    for (c, w) in chars.iter().zip(&widths) {
        if used + w > max_width - 1 {
            break;
        }
        used += w;
        out.push(*c);
    }
    if out.is_empty() {
        // Go finds no cut point when even the first character is too wide
        // and returns the string unchanged.
        return s.to_owned();
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_escaped_but_newlines_and_tabs_kept() {
        assert_eq!(
            super::escape_controls("a\x1b]0;PWNED\x07\x1b[2J\u{9b}b\n\tc\u{7f}"),
            "a\\x1b]0;PWNED\\x07\\x1b[2J\\x9bb\n\tc\\x7f"
        );
        assert!(matches!(
            super::escape_controls("plain ünïcode"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    use super::*;

    #[test]
    fn truncates_ids() {
        assert_eq!(
            truncate_id("sha256:5a214d77f5d747e6ed81632310baa6190301feeb875cf6bf9da560108fa09972"),
            "5a214d77f5d7"
        );
        assert_eq!(truncate_id("5a214d77f5d747e6"), "5a214d77f5d7");
        assert_eq!(truncate_id("abc"), "abc");
        assert_eq!(truncate_id(""), "");
    }

    #[test]
    fn ellipsis_like_the_cli() {
        // The first ten are docker/cli's displayutils_test.go.
        assert_eq!(ellipsis("t🐳ststring", 0), "");
        assert_eq!(ellipsis("t🐳ststring", 1), "t");
        assert_eq!(ellipsis("t🐳ststring", 2), "t…");
        assert_eq!(ellipsis("t🐳ststring", 6), "t🐳st…");
        assert_eq!(ellipsis("t🐳ststring", 20), "t🐳ststring");
        assert_eq!(ellipsis("你好世界teststring", 0), "");
        assert_eq!(ellipsis("你好世界teststring", 1), "你");
        assert_eq!(ellipsis("你好世界teststring", 3), "你…");
        assert_eq!(ellipsis("你好世界teststring", 6), "你好…");
        assert_eq!(ellipsis("你好世界teststring", 20), "你好世界teststring");
        assert_eq!(ellipsis("test🐳", 6), "test🐳");
        assert_eq!(ellipsis("test🐳", 5), "test…");
        assert_eq!(ellipsis("test🐳", 4), "tes…");
        assert_eq!(ellipsis("test", 4), "test");
        assert_eq!(ellipsis("test", 3), "te…");
        assert_eq!(ellipsis("", 3), "");
        assert_eq!(ellipsis("你好", 2), "你好");
    }
}
