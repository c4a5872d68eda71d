//! Credential checks against NetBox's `/api/authentication-check/`, cached briefly.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;
use zeroize::Zeroizing;

use super::cache::ExpiringCache;
use super::client::{CallCredential, NetBoxClient, NetBoxError, Reply, RequestOrigin};
use super::credentials::{token_details, Credentials, TokenVersion};
use crate::config::SecretString;

/// NetBox's message for a request without usable credentials.
const NOT_PROVIDED: &str = "Authentication credentials were not provided.";

/// The NetBox user behind a request.
#[derive(Clone, Debug, Deserialize)]
pub struct UserInfo {
    pub id: i64,
    pub username: String,
    pub display: String,
    #[serde(default, deserialize_with = "group_names")]
    pub groups: Vec<String>,
}

/// Authentication method of the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallerAuth {
    /// A browser session cookie; unsafe requests need a CSRF check.
    Session,
    /// An API token.
    Token(TokenVersion),
}

/// Reason a request is not authenticated.
#[derive(Debug)]
pub enum AuthFailure {
    /// NetBox refused the credentials; its reply is passed on as it is.
    Refused(Arc<Refusal>),
    /// NetBox could not be asked; the request must fail closed.
    Unavailable(NetBoxError),
}

/// NetBox's own refusal: status, content type and body.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub content_type: Option<HeaderValue>,
    pub body: Bytes,
}

/// Facts about a checked credential, found out on first need and cached with it.
#[derive(Default)]
struct CredentialFacts {
    superuser: OnceCell<bool>,
    token_writable: OnceCell<bool>,
}

struct Identity {
    user: UserInfo,
    facts: CredentialFacts,
}

type CheckOutcome = Result<Arc<Identity>, Arc<Refusal>>;

/// An authenticated caller and the credential that proved it.
#[derive(Clone)]
pub struct Caller {
    identity: Arc<Identity>,
    pub auth: CallerAuth,
    credential: Arc<SecretString>,
    pub origin: RequestOrigin,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("user", &self.identity.user.username)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl Caller {
    pub fn user(&self) -> &UserInfo {
        &self.identity.user
    }

    /// The caller's own credential, for calls NetBox must serve with the caller's permissions.
    pub fn credential(&self) -> CallCredential<'_> {
        match self.auth {
            CallerAuth::Session => CallCredential::Session(self.credential.expose()),
            CallerAuth::Token(_) => CallCredential::Authorization(self.credential.expose()),
        }
    }
}

/// Checks credentials with NetBox and caches the outcome.
pub struct Authenticator {
    client: NetBoxClient,
    api_root: String,
    success_ttl: Duration,
    failure_ttl: Duration,
    service_token: Option<SecretString>,
    cache: ExpiringCache<[u8; 32], CheckOutcome>,
}

/// Settings of an [`Authenticator`].
pub struct AuthSettings {
    /// NetBox's API root path, `<BASE_PATH>api/`, starting and ending with `/`.
    pub api_root: String,
    pub success_ttl: Duration,
    pub failure_ttl: Duration,
    pub max_entries: usize,
    /// Optional privileged token used to read superuser status.
    pub service_token: Option<SecretString>,
}

impl Authenticator {
    pub fn new(client: NetBoxClient, settings: AuthSettings) -> Authenticator {
        Authenticator {
            client,
            api_root: settings.api_root,
            success_ttl: settings.success_ttl,
            failure_ttl: settings.failure_ttl,
            service_token: settings.service_token,
            cache: ExpiringCache::new(settings.max_entries),
        }
    }

    /// Authenticates a request as NetBox would: a valid session first, then the token.
    pub async fn authenticate(
        &self,
        credentials: &Credentials,
        origin: &RequestOrigin,
    ) -> Result<Caller, AuthFailure> {
        let mut refusal = None;

        if let Some(session) = &credentials.session {
            match self.check(CallerAuth::Session, session, origin).await? {
                Ok(identity) => return Ok(caller(identity, CallerAuth::Session, session, origin)),
                Err(refused) => refusal = Some(refused),
            }
        }

        if let Some(authorization) = &credentials.authorization {
            let (version, _) = token_details(authorization.expose());
            let auth = CallerAuth::Token(version);

            return match self.check(auth, authorization, origin).await? {
                Ok(identity) => Ok(caller(identity, auth, authorization, origin)),
                Err(refused) => Err(AuthFailure::Refused(refused)),
            };
        }

        Err(AuthFailure::Refused(
            refusal.unwrap_or_else(|| Arc::new(not_provided())),
        ))
    }

