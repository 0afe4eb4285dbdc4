//! Administrative subcommands a person runs from a shell. They open the
//! store directly and go through the same engine operations as the server.
//! While a server holds the store (it is locked), the commands that the
//! admin API also offers go to that server instead: its URL is `--url`
//! (`TESSERA_URL`), else the configured bind address, else the public URL;
//! its admin token is `TESSERA_ADMIN_TOKEN` (the `admin_token` setting),
//! else the token the server wrote into the data directory. The output is
//! the same either way.
//!
//! - `local` — the commands over an engine on the store.
//! - `remote` — the same commands through a running server's admin API.

mod local;
mod registration;
mod remote;
pub mod store_copy;

pub use registration::{registration_token, RegistrationTokenCmd};

use std::future::Future;
use std::sync::Arc;

use clap::{Args, Subcommand};
use tessera_actors::clock::SystemClock;
use tessera_actors::directory::{ClientSpec, ExchangePolicy, Role, TokenAuthMethod};
use tessera_actors::domain::{GrantType, TokenFormat};
use tessera_actors::keys::KeyInfo;
use tessera_actors::Engine;

use crate::configuration::Settings;

/// Where the subcommands run: the configured store, or the server that
/// holds it.
pub struct Target<'a> {
    pub settings: &'a Settings,
    /// The running server's base URL (`--url`, `TESSERA_URL`).
    pub url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ClientCmd {
    /// Register a client and print its id and secret (shown once).
    // Boxed: many flags make the arguments large beside the other variants.
    Create(Box<CreateClientArgs>),
    /// List clients.
    List,
    /// Delete a client.
    Delete { client_id: String },
}

#[derive(Debug, Args)]
pub struct CreateClientArgs {
    #[arg(long)]
    pub client_id: Option<String>,
    #[arg(long)]
    pub name: Option<String>,
    /// A public client (no secret; PKCE).
    #[arg(long)]
    pub public: bool,
    /// Space-separated scopes the client may request.
    #[arg(long)]
    pub scope: Option<String>,
    /// Allowed grant (repeatable): authorization_code, refresh_token,
    /// client_credentials, urn:ietf:params:oauth:grant-type:token-exchange,
    /// urn:ietf:params:oauth:grant-type:device_code.
    #[arg(long = "grant-type")]
    pub grant_types: Vec<String>,
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// Audience the client may request tokens for (repeatable).
    #[arg(long = "audience")]
    pub audiences: Vec<String>,
    /// A resource server that may introspect every token.
    #[arg(long)]
    pub introspect_any: bool,
    /// Audience this client answers to when introspecting (repeatable).
    #[arg(long = "introspect-audience")]
    pub introspect_audiences: Vec<String>,
    /// jwt or opaque.
    #[arg(long)]
    pub access_token_format: Option<String>,
    #[arg(long)]
    pub first_party: bool,
    /// RFC 9449: refuse this client's token requests without a DPoP proof.
    #[arg(long)]
    pub dpop_bound_access_tokens: bool,
    /// Demand a server nonce in this client's DPoP proofs.
    #[arg(long)]
    pub dpop_require_nonce: bool,
    /// Token exchange: an audience the client may exchange to (repeatable).
    #[arg(long = "exchange-audience")]
    pub exchange_audiences: Vec<String>,
    /// Token exchange without an actor token (impersonation).
    #[arg(long)]
    pub exchange_impersonation: bool,
    /// Token exchange may issue refresh tokens.
    #[arg(long)]
    pub exchange_refresh_tokens: bool,
    /// RFC 7591: client_secret_basic, client_secret_post,
    /// client_secret_jwt, private_key_jwt (no secret; needs --jwks or
    /// --jwks-uri), none (a public client), tls_client_auth or
    /// self_signed_tls_client_auth (RFC 8705; no secret).
    #[arg(long, value_name = "METHOD")]
    pub token_endpoint_auth_method: Option<String>,
    /// The one algorithm of the client's assertions (ES256, RS256, PS256,
    /// EdDSA, ...; HS256/384/512 for client_secret_jwt).
    #[arg(long, value_name = "ALG")]
    pub token_endpoint_auth_signing_alg: Option<String>,
    /// The client's public keys: a JWK Set as JSON, or a file holding one.
    #[arg(long, value_name = "FILE or JSON")]
    pub jwks: Option<String>,
    /// Where the client publishes its JWK Set (https).
    #[arg(long, value_name = "URL")]
    pub jwks_uri: Option<String>,
    /// RFC 9126: refuse this client's authorization requests unless pushed.
    #[arg(long)]
    pub require_pushed_authorization_requests: bool,
    /// The one algorithm of the client's request objects, or none.
    #[arg(long, value_name = "ALG")]
    pub request_object_signing_alg: Option<String>,
    /// RFC 9701: always answer this client's introspections as a JWT;
    /// the server's signing algorithm (`keys.algorithm`, RS256 by default).
    #[arg(long, value_name = "ALG")]
    pub introspection_signed_response_alg: Option<String>,
    /// RFC 8705 tls_client_auth: the subject DN (RFC 4514) of the
    /// client's certificate. One of the --tls-client-auth-* options.
    #[arg(long, value_name = "DN")]
    pub tls_client_auth_subject_dn: Option<String>,
    /// tls_client_auth: a dNSName SAN of the client's certificate.
    #[arg(long, value_name = "NAME")]
    pub tls_client_auth_san_dns: Option<String>,
    /// tls_client_auth: a URI SAN of the client's certificate.
    #[arg(long, value_name = "URI")]
    pub tls_client_auth_san_uri: Option<String>,
    /// tls_client_auth: an IP address SAN of the client's certificate.
    #[arg(long, value_name = "IP")]
    pub tls_client_auth_san_ip: Option<String>,
    /// tls_client_auth: an rfc822Name (e-mail) SAN of the client's
    /// certificate.
    #[arg(long, value_name = "EMAIL")]
    pub tls_client_auth_san_email: Option<String>,
    /// RFC 8705 §3: bind this client's access tokens to its certificate.
    #[arg(long)]
    pub tls_client_certificate_bound_access_tokens: bool,
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Create a user (the password is read from stdin unless given).
    Create(CreateUserArgs),
    /// List users.
    List,
    /// Delete a user (by id, username or e-mail) and end their sessions.
    Delete { user: String },
    /// Set a user's password, read from stdin; ends their sessions.
    SetPassword { user: String },
    /// Grant or revoke a server role (`admin`: may use the admin console).
    Role {
        action: RoleAction,
        /// The user's id, username or e-mail.
        user: String,
        /// The role: `admin`.
        role: String,
    },
}

