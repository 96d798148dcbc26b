//! Settings from command-line flags or environment variables (`natter --help` lists them).

use clap::Parser;
use std::{net::SocketAddr, path::PathBuf};

#[derive(Clone, Debug, Parser)]
#[command(
    name = "natter",
    version,
    about = "Natter: a self-hosted real-time messenger."
)]
pub struct Config {
    /// Address to listen on [default: LEPTOS_SITE_ADDR, else 127.0.0.1:3000].
    #[arg(long, env = "NATTER_LISTEN")]
    pub listen: Option<SocketAddr>,

    /// Directory for the SQLite database and other data; created on first start.
    #[arg(long, env = "NATTER_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Database URL [default: sqlite://<data-dir>/natter.db].
    #[arg(long, env = "NATTER_DATABASE_URL")]
    pub database_url: Option<String>,

    /// Extra origins (scheme://host[:port]) whose pages may open the WebSocket, comma-separated.
    /// The site's own origin is always allowed.
    #[arg(long, env = "NATTER_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Mark the session cookie Secure: set it when users reach Natter over HTTPS.
    #[arg(long, env = "NATTER_SECURE_COOKIES")]
    pub secure_cookies: bool,

    /// How long a login stays valid, in days.
    #[arg(long, env = "NATTER_SESSION_DAYS", default_value_t = 30)]
    pub session_days: u32,

    /// Log filter, in RUST_LOG syntax (e.g. "info" or "info,server=debug").
    #[arg(long, env = "NATTER_LOG", default_value = "info")]
    pub log: String,
}

impl Config {
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("natter.db").display()))
    }
}
