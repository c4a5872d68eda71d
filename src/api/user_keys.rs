//! User keys at `/user-keys/`: one RSA public key per NetBox user plus, while active, that
//! user's RSA-OAEP copy of the master key, which no endpoint ever shows.

mod bulk_writes;
mod input;
mod list;

use std::collections::HashMap;

use http::{Method, Response, StatusCode};
use serde_json::{json, Map, Value};

use self::input::{parse_input, resolve_owner, CheckedKey, Completeness, KeyOwner, UserKeyInput};
use self::list::{filter_set, sort, CustomFilters};
use super::call::Call;
use super::error::ApiError;
use super::pagination::{envelope, paginate};
use super::policy::{Action, Model};
use super::render::{nested_tags, nested_user};
use super::request::FormBodies;
use super::tags::TagFilter;
use super::urls::Urls;
use crate::body::BoxBody;
use crate::crypto::{MasterKey, UserPublicKey};
use crate::store::tags::{self, ObjectKind, TagRow};
use crate::store::user_keys::{self, NewUserKey, UserKeyRow};
use crate::store::{self, StoreError};

/// Fields of the brief form (`?brief=1`, and when nested in a session key).
const BRIEF_FIELDS: [&str; 3] = ["id", "url", "display"];

/// The model name in 404 details.
const MODEL_NAME: &str = "UserKey";

/// Message for a second key of the same user, for which the plugin returns a 500.
const DUPLICATE_USER: &str = "User Key with this User already exists.";

/// Message for a public-key change that would leave no key able to open existing secrets.
const ONLY_ACTIVE_KEY: &str = "The public key cannot be changed while secrets exist and this \
                               is the only active user key; activate another user key first.";

/// Outcome of a write whose rules are checked inside the transaction.
enum WriteOutcome {
    Done(UserKeyRow),
    Rejected(ApiError),
}

/// Serves the list URL: GET, POST, and bulk PUT, PATCH and DELETE.
pub async fn handle_list(call: &Call) -> Result<Response<BoxBody>, ApiError> {
    match call.method {
        Method::GET | Method::HEAD => list_keys(call).await,
        Method::POST => create_key(call).await,
        Method::PUT => bulk_writes::update_keys(call, Completeness::Full).await,
        Method::PATCH => bulk_writes::update_keys(call, Completeness::Partial).await,
        Method::DELETE => bulk_writes::delete_keys(call).await,
        ref other => Err(ApiError::method_not_allowed(other)),
    }
}

pub async fn handle_detail(call: &Call, id: i64) -> Result<Response<BoxBody>, ApiError> {
    match call.method {
        Method::GET | Method::HEAD => show_key(call, id).await,
        Method::PUT => update_key(call, id, Completeness::Full).await,
        Method::PATCH => update_key(call, id, Completeness::Partial).await,
        Method::DELETE => delete_key(call, id).await,
        ref other => Err(ApiError::method_not_allowed(other)),
    }
}

/// Renders the brief form `{"id", "url", "display"}`, where `display` is the owner's username.
pub fn brief(urls: &Urls, key: &UserKeyRow) -> Value {
    json!({
        "id": key.id,
        "url": urls.api("user-keys", Some(key.id)),
        "display": key.username,
    })
}

/// Renders the full representation, in the plugin's field order.
fn render(urls: &Urls, key: &UserKeyRow, tags: &[TagRow]) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("id".into(), json!(key.id));
    fields.insert("url".into(), json!(urls.api("user-keys", Some(key.id))));
    fields.insert("display_url".into(), json!(urls.ui("user-keys", key.id)));
    fields.insert("display".into(), json!(key.username));
    let user = nested_user(urls, key.user_id, &key.username, &key.user_display);
    fields.insert("user".into(), user);
    fields.insert("public_key".into(), json!(key.public_key));
    fields.insert("is_active".into(), json!(key.is_active()));
    fields.insert("is_filled".into(), json!(!key.public_key.is_empty()));
    fields.insert("created".into(), json!(key.created));
    fields.insert("last_updated".into(), json!(key.last_updated));
    fields.insert("tags".into(), nested_tags(urls, tags));
    fields.insert("custom_fields".into(), key.custom_fields.clone());
    fields
}

