//! Settings from command-line flags or environment variables (`natter --help` lists them).

use crate::client_address::TrustedProxies;
use crate::media::MediaLocation;
use axum::http::{uri::Scheme, Uri};
use clap::Parser;
use ipnet::IpNet;
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

    /// Database URL: sqlite://<file> or postgres://user@host/database
    /// [default: sqlite://<data-dir>/natter.db].
    #[arg(long, env = "NATTER_DATABASE_URL")]
    pub database_url: Option<String>,

    /// NATS server URL (nats://host:port) that makes this process one node of a cluster sharing the
    /// database: nodes tell each other of their writes and logouts over it. Without it, the process
    /// serves alone.
    #[arg(long, env = "NATTER_NATS_URL")]
    pub nats_url: Option<String>,

    /// Seconds a node's presence lease lasts. A node renews it every third of that; when a node dies
    /// without a goodbye, its users go offline at most this long (and a third more) later.
    #[arg(long, env = "NATTER_PRESENCE_LEASE_SECS", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(3..=300))]
    pub presence_lease_secs: u64,

    /// Days the event log keeps events. A client away longer reloads its chats instead of syncing;
    /// message history itself is kept.
    #[arg(long, env = "NATTER_LOG_RETENTION_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub log_retention_days: u32,

    /// The address people open in their browser, scheme://host[:port] (e.g. https://chat.example.org;
    /// behind a proxy that terminates TLS, the https address). Requests for any other host are
    /// refused, and browsers may call the API and open the socket only from this origin. An https URL
    /// makes the cookies Secure and `__Host-` bound [default: http://<listen address>].
    #[arg(long, env = "NATTER_PUBLIC_URL", value_parser = PublicUrl::parse)]
    pub public_url: Option<PublicUrl>,

    /// Extra origins (scheme://host[:port]) whose pages may open the WebSocket, comma-separated.
    /// The public URL's origin is always allowed.
    #[arg(long, env = "NATTER_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// How long a login stays valid, in days.
    #[arg(long, env = "NATTER_SESSION_DAYS", default_value_t = 30)]
    pub session_days: u32,

    /// Members one group may have.
    #[arg(long, env = "NATTER_GROUP_MEMBERS_MAX",
          default_value_t = app::model::limits::GROUP_MEMBERS_DEFAULT as u32,
          value_parser = clap::value_parser!(u32).range(2..=100_000))]
    pub group_members_max: u32,

    /// Open connections (WebSockets included) one client address may hold, on all nodes together.
    #[arg(
        long,
        env = "NATTER_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 256
    )]
    pub max_connections_per_address: usize,

    /// Load balancers and proxies (addresses or networks such as 10.0.0.0/8, comma-separated) whose
    /// X-Forwarded-For names the client. Their own connections count only in the total; the clients
    /// behind them are capped per address when they open the WebSocket, and throttled per address
    /// at login and registration. Without it, every peer is a client, whatever it claims.
    #[arg(long, env = "NATTER_TRUSTED_PROXIES", value_delimiter = ',',
          value_parser = TrustedProxies::parse_entry)]
    pub trusted_proxies: Vec<IpNet>,

    /// Open connections in all, at most what the open-file limit leaves room for (the server raises
    /// its soft limit to the hard one at start) [default: that room].
    #[arg(long, env = "NATTER_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// Seconds a client has to send a request's headers; also how long an idle keep-alive
    /// connection stays open.
    #[arg(long, env = "NATTER_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,

    /// Seconds a client has to send a request's body.
    #[arg(long, env = "NATTER_BODY_TIMEOUT_SECS", default_value_t = 30)]
    pub body_timeout_secs: u64,

    /// Accounts one client address may register per hour.
    #[arg(long, env = "NATTER_REGISTRATIONS_PER_HOUR", default_value_t = 10)]
    pub registrations_per_hour: u32,

    /// Where uploaded files are kept: file://<directory> [default: file://<data-dir>/media].
    #[arg(long, env = "NATTER_MEDIA_STORE", value_parser = MediaLocation::parse)]
    pub media_store: Option<MediaLocation>,

    /// The largest file one upload may be, in MiB.
    #[arg(long, env = "NATTER_MEDIA_FILE_MAX_MIB", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub media_file_max_mib: u64,

    /// What one person's files may take in all, in MiB.
    #[arg(long, env = "NATTER_MEDIA_QUOTA_MIB", default_value_t = 1024,
          value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    pub media_quota_mib: u64,

    /// Seconds a client has to send an upload's body (other requests have --body-timeout-secs).
    #[arg(long, env = "NATTER_UPLOAD_TIMEOUT_SECS", default_value_t = 300)]
    pub upload_timeout_secs: u64,

    /// Log filter, in RUST_LOG syntax (e.g. "info" or "info,server=debug").
    #[arg(long, env = "NATTER_LOG", default_value = "info")]
    pub log: String,
}

impl Config {
    pub fn media_location(&self) -> MediaLocation {
        self.media_store
            .clone()
            .unwrap_or_else(|| MediaLocation::Directory(self.data_dir.join("media")))
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("natter.db").display()))
    }
}

/// Where people reach Natter: a scheme (http or https), a host and maybe a port; nothing else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicUrl {
    pub https: bool,
    /// `host[:port]`, lower case, as browsers send it in `Host` and `Origin`.
    pub authority: String,
}

impl PublicUrl {
    pub fn parse(text: &str) -> Result<Self, String> {
        let uri: Uri = text
            .trim_end_matches('/')
            .parse()
            .map_err(|e| format!("not a URL: {e}"))?;
        let https = match uri.scheme() {
            Some(scheme) if *scheme == Scheme::HTTPS => true,
            Some(scheme) if *scheme == Scheme::HTTP => false,
            _ => return Err("the public URL starts with http:// or https://".into()),
        };
        let authority = uri
            .authority()
            .filter(|authority| !authority.as_str().contains('@'))
            .ok_or("the public URL needs a host (and no user name)")?;
        if uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
            return Err("the public URL has no path: Natter is served from the root".into());
        }
        let default_port = if https { 443 } else { 80 };
        let authority = match authority.port_u16() {
            Some(port) if port == default_port => authority.host().to_ascii_lowercase(),
            _ => authority.as_str().to_ascii_lowercase(),
        };
        Ok(Self { https, authority })
    }

    /// The URL for a server listening on `addr` and reached directly; on every interface, that is
    /// `localhost` (anything else needs `--public-url`).
    pub fn for_listen_address(addr: SocketAddr) -> Self {
        let authority = if addr.ip().is_unspecified() {
            format!("localhost:{}", addr.port())
        } else {
            addr.to_string()
        };
        Self {
            https: false,
            authority,
        }
    }

    /// `scheme://host[:port]`, as a browser's `Origin` header names this site.
    pub fn origin(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.authority)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_are_an_origin_and_nothing_more() {
        let url = PublicUrl::parse("https://Chat.Example.org/").unwrap();
        assert_eq!(url.origin(), "https://chat.example.org");
        assert_eq!(
            PublicUrl::parse("http://127.0.0.1:80").unwrap().authority,
            "127.0.0.1"
        );
        assert_eq!(
            PublicUrl::parse("http://[::1]:3000").unwrap().origin(),
            "http://[::1]:3000"
        );
        for bad in [
            "chat.example.org",
            "ftp://chat.example.org",
            "https://chat.example.org/natter",
            "https://user@chat.example.org",
        ] {
            assert!(PublicUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
