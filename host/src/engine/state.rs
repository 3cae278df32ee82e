//! What one call's `Store` holds: WASI with no ambient authority, the memory
//! limiter, the captured guest output, and the capability context.

use crate::caps::CapsContext;
use bytes::BytesMut;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// How much of a guest's stdout and of its stderr a call keeps.
pub const GUEST_LOG_CAPACITY: usize = 16 * 1024;

/// Store data of one call. Fresh per call: nothing is shared between calls
/// or agents.
pub struct CallState {
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    /// What the capability implementations see.
    pub caps: CapsContext,
}

impl CallState {
    /// State for one call with `memory_bytes` of linear memory at most.
    /// Returns the state and handles to the guest's stdout and stderr.
    pub fn new(caps: CapsContext, memory_bytes: usize) -> (CallState, GuestLog, GuestLog) {
        let stdout = GuestLog::new(GUEST_LOG_CAPACITY);
        let stderr = GuestLog::new(GUEST_LOG_CAPACITY);
        // No args, env, preopens or sockets: a pack has no ambient authority.
        let wasi = WasiCtxBuilder::new().stdout(stdout.clone()).stderr(stderr.clone()).build();
        let state = CallState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter { max_memory: memory_bytes, hit: false },
            caps,
        };
        (state, stdout, stderr)
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Caps a call's linear memory and remembers whether the cap was hit, so a
/// trap that follows an allocation failure is reported as
/// `resource_exhausted` rather than as a crash.
#[derive(Debug)]
pub struct MemoryLimiter {
    max_memory: usize,
    /// A growth beyond the cap was refused during this call.
    pub hit: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        const MAX_TABLE_ELEMENTS: usize = 100_000;
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// A guest's stdout or stderr: keeps the first `capacity` bytes and drops the
/// rest without failing the write (a chatty pack must not crash because its
/// log is full).
#[derive(Debug, Clone)]
pub struct GuestLog {
    inner: Arc<Mutex<LogBuffer>>,
}

#[derive(Debug)]
struct LogBuffer {
    bytes: BytesMut,
    capacity: usize,
    dropped: u64,
}

/// What a guest wrote to one stream during a call.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CapturedLog {
    /// The kept bytes, lossily decoded as UTF-8.
    pub text: String,
    /// Bytes dropped past the capacity.
    pub dropped: u64,
}

impl GuestLog {
    fn new(capacity: usize) -> GuestLog {
        GuestLog { inner: Arc::new(Mutex::new(LogBuffer { bytes: BytesMut::new(), capacity, dropped: 0 })) }
    }

    /// What was written so far.
    pub fn captured(&self) -> CapturedLog {
        let buf = self.lock();
        CapturedLog { text: String::from_utf8_lossy(&buf.bytes).into_owned(), dropped: buf.dropped }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogBuffer> {
        // A poisoned buffer only means a writer panicked mid-append; the bytes are still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn append(&self, data: &[u8]) {
        let mut buf = self.lock();
        let room = buf.capacity.saturating_sub(buf.bytes.len());
        let kept = room.min(data.len());
        buf.bytes.extend_from_slice(&data[..kept]);
        buf.dropped += (data.len() - kept) as u64;
    }
}

impl IsTerminal for GuestLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestLog {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for GuestLog {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        self.append(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_log_keeps_the_head_and_counts_the_rest() {
        let log = GuestLog::new(8);
        log.append(b"hello ");
        log.append(b"world");
        let c = log.captured();
        assert_eq!(c.text, "hello wo");
        assert_eq!(c.dropped, 3);
    }

    #[test]
    fn the_limiter_refuses_growth_past_the_cap_and_remembers() {
        let mut l = MemoryLimiter { max_memory: 1 << 20, hit: false };
        assert!(l.memory_growing(0, 1 << 20, None).unwrap());
        assert!(!l.hit);
        assert!(!l.memory_growing(1 << 20, 2 << 20, None).unwrap());
        assert!(l.hit);
    }
}