/// What `user role` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RoleAction {
    Grant,
    Revoke,
}

/// A user's roles after `action` on `role`, sorted; an unknown role is an
/// error that names the known ones.
fn roles_after(current: &[String], action: RoleAction, role: &str) -> anyhow::Result<Vec<String>> {
    let known = tessera_actors::directory::KNOWN_ROLES;
    anyhow::ensure!(
        known.contains(&role),
        "unknown role {role:?} (known: {})",
        known.join(", ")
    );
    let mut roles: Vec<String> = current.iter().filter(|r| *r != role).cloned().collect();
    if action == RoleAction::Grant {
        roles.push(role.to_string());
    }
    roles.sort();
    Ok(roles)
}

fn print_roles(action: RoleAction, role: &str, username: &str, id: &uuid::Uuid, roles: &[String]) {
    let done = match action {
        RoleAction::Grant => format!("granted {role} to"),
        RoleAction::Revoke => format!("revoked {role} from"),
    };
    let now = if roles.is_empty() {
        "none".to_string()
    } else {
        roles.join(", ")
    };
    println!("{done} {username} ({id}); roles: {now}");
}

#[derive(Debug, Args)]
pub struct CreateUserArgs {
    #[arg(long)]
    pub username: String,
    #[arg(long)]
    pub email: String,
    /// The password (visible in the process list and shell history: prefer
    /// stdin, which is read when this is absent).
    #[arg(long)]
    pub password: Option<String>,
    /// Display name.
    #[arg(long)]
    pub name: Option<String>,
    /// Mark the e-mail address as verified.
    #[arg(long)]
    pub email_verified: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// List the key set.
    List,
    /// Rotate now: next becomes current, a new next is published.
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum EntityCmd {
    /// Create an entity (tenant) and print its id.
    Create {
        #[arg(long)]
        name: String,
    },
    /// List entities with their members.
    List,
    /// Delete an entity, its API keys, and revoke its entity tokens.
    Delete { entity: String },
    /// Add a member (by user id, username or e-mail) or change their role.
    AddMember {
        entity: String,
        user: String,
        /// member or admin.
        #[arg(long, default_value = "member")]
        role: String,
    },
    /// Remove a member and revoke their entity token.
    RemoveMember { entity: String, user: String },
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCmd {
    /// Create an API key for an entity; the key is printed once.
    Create {
        entity: String,
        #[arg(long)]
        name: String,
    },
    /// List an entity's API keys (never their secrets).
    List { entity: String },
    /// Revoke an API key.
    Revoke { entity: String, key_id: String },
}

/// Run `cmd` on an engine over the store, or, when a server holds the
/// store, through that server's admin API; inside an actix System either
/// way, the engine shut down cleanly after.
fn run<C, L, LF, R, RF>(target: &Target, cmd: C, local: L, remote: R) -> anyhow::Result<()>
where
    L: FnOnce(Engine, C) -> LF,
    LF: Future<Output = anyhow::Result<()>>,
    R: FnOnce(remote::Admin, C) -> RF,
    RF: Future<Output = anyhow::Result<()>>,
{
    let settings = target.settings;
    let system = actix_web::rt::System::new();
    system.block_on(async {
        match crate::backend::Opened::open(settings, true) {
            Ok(backend) => {
                let engine = Engine::start(
                    settings.engine_config()?,
                    backend.stores()?,
                    Arc::new(SystemClock),
                )?;
                engine.seal_start().await?;
                let r = local(engine.clone(), cmd).await;
                engine.shutdown();
                r
            }
            Err(e) if e.in_use() => {
                let admin = remote::Admin::connect(target, &e).await?;
                remote(admin, cmd).await
            }
            Err(e) => Err(e.into()),
        }
    })
}

pub fn client(target: &Target, cmd: ClientCmd) -> anyhow::Result<()> {
    run(target, cmd, local::client, remote::client)
}

pub fn keys(target: &Target, cmd: KeysCmd) -> anyhow::Result<()> {
    run(target, cmd, local::keys, remote::keys)
}

pub fn user(target: &Target, cmd: UserCmd) -> anyhow::Result<()> {
    // Read before the store is opened, so a slow typist holds no lock.
    let password = match &cmd {
        UserCmd::Create(a) => Some(match &a.password {
            Some(p) => p.clone(),
            None => read_password()?,
        }),
        UserCmd::SetPassword { .. } => Some(read_password()?),
        UserCmd::List | UserCmd::Delete { .. } | UserCmd::Role { .. } => None,
    };
    run(target, (cmd, password), local::user, remote::user)
}

pub fn entity(target: &Target, cmd: EntityCmd) -> anyhow::Result<()> {
    run(target, cmd, local::entity, remote::entity)
}

pub fn apikey(target: &Target, cmd: ApiKeyCmd) -> anyhow::Result<()> {
    run(target, cmd, local::apikey, remote::apikey)
}

/// One line of stdin (without its line ending), prompting on a terminal.
fn read_password() -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal, Write};
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("password: ");
        std::io::stderr().flush()?;
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    let pw = line.trim_end_matches(['\r', '\n']).to_string();
    anyhow::ensure!(!pw.is_empty(), "no password on stdin");
    Ok(pw)
}

