//! The API service: shared state, authentication and dispatch of each request.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::header::{ACCEPT, LOCATION};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::call::Call;
use super::error::ApiError;
use super::pagination::PageSettings;
use super::policy::Policy;
use super::request::{read_body, Query};
use super::router::{resolve, Endpoint, Resolved};
use super::session::VerifiedSecrets;
use super::urls::Urls;
use super::{
    activation, key_pair, legacy, metadata, root, secret_roles, secrets, session_keys, user_keys,
};
use crate::body::{self, BoxBody};
use crate::config::Config;
use crate::netbox::{
    check_csrf, AuthSettings, Authenticator, CallerAuth, Credentials, NetBoxClient, ObjectResolver,
    RequestOrigin,
};
use crate::proxy::context::{ApiPrefix, RequestContext};
use crate::proxy::OwnedHandler;
use crate::proxy::Upstream;
use crate::store::Store;

/// Settings of the API that do not belong to one of its parts.
#[derive(Clone, Debug)]
pub struct ApiSettings {
    /// Smallest RSA modulus accepted for user keys, and the default generated size.
    pub public_key_size: usize,
    pub pages: PageSettings,
    /// Largest request body the API reads.
    pub body_limit: usize,
    /// NetBox's API root path, `<BASE_PATH>api/`.
    pub api_root: String,
}

/// Everything a handler may use.
pub struct ApiState {
    pub store: Store,
    pub netbox: NetBoxClient,
    pub auth: Authenticator,
    pub objects: ObjectResolver,
    pub policy: Policy,
    pub settings: ApiSettings,
    pub verified: VerifiedSecrets,
}

/// Serves the API for the proxy.
#[derive(Clone)]
pub struct ApiService {
    state: Arc<ApiState>,
}

/// Failure to set up the API.
#[derive(Debug, thiserror::Error)]
pub enum ApiSetupError {
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the secrets database {path}: {source}")]
    Store {
        path: std::path::PathBuf,
        source: crate::store::StoreError,
    },
}

impl ApiService {
    /// Opens the store and builds every part of the API from the configuration.
    pub fn from_config(config: &Config, upstream: Upstream) -> Result<ApiService, ApiSetupError> {
        let path = config.database_path();
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|source| ApiSetupError::DataDir {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let store = Store::open(&path).map_err(|source| ApiSetupError::Store { path, source })?;

        let api_root = format!("{}api/", config.base_prefix());
        let netbox = NetBoxClient::new(upstream);
        let auth = Authenticator::new(
            netbox.clone(),
            AuthSettings {
                api_root: api_root.clone(),
                success_ttl: config.auth.success_ttl_secs,
                failure_ttl: config.auth.failure_ttl_secs,
                max_entries: config.auth.max_entries,
                service_token: config.auth.service_token.clone(),
            },
        );
        let objects = ObjectResolver::new(
            netbox.clone(),
            api_root.clone(),
            config.secrets.object_types.clone(),
            config.secrets.object_cache_ttl_secs,
        );
        let settings = ApiSettings {
            public_key_size: config.secrets.public_key_size,
            pages: PageSettings {
                default_limit: config.secrets.paginate_count,
                max_limit: config.secrets.max_page_size,
            },
            body_limit: usize::try_from(config.limits.api_body_bytes).unwrap_or(usize::MAX),
            api_root,
        };

        Ok(ApiService::new(
            store,
            netbox,
            auth,
            objects,
            Policy::new(&config.policy),
            settings,
        ))
    }

    pub fn new(
        store: Store,
        netbox: NetBoxClient,
        auth: Authenticator,
        objects: ObjectResolver,
        policy: Policy,
        settings: ApiSettings,
    ) -> ApiService {
        let state = ApiState {
            store,
            netbox,
            auth,
            objects,
            policy,
            settings,
            verified: VerifiedSecrets::default(),
        };
        ApiService {
            state: Arc::new(state),
        }
    }

    /// Serves one request; every failure becomes its plugin-compatible response.
    pub async fn serve(
        &self,
        request: Request<Incoming>,
        context: RequestContext,
    ) -> Response<BoxBody> {
        let indent = requested_indent(request.headers());
        let resolved = resolve(context.route.prefix, &context.route.rest, request.method());
        let endpoint = match resolved {
            Ok(Resolved::Endpoint(endpoint)) => endpoint,
            Ok(Resolved::AddSlash) => return redirect_with_slash(&request, &context),
            Err(err) => return err.into_response(indent),
        };

        let mut response = match self.serve_endpoint(endpoint, request, context).await {
            Ok(response) => response,
            Err(err) => err.into_response(indent),
        };
        metadata::set_allow(&mut response, endpoint);
        response
    }

    async fn serve_endpoint(
        &self,
        endpoint: Endpoint,
        request: Request<Incoming>,
        context: RequestContext,
    ) -> Result<Response<BoxBody>, ApiError> {
        let prefix = context.route.prefix;
        let origin = RequestOrigin {
            client_ip: context.client_ip,
            scheme: context.origin.scheme.clone(),
            host: context.origin.host.clone(),
        };
        let credentials = Credentials::from_headers(request.headers());
        let caller = self.state.auth.authenticate(&credentials, &origin).await?;

        if caller.auth == CallerAuth::Session && !is_safe(request.method()) {
            check_csrf(request.headers(), credentials.csrf_cookie.as_ref(), &origin)
                .map_err(|detail| ApiError::Detail(StatusCode::FORBIDDEN, detail))?;
        }

        let (parts, incoming) = request.into_parts();
        let body = read_body(incoming, self.state.settings.body_limit).await?;
        let urls = Urls::new(&origin.scheme, &origin.host, &context.base_path);
        let path = public_path(&urls, prefix, &context.route.rest);

        let call = Call {
            state: self.state.clone(),
            caller,
            indent: requested_indent(&parts.headers),
            query: Query::parse(parts.uri.query()),
            method: parts.method,
            headers: parts.headers,
            body,
            urls,
            path,
            tag_lookups: Default::default(),
        };
        dispatch(&call, endpoint).await
    }
}

impl OwnedHandler for ApiService {
    fn handle(
        &self,
        request: Request<Incoming>,
        context: RequestContext,
    ) -> Pin<Box<dyn Future<Output = Response<BoxBody>> + Send + '_>> {
        Box::pin(self.serve(request, context))
    }

