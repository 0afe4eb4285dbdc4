//! Browser pages: the landing page (`GET /`), and the account flows:
//! registration and its mailed code, password-reset request, the
//! e-mail-verified landing page, and the signed-in account page with TOTP
//! enrolment.
//!
//! Each handler parses the form, calls the same function the JSON API
//! uses, and draws the answer with `crate::views`. Forms of signed-out
//! pages carry the double-submit CSRF token of the login page (cookie under
//! `/auth`); forms of signed-in pages carry the session-bound token of the
//! consent page. A wrong token is a `403` and nothing is done. Redirects
//! after a POST are `303`.

pub mod account;
pub mod device;
pub mod landing;
pub mod passkeys;
pub mod register;
pub mod reset;

// The page helpers live in `crate::browser`, where the pages of every
// route family reach them; re-exported for the handlers here.
