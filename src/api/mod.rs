//! The netbox-secrets REST API served under `/api/plugins/secrets/`.
