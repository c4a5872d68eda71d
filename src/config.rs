//! Program configuration: TOML file, environment overrides and command-line flags.
