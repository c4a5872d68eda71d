//! Top-level program errors and their exit codes.
