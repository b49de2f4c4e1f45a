//! Go's `strconv.FormatFloat`, for the three ways Docker prints floats:
//! `%.Ng` (go-units sizes), `%v` (text/template printing a float64) and
//! `encoding/json`'s float encoding.
//!
//! Rust's `{:e}` already gives the digits we need (shortest round-trip
//! digits, or correctly rounded to N significant digits with ties to even,
//! as Go does); only the layout rules differ, and those are copied here from
//! Go's `strconv/ftoa.go`.

/// Decimal digits of a non-negative finite float: `0.d1d2d3… × 10^dp`, with
/// no leading or trailing zeros (zero is `d = []`, `dp = 0`), like Go's
/// `decimalSlice`.
struct Digits {
    d: Vec<u8>,
    dp: i32,
}

impl Digits {
    /// Parses Rust's `LowerExp` output, e.g. `"7.28e1"`.
    fn from_exp(s: &str) -> Digits {
        let (mantissa, exp) = s.split_once('e').unwrap_or((s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let mut d: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
        while d.last() == Some(&b'0') {
            d.pop();
        }
        if d.is_empty() {
            return Digits { d, dp: 0 };
        }
        Digits { d, dp: exp + 1 }
    }

    /// Shortest digits that round-trip.
    fn shortest(x: f64) -> Digits {
        Digits::from_exp(&format!("{:e}", x.abs()))
    }

    /// Rounded to `prec` (>= 1) significant digits.
    fn rounded(x: f64, prec: usize) -> Digits {
        Digits::from_exp(&format!("{:.*e}", prec.saturating_sub(1), x.abs()))
    }

    fn nd(&self) -> i32 {
        self.d.len() as i32
    }

    fn digit(&self, i: i32) -> char {
        if i >= 0 && i < self.nd() {
            char::from(self.d[i as usize])
        } else {
            '0'
        }
    }
}

/// Go's `%e` layout with `prec` digits after the point.
fn fmt_e(neg: bool, digs: &Digits, prec: i32) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    s.push(digs.digit(0));
    if prec > 0 {
        s.push('.');
        for i in 1..=prec {
            s.push(digs.digit(i));
        }
    }
    s.push('e');
    let exp = if digs.d.is_empty() { 0 } else { digs.dp - 1 };
    s.push(if exp < 0 { '-' } else { '+' });
    let exp = exp.unsigned_abs();
    // At least two exponent digits, as in Go.
    if exp < 10 {
        s.push('0');
    }
    s.push_str(&exp.to_string());
    s
}

/// Go's `%f` layout with `prec` digits after the point.
fn fmt_f(neg: bool, digs: &Digits, prec: i32) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if digs.dp > 0 {
        for i in 0..digs.dp {
            s.push(digs.digit(i));
        }
    } else {
        s.push('0');
    }
    if prec > 0 {
        s.push('.');
        for i in 0..prec {
            s.push(digs.digit(digs.dp + i));
        }
    }
    s
}

/// Go's `%g` layout; `prec` is `None` for the shortest representation.
fn fmt_g(neg: bool, digs: &Digits, prec: Option<i32>) -> String {
    let shortest = prec.is_none();
    let nd = digs.nd();
    let mut prec = prec.unwrap_or(nd);
    let mut eprec = prec;
    if eprec > nd && nd >= digs.dp {
        eprec = nd;
    }
    // "%e is used if the exponent from the conversion is less than -4 or
    // greater than or equal to the precision. If precision was the shortest
    // possible, use precision 6 for this decision."
    if shortest {
        eprec = 6;
    }
    let exp = digs.dp - 1;
    if exp < -4 || exp >= eprec {
        if prec > nd {
            prec = nd;
        }
        return fmt_e(neg, digs, prec - 1);
    }
    if prec > digs.dp {
        prec = nd;
    }
    fmt_f(neg, digs, (prec - digs.dp).max(0))
}

fn non_finite(x: f64) -> Option<String> {
    if x.is_nan() {
        Some("NaN".to_owned())
    } else if x.is_infinite() {
        Some(if x > 0.0 { "+Inf" } else { "-Inf" }.to_owned())
    } else {
        None
    }
}

