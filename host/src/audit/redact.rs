//! Redaction: secrets are masked in an event's `target` and `details`
//! before it is stored, so the audit log never holds a credential.
//!
//! Two layers, both replacing what they find with [`MASK`]:
//! - exact values registered at runtime ([`Redactor::register`]: the vault
//!   registers every secret it holds), matched anywhere in any string;
//! - shapes that are secret whatever their value: URL userinfo
//!   (`https://user:pw@host`), the value of a query or form parameter whose
//!   name looks secret (`?access_token=…`), the credential after `Bearer` or
//!   `Basic`, and the value of a JSON key that looks secret, both in
//!   structured `details` and inside JSON text embedded in a string.
//!
//! A name looks secret when it contains, ignoring case, `token`, `key`,
//! `secret`, `passw`, `pwd`, `auth` (but not `author`), `signature`,
//! `session`, `credential`, `cookie` or `private`. It errs on the side of
//! masking. Under a secret-looking JSON key, numbers and booleans are kept:
//! counters such as `prompt_tokens` are never credentials.
//!
//! Response bodies handed to packs are masked for registered values in
//! UTF-16 too ([`encoded`]).
//!
//! This runs on every record, so patterns are compiled once, registered
//! values live in one Aho-Corasick automaton swapped in atomically, and a
//! string with nothing to mask is not copied.

mod encoded;

use super::AuditEvent;
use aho_corasick::{AhoCorasick, MatchKind};
use arc_swap::ArcSwapOption;
use regex::{Captures, Regex};
use serde_json::Value;
use std::borrow::Cow;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

/// What every masked value is replaced with.
pub const MASK: &str = "[REDACTED]";

/// The secret-looking names of the module docs; `auth` must not be followed
/// by `o` (`author`) unless it is `authoriz…`.
static SECRET_NAME: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"(?i)token|key|secret|passw|pwd|authoriz|auth(?:[^o]|$)|signature|session|credential|cookie|private")
});

