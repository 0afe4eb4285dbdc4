//! The mails the account flows send, and what those flows share: the
//! public base URL every link is built from (configuration, never a
//! request's `Host`), and the rate limits on sending and on presenting
//! codes.
//!
//! Templates live in `templates/mail/`: a `.txt` and an `.html` version of
//! each mail. askama escapes the HTML ones; the text ones are sent as is.

mod account_mails;

use askama::Template;
use tessera_actors::clock::SharedClock;
use tessera_actors::mailer::{Enqueue, Mail, MailError};
use tessera_actors::ratelimit::{Policy, RateLimiter};

use crate::configuration::Settings;
use crate::error::ApiError;
use crate::state::AppState;

/// What the mail-driven account flows need beyond the engine.
pub struct AccountMail {
    /// Base of every link in a mail, without a trailing `/`.
    pub public_url: String,
    /// Where a verified e-mail link lands (`301`).
    pub email_verified_redirect: String,
    /// Mails asked for, per client address.
    pub send_ip: RateLimiter,
    /// Mails asked for, per e-mail address (known or not, alike).
    pub send_email: RateLimiter,
    /// Wrong codes and links presented, per client address.
    pub verify_ip: RateLimiter,
}

impl AccountMail {
    pub fn new(settings: &Settings, clock: SharedClock) -> AccountMail {
        AccountMail {
            public_url: settings.public_url(),
            email_verified_redirect: settings.email_verified_redirect(),
            send_ip: RateLimiter::new(
                Policy {
                    allowance: 30,
                    window: 900,
                    base_lock: 60,
                    max_lock: 900,
                },
                clock.clone(),
            ),
            send_email: RateLimiter::new(
                Policy {
                    allowance: 4,
                    window: 900,
                    base_lock: 60,
                    max_lock: 900,
                },
                clock.clone(),
            ),
            verify_ip: RateLimiter::new(
                Policy {
                    allowance: 20,
                    window: 900,
                    base_lock: 30,
                    max_lock: 900,
                },
                clock,
            ),
        }
    }

    /// The e-mail verification link for `token`.
    pub fn verify_link(&self, token: &str) -> String {
        format!("{}/api/oauth/valid_email/{token}", self.public_url)
    }

    /// The password reset link for `token`: a page with the new-password
    /// form, which posts to the confirm API.
    pub fn reset_link(&self, token: &str) -> String {
        format!(
            "{}/api/oauth/reset_password/confirm?token={token}",
            self.public_url
        )
    }

    /// Count one mail asked for from `ip` to `email`; `429` past the limits.
    pub fn check_send(&self, ip: &str, email: &str) -> Result<(), ApiError> {
        let ip_key = format!("ip:{ip}");
        let email_key = format!("email:{}", email.trim().to_lowercase());
        self.send_ip
            .check(&ip_key)
            .and(self.send_email.check(&email_key))
            .map_err(ApiError::too_many)?;
        self.send_ip.fail(&ip_key);
        self.send_email.fail(&email_key);
        Ok(())
    }

    /// `429` while `ip` has presented too many wrong codes.
    pub fn check_verify(&self, ip: &str) -> Result<(), ApiError> {
        self.verify_ip
            .check(&format!("ip:{ip}"))
            .map_err(ApiError::too_many)
    }

    /// Count a wrong code or link presented from `ip`.
    pub fn verify_failed(&self, ip: &str) {
        self.verify_ip.fail(&format!("ip:{ip}"));
    }
}

/// Queue a mail; answers once it is durable.
pub async fn send(state: &AppState, mail: Mail) -> Result<(), ApiError> {
    match state.engine.mailer.send(Enqueue(mail)).await? {
        Ok(_) => Ok(()),
        Err(MailError::Store(e)) => Err(e.into()),
        Err(e @ MailError::Invalid { .. }) => Err(ApiError::internal(e)),
    }
}

fn minutes(ttl: i64) -> i64 {
    (ttl + 59) / 60
}

fn render(
    to: &str,
    subject: &str,
    text: askama::Result<String>,
    html: askama::Result<String>,
) -> Result<Mail, ApiError> {
    Ok(Mail {
        to: to.to_string(),
        subject: subject.to_string(),
        text: text.map_err(ApiError::internal)?,
        html: Some(html.map_err(ApiError::internal)?),
    })
}

#[derive(Template)]
#[template(path = "mail/registration_code.txt")]
struct RegistrationCodeText<'a> {
    username: &'a str,
    code: &'a str,
    minutes: i64,
}

