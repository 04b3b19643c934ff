//! Expression rewrites from MySQL to SQLite: functions SQLite names
//! differently, INTERVAL arithmetic, CAST targets, double-quoted strings,
//! `@@variables`, and table names (schema prefixes, information_schema).

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, DataType, DateTimeField, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList,
    FunctionArguments, Ident, ObjectName, ObjectNamePart, Value, ValueWithSpan, VisitMut,
};

use super::super::error::DbError;
use super::super::vars::Variables;

/// Rewrites every expression and table name of `node` for SQLite.
pub fn rewrite<V: VisitMut>(node: &mut V, vars: &Variables<'_>) -> Result<(), DbError> {
    let mut failure = None;
    let _ = sqlparser::ast::visit_expressions_mut(node, |e| {
        if let Err(err) = rewrite_expr(e, vars) {
            failure = Some(err);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    if let Some(err) = failure {
        return Err(err);
    }
    let _ = sqlparser::ast::visit_relations_mut(node, |name| {
        rename_table(name);
        ControlFlow::<()>::Continue(())
    });
    Ok(())
}

/// `db.table` → `table` (one SQLite file holds every database);
/// `information_schema.x` → the per-connection view `ephpm_is_x`.
pub fn rename_table(name: &mut ObjectName) {
    if name.0.len() < 2 {
        return;
    }
    let schema = part(&name.0[0]).unwrap_or_default();
    let table = name.0.pop().expect("two parts");
    if schema.eq_ignore_ascii_case("information_schema") {
        let t = part(&table).unwrap_or_default().to_ascii_lowercase();
        *name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new(format!("ephpm_is_{t}")))]);
    } else {
        *name = ObjectName(vec![table]);
    }
}

/// Words MySQL takes as plain names that SQLite refuses as a bare column
/// name or alias (`SELECT transaction FROM payments`); they are quoted.
const SQLITE_ONLY_KEYWORDS: [&str; 7] =
    ["autoincrement", "cast", "isnull", "nothing", "notnull", "raise", "transaction"];

/// Quotes an unquoted name SQLite would read as a keyword.
pub fn quote_if_keyword(id: &mut Ident) {
    if id.quote_style.is_none() && SQLITE_ONLY_KEYWORDS.iter().any(|k| id.value.eq_ignore_ascii_case(k)) {
        id.quote_style = Some('`');
    }
}

/// [`quote_if_keyword`] on every part of a (column) name.
pub fn quote_name_if_keyword(name: &mut ObjectName) {
    for part in &mut name.0 {
        if let ObjectNamePart::Identifier(id) = part {
            quote_if_keyword(id);
        }
    }
}

fn part(p: &ObjectNamePart) -> Option<String> {
    match p {
        ObjectNamePart::Identifier(i) => Some(i.value.clone()),
        _ => None,
    }
}

fn rewrite_expr(e: &mut Expr, vars: &Variables<'_>) -> Result<(), DbError> {
    match e {
        Expr::Value(v) => {
            if let Value::DoubleQuotedString(s) = &v.value {
                v.value = Value::SingleQuotedString(s.clone());
            }
        }
        Expr::Identifier(id) if id.value.starts_with("@@") => {
            *e = literal(vars.system(&id.value[2..])?);
        }
        Expr::CompoundIdentifier(parts) if parts.first().is_some_and(|p| p.value.starts_with("@@")) => {
            let name = parts.last().map(|p| p.value.clone()).unwrap_or_default();
            *e = literal(vars.system(&name)?);
        }
        Expr::Identifier(id) if id.value.starts_with('@') => {
            return Err(DbError::unsupported(format!("user variable {}", id.value)));
        }
        Expr::Cast { data_type, .. } => {
            if let Some(t) = cast_target(data_type) {
                *data_type = DataType::Custom(ObjectName::from(vec![Ident::new(t)]), vec![]);
            }
        }
        Expr::BinaryOp { left, op, right } if matches!(op, BinaryOperator::Plus | BinaryOperator::Minus) => {
            if let Expr::Interval(iv) = right.as_mut() {
                let sign = if matches!(op, BinaryOperator::Minus) { -1 } else { 1 };
                let (n, unit) = interval_parts(iv.value.as_ref().clone(), iv.leading_field.as_ref())?;
                *e = call("ephpm_date_add", vec![left.as_ref().clone(), scale(n, sign), string(unit)]);
            }
        }
        Expr::Function(f) => {
            if let Some(new) = rewrite_function(f)? {
                *e = new;
            }
        }
        // MySQL's LIKE escapes with `\` unless told otherwise; SQLite's
        // LIKE has no escape character by default.
        Expr::Like { escape_char: esc @ None, .. } | Expr::ILike { escape_char: esc @ None, .. } => {
            *esc = Some(Box::new(string("\\")));
        }
        Expr::MatchAgainst { .. } => return Err(DbError::unsupported("MATCH ... AGAINST")),
        Expr::Identifier(id) => quote_if_keyword(id),
        Expr::CompoundIdentifier(parts) => parts.iter_mut().for_each(quote_if_keyword),
        _ => {}
    }
    Ok(())
}

