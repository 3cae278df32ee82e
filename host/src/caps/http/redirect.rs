//! The redirect rules the client applies itself (reqwest's own redirect
//! handling is off so that every hop passes the guard): which responses are
//! redirects, how the next request changes, and which credentials must not
//! travel to another origin. Follows the Fetch standard's "HTTP-redirect
//! fetch" steps.

use crate::error::{Error, ErrorCode};
use bytes::Bytes;
use reqwest::header::{self, HeaderMap, HeaderName};
use reqwest::{Method, StatusCode};
use url::Url;

/// How many redirects one fetch follows before giving up.
pub(super) const MAX_REDIRECTS: u32 = 10;

/// Credentials meant for the origin they were given to; a redirect to any
/// other origin (scheme, host or port) drops them.
const CREDENTIAL_HEADERS: [HeaderName; 3] = [header::AUTHORIZATION, header::COOKIE, header::PROXY_AUTHORIZATION];

/// Headers that describe a request body; they go when the body goes.
const BODY_HEADERS: [HeaderName; 5] = [
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CONTENT_ENCODING,
    header::CONTENT_LANGUAGE,
    header::CONTENT_LOCATION,
];

/// One request as sent on one hop; a redirect rewrites it into the next.
#[derive(Debug, Clone)]
pub(super) struct Hop {
    pub(super) method: Method,
    /// Never carries userinfo or a fragment.
    pub(super) url: Url,
    pub(super) headers: HeaderMap,
    pub(super) body: Option<Bytes>,
}

impl Hop {
    /// Where the response `status`/`headers` to this hop redirects to:
    /// `None` when it is not a redirect (or a 3xx without `Location`, which
    /// the caller gets as is), an error when `Location` is unusable.
    pub(super) fn redirect_target(&self, status: StatusCode, headers: &HeaderMap) -> Result<Option<Url>, Error> {
        let is_redirect = matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308);
        let Some(location) = headers.get(header::LOCATION).filter(|_| is_redirect) else {
            return Ok(None);
        };
        let mut next = location.to_str().ok().and_then(|text| self.url.join(text).ok()).ok_or_else(|| {
            // The header's value is the server's, possibly echoing our query; leave it out.
            Error::new(
                ErrorCode::NetworkError,
                format!(
                    "`{}` answered {status} with a Location that is not a valid URL",
                    self.url.origin().ascii_serialization()
                ),
            )
        })?;
        // Credentials in a Location would be sent on the next hop and end up
        // in audit records; a server does not get to choose them for us.
        // Failing means the URL cannot carry any, which is just as good.
        let _ = next.set_username("");
        let _ = next.set_password(None);
        next.set_fragment(None);
        Ok(Some(next))
    }

    /// Turn this hop into the request for `next` after a `status` redirect.
    pub(super) fn follow(&mut self, status: StatusCode, next: Url) {
        let to_get = match status {
            StatusCode::SEE_OTHER => self.method != Method::HEAD,
            StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND => self.method == Method::POST,
            _ => false,
        };
        if to_get {
            self.method = Method::GET;
            self.body = None;
            for name in &BODY_HEADERS {
                self.headers.remove(name);
            }
        }
        if next.origin() != self.url.origin() {
            for name in &CREDENTIAL_HEADERS {
                self.headers.remove(name);
            }
        }
        self.url = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn hop(method: Method, url: &str) -> Hop {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        headers.insert(header::COOKIE, HeaderValue::from_static("c=1"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert("x-trace", HeaderValue::from_static("1"));
        Hop { method, url: Url::parse(url).unwrap(), headers, body: Some(Bytes::from_static(b"{}")) }
    }

    fn location(to: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::LOCATION, HeaderValue::from_str(to).unwrap());
        headers
    }

    #[test]
    fn only_3xx_with_a_location_redirects() {
        let h = hop(Method::GET, "http://a.example/x/y");
        let target =
            |status: u16, headers: &HeaderMap| h.redirect_target(StatusCode::from_u16(status).unwrap(), headers);
        assert_eq!(target(302, &location("../z#frag")).unwrap().unwrap().as_str(), "http://a.example/z");
        assert_eq!(target(308, &location("https://u:p@b.example/")).unwrap().unwrap().as_str(), "https://b.example/");
        assert_eq!(target(200, &location("/z")).unwrap(), None);
        assert_eq!(target(304, &location("/z")).unwrap(), None);
        assert_eq!(target(301, &HeaderMap::new()).unwrap(), None);
        let err = target(302, &location("http://[::1/")).unwrap_err();
        assert_eq!(err.code, ErrorCode::NetworkError);
        assert!(!err.message.contains("[::1"), "{}", err.message);
    }

    #[test]
    fn see_other_and_post_moves_become_get_without_body() {
        for (method, status) in [
            (Method::POST, StatusCode::SEE_OTHER),
            (Method::PUT, StatusCode::SEE_OTHER),
            (Method::POST, StatusCode::FOUND),
            (Method::POST, StatusCode::MOVED_PERMANENTLY),
        ] {
            let mut h = hop(method.clone(), "http://a.example/");
            h.follow(status, Url::parse("http://a.example/next").unwrap());
            assert_eq!(h.method, Method::GET, "{method} {status}");
            assert_eq!(h.body, None, "{method} {status}");
            assert!(!h.headers.contains_key(header::CONTENT_TYPE));
            assert!(h.headers.contains_key(header::AUTHORIZATION), "same origin keeps credentials");
        }
    }

    #[test]
    fn temporary_and_permanent_redirects_keep_method_and_body() {
        for (method, status) in [
            (Method::POST, StatusCode::TEMPORARY_REDIRECT),
            (Method::PUT, StatusCode::PERMANENT_REDIRECT),
            (Method::PUT, StatusCode::FOUND),
            (Method::HEAD, StatusCode::SEE_OTHER),
        ] {
            let mut h = hop(method.clone(), "http://a.example/");
            h.follow(status, Url::parse("http://a.example/next").unwrap());
            assert_eq!(h.method, method, "{status}");
            assert!(h.body.is_some(), "{method} {status}");
        }
    }

    #[test]
    fn credentials_stay_behind_when_the_origin_changes() {
        for next in ["http://b.example/", "https://a.example/", "http://a.example:8080/"] {
            let mut h = hop(Method::GET, "http://a.example/");
            h.follow(StatusCode::FOUND, Url::parse(next).unwrap());
            assert!(!h.headers.contains_key(header::AUTHORIZATION), "{next}");
            assert!(!h.headers.contains_key(header::COOKIE), "{next}");
            assert!(h.headers.contains_key("x-trace"), "{next}");
        }
    }
}