async fn list_keys(call: &Call) -> Result<Response<BoxBody>, ApiError> {
    call.authorize(Model::UserKey, Action::View).await?;
    let filters = filter_set();
    let filter = filters.compile(&call.query)?;
    let custom = CustomFilters::read(&call.query, TagFilter::read(call).await?);
    let page = call.page()?;

    let (keys, tags) = call
        .state
        .store
        .read(|connection| {
            let keys = user_keys::list(connection)?;
            let ids: Vec<i64> = keys.iter().map(|key| key.id).collect();
            let tags = tags::get_many(connection, ObjectKind::UserKey, &ids)?;
            Ok((keys, tags))
        })
        .await?;

    let mut selected: Vec<UserKeyRow> = keys
        .into_iter()
        .filter(|key| filter.matches(key) && custom.matches(key, &tags))
        .collect();
    sort(&mut selected, call.query.get("ordering"));

    let selection = call.selection();
    let items = selected.into_iter().map(|key| (key.id, key)).collect();
    let (rows, info) = paginate(items, page);
    let results = rows
        .into_iter()
        .map(|key| {
            selection.apply(
                render(&call.urls, &key, tags_of(&tags, key.id)),
                &BRIEF_FIELDS,
            )
        })
        .collect();

    Ok(call.json(StatusCode::OK, &envelope(results, info, &call.page_links())))
}

fn tags_of(tags: &HashMap<i64, Vec<TagRow>>, id: i64) -> &[TagRow] {
    tags.get(&id).map(Vec::as_slice).unwrap_or(&[])
}

async fn show_key(call: &Call, id: i64) -> Result<Response<BoxBody>, ApiError> {
    call.authorize(Model::UserKey, Action::View).await?;

    respond_with_key(call, id, StatusCode::OK).await
}

/// Re-reads a key with its tags and sends the selected fields.
async fn respond_with_key(
    call: &Call,
    id: i64,
    status: StatusCode,
) -> Result<Response<BoxBody>, ApiError> {
    let (key, key_tags) = load_key(call, id).await?;

    let body = call
        .selection()
        .apply(render(&call.urls, &key, &key_tags), &BRIEF_FIELDS);
    Ok(call.json(status, &body))
}

async fn load_key(call: &Call, id: i64) -> Result<(UserKeyRow, Vec<TagRow>), ApiError> {
    let found = call
        .state
        .store
        .read(move |connection| {
            let Some(key) = user_keys::get(connection, id)? else {
                return Ok(None);
            };
            let key_tags = tags::get(connection, ObjectKind::UserKey, id)?;
            Ok(Some((key, key_tags)))
        })
        .await?;

    found.ok_or_else(|| ApiError::not_found(MODEL_NAME))
}

async fn create_key(call: &Call) -> Result<Response<BoxBody>, ApiError> {
    call.authorize(Model::UserKey, Action::Add).await?;
    let payload = call.payload(FormBodies::Rejected).await?;
    let input = parse_input(call, &payload.data, Completeness::Full, true).await?;
    let owner = resolve_owner(call, input.user.as_ref()).await?;

    let outcome = call
        .state
        .store
        .write(move |transaction| insert_key(transaction, owner, input))
        .await;
    let key = match outcome {
        Ok(WriteOutcome::Done(key)) => key,
        Ok(WriteOutcome::Rejected(err)) => return Err(err),
        Err(StoreError::Conflict(_)) => return Err(ApiError::field("user", DUPLICATE_USER)),
        Err(err) => return Err(err.into()),
    };

    respond_with_key(call, key.id, StatusCode::CREATED).await
}

