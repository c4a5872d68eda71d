//! Assigned objects: which NetBox object types secrets may point at, and the objects' brief
//! forms fetched with the caller's own credentials.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::auth::Caller;
use super::client::{CallCredential, NetBoxClient, NetBoxError};

/// Largest number of ids asked for in one list request, to keep URLs short.
const IDS_PER_REQUEST: usize = 100;

/// Reason an object type cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ObjectTypeError {
    #[error("object type {0} is not one of the configured object types")]
    NotAllowed(String),
    #[error("object type {0} is not known to NetBox or has no REST API")]
    Unknown(String),
    #[error(transparent)]
    NetBox(#[from] NetBoxError),
}

type ObjectKey = ([u8; 32], String, i64);

/// One type as NetBox's `/api/core/object-types/` describes it.
#[derive(Clone, Debug)]
struct ObjectTypeInfo {
    id: i64,
    endpoint: String,
}

/// Looks up assigned objects in NetBox and caches what each caller may see.
pub struct ObjectResolver {
    client: NetBoxClient,
    api_root: String,
    allowed_types: Vec<String>,
    ttl: Duration,
    types: Mutex<HashMap<String, ObjectTypeInfo>>,
    briefs: Mutex<HashMap<ObjectKey, (Option<Value>, Instant)>>,
}

impl ObjectResolver {
    /// `api_root` is NetBox's API root path (`<BASE_PATH>api/`); `allowed_types` are
    /// `app_label.model` names.
    pub fn new(
        client: NetBoxClient,
        api_root: String,
        allowed_types: Vec<String>,
        ttl: Duration,
    ) -> ObjectResolver {
        ObjectResolver {
            client,
            api_root,
            allowed_types,
            ttl,
            types: Mutex::new(HashMap::new()),
            briefs: Mutex::new(HashMap::new()),
        }
    }

    /// Returns whether secrets may be assigned to objects of this type.
    pub fn is_allowed(&self, object_type: &str) -> bool {
        self.allowed_types
            .iter()
            .any(|allowed| allowed == object_type)
    }

    /// Returns the configured object types.
    pub fn allowed_types(&self) -> &[String] {
        &self.allowed_types
    }

    /// Returns the brief forms of the objects the caller can see, keyed by id.
    ///
    /// Ids missing from the result are objects that are gone or hidden from the caller.
    pub async fn briefs(
        &self,
        caller: &Caller,
        object_type: &str,
        ids: &[i64],
    ) -> Result<HashMap<i64, Value>, ObjectTypeError> {
        let scope = credential_scope(caller);
        let (mut found, missing) = self.cached_briefs(&scope, object_type, ids);
        if missing.is_empty() {
            return Ok(found);
        }

        let endpoint = self.type_info(caller, object_type).await?.endpoint;
        for chunk in missing.chunks(IDS_PER_REQUEST) {
            let fetched = self.fetch_briefs(caller, &endpoint, chunk).await?;
            self.remember(&scope, object_type, chunk, &fetched);
            found.extend(fetched);
        }

        Ok(found)
    }

    /// Returns the brief form of one object, or `None` when it is gone or hidden from the caller.
    pub async fn brief(
        &self,
        caller: &Caller,
        object_type: &str,
        id: i64,
    ) -> Result<Option<Value>, ObjectTypeError> {
        let mut found = self.briefs(caller, object_type, &[id]).await?;
        Ok(found.remove(&id))
    }

    /// Returns NetBox's object-type id (the content type primary key) of a configured type.
    pub async fn type_id(
        &self,
        caller: &Caller,
        object_type: &str,
    ) -> Result<i64, ObjectTypeError> {
        Ok(self.type_info(caller, object_type).await?.id)
    }

