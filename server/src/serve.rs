//! The accept loop: every TCP connection the server takes, and the limits that keep one client from
//! taking them all.
//!
//! `axum::serve` cannot time out a half-sent request or cap connections, so Natter drives hyper itself:
//! - connections are counted per client address (for the whole cluster, `connection_counts`) and in
//!   total, and the excess is refused at once with a short `503` (the file-descriptor limit is never
//!   reached, so `/healthz` and logins keep answering). A trusted proxy's connections count only in
//!   total: the clients behind it are counted when they open a WebSocket (`ws::upgrade`);
//! - a request's headers must arrive within the header timeout, which also closes idle keep-alive
//!   connections; an API request's body must arrive within the body timeout (`body_deadline`);
//! - `TCP_NODELAY` is set, so a small reply is not held back by Nagle's algorithm;
//! - a WebSocket keeps its connection's slot until the socket closes.

use crate::client_address::{client_network, TrustedProxies};
use crate::connection_counts::{ClientSlot, ConnectionCounts};
use axum::{
    body::Body,
    extract::{ConnectInfo, Request},
    middleware::Next,
    response::Response,
    Router,
};
use futures::StreamExt;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::{
    io,
    pin::Pin,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
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
#[derive(Clone)]
pub struct ConnectionLimits {
    /// Open connections (WebSockets included) per client address, across the cluster.
    pub per_client: Arc<ConnectionCounts>,
    /// Peers whose connections carry many clients, counted per client only at the socket.
    pub trusted_proxies: TrustedProxies,
    /// Open connections to this process in all.
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
    let open = Arc::new(OpenConnections::new(limits.total));
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
        let places = open.admit().and_then(|total| {
            // A proxy carries many clients: each is counted when it opens a WebSocket.
            let client = match limits.trusted_proxies.trusts(peer.ip()) {
                true => None,
                false => Some(limits.per_client.admit(client_network(peer.ip()))?),
            };
            Some(Places {
                _total: total,
                _client: client,
            })
        });
        let Some(places) = places else {
            tracing::debug!(%peer, "refused a connection over the limit");
            refuse(stream);
            continue;
        };
        send_small_writes_at_once(&stream);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request.map(Body::new))
        });
        let io = TokioIo::new(Counted {
            stream,
            _places: places,
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

/// Gives a request's body `limit` in all to arrive: past it, reading the body fails, the handler
/// answers `400`, and the connection closes with the body unread. (tower-http's body timeout only
/// bounds the gap between two chunks, which a client sending a byte now and then never reaches.)
pub async fn body_deadline(limit: Duration, request: Request, next: Next) -> Response {
    let deadline = tokio::time::Instant::now() + limit;
    let request = request.map(|body| {
        let chunks = body.into_data_stream();
        let timed = futures::stream::unfold(Some(chunks), move |chunks| async move {
            let mut chunks = chunks?;
            match tokio::time::timeout_at(deadline, chunks.next()).await {
                Ok(Some(chunk)) => Some((chunk, Some(chunks))),
                Ok(None) => None,
                Err(_) => Some((Err(axum::Error::new("the body took too long")), None)),
            }
        });
        Body::from_stream(timed)
    });
    next.run(request).await
}

/// Answers an over-limit connection with the refusal and closes it, without waiting on the client:
/// what it already sent is read first, so the close is a FIN (the refusal arrives) rather than a RST.
fn refuse(stream: TcpStream) {
    let _ = stream.try_write(REFUSAL);
    let mut sent = [0u8; 4096];
    for _ in 0..16 {
        if !matches!(stream.try_read(&mut sent), Ok(n) if n > 0) {
            break;
        }
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

/// Open connections to this process.
struct OpenConnections {
    cap: usize,
    open: AtomicUsize,
}

/// One admitted connection's place in the total; dropping it frees the place.
struct TotalSlot(Arc<OpenConnections>);

impl OpenConnections {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            open: AtomicUsize::new(0),
        }
    }

    fn admit(self: &Arc<Self>) -> Option<TotalSlot> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.cap).then_some(open + 1)
            })
            .ok()
            .map(|_| TotalSlot(self.clone()))
    }
}

impl Drop for TotalSlot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection's places in the counts, freed when it is dropped.
struct Places {
    _total: TotalSlot,
    /// None for a trusted proxy's connection.
    _client: Option<ClientSlot>,
}

/// A connection that holds its places for as long as it lives, through a WebSocket upgrade too.
struct Counted {
    stream: TcpStream,
    _places: Places,
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
    fn connections_are_counted_in_total() {
        let open = Arc::new(OpenConnections::new(2));
        let first = open.admit().unwrap();
        let _second = open.admit().unwrap();
        assert!(open.admit().is_none());
        drop(first);
        assert!(open.admit().is_some(), "a closed one frees its place");
    }
}