    /// Returns whether the caller is a NetBox superuser.
    ///
    /// NetBox's user serializers do not show the flag, so this requests the user list filtered by
    /// `is_superuser`, with the service token when one is set and else with the caller's own
    /// credential: a superuser may always list users, and anyone else finds nothing or is refused.
    pub async fn is_superuser(&self, caller: &Caller) -> Result<bool, NetBoxError> {
        let facts = &caller.identity.facts;
        let path = format!(
            "{}users/users/?id={}&is_superuser=true&brief=1",
            self.api_root,
            caller.user().id
        );

        let found = facts
            .superuser
            .get_or_try_init(|| async {
                let service_header = self
                    .service_token
                    .as_ref()
                    .map(|token| Zeroizing::new(format!("Token {}", token.expose())));
                let credential = match &service_header {
                    Some(header) => CallCredential::Authorization(header.as_str()),
                    None => caller.credential(),
                };

                let reply = self.client.get(&path, credential, &caller.origin).await?;
                Ok::<_, NetBoxError>(reply.status == StatusCode::OK && list_count(&reply) > 0)
            })
            .await?;

        Ok(*found)
    }

    /// Returns whether the caller may make unsafe requests: always for sessions, and for tokens
    /// only when the token is write-enabled.
    ///
    /// NetBox does not show the flag of a v1 token, so this sends NetBox a side-effect-free
    /// write: rendering config template 0 needs only a write-enabled token, so a read-only token
    /// gets 403 and any other token reaches the lookup and gets 404.
    pub async fn can_write(&self, caller: &Caller) -> Result<bool, NetBoxError> {
        if caller.auth == CallerAuth::Session {
            return Ok(true);
        }

        let path = format!("{}extras/config-templates/0/render/", self.api_root);
        let writable = caller
            .identity
            .facts
            .token_writable
            .get_or_try_init(|| async {
                let reply = self
                    .client
                    .call(Method::POST, &path, caller.credential(), &caller.origin)
                    .await?;
                Ok::<_, NetBoxError>(reply.status != StatusCode::FORBIDDEN)
            })
            .await?;

        Ok(*writable)
    }

    async fn check(
        &self,
        auth: CallerAuth,
        credential: &SecretString,
        origin: &RequestOrigin,
    ) -> Result<CheckOutcome, AuthFailure> {
        let key = cache_key(auth, credential.expose(), origin.client_ip);
        let path = format!("{}authentication-check/", self.api_root);

        self.cache
            .get_or_load(key, || async {
                let call = match auth {
                    CallerAuth::Session => CallCredential::Session(credential.expose()),
                    CallerAuth::Token(_) => CallCredential::Authorization(credential.expose()),
                };
                let reply = self.client.get(&path, call, origin).await?;
                self.outcome_of(reply)
            })
            .await
            .map_err(AuthFailure::Unavailable)
    }

    fn outcome_of(&self, reply: Reply) -> Result<(CheckOutcome, Duration), NetBoxError> {
        match reply.status {
            StatusCode::OK => {
                let user: UserInfo = serde_json::from_slice(&reply.body)
                    .map_err(|err| NetBoxError::Json(format!("authentication-check: {err}")))?;
                let identity = Identity {
                    user,
                    facts: CredentialFacts::default(),
                };
                Ok((Ok(Arc::new(identity)), self.success_ttl))
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                let refusal = Refusal {
                    status: reply.status,
                    content_type: reply.content_type,
                    body: reply.body,
                };
                Ok((Err(Arc::new(refusal)), self.failure_ttl))
            }
            status => Err(NetBoxError::Json(format!(
                "authentication-check returned unexpected status {status}"
            ))),
        }
    }
}

fn caller(
    identity: Arc<Identity>,
    auth: CallerAuth,
    credential: &SecretString,
    origin: &RequestOrigin,
) -> Caller {
    Caller {
        identity,
        auth,
        credential: Arc::new(SecretString::new(credential.expose().to_string())),
        origin: origin.clone(),
    }
}

fn not_provided() -> Refusal {
    Refusal {
        status: StatusCode::FORBIDDEN,
        content_type: Some(HeaderValue::from_static("application/json")),
        body: Bytes::from(serde_json::json!({ "detail": NOT_PROVIDED }).to_string()),
    }
}

/// Hashes the credential with the client address, because `allowed_ips` makes the same token
/// valid from one address and refused from another.
fn cache_key(auth: CallerAuth, credential: &str, client_ip: IpAddr) -> [u8; 32] {
    let kind: &[u8] = match auth {
        CallerAuth::Session => b"session",
        CallerAuth::Token(_) => b"token",
    };

    let mut hasher = Sha256::new();
    hasher.update(kind);
    hasher.update([0]);
    hasher.update(credential.as_bytes());
    hasher.update([0]);
    hasher.update(client_ip.to_string().as_bytes());
    hasher.finalize().into()
}

fn list_count(reply: &Reply) -> u64 {
    reply
        .json()
        .ok()
        .and_then(|value| value.get("count").and_then(|count| count.as_u64()))
        .unwrap_or(0)
}

fn group_names<'de, D>(deserializer: D) -> Result<Vec<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    struct Group {
        name: String,
    }

    let groups = Vec::<Group>::deserialize(deserializer)?;
    Ok(groups.into_iter().map(|group| group.name).collect())
}
