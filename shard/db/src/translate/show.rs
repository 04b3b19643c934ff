//! SHOW and DESCRIBE, answered from SQLite's catalog (`sqlite_master`,
//! `pragma_table_info`, `pragma_index_list`) and `_ephpm_columns`.
//! sqlparser does not parse every SHOW form MySQL has, so these are
//! recognised from the token stream.

use sqlparser::dialect::MySqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

use super::super::error::DbError;
use super::super::result::{Column, Rows, Value};
use super::super::vars::{Variables, DEFAULTS};
use super::ddl::{quote, quote_str};
use super::Plan;

/// The words and strings of a statement: each as matched (keywords
/// upper-cased, `` `name `` for quoted names, `'text` for strings) and as
/// written.
fn words(sql: &str) -> Result<(Vec<String>, Vec<String>), DbError> {
    let tokens = Tokenizer::new(&MySqlDialect {}, sql).tokenize().map_err(DbError::syntax)?;
    let mut matched = Vec::new();
    let mut raw = Vec::new();
    for t in tokens {
        let (m, r) = match t {
            Token::Whitespace(_) | Token::SemiColon => continue,
            Token::Word(w) if w.quote_style.is_none() => (w.value.to_ascii_uppercase(), w.value),
            Token::Word(w) => (format!("`{}", w.value), w.value),
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => (format!("'{s}"), s),
            Token::Period => (".".into(), ".".into()),
            Token::Number(n, _) => (n.clone(), n),
            other => (other.to_string(), other.to_string()),
        };
        matched.push(m);
        raw.push(r);
    }
    Ok((matched, raw))
}

/// A name token: `` `x` `` or a bare word, as written.
fn name(w: &str, sql_word: &str) -> String {
    w.strip_prefix('`').map(str::to_string).unwrap_or_else(|| sql_word.to_string())
}

/// Whether `sql` is a SHOW/DESCRIBE this module answers; if so, its plan.
pub fn plan(sql: &str, vars: &Variables<'_>) -> Result<Option<Plan>, DbError> {
    let first = sql.trim_start().split(|c: char| c.is_whitespace()).next().unwrap_or("").to_ascii_uppercase();
    if !matches!(first.as_str(), "SHOW" | "DESCRIBE" | "DESC" | "EXPLAIN") {
        return Ok(None);
    }
    let (w, raw) = words(sql)?;
    let at = |i: usize| w.get(i).map(String::as_str).unwrap_or("");
    if first != "SHOW" {
        // DESCRIBE t / EXPLAIN t (EXPLAIN SELECT is left to the parser).
        if matches!(at(1), "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "REPLACE" | "FORMAT" | "EXTENDED") {
            return Ok(None);
        }
        let table = table_after(&w, &raw, 1)?;
        return Ok(Some(describe(&table, false)));
    }
    let mut i = 1;
    let full = at(i) == "FULL";
    if full {
        i += 1;
    }
    let like = |from: usize| -> Option<String> {
        w.iter()
            .position(|x| x == "LIKE")
            .filter(|p| *p >= from)
            .and_then(|p| w.get(p + 1))
            .and_then(|s| s.strip_prefix('\'').map(str::to_string))
    };
    Ok(Some(match at(i) {
        "TABLES" => tables(full, like(i).as_deref(), vars.database()),
        "COLUMNS" | "FIELDS" => describe(&table_after(&w, &raw, i + 1)?, full),
        "INDEX" | "INDEXES" | "KEYS" => index(&table_after(&w, &raw, i + 1)?),
        "CREATE" if at(i + 1) == "TABLE" => Plan::ShowCreate(table_after(&w, &raw, i + 1)?),
        "DATABASES" | "SCHEMAS" => {
            let mut rows = Rows { columns: vec![Column::text("Database")], rows: vec![] };
            for db in ["information_schema", vars.database()] {
                rows.rows.push(vec![Value::Text(db.to_string())]);
            }
            Plan::Rows(rows)
        }
        "VARIABLES" | "SESSION" | "GLOBAL" => variables(like(i).as_deref(), vars),
        "STATUS" => {
            Plan::Rows(Rows { columns: vec![Column::text("Variable_name"), Column::text("Value")], rows: vec![] })
        }
        "WARNINGS" | "ERRORS" => Plan::Rows(Rows {
            columns: vec![Column::text("Level"), Column::int("Code"), Column::text("Message")],
            rows: vec![],
        }),
        "ENGINES" => Plan::Rows(Rows {
            columns: ["Engine", "Support", "Comment", "Transactions", "XA", "Savepoints"].map(Column::text).to_vec(),
            rows: vec![["InnoDB", "DEFAULT", "SQLite through ephpm", "YES", "NO", "NO"]
                .map(|s| Value::Text(s.into()))
                .to_vec()],
        }),
        "TABLE" if at(i + 1) == "STATUS" => table_status(like(i).as_deref()),
        "COLLATION" | "CHARSET" | "CHARACTER" => Plan::Rows(Rows {
            columns: vec![Column::text("Collation"), Column::text("Charset")],
            rows: vec![vec![Value::Text("utf8mb4_general_ci".into()), Value::Text("utf8mb4".into())]],
        }),
        other => return Err(DbError::unsupported(format!("SHOW {other}"))),
    }))
}

