//! Printing the effective config without its secrets.

use super::Config;

/// Key names whose values are never printed.
const SECRET_KEYS: &[&str] = &["password", "token", "secret", "private_key", "api_key"];

/// The config as TOML, with every secret-looking value replaced by `"***"`.
pub fn redacted_toml(config: &Config) -> String {
    toml::to_string_pretty(&redacted(config)).unwrap_or_default()
}

fn redacted(config: &Config) -> toml::Value {
    let mut value = toml::Value::try_from(config).unwrap_or(toml::Value::Table(toml::Table::new()));
    redact(&mut value);
    value
}

fn redact(v: &mut toml::Value) {
    match v {
        toml::Value::Table(t) => {
            for (k, val) in t.iter_mut() {
                if SECRET_KEYS.iter().any(|s| k.contains(s)) && !matches!(val, toml::Value::Table(_)) {
                    *val = toml::Value::String("***".into());
                } else {
                    redact(val);
                }
            }
        }
        toml::Value::Array(a) => a.iter_mut().for_each(redact),
        // A password inside a database URL.
        toml::Value::String(s) if s.starts_with("mysql://") => *s = super::db_proxy::redact(s),
        _ => {}
    }
}

#[cfg(test)]
pub(super) fn redact_for_test(v: &mut toml::Value) {
    redact(v)
}

/// The config as JSON, with every secret-looking value replaced by `"***"`.
pub fn redacted_json(config: &Config) -> String {
    serde_json::to_string_pretty(&redacted(config)).unwrap_or_default()
}
