//! Real services the tests start for themselves: a throwaway PostgreSQL cluster (`initdb` and
//! `postgres` in a temporary directory, on a free port) and, for the cluster tests, `nats-server`
//! (on a free port).
//!
//! Each one runs as a child of a small watchdog shell that stops it and removes its files once this
//! test process has gone, however it ended. Tests can stop and restart a service to see how Natter
//! copes; dropping the handle stops it for good.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Which database the integration tests run against: `NATTER_TEST_DATABASE=postgres` or SQLite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestDatabase {
    Sqlite,
    Postgres,
}

pub fn test_database() -> TestDatabase {
    match std::env::var("NATTER_TEST_DATABASE").as_deref() {
        Ok("postgres") => TestDatabase::Postgres,
        Ok("sqlite") | Err(_) => TestDatabase::Sqlite,
        Ok(other) => panic!("NATTER_TEST_DATABASE is sqlite or postgres, not {other:?}"),
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// The directory of PostgreSQL's server programs, from Debian's `postgresql` package.
fn postgres_bin() -> PathBuf {
    let versions = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (scripts/setup.sh installs it)");
    let mut found: Vec<PathBuf> = versions
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("postgres").exists())
        .collect();
    found.sort();
    found
        .pop()
        .expect("a PostgreSQL server in /usr/lib/postgresql")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0\n"))
}

/// `program` as a command, run as the `postgres` user when we are root: PostgreSQL refuses to run
/// as root.
fn postgres_command(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// Starts `command` (its program and arguments) under a watchdog shell that writes the command's pid
/// to `pid_file` and, once this process is gone, runs `stop` (the shell code that stops the service;
/// `$child` is the command's pid) and then `cleanup`.
fn watched(command: &Command, pid_file: &Path, stop: &str, cleanup: &str) -> Child {
    let program = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| shell_quote(&part.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ");
    let script = format!(
        "{program} & child=$!; echo $child > {pid_file}; \
         while kill -0 {parent} 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.5; done; \
         {stop}; wait $child; {cleanup}",
        parent = std::process::id(),
        pid_file = shell_quote(&pid_file.to_string_lossy()),
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the watchdog starts")
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A PostgreSQL cluster of the test's own.
pub struct Postgres {
    pub port: u16,
    dir: PathBuf,
    server: Option<Child>,
}

impl Postgres {
    /// Creates a cluster in a new temporary directory and starts it.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("natter-pg-")
            .tempdir()
            .expect("a temporary directory")
            .keep();
        let data = dir.join("data");
        if is_root() {
            let owned = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .expect("chown runs");
            assert!(
                owned.success(),
                "the cluster's directory is given to postgres"
            );
        }
        let initdb = postgres_command(&postgres_bin().join("initdb"))
            .args([
                "--auth=trust",
                "--username=postgres",
                "--no-sync",
                "--pgdata",
            ])
            .arg(&data)
            .stdout(Stdio::null())
            .output()
            .expect("initdb runs");
        assert!(
            initdb.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        let mut postgres = Self {
            port: free_port(),
            dir,
            server: None,
        };
        postgres.resume();
        postgres
    }

    /// The server again, after `stop`, on the same port and data.
    pub fn resume(&mut self) {
        assert!(self.server.is_none(), "already running");
        let mut command = postgres_command(&postgres_bin().join("postgres"));
        command
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(&self.dir)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                // Tests need no protection from power loss; speed matters more here.
                "-c",
                "fsync=off",
                "-c",
                "max_connections=300",
            ]);
        let dir = shell_quote(&self.dir.to_string_lossy());
        // The postmaster runs under runuser: it is stopped by the pid it writes down.
        let stop = format!("kill -INT $(head -n1 {dir}/data/postmaster.pid) 2>/dev/null");
        let cleanup = cleanup_if_dropped(&format!("rm -rf {dir}"));
        let pid_file = self.dir.join("runuser.pid");
        self.server = Some(watched(&command, &pid_file, &stop, &cleanup));
        wait_for_port(self.port, "PostgreSQL");
    }

    /// Stops the server at once, as a crash would (its data stays).
    pub fn stop(&mut self) {
        if let Some(mut watchdog) = self.server.take() {
            // The watchdog's shell forwards nothing: stop the postmaster by its pid file.
            if let Ok(pid) = std::fs::read_to_string(self.dir.join("data/postmaster.pid")) {
                if let Some(pid) = pid.lines().next() {
                    let _ = Command::new("kill").args(["-QUIT", pid]).status();
                }
            }
            let _ = watchdog.wait();
        }
    }

    /// The URL of database `name`, created on first use.
    pub fn database(&self, name: &str) -> String {
        let created = Command::new(postgres_bin().join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args([
                "-d",
                "postgres",
                "-q",
                "-c",
                &format!("CREATE DATABASE {name}"),
            ])
            .output()
            .expect("psql runs");
        assert!(
            created.status.success(),
            "creating {name}: {}",
            String::from_utf8_lossy(&created.stderr)
        );
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

/// The watchdog removes the directory only when the test process is gone, not when a test stops
/// the server to restart it.
fn cleanup_if_dropped(cleanup: &str) -> String {
    format!("kill -0 {} 2>/dev/null || {cleanup}", std::process::id())
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The cluster this test process shares among its tests, each test with a database of its own.
pub fn shared_postgres() -> &'static Postgres {
    static SHARED: OnceLock<Postgres> = OnceLock::new();
    SHARED.get_or_init(Postgres::start)
}

/// A database of its own for one test, on the shared cluster.
pub fn fresh_postgres_database() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!("natter_{}", NEXT.fetch_add(1, Ordering::Relaxed));
    shared_postgres().database(&name)
}

/// A NATS server of the test's own.
pub struct Nats {
    pub port: u16,
    dir: PathBuf,
    server: Option<Child>,
}

impl Nats {
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("natter-nats-")
            .tempdir()
            .expect("a temporary directory")
            .keep();
        let mut nats = Self {
            port: free_port(),
            dir,
            server: None,
        };
        nats.resume();
        nats
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The server again, after `stop`, on the same port.
    pub fn resume(&mut self) {
        assert!(self.server.is_none(), "already running");
        let pid_file = self.dir.join("nats.pid");
        // Debian installs it in /usr/sbin, which not every PATH holds.
        let program = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .find(|path| Path::new(path).exists())
            .unwrap_or("nats-server");
        let mut command = Command::new(program);
        command.args(["-a", "127.0.0.1", "-p", &self.port.to_string()]);
        let dir = shell_quote(&self.dir.to_string_lossy());
        let cleanup = cleanup_if_dropped(&format!("rm -rf {dir}"));
        self.server = Some(watched(
            &command,
            &pid_file,
            "kill $child 2>/dev/null",
            &cleanup,
        ));
        wait_for_port(self.port, "nats-server");
    }

    /// Stops the server at once.
    pub fn stop(&mut self) {
        if let Some(watchdog) = self.server.take() {
            kill_watched(watchdog, &self.dir.join("nats.pid"));
        }
    }
}

/// Kills the command a watchdog started (SIGKILL: no goodbye), and waits for the watchdog.
fn kill_watched(mut watchdog: Child, pid_file: &Path) {
    if let Ok(pid) = std::fs::read_to_string(pid_file) {
        let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
    }
    let _ = watchdog.wait();
}

/// A Natter server in a process of its own, as an operator runs it: one node of a cluster.
pub struct NodeProcess {
    pub addr: std::net::SocketAddr,
    dir: PathBuf,
    watchdog: Option<Child>,
}

impl NodeProcess {
    pub fn start(database_url: &str, nats_url: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("natter-node-")
            .tempdir()
            .expect("a temporary directory")
            .keep();
        let port = free_port();
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
        let mut command = Command::new(env!("CARGO_BIN_EXE_natter"));
        command
            .args(["--listen", &addr.to_string(), "--data-dir"])
            .arg(&dir)
            .args(["--database-url", database_url, "--nats-url", nats_url])
            .args(["--log", "warn"]);
        let quoted = shell_quote(&dir.to_string_lossy());
        let cleanup = cleanup_if_dropped(&format!("rm -rf {quoted}"));
        let watchdog = watched(
            &command,
            &dir.join("natter.pid"),
            "kill $child 2>/dev/null",
            &cleanup,
        );
        wait_for_port(port, "natter");
        Self {
            addr,
            dir,
            watchdog: Some(watchdog),
        }
    }

    /// SIGKILL: the node dies without closing a socket or saying goodbye.
    pub fn kill(&mut self) {
        if let Some(watchdog) = self.watchdog.take() {
            kill_watched(watchdog, &self.dir.join("natter.pid"));
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
