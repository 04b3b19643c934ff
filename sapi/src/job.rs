//! A request as the PHP thread needs it: every string in one reusable
//! arena, NUL-terminated for C, so handing a request to PHP allocates
//! nothing once the arena has grown to its working size.

/// The request fields the SAPI reads directly (beyond `$_SERVER`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Field {
    /// REQUEST_METHOD.
    Method,
    /// The request target as sent.
    RequestUri,
    /// The query string without `?`.
    QueryString,
    /// The script to run (absolute path).
    ScriptFilename,
    /// The Content-Type header.
    ContentType,
    /// The Authorization header.
    Authorization,
    /// Every Cookie header, joined with "; ".
    Cookies,
}

const FIELDS: usize = 7;
const NONE: u32 = u32::MAX;

/// One `$_SERVER` entry: offsets of its NUL-terminated name and value.
/// The layout is the shim's `ephpm_var`, which C reads straight from here.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(crate) struct Var {
    pub(crate) name: u32,
    pub(crate) value: u32,
    pub(crate) value_len: u32,
}

/// A request for a PHP thread, filled by the HTTP side and reused.
#[derive(Debug)]
pub struct Job {
    pub(crate) arena: Vec<u8>,
    pub(crate) vars: Vec<Var>,
    fields: [u32; FIELDS],
    /// Content-Length, or -1 when absent.
    pub content_length: i64,
    /// 1000 for HTTP/1.0, 1001 for HTTP/1.1.
    pub proto_num: i32,
    /// Unix time at which the request arrived.
    pub request_time: f64,
    /// Whether body pieces follow the job (false: the body is empty and
    /// nothing more is sent).
    pub body_follows: bool,
    /// How long the PHP thread ran the request (set by the thread).
    pub run_time: std::time::Duration,
}

impl Default for Job {
    fn default() -> Self {
        Job {
            arena: Vec::with_capacity(4096),
            vars: Vec::with_capacity(48),
            fields: [NONE; FIELDS],
            content_length: -1,
            proto_num: 1001,
            request_time: 0.0,
            body_follows: true,
            run_time: std::time::Duration::ZERO,
        }
    }
}

impl Job {
    /// Empties the job, keeping its capacity.
    pub fn clear(&mut self) {
        self.arena.clear();
        self.vars.clear();
        self.fields = [NONE; FIELDS];
        self.content_length = -1;
        self.proto_num = 1001;
        self.request_time = 0.0;
        self.body_follows = true;
        self.run_time = std::time::Duration::ZERO;
    }

    /// Sets a field (bytes after a NUL, which C cannot carry, are dropped).
    pub fn set(&mut self, field: Field, value: &[u8]) {
        self.fields[field as usize] = self.push_cstr(&[value]);
    }

    /// Adds a `$_SERVER` entry.
    pub fn var(&mut self, name: &[u8], value: &[u8]) {
        self.var_parts(name, &[value]);
    }

    /// Adds a `$_SERVER` entry whose value is the concatenation of `parts`.
    pub fn var_parts(&mut self, name: &[u8], parts: &[&[u8]]) {
        let name = self.push_cstr(&[name]);
        let value = self.push_cstr(parts);
        let value_len = self.arena.len() as u32 - 1 - value;
        self.vars.push(Var { name, value, value_len });
    }

    /// Adds `HTTP_<NAME>` for a header (uppercased, `-` → `_`), its value
    /// being `parts` joined.
    pub fn header_var(&mut self, header: &str, parts: &[&[u8]]) {
        let name = self.arena.len() as u32;
        self.arena.extend_from_slice(b"HTTP_");
        self.arena.extend(header.bytes().map(|b| if b == b'-' { b'_' } else { b.to_ascii_uppercase() }));
        self.arena.push(0);
        let value = self.push_cstr(parts);
        let value_len = self.arena.len() as u32 - 1 - value;
        self.vars.push(Var { name, value, value_len });
    }

    /// The offset of a field's C string, if set.
    pub(crate) fn field(&self, field: Field) -> Option<u32> {
        Some(self.fields[field as usize]).filter(|&o| o != NONE)
    }

    /// The value of the `$_SERVER` entry called `name`, if any (last wins).
    pub(crate) fn lookup(&self, name: &[u8]) -> Option<u32> {
        self.vars.iter().rev().find(|v| self.cstr_at(v.name) == name).map(|v| v.value)
    }

    /// The bytes of the C string at `offset`, without its NUL.
    pub(crate) fn cstr_at(&self, offset: u32) -> &[u8] {
        let rest = &self.arena[offset as usize..];
        &rest[..rest.iter().position(|&b| b == 0).unwrap_or(rest.len())]
    }

    fn push_cstr(&mut self, parts: &[&[u8]]) -> u32 {
        let start = self.arena.len() as u32;
        for part in parts {
            let end = part.iter().position(|&b| b == 0).unwrap_or(part.len());
            self.arena.extend_from_slice(&part[..end]);
        }
        self.arena.push(0);
        start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_vars_are_c_strings() {
        let mut job = Job::default();
        job.set(Field::Method, b"POST");
        job.var(b"REQUEST_URI", b"/a?b");
        job.header_var("x-forwarded-for", &[b"1.2.3.4", b", ", b"5.6.7.8"]);
        job.var(b"WEIRD", b"a\0b");
        assert_eq!(job.cstr_at(job.field(Field::Method).unwrap()), b"POST");
        assert_eq!(job.field(Field::Cookies), None);
        assert_eq!(job.cstr_at(job.lookup(b"HTTP_X_FORWARDED_FOR").unwrap()), b"1.2.3.4, 5.6.7.8");
        assert_eq!(job.cstr_at(job.lookup(b"WEIRD").unwrap()), b"a");
        assert_eq!(job.vars[2].value_len, 1);
        job.clear();
        assert!(job.vars.is_empty() && job.field(Field::Method).is_none());
    }
}
