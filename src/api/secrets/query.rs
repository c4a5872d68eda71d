//! Filters and ordering of secret lists: the plugin's filter set, the older `device` and
//! `virtual_machine` filters, `q`, tags, and unknown parameters rejected.

use std::collections::HashSet;

use super::super::call::Call;
use super::super::error::ApiError;
use super::super::filters::{order_by, FilterSet, SortKey, SortKeyFn};
use super::super::request::Query;
use super::super::tags::{invalid_choice, TagFilter};
use super::view::{object_key, Loaded, VisibleObjects};
use crate::store::secrets::SecretRow;

/// Filters on the assigned object's type and id (current and older spellings).
const DEVICE: &str = "dcim.device";
const VIRTUAL_MACHINE: &str = "virtualization.virtualmachine";

/// Declares the filters; parameters not listed here are rejected as unknown.
pub fn filter_set() -> FilterSet<SecretRow> {
    FilterSet::<SecretRow>::new()
        .integer("id", |secret| Some(secret.id))
        .text("name", |secret| Some(secret.name.as_str()))
        .integer("assigned_object_id", |secret| {
            Some(secret.assigned_object_id)
        })
        .text("_object_repr", |secret| secret.object_repr.as_deref())
        .text("description", |secret| Some(secret.description.as_str()))
        .timestamp("created", |secret| secret.created.as_deref())
        .timestamp("last_updated", |secret| secret.last_updated.as_deref())
        .custom("q")
        .custom("role")
        .custom("role_id")
        .custom("tag")
        .custom("tag__n")
        .custom("tag_id")
        .custom("tag_id__n")
        .custom("assigned_object_type")
        .custom("assigned_object_type_id")
        .custom("device")
        .custom("device_id")
        .custom("virtual_machine")
        .custom("virtual_machine_id")
        .custom("contact")
        .custom("contact_role")
        .custom("contact_group")
        .custom("owner")
        .custom("owner_id")
        .custom("owner_group")
        .custom("owner_group_id")
}

/// The filters the set leaves to the handler, read from the query.
pub struct CustomFilters {
    q: Option<String>,
    role_ids: Option<HashSet<i64>>,
    tags: TagFilter,
    object_type: Option<Option<String>>,
    object_type_ids: Vec<i64>,
    devices: Vec<String>,
    device_ids: Vec<i64>,
    virtual_machines: Vec<String>,
    virtual_machine_ids: Vec<i64>,
    /// Secrets have no contacts or owners here, so any such filter matches nothing.
    matches_nothing: bool,
}

impl CustomFilters {
    /// Reads the handler's filters; `role` slugs must name existing roles, as in NetBox.
    pub async fn read(call: &Call, loaded: &Loaded) -> Result<CustomFilters, ApiError> {
        let query = &call.query;

        let object_type = query.get("assigned_object_type").map(|value| {
            let value = value.to_ascii_lowercase();
            value.split_once('.').is_some().then_some(value)
        });

        let mut object_type_ids = query.integers("assigned_object_type_id")?;
        object_type_ids.sort_unstable();

        Ok(CustomFilters {
            q: query
                .get("q")
                .filter(|q| !q.trim().is_empty())
                .map(|q| q.trim().to_lowercase()),
            role_ids: role_ids(query, loaded)?,
            tags: TagFilter::read(call).await?,
            object_type,
            object_type_ids,
            devices: query.non_empty("device"),
            device_ids: query.integers("device_id")?,
            virtual_machines: query.non_empty("virtual_machine"),
            virtual_machine_ids: query.integers("virtual_machine_id")?,
            matches_nothing: [
                "contact",
                "contact_role",
                "contact_group",
                "owner",
                "owner_id",
                "owner_group",
                "owner_group_id",
            ]
            .iter()
            .any(|name| query.get(name).is_some()),
        })
    }

    /// Returns whether the filters on the assigned object's type id need NetBox's type ids.
    pub fn needs_type_ids(&self) -> bool {
        !self.object_type_ids.is_empty()
    }

    /// Applies the filters that need only the stored secret.
    pub fn matches_stored(
        &self,
        secret: &SecretRow,
        loaded: &Loaded,
        type_ids: &[(String, i64)],
    ) -> bool {
        if self.matches_nothing {
            return false;
        }
        if let Some(role_ids) = &self.role_ids {
            if !role_ids.contains(&secret.role_id) {
                return false;
            }
        }
        if let Some(object_type) = &self.object_type {
            if object_type.as_deref() != Some(secret.assigned_object_type.as_str()) {
                return false;
            }
        }
        if !self.object_type_ids.is_empty() {
            let type_id = type_ids
                .iter()
                .find(|(name, _)| *name == secret.assigned_object_type)
                .map(|(_, id)| *id);
            if !type_id.is_some_and(|id| self.object_type_ids.contains(&id)) {
                return false;
            }
        }
        self.matches_tags(secret, loaded) && self.matches_object_ids(secret)
    }

