//! `User-Agent` parsing for the session list ("Firefox 120 on Linux").
//!
//! Browser, OS and device come from the ua-parser project's regexes through
//! the `uaparser` crate. The regexes file is not in this repository: the
//! build script copies the one shipped inside the locked `uaparser` package
//! to `OUT_DIR`, and it is embedded here. Compiling its ~1000 regexes is
//! expensive, so it happens once per process ([`UaParser::new`] shares it).
//!
//! ua-parser says nothing about the rendering engine or the device class;
//! [`engine`] and [`device_type`] derive them from the header with small
//! heuristics, documented on each.

use std::sync::OnceLock;

use anyhow::Context as _;
use tessera_actors::sessions::{Device, NameVersion, UserAgent};
use uaparser::{Parser as _, UserAgentParser};

/// The ua-parser `regexes.yaml`, copied by `build.rs`.
const REGEXES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/regexes.yaml"));

/// Longest header kept (and parsed), in bytes. Real browsers send well under
/// 300; the cap bounds both storage and regex time.
pub const MAX_UA_BYTES: usize = 512;

static PARSER: OnceLock<UserAgentParser> = OnceLock::new();

/// Parsed user agents by header, cleared when it reaches this many.
const UA_CACHE_ENTRIES: usize = 4096;
static UA_CACHE: OnceLock<dashmap::DashMap<String, UserAgent>> = OnceLock::new();

/// A `User-Agent` parser. Cheap to copy; every instance shares one compiled
/// regex set.
#[derive(Clone, Copy)]
pub struct UaParser {
    inner: &'static UserAgentParser,
}

impl std::fmt::Debug for UaParser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UaParser").finish_non_exhaustive()
    }
}

impl UaParser {
    /// Compiles the regexes on first use (tens of milliseconds), then
    /// returns the shared parser.
    pub fn new() -> anyhow::Result<UaParser> {
        if let Some(inner) = PARSER.get() {
            return Ok(UaParser { inner });
        }
        // User agents are ASCII: without Unicode classes the regexes compile
        // faster and take far less memory (ua-parser's own recommendation).
        let built = UserAgentParser::builder()
            .with_unicode_support(false)
            .build_from_bytes(REGEXES)
            .context("compiling the ua-parser regexes")?;
        // Two threads racing here both build; one result is kept.
        let inner = PARSER.get_or_init(|| built);
        Ok(UaParser { inner })
    }

    /// Parse a `User-Agent` header. `ua` is the raw header truncated to
    /// [`MAX_UA_BYTES`] at a character boundary; fields ua-parser does not
    /// recognise ("Other") are `None`. Never panics.
    pub fn parse(&self, header: &str) -> UserAgent {
        // Matching runs hundreds of regexes (about a millisecond) on the
        // HTTP worker's thread; during a login storm most logins come from a
        // handful of user agents, so answers are remembered.
        let key = truncate(header, MAX_UA_BYTES);
        let cache = UA_CACHE.get_or_init(dashmap::DashMap::new);
        if let Some(hit) = cache.get(key) {
            return hit.value().clone();
        }
        let parsed = self.parse_uncached(key);
        if cache.len() >= UA_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(key.to_string(), parsed.clone());
        parsed
    }

    fn parse_uncached(&self, header: &str) -> UserAgent {
        let ua = truncate(header, MAX_UA_BYTES);
        if ua.trim().is_empty() {
            return UserAgent {
                ua: ua.to_string(),
                ..UserAgent::default()
            };
        }
        let client = self.inner.parse(ua);

        let browser = &client.user_agent;
        let browser = NameVersion {
            name: known(&browser.family),
            version: dotted(&[&browser.major, &browser.minor, &browser.patch]),
            major: browser.major.as_deref().and_then(non_empty),
        };
        let os = &client.os;
        let os = NameVersion {
            name: known(&os.family),
            version: dotted(&[&os.major, &os.minor, &os.patch, &os.patch_minor]),
            major: None,
        };
        let device = Device {
            vendor: client.device.brand.as_deref().and_then(non_empty),
            model: client.device.model.as_deref().and_then(non_empty),
            kind: device_type(ua, &client.device.family, os.name.as_deref()).map(str::to_string),
        };
        let engine = engine(ua)
            .map(|(name, version)| NameVersion {
                name: Some(name.to_string()),
                version,
                major: None,
            })
            .unwrap_or_default();

        UserAgent {
            ua: ua.to_string(),
            browser,
            engine,
            os,
            device,
        }
    }
}

