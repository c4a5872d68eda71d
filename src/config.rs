//! Program configuration: TOML file, environment overrides and command-line flags.
//!
//! Layers apply in this order, later ones winning: built-in defaults, the TOML file given with
//! `--config`, `NBSP_*` environment variables, then command-line flags. The merged table is
//! deserialized into typed structs that reject unknown keys, and [`Config::validate`] checks the
//! values before anything listens.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use toml::{Table, Value};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Placeholder printed wherever a secret value would appear.
pub const MASK: &str = "********";

/// Actions a policy grant may name.
pub const GRANT_ACTIONS: &[&str] = &["view", "add", "change", "delete"];

/// Models a policy grant may name.
pub const GRANT_MODELS: &[&str] = &["secret", "secretrole", "userkey"];

/// Command line of the `netbox-secrets-proxy` program.
#[derive(Debug, Parser)]
#[command(name = "netbox-secrets-proxy", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub overrides: Overrides,
}

/// The program's subcommand, run once the configuration is loaded.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Run the proxy (the default).
    Serve,
    /// Validate the configuration and print it as TOML with secret values masked.
    CheckConfig,
    /// Import a netbox-secrets plugin export into the configured database, which must be empty.
    ImportPlugin {
        /// JSON document printed by the export query, or "-" to read standard input.
        #[arg(long, value_name = "EXPORT.json")]
        file: PathBuf,
    },
    /// Print the PostgreSQL query that exports the plugin's tables for import-plugin.
    ExportQuery,
}

/// Command-line flags that override the file and the environment.
#[derive(Debug, Default, Clone, Args)]
pub struct Overrides {
    /// TOML configuration file.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Address the proxy listens on, such as 127.0.0.1:8080.
    #[arg(long, global = true, value_name = "ADDR")]
    pub listen: Option<String>,

    /// Base URL of NetBox, http or https, such as http://127.0.0.1:8001.
    #[arg(long, global = true, value_name = "URL")]
    pub upstream: Option<String>,

    /// Public scheme and host NetBox should write into URLs, such as https://netbox.example.com.
    #[arg(long, global = true, value_name = "URL")]
    pub public_url: Option<String>,

    /// NetBox BASE_PATH, such as "netbox/".
    #[arg(long, global = true, value_name = "PATH")]
    pub base_path: Option<String>,

    /// Directory for the proxy's own data.
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// SQLite database file (default: <data_dir>/secrets.sqlite3).
    #[arg(long, global = true, value_name = "PATH")]
    pub database: Option<PathBuf>,

    /// Log format: plain or json.
    #[arg(long, global = true, value_name = "FORMAT")]
    pub log_format: Option<String>,

    /// Log filter in tracing EnvFilter syntax, such as "info" or "netbox_secrets_proxy=debug".
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
}

/// Errors found while loading or validating the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("invalid TOML in {path}: {message}")]
    Syntax { path: PathBuf, message: String },

    #[error("unknown environment variable {name}: no configuration key has that name")]
    UnknownEnv { name: String },

    #[error("invalid configuration: {0}")]
    Schema(String),

    #[error("invalid configuration: {key}: {reason}")]
    Invalid { key: String, reason: String },

    #[error("cannot render configuration as TOML: {0}")]
    Render(String),
}

impl ConfigError {
    fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// A secret text value: wiped on drop, printed as `********`, never serialized as itself.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: String) -> Self {
        SecretString(value)
    }

    /// Returns the secret text. Callers must not log or store it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(SecretString)
    }
}

fn serialize_masked<S: Serializer>(
    value: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => serializer.serialize_str(MASK),
        None => serializer.serialize_none(),
    }
}

/// Durations written as whole seconds.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(value.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_secs)
    }
}

/// An IP network in CIDR notation; a bare address means a single host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix_len: u8,
}

impl Cidr {
    /// Tells whether `ip` lies inside this network. IPv4-mapped IPv6 addresses count as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix_len));
                let mask = mask.unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix_len));
                let mask = mask.unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or CIDR network"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };

        let prefix_len = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|len| *len <= max)
                .ok_or_else(|| format!("{text:?} has an invalid prefix length (0 to {max})"))?,
        };
        Ok(Cidr {
            network,
            prefix_len,
        })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The whole program configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    pub upstream: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    #[serde(default)]
    pub base_path: String,
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Resolved to `<data_dir>/secrets.sqlite3` by loading when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<PathBuf>,
    #[serde(default)]
    pub trusted_proxies: Vec<Cidr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_tls: Option<UpstreamTlsConfig>,
    #[serde(default)]
    pub timeouts: Timeouts,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub secrets: SecretsConfig,
    #[serde(default)]
    pub policy: PolicyConfig,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

