//! OIDC Back-Channel Logout 1.0 §2.5: the POST of a logout token to a
//! client's `backchannel_logout_uri`, as the engine's logout queue makes
//! it. Form-encoded `logout_token=…`; `200` or `204` is delivered,
//! anything else (or no answer within the timeout) is retried by the
//! queue. Redirects are not followed; the answer's body is not read.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use metrics::{describe_counter, describe_gauge};
use tessera_actors::logout::{LogoutTransport, PostError, UseTransport};
use tessera_actors::Engine;

pub struct HttpLogoutTransport {
    http: reqwest::Client,
}

impl HttpLogoutTransport {
    pub fn new(timeout: std::time::Duration) -> anyhow::Result<HttpLogoutTransport> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()?;
        Ok(HttpLogoutTransport { http })
    }
}

impl LogoutTransport for HttpLogoutTransport {
    fn post(
        &self,
        uri: &str,
        logout_token: String,
    ) -> Pin<Box<dyn Future<Output = Result<(), PostError>> + Send>> {
        let req = self
            .http
            .post(uri)
            .header(reqwest::header::CACHE_CONTROL, "no-store")
            .form(&[("logout_token", logout_token)]);
        Box::pin(async move {
            let resp = req
                .send()
                .await
                .map_err(|e| PostError::transient(format!("the POST failed: {e}")))?;
            match resp.status().as_u16() {
                200 | 204 => Ok(()),
                s => Err(PostError::transient(format!("the client answered {s}"))),
            }
        })
    }
}

/// Start the engine's logout queue delivering over HTTP.
pub async fn start(engine: &Engine) -> anyhow::Result<()> {
    let transport = HttpLogoutTransport::new(engine.config.backchannel_logout.timeout)?;
    engine
        .logouts
        .send(UseTransport(Arc::new(transport)))
        .await
        .map_err(|e| anyhow::anyhow!("the logout queue is down: {e}"))?;
    Ok(())
}

/// The metric families of back-channel logout, described and present
/// (at zero) from the start.
pub fn register_series() {
    describe_counter!(
        "tessera_backchannel_logout_sent_total",
        "Logout tokens delivered to clients (answered 200 or 204)"
    );
    describe_counter!(
        "tessera_backchannel_logout_failed_total",
        "Logout token delivery attempts that failed"
    );
    describe_counter!(
        "tessera_backchannel_logout_retried_total",
        "Failed logout token deliveries scheduled for another attempt"
    );
    describe_counter!(
        "tessera_backchannel_logout_dropped_total",
        "Logout token deliveries dropped because the client no longer has a backchannel_logout_uri"
    );
    describe_gauge!(
        "tessera_backchannel_logout_queued",
        "Logout tokens waiting for delivery"
    );
    describe_gauge!(
        "tessera_backchannel_logout_dead",
        "Logout tokens given up on (dead letters kept in the queue)"
    );
    for name in [
        "tessera_backchannel_logout_sent_total",
        "tessera_backchannel_logout_failed_total",
        "tessera_backchannel_logout_retried_total",
        "tessera_backchannel_logout_dropped_total",
    ] {
        metrics::counter!(name).increment(0);
    }
}

/// Note in `session` that `client` was given an authorization there, when
/// the client wants logout tokens: it is told when the session ends.
/// Failing to note it does not fail the authorization (it is logged).
pub async fn record_client(
    engine: &Engine,
    session: &tessera_actors::sessions::Session,
    client: &tessera_actors::directory::Client,
) {
    if client.backchannel_logout_uri.is_none()
        || session
            .clients
            .iter()
            .any(|c| c.client_id == client.client_id && c.sid == session.id)
    {
        return;
    }
    let added = engine
        .session_registry
        .send(tessera_actors::sessions::AddClient {
            id: session.id,
            client_id: client.client_id.clone(),
        })
        .await;
    match added {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(client_id = %client.client_id, error = %e, "the session could not record the client for back-channel logout")
        }
        Err(e) => {
            tracing::warn!(client_id = %client.client_id, error = %e, "the session could not record the client for back-channel logout")
        }
    }
}
