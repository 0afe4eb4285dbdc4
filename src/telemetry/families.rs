//! The catalogue of metric families: each described (help text, unit) and,
//! where it can be, registered at zero when the recorder is installed, so
//! the first scrape of a fresh server already carries every family a
//! dashboard queries.

pub(super) fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    // Traffic.
    describe_counter!(
        "tessera_http_requests_total",
        "HTTP requests by route, method and status"
    );
    describe_histogram!(
        "tessera_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by route"
    );
    // Tokens.
    describe_counter!(
        "tessera_introspections_total",
        "Introspections by result (active, inactive)"
    );
    describe_counter!(
        "tessera_tokens_issued_total",
        "Tokens issued by kind, grant and format"
    );
    describe_counter!(
        "tessera_authorization_codes_issued_total",
        "Authorization codes issued"
    );
    describe_counter!(
        "tessera_code_replays_total",
        "Authorization codes presented a second time (the family is revoked)"
    );
    describe_counter!(
        "tessera_refresh_reuse_detected_total",
        "Rotated refresh tokens presented again (the family is revoked)"
    );
    describe_counter!(
        "tessera_dpop_proofs_total",
        "DPoP proofs that passed every check, by outcome of their single use (accepted, replayed, cache_full)"
    );
    describe_counter!(
        "tessera_client_jwts_total",
        "Client assertions and request objects that passed every check, by outcome of their jti's single use (accepted, replayed, cache_full, unavailable)"
    );
    describe_counter!(
        "tessera_jwks_fetches_total",
        "Fetches of clients' jwks_uri, by outcome (ok, error)"
    );
    describe_counter!(
        "tessera_client_cert_header_ignored_total",
        "Requests carrying the client-certificate header from an address that is not a trusted proxy (the header was ignored)"
    );
    describe_counter!(
        "tessera_pushed_requests_total",
        "Authorization requests pushed (RFC 9126)"
    );
    describe_counter!(
        "tessera_device_authorizations_total",
        "Device authorizations (RFC 8628) by outcome: started; approved, denied or wrong_code at the verification page; issued, pending, slow_down, expired, invalid when polled"
    );
    describe_counter!(
        "tessera_client_registrations_total",
        "Dynamic client registration requests (RFC 7591/7592) by outcome: registered, invalid, bad_token, no_token, rate_limited, closed, updated, deleted"
    );
    describe_counter!(
        "tessera_introspections_signed_total",
        "Introspection answers sent as signed JWTs (RFC 9701)"
    );
    describe_counter!(
        "tessera_revocations_total",
        "Token ids and families revoked"
    );
    describe_gauge!(
        "tessera_tokens_live",
        "Token records resident in the introspection index"
    );
    describe_gauge!("tessera_revoked_entries", "Entries in the revoked set");
    // Accounts.
    describe_gauge!("tessera_clients", "Registered clients");
    describe_gauge!(
        "tessera_build_info",
        "Always 1; the labels say what runs: version, commit, backends"
    );
    describe_gauge!("tessera_users", "User accounts");
    describe_gauge!("tessera_entities", "Entities");
    describe_gauge!("tessera_sessions_active", "Browser sessions held");
    describe_counter!(
        "tessera_logins_total",
        "Password and MFA logins by result (success, failure, rate_limited, busy, mfa_success, mfa_failure)"
    );
    describe_counter!(
        "tessera_federation_logins_total",
        "Logins through an upstream OpenID provider by provider and result (started, success, linked, created, denied, invalid_state, invalid_request, invalid_token, upstream_error, refused, busy, store_error)"
    );
    describe_counter!(
        "tessera_passkey_ceremonies_total",
        "Passkey ceremonies by kind (register, login, second_factor) and result (started, success, failure)"
    );
    describe_counter!(
        "tessera_passkey_clone_signals_total",
        "Passkey assertions refused as a possibly cloned authenticator, by reason (counter: the signature counter did not grow; backup_eligibility: the credential's backup eligibility changed)"
    );
    describe_gauge!(
        "tessera_federation_links",
        "Upstream subjects linked to local users"
    );
    describe_counter!(
        "tessera_registrations_total",
        "Self-service registrations by API"
    );
    describe_counter!(
        "tessera_account_recoveries_total",
        "Account recoveries by result"
    );
    describe_gauge!(
        "tessera_password_pool_queue_depth",
        "Password hashes queued or running in the argon2 pool"
    );
    describe_histogram!(
        "tessera_password_pool_wait_seconds",
        Unit::Seconds,
        "Time a password hash waited for an argon2 worker"
    );
    describe_counter!(
        "tessera_password_pool_rejected_total",
        "Password hashes refused because the argon2 pool queue was full"
    );
    // Actors.
    describe_histogram!(
        "tessera_actor_mailbox_wait_seconds",
        Unit::Seconds,
        "Time a message waited in an actor's mailbox, by actor and message"
    );
    describe_histogram!(
        "tessera_actor_handling_seconds",
        Unit::Seconds,
        "Time an actor spent handling a message, by actor and message"
    );
    // Store.
    describe_histogram!(
        "tessera_store_flush_duration_seconds",
        Unit::Seconds,
        "Durable flush (group commit) latency"
    );
    describe_histogram!(
        "tessera_store_flush_batch_size",
        "Writers sharing one durable flush"
    );
    describe_counter!(
        "tessera_store_flush_failures_total",
        "Durable flushes that failed"
    );
    describe_gauge!(
        "tessera_store_size_bytes",
        Unit::Bytes,
        "Size of the store on disk"
    );
    describe_gauge!(
        "tessera_store_writable",
        "1 while the store can make writes durable; 0 while free space is below the reserve (until freed) or after a failed write (until restart)"
    );
    describe_gauge!(
        "tessera_store_low_space",
        "1 while free space on the store's filesystem is below store.reserve_bytes (writes answer 503)"
    );
    // Mail.
    describe_gauge!("tessera_mail_queued", "Mails waiting for delivery");
    describe_gauge!(
        "tessera_mail_dead",
        "Mails given up on (dead letters kept in the queue tree)"
    );
    describe_counter!("tessera_mail_sent_total", "Mails delivered");
    describe_counter!(
        "tessera_mail_failed_total",
        "Mail delivery attempts that failed"
    );
    // Audit log.
    describe_counter!(
        "tessera_audit_records_total",
        "Audit log records written, by outcome (ok, refused)"
    );
    describe_counter!(
        "tessera_audit_swept_total",
        "Audit log records deleted by the retention sweep"
    );
    // Keys.
    describe_counter!("tessera_key_rotations_total", "Signing key rotations");
    describe_gauge!("tessera_keys_published", "Keys in the JWKS");
    describe_gauge!(
        "tessera_signing_key_activated_timestamp_seconds",
        Unit::Seconds,
        "When the current signing key took over"
    );
    describe_gauge!(
        "tessera_signing_key_age_seconds",
        Unit::Seconds,
        "Age of the current signing key"
    );
    // TLS (only a server with TLS on exports this).
    describe_counter!(
        "tessera_tls_reloads_total",
        "Certificate reloads after the files changed, by outcome (ok: the new pair serves; error: refused, the previous certificate stays)"
    );
    // Cluster (only a cluster node exports these).
    describe_gauge!(
        "tessera_cluster_applied_seq",
        "Every feed event up to this sequence number is in this node's views"
    );
    describe_gauge!(
        "tessera_cluster_lag_events",
        "Feed events this node was woken for and has not applied yet"
    );
    describe_gauge!(
        "tessera_cluster_lag_seconds",
        Unit::Seconds,
        "Time since this node's last whole self-check began (heartbeat and feed read); past cluster.max_lag it is not ready"
    );
    describe_gauge!(
        "tessera_cluster_ready",
        "1 while this node's views are fresh enough to answer from"
    );
    describe_gauge!(
        "tessera_cluster_nodes_live",
        "Nodes (this one included) whose heartbeat is fresher than cluster.node_timeout"
    );
    describe_gauge!(
        "tessera_cluster_uptime_seconds",
        Unit::Seconds,
        "Time since this node joined the cluster"
    );
    describe_histogram!(
        "tessera_cluster_apply_delay_seconds",
        Unit::Seconds,
        "From another node's commit to this node having applied it (the feed latency)"
    );
    describe_counter!(
        "tessera_cluster_feed_reconnects_total",
        "Times the feed listener's connection was lost and made again (the events table is read after each)"
    );
    describe_counter!(
        "tessera_cluster_catchup_reads_total",
        "Reads of the events table"
    );
    describe_counter!(
        "tessera_cluster_strict_waits_total",
        "Strict revocations by outcome (applied: every live node had it; timeout: answered 503)"
    );
    describe_histogram!(
        "tessera_cluster_strict_wait_seconds",
        Unit::Seconds,
        "How long strict revocations waited for every live node"
    );
    describe_counter!(
        "tessera_cluster_events_pruned_total",
        "Feed events deleted once every live node had them and their retention passed"
    );
}

