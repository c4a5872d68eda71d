//! Calls to NetBox on behalf of a caller: credential checks and assigned-object lookups.
//!
//! Every call carries the caller's own credentials and the forwarding headers of the original
//! request, so NetBox applies its own permissions, token `allowed_ips` and public URLs.

mod auth;
mod cache;
mod client;
mod credentials;
mod csrf;
mod objects;

pub use auth::{AuthFailure, AuthSettings, Authenticator, Caller, CallerAuth, Refusal, UserInfo};
pub use client::{CallCredential, NetBoxClient, NetBoxError, Reply, RequestOrigin};
pub use credentials::{cookie_pairs, Credentials, TokenVersion};
pub use csrf::check_csrf;
pub use objects::{ObjectResolver, ObjectTypeError};
