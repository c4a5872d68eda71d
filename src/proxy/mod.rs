//! The reverse proxy: listener, path ownership, header rewriting and forwarding to NetBox.

use std::future::Future;
use std::pin::Pin;

use hyper::body::Incoming;

use crate::body::BoxBody;

pub mod context;
mod forward;
pub mod headers;
mod health;
mod listener;
pub mod response;
pub mod routing;
mod service;
pub mod upstream;

pub use context::{ApiPrefix, OwnedRoute, PublicOrigin, RequestContext};
pub use listener::{Server, ServerError};
pub use upstream::{Upstream, UpstreamError};

/// The part of the service the proxy does not forward: the secrets API.
pub trait OwnedHandler: Send + Sync + 'static {
    /// Handles a request under one of the secrets API prefixes.
    fn handle(
        &self,
        req: http::Request<Incoming>,
        ctx: RequestContext,
    ) -> Pin<Box<dyn Future<Output = http::Response<BoxBody>> + Send + '_>>;

    /// Tells whether the handler can serve, for example whether its store is healthy.
    fn ready(&self) -> Pin<Box<dyn Future<Output = bool> + Send + '_>>;
}
