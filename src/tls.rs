//! TLS for the public listener and for HTTPS upstreams, with rustls.
