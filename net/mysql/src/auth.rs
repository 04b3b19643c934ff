//! Authentication: the 20-byte scramble, `mysql_native_password` and
//! `caching_sha2_password` checks. The server knows each user's password
//! (from `db.users`), so it recomputes what the client must have sent.

use sha1::Sha1;
use sha2::Sha256;

/// `mysql_native_password`.
pub const NATIVE: &str = "mysql_native_password";
/// `caching_sha2_password`.
pub const CACHING_SHA2: &str = "caching_sha2_password";

/// A fresh scramble: 20 random bytes, none of them NUL (it travels as a
/// NUL-terminated string).
pub fn scramble() -> [u8; 20] {
    let mut s = [0u8; 20];
    if getrandom::fill(&mut s).is_err() {
        // No entropy source is no reason to refuse logins; mix the clock.
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        for (i, b) in s.iter_mut().enumerate() {
            *b = (t >> (i % 16 * 8)) as u8 ^ i as u8;
        }
    }
    for b in &mut s {
        *b = (*b & 0x7f).max(1);
    }
    s
}

/// SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password))).
pub fn native_token(password: &[u8], scramble: &[u8]) -> Vec<u8> {
    token::<Sha1>(password, scramble, true)
}

/// SHA256(password) XOR SHA256(SHA256(SHA256(password)) + scramble).
pub fn sha2_token(password: &[u8], scramble: &[u8]) -> Vec<u8> {
    token::<Sha256>(password, scramble, false)
}

/// H(password) XOR H(mix of H(H(password)) and the scramble): the
/// scramble first for mysql_native_password, last for caching_sha2.
fn token<H: sha1::Digest>(password: &[u8], scramble: &[u8], scramble_first: bool) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let stage1 = H::digest(password);
    let stage2 = H::digest(&stage1);
    let mut h = H::new();
    if scramble_first {
        h.update(scramble);
        h.update(&stage2);
    } else {
        h.update(&stage2);
        h.update(scramble);
    }
    let mix = h.finalize();
    stage1.iter().zip(mix.iter()).map(|(a, b)| a ^ b).collect()
}

/// Whether `response` proves knowledge of `password` under `plugin`.
pub fn verify(plugin: &str, password: &str, scramble: &[u8], response: &[u8]) -> bool {
    let expected = match plugin {
        NATIVE => native_token(password.as_bytes(), scramble),
        CACHING_SHA2 => sha2_token(password.as_bytes(), scramble),
        _ => return false,
    };
    constant_time_eq(&expected, response)
}

/// A cleartext password (caching_sha2 full authentication), NUL-terminated
/// by the client.
pub fn verify_cleartext(password: &str, response: &[u8]) -> bool {
    let given = response.strip_suffix(&[0]).unwrap_or(response);
    constant_time_eq(password.as_bytes(), given)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_check_the_password() {
        let s = scramble();
        assert!(s.iter().all(|b| *b != 0));
        let t = native_token(b"secret", &s);
        assert_eq!(t.len(), 20);
        assert!(verify(NATIVE, "secret", &s, &t));
        assert!(!verify(NATIVE, "secreT", &s, &t));
        let t = sha2_token(b"secret", &s);
        assert_eq!(t.len(), 32);
        assert!(verify(CACHING_SHA2, "secret", &s, &t));
        assert!(verify(NATIVE, "", &s, b""));
        assert!(!verify(NATIVE, "", &s, b"x"));
    }
}
