//! The `import-plugin` command: loads a netbox-secrets plugin export into an empty store.
//!
//! The export is read and checked completely before the database is opened, so a malformed
//! document creates neither the data directory nor the database file. The rows are then
//! inserted in one transaction, so an import that fails part way keeps nothing.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::store::import::{self, ImportSummary, PluginExport};
use crate::store::{Store, StoreError};

/// The `--file` value that reads the export from standard input.
pub const STDIN_NAME: &str = "-";

/// A failed import. In every case the store is left as it was.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {input}: {source}")]
    Read {
        input: String,
        source: std::io::Error,
    },

    #[error("{input}: {source}")]
    InvalidExport { input: String, source: StoreError },

    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot open the secrets database {path}: {source}")]
    Open { path: PathBuf, source: StoreError },

    #[error(
        "the secrets database {path} already contains data, so nothing was imported; \
         import only into a new database (move the file aside or set --database)"
    )]
    NotEmpty { path: PathBuf },

    #[error("import into {path} failed, nothing was written: {source}")]
    Write { path: PathBuf, source: StoreError },

    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// The outcome of a finished import: where the rows went and how many there were.
#[derive(Debug, Clone)]
pub struct ImportReport {
    pub database: PathBuf,
    pub summary: ImportSummary,
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts = [
            ("user keys", self.summary.user_keys),
            ("session keys", self.summary.session_keys),
            ("secret roles", self.summary.secret_roles),
            ("secrets", self.summary.secrets),
            ("tags", self.summary.tags),
        ];

        writeln!(f, "imported into {}:", self.database.display())?;
        for (name, count) in counts {
            writeln!(f, "  {:<14}{count}", format!("{name}:"))?;
        }
        Ok(())
    }
}

/// Reads the export from `file` ("-" for standard input) and imports it into the database
/// that `config` names, creating the data directory when needed.
pub fn run(config: &Config, file: &Path) -> Result<ImportReport, ImportError> {
    let input = input_name(file);
    let export = read_export(file, &input)?;

    let hidden_types = unconfigured_types(&export, &config.secrets.object_types);
    let database = config.database_path();
    let store = open_store(&database)?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(ImportError::Runtime)?;
    let result = runtime.block_on(store.write(move |tx| import::import(tx, &export)));

    let summary = result.map_err(|source| match source {
        StoreError::NotEmpty => ImportError::NotEmpty {
            path: database.clone(),
        },
        StoreError::InvalidExport(_) => ImportError::InvalidExport { input, source },
        source => ImportError::Write {
            path: database.clone(),
            source,
        },
    })?;

    for object_type in hidden_types {
        tracing::warn!(
            object_type,
            "imported secrets are assigned to an object type missing from secrets.object_types, \
             so only superusers see them, without their object, until the type is added"
        );
    }
    Ok(ImportReport { database, summary })
}

/// Returns the assigned-object types of the export's secrets that the configuration does not
/// allow, each once, in order of first use.
fn unconfigured_types(export: &PluginExport, allowed: &[String]) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();

    for secret in &export.secrets {
        let object_type = &secret.assigned_object_type;
        if !allowed.contains(object_type) && !found.contains(object_type) {
            found.push(object_type.clone());
        }
    }
    found
}

fn input_name(file: &Path) -> String {
    match file == Path::new(STDIN_NAME) {
        true => "standard input".to_owned(),
        false => file.display().to_string(),
    }
}

/// Reads and parses the whole export document.
fn read_export(file: &Path, input: &str) -> Result<PluginExport, ImportError> {
    let read_error = |source| ImportError::Read {
        input: input.to_owned(),
        source,
    };
    let invalid = |source| ImportError::InvalidExport {
        input: input.to_owned(),
        source,
    };

    let bytes = match file == Path::new(STDIN_NAME) {
        true => read_stdin().map_err(read_error)?,
        false => std::fs::read(file).map_err(read_error)?,
    };
    let text = String::from_utf8(bytes)
        .map_err(|err| invalid(StoreError::InvalidExport(format!("not UTF-8 text: {err}"))))?;

    PluginExport::from_json(&text).map_err(invalid)
}

fn read_stdin() -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::io::stdin().lock().read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Creates the database's directory when missing and opens the store, applying migrations.
fn open_store(database: &Path) -> Result<Store, ImportError> {
    if let Some(parent) = database
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|source| ImportError::DataDir {
            path: parent.to_path_buf(),
            source,
        })?;
    }

    Store::open(database).map_err(|source| ImportError::Open {
        path: database.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lists_every_count() {
        let report = ImportReport {
            database: PathBuf::from("data/secrets.sqlite3"),
            summary: ImportSummary {
                user_keys: 2,
                session_keys: 1,
                secret_roles: 3,
                secrets: 11,
                tags: 4,
            },
        };

        let text = report.to_string();

        assert!(
            text.starts_with("imported into data/secrets.sqlite3:\n"),
            "{text}"
        );
        assert!(text.contains("  user keys:    2\n"), "{text}");
        assert!(text.contains("  session keys: 1\n"), "{text}");
        assert!(text.contains("  secret roles: 3\n"), "{text}");
        assert!(text.contains("  secrets:      11\n"), "{text}");
        assert!(text.contains("  tags:         4\n"), "{text}");
    }

    #[test]
    fn unconfigured_types_are_listed_once() {
        let document = serde_json::json!({
            "user_keys": [], "session_keys": [],
            "secret_roles": [{"id": 1, "name": "Login", "slug": "login", "parent_id": null,
                              "created": null, "last_updated": null}],
            "secrets": [
                secret_json(1, "dcim.device"),
                secret_json(2, "ipam.vlan"),
                secret_json(3, "ipam.vlan"),
            ],
        });
        let export = PluginExport::from_json(&document.to_string()).unwrap();
        let allowed = ["dcim.device".to_owned()];

        assert_eq!(unconfigured_types(&export, &allowed), ["ipam.vlan"]);
    }

    fn secret_json(id: i64, object_type: &str) -> serde_json::Value {
        serde_json::json!({
            "id": id, "assigned_object_type": object_type, "assigned_object_id": id,
            "object_repr": null, "role_id": 1, "ciphertext": "00", "hash": "x",
            "created": null, "last_updated": null
        })
    }

    #[test]
    fn stdin_has_a_readable_name() {
        assert_eq!(input_name(Path::new("-")), "standard input");
        assert_eq!(input_name(Path::new("export.json")), "export.json");
    }
}