/// The table named after word `i` (skipping FROM/IN/TABLE, and a `db.`).
fn table_after(w: &[String], raw: &[String], mut i: usize) -> Result<String, DbError> {
    while matches!(w.get(i).map(String::as_str), Some("FROM" | "IN" | "TABLE")) {
        i += 1;
    }
    if w.get(i + 1).map(String::as_str) == Some(".") {
        i += 2;
    }
    match (w.get(i), raw.get(i)) {
        (Some(x), Some(r)) => Ok(name(x, r)),
        _ => Err(DbError::syntax("a table name is missing")),
    }
}

fn tables(full: bool, like: Option<&str>, db: &str) -> Plan {
    let mut sql = format!("SELECT name AS {}", quote(&format!("Tables_in_{db}")));
    if full {
        sql.push_str(", CASE type WHEN 'view' THEN 'VIEW' ELSE 'BASE TABLE' END AS Table_type");
    }
    sql.push_str(" FROM sqlite_master WHERE type IN ('table', 'view') AND ");
    sql.push_str(&hidden("name"));
    if let Some(p) = like {
        sql.push_str(&format!(" AND name LIKE {} ESCAPE '\\'", quote_str(p)));
    }
    sql.push_str(" ORDER BY name");
    Plan::Sql { sql, write: false, found_rows: None }
}

/// Leaves out the tables the server keeps for itself (`col` holds the name).
pub fn hidden(col: &str) -> String {
    format!("{col} NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND {col} NOT LIKE '\\_ephpm\\_%' ESCAPE '\\'")
}

fn table_status(like: Option<&str>) -> Plan {
    let mut sql = "SELECT name AS Name, 'InnoDB' AS Engine, 10 AS Version, 'Dynamic' AS Row_format, \
        0 AS \"Rows\", 0 AS Avg_row_length, 0 AS Data_length, NULL AS Auto_increment, \
        NULL AS Create_time, 'utf8mb4_general_ci' AS Collation, '' AS Comment \
        FROM sqlite_master WHERE type = 'table' AND "
        .to_string();
    sql.push_str(&hidden("name"));
    if let Some(p) = like {
        sql.push_str(&format!(" AND name LIKE {} ESCAPE '\\'", quote_str(p)));
    }
    sql.push_str(" ORDER BY name");
    Plan::Sql { sql, write: false, found_rows: None }
}

/// DESCRIBE t / SHOW [FULL] COLUMNS FROM t.
pub fn describe(table: &str, full: bool) -> Plan {
    let t = quote_str(table);
    let ty = "COALESCE(m.type, lower(p.type))";
    let key = format!(
        "CASE WHEN p.pk > 0 THEN 'PRI' ELSE COALESCE((SELECT CASE WHEN MAX(il.\"unique\") THEN 'UNI' ELSE 'MUL' END \
         FROM pragma_index_list({t}) il JOIN pragma_index_info(il.name) ii WHERE ii.seqno = 0 AND ii.name = p.name \
         HAVING COUNT(*) > 0), '') END"
    );
    let default = "CASE WHEN p.dflt_value LIKE '''%''' THEN replace(substr(p.dflt_value, 2, length(p.dflt_value) - 2), '''''', '''') \
         WHEN upper(p.dflt_value) = 'NULL' THEN NULL ELSE p.dflt_value END";
    let collation = if full {
        format!(
            ", CASE WHEN p.type LIKE '%COLLATE%' OR {ty} LIKE '%char%' OR {ty} LIKE '%text%' OR {ty} LIKE 'enum%' \
             THEN 'utf8mb4_general_ci' END AS Collation"
        )
    } else {
        String::new()
    };
    let full_tail = if full { ", 'select,insert,update,references' AS Privileges, '' AS Comment" } else { "" };
    let sql = format!(
        "SELECT p.name AS Field, {ty} AS Type{collation}, CASE WHEN p.\"notnull\" OR p.pk > 0 THEN 'NO' ELSE 'YES' END AS \"Null\", \
         {key} AS \"Key\", {default} AS \"Default\", COALESCE(m.extra, '') AS Extra{full_tail} \
         FROM pragma_table_info({t}) p LEFT JOIN _ephpm_columns m ON m.tbl = {t} AND m.col = p.name ORDER BY p.cid"
    );
    Plan::Describe { table: table.to_string(), sql }
}

