//! CREATE TABLE, ALTER TABLE, CREATE/DROP INDEX from MySQL to SQLite.
//!
//! SQLite columns are declared with the MySQL base type plus, where SQLite
//! would otherwise pick the wrong affinity, an affinity word (`DATETIME
//! TEXT`); the full MySQL type (`bigint(20) unsigned`) and AUTO_INCREMENT
//! are kept in `_ephpm_columns` for DESCRIBE and SHOW CREATE TABLE.
//! MySQL index names are per table, SQLite's per schema: an index `k` of
//! table `t` is stored as `t__k`.

use sqlparser::ast::{
    AlterTableOperation, ColumnDef, ColumnOption, CreateIndex, CreateTable, DataType, Expr, Ident, IndexColumn,
    ObjectName, TableConstraint,
};

use super::super::error::DbError;
use super::Plan;

/// The table of MySQL column types (created when the database opens).
/// `_ephpm_seq` makes sure `sqlite_sequence` exists for TRUNCATE.
pub const META_TABLES: &str =
    "CREATE TABLE IF NOT EXISTS _ephpm_columns (tbl TEXT NOT NULL, col TEXT NOT NULL, type TEXT NOT NULL, \
     extra TEXT NOT NULL DEFAULT '', PRIMARY KEY (tbl, col)); \
     CREATE TABLE IF NOT EXISTS _ephpm_seq (id INTEGER PRIMARY KEY AUTOINCREMENT)";

/// `"name"`, quoted for SQLite.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'`, quoted for SQLite.
pub fn quote_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The last part of an object name, unquoted.
pub fn base_name(name: &ObjectName) -> String {
    name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.clone()).unwrap_or_default()
}

/// The SQLite index name of MySQL index `index` on `table`.
pub fn index_name(table: &str, index: &str) -> String {
    format!("{table}__{index}")
}

/// CREATE TABLE.
pub fn create_table(ct: &CreateTable) -> Result<Plan, DbError> {
    if ct.query.is_some() {
        return Err(DbError::unsupported("CREATE TABLE ... SELECT"));
    }
    if ct.like.is_some() {
        return Err(DbError::unsupported("CREATE TABLE ... LIKE"));
    }
    let table = base_name(&ct.name);
    let mut defs = Vec::new();
    let mut after = Vec::new();
    let mut autoinc = None;
    for c in &ct.columns {
        let col = column(c)?;
        if col.autoinc {
            autoinc = Some(c.name.value.clone());
        }
        defs.push(col.sql);
        // IF NOT EXISTS on an existing table must not rewrite its types.
        after.push(meta_insert(&table, &c.name.value, &col.mysql_type, col.autoinc, false));
    }
    let mut indexes = Vec::new();
    for tc in &ct.constraints {
        match tc {
            TableConstraint::PrimaryKey(pk) => {
                let cols = index_columns(&pk.columns)?;
                // An AUTO_INCREMENT column is already the INTEGER PRIMARY KEY.
                if !(cols.len() == 1 && autoinc.as_deref() == Some(cols[0].as_str())) {
                    defs.push(format!("PRIMARY KEY ({})", join_quoted(&cols)));
                }
            }
            TableConstraint::ForeignKey(fk) => defs.push(fk.to_string()),
            TableConstraint::Check(c) => defs.push(c.to_string()),
            key => indexes.extend(key_sql(&table, key, true)?),
        }
    }
    if ct.temporary {
        // A TEMP table would live on the shared writer connection, seen by
        // every session and by no reader: refuse rather than mislead.
        return Err(DbError::unsupported("CREATE TEMPORARY TABLE"));
    }
    let exists = if ct.if_not_exists { "IF NOT EXISTS " } else { "" };
    let mut sqls = vec![format!("CREATE TABLE {exists}{} ({})", quote(&table), defs.join(", "))];
    sqls.extend(indexes);
    sqls.extend(after);
    Ok(Plan::Batch(sqls))
}

struct Col {
    sql: String,
    mysql_type: String,
    autoinc: bool,
}

fn column(c: &ColumnDef) -> Result<Col, DbError> {
    column_parts(&c.name, &c.data_type, c.options.iter().map(|o| &o.option))
}

