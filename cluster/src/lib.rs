//! Clustering across machines. Lands with its own issue; empty until then.

#![warn(missing_docs)]
