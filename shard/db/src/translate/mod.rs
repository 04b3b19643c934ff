//! MySQL → SQLite: each statement of a query becomes a [`Plan`] the engine
//! runs. Parsing is sqlparser's MySQL dialect; [`expr`] rewrites
//! expressions, [`ddl`] table definitions, [`show`] answers SHOW and
//! DESCRIBE. Anything not handled is refused with an error naming it.

pub mod ddl;
pub mod expr;
pub mod show;

use sqlparser::ast::{
    AssignmentTarget, Expr, FromTable, ObjectName, OnConflict, OnConflictAction, OnInsert, SetExpr, Statement,
    Value as SqlValue, Values,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

use super::error::DbError;
use super::result::{Rows, Value};
use super::vars::Variables;

/// What the engine does for one statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// One SQLite statement; `write` sends it to the writer.
    Sql {
        /// The SQLite text.
        sql: String,
        /// Whether it changes data.
        write: bool,
        /// For SQL_CALC_FOUND_ROWS: the query that counts every row.
        found_rows: Option<String>,
    },
    /// SQLite statements run together in one transaction (DDL, which
    /// commits an open transaction first, as in MySQL).
    Batch(Vec<String>),
    /// SQLite statements making one write (a multi-table DELETE); the
    /// rows changed by those marked `true` are the affected rows.
    Script(Vec<(String, bool)>),
    /// DESCRIBE / SHOW INDEX: an error 1146 when the table is missing.
    Describe {
        /// The table.
        table: String,
        /// The catalog query.
        sql: String,
    },
    /// SHOW CREATE TABLE.
    ShowCreate(String),
    /// A result made up by the server.
    Rows(Rows),
    /// Accepted and ignored (LOCK TABLES, SET NAMES, ...).
    Ok,
    /// BEGIN / START TRANSACTION.
    Begin,
    /// COMMIT.
    Commit,
    /// ROLLBACK.
    Rollback,
    /// SET of session variables (`autocommit` among them).
    Set(Vec<(String, Value)>),
    /// USE db.
    Use(String),
}

/// Translates one statement (see [`split`] for a multi-statement query).
pub fn translate(sql: &str, vars: &Variables<'_>) -> Result<Plan, DbError> {
    if let Some(plan) = show::plan(sql, vars)? {
        return Ok(plan);
    }
    let mut statements = Parser::parse_sql(&MySqlDialect {}, sql).map_err(DbError::syntax)?;
    match statements.len() {
        0 => Err(DbError::new(1065, "42000", "Query was empty")),
        1 => statement(statements.remove(0), vars),
        _ => Err(DbError::syntax("one statement was expected")),
    }
}

/// Where the comment starting at `b[i]` ends (the index after it), if one
/// starts there: `-- ` (MySQL wants whitespace after the dashes), `#`, or
/// `/* ... */`.
pub fn comment_end(b: &[u8], i: usize) -> Option<usize> {
    let line_end = |from: usize| b[from..].iter().position(|c| *c == b'\n').map_or(b.len(), |p| from + p);
    match (b.get(i), b.get(i + 1)) {
        (Some(b'-'), Some(b'-')) if b.get(i + 2).is_none_or(u8::is_ascii_whitespace) => Some(line_end(i)),
        (Some(b'#'), _) => Some(line_end(i)),
        (Some(b'/'), Some(b'*')) => {
            let close = b[i + 2..].windows(2).position(|w| w == b"*/");
            Some(close.map_or(b.len(), |p| i + 2 + p + 2))
        }
        _ => None,
    }
}

