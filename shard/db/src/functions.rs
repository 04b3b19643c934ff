//! MySQL functions SQLite lacks, registered on every connection: date and
//! time (NOW, DATE_FORMAT, DATE_ADD, UNIX_TIMESTAMP, ...), CONCAT with
//! MySQL's NULL rule, and the per-session LAST_INSERT_ID(), FOUND_ROWS(),
//! ROW_COUNT() read from [`Cells`] the engine sets before each statement.
//! Times are UTC.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{Value, ValueRef};
use rusqlite::Connection;

use super::vars::SERVER_VERSION;
use ephpm_rt::calendar::{civil, days_from_civil};

/// A session's values, as sent to the writer with each job.
#[derive(Debug, Clone, Default)]
pub struct CellValues {
    /// LAST_INSERT_ID().
    pub last_insert_id: u64,
    /// FOUND_ROWS().
    pub found_rows: u64,
    /// ROW_COUNT().
    pub row_count: i64,
    /// The current database.
    pub database: String,
}

/// The session values a connection's functions return.
#[derive(Default)]
pub struct Cells {
    /// LAST_INSERT_ID().
    pub last_insert_id: AtomicU64,
    /// FOUND_ROWS().
    pub found_rows: AtomicU64,
    /// ROW_COUNT().
    pub row_count: AtomicI64,
    /// DATABASE() inside information_schema views.
    pub database: Mutex<String>,
}

impl Cells {
    /// Loads a session's values.
    pub fn load(&self, v: &CellValues) {
        self.set(v.last_insert_id, v.found_rows, v.row_count, &v.database);
    }

    /// Sets each value.
    pub fn set(&self, last_insert_id: u64, found_rows: u64, row_count: i64, database: &str) {
        self.last_insert_id.store(last_insert_id, Ordering::Relaxed);
        self.found_rows.store(found_rows, Ordering::Relaxed);
        self.row_count.store(row_count, Ordering::Relaxed);
        let mut db = self.database.lock().unwrap_or_else(|p| p.into_inner());
        if *db != database {
            database.clone_into(&mut db);
        }
    }
}

const PURE: FunctionFlags = FunctionFlags::SQLITE_UTF8.union(FunctionFlags::SQLITE_DETERMINISTIC);
const VOLATILE: FunctionFlags = FunctionFlags::SQLITE_UTF8;

