//! Program entry: load the configuration, set up logging, bind, serve until a signal.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use netbox_secrets_proxy::api::ApiService;
use netbox_secrets_proxy::config::{Cli, Command, Config};
use netbox_secrets_proxy::error::AppError;
use netbox_secrets_proxy::proxy::{OwnedHandler, Server, Upstream};
use netbox_secrets_proxy::{shutdown, telemetry};

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
    let env = std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)));
    let config = Config::load(&cli.overrides, env)?;

    match cli.command.unwrap_or(Command::Serve) {
        Command::CheckConfig => {
            print!("{}", config.to_masked_toml()?);
            Ok(())
        }
        Command::Serve => serve(config),
    }
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
