//! What ua-parser does not say: the rendering engine and the device class,
//! derived from the header with the small rules documented on each.

use super::{major_of, token_version};

/// The rendering engine and its version, from the header alone. First
/// rule that applies wins:
///
/// 1. `Trident/x` → Trident x (Internet Explorer).
/// 2. `Edge/x` → EdgeHTML x (legacy Edge; Chromium Edge says `Edg/`).
/// 3. iPhone, iPad or iPod with `AppleWebKit/x` → WebKit x: every iOS
///    browser (CriOS, FxiOS, EdgiOS...) renders with WebKit.
/// 4. `Presto/x` → Presto x (Opera ≤ 12).
/// 5. `Chrome/x` or `Chromium/x` (any Chromium browser: Chrome, Edge, Opera
///    ≥ 15, Samsung Internet, ...) with x ≥ 28 → Blink x: Blink versions
///    follow Chromium's. Earlier Chrome was WebKit (rule 6).
/// 6. `AppleWebKit/x` → WebKit x (Safari and other WebKit browsers).
/// 7. `Gecko/` with `rv:x` → Gecko x (Firefox and its derivatives; the
///    `Gecko/20100101` date is frozen, `rv:` carries the version).
/// 8. `KHTML/x` → KHTML x.
///
/// Anything else (curl, bots, garbage) has no engine.
pub fn engine(ua: &str) -> Option<(&'static str, Option<String>)> {
    if let Some(v) = token_version(ua, "Trident/") {
        return Some(("Trident", Some(v)));
    }
    if let Some(v) = token_version(ua, "Edge/") {
        return Some(("EdgeHTML", Some(v)));
    }
    let webkit = token_version(ua, "AppleWebKit/");
    let ios = ["iPhone", "iPad", "iPod"].iter().any(|d| ua.contains(d));
    if ios && webkit.is_some() {
        return Some(("WebKit", webkit));
    }
    if let Some(v) = token_version(ua, "Presto/") {
        return Some(("Presto", Some(v)));
    }
    if let Some(v) = token_version(ua, "Chrome/").or_else(|| token_version(ua, "Chromium/")) {
        if major_of(&v).is_some_and(|m| m >= 28) {
            return Some(("Blink", Some(v)));
        }
    }
    if webkit.is_some() {
        return Some(("WebKit", webkit));
    }
    if ua.contains("Gecko/") {
        return Some(("Gecko", token_version(ua, "rv:")));
    }
    if let Some(v) = token_version(ua, "KHTML/") {
        return Some(("KHTML", Some(v)));
    }
    None
}

/// The device class, in ua-parser-js's vocabulary plus two: `bot`,
/// `console`, `smarttv`, `wearable`, `tablet`, `mobile`, `desktop`. First
/// rule that applies wins:
///
/// - ua-parser's device family `Spider` → `bot`;
/// - PlayStation / Xbox / Nintendo → `console`;
/// - a smart-TV token (SmartTV, SMART-TV, GoogleTV, AppleTV, CrKey,
///   HbbTV, BRAVIA, Web0S, NetCast, Roku) → `smarttv`;
/// - watchOS / Wear OS / "Watch" → `wearable`;
/// - iPad, Kindle, Silk, PlayBook, Android without "Mobile", or "Tablet"
///   outside Windows (Windows' "Tablet PC" is a laptop) → `tablet`;
/// - "Mobi", iPhone, iPod, Windows Phone, BlackBerry/BB10, Opera Mini →
///   `mobile`;
/// - a desktop OS (Windows, macOS, Linux, ChromeOS, BSDs) → `desktop`;
/// - otherwise `None` (curl, libraries, garbage).
///
/// iPadOS 13+ Safari sends a Macintosh header, so it counts as desktop.
pub fn device_type(ua: &str, device_family: &str, os: Option<&str>) -> Option<&'static str> {
    let has = |tokens: &[&str]| tokens.iter().any(|t| ua.contains(t));
    if device_family == "Spider" {
        return Some("bot");
    }
    if has(&["PlayStation", "Xbox", "Nintendo"]) {
        return Some("console");
    }
    if has(&[
        "SmartTV", "SMART-TV", "Smart-TV", "GoogleTV", "AppleTV", "CrKey", "HbbTV", "BRAVIA",
        "Web0S", "NetCast", "Roku",
    ]) {
        return Some("smarttv");
    }
    if has(&["watchOS", "Wear OS", "Watch OS", "Watch;"]) {
        return Some("wearable");
    }
    let android = ua.contains("Android");
    if has(&["iPad", "Kindle", "Silk/", "PlayBook"])
        || (android && !ua.contains("Mobile"))
        || (ua.contains("Tablet") && !ua.contains("Windows"))
    {
        return Some("tablet");
    }
    if has(&[
        "Mobi",
        "iPhone",
        "iPod",
        "Windows Phone",
        "BlackBerry",
        "BB10",
        "Opera Mini",
    ]) {
        return Some("mobile");
    }
    let desktop_os = os.is_some_and(|os| {
        [
            "Windows",
            "Mac OS X",
            "macOS",
            "Linux",
            "Ubuntu",
            "Debian",
            "Fedora",
            "Chrome OS",
            "ChromeOS",
            "FreeBSD",
            "OpenBSD",
            "NetBSD",
        ]
        .iter()
        .any(|d| os.starts_with(d))
    });
    if desktop_os || has(&["Windows NT", "Macintosh", "X11;"]) {
        return Some("desktop");
    }
    None
}
