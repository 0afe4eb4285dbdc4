//! Unit tests of `User-Agent` parsing (moved out of `ua.rs` unchanged).

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
