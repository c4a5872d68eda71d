//! Program entry: load the configuration, set up logging, bind, serve until a signal.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use netbox_secrets_proxy::api::ApiService;
use netbox_secrets_proxy::config::{Cli, Command, Config, Overrides};
use netbox_secrets_proxy::error::AppError;
use netbox_secrets_proxy::proxy::{OwnedHandler, Server, Upstream};
use netbox_secrets_proxy::store::import::EXPORT_QUERY;
use netbox_secrets_proxy::{import_cli, shutdown, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("netbox-secrets-proxy: {error}");
            error.exit_code()
        }
    }
}

fn run(cli: Cli) -> Result<(), AppError> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::ExportQuery => {
            print!("{EXPORT_QUERY}");
            Ok(())
        }
        Command::CheckConfig => {
            let config = load_config(&cli.overrides)?;
            print!("{}", config.to_masked_toml()?);
            Ok(())
        }
        Command::ImportPlugin { file } => import_plugin(load_config(&cli.overrides)?, &file),
        Command::Serve => serve(load_config(&cli.overrides)?),
    }
}

fn load_config(overrides: &Overrides) -> Result<Config, AppError> {
    let env = std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)));
    Ok(Config::load(overrides, env)?)
}

fn import_plugin(config: Config, file: &Path) -> Result<(), AppError> {
    telemetry::init(&config.log)?;
    let report = import_cli::run(&config, file)?;
    print!("{report}");
    Ok(())
}

fn serve(config: Config) -> Result<(), AppError> {
    telemetry::init(&config.log)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(AppError::Runtime)?;

    runtime.block_on(async {
        let upstream = Upstream::new(&config)?;
        let api = ApiService::from_config(&config, upstream.clone())
            .map_err(|err| AppError::Handler(Box::new(err)))?;
        let handler: Arc<dyn OwnedHandler> = Arc::new(api);
        let server = Server::bind(&config, upstream, handler).await?;

        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            upstream = %config.upstream,
            base_path = %config.base_prefix(),
            "netbox-secrets-proxy started"
        );
        server.run(shutdown::signal()).await;
        tracing::info!("netbox-secrets-proxy stopped");
        Ok(())
    })
}
