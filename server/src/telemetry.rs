//! Logging: `tracing` to stderr, filtered by `--log` (`RUST_LOG` syntax).

use tracing_subscriber::EnvFilter;

pub fn init(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|error| {
        eprintln!("invalid --log filter {filter:?} ({error}); using \"info\"");
        EnvFilter::new("info")
    });
    // A second init (tests start many apps in one process) is harmless, so its error is ignored.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}