/// Inserts a key. The first key saved while no key is active creates the master key, so the
/// check and the insert share one transaction.
fn insert_key(
    connection: &rusqlite::Connection,
    owner: KeyOwner,
    input: UserKeyInput,
) -> Result<WriteOutcome, StoreError> {
    if user_keys::get_by_user_id(connection, owner.id)?.is_some() {
        return Ok(WriteOutcome::Rejected(ApiError::field(
            "user",
            DUPLICATE_USER,
        )));
    }
    let Some(CheckedKey { text, key }) = input.public_key else {
        return Ok(WriteOutcome::Rejected(ApiError::field(
            "public_key",
            "This field is required.",
        )));
    };

    let master_key_cipher = match user_keys::count_active(connection)? {
        0 => match new_master_key_copy(&key) {
            Ok(copy) => Some(copy),
            Err(err) => return Ok(WriteOutcome::Rejected(err)),
        },
        _ => None,
    };
    let new_key = NewUserKey {
        user_id: owner.id,
        username: owner.username,
        user_display: owner.display,
        public_key: text,
        master_key_cipher,
        custom_fields: Value::Object(input.custom_fields.unwrap_or_default()),
    };
    let row = user_keys::insert(connection, &new_key)?;

    if let Some(key_tags) = &input.tags {
        tags::set(connection, ObjectKind::UserKey, row.id, key_tags)?;
    }
    Ok(WriteOutcome::Done(row))
}

/// Generates the installation's master key and returns its RSA-OAEP copy for `key`.
fn new_master_key_copy(key: &UserPublicKey) -> Result<Vec<u8>, ApiError> {
    let master_key = MasterKey::generate();
    tracing::info!("no active user key exists, so a new master key was generated");

    key.encrypt_master_key(&master_key)
        .map_err(|err| ApiError::Internal(format!("master key copy: {err}")))
}

async fn update_key(
    call: &Call,
    id: i64,
    completeness: Completeness,
) -> Result<Response<BoxBody>, ApiError> {
    call.authorize(Model::UserKey, Action::Change).await?;
    // As DRF looks the object up before it validates the body, a missing key is a 404.
    load_key(call, id).await?;

    let payload = call.payload(FormBodies::Rejected).await?;
    let input = parse_input(call, &payload.data, completeness, false).await?;

    let outcome = call
        .state
        .store
        .write(move |transaction| apply_update(transaction, id, input))
        .await?;
    if let WriteOutcome::Rejected(err) = outcome {
        return Err(err);
    }

    respond_with_key(call, id, StatusCode::OK).await
}

/// Applies an update. A new public key drops the key's master-key copy and ends its session
/// key, because both belong to the old key pair. The change is rejected when it would leave
/// existing secrets without any active key.
fn apply_update(
    connection: &rusqlite::Connection,
    id: i64,
    input: UserKeyInput,
) -> Result<WriteOutcome, StoreError> {
    let Some(current) = user_keys::get(connection, id)? else {
        return Ok(WriteOutcome::Rejected(ApiError::not_found(MODEL_NAME)));
    };

    let new_key = input
        .public_key
        .filter(|checked| checked.text != current.public_key);
    // The copy is made before the first write, so a failure leaves nothing half done.
    let mut bootstrap_copy = None;
    if let Some(checked) = &new_key {
        let others_active = user_keys::count_active(connection)? - i64::from(current.is_active());
        if others_active == 0 && store::secrets::count(connection)? > 0 {
            return Ok(WriteOutcome::Rejected(ApiError::field(
                "public_key",
                ONLY_ACTIVE_KEY,
            )));
        }
        // As in the plugin, saving a key while no key is active makes a new master key for it.
        if others_active == 0 {
            match new_master_key_copy(&checked.key) {
                Ok(copy) => bootstrap_copy = Some(copy),
                Err(err) => return Ok(WriteOutcome::Rejected(err)),
            }
        }
    }

    if let Some(checked) = &new_key {
        user_keys::update_public_key(connection, id, &checked.text)?;
        store::session_keys::delete_by_userkey(connection, id)?;
    }
    if let Some(copy) = &bootstrap_copy {
        user_keys::set_master_key_cipher(connection, id, Some(copy))?;
    }

    let mut custom_fields = match &current.custom_fields {
        Value::Object(values) => values.clone(),
        _ => Map::new(),
    };
    custom_fields.extend(input.custom_fields.unwrap_or_default());
    user_keys::update_custom_fields(connection, id, &Value::Object(custom_fields))?;
    if let Some(key_tags) = &input.tags {
        tags::set(connection, ObjectKind::UserKey, id, key_tags)?;
    }

    let row = user_keys::get(connection, id)?.ok_or(StoreError::NotFound)?;
    Ok(WriteOutcome::Done(row))
}

