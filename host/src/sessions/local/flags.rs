//! The command line a session browser starts with. Every switch is written
//! without leading dashes here and gets exactly two when the command is
//! built, so no switch is mangled into `----x=y` (which Chromium silently
//! ignores); a test reads `/proc/<pid>/cmdline` back.

use std::path::Path;

/// A dead proxy for the default browser context: nothing a session does
/// uses it (each session's context names its own guarded proxy), but
/// Chromium's own background traffic cannot go around the guard either.
pub const NOWHERE_PROXY: &str = "http://127.0.0.1:1";

/// Switches that lock the browser down: no name resolution of its own (the
/// guarded proxy resolves), no QUIC, no UDP around the proxy, no
/// background services, no extensions, no loopback bypass of the proxy.
pub const SECURITY_SWITCHES: &[&str] = &[
    "host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "disable-quic",
    "webrtc-ip-handling-policy=disable_non_proxied_udp",
    "force-webrtc-ip-handling-policy",
    "proxy-bypass-list=<-loopback>",
    "disable-extensions",
    "disable-background-networking",
    "disable-component-update",
    "disable-domain-reliability",
    "disable-sync",
    "no-pings",
    "disable-breakpad",
    "remote-debugging-port=0",
];

/// Switches for a quiet, deterministic headless browser.
const QUIET_SWITCHES: &[&str] = &[
    "headless=new",
    "hide-scrollbars",
    "mute-audio",
    "force-device-scale-factor=1",
    "no-first-run",
    "no-default-browser-check",
    "metrics-recording-only",
    "disable-default-apps",
    "password-store=basic",
    "use-mock-keychain",
    "disable-background-timer-throttling",
    "disable-backgrounding-occluded-windows",
    "disable-renderer-backgrounding",
    "disable-dev-shm-usage",
    "disable-client-side-phishing-detection",
    "disable-hang-monitor",
    "disable-popup-blocking",
    "disable-prompt-on-repost",
];

/// Chromium keeps only the last `disable-features`, so this is the one list.
/// `DnsOverHttps` and the prefetch/translate/update services would reach
/// out on their own; `HttpsUpgrades` would retry every `http://` URL over
/// TLS first, which only adds a failed CONNECT through the proxy. The
/// back/forward cache would keep a page that held a credential alive,
/// restorable by a script going back in history.
const DISABLED_FEATURES: &str = "disable-features=DnsOverHttps,HttpsUpgrades,Translate,OptimizationHints,\
MediaRouter,DialMediaRouteProvider,AutofillServerCommunication,InterestFeedContentSuggestions,\
CertificateTransparencyComponentUpdater,NetworkPrediction,PrivacySandboxSettings4,BackForwardCache";

/// Every argument for a browser with its profile in `profile`, its window
/// `window` (width, height), sandboxed unless `no_sandbox`.
pub fn arguments(profile: &Path, window: (u32, u32), no_sandbox: bool) -> Vec<String> {
    let mut switches: Vec<String> = SECURITY_SWITCHES.iter().chain(QUIET_SWITCHES).map(|s| (*s).to_owned()).collect();
    switches.push(DISABLED_FEATURES.to_owned());
    switches.push(format!("proxy-server={NOWHERE_PROXY}"));
    switches.push(format!("window-size={},{}", window.0, window.1));
    switches.push(format!("user-data-dir={}", profile.display()));
    if no_sandbox {
        // Only where the machine or container is the boundary: Chromium's
        // sandbox cannot start as root.
        switches.push("no-sandbox".to_owned());
    }
    let mut args: Vec<String> = switches.into_iter().map(|s| format!("--{s}")).collect();
    args.push("about:blank".to_owned());
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_switch_has_exactly_two_dashes_and_one_disable_features() {
        let args = arguments(Path::new("/p"), (1280, 720), true);
        for arg in args.iter().filter(|a| a.starts_with('-')) {
            assert!(arg.starts_with("--") && !arg.starts_with("---"), "{arg}");
        }
        assert_eq!(args.iter().filter(|a| a.starts_with("--disable-features=")).count(), 1);
        assert!(args.contains(&"--user-data-dir=/p".to_owned()));
        assert!(!arguments(Path::new("/p"), (1, 1), false).contains(&"--no-sandbox".to_owned()));
        for forbidden in
            ["disable-web-security", "ignore-certificate-errors", "remote-allow-origins", "disable-site-isolation"]
        {
            assert!(!args.iter().any(|a| a.contains(forbidden)), "{forbidden}");
        }
    }
}
