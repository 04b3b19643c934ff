//! Fuzzes the MySQL packet decoder: framing, the handshake response, every
//! command packet and COM_STMT_EXECUTE's parameters, and the MySQL → SQLite
//! translation of COM_QUERY text. None may panic, whatever the bytes.
#![no_main]

use ephpm_mysql::command::{self, caps, Command};
use ephpm_mysql::packet;
use ephpm_db::translate;
use ephpm_db::vars::Variables;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((_, payload, used))) = packet::take(rest, 1 << 20) {
        rest = &rest[used..];
        let _ = command::handshake_response(&payload);
        match command::command(&payload, caps::SERVER) {
            Ok(Command::Execute { rest, .. }) => {
                let n = rest.first().map_or(0, |b| *b as usize % 8);
                let mut types = Vec::new();
                let _ = command::execute_params(&rest, n, &mut types, &[]);
            }
            Ok(Command::Query(sql)) => {
                let vars = std::collections::HashMap::new();
                let v = Variables { database: "fuzz", session: &vars, autocommit: true };
                for stmt in translate::split(&sql) {
                    let _ = translate::translate(stmt, &v);
                }
            }
            _ => {}
        }
    }
});