fn column_parts<'a>(
    name: &Ident,
    data_type: &DataType,
    options: impl Iterator<Item = &'a ColumnOption>,
) -> Result<Col, DbError> {
    let mysql_type = data_type.to_string().to_ascii_lowercase();
    let mut autoinc = false;
    let mut not_null = false;
    let mut primary = false;
    let mut default = None;
    let mut binary = mysql_type.contains("binary") || mysql_type.contains("blob");
    let mut extra = Vec::new();
    for o in options {
        match o {
            ColumnOption::NotNull => not_null = true,
            ColumnOption::Null => {}
            ColumnOption::Default(e) => default = Some(default_sql(e)),
            ColumnOption::PrimaryKey(_) => primary = true,
            ColumnOption::Unique(_) => extra.push("UNIQUE".to_string()),
            ColumnOption::DialectSpecific(tokens) => {
                let t = tokens.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" ").to_ascii_uppercase();
                if t.contains("AUTO_INCREMENT") || t.contains("AUTOINCREMENT") {
                    autoinc = true;
                }
            }
            ColumnOption::Collation(c) => binary |= c.to_string().to_ascii_lowercase().ends_with("_bin"),
            ColumnOption::CharacterSet(_) | ColumnOption::Comment(_) | ColumnOption::OnUpdate(_) => {}
            ColumnOption::Check(c) => extra.push(c.to_string()),
            other => return Err(DbError::unsupported(format!("column option {other}"))),
        }
    }
    let mut sql = quote(&name.value);
    if autoinc {
        sql.push_str(" INTEGER PRIMARY KEY AUTOINCREMENT");
    } else {
        sql.push(' ');
        sql.push_str(&sqlite_type(&mysql_type));
        if primary {
            sql.push_str(" PRIMARY KEY");
        }
    }
    if not_null {
        sql.push_str(" NOT NULL");
        // MySQL (without strict mode) fills an omitted NOT NULL column with
        // its type's zero value; SQLite would refuse the row.
        if default.is_none() && !autoinc && !primary {
            default = Some(implicit_default(&mysql_type).to_string());
        }
    }
    if let Some(d) = default {
        sql.push_str(" DEFAULT ");
        sql.push_str(&d);
    }
    if is_text(&mysql_type) && !binary {
        sql.push_str(" COLLATE NOCASE");
    }
    for e in extra {
        sql.push(' ');
        sql.push_str(&e);
    }
    Ok(Col { sql, mysql_type, autoinc })
}

fn default_sql(e: &Expr) -> String {
    let s = e.to_string();
    match s.to_ascii_uppercase().as_str() {
        "CURRENT_TIMESTAMP" | "CURRENT_TIMESTAMP()" | "NOW()" => "CURRENT_TIMESTAMP".into(),
        _ => match e {
            Expr::Value(v) => match &v.value {
                sqlparser::ast::Value::DoubleQuotedString(s) => quote_str(s),
                _ => s,
            },
            _ => format!("({s})"),
        },
    }
}

fn base_type(mysql_type: &str) -> String {
    mysql_type.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
}

fn is_text(mysql_type: &str) -> bool {
    let b = base_type(mysql_type);
    matches!(b.as_str(), "char" | "varchar" | "enum" | "set" | "nchar" | "nvarchar") || b.ends_with("text")
}

/// The SQLite declared type for a MySQL type: the base name, and an
/// affinity word where the name alone would give SQLite the wrong one.
fn sqlite_type(mysql_type: &str) -> String {
    let base = base_type(mysql_type).to_ascii_uppercase();
    let unsigned = if mysql_type.contains("unsigned") { " UNSIGNED" } else { "" };
    let affinity = match base.as_str() {
        "DATE" | "DATETIME" | "TIMESTAMP" | "TIME" | "YEAR" | "ENUM" | "SET" | "JSON" => " TEXT",
        "BINARY" | "VARBINARY" | "BIT" => " BLOB",
        "BOOL" | "BOOLEAN" => " INT",
        _ => "",
    };
    format!("{base}{unsigned}{affinity}")
}

