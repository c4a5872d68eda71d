//! Per-request dispatch: health endpoints, the secrets API or NetBox, inside a logged span.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use tracing::{field, Instrument};

use super::context::{PublicOrigin, RequestContext};
use super::headers::{self, ForwardSettings, ForwardedView};
use super::routing::{Destination, HealthCheck, Router};
use super::upstream::Upstream;
use super::{forward, health, response, OwnedHandler};
use crate::body::BoxBody;
use crate::config::{parse_origin_url, Config};
use crate::shutdown::Watcher;

/// Facts about one accepted connection, passed to each of its requests.
#[derive(Clone)]
pub struct Connection {
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// `https` on a TLS listener, `http` otherwise.
    pub scheme: &'static str,
    pub watcher: Watcher,
}

/// Everything a request needs, shared by all connections.
pub struct Proxy {
    router: Router,
    base_prefix: String,
    forward_settings: ForwardSettings,
    upstream: Upstream,
    handler: Arc<dyn OwnedHandler>,
}

impl Proxy {
    pub fn new(config: &Config, upstream: Upstream, handler: Arc<dyn OwnedHandler>) -> Proxy {
        let base_prefix = config.base_prefix();
        let public_origin = config
            .public_url
            .as_deref()
            .and_then(|url| parse_origin_url(url).ok())
            .map(|(scheme, host)| PublicOrigin { scheme, host });

        Proxy {
            router: Router::new(&base_prefix),
            base_prefix,
            forward_settings: ForwardSettings {
                trusted_proxies: config.trusted_proxies.clone(),
                public_origin,
            },
            upstream,
            handler,
        }
    }

    /// Handles one request inside a span carrying method, route template, status and latency.
    pub async fn handle(&self, mut req: Request<Incoming>, conn: Connection) -> Response<BoxBody> {
        let started = Instant::now();
        headers::mark_sensitive(req.headers_mut());

        let destination = self.router.route(req.uri().path());
        let span = tracing::info_span!(
            "request",
            method = %req.method(),
            route = %destination.template(),
            status = field::Empty,
            latency_ms = field::Empty,
        );

        async move {
            let response = self.dispatch(req, destination, conn).await;

            let span = tracing::Span::current();
            span.record("status", response.status().as_u16());
            span.record("latency_ms", started.elapsed().as_millis() as u64);
            tracing::info!("request finished");
            response
        }
        .instrument(span)
        .await
    }

    async fn dispatch(
        &self,
        req: Request<Incoming>,
        destination: Destination,
        conn: Connection,
    ) -> Response<BoxBody> {
        if req.method() == Method::CONNECT || !req.uri().path().starts_with('/') {
            return response::detail(
                StatusCode::BAD_REQUEST,
                "The request target must be a path.",
            );
        }

        let view = ForwardedView::of(
            req.headers(),
            req.uri(),
            conn.peer,
            conn.local,
            conn.scheme,
            &self.forward_settings,
        );
        match destination {
            Destination::Forward => {
                forward::forward(&self.upstream, req, &view, conn.watcher).await
            }
            Destination::Owned(route) => {
                let ctx = RequestContext {
                    client_ip: view.client_ip,
                    origin: view.origin,
                    base_path: self.base_prefix.clone(),
                    route,
                };
                let mut response = self.handler.handle(req, ctx).await;
                headers::mark_sensitive(response.headers_mut());
                response
            }
            Destination::Health(check) => self.health(check).await,
        }
    }

    async fn health(&self, check: HealthCheck) -> Response<BoxBody> {
        match check {
            HealthCheck::Live => health::live(),
            HealthCheck::Ready => {
                health::ready(self.handler.as_ref(), &self.upstream, &self.base_prefix).await
            }
            HealthCheck::Unknown => health::unknown(),
        }
    }
}
