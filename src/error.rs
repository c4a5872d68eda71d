//! Top-level program errors and their exit codes.

use std::process::ExitCode;

use crate::body::BoxError;
use crate::config::ConfigError;
use crate::import_cli::ImportError;
use crate::proxy::{ServerError, UpstreamError};
use crate::telemetry::TelemetryError;

/// Exit code for an invalid configuration (`EX_CONFIG` from sysexits.h).
pub const EXIT_CONFIG: u8 = 78;

/// Exit code for any other failure to start or run.
pub const EXIT_FAILURE: u8 = 1;

/// Exit code for an import document that is not a valid plugin export (`EX_DATAERR`).
pub const EXIT_DATA_ERR: u8 = 65;

/// Exit code for an import document that cannot be read (`EX_NOINPUT`).
pub const EXIT_NO_INPUT: u8 = 66;

/// Exit code for an import into a database that already contains data (`EX_CANTCREAT`,
/// because the import cannot create its rows there).
pub const EXIT_STORE_NOT_EMPTY: u8 = 73;

/// Everything that stops the program.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),

    #[error("cannot start logging: {0}")]
    Telemetry(#[from] TelemetryError),

    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),

    #[error("cannot set up the NetBox client: {0}")]
    Upstream(#[from] UpstreamError),

    #[error(transparent)]
    Server(#[from] ServerError),

    #[error("cannot start the secrets API: {0}")]
    Handler(BoxError),

    #[error(transparent)]
    Import(#[from] ImportError),
}

impl AppError {
    /// Returns the process exit code: [`EXIT_CONFIG`] for anything the operator fixes in the
    /// configuration, one of the import codes for a failed import, [`EXIT_FAILURE`] otherwise.
    pub fn exit_code(&self) -> ExitCode {
        let code = match self {
            AppError::Config(_) | AppError::Telemetry(_) => EXIT_CONFIG,
            AppError::Upstream(UpstreamError::Tls(_)) => EXIT_CONFIG,
            AppError::Server(ServerError::Tls(_)) => EXIT_CONFIG,
            AppError::Import(ImportError::Read { .. }) => EXIT_NO_INPUT,
            AppError::Import(ImportError::InvalidExport { .. }) => EXIT_DATA_ERR,
            AppError::Import(ImportError::NotEmpty { .. }) => EXIT_STORE_NOT_EMPTY,
            _ => EXIT_FAILURE,
        };
        ExitCode::from(code)
    }
}

/// Formats an error with its chain of sources, separated by ": ".
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