    /// Returns how `/api/core/object-types/` describes a configured type, cached for the
    /// life of the process because types change only with NetBox upgrades.
    async fn type_info(
        &self,
        caller: &Caller,
        object_type: &str,
    ) -> Result<ObjectTypeInfo, ObjectTypeError> {
        if !self.is_allowed(object_type) {
            return Err(ObjectTypeError::NotAllowed(object_type.to_string()));
        }
        if let Some(info) = lock(&self.types).get(object_type) {
            return Ok(info.clone());
        }

        let (app_label, model) = object_type
            .split_once('.')
            .ok_or_else(|| ObjectTypeError::Unknown(object_type.to_string()))?;
        let path = format!(
            "{}core/object-types/?app_label={}&model={}",
            self.api_root,
            encode(app_label),
            encode(model)
        );
        let reply = self
            .client
            .get(&path, caller.credential(), &caller.origin)
            .await?;
        let info = reply
            .json()
            .ok()
            .and_then(|body| first_type(&body))
            .ok_or_else(|| ObjectTypeError::Unknown(object_type.to_string()))?;

        lock(&self.types).insert(object_type.to_string(), info.clone());
        Ok(info)
    }

    async fn fetch_briefs(
        &self,
        caller: &Caller,
        endpoint: &str,
        ids: &[i64],
    ) -> Result<HashMap<i64, Value>, ObjectTypeError> {
        let id_query: Vec<String> = ids.iter().map(|id| format!("id={id}")).collect();
        let path = format!("{endpoint}?brief=1&limit=0&{}", id_query.join("&"));

        let reply = self
            .client
            .get(&path, caller.credential(), &caller.origin)
            .await?;
        if !reply.status.is_success() {
            // A caller without view permission on the model can view none of its objects.
            return Ok(HashMap::new());
        }

        let body = reply.json()?;
        let results = body
            .get("results")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();

        Ok(results
            .into_iter()
            .filter_map(|object| Some((object.get("id")?.as_i64()?, object)))
            .collect())
    }

    fn cached_briefs(
        &self,
        scope: &[u8; 32],
        object_type: &str,
        ids: &[i64],
    ) -> (HashMap<i64, Value>, Vec<i64>) {
        let cache = lock(&self.briefs);
        let now = Instant::now();
        let mut found = HashMap::new();
        let mut missing = Vec::new();

        for &id in ids {
            let key = (*scope, object_type.to_string(), id);
            match cache.get(&key) {
                Some((Some(brief), expires)) if *expires > now => {
                    found.insert(id, brief.clone());
                }
                Some((None, expires)) if *expires > now => {}
                _ if !missing.contains(&id) => missing.push(id),
                _ => {}
            }
        }

        (found, missing)
    }

    fn remember(
        &self,
        scope: &[u8; 32],
        object_type: &str,
        ids: &[i64],
        fetched: &HashMap<i64, Value>,
    ) {
        let mut cache = lock(&self.briefs);
        let now = Instant::now();
        let expires = now + self.ttl;

        cache.retain(|_, (_, entry_expires)| *entry_expires > now);
        for &id in ids {
            let key = (*scope, object_type.to_string(), id);
            cache.insert(key, (fetched.get(&id).cloned(), expires));
        }
    }
}

/// Scopes cached objects to one credential, because visibility differs between users.
fn credential_scope(caller: &Caller) -> [u8; 32] {
    let mut hasher = Sha256::new();
    match caller.credential() {
        CallCredential::Session(value) => {
            hasher.update(b"session\0");
            hasher.update(value.as_bytes());
        }
        CallCredential::Authorization(value) => {
            hasher.update(b"token\0");
            hasher.update(value.as_bytes());
        }
    }
    hasher.finalize().into()
}

fn first_type(body: &Value) -> Option<ObjectTypeInfo> {
    let first = body.get("results")?.as_array()?.first()?;
    Some(ObjectTypeInfo {
        id: first.get("id")?.as_i64()?,
        endpoint: first.get("rest_api_endpoint")?.as_str()?.to_string(),
    })
}

fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The maps stay consistent if a holder panics, so a poisoned lock is still usable.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
