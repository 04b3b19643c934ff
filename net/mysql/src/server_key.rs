//! The server's RSA key pair for caching_sha2_password's full
//! authentication without TLS: the client asks for the public key and
//! sends its password encrypted with RSA-OAEP (SHA-1), XORed with the
//! scramble. One key per process, generated in the background at start.

use std::sync::OnceLock;

use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::{Generate, PrivateKey};

/// The key pair and its public half as PEM.
pub struct ServerKey {
    private: PrivateKey,
    /// The public key, PEM-encoded (SubjectPublicKeyInfo).
    pub pem: String,
}

static KEY: OnceLock<Option<ServerKey>> = OnceLock::new();

/// Starts generating the key on its own thread so the first full
/// authentication does not wait for it.
pub fn warm_up() {
    let _ = std::thread::Builder::new().name("ephpm-db-rsa".into()).spawn(|| {
        let _ = shared();
    });
}

/// The key (generated on first use; `None` if generation failed).
pub fn shared() -> Option<&'static ServerKey> {
    KEY.get_or_init(|| {
        let private = PrivateKey::generate();
        let pem = private.to_public_key().to_public_key_pem(LineEnding::LF).ok()?;
        Some(ServerKey { private, pem })
    })
    .as_ref()
}

impl ServerKey {
    /// The password a client sent encrypted: OAEP-decrypted, un-XORed
    /// with the scramble, its trailing NUL removed.
    pub fn password(&self, ciphertext: &[u8], scramble: &[u8]) -> Option<Vec<u8>> {
        let mut plain = self.private.oaep_decrypt::<sha1::Sha1>(ciphertext).ok()?;
        for (i, b) in plain.iter_mut().enumerate() {
            *b ^= scramble[i % scramble.len()];
        }
        if plain.last() == Some(&0) {
            plain.pop();
        }
        Some(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decrypts_what_a_client_encrypts() {
        let key = shared().expect("a key");
        assert!(key.pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        let scramble = b"abcdefghijklmnopqrst";
        let mut msg = b"secret\0".to_vec();
        for (i, b) in msg.iter_mut().enumerate() {
            *b ^= scramble[i % scramble.len()];
        }
        let ct = key.private.to_public_key().oaep_encrypt::<sha1::Sha1>(&msg).unwrap();
        assert_eq!(key.password(&ct, scramble).as_deref(), Some(&b"secret"[..]));
        assert_eq!(key.password(b"garbage", scramble), None);
    }
}