/// The client `client create` asks for.
fn client_spec(a: Box<CreateClientArgs>) -> anyhow::Result<ClientSpec> {
    let a = *a;
    let grant_types = if a.grant_types.is_empty() {
        None
    } else {
        Some(
            a.grant_types
                .iter()
                .map(|g| {
                    GrantType::parse(g).ok_or_else(|| anyhow::anyhow!("unknown grant type {g:?}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?,
        )
    };
    let format = a
        .access_token_format
        .as_deref()
        .map(str::parse::<TokenFormat>)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let token_endpoint_auth_method = a
        .token_endpoint_auth_method
        .as_deref()
        .map(auth_method)
        .transpose()?;
    let jwks = a.jwks.as_deref().map(jwks_arg).transpose()?;
    let exchanges = grant_types
        .as_ref()
        .is_some_and(|g| g.contains(&GrantType::TokenExchange));
    let token_exchange = (exchanges
        || !a.exchange_audiences.is_empty()
        || a.exchange_impersonation
        || a.exchange_refresh_tokens)
        .then_some(ExchangePolicy {
            audiences: a.exchange_audiences,
            impersonation: a.exchange_impersonation,
            refresh_tokens: a.exchange_refresh_tokens,
        });
    Ok(ClientSpec {
        client_id: a.client_id,
        name: a.name,
        public: a.public,
        grant_types,
        scope: a.scope,
        audiences: a.audiences,
        redirect_uris: a.redirect_uris,
        introspect_any: a.introspect_any,
        introspect_audiences: a.introspect_audiences,
        access_token_format: format,
        first_party: a.first_party,
        dpop_bound_access_tokens: a.dpop_bound_access_tokens,
        dpop_require_nonce: a.dpop_require_nonce,
        token_exchange,
        token_endpoint_auth_method,
        token_endpoint_auth_signing_alg: a.token_endpoint_auth_signing_alg,
        jwks,
        jwks_uri: a.jwks_uri,
        require_pushed_authorization_requests: a.require_pushed_authorization_requests,
        request_object_signing_alg: a.request_object_signing_alg,
        introspection_signed_response_alg: a.introspection_signed_response_alg,
        tls_client_auth_subject_dn: a.tls_client_auth_subject_dn,
        tls_client_auth_san_dns: a.tls_client_auth_san_dns,
        tls_client_auth_san_uri: a.tls_client_auth_san_uri,
        tls_client_auth_san_ip: a.tls_client_auth_san_ip,
        tls_client_auth_san_email: a.tls_client_auth_san_email,
        tls_client_certificate_bound_access_tokens: a.tls_client_certificate_bound_access_tokens,
        ..ClientSpec::default()
    })
}

/// `--token-endpoint-auth-method`: one of the RFC 7591 names.
fn auth_method(name: &str) -> anyhow::Result<TokenAuthMethod> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).map_err(|_| {
        anyhow::anyhow!(
            "unknown token endpoint auth method {name:?} (one of: {})",
            [TokenAuthMethod::ALL, TokenAuthMethod::MTLS]
                .concat()
                .join(", ")
        )
    })
}

/// `--jwks`: a JWK Set given inline (it starts with `{`) or in a file.
fn jwks_arg(value: &str) -> anyhow::Result<serde_json::Value> {
    let text = if value.trim_start().starts_with('{') {
        value.to_string()
    } else {
        std::fs::read_to_string(value)
            .map_err(|e| anyhow::anyhow!("cannot read the JWK Set file {value:?}: {e}"))?
    };
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("--jwks is not JSON: {e}"))
}

fn role(s: &str) -> anyhow::Result<Role> {
    match s {
        "member" => Ok(Role::Member),
        "admin" => Ok(Role::Admin),
        other => anyhow::bail!("unknown role {other:?} (member or admin)"),
    }
}

// What the commands print, the same whether they ran here or on a server.

fn print_client_created(client_id: &str, secret: Option<&str>) {
    println!("client_id:     {client_id}");
    if let Some(s) = secret {
        println!("client_secret: {s}");
        println!("(the secret is shown once; only its hash is stored)");
    }
}

fn print_client_line(client_id: &str, name: &str, public: bool, grants: &[&str], scope: &str) {
    println!(
        "{}\t{}\t{}\t{}\tscope={:?}",
        client_id,
        name,
        if public { "public" } else { "confidential" },
        grants.join(","),
        scope
    );
}

fn print_keys(keys: &[KeyInfo]) {
    for k in keys {
        println!(
            "{}\t{}\t{:?}\tcreated {}\texpires {}",
            k.kid,
            k.alg.as_str(),
            k.state,
            tessera_actors::clock::rfc3339(k.created_at),
            k.expires_at
                .map(tessera_actors::clock::rfc3339)
                .unwrap_or_else(|| "-".into())
        );
    }
}

fn print_user_created(id: &uuid::Uuid, username: &str, email: &str) {
    println!("user_id:  {id}");
    println!("username: {username}");
    println!("email:    {email}");
}

/// `status`: `Active`, `Pending` or `Disabled`; `created`: RFC 3339.
fn print_user_line(
    id: &uuid::Uuid,
    username: &str,
    email: &str,
    verified: bool,
    status: &str,
    created: &str,
) {
    println!(
        "{}\t{}\t{}\t{}\t{}\tcreated {}",
        id,
        username,
        email,
        if verified { "verified" } else { "unverified" },
        status,
        created
    );
}

fn print_api_key_created(id: &uuid::Uuid, secret: &str) {
    println!("id:     {id}");
    println!("apikey: {secret}");
    println!("(the key is shown once; only its hash is stored)");
}

/// `last_used`: RFC 3339, if ever.
fn print_api_key_line(id: &uuid::Uuid, name: &str, created: &str, last_used: Option<&str>) {
    println!(
        "{}\t{}\tcreated {}\tlast used {}",
        id,
        name,
        created,
        last_used.unwrap_or("never")
    );
}
