//! Registered values in every byte form a response body may carry them:
//! UTF-8, UTF-16LE and UTF-16BE. A server can answer in UTF-16 (declared
//! or not), which puts a NUL between the bytes of an ASCII secret; a
//! UTF-8-only match would hand it to the pack readable. Each form is
//! replaced by [`MASK`] written in the same encoding, so the body stays
//! readable as what it was.
//!
//! Also here: how much of a cut body's end is the start of a registered
//! form ([`Forms::partial_tail`]), so a body cut at a byte limit never keeps
//! a prefix of a secret.

use super::MASK;
use aho_corasick::{AhoCorasick, MatchKind};
use std::borrow::Cow;

/// The byte forms of a set of registered values and what replaces each.
pub(super) struct Forms {
    matcher: AhoCorasick,
    /// Pattern `i` of the matcher is `patterns[i]`, replaced by `masks[i % 3]`.
    patterns: Vec<Vec<u8>>,
    masks: [Vec<u8>; 3],
}

impl Forms {
    /// The forms of `values` (none empty).
    pub(super) fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> crate::Result<Forms> {
        let patterns: Vec<Vec<u8>> = values.into_iter().flat_map(all_forms).collect();
        // Leftmost-longest, so a secret that contains another is masked whole.
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .map_err(|e| crate::Error::internal(format!("cannot register a secret for redaction: {e}")))?;
        Ok(Forms { matcher, patterns, masks: all_forms(MASK) })
    }

    /// `bytes` with every form replaced by the mask in its encoding;
    /// borrowed when nothing matched.
    pub(super) fn mask<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        if !self.matcher.is_match(bytes) {
            return Cow::Borrowed(bytes);
        }
        let mut masked = Vec::with_capacity(bytes.len());
        self.matcher.replace_all_with_bytes(bytes, &mut masked, |m, _, out| {
            out.extend_from_slice(&self.masks[m.pattern().as_usize() % 3]);
            true
        });
        Cow::Owned(masked)
    }

    /// The length of the longest end of `bytes` that is the start (a proper
    /// prefix) of some form: what a cut must drop so no prefix survives.
    pub(super) fn partial_tail(&self, bytes: &[u8]) -> usize {
        self.patterns.iter().filter_map(|p| (1..p.len()).rev().find(|&k| bytes.ends_with(&p[..k]))).max().unwrap_or(0)
    }

    /// The longest form, in bytes.
    pub(super) fn longest(&self) -> usize {
        self.patterns.iter().map(Vec::len).max().unwrap_or(0)
    }
}

/// `text` as UTF-8, UTF-16LE and UTF-16BE bytes, in that order.
fn all_forms(text: &str) -> [Vec<u8>; 3] {
    let le = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let be = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    [text.as_bytes().to_vec(), le, be]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    #[test]
    fn each_form_is_masked_in_its_own_encoding() -> crate::Result<()> {
        let forms = Forms::new(["sk_live_abc"])?;
        assert_eq!(forms.mask(b"x sk_live_abc y").as_ref(), b"x [REDACTED] y");
        assert_eq!(forms.mask(&utf16le("x sk_live_abc y")).as_ref(), utf16le("x [REDACTED] y").as_slice());
        let be: Vec<u8> = "(sk_live_abc)".encode_utf16().flat_map(u16::to_be_bytes).collect();
        let masked_be: Vec<u8> = "([REDACTED])".encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(forms.mask(&be).as_ref(), masked_be.as_slice());
        assert!(matches!(forms.mask(b"nothing here"), Cow::Borrowed(_)));
        Ok(())
    }

    #[test]
    fn the_start_of_a_form_at_the_end_is_found_and_nothing_else() -> crate::Result<()> {
        let forms = Forms::new(["sk_live_abc"])?;
        assert_eq!(forms.partial_tail(b"auth=Bearer sk_li"), 5);
        assert_eq!(forms.partial_tail(b"auth=Bearer s"), 1);
        // The UTF-16BE form starts one byte earlier, with the space's NUL.
        assert_eq!(forms.partial_tail(&utf16le("auth sk_")), 7);
        assert_eq!(forms.partial_tail(b"auth=Bearer [REDACTED]"), 0);
        assert_eq!(forms.longest(), 22);
        Ok(())
    }
}