/// Registers every function on `conn`.
pub fn register(conn: &Connection, cells: &Arc<Cells>) -> rusqlite::Result<()> {
    let c = Arc::clone(cells);
    conn.create_scalar_function("last_insert_id", 0, VOLATILE, move |_| {
        Ok(c.last_insert_id.load(Ordering::Relaxed) as i64)
    })?;
    let c = Arc::clone(cells);
    conn.create_scalar_function("found_rows", 0, VOLATILE, move |_| Ok(c.found_rows.load(Ordering::Relaxed) as i64))?;
    let c = Arc::clone(cells);
    conn.create_scalar_function("row_count", 0, VOLATILE, move |_| Ok(c.row_count.load(Ordering::Relaxed)))?;
    let c = Arc::clone(cells);
    conn.create_scalar_function("ephpm_database", 0, VOLATILE, move |_| {
        Ok(c.database.lock().unwrap_or_else(|p| p.into_inner()).clone())
    })?;
    conn.create_scalar_function("version", 0, PURE, |_| Ok(SERVER_VERSION))?;
    conn.create_scalar_function("ephpm_now", -1, VOLATILE, |_| Ok(format_datetime(now())))?;
    conn.create_scalar_function("utc_timestamp", -1, VOLATILE, |_| Ok(format_datetime(now())))?;
    conn.create_scalar_function("curdate", 0, VOLATILE, |_| Ok(format_datetime(now())[..10].to_string()))?;
    conn.create_scalar_function("current_date", 0, VOLATILE, |_| Ok(format_datetime(now())[..10].to_string()))?;
    conn.create_scalar_function("utc_date", 0, VOLATILE, |_| Ok(format_datetime(now())[..10].to_string()))?;
    conn.create_scalar_function("curtime", 0, VOLATILE, |_| Ok(format_datetime(now())[11..].to_string()))?;
    conn.create_scalar_function("unix_timestamp", -1, VOLATILE, |ctx| {
        if ctx.is_empty() {
            return Ok(Some(now()));
        }
        Ok(datetime_arg(ctx, 0))
    })?;
    conn.create_scalar_function("from_unixtime", -1, PURE, |ctx| {
        let Some(secs) = number_arg(ctx, 0) else { return Ok(None) };
        let text = format_datetime(secs as i64);
        if ctx.len() > 1 {
            let fmt: String = ctx.get(1)?;
            return Ok(Some(date_format(secs as i64, &fmt)));
        }
        Ok(Some(text))
    })?;
    conn.create_scalar_function("date_format", 2, PURE, |ctx| {
        let Some(t) = datetime_arg(ctx, 0) else { return Ok(None) };
        let fmt: String = ctx.get(1)?;
        Ok(Some(date_format(t, &fmt)))
    })?;
    conn.create_scalar_function("ephpm_date_add", 3, PURE, |ctx| {
        let Some(t) = datetime_arg(ctx, 0) else { return Ok(None) };
        let Some(n) = number_arg(ctx, 1) else { return Ok(None) };
        let unit: String = ctx.get(2)?;
        let date_only = matches!(ctx.get_raw(0), ValueRef::Text(s) if s.len() == 10);
        let out = add_interval(t, n as i64, &unit);
        let text = format_datetime(out);
        Ok(Some(if date_only && matches!(unit.as_str(), "DAY" | "WEEK" | "MONTH" | "YEAR") {
            text[..10].to_string()
        } else {
            text
        }))
    })?;
    for (name, field) in
        [("year", 0usize), ("month", 1), ("day", 2), ("dayofmonth", 2), ("hour", 3), ("minute", 4), ("second", 5)]
    {
        conn.create_scalar_function(name, 1, PURE, move |ctx| {
            let Some(t) = datetime_arg(ctx, 0) else { return Ok(None) };
            let (y, mo, d, h, mi, s) = civil(t);
            Ok(Some([y, mo, d, h, mi, s][field]))
        })?;
    }
    conn.create_scalar_function("to_days", 1, PURE, |ctx| {
        Ok(datetime_arg(ctx, 0).map(|t| t.div_euclid(86400) + 719_528))
    })?;
    conn.create_scalar_function("datediff", 2, PURE, |ctx| match (datetime_arg(ctx, 0), datetime_arg(ctx, 1)) {
        (Some(a), Some(b)) => Ok(Some(a.div_euclid(86400) - b.div_euclid(86400))),
        _ => Ok(None),
    })?;
    conn.create_scalar_function("concat", -1, PURE, |ctx| {
        let mut out = Vec::new();
        for i in 0..ctx.len() {
            match ctx.get_raw(i) {
                ValueRef::Null => return Ok(None),
                ValueRef::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
                ValueRef::Real(r) => out.extend_from_slice(r.to_string().as_bytes()),
                ValueRef::Text(t) | ValueRef::Blob(t) => out.extend_from_slice(t),
            }
        }
        Ok(Some(String::from_utf8(out).map(Value::Text).unwrap_or_else(|e| Value::Blob(e.into_bytes()))))
    })?;
    // `x REGEXP p` calls regexp(p, x); MySQL matches case-insensitively.
    conn.create_scalar_function("regexp", 2, PURE, |ctx| {
        let re = ctx.get_or_create_aux(0, |v| -> Result<regex::Regex, Box<dyn std::error::Error + Send + Sync>> {
            Ok(regex::RegexBuilder::new(v.as_str()?).case_insensitive(true).build()?)
        })?;
        Ok(match ctx.get_raw(1) {
            ValueRef::Null => None,
            ValueRef::Text(t) | ValueRef::Blob(t) => Some(re.is_match(&String::from_utf8_lossy(t))),
            ValueRef::Integer(n) => Some(re.is_match(&n.to_string())),
            ValueRef::Real(r) => Some(re.is_match(&r.to_string())),
        })
    })?;
    conn.create_scalar_function("rand", -1, VOLATILE, |_| {
        let mut x = [0u8; 8];
        let _ = getrandom::fill(&mut x);
        Ok((u64::from_le_bytes(x) >> 11) as f64 / (1u64 << 53) as f64)
    })?;
    Ok(())
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn number_arg(ctx: &Context<'_>, i: usize) -> Option<f64> {
    match ctx.get_raw(i) {
        ValueRef::Integer(n) => Some(n as f64),
        ValueRef::Real(r) => Some(r),
        ValueRef::Text(t) => std::str::from_utf8(t).ok()?.trim().parse().ok(),
        _ => None,
    }
}

/// A DATETIME/DATE argument as seconds since the epoch.
fn datetime_arg(ctx: &Context<'_>, i: usize) -> Option<i64> {
    match ctx.get_raw(i) {
        ValueRef::Text(t) => parse_datetime(std::str::from_utf8(t).ok()?),
        ValueRef::Integer(n) => Some(n),
        _ => None,
    }
}

/// Parses `YYYY-MM-DD[ HH:MM:SS[.ffffff]]` (or with a `T`).
pub fn parse_datetime(s: &str) -> Option<i64> {
    let s = s.trim();
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = if s.len() >= 19 { (num(11..13)?, num(14..16)?, num(17..19)?) } else { (0, 0, 0) };
    Some(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec)
}

/// `YYYY-MM-DD HH:MM:SS`.
pub fn format_datetime(t: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

fn add_interval(t: i64, n: i64, unit: &str) -> i64 {
    match unit {
        "SECOND" => t + n,
        "MINUTE" => t + n * 60,
        "HOUR" => t + n * 3600,
        "DAY" => t + n * 86400,
        "WEEK" => t + n * 7 * 86400,
        "MONTH" | "YEAR" => {
            let months = if unit == "YEAR" { n * 12 } else { n };
            let (y, mo, d, h, mi, s) = civil(t);
            let total = y * 12 + (mo - 1) + months;
            let (ny, nm) = (total.div_euclid(12), total.rem_euclid(12) + 1);
            let last = days_from_civil(ny + (nm == 12) as i64, nm % 12 + 1, 1) - days_from_civil(ny, nm, 1);
            days_from_civil(ny, nm, d.min(last)) * 86400 + h * 3600 + mi * 60 + s
        }
        _ => t,
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/// MySQL's DATE_FORMAT specifiers.
fn date_format(t: i64, fmt: &str) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    let wd = (t.div_euclid(86400) + 4).rem_euclid(7) as usize; // 1970-01-01 was a Thursday
    let mut out = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Y') => out.push_str(&format!("{y:04}")),
            Some('y') => out.push_str(&format!("{:02}", y % 100)),
            Some('m') => out.push_str(&format!("{mo:02}")),
            Some('c') => out.push_str(&mo.to_string()),
            Some('d') => out.push_str(&format!("{d:02}")),
            Some('e') => out.push_str(&d.to_string()),
            Some('H') => out.push_str(&format!("{h:02}")),
            Some('k') => out.push_str(&h.to_string()),
            Some('h' | 'I') => out.push_str(&format!("{:02}", (h + 11) % 12 + 1)),
            Some('l') => out.push_str(&((h + 11) % 12 + 1).to_string()),
            Some('i') => out.push_str(&format!("{mi:02}")),
            Some('s' | 'S') => out.push_str(&format!("{s:02}")),
            Some('f') => out.push_str("000000"),
            Some('p') => out.push_str(if h < 12 { "AM" } else { "PM" }),
            Some('M') => out.push_str(MONTHS[(mo - 1) as usize]),
            Some('b') => out.push_str(&MONTHS[(mo - 1) as usize][..3]),
            Some('W') => out.push_str(DAYS[wd]),
            Some('a') => out.push_str(&DAYS[wd][..3]),
            Some('w') => out.push_str(&wd.to_string()),
            Some('j') => out.push_str(&format!("{:03}", t.div_euclid(86400) - days_from_civil(y, 1, 1) + 1)),
            Some('T') => out.push_str(&format!("{h:02}:{mi:02}:{s:02}")),
            Some(other) => out.push(other),
            None => out.push('%'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        let t = parse_datetime("2024-02-29 13:45:07").unwrap();
        assert_eq!(format_datetime(t), "2024-02-29 13:45:07");
        assert_eq!(format_datetime(add_interval(t, 1, "YEAR")), "2025-02-28 13:45:07");
        assert_eq!(format_datetime(add_interval(t, -1, "MONTH")), "2024-01-29 13:45:07");
        assert_eq!(date_format(t, "%Y/%m/%d %H:%i %W %b"), "2024/02/29 13:45 Thursday Feb");
        assert_eq!(parse_datetime("1970-01-01"), Some(0));
    }
}
