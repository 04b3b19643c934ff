//! `EPHPM_<SECTION>__<KEY>` environment overrides.
//!
//! `__` separates levels (`EPHPM_SERVER__TIMEOUTS__HEADER=5s` sets
//! `server.timeouts.header`). A value is read as TOML when it parses as a
//! TOML value (numbers, booleans, arrays), else as a plain string. Variables
//! without `__` (such as `EPHPM_CONFIG`) are not overrides.

use serde::Deserialize;

use super::Config;

/// Applies every override in `vars` to `table` and returns the names of the
/// variables applied. An override naming an unknown key, or with a bad
/// value, is an error naming the variable.
pub(super) fn apply(
    table: &mut toml::Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<String>, String> {
    let mut vars: Vec<(String, String)> =
        vars.into_iter().filter(|(k, _)| k.starts_with("EPHPM_") && k.contains("__")).collect();
    vars.sort();
    let mut applied = Vec::new();
    for (var, raw) in vars {
        let path: Vec<String> = var["EPHPM_".len()..].split("__").map(|s| s.to_ascii_lowercase()).collect();
        if path.iter().any(|p| p.is_empty()) {
            return Err(format!("environment variable {var}: empty key segment"));
        }
        let value = parse_value(&raw);
        // Check this override alone so the error names its variable.
        let mut alone = toml::Table::new();
        insert(&mut alone, &path, value.clone()).map_err(|e| format!("environment variable {var}: {e}"))?;
        Config::deserialize(toml::Value::Table(alone))
            .map_err(|e| format!("environment variable {var}: {}", e.message()))?;
        insert(table, &path, value).map_err(|e| format!("environment variable {var}: {e}"))?;
        applied.push(format!("environment variable {var}"));
    }
    Ok(applied)
}

fn parse_value(raw: &str) -> toml::Value {
    #[derive(Deserialize)]
    struct Wrap {
        v: toml::Value,
    }
    match toml::from_str::<Wrap>(&format!("v = {raw}")) {
        Ok(w) => w.v,
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

fn insert(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let (last, parents) = path.split_last().ok_or("empty key")?;
    let mut t = table;
    for (i, p) in parents.iter().enumerate() {
        let entry = t.entry(p.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = entry.as_table_mut().ok_or_else(|| format!("`{}` is not a table", path[..=i].join(".")))?;
    }
    t.insert(last.clone(), value);
    Ok(())
}
