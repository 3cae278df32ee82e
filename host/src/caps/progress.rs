//! `helmdeck:host/progress`: a pack reports how far a long call has come; the
//! host hands the latest report to whoever follows the call (an MCP client
//! that sent a progress token). Not a capability: it is always linked, needs
//! no grant and is not audited, because a report only reaches the call's own
//! caller.
//!
//! A call has at most one follower. Reports go through a `watch` channel, so
//! a slow follower sees the latest report and never blocks the pack.

use super::CapsContext;
use crate::engine::wit::host::progress::Host;
use tokio::sync::watch;

/// Longest progress message kept, in characters.
pub const MAX_MESSAGE_CHARS: usize = 256;

/// One progress report, as MCP's `notifications/progress` carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Units done so far; grows from one report to the next.
    pub done: f64,
    /// Units in all, when known.
    pub total: Option<f64>,
    /// A short note on the current step.
    pub message: Option<String>,
}

/// Where a call's reports go. The default discards them (nobody follows).
#[derive(Debug, Clone, Default)]
pub struct ProgressSink {
    sender: Option<watch::Sender<Option<Progress>>>,
}

/// The follower's end: the latest report, as reports arrive.
#[derive(Debug)]
pub struct ProgressFeed {
    receiver: watch::Receiver<Option<Progress>>,
}

impl ProgressSink {
    /// A connected sink and feed for one call.
    pub fn channel() -> (ProgressSink, ProgressFeed) {
        let (sender, receiver) = watch::channel(None);
        (ProgressSink { sender: Some(sender) }, ProgressFeed { receiver })
    }

    /// Record `report` unless it is malformed or does not move forward
    /// (MCP requires progress to grow). Returns whether it was kept.
    pub fn report(&self, report: Progress) -> bool {
        let Some(sender) = &self.sender else { return false };
        let finite = report.done.is_finite() && report.total.is_none_or(f64::is_finite);
        if !finite {
            return false;
        }
        let message = report.message.map(|m| m.chars().take(MAX_MESSAGE_CHARS).collect());
        let report = Progress { message, ..report };
        sender.send_if_modified(|latest| {
            let forward = latest.as_ref().is_none_or(|previous| report.done > previous.done);
            if forward {
                *latest = Some(report);
            }
            forward
        })
    }
}

impl ProgressFeed {
    /// The next report not yet seen; `None` once the call has ended.
    pub async fn next(&mut self) -> Option<Progress> {
        self.receiver.changed().await.ok()?;
        self.receiver.borrow_and_update().clone()
    }
}

impl Host for CapsContext {
    async fn report(&mut self, done: f64, total: Option<f64>, message: Option<String>) {
        self.progress.report(Progress { done, total, message });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(done: f64) -> Progress {
        Progress { done, total: Some(10.0), message: None }
    }

    #[tokio::test]
    async fn only_forward_finite_reports_reach_the_follower() {
        let (sink, mut feed) = ProgressSink::channel();
        assert!(sink.report(at(1.0)));
        assert_eq!(feed.next().await, Some(at(1.0)));
        assert!(!sink.report(at(1.0)), "progress must grow");
        assert!(!sink.report(at(f64::NAN)));
        assert!(!sink.report(Progress { done: 2.0, total: Some(f64::INFINITY), message: None }));
        assert!(sink.report(at(3.0)));
        assert_eq!(feed.next().await, Some(at(3.0)));
        drop(sink);
        assert_eq!(feed.next().await, None, "the feed ends with the call");
    }

    #[tokio::test]
    async fn a_slow_follower_sees_the_latest_report_with_a_bounded_message() {
        let (sink, mut feed) = ProgressSink::channel();
        for done in 1..=5 {
            sink.report(Progress { done: done.into(), total: None, message: Some("x".repeat(1000)) });
        }
        let latest = feed.next().await.unwrap();
        assert_eq!(latest.done, 5.0);
        assert_eq!(latest.message.unwrap().chars().count(), MAX_MESSAGE_CHARS);
    }

    #[test]
    fn without_a_follower_reports_are_discarded() {
        assert!(!ProgressSink::default().report(at(1.0)));
    }
}