async fn delete_key(call: &Call, id: i64) -> Result<Response<BoxBody>, ApiError> {
    call.authorize(Model::UserKey, Action::Delete).await?;

    let outcome = call
        .state
        .store
        .write(move |transaction| remove_key(transaction, id))
        .await?;
    match outcome {
        Ok(()) => Ok(call.no_content()),
        Err(err) => Err(err),
    }
}

/// Deletes a key with its session key and tags, unless it is the last active key while
/// secrets exist: those secrets would become unreadable, so NetBox's protected-delete 409 is
/// returned with every secret listed.
fn remove_key(
    connection: &rusqlite::Connection,
    id: i64,
) -> Result<Result<(), ApiError>, StoreError> {
    let Some(current) = user_keys::get(connection, id)? else {
        return Ok(Err(ApiError::not_found(MODEL_NAME)));
    };

    let dependents = blocking_dependents(connection, &current)?;
    if !dependents.is_empty() {
        return Ok(Err(protected_delete(&dependents)));
    }

    delete_key_rows(connection, id)?;
    Ok(Ok(()))
}

/// Lists the secrets, as `name (id)`, that block deleting `key`. When it is the last active
/// key, every secret blocks it, because no one could decrypt them afterwards.
fn blocking_dependents(
    connection: &rusqlite::Connection,
    key: &UserKeyRow,
) -> Result<Vec<String>, StoreError> {
    if !key.is_active() || user_keys::count_active(connection)? != 1 {
        return Ok(Vec::new());
    }

    let dependents = store::secrets::list(connection)?
        .iter()
        .map(|secret| format!("{} ({})", secret.display(), secret.id))
        .collect();
    Ok(dependents)
}

/// Deletes a key with its session key; a store trigger removes its tags.
fn delete_key_rows(connection: &rusqlite::Connection, id: i64) -> Result<(), StoreError> {
    store::session_keys::delete_by_userkey(connection, id)?;
    user_keys::delete(connection, id)
}

/// NetBox's 409 for a delete blocked by dependent objects; `dependents` are `name (id)`.
fn protected_delete(dependents: &[String]) -> ApiError {
    let mut sorted = dependents.to_vec();
    sorted.sort_by_key(|entry| dependent_id(entry));

    ApiError::Detail(
        StatusCode::CONFLICT,
        format!(
            "Unable to delete object. {} dependent objects were found: {}",
            sorted.len(),
            sorted.join(", ")
        ),
    )
}

