//! The accept loop: every TCP connection the server takes, and the limits that keep one client from
//! taking them all.
//!
//! `axum::serve` cannot time out a half-sent request or cap connections, so Natter drives hyper itself:
//! - connections are counted per client address and in total, and the excess is refused at once with a
//!   short `503` (the file-descriptor limit is never reached, so `/healthz` and logins keep answering);
//! - a request's headers must arrive within the header timeout, which also closes idle keep-alive
//!   connections (request bodies have their own timeout, a layer in the router);
//! - `TCP_NODELAY` is set, so a small reply is not held back by Nagle's algorithm;
//! - a WebSocket keeps its connection's slot until the socket closes.

use axum::{extract::ConnectInfo, Router};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::{
    collections::HashMap,
    io,
    net::IpAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;

/// How the server treats connections.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Open connections (WebSockets included) one client address may hold.
    pub per_address: usize,
    /// Open connections in all.
    pub total: usize,
    /// How long a client has to send a request's headers, and how long a keep-alive connection may
    /// sit idle between requests.
    pub header_timeout: Duration,
}

/// File descriptors kept back from connections, for the database, logs and the like.
const DESCRIPTORS_KEPT: u64 = 128;

/// Raises the soft open-file limit to the hard one and returns how many connections it leaves room
/// for. The default connection cap stays below it, so accepting never fails for lack of descriptors.
pub fn connection_room() -> usize {
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or_else(|error| {
        tracing::warn!(%error, "cannot read or raise the open-file limit; assuming 1024");
        1024
    });
    usize::try_from(limit.saturating_sub(DESCRIPTORS_KEPT).max(16)).unwrap_or(usize::MAX)
}

/// The refusal an over-limit connection gets before it is closed.
const REFUSAL: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 5\r\n\
Content-Type: application/json\r\nContent-Length: 84\r\n\r\n\
{\"code\":\"unavailable\",\"message\":\"Too many connections from your address or in all.\"}";

/// Serves `router` on `listener` until `shutdown` is cancelled, then lets in-flight requests finish
/// for up to `drain`. HTTP/1.1 only: browsers speak HTTP/2 only over TLS, which a proxy in front of
/// Natter terminates.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
    drain: Duration,
) {
    let counter = Arc::new(Counter::new(limits));
    let connections = TaskTracker::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
        };
        let Some(slot) = Counter::admit(&counter, peer.ip()) else {
            tracing::debug!(%peer, "refused a connection over the limit");
            // Best effort: the client may not be reading, and must not hold up the loop.
            let _ = stream.try_write(REFUSAL);
            continue;
        };
        send_small_writes_at_once(&stream);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request.map(axum::body::Body::new))
        });
        let io = TokioIo::new(Counted {
            stream,
            _slot: slot,
        });
        let mut connection = builder.serve_connection(io, service).with_upgrades();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let ended = tokio::select! {
                ended = &mut connection => ended,
                _ = shutdown.cancelled() => {
                    // Finish the request in flight, if any, then close.
                    Pin::new(&mut connection).graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = ended {
                tracing::trace!(%peer, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(drain, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("some requests did not finish in time");
    }
}

/// Turns off Nagle's algorithm: otherwise a reply written right after a small push waits for the
/// client's delayed ACK (40 ms on Linux) before it leaves.
fn send_small_writes_at_once(stream: &TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY");
    }
}

/// Errors that concern one connection pass; others (such as running out of descriptors) get a pause,
/// so the loop does not spin while nothing can be accepted.
async fn accept_failed(error: io::Error) {
    use io::ErrorKind::*;
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset | Interrupted
    ) {
        return;
    }
    tracing::error!(%error, "accept failed");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Open connections per address and in total.
struct Counter {
    limits: ConnectionLimits,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// One admitted connection; dropping it frees its place.
struct Slot {
    counter: Arc<Counter>,
    address: IpAddr,
}

impl Counter {
    fn new(limits: ConnectionLimits) -> Self {
        Self {
            limits,
            open: Mutex::new((0, HashMap::new())),
        }
    }

    fn admit(counter: &Arc<Counter>, address: IpAddr) -> Option<Slot> {
        let mut open = counter.open.lock().expect("connection counter lock");
        let (total, per_address) = &mut *open;
        let mine = per_address.entry(address).or_default();
        if *total >= counter.limits.total || *mine >= counter.limits.per_address {
            if *mine == 0 {
                per_address.remove(&address);
            }
            return None;
        }
        *mine += 1;
        *total += 1;
        Some(Slot {
            counter: counter.clone(),
            address,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.counter.open.lock().expect("connection counter lock");
        let (total, per_address) = &mut *open;
        *total -= 1;
        if let Some(mine) = per_address.get_mut(&self.address) {
            *mine -= 1;
            if *mine == 0 {
                per_address.remove(&self.address);
            }
        }
    }
}

/// A connection that holds its slot for as long as it lives, through a WebSocket upgrade too.
struct Counted {
    stream: TcpStream,
    _slot: Slot,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_a_complete_response() {
        let text = std::str::from_utf8(REFUSAL).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        let error: app::protocol::ApiError = serde_json::from_str(body).unwrap();
        assert_eq!(error.code, app::protocol::ErrorCode::Unavailable);
    }

    #[tokio::test]
    async fn accepted_connections_send_small_writes_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        assert!(!accepted.nodelay().unwrap(), "Nagle is on by default");
        send_small_writes_at_once(&accepted);
        assert!(accepted.nodelay().unwrap());
    }

    #[test]
    fn slots_are_counted_per_address_and_in_total() {
        let counter = Arc::new(Counter::new(ConnectionLimits {
            per_address: 2,
            total: 3,
            header_timeout: Duration::from_secs(1),
        }));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let c: IpAddr = "10.0.0.3".parse().unwrap();
        let a1 = Counter::admit(&counter, a).unwrap();
        let _a2 = Counter::admit(&counter, a).unwrap();
        assert!(Counter::admit(&counter, a).is_none(), "per address");
        let _b1 = Counter::admit(&counter, b).unwrap();
        assert!(Counter::admit(&counter, c).is_none(), "in total");
        drop(a1);
        assert!(
            Counter::admit(&counter, c).is_some(),
            "a closed one frees its place"
        );
        assert_eq!(counter.open.lock().unwrap().1.get(&a), Some(&1));
    }
}