/// The longest prefix of `s` of at most `max` bytes ending on a character
/// boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// ua-parser's family, or `None` for its "Other" (not recognised).
fn known(family: &str) -> Option<String> {
    non_empty(family).filter(|f| f != "Other")
}

/// `major.minor.patch...` up to the first missing part.
fn dotted(parts: &[&Option<std::borrow::Cow<'_, str>>]) -> Option<String> {
    let parts: Vec<&str> = parts
        .iter()
        .map_while(|p| p.as_deref().map(str::trim).filter(|p| !p.is_empty()))
        .collect();
    (!parts.is_empty()).then(|| parts.join("."))
}

/// The version following `token` (e.g. `"Chrome/"`) in `ua`: the run of
/// digits and dots after it, if it starts with a digit.
fn token_version(ua: &str, token: &str) -> Option<String> {
    ua.match_indices(token).find_map(|(at, _)| {
        let rest = ua.get(at + token.len()..)?;
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let version = rest.get(..end)?.trim_end_matches('.');
        version
            .starts_with(|c: char| c.is_ascii_digit())
            .then(|| version.to_string())
    })
}

fn major_of(version: &str) -> Option<u32> {
    version.split('.').next()?.parse().ok()
}

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

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
        (KHTML, like Gecko) Chrome/120.0.6099.130 Safari/537.36";
    const FIREFOX_LINUX: &str =
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
    const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) \
        AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1";
    const CURL: &str = "curl/8.4.0";

    fn parser() -> UaParser {
        UaParser::new().unwrap()
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn chrome_on_windows() {
        let ua = parser().parse(CHROME_WINDOWS);
        assert_eq!(ua.ua, CHROME_WINDOWS);
        assert_eq!(ua.browser.name, s("Chrome"));
        assert_eq!(ua.browser.version, s("120.0.6099"));
        assert_eq!(ua.browser.major, s("120"));
        assert_eq!(ua.engine.name, s("Blink"));
        assert_eq!(ua.engine.version, s("120.0.6099.130"));
        assert_eq!(ua.os.name, s("Windows"));
        assert_eq!(ua.os.version, s("10"));
        assert_eq!(ua.device.kind, s("desktop"));
        assert_eq!(ua.device.vendor, None);
    }

    #[test]
    fn firefox_on_linux() {
        let ua = parser().parse(FIREFOX_LINUX);
        assert_eq!(ua.browser.name, s("Firefox"));
        assert_eq!(ua.browser.version, s("120.0"));
        assert_eq!(ua.browser.major, s("120"));
        assert_eq!(ua.engine.name, s("Gecko"));
        assert_eq!(ua.engine.version, s("120.0"));
        assert_eq!(ua.os.name, s("Ubuntu"));
        assert_eq!(ua.device.kind, s("desktop"));
    }

    #[test]
    fn safari_on_iphone() {
        let ua = parser().parse(SAFARI_IPHONE);
        assert_eq!(ua.browser.name, s("Mobile Safari"));
        assert_eq!(ua.browser.version, s("17.1.2"));
        assert_eq!(ua.browser.major, s("17"));
        assert_eq!(ua.engine.name, s("WebKit"));
        assert_eq!(ua.engine.version, s("605.1.15"));
        assert_eq!(ua.os.name, s("iOS"));
        assert_eq!(ua.os.version, s("17.1.2"));
        assert_eq!(ua.device.vendor, s("Apple"));
        assert_eq!(ua.device.model, s("iPhone"));
        assert_eq!(ua.device.kind, s("mobile"));
    }

    #[test]
    fn curl() {
        let ua = parser().parse(CURL);
        assert_eq!(ua.ua, CURL);
        assert_eq!(ua.browser.name, s("curl"));
        assert_eq!(ua.browser.major, s("8"));
        assert_eq!(ua.engine, NameVersion::default());
        assert_eq!(ua.os, NameVersion::default());
        assert_eq!(ua.device, Device::default());
    }

    #[test]
    fn empty_header() {
        for header in ["", "   "] {
            let ua = parser().parse(header);
            assert_eq!(ua.ua, header);
            assert_eq!(ua.browser, NameVersion::default());
            assert_eq!(ua.engine, NameVersion::default());
            assert_eq!(ua.os, NameVersion::default());
            assert_eq!(ua.device, Device::default());
        }
    }

    #[test]
    fn garbage_is_truncated_and_harmless() {
        // 10 KB of junk with multi-byte characters straddling the cut.
        let mut junk = String::from("x");
        let mut seed: u32 = 7;
        while junk.len() < 10 * 1024 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let c = match seed % 7 {
                0 => 'é',
                1 => '€',
                2 => '/',
                3 => '(',
                4 => '🦀',
                5 => char::from(b'0' + (seed % 10) as u8),
                _ => char::from(b'a' + (seed % 26) as u8),
            };
            junk.push(c);
        }
        let ua = parser().parse(&junk);
        assert!(ua.ua.len() <= MAX_UA_BYTES);
        assert!(ua.ua.len() > MAX_UA_BYTES - 4);
        assert!(junk.starts_with(&ua.ua));
        assert_eq!(ua.engine, NameVersion::default());

        let nul = "\0".repeat(10 * 1024);
        assert_eq!(parser().parse(&nul).ua.len(), MAX_UA_BYTES);
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        let s = "€".repeat(200); // 3 bytes each
        let t = truncate(&s, MAX_UA_BYTES);
        assert_eq!(t.len(), 510);
        assert_eq!(truncate("short", MAX_UA_BYTES), "short");
    }

    #[test]
    fn engine_heuristic() {
        let e = |ua: &str| engine(ua).map(|(n, v)| (n, v.unwrap_or_default()));
        let some = |n: &'static str, v: &str| Some((n, v.to_string()));
        // IE 11
        assert_eq!(
            e("Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko"),
            some("Trident", "7.0")
        );
        // Legacy Edge carries a Chrome token too.
        assert_eq!(
            e(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
               Chrome/70.0.3538.102 Safari/537.36 Edge/18.19582"
            ),
            some("EdgeHTML", "18.19582")
        );
        // Chromium Edge
        assert_eq!(
            e(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
               Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91"
            ),
            some("Blink", "120.0.0.0")
        );
        // Chrome on iOS is WebKit.
        assert_eq!(
            e(
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 \
               (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1"
            ),
            some("WebKit", "605.1.15")
        );
        // Chrome 27 predates Blink.
        assert_eq!(
            e(
                "Mozilla/5.0 (Windows NT 6.1) AppleWebKit/537.36 (KHTML, like Gecko) \
               Chrome/27.0.1453.116 Safari/537.36"
            ),
            some("WebKit", "537.36")
        );
        assert_eq!(
            e("Opera/9.80 (Windows NT 6.1; WOW64) Presto/2.12.388 Version/12.16"),
            some("Presto", "2.12.388")
        );
        assert_eq!(
            e("Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0"),
            some("Gecko", "121.0")
        );
        assert_eq!(e(CURL), None);
        assert_eq!(e("Chrome/"), None);
        assert_eq!(e("Trident/x"), None);
    }

    #[test]
    fn device_types() {
        let p = parser();
        let kind = |ua: &str| p.parse(ua).device.kind;
        assert_eq!(
            kind(
                "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) \
                  Chrome/120.0.0.0 Safari/537.36"
            ),
            s("tablet")
        );
        assert_eq!(
            kind(
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) \
                  Chrome/120.0.0.0 Mobile Safari/537.36"
            ),
            s("mobile")
        );
        assert_eq!(
            kind("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
            s("bot")
        );
    }

    #[test]
    fn parser_is_shared() {
        let a = parser();
        let b = parser();
        assert!(std::ptr::eq(a.inner, b.inner));
    }
}