fn implicit_default(mysql_type: &str) -> &'static str {
    let b = base_type(mysql_type);
    if b.contains("int")
        || matches!(
            b.as_str(),
            "float" | "double" | "real" | "decimal" | "numeric" | "bit" | "bool" | "boolean" | "year"
        )
    {
        "0"
    } else if b == "datetime" || b == "timestamp" {
        "'0000-00-00 00:00:00'"
    } else if b == "date" {
        "'0000-00-00'"
    } else if b == "time" {
        "'00:00:00'"
    } else {
        "''"
    }
}

/// Records a column's MySQL type; `replace` overwrites an older record
/// (ALTER TABLE), else one is kept (CREATE TABLE IF NOT EXISTS on an
/// existing table must not rewrite its types).
fn meta_insert(table: &str, col: &str, mysql_type: &str, autoinc: bool, replace: bool) -> String {
    format!(
        "INSERT OR {} INTO _ephpm_columns (tbl, col, type, extra) VALUES ({}, {}, {}, {})",
        if replace { "REPLACE" } else { "IGNORE" },
        quote_str(table),
        quote_str(col),
        quote_str(mysql_type),
        quote_str(if autoinc { "auto_increment" } else { "" })
    )
}

/// The column names of an index, prefix lengths (`meta_key(191)`) dropped.
fn index_columns(cols: &[IndexColumn]) -> Result<Vec<String>, DbError> {
    let names: Vec<String> = cols
        .iter()
        .map(|c| match &c.column.expr {
            Expr::Identifier(i) => Ok(i.value.clone()),
            Expr::Function(f) => Ok(base_name(&f.name)),
            other => Err(DbError::unsupported(format!("index on expression {other}"))),
        })
        .collect::<Result<_, _>>()?;
    if names.is_empty() {
        return Err(DbError::syntax("an index needs at least one column"));
    }
    Ok(names)
}

/// The CREATE INDEX of a `KEY`/`INDEX`/`UNIQUE KEY`; none for a FULLTEXT
/// or SPATIAL key (no full-text search: it is dropped).
fn key_sql(table: &str, key: &TableConstraint, if_not_exists: bool) -> Result<Option<String>, DbError> {
    let (columns, name, unique) = match key {
        TableConstraint::Unique(u) => (&u.columns, u.index_name.as_ref().or(u.name.as_ref()), true),
        TableConstraint::Index(i) => (&i.columns, i.name.as_ref(), false),
        TableConstraint::FulltextOrSpatial(_) => return Ok(None),
        other => return Err(DbError::unsupported(other)),
    };
    let cols = index_columns(columns)?;
    let name = name.map(|i| i.value.clone()).unwrap_or_else(|| cols[0].clone());
    Ok(Some(create_index_sql(table, &name, &cols, unique, if_not_exists)))
}

fn join_quoted(cols: &[String]) -> String {
    cols.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ")
}

fn create_index_sql(table: &str, name: &str, cols: &[String], unique: bool, if_not_exists: bool) -> String {
    format!(
        "CREATE {}INDEX {}{} ON {} ({})",
        if unique { "UNIQUE " } else { "" },
        if if_not_exists { "IF NOT EXISTS " } else { "" },
        quote(&index_name(table, name)),
        quote(table),
        join_quoted(cols)
    )
}

/// CREATE [UNIQUE] INDEX name ON t (cols).
pub fn create_index(ci: &CreateIndex) -> Result<Plan, DbError> {
    let table = base_name(&ci.table_name);
    let cols = index_columns(&ci.columns)?;
    let name = ci.name.as_ref().map(base_name).unwrap_or_else(|| cols[0].clone());
    Ok(Plan::Batch(vec![create_index_sql(&table, &name, &cols, ci.unique, ci.if_not_exists)]))
}

