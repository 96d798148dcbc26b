use clap::Parser;
use server::{config::Config, startup::Application, telemetry};

#[tokio::main]
async fn main() {
    let config = Config::parse();
    telemetry::init(&config.log);
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(error) => {
            tracing::error!(%error, "could not start");
            std::process::exit(1);
        }
    };
    tokio::spawn(server::startup::stop_on_signal(app.shutdown_token()));
    if let Err(error) = app.run_until_stopped().await {
        tracing::error!(%error, "server failed");
        std::process::exit(1);
    }
}