/// Series that exist from the start, at zero: `rate()` and `increase()`
/// need a first sample before the first event, and a dashboard panel over
/// a rare event (reuse detection, a failed flush) shows 0 rather than
/// "no data".
pub(super) fn register_series() {
    metrics::gauge!(
        "tessera_build_info",
        "version" => crate::build_info::VERSION,
        "commit" => crate::build_info::COMMIT,
        "backends" => crate::build_info::BACKENDS
    )
    .set(1.0);
    for name in [
        "tessera_authorization_codes_issued_total",
        "tessera_code_replays_total",
        "tessera_refresh_reuse_detected_total",
        "tessera_revocations_total",
        "tessera_password_pool_rejected_total",
        "tessera_store_flush_failures_total",
        "tessera_mail_sent_total",
        "tessera_mail_failed_total",
        "tessera_key_rotations_total",
        "tessera_pushed_requests_total",
        "tessera_introspections_signed_total",
        "tessera_audit_swept_total",
    ] {
        metrics::counter!(name).increment(0);
    }
    for outcome in ["ok", "refused"] {
        metrics::counter!("tessera_audit_records_total", "outcome" => outcome).increment(0);
    }
    for outcome in [
        "started",
        "approved",
        "denied",
        "wrong_code",
        "issued",
        "pending",
        "slow_down",
        "expired",
        "invalid",
    ] {
        metrics::counter!("tessera_device_authorizations_total", "outcome" => outcome).increment(0);
    }
    for outcome in [
        "registered",
        "invalid",
        "bad_token",
        "no_token",
        "rate_limited",
        "closed",
        "updated",
        "deleted",
    ] {
        metrics::counter!("tessera_client_registrations_total", "outcome" => outcome).increment(0);
    }
    for result in ["active", "inactive"] {
        metrics::counter!("tessera_introspections_total", "result" => result).increment(0);
    }
    for outcome in ["accepted", "replayed", "cache_full"] {
        metrics::counter!("tessera_dpop_proofs_total", "outcome" => outcome).increment(0);
    }
    for outcome in ["accepted", "replayed", "cache_full", "unavailable"] {
        metrics::counter!("tessera_client_jwts_total", "outcome" => outcome).increment(0);
    }
    for outcome in ["ok", "error"] {
        metrics::counter!("tessera_jwks_fetches_total", "outcome" => outcome).increment(0);
    }
    for result in [
        "success",
        "failure",
        "rate_limited",
        "busy",
        "mfa_success",
        "mfa_failure",
    ] {
        metrics::counter!("tessera_logins_total", "result" => result).increment(0);
    }
    for result in ["success", "failure"] {
        metrics::counter!("tessera_account_recoveries_total", "result" => result).increment(0);
    }
    for kind in ["register", "login", "second_factor"] {
        for result in ["started", "success", "failure"] {
            metrics::counter!("tessera_passkey_ceremonies_total", "kind" => kind, "result" => result)
                .increment(0);
        }
    }
    for reason in ["counter", "backup_eligibility"] {
        metrics::counter!("tessera_passkey_clone_signals_total", "reason" => reason).increment(0);
    }
    for api in ["registration", "api_oauth"] {
        metrics::counter!("tessera_registrations_total", "api" => api).increment(0);
    }
    metrics::gauge!("tessera_password_pool_queue_depth").set(0.0);
    // A histogram exists (all buckets at zero) once it has a handle; the
    // pool would otherwise only create it at the first login.
    let _ = metrics::histogram!("tessera_password_pool_wait_seconds");
    // The series the scrape itself adds once it has answered: the first
    // scrape already shows the request families, not "no data".
    let _ = metrics::histogram!("tessera_http_request_duration_seconds", "route" => "/metrics");
    metrics::counter!("tessera_http_requests_total", "route" => "/metrics", "method" => "GET", "status" => "200")
        .increment(0);
}

