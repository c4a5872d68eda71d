//! The access policy for secrets, secret roles and user keys.
//!
//! Stock NetBox cannot hold permissions for the plugin's object types, so grants come from the
//! proxy's configuration: by NetBox group or username, per action and model, optionally limited
//! to secrets of some secret roles. NetBox superusers may do everything.

use std::collections::HashSet;

use crate::config::PolicyConfig;
use crate::netbox::UserInfo;

/// Object kinds the policy covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    Secret,
    SecretRole,
    UserKey,
}

impl Model {
    pub fn from_name(name: &str) -> Option<Model> {
        match name {
            "secret" => Some(Model::Secret),
            "secretrole" => Some(Model::SecretRole),
            "userkey" => Some(Model::UserKey),
            _ => None,
        }
    }
}

/// Permission actions, as in NetBox's `view`/`add`/`change`/`delete`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    View,
    Add,
    Change,
    Delete,
}

impl Action {
    pub fn from_name(name: &str) -> Option<Action> {
        match name {
            "view" => Some(Action::View),
            "add" => Some(Action::Add),
            "change" => Some(Action::Change),
            "delete" => Some(Action::Delete),
            _ => None,
        }
    }

    /// The action NetBox maps an HTTP method to.
    pub fn for_method(method: &http::Method) -> Action {
        match *method {
            http::Method::POST => Action::Add,
            http::Method::PUT | http::Method::PATCH => Action::Change,
            http::Method::DELETE => Action::Delete,
            _ => Action::View,
        }
    }
}

/// Objects a permission reaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every object of the model.
    All,
    /// Only secrets whose role has one of these slugs.
    Roles(HashSet<String>),
}

impl Scope {
    /// Returns whether a secret with this role slug is inside the scope.
    pub fn allows_role(&self, role_slug: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Roles(slugs) => slugs.contains(role_slug),
        }
    }
}

#[derive(Clone, Debug)]
struct Grant {
    groups: Vec<String>,
    users: Vec<String>,
    actions: Vec<Action>,
    models: Vec<Model>,
    roles: Option<HashSet<String>>,
}

impl Grant {
    fn applies_to(&self, user: &UserInfo, model: Model, action: Action) -> bool {
        let member = self.users.contains(&user.username)
            || user.groups.iter().any(|group| self.groups.contains(group));
        member && self.actions.contains(&action) && self.models.contains(&model)
    }
}

/// The grants of the configuration, ready to be asked.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    grants: Vec<Grant>,
}

impl Policy {
    /// Builds the policy; names were validated with the configuration, unknown ones are dropped.
    pub fn new(config: &PolicyConfig) -> Policy {
        let grants = config
            .grants
            .iter()
            .map(|grant| Grant {
                groups: grant.groups.clone(),
                users: grant.users.clone(),
                actions: grant
                    .actions
                    .iter()
                    .filter_map(|name| Action::from_name(name))
                    .collect(),
                models: grant
                    .models
                    .iter()
                    .filter_map(|name| Model::from_name(name))
                    .collect(),
                roles: grant
                    .roles
                    .as_ref()
                    .map(|roles| roles.iter().cloned().collect()),
            })
            .collect();
        Policy { grants }
    }

    /// Returns the scope the grants give this user, or `None` when no grant applies.
    pub fn scope(&self, user: &UserInfo, model: Model, action: Action) -> Option<Scope> {
        let mut slugs: HashSet<String> = HashSet::new();
        let mut any = false;

        for grant in self
            .grants
            .iter()
            .filter(|grant| grant.applies_to(user, model, action))
        {
            any = true;
            match &grant.roles {
                None => return Some(Scope::All),
                Some(roles) => slugs.extend(roles.iter().cloned()),
            }
        }

        any.then_some(Scope::Roles(slugs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Grant as GrantConfig;

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            id: 1,
            username: name.into(),
            display: name.into(),
            groups: groups.iter().map(|group| group.to_string()).collect(),
        }
    }

    fn policy() -> Policy {
        Policy::new(&PolicyConfig {
            grants: vec![
                GrantConfig {
                    groups: vec!["operators".into()],
                    users: vec![],
                    actions: vec!["view".into()],
                    models: vec!["secret".into(), "secretrole".into()],
                    roles: None,
                },
                GrantConfig {
                    groups: vec![],
                    users: vec!["carol".into()],
                    actions: vec!["view".into(), "change".into()],
                    models: vec!["secret".into()],
                    roles: Some(vec!["snmp".into()]),
                },
            ],
        })
    }

    #[test]
    fn group_grant_gives_full_scope() {
        let scope = policy().scope(&user("alice", &["operators"]), Model::Secret, Action::View);
        assert_eq!(scope, Some(Scope::All));
    }

    #[test]
    fn ungranted_action_has_no_scope() {
        let scope = policy().scope(&user("alice", &["operators"]), Model::Secret, Action::Add);
        assert_eq!(scope, None);
    }

    #[test]
    fn user_grant_is_limited_to_roles() {
        let scope = policy()
            .scope(&user("carol", &[]), Model::Secret, Action::Change)
            .unwrap();
        assert!(scope.allows_role("snmp"));
        assert!(!scope.allows_role("login"));
    }

    #[test]
    fn strangers_get_nothing() {
        let scope = policy().scope(&user("bob", &[]), Model::SecretRole, Action::View);
        assert_eq!(scope, None);
    }
}
