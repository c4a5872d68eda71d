//! Forwarding to NetBox: raw target, end-to-end headers, streamed bodies and upgrades.

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use super::headers::{self, ForwardedView};
use super::response;
use super::upstream::{Upstream, UpstreamError};
use crate::body::{self, BoxBody, BoxError};
use crate::error::chain;
use crate::shutdown::Watcher;

/// Forwards `req` to NetBox and returns NetBox's response with its body streamed through.
///
/// `watcher` keeps shutdown waiting for an upgraded tunnel, if the request becomes one.
pub async fn forward(
    upstream: &Upstream,
    mut req: Request<Incoming>,
    view: &ForwardedView,
    watcher: Watcher,
) -> Response<BoxBody> {
    let protocol = headers::upgrade_protocol(req.headers());
    let client_upgrade = protocol.is_some().then(|| hyper::upgrade::on(&mut req));

    let upstream_req = match upstream_request(upstream, req, view, protocol) {
        Ok(req) => req,
        Err(error) => return response::detail(StatusCode::BAD_REQUEST, &error.to_string()),
    };

    let mut upstream_resp = match upstream.send(upstream_req).await {
        Ok(resp) => resp,
        Err(error) => return upstream_failure(&error),
    };

    match client_upgrade {
        Some(client) if upstream_resp.status() == StatusCode::SWITCHING_PROTOCOLS => {
            let upstream_upgrade = hyper::upgrade::on(&mut upstream_resp);
            tokio::spawn(tunnel(client, upstream_upgrade, watcher));
            switching_protocols(upstream_resp)
        }
        _ => client_response(upstream_resp),
    }
}

/// Turns the client's request into the request for NetBox.
fn upstream_request(
    upstream: &Upstream,
    req: Request<Incoming>,
    view: &ForwardedView,
    protocol: Option<HeaderValue>,
) -> Result<Request<BoxBody>, UpstreamError> {
    let (mut parts, incoming) = req.into_parts();
    let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    parts.uri = upstream.uri_for(target)?;
    parts.version = Version::HTTP_11;

    headers::strip_hop_by_hop(&mut parts.headers);
    // The listener has already sent `100 Continue` to the client when it read the body.
    parts.headers.remove(header::EXPECT);
    if let Some(protocol) = protocol {
        parts.headers.insert(header::UPGRADE, protocol);
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
    headers::rewrite_forwarded(&mut parts.headers, view);

    let body = incoming.map_err(|e| Box::new(e) as BoxError).boxed();
    Ok(Request::from_parts(parts, body))
}

fn client_response(resp: Response<Incoming>) -> Response<BoxBody> {
    let (mut parts, incoming) = resp.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers);
    headers::mark_sensitive(&mut parts.headers);

    let body = incoming.map_err(|e| Box::new(e) as BoxError).boxed();
    Response::from_parts(parts, body)
}

fn switching_protocols(resp: Response<Incoming>) -> Response<BoxBody> {
    let (mut parts, _) = resp.into_parts();
    let protocol = parts.headers.get(header::UPGRADE).cloned();

    headers::strip_hop_by_hop(&mut parts.headers);
    if let Some(protocol) = protocol {
        parts.headers.insert(header::UPGRADE, protocol);
    }
    parts
        .headers
        .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    Response::from_parts(parts, body::empty())
}

/// Copies bytes both ways between the upgraded client and NetBox connections.
async fn tunnel(client: OnUpgrade, upstream: OnUpgrade, watcher: Watcher) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(pair) => pair,
        Err(error) => {
            tracing::debug!(error = %chain(&error), "connection upgrade failed");
            return;
        }
    };

    let mut client = TokioIo::new(client);
    let mut upstream = TokioIo::new(upstream);
    match tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        Ok((sent, received)) => tracing::debug!(sent, received, "upgraded connection closed"),
        Err(error) => tracing::debug!(%error, "upgraded connection failed"),
    }
    drop(watcher);
}

fn upstream_failure(error: &UpstreamError) -> Response<BoxBody> {
    tracing::warn!(error = %chain(error), "upstream request failed");

    if error.is_timeout() {
        response::detail(
            StatusCode::GATEWAY_TIMEOUT,
            "NetBox did not respond in time.",
        )
    } else {
        response::detail(StatusCode::BAD_GATEWAY, "NetBox is unreachable.")
    }
}