/// `scheme://userinfo@`: greedy up to the last `@` of the authority, so a
/// password with an unescaped `@` is masked whole; never across a quote, so
/// JSON text around a URL survives.
static USERINFO: LazyLock<Regex> = LazyLock::new(|| compile(r#"(?i)\b([a-z][a-z0-9+.\-]*://)[^/?#\s"'<>]+@"#));

/// `name=value` after `?`, `&`, `;`, whitespace or at the start; the value
/// stops at a quote so JSON text around a URL survives.
static PARAM: LazyLock<Regex> = LazyLock::new(|| compile(r#"(^|[?&;\s])([^=&#?;\s"']+)=[^&#;\s"']*"#));

/// `Bearer <credential>` / `Basic <credential>`. Case-sensitive on `Basic` so
/// prose such as "a basic example" is left alone.
static AUTH_SCHEME: LazyLock<Regex> =
    LazyLock::new(|| compile(r"\b(Bearer|bearer|BEARER|Basic|BASIC)\s+[A-Za-z0-9\-._~+/]+=*"));

/// `"name": "value"` inside JSON text (captured output, an error body).
static JSON_PAIR: LazyLock<Regex> = LazyLock::new(|| compile(r#""((?:[^"\\]|\\.)*)"(\s*:\s*)"(?:[^"\\]|\\.)*""#));

fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("redaction patterns are constants that compile")
}

/// Whether a parameter or key name looks like it holds a secret.
fn looks_secret(name: &str) -> bool {
    SECRET_NAME.is_match(name)
}

/// Masks secrets in audit events. Cheap to clone: clones share the set of
/// registered values, so the vault can keep one and register into the log's.
#[derive(Clone, Default)]
pub struct Redactor {
    inner: Arc<Registered>,
}

#[derive(Default)]
struct Registered {
    /// Every registered value; writers hold the lock while rebuilding.
    values: Mutex<Vec<String>>,
    /// The automaton over `values`; readers never lock.
    matcher: ArcSwapOption<AhoCorasick>,
    /// `values` in every byte form a body may carry them.
    forms: ArcSwapOption<encoded::Forms>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the registered values themselves.
        let count = self.inner.values.lock().unwrap_or_else(PoisonError::into_inner).len();
        f.debug_struct("Redactor").field("registered", &count).finish()
    }
}

impl Redactor {
    /// A redactor with no registered values: shapes only.
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// Mask every later occurrence of `secret`, exactly as given. Empty values
    /// are ignored; registering a value twice is harmless. Fails only when the
    /// set grows beyond what the matcher can hold (`internal_error`).
    pub fn register(&self, secret: &str) -> crate::Result<()> {
        if secret.is_empty() {
            return Ok(());
        }
        let mut values = self.inner.values.lock().unwrap_or_else(PoisonError::into_inner);
        if values.iter().any(|v| v == secret) {
            return Ok(());
        }
        // Leftmost-longest, so a secret that contains another is masked whole.
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(values.iter().map(String::as_str).chain([secret]))
            .map_err(|e| crate::Error::internal(format!("cannot register a secret for redaction: {e}")))?;
        let forms = encoded::Forms::new(values.iter().map(String::as_str).chain([secret]))?;
        values.push(secret.to_owned());
        self.inner.matcher.store(Some(Arc::new(matcher)));
        self.inner.forms.store(Some(Arc::new(forms)));
        Ok(())
    }

    /// `bytes` with every registered value replaced by [`MASK`], and nothing
    /// else touched: for data handed back to a pack (an HTTP response that
    /// echoes a substituted credential), where shape rules would mangle
    /// ordinary content. Values are found in UTF-8 and UTF-16 (either byte
    /// order), each masked in its own encoding. Borrowed when nothing matched.
    pub fn mask_registered<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        match self.inner.forms.load_full() {
            Some(forms) => forms.mask(bytes),
            None => Cow::Borrowed(bytes),
        }
    }

    /// How many bytes at the end of `bytes` are the start of a registered
    /// value (in any form [`Redactor::mask_registered`] knows): what a body
    /// cut short must drop so that no prefix of a secret survives the cut.
    pub fn partial_tail(&self, bytes: &[u8]) -> usize {
        self.inner.forms.load().as_deref().map_or(0, |forms| forms.partial_tail(bytes))
    }

    /// The longest registered value in any of its forms, in bytes: how far
    /// past a cut a body must be read for a secret straddling it to be
    /// masked whole.
    pub fn longest_form(&self) -> usize {
        self.inner.forms.load().as_deref().map_or(0, encoded::Forms::longest)
    }

    /// [`Redactor::mask_registered`] for text.
    pub fn mask_registered_text(&self, text: &str) -> String {
        String::from_utf8_lossy(&self.mask_registered(text.as_bytes())).into_owned()
    }

    /// Mask secrets in `event.target` and every string of `event.details`.
    pub fn redact_event(&self, event: &mut AuditEvent) {
        if let Some(target) = &mut event.target {
            replace_if_changed(target, |t| self.redact_text(t));
        }
        if let Some(details) = &mut event.details {
            self.redact_json(details);
        }
    }

    /// `text` with registered values and secret shapes masked; borrowed when
    /// nothing was found.
    pub fn redact_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut text = Cow::Borrowed(text);
        // Registered values first: a shape pattern could otherwise mask only
        // part of a value and leave the rest readable.
        if let Some(matcher) = self.inner.matcher.load().as_deref()
            && matcher.is_match(text.as_ref())
        {
            let mut masked = String::with_capacity(text.len());
            matcher.replace_all_with(&text, &mut masked, |_, _, out| {
                out.push_str(MASK);
                true
            });
            text = Cow::Owned(masked);
        }
        text = apply(text, &USERINFO, |c| Some(format!("{}{MASK}@", &c[1])));
        text = apply(text, &PARAM, |c| looks_secret(&c[2]).then(|| format!("{}{}={MASK}", &c[1], &c[2])));
        text = apply(text, &AUTH_SCHEME, |c| Some(format!("{} {MASK}", &c[1])));
        apply(text, &JSON_PAIR, |c| looks_secret(&c[1]).then(|| format!("\"{}\"{}\"{MASK}\"", &c[1], &c[2])))
    }

    fn redact_json(&self, value: &mut Value) {
        match value {
            Value::String(text) => replace_if_changed(text, |t| self.redact_text(t)),
            Value::Array(items) => items.iter_mut().for_each(|item| self.redact_json(item)),
            Value::Object(map) => {
                for (key, item) in map.iter_mut() {
                    let maskable = matches!(item, Value::String(_) | Value::Array(_) | Value::Object(_));
                    if maskable && looks_secret(key) {
                        *item = Value::String(MASK.to_owned());
                    } else {
                        self.redact_json(item);
                    }
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

/// Replace each match of `pattern` in `text` for which `replacement` gives a
/// value. Unlike `Regex::replace_all`, a match left alone costs no copy, so
/// text with ordinary parameters and nothing secret stays borrowed.
fn apply<'a>(
    text: Cow<'a, str>,
    pattern: &Regex,
    mut replacement: impl FnMut(&Captures<'_>) -> Option<String>,
) -> Cow<'a, str> {
    let mut out: Option<String> = None;
    let mut copied_up_to = 0;
    for captures in pattern.captures_iter(&text) {
        if let Some(replaced) = replacement(&captures) {
            let whole = captures.get_match();
            let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
            out.push_str(&text[copied_up_to..whole.start()]);
            out.push_str(&replaced);
            copied_up_to = whole.end();
        }
    }
    match out {
        None => text,
        Some(mut out) => {
            out.push_str(&text[copied_up_to..]);
            Cow::Owned(out)
        }
    }
}

/// Overwrite `text` with `redact(text)` only when redaction changed it.
fn replace_if_changed(text: &mut String, redact: impl Fn(&str) -> Cow<'_, str>) {
    if let Cow::Owned(redacted) = redact(text) {
        *text = redacted;
    }
}