/// PEM certificate chain and private key for TLS on the listener.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// Extra trust for an HTTPS upstream, on top of the webpki roots.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTlsConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

/// Timeouts, all in whole seconds.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timeouts {
    /// TCP (and TLS) connection set-up to NetBox.
    #[serde(with = "secs")]
    pub connect_secs: Duration,
    /// Wait for NetBox's response headers.
    #[serde(with = "secs")]
    pub response_secs: Duration,
    /// Wait for a client's TLS handshake and request headers.
    #[serde(with = "secs")]
    pub client_header_secs: Duration,
    /// Time given to in-flight requests after SIGTERM or SIGINT.
    #[serde(with = "secs")]
    pub shutdown_grace_secs: Duration,
    /// How long an unused upstream connection stays in the pool.
    #[serde(with = "secs")]
    pub upstream_idle_secs: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect_secs: Duration::from_secs(5),
            response_secs: Duration::from_secs(120),
            client_header_secs: Duration::from_secs(30),
            shutdown_grace_secs: Duration::from_secs(30),
            upstream_idle_secs: Duration::from_secs(90),
        }
    }
}

/// Size limits. Forwarded bodies are streamed and have no limit.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Maximum request body accepted by the secrets API, in bytes.
    pub api_body_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            api_body_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Plain,
    Json,
}

/// Logging settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// Filter in tracing-subscriber EnvFilter syntax.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Plain,
            level: "info".to_owned(),
        }
    }
}

/// Caching of NetBox credential checks, and the proxy's own NetBox token.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    #[serde(with = "secs")]
    pub success_ttl_secs: Duration,
    #[serde(with = "secs")]
    pub failure_ttl_secs: Duration,
    pub max_entries: usize,
    #[serde(
        serialize_with = "serialize_masked",
        skip_serializing_if = "Option::is_none"
    )]
    pub service_token: Option<SecretString>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            success_ttl_secs: Duration::from_secs(30),
            failure_ttl_secs: Duration::from_secs(5),
            max_entries: 10_000,
            service_token: None,
        }
    }
}

/// Behaviour of the secrets API itself.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsConfig {
    /// Object types secrets may be assigned to, as `app_label.model`.
    pub object_types: Vec<String>,
    #[serde(with = "secs")]
    pub object_cache_ttl_secs: Duration,
    /// Minimum RSA modulus size for user keys, and the generator's default size.
    pub public_key_size: usize,
    pub paginate_count: usize,
    pub max_page_size: usize,
}

impl Default for SecretsConfig {
    fn default() -> Self {
        SecretsConfig {
            object_types: vec![
                "dcim.device".to_owned(),
                "virtualization.virtualmachine".to_owned(),
            ],
            object_cache_ttl_secs: Duration::from_secs(10),
            public_key_size: 2048,
            paginate_count: 50,
            max_page_size: 1000,
        }
    }
}

/// Permission grants for the proxy's own models.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    pub grants: Vec<Grant>,
}

/// One permission grant: these groups and users may perform these actions on these models.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Grant {
    pub groups: Vec<String>,
    pub users: Vec<String>,
    pub actions: Vec<String>,
    pub models: Vec<String>,
    /// Limits secret grants to secrets whose role has one of these slugs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
}

impl Config {
    /// Loads the configuration from the file named in `overrides`, then `env`, then the flags.
    pub fn load(
        overrides: &Overrides,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table = match &overrides.config {
            Some(path) => read_file(path)?,
            None => Table::new(),
        };

        apply_env(&mut table, env)?;
        apply_flags(&mut table, overrides);
        Config::from_table(table)
    }