/// A cluster node's series, at zero (a server that is no cluster node
/// exports none of them): the Cluster row's panels over rare events (a
/// reconnect, a strict wait, a pruning, another node's change) read 0, not
/// "no data", from the node's start. The gauges are set at its first
/// self-check.
pub fn register_cluster_series() {
    for name in [
        "tessera_cluster_feed_reconnects_total",
        "tessera_cluster_catchup_reads_total",
        "tessera_cluster_events_pruned_total",
    ] {
        metrics::counter!(name).increment(0);
    }
    for outcome in ["applied", "timeout"] {
        metrics::counter!("tessera_cluster_strict_waits_total", "outcome" => outcome).increment(0);
    }
    let _ = metrics::histogram!("tessera_cluster_apply_delay_seconds");
    let _ = metrics::histogram!("tessera_cluster_strict_wait_seconds");
}

/// The certificate reload series at zero, when the server speaks TLS: a
/// refused reload shows as a step from 0, not as a new series.
pub fn register_tls_series() {
    for outcome in ["ok", "error"] {
        metrics::counter!("tessera_tls_reloads_total", "outcome" => outcome).increment(0);
    }
}

/// The issuance series of the grants every server offers, at zero, in the
/// configured access-token format: a panel of issued tokens reads 0, not
/// "no data", before the first token.
pub fn register_token_series(format: tessera_actors::domain::TokenFormat) {
    use tessera_actors::domain::TokenFormat;
    let format = match format {
        TokenFormat::Jwt => "jwt",
        TokenFormat::Opaque => "opaque",
    };
    for grant in [
        "client_credentials",
        "authorization_code",
        "refresh_token",
        "token_exchange",
    ] {
        metrics::counter!("tessera_tokens_issued_total", "kind" => "access_token", "grant" => grant, "format" => format)
            .increment(0);
    }
}
