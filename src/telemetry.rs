//! Logging set-up with tracing: plain or JSON output.