    /// Parses and validates configuration text, without environment or flags.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        let table: Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: PathBuf::from("<string>"),
            message: e.message().to_owned(),
        })?;
        Config::from_table(table)
    }

    fn from_table(table: Table) -> Result<Config, ConfigError> {
        if !table.contains_key("upstream") {
            return Err(ConfigError::invalid(
                "upstream",
                "missing: set it in the file, with NBSP_UPSTREAM or with --upstream",
            ));
        }

        let mut config: Config = Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Schema(e.to_string().trim().to_owned()))?;

        config.validate()?;
        if config.database.is_none() {
            config.database = Some(config.data_dir.join("secrets.sqlite3"));
        }
        Ok(config)
    }

    /// Returns the SQLite database path: `database`, or `<data_dir>/secrets.sqlite3`.
    pub fn database_path(&self) -> PathBuf {
        match &self.database {
            Some(path) => path.clone(),
            None => self.data_dir.join("secrets.sqlite3"),
        }
    }

    /// NetBox's BASE_PATH as a path prefix: `/` or `/netbox/`.
    pub fn base_prefix(&self) -> String {
        let trimmed = self.base_path.trim_matches('/');
        if trimmed.is_empty() {
            "/".to_owned()
        } else {
            format!("/{trimmed}/")
        }
    }

    /// Renders the effective configuration as TOML, with every secret value masked.
    pub fn to_masked_toml(&self) -> Result<String, ConfigError> {
        toml::to_string_pretty(self).map_err(|e| ConfigError::Render(e.to_string()))
    }

    /// Checks every value that deserialization alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        parse_origin_url(&self.upstream).map_err(|r| ConfigError::invalid("upstream", r))?;
        if let Some(url) = &self.public_url {
            parse_origin_url(url).map_err(|r| ConfigError::invalid("public_url", r))?;
        }
        validate_base_path(&self.base_path)?;

        validate_files(self)?;
        validate_timeouts(&self.timeouts)?;
        if self.limits.api_body_bytes == 0 {
            return Err(ConfigError::invalid(
                "limits.api_body_bytes",
                "must be greater than 0",
            ));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return Err(ConfigError::invalid("log.level", e.to_string()));
        }

        validate_auth(&self.auth)?;
        validate_secrets(&self.secrets)?;
        validate_policy(&self.policy)
    }
}

/// Splits an absolute `http` or `https` URL with no path into its scheme and `host[:port]`.
pub fn parse_origin_url(text: &str) -> Result<(String, String), String> {
    let uri: http::Uri = text
        .parse()
        .map_err(|_| format!("{text:?} is not a valid URL"))?;

    let scheme = match uri.scheme_str() {
        Some("http") => "http",
        Some("https") => "https",
        _ => return Err(format!("{text:?} must start with http:// or https://")),
    };
    let authority = uri
        .authority()
        .ok_or_else(|| format!("{text:?} has no host"))?;
    if authority.as_str().contains('@') {
        return Err(format!("{text:?} must not contain user information"));
    }

    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    if path_and_query != "/" && !path_and_query.is_empty() {
        return Err(format!(
            "{text:?} must have no path or query (NetBox's path prefix goes in base_path)"
        ));
    }
    Ok((scheme.to_owned(), authority.as_str().to_owned()))
}

fn validate_base_path(base_path: &str) -> Result<(), ConfigError> {
    let trimmed = base_path.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(());
    }

    for segment in trimmed.split('/') {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
        if segment.is_empty() || segment == "." || segment == ".." || !segment.chars().all(allowed)
        {
            return Err(ConfigError::invalid(
                "base_path",
                format!(
                    "{base_path:?} must be path segments of letters, digits, '-', '.', '_' or '~', such as \"netbox/\""
                ),
            ));
        }
    }
    Ok(())
}

fn validate_files(config: &Config) -> Result<(), ConfigError> {
    if let Some(tls) = &config.tls {
        require_file("tls.cert_file", &tls.cert_file)?;
        require_file("tls.key_file", &tls.key_file)?;
    }
    if let Some(ca_file) = config
        .upstream_tls
        .as_ref()
        .and_then(|t| t.ca_file.as_ref())
    {
        require_file("upstream_tls.ca_file", ca_file)?;
    }
    Ok(())
}

fn require_file(key: &str, path: &Path) -> Result<(), ConfigError> {
    if path.is_file() {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            key,
            format!("file not found: {}", path.display()),
        ))
    }
}

