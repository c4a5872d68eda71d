//! The netbox-secrets REST API served under `/api/plugins/secrets/` (and the older
//! `/api/secrets/` prefix), with the plugin's paths, fields, status codes and errors.

mod call;
mod error;
mod fields;
mod pagination;
mod policy;
mod request;
mod router;
mod service;
mod session;
mod urls;

mod activation;
mod bulk;
mod filters;
mod key_pair;
mod legacy;
mod metadata;
mod related;
mod render;
mod role_input;
mod root;
mod secret_roles;
mod secrets;
mod session_keys;
mod tags;
mod user_keys;
mod wipe;

pub use error::ApiError;
pub use pagination::PageSettings;
pub use policy::{Action, Model, Policy, Scope};
pub use service::{ApiService, ApiSettings};
