//! The server's side of the connection phase: the Handshake v10 greeting
//! and the auth switch request.

use ephpm_db::vars::SERVER_VERSION;

use super::packet::{Out, UTF8MB4_GENERAL_CI};

/// The initial handshake packet (protocol version 10), offering
/// mysql_native_password and the capabilities `caps`.
pub fn greeting(out: &mut Out, connection_id: u32, scramble: &[u8; 20], caps: u32) {
    out.begin();
    out.u8(10);
    out.bytes(SERVER_VERSION.as_bytes());
    out.u8(0);
    out.u32(connection_id);
    out.bytes(&scramble[..8]);
    out.u8(0);
    out.u16(caps as u16);
    out.u8(UTF8MB4_GENERAL_CI);
    out.u16(super::resultset::status::AUTOCOMMIT);
    out.u16((caps >> 16) as u16);
    out.u8(21);
    out.bytes(&[0; 10]);
    out.bytes(&scramble[8..]);
    out.u8(0);
    out.bytes(super::auth::NATIVE.as_bytes());
    out.u8(0);
    out.end();
}

/// AuthSwitchRequest: asks the client to answer `plugin` with `scramble`.
pub fn auth_switch(out: &mut Out, plugin: &str, scramble: &[u8; 20]) {
    out.begin();
    out.u8(0xfe);
    out.bytes(plugin.as_bytes());
    out.u8(0);
    out.bytes(scramble);
    out.u8(0);
    out.end();
}