    fn ready(&self) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        Box::pin(async move {
            self.state
                .store
                .read(|connection| {
                    connection
                        .query_row("SELECT 1", [], |_| Ok(()))
                        .map_err(Into::into)
                })
                .await
                .is_ok()
        })
    }
}

async fn dispatch(call: &Call, endpoint: Endpoint) -> Result<Response<BoxBody>, ApiError> {
    if call.method == Method::OPTIONS {
        return Ok(metadata::describe(call, endpoint));
    }

    match endpoint {
        Endpoint::Root => root::handle(call).await,
        Endpoint::GenerateKeyPair => key_pair::handle(call).await,
        Endpoint::UserKeys => user_keys::handle_list(call).await,
        Endpoint::UserKey(id) => user_keys::handle_detail(call, id).await,
        Endpoint::ActivateUserKeys => activation::handle(call).await,
        Endpoint::SessionKey => session_keys::handle(call).await,
        Endpoint::LegacySessionKeys => legacy::handle_session_keys(call).await,
        Endpoint::LegacySessionKey(id) => legacy::handle_session_key(call, id).await,
        Endpoint::LegacyGetSessionKey => legacy::handle_get_session_key(call).await,
        Endpoint::LegacyActivateUserKey => legacy::handle_activate_user_key(call).await,
        Endpoint::SecretRoles => secret_roles::handle_list(call).await,
        Endpoint::SecretRole(id) => secret_roles::handle_detail(call, id).await,
        Endpoint::Secrets => secrets::handle_list(call).await,
        Endpoint::Secret(id) => secrets::handle_detail(call, id).await,
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Public path of the request, base path included, used for page links.
fn public_path(urls: &Urls, prefix: ApiPrefix, rest: &str) -> String {
    let prefix = match prefix {
        ApiPrefix::Plugin => "api/plugins/secrets/",
        ApiPrefix::Legacy => "api/secrets/",
    };
    format!("{}{prefix}{rest}", urls.base_path())
}

/// Reads `indent=N` from `Accept: application/json; indent=N`, as DRF's JSON renderer does.
fn requested_indent(headers: &http::HeaderMap) -> Option<usize> {
    let accept = headers.get(ACCEPT)?.to_str().ok()?;
    accept
        .split(',')
        .filter(|item| item.trim_start().starts_with("application/json"))
        .flat_map(|item| item.split(';').skip(1))
        .filter_map(|param| param.trim().strip_prefix("indent="))
        .find_map(|value| value.trim().parse::<usize>().ok())
        .map(|indent| indent.min(8))
}

/// Redirects to the normalised path with its slash added, as Django's `APPEND_SLASH` does.
///
/// The location is built from the normalised route, never from the raw path: a raw path such
/// as `//evil.example/../api/plugins/secrets/secrets` would otherwise be sent back as a
/// protocol-relative URL that browsers follow to another host.
fn redirect_with_slash(request: &Request<Incoming>, context: &RequestContext) -> Response<BoxBody> {
    let prefix = match context.route.prefix {
        ApiPrefix::Plugin => "api/plugins/secrets/",
        ApiPrefix::Legacy => "api/secrets/",
    };
    let path = format!("{}{prefix}{}/", context.base_path, context.route.rest);
    let location = match request.uri().query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };

    let mut response = Response::new(body::empty());
    *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
    if let Ok(value) = http::HeaderValue::from_str(&location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn indent_of(accept: &str) -> Option<usize> {
        let mut headers = http::HeaderMap::new();
        headers.insert(ACCEPT, accept.parse().unwrap());
        requested_indent(&headers)
    }

    #[test]
    fn indent_is_read_from_accept() {
        assert_eq!(indent_of("application/json; indent=4"), Some(4));
        assert_eq!(
            indent_of("application/json; indent=2; version=4.7"),
            Some(2)
        );
        assert_eq!(indent_of("application/json"), None);
        assert_eq!(indent_of("text/html; indent=4"), None);
    }
}
