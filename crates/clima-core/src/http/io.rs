//! A connection's socket with a write deadline: a write that makes no progress for the limit
//! fails, so a client that stops reading (a stream, an export, a big chart) is cut, while one
//! that reads slowly but steadily is not.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// A TCP stream whose writes fail after `limit` without progress.
pub struct Deadlined {
    inner: TcpStream,
    limit: Duration,
    /// Armed while a write waits; reset by any progress.
    timer: Pin<Box<Sleep>>,
    armed: bool,
    /// Set once the deadline has cut the connection, for `/healthz`'s counts.
    stalled: Arc<AtomicBool>,
}

impl Deadlined {
    pub fn new(inner: TcpStream, limit: Duration, stalled: Arc<AtomicBool>) -> Self {
        Deadlined {
            inner,
            limit,
            timer: Box::pin(tokio::time::sleep(limit)),
            armed: false,
            stalled,
        }
    }

    /// Passes on a write's outcome. Only bytes written count as progress: a flush of a TCP
    /// socket is always ready, so it must not put the deadline off. A write that waits arms the
    /// deadline, and one that has waited past it fails.
    fn guard<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
        progress: bool,
    ) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            if progress {
                self.armed = false;
            }
            return polled;
        }
        if !self.armed {
            self.armed = true;
            self.timer.as_mut().reset(Instant::now() + self.limit);
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.stalled.store(true, Ordering::Relaxed);
                // Reset rather than close: the unsent reply would otherwise keep the socket and
                // its buffer alive in the kernel, waiting for a client that never reads.
                let _ = self.inner.set_zero_linger();
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client read nothing of its reply for too long",
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Deadlined {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Deadlined {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        let progress = matches!(polled, Poll::Ready(Ok(n)) if n > 0);
        self.guard(cx, polled, progress)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        let progress = matches!(polled, Poll::Ready(Ok(n)) if n > 0);
        self.guard(cx, polled, progress)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.guard(cx, polled, false)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.guard(cx, polled, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn pair(limit: Duration) -> (Deadlined, TcpStream, Arc<AtomicBool>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let stalled = Arc::new(AtomicBool::new(false));
        (
            Deadlined::new(server, limit, stalled.clone()),
            client,
            stalled,
        )
    }

    #[tokio::test]
    async fn a_client_that_never_reads_is_cut() {
        let (mut server, client, stalled) = pair(Duration::from_millis(300)).await;
        let chunk = vec![0u8; 64 * 1024];
        let started = std::time::Instant::now();
        let err = loop {
            if let Err(e) = server.write_all(&chunk).await {
                break e;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "never cut");
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(stalled.load(Ordering::Relaxed));
        // Dropped, the connection is reset at once, not left to drain to a deaf client.
        drop(server);
        let mut buf = [0u8; 1];
        let mut client = client;
        let reset = loop {
            match client.read(&mut buf).await {
                Ok(0) => break false,
                Ok(_) => continue,
                Err(e) => break e.kind() == io::ErrorKind::ConnectionReset,
            }
        };
        assert!(reset, "the connection was closed, not reset");
    }

    #[tokio::test]
    async fn flushes_do_not_put_the_deadline_off() {
        let (mut server, _client, stalled) = pair(Duration::from_millis(300)).await;
        let chunk = vec![0u8; 64 * 1024];
        let started = std::time::Instant::now();
        // A writer that flushes whenever it is woken, as a server does when the client sends
        // more: the stalled write must still fail at the deadline.
        let err = loop {
            let write =
                tokio::time::timeout(Duration::from_millis(20), server.write_all(&chunk)).await;
            if let Ok(Err(e)) = write {
                break e;
            }
            server.flush().await.unwrap();
            assert!(started.elapsed() < Duration::from_secs(10), "never cut");
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(stalled.load(Ordering::Relaxed));
    }

    #[tokio::test]
    async fn a_slow_reader_is_not_cut() {
        let (mut server, mut client, stalled) = pair(Duration::from_secs(1)).await;
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; 256 * 1024];
            let mut total = 0;
            // Reads in bursts with pauses: slower than the writer, never stalled for the limit.
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                match client.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n,
                }
            }
            total
        });
        let chunk = vec![0u8; 64 * 1024];
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(3) {
            server
                .write_all(&chunk)
                .await
                .expect("a reading client is never cut");
        }
        drop(server);
        assert!(reader.await.unwrap() > 0);
        assert!(!stalled.load(Ordering::Relaxed));
    }
}
