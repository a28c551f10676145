//! Numbers and report values as the short text the page shows.

use crate::scheduler::Strategy;

/// A number for tables: a few significant digits.
pub fn fmt(x: f64) -> String {
    let a = x.abs();
    match a {
        _ if !x.is_finite() => "–".into(),
        _ if a == 0.0 => "0".into(),
        _ if a >= 1e7 => format!("{x:.3e}"),
        _ if a >= 1000.0 => format!("{x:.0}"),
        _ if a >= 100.0 => format!("{x:.1}"),
        _ if a >= 10.0 => format!("{x:.2}"),
        _ if a >= 0.01 => format!("{x:.3}"),
        _ if a >= 0.001 => format!("{x:.4}"),
        _ => format!("{x:.2e}"),
    }
}

pub fn fmt_opt(x: Option<f64>) -> String {
    x.map_or("–".into(), fmt)
}

/// A figure with its confidence interval, `12.3 [11.9, 12.8]`; the figure alone without one.
pub fn fmt_ci(x: Option<f64>, ci: Option<crate::metrics::Interval>) -> String {
    match (x, ci) {
        (Some(x), Some(i)) => format!("{} [{}, {}]", fmt(x), fmt(i.lo), fmt(i.hi)),
        (x, _) => fmt_opt(x),
    }
}

/// A figure with the half-width of its confidence interval, `96.0 ± 4.7`.
pub fn fmt_pm(x: f64, ci: Option<crate::metrics::Interval>) -> String {
    match ci {
        Some(i) => format!("{} ± {}", fmt(x), fmt(i.half_width())),
        None => fmt(x),
    }
}

/// Like `fmt`, without trailing zeros: counts and labels ("4", "2.5").
pub fn fmt_short(x: f64) -> String {
    let s = fmt(x);
    if s.contains('.') && !s.contains('e') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// At most `max` characters, an ellipsis marking a cut.
pub fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

/// A unit enum's name as the report writes it (`max_seconds`).
pub fn snake<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

pub fn strategy_label(s: &Strategy) -> String {
    let cap = |c: Option<u32>| c.map_or(String::new(), |c| format!(" (max {c} in flight)"));
    match s {
        Strategy::Synchronous => "synchronous".into(),
        Strategy::Concurrent { streams } => format!("concurrent {streams}"),
        Strategy::Throughput { max_concurrency } => format!("throughput (max {max_concurrency})"),
        Strategy::Constant {
            rate,
            max_concurrency,
        } => format!(
            "constant {} req/s{}",
            fmt_short(*rate),
            cap(*max_concurrency)
        ),
        Strategy::Poisson {
            rate,
            max_concurrency,
        } => format!(
            "poisson {} req/s{}",
            fmt_short(*rate),
            cap(*max_concurrency)
        ),
        Strategy::Replay { time_scale, .. } => {
            format!("trace replay at time scale {}", fmt_short(*time_scale))
        }
    }
}

/// Quotes an argument for display the way a shell would need it.
pub fn shell_word(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Unix seconds as a UTC date and time.
pub fn utc(t: f64) -> String {
    if !(0.0..1e11).contains(&t) {
        return fmt(t);
    }
    let secs = t.floor() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_numbers() {
        assert_eq!(utc(0.0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400.0), "2000-02-29 00:00:00 UTC");
        assert_eq!(fmt(93.5), "93.50");
        assert_eq!(fmt_short(2.50), "2.5");
        assert_eq!(fmt(f64::NAN), "–");
        assert_eq!(cut("abcdef", 3), "abc…");
        assert_eq!(shell_word("{\"a\": 1}"), "'{\"a\": 1}'");
    }
}
