//! netbox-secrets-proxy: a reverse proxy in front of a stock NetBox that serves the
//! netbox-secrets REST API from its own encrypted SQLite store.

pub mod api;
pub mod body;
pub mod config;
pub mod crypto;
pub mod error;
pub mod import_cli;
pub mod netbox;
pub mod proxy;
pub mod shutdown;
pub mod store;
pub mod telemetry;
pub mod tls;