fn dependent_id(entry: &str) -> i64 {
    entry
        .rsplit_once(" (")
        .and_then(|(_, id)| id.trim_end_matches(')').parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> UserKeyRow {
        UserKeyRow {
            id: 1,
            user_id: 7,
            username: "admin".into(),
            user_display: "admin (Ada Admin)".into(),
            public_key: "-----BEGIN PUBLIC KEY-----".into(),
            master_key_cipher: Some(vec![1, 2, 3]),
            custom_fields: json!({}),
            created: Some("2026-07-23T15:47:00.123456Z".into()),
            last_updated: None,
        }
    }

    fn urls() -> Urls {
        Urls::new("https", "nb.example", "/")
    }

    #[test]
    fn representation_fields_in_plugin_order() {
        let fields = render(&urls(), &row(), &[]);
        let names: Vec<&str> = fields.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "id",
                "url",
                "display_url",
                "display",
                "user",
                "public_key",
                "is_active",
                "is_filled",
                "created",
                "last_updated",
                "tags",
                "custom_fields"
            ]
        );
    }

    #[test]
    fn representation_values() {
        let fields = render(&urls(), &row(), &[]);
        assert_eq!(
            fields["url"],
            "https://nb.example/api/plugins/secrets/user-keys/1/"
        );
        assert_eq!(
            fields["display_url"],
            "https://nb.example/plugins/secrets/user-keys/1/"
        );
        assert_eq!(fields["display"], "admin");
        assert_eq!(
            fields["user"],
            json!({
                "id": 7,
                "url": "https://nb.example/api/users/users/7/",
                "display": "admin (Ada Admin)",
                "username": "admin"
            })
        );
        assert_eq!(fields["is_active"], true);
        assert_eq!(fields["is_filled"], true);
        assert!(!fields.contains_key("master_key_cipher"));
    }

    #[test]
    fn brief_form() {
        assert_eq!(
            brief(&urls(), &row()),
            json!({
                "id": 1,
                "url": "https://nb.example/api/plugins/secrets/user-keys/1/",
                "display": "admin"
            })
        );
    }

    #[test]
    fn protected_delete_lists_dependents_by_id() {
        let err = protected_delete(&["b (12)".into(), "a (3)".into()]);
        let ApiError::Detail(status, detail) = err else {
            panic!("expected a detail error");
        };
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(
            detail,
            "Unable to delete object. 2 dependent objects were found: a (3), b (12)"
        );
    }

    mod transactions {
        use super::*;
        use crate::crypto::UserPrivateKey;
        use crate::store::secret_roles::{self, tests::new_role};
        use crate::store::secrets::tests::new_secret;
        use crate::store::testing;
        use crate::store::user_keys::tests::new_key;

        const FORMATS: &str = include_str!("../../tests/fixtures/vectors/formats.json");
        const SSH_PUBLIC: &str = include_str!("../../tests/fixtures/keys/vector-ssh-rsa.pub");

        fn vector(name: &str) -> String {
            let formats: Value = serde_json::from_str(FORMATS).unwrap();
            formats[name].as_str().unwrap().to_string()
        }

        fn input(public_key: &str) -> UserKeyInput {
            let key = input::check_public_key(public_key, 2048).unwrap();
            UserKeyInput {
                public_key: Some(CheckedKey {
                    text: public_key.trim().to_string(),
                    key,
                }),
                user: None,
                tags: None,
                custom_fields: None,
            }
        }

        fn owner(id: i64, username: &str) -> KeyOwner {
            KeyOwner {
                id,
                username: username.into(),
                display: username.into(),
            }
        }

        fn inserted(connection: &rusqlite::Connection, id: i64, name: &str) -> UserKeyRow {
            let public_key = vector("rsa_public_key_spki_pem");
            match insert_key(connection, owner(id, name), input(&public_key)).unwrap() {
                WriteOutcome::Done(row) => row,
                WriteOutcome::Rejected(err) => panic!("insert rejected: {err:?}"),
            }
        }

        fn add_secret(connection: &rusqlite::Connection) {
            let role = secret_roles::insert(connection, &new_role("Login", None)).unwrap();
            crate::store::secrets::insert(connection, &new_secret(1, role.id, "admin")).unwrap();
        }

        fn field_error(outcome: WriteOutcome, field: &str) -> Value {
            match outcome {
                WriteOutcome::Rejected(ApiError::Fields(fields)) => fields[field].clone(),
                WriteOutcome::Rejected(other) => panic!("unexpected error {other:?}"),
                WriteOutcome::Done(_) => panic!("write was not rejected"),
            }
        }

        #[test]
        fn first_key_creates_master_key() {
            let (_dir, connection) = testing::connection();

            let first = inserted(&connection, 1, "admin");
            let second = inserted(&connection, 2, "bob");

            assert!(first.is_active());
            assert!(!second.is_active());
            let private_key = UserPrivateKey::parse(&vector("rsa_private_key_pkcs1_pem")).unwrap();
            let cipher = first.master_key_cipher.unwrap();
            assert!(private_key.decrypt_master_key(&cipher).is_ok());
        }

        #[test]
        fn second_key_for_user_is_a_field_error() {
            let (_dir, connection) = testing::connection();
            inserted(&connection, 1, "admin");

            let outcome = insert_key(&connection, owner(1, "admin"), input(SSH_PUBLIC)).unwrap();

            assert_eq!(field_error(outcome, "user"), json!([DUPLICATE_USER]));
        }

        #[test]
        fn public_key_change_blocked_for_only_active_key() {
            let (_dir, connection) = testing::connection();
            let key = inserted(&connection, 1, "admin");
            add_secret(&connection);

            let outcome = apply_update(&connection, key.id, input(SSH_PUBLIC)).unwrap();

            assert_eq!(field_error(outcome, "public_key"), json!([ONLY_ACTIVE_KEY]));
            assert!(user_keys::get(&connection, key.id)
                .unwrap()
                .unwrap()
                .is_active());
        }

        #[test]
        fn same_public_key_keeps_key_active() {
            let (_dir, connection) = testing::connection();
            let key = inserted(&connection, 1, "admin");
            add_secret(&connection);

            let public_key = vector("rsa_public_key_spki_pem");
            let outcome = apply_update(&connection, key.id, input(&public_key)).unwrap();

            assert!(matches!(outcome, WriteOutcome::Done(ref row) if row.is_active()));
        }

        #[test]
        fn public_key_change_deactivates_and_ends_session() {
            let (_dir, connection) = testing::connection();
            let admin = inserted(&connection, 1, "admin");
            let bob = inserted(&connection, 2, "bob");
            user_keys::set_master_key_cipher(&connection, bob.id, Some(&[1; 256])).unwrap();
            store::session_keys::replace(&connection, admin.id, &[7; 32], "hash").unwrap();
            add_secret(&connection);

            let outcome = apply_update(&connection, admin.id, input(SSH_PUBLIC)).unwrap();

            let WriteOutcome::Done(row) = outcome else {
                panic!("update was rejected");
            };
            assert!(!row.is_active());
            assert!(row.public_key.starts_with("ssh-rsa "));
            let session = store::session_keys::get_by_userkey(&connection, admin.id).unwrap();
            assert_eq!(session, None);
        }

        #[test]
        fn last_active_key_with_secrets_is_protected() {
            let (_dir, connection) = testing::connection();
            let key = inserted(&connection, 1, "admin");
            add_secret(&connection);

            let result = remove_key(&connection, key.id).unwrap();

            let Err(ApiError::Detail(status, detail)) = result else {
                panic!("delete was not refused");
            };
            assert_eq!(status, StatusCode::CONFLICT);
            assert!(detail
                .starts_with("Unable to delete object. 1 dependent objects were found: admin ("));
        }

        #[test]
        fn delete_removes_key_and_session() {
            let (_dir, connection) = testing::connection();
            let key = inserted(&connection, 1, "admin");
            store::session_keys::replace(&connection, key.id, &[7; 32], "hash").unwrap();

            assert!(remove_key(&connection, key.id).unwrap().is_ok());

            assert_eq!(user_keys::get(&connection, key.id).unwrap(), None);
            let session = store::session_keys::get_by_userkey(&connection, key.id).unwrap();
            assert_eq!(session, None);
        }

        #[test]
        fn key_sizes_are_checked() {
            let small = input::check_public_key(&vector("rsa_public_key_spki_pem"), 4096);
            let message = small.err().unwrap();
            assert!(message.contains("2048 bits"), "{message}");
            assert!(message.contains("4096 bits"), "{message}");

            let large = include_str!("../../tests/fixtures/keys/rsa8192-public.pem");
            assert!(input::check_public_key(large, 2048).is_ok());
        }

        #[test]
        fn insert_with_other_user_key_rows() {
            let (_dir, connection) = testing::connection();
            user_keys::insert(&connection, &new_key(5, "carol")).unwrap();

            let key = inserted(&connection, 1, "admin");

            assert!(
                key.is_active(),
                "no key was active, so the new key gets the master key"
            );
        }
    }
}
