//! The pages of the account flows (registration, password reset, logout,
//! the account itself, TOTP enrolment) and the landing page: askama views
//! that handlers fill and serve with [`super::page`].

use askama::Template;

/// Registration: POSTs `username`, `email`, `password`, `password_confirm`,
/// `return_to`, `applicationId` (when given) and `csrf` to `/auth/register`.
#[derive(Template)]
#[template(path = "auth/register.html")]
pub struct RegisterPage<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub return_to: &'a str,
    pub application_id: Option<&'a str>,
    pub error: Option<&'a str>,
    pub csrf: &'a str,
    /// The login page with the same `return_to`.
    pub login_href: &'a str,
}

/// The registration code: POSTs `email`, `code`, `return_to` and `csrf` to
/// `/auth/register/code`.
#[derive(Template)]
#[template(path = "auth/register_code.html")]
pub struct RegisterCodePage<'a> {
    pub email: &'a str,
    pub return_to: &'a str,
    pub error: Option<&'a str>,
    pub csrf: &'a str,
}

/// The password-reset request: POSTs `email` and `csrf` to `/auth/reset`.
#[derive(Template)]
#[template(path = "auth/reset.html")]
pub struct ResetRequestPage<'a> {
    pub email: &'a str,
    pub error: Option<&'a str>,
    pub csrf: &'a str,
}

/// The new-password form the mailed reset link opens. POSTs `token`,
/// `password` and `password_confirm` to `/api/oauth/reset_password/confirm`
/// (the unguessable token is what a forged form cannot supply).
#[derive(Template)]
#[template(path = "account/reset_password.html")]
pub struct ResetPasswordPage<'a> {
    pub token: &'a str,
    pub error: Option<&'a str>,
}

/// RP-initiated logout's question. POSTs the `hidden` pairs, `csrf` and
/// `confirm=yes|no` to `/auth/logout`.
#[derive(Template)]
#[template(path = "auth/logout.html")]
pub struct LogoutPage<'a> {
    pub user: &'a str,
    pub client_name: Option<&'a str>,
    pub hidden: &'a [(&'a str, &'a str)],
    pub csrf: &'a str,
}

/// The signed-in user's account. Its forms POST `csrf` to `/account/totp`
/// (start TOTP enrolment) and `/auth/logout`.
#[derive(Template)]
#[template(path = "account/index.html")]
pub struct AccountPage<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub email_verified: bool,
    pub totp_enabled: bool,
    pub notice: Option<&'a str>,
    pub csrf: &'a str,
}

/// TOTP enrolment in progress: the key as a QR code (an inline PNG) and as
/// text; POSTs `code` and `csrf` to `/account/totp/confirm`.
#[derive(Template)]
#[template(path = "account/totp.html")]
pub struct TotpPage<'a> {
    pub secret: &'a str,
    pub otpauth_url: &'a str,
    pub qr_png_base64: &'a str,
    pub error: Option<&'a str>,
    pub csrf: &'a str,
    /// Where to go once TOTP is on: an authorization request that asked
    /// for two-step verification (`acr_values=mfa`).
    pub return_to: Option<&'a str>,
}

/// An authorization request asked for two-step verification (`acr`
/// `mfa`) of a user who has not set it up: set it up now and go on, or
/// decline (the application is told its requirement is unmet).
#[derive(Template)]
#[template(path = "account/totp_required.html")]
pub struct TotpRequiredPage<'a> {
    pub client_name: &'a str,
    pub csrf: &'a str,
    pub return_to: &'a str,
    pub decline: &'a str,
}

/// `GET /` in a browser: where to go from here (account, sign-in, and for
/// developers the API documentation and discovery).
#[derive(Template)]
#[template(path = "landing.html")]
pub struct LandingPage<'a> {
    pub issuer: &'a str,
}