#[derive(Template)]
#[template(path = "mail/registration_code.html")]
struct RegistrationCodeHtml<'a> {
    username: &'a str,
    code: &'a str,
    minutes: i64,
}

/// The 6-digit code that activates a registration.
pub fn registration_code(to: &str, username: &str, code: &str, ttl: i64) -> Result<Mail, ApiError> {
    let minutes = minutes(ttl);
    render(
        to,
        "Your registration code",
        RegistrationCodeText {
            username,
            code,
            minutes,
        }
        .render(),
        RegistrationCodeHtml {
            username,
            code,
            minutes,
        }
        .render(),
    )
}

#[derive(Template)]
#[template(path = "mail/account_exists.txt")]
struct AccountExistsText;

#[derive(Template)]
#[template(path = "mail/account_exists.html")]
struct AccountExistsHtml;

/// Sent instead of a code when the address registering already has an
/// account: the answer to the request is the same, only the owner learns.
pub fn account_exists(to: &str) -> Result<Mail, ApiError> {
    render(
        to,
        "You already have an account",
        AccountExistsText.render(),
        AccountExistsHtml.render(),
    )
}

#[derive(Template)]
#[template(path = "mail/verify_email.txt")]
struct VerifyEmailText<'a> {
    username: &'a str,
    link: &'a str,
    minutes: i64,
}

#[derive(Template)]
#[template(path = "mail/verify_email.html")]
struct VerifyEmailHtml<'a> {
    username: &'a str,
    link: &'a str,
    minutes: i64,
}

/// The e-mail verification link.
pub fn verify_email(to: &str, username: &str, link: &str, ttl: i64) -> Result<Mail, ApiError> {
    let minutes = minutes(ttl);
    render(
        to,
        "Confirm your e-mail address",
        VerifyEmailText {
            username,
            link,
            minutes,
        }
        .render(),
        VerifyEmailHtml {
            username,
            link,
            minutes,
        }
        .render(),
    )
}

#[derive(Template)]
#[template(path = "mail/reset_password.txt")]
struct ResetPasswordText<'a> {
    username: &'a str,
    link: &'a str,
    minutes: i64,
}

#[derive(Template)]
#[template(path = "mail/reset_password.html")]
struct ResetPasswordHtml<'a> {
    username: &'a str,
    link: &'a str,
    minutes: i64,
}

/// The password reset link.
pub fn reset_password(to: &str, username: &str, link: &str, ttl: i64) -> Result<Mail, ApiError> {
    let minutes = minutes(ttl);
    render(
        to,
        "Reset your password",
        ResetPasswordText {
            username,
            link,
            minutes,
        }
        .render(),
        ResetPasswordHtml {
            username,
            link,
            minutes,
        }
        .render(),
    )
}

#[derive(Template)]
#[template(path = "mail/password_changed.txt")]
struct PasswordChangedText<'a> {
    username: &'a str,
    when: &'a str,
}

#[derive(Template)]
#[template(path = "mail/password_changed.html")]
struct PasswordChangedHtml<'a> {
    username: &'a str,
    when: &'a str,
}

/// The notice that a password was changed (`at`: Unix time).
pub fn password_changed(to: &str, username: &str, at: i64) -> Result<Mail, ApiError> {
    let when = time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]"
            ))
            .ok()
        })
        .unwrap_or_default();
    render(
        to,
        "Your password was changed",
        PasswordChangedText {
            username,
            when: &when,
        }
        .render(),
        PasswordChangedHtml {
            username,
            when: &when,
        }
        .render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_versions_escape_and_text_versions_do_not() {
        let m = verify_email("a@example.com", "<b>bob</b>", "https://x/y?a=1&b=2", 600).unwrap();
        assert!(m.text.contains("<b>bob</b>"));
        assert!(m.text.contains("https://x/y?a=1&b=2"));
        assert!(m.text.contains("10 minutes"));
        let html = m.html.unwrap();
        assert!(!html.contains("<b>"), "{html}");
        assert!(html.contains("bob"));
    }

    #[test]
    fn every_mail_renders() {
        assert!(registration_code("a@example.com", "bob", "012345", 600)
            .unwrap()
            .text
            .contains("012345"));
        assert!(account_exists("a@example.com").is_ok());
        assert!(reset_password("a@example.com", "bob", "https://x/r", 600)
            .unwrap()
            .text
            .contains("https://x/r"));
        assert!(password_changed("a@example.com", "bob", 0)
            .unwrap()
            .text
            .contains("1970-01-01 00:00"));
    }
}