fn validate_timeouts(timeouts: &Timeouts) -> Result<(), ConfigError> {
    let required = [
        ("timeouts.connect_secs", timeouts.connect_secs),
        ("timeouts.response_secs", timeouts.response_secs),
        ("timeouts.client_header_secs", timeouts.client_header_secs),
    ];
    for (key, value) in required {
        if value.is_zero() {
            return Err(ConfigError::invalid(key, "must be greater than 0"));
        }
    }
    Ok(())
}

fn validate_auth(auth: &AuthConfig) -> Result<(), ConfigError> {
    if auth.max_entries == 0 {
        return Err(ConfigError::invalid(
            "auth.max_entries",
            "must be greater than 0",
        ));
    }
    if auth
        .service_token
        .as_ref()
        .is_some_and(|t| t.expose().trim().is_empty())
    {
        return Err(ConfigError::invalid(
            "auth.service_token",
            "must not be empty; remove the key to run without a service token",
        ));
    }
    Ok(())
}

fn validate_secrets(secrets: &SecretsConfig) -> Result<(), ConfigError> {
    if secrets.object_types.is_empty() {
        return Err(ConfigError::invalid(
            "secrets.object_types",
            "must name at least one object type",
        ));
    }
    for object_type in &secrets.object_types {
        if !is_object_type(object_type) {
            return Err(ConfigError::invalid(
                "secrets.object_types",
                format!(
                    "{object_type:?} is not of the form app_label.model, such as \"dcim.device\""
                ),
            ));
        }
    }

    let size = secrets.public_key_size;
    if !(1024..=8192).contains(&size) || size % 256 != 0 {
        return Err(ConfigError::invalid(
            "secrets.public_key_size",
            format!("{size} must be a multiple of 256 between 1024 and 8192"),
        ));
    }
    if secrets.paginate_count == 0 {
        return Err(ConfigError::invalid(
            "secrets.paginate_count",
            "must be greater than 0",
        ));
    }
    if secrets.max_page_size < secrets.paginate_count {
        return Err(ConfigError::invalid(
            "secrets.max_page_size",
            "must be at least secrets.paginate_count",
        ));
    }
    Ok(())
}