/// Splits a multi-statement query at the semicolons between statements
/// (not those inside strings, quoted names or comments).
pub fn split(sql: &str) -> Vec<&str> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < b.len() {
        if let Some(end) = comment_end(b, i) {
            i = end;
            continue;
        }
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += if b[i] == b'\\' && q != b'`' { 2 } else { 1 };
                }
            }
            b';' => {
                out.push(&sql[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&sql[start.min(sql.len())..]);
    out.retain(|s| !s.trim().is_empty());
    out
}

fn statement(mut s: Statement, vars: &Variables<'_>) -> Result<Plan, DbError> {
    match &mut s {
        Statement::Query(q) => {
            let mut found_rows = None;
            if let SetExpr::Select(sel) = q.body.as_mut() {
                if let Some(m) = sel.select_modifiers.as_mut() {
                    if m.sql_calc_found_rows {
                        m.sql_calc_found_rows = false;
                        found_rows = Some(());
                    }
                }
            }
            // FOR UPDATE / FOR SHARE: SQLite has no row locks; the read runs
            // on the writer, which a transaction holds until it ends.
            let locking = !q.locks.is_empty();
            q.locks.clear();
            let before = projection_texts(q);
            expr::rewrite(q.as_mut(), vars)?;
            keep_column_names(q, &before);
            let count = found_rows.map(|_| {
                let mut all = q.clone();
                all.limit_clause = None;
                all.order_by = None;
                format!("SELECT COUNT(*) FROM ({all})")
            });
            Ok(Plan::Sql { sql: q.to_string(), write: locking, found_rows: count })
        }
        Statement::Insert(ins) => {
            if ins.ignore {
                ins.ignore = false;
                ins.or = Some(sqlparser::ast::SqliteOnConflict::Ignore);
            }
            if !ins.assignments.is_empty() {
                set_form_to_values(ins)?;
            }
            if let Some(OnInsert::DuplicateKeyUpdate(assignments)) = ins.on.take() {
                let mut assignments = assignments;
                for a in &mut assignments {
                    values_to_excluded(&mut a.value);
                }
                ins.on = Some(OnInsert::OnConflict(OnConflict {
                    conflict_target: None,
                    action: OnConflictAction::DoUpdate(sqlparser::ast::DoUpdate { assignments, selection: None }),
                }));
                // `INSERT ... SELECT ... ON CONFLICT` is ambiguous to SQLite without a WHERE.
                if let Some(src) = ins.source.as_mut() {
                    if let SetExpr::Select(sel) = src.body.as_mut() {
                        if sel.selection.is_none() {
                            sel.selection = Some(Expr::Value(SqlValue::Boolean(true).into()));
                        }
                    }
                }
            }
            expr::rewrite(ins, vars)?;
            ins.columns.iter_mut().for_each(expr::quote_name_if_keyword);
            Ok(write(ins.to_string()))
        }
        Statement::Update(up) => {
            expr::rewrite(up, vars)?;
            for a in &mut up.assignments {
                if let sqlparser::ast::AssignmentTarget::ColumnName(name) = &mut a.target {
                    expr::quote_name_if_keyword(name);
                }
            }
            if up.limit.is_some() || !up.order_by.is_empty() {
                let table = up.table.relation.to_string();
                let limit = up.limit.take();
                let order = std::mem::take(&mut up.order_by);
                let inner = rowid_subquery(&table, up.selection.take(), &order, limit.as_ref())?;
                up.selection = Some(inner);
            }
            Ok(write(up.to_string()))
        }
        Statement::Delete(del) => {
            expr::rewrite(del, vars)?;
            if !del.tables.is_empty() {
                return multi_delete(del);
            }
            let from = match &del.from {
                FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
            };
            if from.len() != 1 || !from[0].joins.is_empty() {
                return Err(DbError::unsupported("multiple-table DELETE"));
            }
            let table = from[0].relation.to_string();
            let mut sql = format!("DELETE FROM {table}");
            if del.limit.is_some() || !del.order_by.is_empty() {
                let e = rowid_subquery(&table, del.selection.take(), &del.order_by, del.limit.as_ref())?;
                sql.push_str(&format!(" WHERE {e}"));
            } else if let Some(w) = &del.selection {
                sql.push_str(&format!(" WHERE {w}"));
            }
            Ok(write(sql))
        }
        Statement::CreateTable(ct) => ddl::create_table(ct),
        Statement::CreateIndex(ci) => ddl::create_index(ci),
        Statement::AlterTable(at) => ddl::alter_table(&at.name, &at.operations),
        Statement::Drop { object_type, names, if_exists, temporary, table, .. } => match object_type {
            sqlparser::ast::ObjectType::Table => Ok(ddl::drop_tables(names, *if_exists, *temporary)),
            sqlparser::ast::ObjectType::Index => {
                let t =
                    table.as_ref().map(ddl::base_name).ok_or_else(|| DbError::syntax("DROP INDEX needs ON table"))?;
                let sqls = names
                    .iter()
                    .map(|n| format!("DROP INDEX {}", ddl::quote(&ddl::index_name(&t, &ddl::base_name(n)))))
                    .collect();
                Ok(Plan::Batch(sqls))
            }
            sqlparser::ast::ObjectType::Database | sqlparser::ast::ObjectType::Schema => {
                Err(DbError::unsupported("DROP DATABASE"))
            }
            other => Err(DbError::unsupported(format!("DROP {other}"))),
        },
        Statement::Truncate(t) => {
            let names: Vec<ObjectName> = t.table_names.iter().map(|n| n.name.clone()).collect();
            Ok(ddl::truncate(&names))
        }
        Statement::StartTransaction { .. } => Ok(Plan::Begin),
        Statement::Commit { .. } => Ok(Plan::Commit),
        Statement::Rollback { savepoint: None, .. } => Ok(Plan::Rollback),
        Statement::Set(set) => set_plan(set, vars),
        Statement::Use(u) => Ok(Plan::Use(use_name(u))),
        Statement::CreateDatabase { .. } => Ok(Plan::Ok),
        Statement::LockTables { .. } | Statement::UnlockTables => Ok(Plan::Ok),
        Statement::Explain { .. } => Err(DbError::unsupported("EXPLAIN")),
        other => {
            let text = other.to_string();
            let head: Vec<&str> = text.split_whitespace().take(2).collect();
            Err(DbError::unsupported(head.join(" ")))
        }
    }
}

/// `DELETE a, b FROM t a JOIN u b ... WHERE ...`: the rowids of every
/// target are collected first (deleting from one table must not change
/// which rows of the next match), then deleted table by table.
fn multi_delete(del: &sqlparser::ast::Delete) -> Result<Plan, DbError> {
    use sqlparser::ast::TableFactor;
    let from = match &del.from {
        FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
    };
    if del.using.is_some() || del.limit.is_some() || !del.order_by.is_empty() {
        return Err(DbError::unsupported("multiple-table DELETE with USING, ORDER BY or LIMIT"));
    }
    // alias (or name) → table, over every relation of the FROM clause.
    let mut relations = Vec::new();
    for twj in from {
        for f in std::iter::once(&twj.relation).chain(twj.joins.iter().map(|j| &j.relation)) {
            if let TableFactor::Table { name, alias, .. } = f {
                let table = ddl::base_name(name);
                let key = alias.as_ref().map(|a| a.name.value.clone()).unwrap_or_else(|| table.clone());
                relations.push((key, table));
            }
        }
    }
    let source: Vec<String> = from.iter().map(|t| t.to_string()).collect();
    let source = source.join(", ");
    let filter = del.selection.as_ref().map(|w| format!(" WHERE {w}")).unwrap_or_default();
    let mut sqls =
        vec![("CREATE TEMP TABLE IF NOT EXISTS _ephpm_delete (target INTEGER, id INTEGER)".to_string(), false)];
    let mut deletes = Vec::new();
    for (i, target) in del.tables.iter().enumerate() {
        let key = ddl::base_name(target);
        let table = relations
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&key))
            .map(|(_, t)| t.clone())
            .ok_or_else(|| DbError::new(1109, "42S02", format!("Unknown table '{key}' in MULTI DELETE")))?;
        sqls.push((
            format!("INSERT INTO _ephpm_delete SELECT {i}, {}.rowid FROM {source}{filter}", ddl::quote(&key)),
            false,
        ));
        deletes.push((
            format!(
                "DELETE FROM {} WHERE rowid IN (SELECT id FROM _ephpm_delete WHERE target = {i})",
                ddl::quote(&table)
            ),
            true,
        ));
    }
    sqls.extend(deletes);
    sqls.push(("DELETE FROM _ephpm_delete".into(), false));
    Ok(Plan::Script(sqls))
}

