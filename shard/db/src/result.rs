//! What a statement returns: a result set with MySQL column types, or a
//! count of affected rows.

pub use rusqlite::types::Value;

/// MySQL column types (protocol codes), as announced in column definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ColumnType {
    /// TINYINT.
    Tiny = 0x01,
    /// SMALLINT.
    Short = 0x02,
    /// INT.
    Long = 0x03,
    /// FLOAT.
    Float = 0x04,
    /// DOUBLE.
    Double = 0x05,
    /// A column that is always NULL.
    Null = 0x06,
    /// TIMESTAMP.
    Timestamp = 0x07,
    /// BIGINT.
    LongLong = 0x08,
    /// MEDIUMINT.
    Int24 = 0x09,
    /// DATE.
    Date = 0x0a,
    /// TIME.
    Time = 0x0b,
    /// DATETIME.
    DateTime = 0x0c,
    /// YEAR.
    Year = 0x0d,
    /// JSON.
    Json = 0xf5,
    /// DECIMAL.
    NewDecimal = 0xf6,
    /// TEXT and BLOB of every size.
    Blob = 0xfc,
    /// VARCHAR, VARBINARY.
    VarString = 0xfd,
    /// CHAR, BINARY, ENUM, SET.
    String = 0xfe,
}

/// Column definition flags.
pub mod flags {
    /// A BLOB or TEXT column.
    pub const BLOB: u16 = 16;
    /// UNSIGNED.
    pub const UNSIGNED: u16 = 32;
    /// Binary collation.
    pub const BINARY: u16 = 128;
    /// A numeric column.
    pub const NUM: u16 = 32768;
}

/// Character set numbers sent in column definitions.
pub const CHARSET_UTF8MB4: u16 = 45;
/// The binary character set (numbers, blobs).
pub const CHARSET_BINARY: u16 = 63;

/// One column of a result set.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The column's name (or alias).
    pub name: String,
    /// The table it comes from, when known.
    pub table: String,
    /// Its MySQL type.
    pub kind: ColumnType,
    /// Column flags ([`flags`]).
    pub flags: u16,
    /// The character set number.
    pub charset: u16,
    /// The display length.
    pub length: u32,
    /// Decimals (31 for floating point of unspecified precision).
    pub decimals: u8,
}

impl Column {
    /// A column typed from its SQLite declared type (the MySQL type kept
    /// verbatim at CREATE TABLE), or, for an expression, from its first value.
    pub fn typed(name: &str, decl: Option<&str>, first: Option<&Value>) -> Column {
        let (kind, mut fl) = match decl {
            Some(d) => type_of_decl(d),
            None => type_of_value(first),
        };
        if matches!(kind, ColumnType::Blob) {
            fl |= flags::BLOB;
        }
        let binary = is_numeric(kind) || fl & flags::BINARY != 0;
        Column {
            name: name.to_string(),
            table: String::new(),
            kind,
            flags: fl,
            charset: if binary { CHARSET_BINARY } else { CHARSET_UTF8MB4 },
            length: default_length(kind),
            decimals: if matches!(kind, ColumnType::Double | ColumnType::Float) { 31 } else { 0 },
        }
    }

    /// A text column, for results made up by the server (SHOW ...).
    pub fn text(name: &str) -> Column {
        Column::typed(name, Some("varchar(255)"), None)
    }

    /// A BIGINT column, for results made up by the server.
    pub fn int(name: &str) -> Column {
        Column::typed(name, Some("bigint"), None)
    }
}

fn is_numeric(kind: ColumnType) -> bool {
    use ColumnType::*;
    matches!(kind, Tiny | Short | Long | Float | Double | LongLong | Int24 | Year | NewDecimal)
}

fn default_length(kind: ColumnType) -> u32 {
    use ColumnType::*;
    match kind {
        Tiny => 4,
        Short => 6,
        Int24 => 9,
        Long => 11,
        LongLong => 20,
        Float => 12,
        Double => 22,
        NewDecimal => 65,
        Date => 10,
        Time => 10,
        DateTime | Timestamp => 19,
        Year => 4,
        Blob => 4_294_967_295,
        _ => 1020,
    }
}

/// The MySQL type (and flags) of a declared column type such as
/// `bigint(20) unsigned` or `varchar(255)`.
pub fn type_of_decl(decl: &str) -> (ColumnType, u16) {
    use ColumnType::*;
    let lower = decl.to_ascii_lowercase();
    let base: std::string::String = lower.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    let unsigned = if lower.contains("unsigned") { flags::UNSIGNED } else { 0 };
    let num = flags::NUM | unsigned;
    match base.as_str() {
        "tinyint" | "bool" | "boolean" | "bit" => (Tiny, num),
        "smallint" => (Short, num),
        "mediumint" => (Int24, num),
        "int" => (Long, num),
        // AUTO_INCREMENT columns are declared INTEGER (SQLite's rowid).
        "integer" => (LongLong, num),
        "bigint" => (LongLong, num),
        "float" => (Float, num),
        "double" | "real" => (Double, num),
        "decimal" | "numeric" | "dec" | "fixed" => (NewDecimal, num),
        "date" => (Date, flags::BINARY),
        "datetime" => (DateTime, flags::BINARY),
        "timestamp" => (Timestamp, flags::BINARY),
        "time" => (Time, flags::BINARY),
        "year" => (Year, flags::NUM | flags::UNSIGNED),
        "json" => (Json, flags::BLOB | flags::BINARY),
        "char" | "enum" | "set" => (String, 0),
        "binary" => (String, flags::BINARY),
        "varbinary" => (VarString, flags::BINARY),
        b if b.ends_with("blob") => (Blob, flags::BINARY),
        b if b.ends_with("text") || b == "clob" => (Blob, 0),
        _ => (VarString, 0),
    }
}

/// The MySQL type of an expression column, guessed from its first value.
pub fn type_of_value(v: Option<&Value>) -> (ColumnType, u16) {
    match v {
        Some(Value::Integer(_)) => (ColumnType::LongLong, flags::NUM),
        Some(Value::Real(_)) => (ColumnType::Double, flags::NUM),
        Some(Value::Blob(_)) => (ColumnType::Blob, flags::BINARY),
        _ => (ColumnType::VarString, 0),
    }
}

/// A result set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    /// Its columns.
    pub columns: Vec<Column>,
    /// Its rows, each as long as `columns`.
    pub rows: Vec<Vec<Value>>,
}

/// What one statement did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A result set.
    Rows(Rows),
    /// A statement without one: rows affected and the id it generated.
    Done {
        /// Rows changed.
        affected: u64,
        /// The AUTO_INCREMENT value generated, or 0.
        last_insert_id: u64,
    },
}

impl Outcome {
    /// A statement that changed nothing.
    pub fn ok() -> Outcome {
        Outcome::Done { affected: 0, last_insert_id: 0 }
    }
}
