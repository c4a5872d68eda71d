//! A small JSON client for NetBox's REST API that speaks with the caller's credentials.

use std::net::IpAddr;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, COOKIE};
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Limited};

use crate::body;
use crate::proxy::upstream::{Upstream, UpstreamError};

/// Largest NetBox reply the API layer reads into memory.
const MAX_REPLY_BYTES: usize = 16 * 1024 * 1024;

/// Failure to get any response from NetBox.
#[derive(Debug, thiserror::Error)]
pub enum NetBoxError {
    #[error("netbox request failed: {0}")]
    Upstream(#[from] UpstreamError),
    #[error("netbox reply body could not be read: {0}")]
    Body(String),
    #[error("netbox reply is not the expected JSON: {0}")]
    Json(String),
    #[error("invalid request to netbox: {0}")]
    InvalidRequest(String),
}

/// Origin of the original request, repeated to NetBox on every call made for it.
#[derive(Clone, Debug)]
pub struct RequestOrigin {
    /// Client address NetBox must see for token `allowed_ips`.
    pub client_ip: IpAddr,
    /// Public scheme, `http` or `https`, so NetBox writes URLs that point at the proxy.
    pub scheme: String,
    /// Public host and port.
    pub host: String,
}

/// A NetBox reply read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: Option<HeaderValue>,
    pub body: Bytes,
}

impl Reply {
    /// Parses the body as JSON.
    pub fn json(&self) -> Result<serde_json::Value, NetBoxError> {
        serde_json::from_slice(&self.body).map_err(|err| NetBoxError::Json(err.to_string()))
    }
}

/// Credential a call carries: the caller's session cookie or `Authorization` header.
#[derive(Clone, Copy)]
pub enum CallCredential<'a> {
    Session(&'a str),
    Authorization(&'a str),
}

/// Sends API requests to NetBox.
#[derive(Clone)]
pub struct NetBoxClient {
    upstream: Upstream,
}

impl NetBoxClient {
    pub fn new(upstream: Upstream) -> NetBoxClient {
        NetBoxClient { upstream }
    }

    /// Sends a request without a body and reads the whole reply.
    pub async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        credential: CallCredential<'_>,
        origin: &RequestOrigin,
    ) -> Result<Reply, NetBoxError> {
        let request = build_request(&self.upstream, method, path_and_query, credential, origin)?;

        let response = self.upstream.send(request).await?;
        let status = response.status();
        let content_type = response.headers().get(CONTENT_TYPE).cloned();

        let collected = Limited::new(response.into_body(), MAX_REPLY_BYTES)
            .collect()
            .await
            .map_err(|err| NetBoxError::Body(err.to_string()))?;

        Ok(Reply {
            status,
            content_type,
            body: collected.to_bytes(),
        })
    }

    /// Sends a GET request.
    pub async fn get(
        &self,
        path_and_query: &str,
        credential: CallCredential<'_>,
        origin: &RequestOrigin,
    ) -> Result<Reply, NetBoxError> {
        self.call(Method::GET, path_and_query, credential, origin)
            .await
    }
}

fn build_request(
    upstream: &Upstream,
    method: Method,
    path_and_query: &str,
    credential: CallCredential<'_>,
    origin: &RequestOrigin,
) -> Result<Request<body::BoxBody>, NetBoxError> {
    let uri = upstream.uri_for(path_and_query)?;
    let client_ip = origin.client_ip.to_string();

    let mut builder = Request::builder()
        .method(method)
        .uri(uri)
        .header(ACCEPT, "application/json")
        .header("x-forwarded-for", &client_ip)
        .header("x-real-ip", &client_ip)
        .header("x-forwarded-host", &origin.host)
        .header("x-forwarded-proto", &origin.scheme);

    builder = match credential {
        CallCredential::Session(session) => {
            builder.header(COOKIE, sensitive(&format!("sessionid={session}"))?)
        }
        CallCredential::Authorization(value) => builder.header(AUTHORIZATION, sensitive(value)?),
    };

    builder
        .body(body::empty())
        .map_err(|err| NetBoxError::InvalidRequest(err.to_string()))
}

fn sensitive(value: &str) -> Result<HeaderValue, NetBoxError> {
    let mut header = HeaderValue::from_str(value).map_err(|_| {
        NetBoxError::InvalidRequest("credential is not a valid header value".into())
    })?;
    header.set_sensitive(true);
    Ok(header)
}