/// The SQLite type name a MySQL CAST target maps to.
fn cast_target(t: &DataType) -> Option<&'static str> {
    let s = t.to_string().to_ascii_uppercase();
    let s = s.trim_start_matches("SIGNED ").trim_start_matches("UNSIGNED ");
    Some(match s {
        "SIGNED" | "UNSIGNED" | "SIGNED INTEGER" | "UNSIGNED INTEGER" | "INT" | "INTEGER" | "BIGINT" => "INTEGER",
        x if x.starts_with("CHAR") || x.starts_with("NCHAR") || x.starts_with("VARCHAR") => "TEXT",
        x if x.starts_with("DECIMAL") => "NUMERIC",
        "DOUBLE" | "FLOAT" | "REAL" => "REAL",
        "DATE" | "DATETIME" | "TIME" | "JSON" => "TEXT",
        x if x.starts_with("BINARY") => "BLOB",
        _ => return None,
    })
}

fn args_of(f: &Function) -> Vec<Expr> {
    match &f.args {
        FunctionArguments::List(list) => list
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn rewrite_function(f: &mut Function) -> Result<Option<Expr>, DbError> {
    let name = f.name.to_string().to_ascii_lowercase();
    let renamed = match name.as_str() {
        "if" => "iif",
        "greatest" => "max",
        "least" => "min",
        "char_length" | "character_length" => "length",
        "lcase" => "lower",
        "ucase" => "upper",
        "substring" | "mid" => "substr",
        "now" | "current_timestamp" | "localtime" | "localtimestamp" | "sysdate" => "ephpm_now",
        // Read at run time: a prepared statement outlives a USE.
        "database" | "schema" => "ephpm_database",
        "date_add" | "adddate" | "date_sub" | "subdate" => {
            let args = args_of(f);
            let [date, iv] =
                <[Expr; 2]>::try_from(args).map_err(|_| DbError::syntax(format!("{name} takes two arguments")))?;
            let sign = if name.ends_with("sub") || name == "subdate" { -1 } else { 1 };
            let (n, unit) = match iv {
                Expr::Interval(iv) => interval_parts(*iv.value, iv.leading_field.as_ref())?,
                days => (days, "DAY"),
            };
            return Ok(Some(call("ephpm_date_add", vec![date, scale(n, sign), string(unit)])));
        }
        "locate" | "position" => {
            let mut args = args_of(f);
            if args.len() != 2 {
                return Err(DbError::unsupported("LOCATE with a start position"));
            }
            args.swap(0, 1);
            return Ok(Some(call("instr", args)));
        }
        _ => return Ok(None),
    };
    f.name = ObjectName::from(vec![Ident::new(renamed)]);
    Ok(None)
}

/// The amount and unit of an INTERVAL.
fn interval_parts(value: Expr, unit: Option<&DateTimeField>) -> Result<(Expr, &'static str), DbError> {
    let unit = match unit {
        None | Some(DateTimeField::Day | DateTimeField::Days) => "DAY",
        Some(DateTimeField::Second | DateTimeField::Seconds) => "SECOND",
        Some(DateTimeField::Minute | DateTimeField::Minutes) => "MINUTE",
        Some(DateTimeField::Hour | DateTimeField::Hours) => "HOUR",
        Some(DateTimeField::Week(_) | DateTimeField::Weeks) => "WEEK",
        Some(DateTimeField::Month | DateTimeField::Months) => "MONTH",
        Some(DateTimeField::Year | DateTimeField::Years) => "YEAR",
        Some(other) => return Err(DbError::unsupported(format!("INTERVAL unit {other}"))),
    };
    Ok((value, unit))
}

fn scale(n: Expr, sign: i64) -> Expr {
    if sign > 0 {
        return n;
    }
    Expr::BinaryOp {
        left: Box::new(number(-1)),
        op: BinaryOperator::Multiply,
        right: Box::new(Expr::Nested(Box::new(n))),
    }
}

/// A call of `name` with `args`.
pub fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args.into_iter().map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a))).collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

fn value(v: Value) -> Expr {
    Expr::Value(ValueWithSpan { value: v, span: sqlparser::tokenizer::Span::empty() })
}

fn string(s: impl Into<String>) -> Expr {
    value(Value::SingleQuotedString(s.into()))
}

fn number(n: i64) -> Expr {
    value(Value::Number(n.to_string(), false))
}

/// A literal for a value.
fn literal(v: rusqlite::types::Value) -> Expr {
    use rusqlite::types::Value as V;
    match v {
        V::Null => value(Value::Null),
        V::Integer(n) => number(n),
        V::Real(r) => value(Value::Number(r.to_string(), false)),
        V::Text(s) => string(s),
        V::Blob(b) => string(String::from_utf8_lossy(&b).into_owned()),
    }
}
