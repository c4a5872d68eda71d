//! The listener: accepts TCP (and TLS) connections, serves HTTP/1.1 on them and drains them
//! on shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::service::{Connection, Proxy};
use super::upstream::Upstream;
use super::OwnedHandler;
use crate::config::Config;
use crate::shutdown::{Drain, Watcher};
use crate::tls::{self, TlsError};

/// Errors from setting up the listener.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },

    #[error("cannot set up listener TLS: {0}")]
    Tls(#[from] TlsError),
}

/// A bound listener, ready to serve.
pub struct Server {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    proxy: Arc<Proxy>,
    header_timeout: Duration,
    shutdown_grace: Duration,
}

impl Server {
    /// Loads listener TLS, if configured, and binds `config.listen`.
    pub async fn bind(
        config: &Config,
        upstream: Upstream,
        handler: Arc<dyn OwnedHandler>,
    ) -> Result<Server, ServerError> {
        let tls = match &config.tls {
            Some(tls) => Some(TlsAcceptor::from(tls::server_config(tls)?)),
            None => None,
        };
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.listen,
                    source,
                })?;

        Ok(Server {
            listener,
            tls,
            proxy: Arc::new(Proxy::new(config, upstream, handler)),
            header_timeout: config.timeouts.client_header_secs,
            shutdown_grace: config.timeouts.shutdown_grace_secs,
        })
    }

    /// Returns the bound address, which tests need when `listen` has port 0.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then stops accepting and waits up to the shutdown
    /// grace period for in-flight requests and upgraded connections.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let drain = Drain::new();
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        tracing::info!(listen = %self.listener.local_addr().map_or_else(|e| e.to_string(), |a| a.to_string()), scheme, "listening");

        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => self.spawn_connection(stream, peer, scheme, drain.watcher()),
                    Err(error) => {
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }

        drop(self.listener);
        tracing::info!(
            grace_secs = self.shutdown_grace.as_secs(),
            "stopped accepting connections; draining"
        );
        if drain.drain(self.shutdown_grace).await {
            tracing::info!("all connections finished");
        } else {
            tracing::warn!("shutdown grace period expired with connections still open");
        }
    }

    fn spawn_connection(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        scheme: &'static str,
        watcher: Watcher,
    ) {
        let local = match stream.local_addr() {
            Ok(local) => local,
            Err(error) => {
                tracing::debug!(%error, "connection closed before it was served");
                return;
            }
        };
        let conn = Connection {
            peer,
            local,
            scheme,
            watcher,
        };
        let tls = self.tls.clone();
        let proxy = Arc::clone(&self.proxy);
        let header_timeout = self.header_timeout;

        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            match tls {
                None => serve_http(TokioIo::new(stream), conn, proxy, header_timeout).await,
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(header_timeout, acceptor.accept(stream));
                    match handshake.await {
                        Ok(Ok(stream)) => {
                            serve_http(TokioIo::new(stream), conn, proxy, header_timeout).await
                        }
                        Ok(Err(error)) => tracing::debug!(%error, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
        });
    }
}

async fn serve_http<I>(io: I, conn: Connection, proxy: Arc<Proxy>, header_timeout: Duration)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let mut watcher = conn.watcher.clone();
    let service = service_fn(move |req: hyper::Request<Incoming>| {
        let proxy = Arc::clone(&proxy);
        let conn = conn.clone();
        async move { Ok::<_, Infallible>(proxy.handle(req, conn).await) }
    });

    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(connection);

    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = watcher.started() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, "connection ended with an error");
    }
}
