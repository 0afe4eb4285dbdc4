//! Administrative subcommands a person runs from a shell. They open the
//! store directly (the server must not be running on it; use the admin API
//! then) and go through the same actors as the server.

use std::sync::Arc;

use clap::{Args, Subcommand};
use tessera_actors::clock::SystemClock;
use tessera_actors::directory::{ClientSpec, CreateClient, DeleteClient};
use tessera_actors::domain::{GrantType, TokenFormat};
use tessera_actors::keys::{KeyInfo, ListKeys, Rotate};
use tessera_actors::store::Store;
use tessera_actors::Engine;

use crate::configuration::Settings;

#[derive(Debug, Subcommand)]
pub enum ClientCmd {
    /// Register a client and print its id and secret (shown once).
    Create(CreateClientArgs),
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
    /// Allowed grant (repeatable): authorization_code, refresh_token, client_credentials.
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
}

#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// List the key set.
    List,
    /// Rotate now: next becomes current, a new next is published.
    Rotate,
}

/// Run `f` against an engine over the configured store, inside an actix
/// System, and shut it down cleanly.
fn with_engine<T, F, Fut>(settings: &Settings, f: F) -> anyhow::Result<T>
where
    F: FnOnce(Engine) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let system = actix_web::rt::System::new();
    system.block_on(async {
        let store = Store::open(&settings.data_dir)?;
        let engine = Engine::start(settings.engine_config()?, store, Arc::new(SystemClock))?;
        let r = f(engine.clone()).await;
        engine.shutdown();
        r
    })
}

pub fn client(settings: &Settings, cmd: ClientCmd) -> anyhow::Result<()> {
    with_engine(settings, |engine| async move {
        match cmd {
            ClientCmd::Create(a) => {
                let grant_types = if a.grant_types.is_empty() {
                    None
                } else {
                    Some(
                        a.grant_types
                            .iter()
                            .map(|g| GrantType::parse(g).ok_or_else(|| anyhow::anyhow!("unknown grant type {g:?}")))
                            .collect::<anyhow::Result<Vec<_>>>()?,
                    )
                };
                let format = a
                    .access_token_format
                    .as_deref()
                    .map(str::parse::<TokenFormat>)
                    .transpose()
                    .map_err(anyhow::Error::msg)?;
                let spec = ClientSpec {
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
                    ..ClientSpec::default()
                };
                let (c, secret) = engine.directory.send(CreateClient(spec)).await??;
                println!("client_id:     {}", c.client_id);
                if let Some(s) = secret {
                    println!("client_secret: {s}");
                    println!("(the secret is shown once; only its hash is stored)");
                }
            }
            ClientCmd::List => {
                for c in engine.clients.list() {
                    let grants: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
                    println!(
                        "{}\t{}\t{}\t{}\tscope={:?}",
                        c.client_id,
                        c.name,
                        if c.is_public() { "public" } else { "confidential" },
                        grants.join(","),
                        c.scope.to_string()
                    );
                }
            }
            ClientCmd::Delete { client_id } => {
                engine.directory.send(DeleteClient(client_id.clone())).await??;
                println!("deleted {client_id}");
            }
        }
        Ok(())
    })
}

pub fn keys(settings: &Settings, cmd: KeysCmd) -> anyhow::Result<()> {
    with_engine(settings, |engine| async move {
        let keys = match cmd {
            KeysCmd::List => engine.key_rotator.send(ListKeys).await?,
            KeysCmd::Rotate => engine.key_rotator.send(Rotate).await??,
        };
        print_keys(&keys);
        Ok(())
    })
}

fn print_keys(keys: &[KeyInfo]) {
    for k in keys {
        println!(
            "{}\t{}\t{:?}\tcreated {}\texpires {}",
            k.kid,
            k.alg.as_str(),
            k.state,
            tessera_actors::clock::rfc3339(k.created_at),
            k.expires_at.map(tessera_actors::clock::rfc3339).unwrap_or_else(|| "-".into())
        );
    }
}
