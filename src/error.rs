//! Top-level program errors and their exit codes.

use std::process::ExitCode;

use crate::body::BoxError;
use crate::config::ConfigError;
use crate::proxy::{ServerError, UpstreamError};
use crate::telemetry::TelemetryError;

/// Exit code for an invalid configuration (`EX_CONFIG` from sysexits.h).
pub const EXIT_CONFIG: u8 = 78;

/// Exit code for any other failure to start or run.
pub const EXIT_FAILURE: u8 = 1;

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
}

impl AppError {
    /// Returns the process exit code: [`EXIT_CONFIG`] for anything the operator fixes in the
    /// configuration, [`EXIT_FAILURE`] otherwise.
    pub fn exit_code(&self) -> ExitCode {
        let code = match self {
            AppError::Config(_) | AppError::Telemetry(_) => EXIT_CONFIG,
            AppError::Upstream(UpstreamError::Tls(_)) => EXIT_CONFIG,
            AppError::Server(ServerError::Tls(_)) => EXIT_CONFIG,
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