/// The text of each unaliased column of a query's top-level SELECT.
fn projection_texts(q: &sqlparser::ast::Query) -> Vec<Option<String>> {
    match q.body.as_ref() {
        SetExpr::Select(sel) => sel
            .projection
            .iter()
            .map(|item| match item {
                sqlparser::ast::SelectItem::UnnamedExpr(e) => Some(e.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A column MySQL names after its expression (`@@version_comment`,
/// `NOW()`) keeps that name when the rewrite changed the expression.
fn keep_column_names(q: &mut sqlparser::ast::Query, before: &[Option<String>]) {
    use sqlparser::ast::{Ident, SelectItem};
    let SetExpr::Select(sel) = q.body.as_mut() else { return };
    for (item, old) in sel.projection.iter_mut().zip(before) {
        if let SelectItem::ExprWithAlias { alias, .. } = item {
            expr::quote_if_keyword(alias);
        }
        let Some(old) = old else { continue };
        if let SelectItem::UnnamedExpr(e) = item {
            if e.to_string() != *old {
                let alias = Ident::with_quote('`', old.replace('`', ""));
                *item = SelectItem::ExprWithAlias { expr: e.clone(), alias };
            }
        }
    }
}

fn write(sql: String) -> Plan {
    Plan::Sql { sql, write: true, found_rows: None }
}

/// `rowid IN (SELECT rowid FROM t WHERE ... ORDER BY ... LIMIT n)`: UPDATE
/// and DELETE with ORDER BY / LIMIT, which stock SQLite lacks.
fn rowid_subquery(
    table: &str,
    selection: Option<Expr>,
    order: &[sqlparser::ast::OrderByExpr],
    limit: Option<&Expr>,
) -> Result<Expr, DbError> {
    let mut sub = format!("SELECT rowid FROM {table}");
    if let Some(w) = selection {
        sub.push_str(&format!(" WHERE {w}"));
    }
    if !order.is_empty() {
        let o: Vec<String> = order.iter().map(|o| o.to_string()).collect();
        sub.push_str(&format!(" ORDER BY {}", o.join(", ")));
    }
    if let Some(l) = limit {
        sub.push_str(&format!(" LIMIT {l}"));
    }
    Parser::new(&MySqlDialect {})
        .try_with_sql(&format!("rowid IN ({sub})"))
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| DbError::internal(format!("cannot rewrite ORDER BY/LIMIT of UPDATE or DELETE: {e}")))
}

/// `INSERT INTO t SET a = 1, b = 2` → `INSERT INTO t (a, b) VALUES (1, 2)`.
fn set_form_to_values(ins: &mut sqlparser::ast::Insert) -> Result<(), DbError> {
    let mut columns = Vec::new();
    let mut row = Vec::new();
    for a in std::mem::take(&mut ins.assignments) {
        match a.target {
            AssignmentTarget::ColumnName(c) => columns.push(c),
            AssignmentTarget::Tuple(_) => return Err(DbError::unsupported("INSERT ... SET (a, b) = ...")),
        }
        row.push(a.value);
    }
    ins.columns = columns;
    ins.source = Some(Box::new(sqlparser::ast::Query {
        with: None,
        body: Box::new(SetExpr::Values(Values {
            explicit_row: false,
            value_keyword: false,
            rows: vec![sqlparser::ast::Parens::with_empty_span(row)],
        })),
        order_by: None,
        limit_clause: None,
        fetch: None,
        locks: vec![],
        for_clause: None,
        settings: None,
        format_clause: None,
        pipe_operators: vec![],
    }));
    Ok(())
}

/// `VALUES(col)` in ON DUPLICATE KEY UPDATE → `excluded.col`.
fn values_to_excluded(e: &mut Expr) {
    let _ = sqlparser::ast::visit_expressions_mut(e, |x| {
        if let Expr::Function(f) = x {
            if f.name.to_string().eq_ignore_ascii_case("values") {
                if let sqlparser::ast::FunctionArguments::List(l) = &f.args {
                    if let [sqlparser::ast::FunctionArg::Unnamed(sqlparser::ast::FunctionArgExpr::Expr(
                        Expr::Identifier(c),
                    ))] = l.args.as_slice()
                    {
                        *x = Expr::CompoundIdentifier(vec![sqlparser::ast::Ident::new("excluded"), c.clone()]);
                    }
                }
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}

fn use_name(u: &sqlparser::ast::Use) -> String {
    let text = u.to_string();
    text.trim_start_matches("USE ").trim_matches('`').to_string()
}

/// SET statements: session variables (autocommit included) and SET NAMES.
fn set_plan(set: &sqlparser::ast::Set, vars: &Variables<'_>) -> Result<Plan, DbError> {
    use sqlparser::ast::Set as S;
    let assignments: Vec<(String, &Expr)> = match set {
        S::SingleAssignment { variable, values, .. } => {
            vec![(variable.to_string(), values.first().ok_or_else(|| DbError::syntax("SET without a value"))?)]
        }
        S::MultipleAssignments { assignments } => assignments.iter().map(|a| (a.name.to_string(), &a.value)).collect(),
        S::SetNames { .. } | S::SetNamesDefault {} | S::SetTransaction { .. } | S::SetTimeZone { .. } => {
            return Ok(Plan::Ok)
        }
        other => return Err(DbError::unsupported(other)),
    };
    let mut out = Vec::new();
    for (name, value) in assignments {
        let name = name.to_ascii_lowercase();
        let name = name.trim_start_matches("@@").trim_start_matches("session.").trim_start_matches("global.");
        let name =
            name.trim_start_matches("session ").trim_start_matches("global ").trim_start_matches("local ").to_string();
        if name.starts_with('@') {
            return Err(DbError::unsupported(format!("user variable {name}")));
        }
        let mut value = value.clone();
        expr::rewrite(&mut value, vars)?;
        out.push((name, constant(&value)?));
    }
    Ok(Plan::Set(out))
}

/// The value of a constant expression in SET.
fn constant(e: &Expr) -> Result<Value, DbError> {
    Ok(match e {
        Expr::Value(v) => match &v.value {
            SqlValue::Number(n, _) => n.parse::<i64>().map(Value::Integer).unwrap_or_else(|_| Value::Text(n.clone())),
            SqlValue::SingleQuotedString(s) | SqlValue::DoubleQuotedString(s) => Value::Text(s.clone()),
            SqlValue::Boolean(b) => Value::Integer(*b as i64),
            SqlValue::Null => Value::Null,
            other => Value::Text(other.to_string()),
        },
        Expr::Identifier(i) => match i.value.to_ascii_uppercase().as_str() {
            "ON" | "TRUE" => Value::Integer(1),
            "OFF" | "FALSE" => Value::Integer(0),
            _ => Value::Text(i.value.clone()),
        },
        Expr::UnaryOp { op: sqlparser::ast::UnaryOperator::Minus, expr } => match constant(expr)? {
            Value::Integer(n) => Value::Integer(-n),
            other => other,
        },
        other => Value::Text(other.to_string()),
    })
}
