//! The response and request body type shared by the proxy and the API handlers.

use bytes::Bytes;
use http_body_util::{combinators::BoxBody as InnerBoxBody, BodyExt, Empty, Full};

/// Boxed error carried by streamed bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A type-erased body: streamed from NetBox or built in memory by a handler.
pub type BoxBody = InnerBoxBody<Bytes, BoxError>;

/// Wraps bytes held in memory into a [`BoxBody`].
pub fn full(bytes: impl Into<Bytes>) -> BoxBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// Returns a body with no bytes.
pub fn empty() -> BoxBody {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}
