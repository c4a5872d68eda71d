//! Logging set-up with tracing: plain or JSON output.

use std::io::IsTerminal;

use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Errors from setting up logging.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid log.level filter: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),

    #[error("a global logger is already installed")]
    AlreadySet(#[from] tracing::subscriber::SetGlobalDefaultError),
}

/// Installs the process-wide logger, writing to standard error.
pub fn init(log: &LogConfig) -> Result<(), TelemetryError> {
    let ansi = std::io::stderr().is_terminal();
    let subscriber = build(log, std::io::stderr, ansi)?;
    tracing::subscriber::set_global_default(subscriber)?;
    Ok(())
}

/// Builds a logger that writes to `writer` without colours; tests use it to capture output.
pub fn subscriber<W>(
    log: &LogConfig,
    writer: W,
) -> Result<Box<dyn Subscriber + Send + Sync>, TelemetryError>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    build(log, writer, false)
}

fn build<W>(
    log: &LogConfig,
    writer: W,
    ansi: bool,
) -> Result<Box<dyn Subscriber + Send + Sync>, TelemetryError>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(&log.level)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);

    let subscriber: Box<dyn Subscriber + Send + Sync> = match log.format {
        LogFormat::Plain => Box::new(builder.finish()),
        LogFormat::Json => Box::new(builder.json().with_current_span(true).finish()),
    };
    Ok(subscriber)
}