/// ALTER TABLE t op, op, ...
pub fn alter_table(table: &ObjectName, ops: &[AlterTableOperation]) -> Result<Plan, DbError> {
    let table = base_name(table);
    let t = quote(&table);
    let mut sqls = Vec::new();
    for op in ops {
        match op {
            AlterTableOperation::AddColumn { column_def, .. } => {
                let col = column(column_def)?;
                if col.autoinc {
                    return Err(DbError::unsupported("ALTER TABLE ADD an AUTO_INCREMENT column"));
                }
                sqls.push(format!("ALTER TABLE {t} ADD COLUMN {}", col.sql));
                sqls.push(meta_insert(&table, &column_def.name.value, &col.mysql_type, false, true));
            }
            AlterTableOperation::DropColumn { column_names, .. } => {
                for c in column_names {
                    sqls.push(format!("ALTER TABLE {t} DROP COLUMN {}", quote(&c.value)));
                    sqls.push(format!(
                        "DELETE FROM _ephpm_columns WHERE tbl = {} AND col = {}",
                        quote_str(&table),
                        quote_str(&c.value)
                    ));
                }
            }
            AlterTableOperation::ChangeColumn { old_name, new_name, data_type, options, .. } => {
                change_column(&mut sqls, &table, &old_name.value, &new_name.value, data_type, options)?;
            }
            AlterTableOperation::ModifyColumn { col_name, data_type, options, .. } => {
                change_column(&mut sqls, &table, &col_name.value, &col_name.value, data_type, options)?;
            }
            AlterTableOperation::RenameColumn { old_column_name, new_column_name } => {
                sqls.push(format!(
                    "ALTER TABLE {t} RENAME COLUMN {} TO {}",
                    quote(&old_column_name.value),
                    quote(&new_column_name.value)
                ));
                sqls.push(meta_rename(&table, &old_column_name.value, &new_column_name.value));
            }
            AlterTableOperation::AddConstraint { constraint, .. } => sqls.extend(key_sql(&table, constraint, false)?),
            AlterTableOperation::DropIndex { name } => {
                sqls.push(format!("DROP INDEX {}", quote(&index_name(&table, &name.value))));
            }
            other => return Err(DbError::unsupported(format!("ALTER TABLE {other}"))),
        }
    }
    Ok(Plan::Batch(sqls))
}

/// CHANGE/MODIFY COLUMN: SQLite keeps values of any type in any column, so
/// a type change only updates the recorded MySQL type; a new name renames.
fn change_column(
    sqls: &mut Vec<String>,
    table: &str,
    old: &str,
    new: &str,
    data_type: &DataType,
    options: &[ColumnOption],
) -> Result<(), DbError> {
    let col = column_parts(&Ident::new(new), data_type, options.iter())?;
    if old != new {
        sqls.push(format!("ALTER TABLE {} RENAME COLUMN {} TO {}", quote(table), quote(old), quote(new)));
        sqls.push(meta_rename(table, old, new));
    }
    sqls.push(format!(
        "UPDATE _ephpm_columns SET type = {} WHERE tbl = {} AND col = {}",
        quote_str(&col.mysql_type),
        quote_str(table),
        quote_str(new)
    ));
    Ok(())
}

fn meta_rename(table: &str, old: &str, new: &str) -> String {
    format!(
        "UPDATE _ephpm_columns SET col = {} WHERE tbl = {} AND col = {}",
        quote_str(new),
        quote_str(table),
        quote_str(old)
    )
}

/// DROP TABLE for each name.
pub fn drop_tables(names: &[ObjectName], if_exists: bool, temporary: bool) -> Plan {
    let mut sqls = Vec::new();
    for n in names {
        let table = base_name(n);
        let exists = if if_exists { "IF EXISTS " } else { "" };
        sqls.push(format!("DROP TABLE {exists}{}", quote(&table)));
        if !temporary {
            sqls.push(format!("DELETE FROM _ephpm_columns WHERE tbl = {}", quote_str(&table)));
        }
    }
    Plan::Batch(sqls)
}

/// TRUNCATE TABLE: delete every row and restart AUTO_INCREMENT.
pub fn truncate(names: &[ObjectName]) -> Plan {
    let mut sqls = Vec::new();
    for n in names {
        let table = base_name(n);
        sqls.push(format!("DELETE FROM {}", quote(&table)));
        sqls.push(format!("DELETE FROM sqlite_sequence WHERE name = {}", quote_str(&table)));
    }
    Plan::Batch(sqls)
}
