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
//!
//! - here — [`UaParser`] over the embedded regexes, and its small helpers.
//! - `heuristics.rs` — [`engine`] and [`device_type`].

mod heuristics;
#[cfg(test)]
mod tests;

pub use heuristics::{device_type, engine};

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
