//! The HTTP client for NetBox: connection pool, TLS, connect and response timeouts.

use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::body::{BoxBody, BoxError};
use crate::config::{parse_origin_url, Config};
use crate::tls::{self, TlsError};

/// Errors from talking to NetBox.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("invalid upstream URL: {0}")]
    InvalidBase(String),

    #[error("invalid request path {0:?}")]
    InvalidPath(String),

    #[error(transparent)]
    Tls(#[from] TlsError),

    #[error("cannot connect to NetBox")]
    Connect(#[source] BoxError),

    #[error("NetBox sent no response headers within {} s", .0.as_secs())]
    Timeout(Duration),

    #[error("request to NetBox failed")]
    Request(#[source] BoxError),
}

impl UpstreamError {
    pub fn is_timeout(&self) -> bool {
        matches!(self, UpstreamError::Timeout(_))
    }
}

/// A cheap-to-clone handle on the pooled NetBox client.
#[derive(Clone)]
pub struct Upstream {
    client: Client<HttpsConnector<HttpConnector>, BoxBody>,
    scheme: Scheme,
    authority: Authority,
    response_timeout: Duration,
}

impl Upstream {
    /// Builds the client for `config.upstream`, with its timeouts and TLS trust.
    pub fn new(config: &Config) -> Result<Upstream, UpstreamError> {
        let (scheme, authority) =
            parse_origin_url(&config.upstream).map_err(UpstreamError::InvalidBase)?;
        let scheme: Scheme = scheme
            .parse()
            .map_err(|_| UpstreamError::InvalidBase(config.upstream.clone()))?;
        let authority: Authority = authority
            .parse()
            .map_err(|_| UpstreamError::InvalidBase(config.upstream.clone()))?;

        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(config.timeouts.connect_secs));
        http.set_nodelay(true);

        let tls_config = tls::client_config(config.upstream_tls.as_ref())?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);

        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(config.timeouts.upstream_idle_secs)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(Upstream {
            client,
            scheme,
            authority,
            response_timeout: config.timeouts.response_secs,
        })
    }

    /// Joins `path_and_query`, which starts with `/`, to the upstream scheme and host. The
    /// BASE_PATH is not added: request paths already carry it.
    pub fn uri_for(&self, path_and_query: &str) -> Result<Uri, UpstreamError> {
        if !path_and_query.starts_with('/') {
            return Err(UpstreamError::InvalidPath(path_and_query.to_owned()));
        }

        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(|_| UpstreamError::InvalidPath(path_and_query.to_owned()))
    }

    /// Sends a request and waits for NetBox's response headers, within the response timeout.
    /// The connect timeout applies to new connections.
    pub async fn send(&self, req: Request<BoxBody>) -> Result<Response<Incoming>, UpstreamError> {
        let pending = self.client.request(req);

        match tokio::time::timeout(self.response_timeout, pending).await {
            Err(_) => Err(UpstreamError::Timeout(self.response_timeout)),
            Ok(Err(error)) if error.is_connect() => Err(UpstreamError::Connect(Box::new(error))),
            Ok(Err(error)) => Err(UpstreamError::Request(Box::new(error))),
            Ok(Ok(response)) => Ok(response),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(url: &str) -> Upstream {
        let config = Config::from_toml_str(&format!("upstream = \"{url}\"")).unwrap();
        Upstream::new(&config).unwrap()
    }

    #[tokio::test]
    async fn uri_for_joins_raw_path_and_query() {
        let upstream = upstream("https://netbox.internal:8443/");

        let uri = upstream.uri_for("/api//dcim/%2e%2e/?q=a%20b&x").unwrap();

        assert_eq!(
            uri.to_string(),
            "https://netbox.internal:8443/api//dcim/%2e%2e/?q=a%20b&x"
        );
    }

    #[tokio::test]
    async fn uri_for_rejects_relative_paths() {
        let upstream = upstream("http://127.0.0.1:8001");
        assert!(matches!(
            upstream.uri_for("api/"),
            Err(UpstreamError::InvalidPath(_))
        ));
    }
}
