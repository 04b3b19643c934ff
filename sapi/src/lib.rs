//! The PHP embedding (ZTS + embed SAPI). Lands with the PHP issue; empty until then.