fn is_object_type(text: &str) -> bool {
    let part_ok = |part: &str| {
        part.starts_with(|c: char| c.is_ascii_lowercase())
            && part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    match text.split_once('.') {
        Some((app_label, model)) => part_ok(app_label) && part_ok(model),
        None => false,
    }
}

fn validate_policy(policy: &PolicyConfig) -> Result<(), ConfigError> {
    for (index, grant) in policy.grants.iter().enumerate() {
        let key = |field: &str| format!("policy.grants[{index}].{field}");

        if grant.groups.is_empty() && grant.users.is_empty() {
            return Err(ConfigError::invalid(
                key("groups"),
                "a grant needs at least one group or user",
            ));
        }
        check_names(&key("actions"), &grant.actions, GRANT_ACTIONS)?;
        check_names(&key("models"), &grant.models, GRANT_MODELS)?;

        let limits_roles = grant.roles.is_some();
        if limits_roles && !grant.models.iter().any(|m| m == "secret") {
            return Err(ConfigError::invalid(
                key("roles"),
                "roles limit secret grants only; add \"secret\" to models or remove roles",
            ));
        }
        if grant.roles.as_ref().is_some_and(|r| r.is_empty()) {
            return Err(ConfigError::invalid(
                key("roles"),
                "must name at least one role slug, or be removed",
            ));
        }
    }
    Ok(())
}

fn check_names(key: &str, names: &[String], known: &[&str]) -> Result<(), ConfigError> {
    if names.is_empty() {
        return Err(ConfigError::invalid(
            key,
            format!("must name at least one of {}", known.join(", ")),
        ));
    }
    match names.iter().find(|n| !known.contains(&n.as_str())) {
        Some(unknown) => Err(ConfigError::invalid(
            key,
            format!(
                "unknown value {unknown:?}; expected one of {}",
                known.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

fn read_file(path: &Path) -> Result<Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Syntax {
        path: path.to_owned(),
        message: e.to_string().trim().to_owned(),
    })
}

/// The TOML type an environment variable's text is converted to.
#[derive(Clone, Copy)]
enum EnvKind {
    Text,
    Integer,
    /// Comma-separated list of strings.
    List,
}

/// Every key that an `NBSP_*` variable can set. `[[policy.grants]]` can only come from the file.
const ENV_KEYS: &[(&str, EnvKind)] = &[
    ("listen", EnvKind::Text),
    ("upstream", EnvKind::Text),
    ("public_url", EnvKind::Text),
    ("base_path", EnvKind::Text),
    ("data_dir", EnvKind::Text),
    ("database", EnvKind::Text),
    ("trusted_proxies", EnvKind::List),
    ("tls.cert_file", EnvKind::Text),
    ("tls.key_file", EnvKind::Text),
    ("upstream_tls.ca_file", EnvKind::Text),
    ("timeouts.connect_secs", EnvKind::Integer),
    ("timeouts.response_secs", EnvKind::Integer),
    ("timeouts.client_header_secs", EnvKind::Integer),
    ("timeouts.shutdown_grace_secs", EnvKind::Integer),
    ("timeouts.upstream_idle_secs", EnvKind::Integer),
    ("limits.api_body_bytes", EnvKind::Integer),
    ("log.format", EnvKind::Text),
    ("log.level", EnvKind::Text),
    ("auth.success_ttl_secs", EnvKind::Integer),
    ("auth.failure_ttl_secs", EnvKind::Integer),
    ("auth.max_entries", EnvKind::Integer),
    ("auth.service_token", EnvKind::Text),
    ("secrets.object_types", EnvKind::List),
    ("secrets.object_cache_ttl_secs", EnvKind::Integer),
    ("secrets.public_key_size", EnvKind::Integer),
    ("secrets.paginate_count", EnvKind::Integer),
    ("secrets.max_page_size", EnvKind::Integer),
];

/// Name of the environment variable for a dotted key: `auth.service_token` gives
/// `NBSP_AUTH_SERVICE_TOKEN`.
pub fn env_name(key: &str) -> String {
    format!("NBSP_{}", key.replace('.', "_").to_ascii_uppercase())
}

fn apply_env(
    table: &mut Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    for (name, text) in env {
        if !name.starts_with("NBSP_") {
            continue;
        }
        let Some((key, kind)) = ENV_KEYS.iter().find(|(key, _)| env_name(key) == name) else {
            return Err(ConfigError::UnknownEnv { name });
        };

        let value = match kind {
            EnvKind::Text => Value::String(text),
            EnvKind::Integer => Value::Integer(text.trim().parse().map_err(|_| {
                ConfigError::invalid(*key, format!("{name} must be an integer, not {text:?}"))
            })?),
            EnvKind::List => Value::Array(
                text.split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(|item| Value::String(item.to_owned()))
                    .collect(),
            ),
        };
        set_key(table, key, value);
    }
    Ok(())
}

fn apply_flags(table: &mut Table, flags: &Overrides) {
    let path_text = |p: &Option<PathBuf>| p.as_ref().map(|p| p.to_string_lossy().into_owned());
    let values = [
        ("listen", flags.listen.clone()),
        ("upstream", flags.upstream.clone()),
        ("public_url", flags.public_url.clone()),
        ("base_path", flags.base_path.clone()),
        ("data_dir", path_text(&flags.data_dir)),
        ("database", path_text(&flags.database)),
        ("log.format", flags.log_format.clone()),
        ("log.level", flags.log_level.clone()),
    ];

    for (key, value) in values {
        if let Some(value) = value {
            set_key(table, key, Value::String(value));
        }
    }
}

/// Sets a dotted key, creating its section table when missing or replacing a non-table value.
fn set_key(table: &mut Table, key: &str, value: Value) {
    match key.split_once('.') {
        None => {
            table.insert(key.to_owned(), value);
        }
        Some((section, field)) => {
            let entry = table
                .entry(section.to_owned())
                .or_insert_with(|| Value::Table(Table::new()));
            if !entry.is_table() {
                *entry = Value::Table(Table::new());
            }
            if let Value::Table(section) = entry {
                section.insert(field.to_owned(), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn flags_with_upstream() -> Overrides {
        Overrides {
            upstream: Some("http://127.0.0.1:8001".to_owned()),
            ..Overrides::default()
        }
    }

    fn invalid_key(result: Result<Config, ConfigError>) -> String {
        match result {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid-value error, got {other:?}"),
        }
    }

    #[test]
    fn upstream_flag_alone_runs_on_defaults() {
        let config = Config::load(&flags_with_upstream(), Vec::new()).unwrap();

        assert_eq!(config.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.data_dir, PathBuf::from("data"));
        assert_eq!(
            config.database_path(),
            PathBuf::from("data/secrets.sqlite3")
        );
        assert_eq!(config.base_prefix(), "/");
        assert_eq!(config.timeouts.connect_secs, Duration::from_secs(5));
        assert_eq!(config.timeouts.response_secs, Duration::from_secs(120));
        assert_eq!(config.limits.api_body_bytes, 16_777_216);
        assert_eq!(config.log.format, LogFormat::Plain);
        assert_eq!(config.secrets.paginate_count, 50);
        assert!(config.auth.service_token.is_none());
    }

    #[test]
    fn missing_upstream_is_named() {
        let result = Config::load(&Overrides::default(), Vec::new());
        assert_eq!(invalid_key(result), "upstream");
    }

    #[test]
    fn env_overrides_file_and_flags_override_env() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "upstream = \"http://file:1\"\nlisten = \"127.0.0.1:1\"\n[auth]\nmax_entries = 5\n",
        )
        .unwrap();
        let flags = Overrides {
            config: Some(path),
            listen: Some("127.0.0.1:3".to_owned()),
            ..Overrides::default()
        };
        let vars = env(&[
            ("NBSP_LISTEN", "127.0.0.1:2"),
            ("NBSP_UPSTREAM", "https://env:2"),
            ("NBSP_AUTH_SERVICE_TOKEN", "tok"),
            ("NBSP_AUTH_MAX_ENTRIES", "7"),
            ("NBSP_TRUSTED_PROXIES", "10.0.0.0/8, ::1"),
            ("PATH", "/bin"),
        ]);

        let config = Config::load(&flags, vars).unwrap();

        assert_eq!(config.listen, "127.0.0.1:3".parse().unwrap());
        assert_eq!(config.upstream, "https://env:2");
        assert_eq!(config.auth.max_entries, 7);
        assert_eq!(config.auth.service_token.unwrap().expose(), "tok");
        assert_eq!(config.trusted_proxies.len(), 2);
    }

    #[test]
    fn unknown_env_variable_is_rejected() {
        let result = Config::load(&flags_with_upstream(), env(&[("NBSP_LISTN", "x")]));
        assert!(matches!(result, Err(ConfigError::UnknownEnv { name }) if name == "NBSP_LISTN"));
    }

    #[test]
    fn non_integer_env_value_names_the_key() {
        let vars = env(&[("NBSP_TIMEOUTS_CONNECT_SECS", "soon")]);
        let result = Config::load(&flags_with_upstream(), vars);
        assert_eq!(invalid_key(result), "timeouts.connect_secs");
    }

    #[test]
    fn unknown_key_in_file_is_rejected_by_name() {
        let err = Config::from_toml_str("upstream = \"http://a\"\n[timeouts]\nconect_secs = 1\n")
            .unwrap_err();
        assert!(err.to_string().contains("conect_secs"), "{err}");
    }

    #[test]
    fn wrong_type_in_file_names_the_key() {
        let err =
            Config::from_toml_str("upstream = \"http://a\"\n[limits]\napi_body_bytes = \"x\"\n")
                .unwrap_err();
        assert!(err.to_string().contains("api_body_bytes"), "{err}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("upstream = \"ftp://a\"", "upstream"),
            ("upstream = \"http://a/netbox/\"", "upstream"),
            ("upstream = \"http://a\"\npublic_url = \"proxy.example.com\"", "public_url"),
            ("upstream = \"http://a\"\nbase_path = \"../x\"", "base_path"),
            ("upstream = \"http://a\"\n[timeouts]\nconnect_secs = 0", "timeouts.connect_secs"),
            ("upstream = \"http://a\"\n[limits]\napi_body_bytes = 0", "limits.api_body_bytes"),
            ("upstream = \"http://a\"\n[log]\nlevel = \"=[\"", "log.level"),
            ("upstream = \"http://a\"\n[auth]\nmax_entries = 0", "auth.max_entries"),
            ("upstream = \"http://a\"\n[auth]\nservice_token = \"\"", "auth.service_token"),
            ("upstream = \"http://a\"\n[secrets]\nobject_types = [\"device\"]", "secrets.object_types"),
            ("upstream = \"http://a\"\n[secrets]\npublic_key_size = 1000", "secrets.public_key_size"),
            ("upstream = \"http://a\"\n[secrets]\nmax_page_size = 10", "secrets.max_page_size"),
            ("upstream = \"http://a\"\n[tls]\ncert_file = \"/nonexistent/c\"\nkey_file = \"/nonexistent/k\"", "tls.cert_file"),
            ("upstream = \"http://a\"\n[[policy.grants]]\nusers = [\"a\"]\nactions = [\"view\", \"steal\"]\nmodels = [\"secret\"]", "policy.grants[0].actions"),
            ("upstream = \"http://a\"\n[[policy.grants]]\nusers = [\"a\"]\nactions = [\"view\"]\nmodels = [\"device\"]", "policy.grants[0].models"),
            ("upstream = \"http://a\"\n[[policy.grants]]\nactions = [\"view\"]\nmodels = [\"secret\"]", "policy.grants[0].groups"),
            ("upstream = \"http://a\"\n[[policy.grants]]\nusers = [\"a\"]\nactions = [\"view\"]\nmodels = [\"userkey\"]\nroles = [\"r\"]", "policy.grants[0].roles"),
        ];

        for (text, key) in cases {
            assert_eq!(
                invalid_key(Config::from_toml_str(text)),
                key,
                "config: {text}"
            );
        }
    }

    #[test]
    fn policy_grants_parse() {
        let text = "upstream = \"http://a\"\n[[policy.grants]]\ngroups = [\"operators\"]\n\
                    actions = [\"view\"]\nmodels = [\"secret\"]\nroles = [\"ref-secret-role\"]\n";
        let config = Config::from_toml_str(text).unwrap();

        let grant = &config.policy.grants[0];
        assert_eq!(grant.groups, ["operators"]);
        assert!(grant.users.is_empty());
        assert_eq!(
            grant.roles.as_deref(),
            Some(&["ref-secret-role".to_owned()][..])
        );
    }

    #[test]
    fn masked_toml_hides_service_token_and_round_trips() {
        let text = "upstream = \"http://a\"\n[auth]\nservice_token = \"hunter2-token\"\n\
                    [[policy.grants]]\nusers = [\"alice\"]\nactions = [\"view\"]\nmodels = [\"secret\"]\n";
        let config = Config::from_toml_str(text).unwrap();

        let rendered = config.to_masked_toml().unwrap();

        assert!(!rendered.contains("hunter2-token"), "{rendered}");
        assert!(
            rendered.contains("service_token = \"********\""),
            "{rendered}"
        );
        assert!(
            rendered.contains("database = \"data/secrets.sqlite3\""),
            "{rendered}"
        );
        Config::from_toml_str(&rendered).unwrap();
    }

    #[test]
    fn secret_string_prints_placeholder() {
        let secret = SecretString::new("hunter2".to_owned());
        assert_eq!(format!("{secret}"), MASK);
        assert_eq!(format!("{secret:?}"), MASK);
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn base_prefix_normalises_slashes() {
        let config =
            Config::from_toml_str("upstream = \"http://a\"\nbase_path = \"netbox/\"").unwrap();
        assert_eq!(config.base_prefix(), "/netbox/");
        let config =
            Config::from_toml_str("upstream = \"http://a\"\nbase_path = \"/a/b\"").unwrap();
        assert_eq!(config.base_prefix(), "/a/b/");
    }

    #[test]
    fn cidr_matching() {
        let cases = [
            ("10.0.0.0/8", "10.1.2.3", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("127.0.0.1", "127.0.0.1", true),
            ("127.0.0.1", "127.0.0.2", false),
            ("0.0.0.0/0", "203.0.113.9", true),
            ("::1", "::1", true),
            ("fd00::/8", "fd12::1", true),
            ("10.0.0.0/8", "::ffff:10.0.0.1", true),
            ("::/0", "10.0.0.1", false),
        ];
        for (cidr, ip, expected) in cases {
            let cidr: Cidr = cidr.parse().unwrap();
            assert_eq!(cidr.contains(ip.parse().unwrap()), expected, "{cidr} {ip}");
        }
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("example.com".parse::<Cidr>().is_err());
    }
}
