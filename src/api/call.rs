//! One authenticated API call and the helpers every handler uses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode};
use serde_json::Value;

use super::error::{json_reply, ApiError};
use super::fields::FieldSelection;
use super::pagination::{PageLinks, PageRequest};
use super::policy::{Action, Model, Scope};
use super::request::{parse_body, FormBodies, Payload, Query};
use super::service::ApiState;
use super::urls::Urls;
use super::wipe::wipe_strings;
use crate::body::BoxBody;
use crate::netbox::Caller;
use crate::store::tags::TagRow;

/// An authenticated request on its way through a handler.
pub struct Call {
    pub state: Arc<ApiState>,
    pub caller: Caller,
    pub method: Method,
    pub headers: HeaderMap,
    pub query: Query,
    pub body: Bytes,
    pub urls: Urls,
    /// Public path of the request, base path included.
    pub path: String,
    /// Indent the client asked for with `Accept: application/json; indent=N`.
    pub indent: Option<usize>,
    /// Results of the NetBox tag lookups made during this request, keyed by filter, so a bulk
    /// request that names one tag on every object queries NetBox once.
    pub tag_lookups: TagLookups,
}

/// Tag lookups of one request: NetBox's tags for each filter, `None` when NetBox rejected it.
pub type TagLookups = Mutex<HashMap<String, Option<Vec<TagRow>>>>;

impl Call {
    /// Checks the access policy for this model and action: the configured grants first, then
    /// NetBox superuser status. Unsafe requests also need a write-enabled token.
    pub async fn authorize(&self, model: Model, action: Action) -> Result<Scope, ApiError> {
        if action != Action::View {
            self.require_write_token().await?;
        }

        if let Some(scope) = self.state.policy.scope(self.caller.user(), model, action) {
            return Ok(scope);
        }
        if self.state.auth.is_superuser(&self.caller).await? {
            return Ok(Scope::All);
        }

        Err(ApiError::forbidden())
    }

    /// Refuses read-only tokens, with NetBox's message.
    pub async fn require_write_token(&self) -> Result<(), ApiError> {
        if self.state.auth.can_write(&self.caller).await? {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }

    /// Parses the request body.
    pub async fn payload(&self, forms: FormBodies) -> Result<Payload, ApiError> {
        parse_body(&self.headers, self.body.clone(), forms).await
    }

    /// Returns the fields the client selected with `brief`, `fields` and `omit`.
    pub fn selection(&self) -> FieldSelection {
        FieldSelection::from_query(&self.query, &self.method)
    }

    /// Returns the page the client requested.
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        PageRequest::from_query(&self.query, self.state.settings.pages)
    }

    /// Returns the target of this list's page links.
    pub fn page_links(&self) -> PageLinks<'_> {
        PageLinks {
            urls: &self.urls,
            path: &self.path,
            query: &self.query,
        }
    }

    /// Builds a JSON response in the layout the client requested.
    pub fn json(&self, status: StatusCode, value: &Value) -> Response<BoxBody> {
        json_reply(status, value, self.indent)
    }

    /// Builds a JSON response like [`Call::json`], then wipes the strings of `value`, which may
    /// hold plaintexts, session keys or private keys.
    pub fn json_wiped(&self, status: StatusCode, mut value: Value) -> Response<BoxBody> {
        let response = json_reply(status, &value, self.indent);
        wipe_strings(&mut value);
        response
    }

    /// 204 with no body.
    pub fn no_content(&self) -> Response<BoxBody> {
        let mut response = Response::new(crate::body::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        response
    }
}