/// `fmt.Sprintf("%.*g", precision, x)`.
pub fn format_g(x: f64, precision: usize) -> String {
    if let Some(s) = non_finite(x) {
        return s;
    }
    // Go treats a precision of 0 as 1 for %g.
    let prec = precision.max(1);
    let digs = Digits::rounded(x, prec);
    fmt_g(x.is_sign_negative() && x != 0.0, &digs, Some(prec as i32))
}

/// `fmt.Sprint(x)` for a float64, i.e. `%v`: shortest digits, exponent form
/// from 1e+06 up or below 1e-04 (e.g. `6.31e+07`).
pub fn format_v(x: f64) -> String {
    if let Some(s) = non_finite(x) {
        return s;
    }
    fmt_g(x.is_sign_negative() && x != 0.0, &Digits::shortest(x), None)
}

/// How `encoding/json` writes a float64: `%f` style between 1e-6 and 1e21,
/// otherwise `%e` with a one-digit negative exponent (`1e-7`, `1e+21`).
/// Non-finite values have no JSON form (Go returns an error); they are
/// written as `null` here.
pub fn format_json(x: f64) -> String {
    if !x.is_finite() {
        return "null".to_owned();
    }
    let neg = x.is_sign_negative() && x != 0.0;
    let digs = Digits::shortest(x);
    let abs = x.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let mut s = fmt_e(neg, &digs, digs.nd() - 1);
        // Go: "clean up e-09 to e-9".
        if let Some(pos) = s.find("e-0") {
            s.remove(pos + 2);
        }
        return s;
    }
    fmt_f(neg, &digs, (digs.nd() - digs.dp).max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_with_precision() {
        assert_eq!(format_g(0.0, 3), "0");
        assert_eq!(format_g(999.0, 3), "999");
        assert_eq!(format_g(1.0, 3), "1");
        assert_eq!(format_g(72.795, 3), "72.8");
        assert_eq!(format_g(1.23456789, 3), "1.23");
        assert_eq!(format_g(100.0, 3), "100");
        assert_eq!(format_g(1.5, 3), "1.5");
        assert_eq!(format_g(1.024, 4), "1.024");
        assert_eq!(format_g(1.048576, 4), "1.049");
        // Rounding up to 1000 switches to exponent form, as in Go.
        assert_eq!(format_g(999.95, 3), "1e+03");
        assert_eq!(format_g(10000.0, 4), "1e+04");
        assert_eq!(format_g(1048.576, 4), "1049");
        // Exact ties round to even.
        assert_eq!(format_g(1.125, 3), "1.12");
        assert_eq!(format_g(0.0001234, 3), "0.000123");
        assert_eq!(format_g(0.00001234, 3), "1.23e-05");
        assert_eq!(format_g(-2.5, 3), "-2.5");
        assert_eq!(format_g(1.0, 0), "1");
    }

    #[test]
    fn v_shortest() {
        assert_eq!(format_v(0.0), "0");
        assert_eq!(format_v(1.5), "1.5");
        assert_eq!(format_v(-1.5), "-1.5");
        assert_eq!(format_v(100000.0), "100000");
        assert_eq!(format_v(1000000.0), "1e+06");
        assert_eq!(format_v(63100000.0), "6.31e+07");
        assert_eq!(format_v(1234567.5), "1.2345675e+06");
        assert_eq!(format_v(0.0001), "0.0001");
        assert_eq!(format_v(0.00001), "1e-05");
        assert_eq!(format_v(1e100), "1e+100");
        assert_eq!(format_v(0.1), "0.1");
        assert_eq!(format_v(f64::NAN), "NaN");
        assert_eq!(format_v(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn json_floats() {
        assert_eq!(format_json(0.0), "0");
        assert_eq!(format_json(1.5), "1.5");
        assert_eq!(format_json(63100000.0), "63100000");
        assert_eq!(format_json(1e20), "100000000000000000000");
        assert_eq!(format_json(1e21), "1e+21");
        assert_eq!(format_json(0.000001), "0.000001");
        assert_eq!(format_json(0.0000001), "1e-7");
        assert_eq!(format_json(-1.25e-10), "-1.25e-10");
        assert_eq!(format_json(f64::NAN), "null");
    }
}
