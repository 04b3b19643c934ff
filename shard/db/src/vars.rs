//! System variables (`@@version`, `@@sql_mode`, ...) with MySQL 8's
//! defaults, overlaid by what a session SET.

use std::collections::HashMap;

use rusqlite::types::Value;

use super::error::DbError;

/// The server version announced in the handshake and by `VERSION()`.
pub const SERVER_VERSION: &str = "8.0.36-ephpm";

/// The variables a session sees: its own SETs over the server defaults.
pub struct Variables<'a> {
    /// The session's current database.
    pub database: &'a str,
    /// What the session SET.
    pub session: &'a HashMap<String, Value>,
    /// Whether autocommit is on.
    pub autocommit: bool,
}

impl Variables<'_> {
    /// The current database name.
    pub fn database(&self) -> &str {
        self.database
    }

    /// The value of `@@name` (`@@session.name`, `@@global.name`).
    pub fn system(&self, name: &str) -> Result<Value, DbError> {
        let name = name.to_ascii_lowercase();
        let name = name.trim_start_matches("session.").trim_start_matches("global.").trim_start_matches("local.");
        if name == "autocommit" {
            return Ok(Value::Integer(self.autocommit as i64));
        }
        if let Some(v) = self.session.get(name) {
            return Ok(v.clone());
        }
        default(name).ok_or_else(|| DbError::new(1193, "HY000", format!("Unknown system variable '{name}'")))
    }
}

/// Every default the server reports, for `SHOW VARIABLES`.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("auto_increment_increment", "1"),
    ("auto_increment_offset", "1"),
    ("character_set_client", "utf8mb4"),
    ("character_set_connection", "utf8mb4"),
    ("character_set_database", "utf8mb4"),
    ("character_set_results", "utf8mb4"),
    ("character_set_server", "utf8mb4"),
    ("collation_connection", "utf8mb4_general_ci"),
    ("collation_database", "utf8mb4_general_ci"),
    ("collation_server", "utf8mb4_general_ci"),
    ("default_storage_engine", "InnoDB"),
    ("have_ssl", "DISABLED"),
    ("interactive_timeout", "28800"),
    ("innodb_lock_wait_timeout", "50"),
    ("lock_wait_timeout", "50"),
    ("lower_case_table_names", "0"),
    ("max_allowed_packet", "67108864"),
    ("max_connections", "10000"),
    ("net_read_timeout", "30"),
    ("net_write_timeout", "60"),
    ("port", "3306"),
    ("sql_mode", "NO_ENGINE_SUBSTITUTION"),
    ("sql_auto_is_null", "0"),
    ("sql_select_limit", "18446744073709551615"),
    ("storage_engine", "InnoDB"),
    ("system_time_zone", "UTC"),
    ("time_zone", "SYSTEM"),
    ("transaction_isolation", "READ-COMMITTED"),
    ("tx_isolation", "READ-COMMITTED"),
    ("version", SERVER_VERSION),
    ("version_comment", "ephpm embedded database (SQLite)"),
    ("version_compile_os", "Linux"),
    ("wait_timeout", "28800"),
];

fn default(name: &str) -> Option<Value> {
    let (_, v) = DEFAULTS.iter().find(|(n, _)| *n == name)?;
    Some(match v.parse::<i64>() {
        Ok(n) if name != "version" => Value::Integer(n),
        _ => Value::Text(v.to_string()),
    })
}
