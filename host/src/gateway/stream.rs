//! A streamed answer: provider frames decoded into chunks, stamped with the
//! answering `provider/model`, usage held back unless the client asked for
//! it, and the call's usage and audit record written when the stream ends
//! (or when the client goes away and the stream is dropped).
//!
//! Before [`Live::first_output`] returns, nothing has reached the client,
//! so a failure there is the attempt's and may fall back; after it, the
//! answer is committed and a failure becomes the stream's last item.

use super::adapters::Decoder;
use super::chat::{ChatChunk, Usage, unix_now};
use super::config::ModelRef;
use super::record::{AttemptLog, CallRecord};
use super::transport::Frames;
use super::usage::{AttemptCount, UsageMeter};
use crate::audit::AuditLog;
use crate::{Error, ErrorCode, Result};
use futures::{Stream, StreamExt};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// One provider stream being read.
pub struct Live {
    pub(super) provider: String,
    pub(super) frames: Frames,
    pub(super) decoder: Box<dyn Decoder>,
    pub(super) pending: VecDeque<ChatChunk>,
    /// Longest wait for the next frame.
    pub(super) idle: Duration,
    pub(super) ended: bool,
    pub(super) usage: Option<Usage>,
    pub(super) id: String,
}

impl Live {
    /// A stream over `frames`.
    pub fn new(provider: &str, frames: Frames, decoder: Box<dyn Decoder>, idle: Duration) -> Live {
        Live {
            provider: provider.to_owned(),
            frames,
            decoder,
            pending: VecDeque::new(),
            idle,
            ended: false,
            usage: None,
            id: String::new(),
        }
    }

    /// Read until a chunk the client would see is waiting, or the stream ended.
    pub async fn first_output(&mut self) -> Result<()> {
        while !self.ended && !self.pending.iter().any(ChatChunk::carries_output) {
            self.read().await?;
        }
        Ok(())
    }

    /// The next decoded chunk; `None` at the end.
    async fn next_chunk(&mut self) -> Option<Result<ChatChunk>> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                if self.id.is_empty() && !chunk.id.is_empty() {
                    self.id = chunk.id.clone();
                }
                if let Some(usage) = &chunk.usage {
                    self.usage = Some(usage.clone());
                }
                return Some(Ok(chunk));
            }
            if self.ended {
                return None;
            }
            if let Err(e) = self.read().await {
                self.ended = true;
                return Some(Err(e));
            }
        }
    }

    /// One frame into `pending`.
    async fn read(&mut self) -> Result<()> {
        let provider = &self.provider;
        let frame = tokio::time::timeout(self.idle, self.frames.next()).await.map_err(|_| {
            Error::new(
                ErrorCode::Timeout,
                format!("provider `{provider}` sent nothing for {} ms", self.idle.as_millis()),
            )
        })?;
        match frame {
            None if self.decoder.finished() => self.ended = true,
            None => {
                return Err(Error::new(
                    ErrorCode::NetworkError,
                    format!("provider `{provider}` ended the stream before its end marker"),
                ));
            }
            Some(frame) => {
                let (event, data) = frame?;
                self.pending.extend(self.decoder.frame(event.as_deref(), &data)?);
                if self.decoder.finished() {
                    self.ended = true;
                }
            }
        }
        Ok(())
    }
}

/// What records the call when its stream ends.
pub(super) struct Finish {
    pub audit: AuditLog,
    pub usage: Arc<UsageMeter>,
    pub record: CallRecord,
    pub attempt: AttemptLog,
}

impl Finish {
    fn done(mut self, outcome: Result<(), &Error>, ended: Option<&str>, usage: Option<&Usage>) {
        if let Some(u) = usage {
            self.record.tokens = (u.prompt_tokens, u.completion_tokens);
        }
        let error = outcome.err();
        self.usage.record(
            &self.attempt.model,
            self.record.alias.as_deref(),
            AttemptCount {
                outcome: error.map(|e| e.code),
                tokens_in: self.record.tokens.0,
                tokens_out: self.record.tokens.1,
                latency: self.attempt.started.elapsed(),
            },
        );
        self.record.attempt(&self.attempt, error);
        let event = self.record.event(outcome, ended);
        let audit = self.audit;
        // The stream is over for the client; the record must still be written.
        tokio::spawn(async move {
            if let Err(e) = audit.record(event).await {
                tracing::error!(error = %e, "could not write the audit record of a streamed gateway call");
            }
        });
    }
}

/// A committed streamed answer, as the client receives it.
pub struct AnswerStream {
    /// Who answered (`provider/model`).
    pub answered_by: ModelRef,
    inner: Pin<Box<dyn Stream<Item = Result<ChatChunk>> + Send>>,
}

struct State {
    live: Live,
    finish: Option<Finish>,
    model: String,
    created: u64,
    wants_usage: bool,
}

impl Drop for State {
    fn drop(&mut self) {
        if let Some(finish) = self.finish.take() {
            let usage = self.live.usage.clone();
            finish.done(Ok(()), Some("the client stopped reading before the end"), usage.as_ref());
        }
    }
}

impl AnswerStream {
    /// The client's view of `live`, answered by `answered_by`.
    pub(super) fn new(live: Live, answered_by: ModelRef, wants_usage: bool, finish: Finish) -> AnswerStream {
        let state =
            State { live, finish: Some(finish), model: answered_by.to_string(), created: unix_now(), wants_usage };
        let inner = futures::stream::unfold(state, |mut state| async move {
            loop {
                match state.live.next_chunk().await {
                    Some(Ok(mut chunk)) => {
                        if chunk.usage.is_some() && chunk.choices.is_empty() && !state.wants_usage {
                            continue;
                        }
                        if !state.wants_usage {
                            chunk.usage = None;
                        }
                        if state.live.id.is_empty() {
                            state.live.id = format!("chatcmpl-{}", uuid::Uuid::now_v7().simple());
                        }
                        chunk.id = state.live.id.clone();
                        chunk.model = state.model.clone();
                        chunk.created = state.created;
                        if let Some(finish) = state.finish.as_mut()
                            && finish.record.first_output.is_none()
                            && chunk.carries_output()
                        {
                            finish.record.first_output = Some(finish.record.elapsed());
                        }
                        return Some((Ok(chunk), state));
                    }
                    Some(Err(error)) => {
                        if let Some(finish) = state.finish.take() {
                            let usage = state.live.usage.clone();
                            finish.done(Err(&error), Some("the provider failed mid-stream"), usage.as_ref());
                        }
                        return Some((Err(error), state));
                    }
                    None => {
                        if let Some(finish) = state.finish.take() {
                            let usage = state.live.usage.clone();
                            finish.done(Ok(()), None, usage.as_ref());
                        }
                        return None;
                    }
                }
            }
        });
        AnswerStream { answered_by, inner: Box::pin(inner) }
    }
}

impl Stream for AnswerStream {
    type Item = Result<ChatChunk>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}