/// SHOW INDEX FROM t.
fn index(table: &str) -> Plan {
    let t = quote_str(table);
    let prefix = quote_str(&format!("{table}__"));
    let sql = format!(
        "SELECT * FROM (SELECT {t} AS \"Table\", 1 - il.\"unique\" AS Non_unique, \
         CASE WHEN il.origin = 'pk' THEN 'PRIMARY' WHEN substr(il.name, 1, length({prefix})) = {prefix} \
         THEN substr(il.name, length({prefix}) + 1) ELSE il.name END AS Key_name, \
         ii.seqno + 1 AS Seq_in_index, ii.name AS Column_name, 'A' AS Collation, 0 AS Cardinality, \
         NULL AS Sub_part, NULL AS Packed, '' AS \"Null\", 'BTREE' AS Index_type, '' AS Comment, '' AS Index_comment \
         FROM pragma_index_list({t}) il JOIN pragma_index_info(il.name) ii \
         UNION ALL SELECT {t}, 0, 'PRIMARY', p.pk, p.name, 'A', 0, NULL, NULL, '', 'BTREE', '', '' \
         FROM pragma_table_info({t}) p WHERE p.pk > 0 AND NOT EXISTS (SELECT 1 FROM pragma_index_list({t}) WHERE origin = 'pk')) \
         ORDER BY Key_name = 'PRIMARY' DESC, Key_name, Seq_in_index"
    );
    Plan::Describe { table: table.to_string(), sql }
}

fn variables(like: Option<&str>, vars: &Variables<'_>) -> Plan {
    let mut rows = Rows { columns: vec![Column::text("Variable_name"), Column::text("Value")], rows: vec![] };
    for (name, _) in DEFAULTS {
        if like.is_some_and(|p| !like_match(p, name)) {
            continue;
        }
        let v = match vars.system(name) {
            Ok(Value::Integer(n)) => n.to_string(),
            Ok(Value::Text(s)) => s,
            _ => String::new(),
        };
        rows.rows.push(vec![Value::Text(name.to_string()), Value::Text(v)]);
    }
    Plan::Rows(rows)
}

/// SQL LIKE, case-insensitive, with `%`, `_` and `\` escapes. Greedy with
/// one backtrack point, so it runs in O(pattern × text) whatever the
/// pattern.
pub fn like_match(pattern: &str, text: &str) -> bool {
    // Pattern atoms: Some(byte) matches that byte, None is `_`; `%` splits.
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let (atom, len) = match p.get(pi) {
            Some(b'%') => {
                pi += 1;
                star = Some((pi, ti));
                continue;
            }
            Some(b'_') => (None, 1),
            Some(b'\\') if pi + 1 < p.len() => (Some(p[pi + 1]), 2),
            Some(c) => (Some(*c), 1),
            None => (Some(0), 0),
        };
        if len > 0 && atom.is_none_or(|c| c.eq_ignore_ascii_case(&t[ti])) {
            pi += len;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == b'%')
}

/// SHOW CREATE TABLE's text, from what [`describe`]-style rows hold.
pub fn create_table_text(
    table: &str,
    columns: &[(String, String, bool, Option<String>, String)],
    pk: &[String],
) -> String {
    let mut lines: Vec<String> = columns
        .iter()
        .map(|(name, ty, not_null, default, extra)| {
            let mut l = format!("  `{name}` {ty}");
            if *not_null {
                l.push_str(" NOT NULL");
            }
            if let Some(d) = default {
                l.push_str(&format!(" DEFAULT {d}"));
            }
            if !extra.is_empty() {
                l.push(' ');
                l.push_str(&extra.to_ascii_uppercase());
            }
            l
        })
        .collect();
    if !pk.is_empty() {
        lines.push(format!("  PRIMARY KEY ({})", pk.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(",")));
    }
    format!("CREATE TABLE `{table}` (\n{}\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4", lines.join(",\n"))
}

#[cfg(test)]
mod tests {
    use super::like_match;

    #[test]
    fn like_patterns() {
        assert!(like_match("wp\\_%", "wp_posts"));
        assert!(!like_match("wp\\_%", "wpxposts"));
        assert!(like_match("%_ver%", "innodb_version"));
        assert!(like_match("SQL_MODE", "sql_mode"));
        assert!(!like_match("a_c", "abbc"));
        assert!(like_match("%", ""));
        let evil = format!("{}z", "%".repeat(40));
        assert!(!like_match(&evil, &"a".repeat(60)), "and quickly");
    }
}