    /// Applies the filters that need the assigned object as NetBox shows it now.
    pub fn matches_object(&self, secret: &SecretRow, objects: &VisibleObjects) -> bool {
        let object = objects.get(&object_key(secret));
        let field = |name: &str| {
            object
                .and_then(|object| object.get(name))
                .and_then(|value| value.as_str())
                .unwrap_or("")
                .to_string()
        };

        let named = |object_type: &str, names: &[String]| {
            names.is_empty()
                || (secret.assigned_object_type == object_type && names.contains(&field("name")))
        };
        if !named(DEVICE, &self.devices) || !named(VIRTUAL_MACHINE, &self.virtual_machines) {
            return false;
        }

        let Some(q) = &self.q else { return true };
        let haystacks = [
            secret.name.to_lowercase(),
            secret.description.to_lowercase(),
            secret
                .object_repr
                .clone()
                .unwrap_or_default()
                .to_lowercase(),
            field("display").to_lowercase(),
        ];
        haystacks.iter().any(|text| text.contains(q.as_str()))
    }

    fn matches_tags(&self, secret: &SecretRow, loaded: &Loaded) -> bool {
        self.tags.matches(loaded.tags_of(secret))
    }

    fn matches_object_ids(&self, secret: &SecretRow) -> bool {
        let on = |object_type: &str, ids: &[i64]| {
            ids.is_empty()
                || (secret.assigned_object_type == object_type
                    && ids.contains(&secret.assigned_object_id))
        };
        on(DEVICE, &self.device_ids) && on(VIRTUAL_MACHINE, &self.virtual_machine_ids)
    }
}

/// Role ids named by `role` (slugs) and `role_id`, ORed as NetBox does within one filter.
fn role_ids(query: &Query, loaded: &Loaded) -> Result<Option<HashSet<i64>>, ApiError> {
    let slugs = query.non_empty("role");
    let ids = query.integers("role_id")?;
    if slugs.is_empty() && ids.is_empty() {
        return Ok(None);
    }

    let mut selected: HashSet<i64> = HashSet::new();
    for slug in &slugs {
        let role = loaded
            .roles
            .values()
            .find(|role| &role.slug == slug)
            .ok_or_else(|| invalid_choice("role", slug))?;
        selected.insert(role.id);
    }
    for id in ids {
        if !loaded.roles.contains_key(&id) {
            return Err(invalid_choice("role_id", &id.to_string()));
        }
        selected.insert(id);
    }

    Ok(Some(selected))
}

/// Sorts secrets by `?ordering=`, or by role name, name and id as the plugin does.
pub fn sort(secrets: &mut [&SecretRow], ordering: Option<&str>, loaded: &Loaded) {
    let role_name = |secret: &SecretRow| {
        loaded
            .role_of(secret)
            .map(|role| role.name.as_str())
            .unwrap_or_default()
    };
    secrets.sort_by(|a, b| {
        (role_name(a), a.name.as_str(), a.id).cmp(&(role_name(b), b.name.as_str(), b.id))
    });

    order_by(secrets, ordering, &sort_keys());
}

/// Returns the fields `?ordering=` may name.
fn sort_keys<'a>() -> [(&'static str, SortKeyFn<&'a SecretRow>); 7] {
    [
        ("id", |secret| SortKey::Integer(secret.id)),
        ("name", |secret| SortKey::Text(secret.name.clone())),
        ("assigned_object_type", |secret| {
            SortKey::Text(secret.assigned_object_type.clone())
        }),
        ("assigned_object_id", |secret| {
            SortKey::Integer(secret.assigned_object_id)
        }),
        ("description", |secret| {
            SortKey::Text(secret.description.clone())
        }),
        ("created", |secret| text_or_null(secret.created.as_deref())),
        ("last_updated", |secret| {
            text_or_null(secret.last_updated.as_deref())
        }),
    ]
}

fn text_or_null(value: Option<&str>) -> SortKey {
    value.map_or(SortKey::Null, |text| SortKey::Text(text.to_string()))
}
