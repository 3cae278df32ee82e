//! Progress of a long call (`helmdeck:host/progress`), for callers that
//! follow it (an MCP client shows it while the tool runs). Needs no
//! capability: every pack may report progress.

use crate::bindings::helmdeck::host::progress as wit;

/// Report that `done` units of `total` (when known) are finished, with an
/// optional short note (`"page 3 of 10"`). `done` must grow from one report to
/// the next; the host drops a report that does not. Cheap and infallible:
/// when nobody follows the call the report is discarded.
pub fn report(done: f64, total: Option<f64>, message: Option<&str>) {
    wit::report(done, total, message);
}
