//! Administrative subcommands a person runs from a shell. They open the
//! store directly (the server must not be running on it; use the admin API
//! then) and go through the same actors as the server.

use std::sync::Arc;

use clap::{Args, Subcommand};
use tessera_actors::clock::SystemClock;
use tessera_actors::directory::{ClientSpec, CreateClient, DeleteClient, NewUser, User};
use tessera_actors::domain::{GrantType, TokenFormat};
use tessera_actors::flows::NewPassword;
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
pub enum UserCmd {
    /// Create a user (the password is read from stdin unless given).
    Create(CreateUserArgs),
    /// List users.
    List,
    /// Delete a user (by id, username or e-mail) and end their sessions.
    Delete { user: String },
    /// Set a user's password, read from stdin; ends their sessions.
    SetPassword { user: String },
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

/// Run `f` against an engine over the configured store, inside an actix
/// System, and shut it down cleanly.
fn with_engine<T, F, Fut>(settings: &Settings, f: F) -> anyhow::Result<T>
where
    F: FnOnce(Engine) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let system = actix_web::rt::System::new();
    system.block_on(async {
        let store = Store::open_with(&settings.data_dir, settings.store_options())?;
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
                            .map(|g| {
                                GrantType::parse(g)
                                    .ok_or_else(|| anyhow::anyhow!("unknown grant type {g:?}"))
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
                        if c.is_public() {
                            "public"
                        } else {
                            "confidential"
                        },
                        grants.join(","),
                        c.scope.to_string()
                    );
                }
            }
            ClientCmd::Delete { client_id } => {
                engine
                    .directory
                    .send(DeleteClient(client_id.clone()))
                    .await??;
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
            k.expires_at
                .map(tessera_actors::clock::rfc3339)
                .unwrap_or_else(|| "-".into())
        );
    }
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

/// A user by id, username or e-mail.
fn find_user(engine: &Engine, user: &str) -> anyhow::Result<Arc<User>> {
    uuid::Uuid::parse_str(user)
        .ok()
        .and_then(|id| engine.users.get(&id))
        .or_else(|| engine.users.by_login(user))
        .ok_or_else(|| anyhow::anyhow!("no user {user:?}"))
}

pub fn user(settings: &Settings, cmd: UserCmd) -> anyhow::Result<()> {
    // Read before the store is opened, so a slow typist holds no lock.
    let password = match &cmd {
        UserCmd::Create(a) => Some(match &a.password {
            Some(p) => p.clone(),
            None => read_password()?,
        }),
        UserCmd::SetPassword { .. } => Some(read_password()?),
        UserCmd::List | UserCmd::Delete { .. } => None,
    };
    with_engine(settings, |engine| async move {
        match cmd {
            UserCmd::Create(a) => {
                let password = NewPassword::parse(password.unwrap_or_default())?;
                let u = engine
                    .create_user(
                        NewUser {
                            username: a.username,
                            email: a.email,
                            email_verified: a.email_verified,
                            name: a.name,
                            ..NewUser::default()
                        },
                        password,
                    )
                    .await?;
                println!("user_id:  {}", u.id);
                println!("username: {}", u.username);
                println!("email:    {}", u.email);
            }
            UserCmd::List => {
                for u in engine.users.list() {
                    println!(
                        "{}\t{}\t{}\t{}\t{:?}\tcreated {}",
                        u.id,
                        u.username,
                        u.email,
                        if u.email_verified {
                            "verified"
                        } else {
                            "unverified"
                        },
                        u.status,
                        tessera_actors::clock::rfc3339(u.created_at)
                    );
                }
            }
            UserCmd::Delete { user } => {
                let u = find_user(&engine, &user)?;
                let n = engine.delete_user(u.id).await?;
                println!("deleted {} ({}); {n} session(s) ended", u.username, u.id);
            }
            UserCmd::SetPassword { user } => {
                let u = find_user(&engine, &user)?;
                let password = NewPassword::parse(password.unwrap_or_default())?;
                let (_, n) = engine.set_password(u.id, password).await?;
                println!(
                    "password changed for {} ({}); {n} session(s) ended",
                    u.username, u.id
                );
            }
        }
        Ok(())
    })
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

fn find_entity(
    engine: &Engine,
    entity: &str,
) -> anyhow::Result<Arc<tessera_actors::directory::Entity>> {
    uuid::Uuid::parse_str(entity)
        .ok()
        .and_then(|id| engine.entities.get(&id))
        .ok_or_else(|| anyhow::anyhow!("no entity {entity:?}"))
}

fn role(s: &str) -> anyhow::Result<tessera_actors::directory::Role> {
    use tessera_actors::directory::Role;
    match s {
        "member" => Ok(Role::Member),
        "admin" => Ok(Role::Admin),
        other => anyhow::bail!("unknown role {other:?} (member or admin)"),
    }
}

pub fn entity(settings: &Settings, cmd: EntityCmd) -> anyhow::Result<()> {
    use tessera_actors::directory::{CreateEntity, DeleteEntity, RemoveMember, SetMember};
    with_engine(settings, |engine| async move {
        match cmd {
            EntityCmd::Create { name } => {
                let e = engine.directory.send(CreateEntity { name }).await??;
                println!("{}\t{}", e.id, e.name);
            }
            EntityCmd::List => {
                for e in engine.entities.list() {
                    let members: Vec<String> = e
                        .members
                        .iter()
                        .map(|(id, r)| {
                            let who = engine
                                .users
                                .get(id)
                                .map_or_else(|| id.to_string(), |u| u.username.clone());
                            format!("{who}:{}", format!("{r:?}").to_lowercase())
                        })
                        .collect();
                    println!("{}\t{}\t{}", e.id, e.name, members.join(","));
                }
            }
            EntityCmd::Delete { entity } => {
                let e = find_entity(&engine, &entity)?;
                engine.end_entity_tokens(e.id).await?;
                engine.directory.send(DeleteEntity(e.id)).await??;
                println!("deleted {}", e.id);
            }
            EntityCmd::AddMember {
                entity,
                user,
                role: r,
            } => {
                let e = find_entity(&engine, &entity)?;
                let u = find_user(&engine, &user)?;
                engine
                    .directory
                    .send(SetMember {
                        entity_id: e.id,
                        user_id: u.id,
                        role: role(&r)?,
                    })
                    .await??;
                println!("{} is now {r} of {}", u.username, e.name);
            }
            EntityCmd::RemoveMember { entity, user } => {
                let e = find_entity(&engine, &entity)?;
                let u = find_user(&engine, &user)?;
                engine
                    .directory
                    .send(RemoveMember {
                        entity_id: e.id,
                        user_id: u.id,
                    })
                    .await??;
                engine.end_member_token(e.id, u.id).await?;
                println!("{} left {}", u.username, e.name);
            }
        }
        Ok(())
    })
}

pub fn apikey(settings: &Settings, cmd: ApiKeyCmd) -> anyhow::Result<()> {
    use tessera_actors::directory::{CreateApiKey, RevokeApiKey};
    with_engine(settings, |engine| async move {
        match cmd {
            ApiKeyCmd::Create { entity, name } => {
                let e = find_entity(&engine, &entity)?;
                let (k, secret) = engine
                    .directory
                    .send(CreateApiKey {
                        entity_id: e.id,
                        name,
                    })
                    .await??;
                println!("id:     {}", k.id);
                println!("apikey: {secret}");
                println!("(the key is shown once; only its hash is stored)");
            }
            ApiKeyCmd::List { entity } => {
                let e = find_entity(&engine, &entity)?;
                for k in engine.entities.api_keys(&e.id) {
                    println!(
                        "{}\t{}\tcreated {}\tlast used {}",
                        k.id,
                        k.name,
                        tessera_actors::clock::rfc3339(k.created_at),
                        k.last_used_at
                            .map(tessera_actors::clock::rfc3339)
                            .unwrap_or_else(|| "never".into())
                    );
                }
            }
            ApiKeyCmd::Revoke { entity, key_id } => {
                let e = find_entity(&engine, &entity)?;
                let key_id = uuid::Uuid::parse_str(&key_id)
                    .map_err(|_| anyhow::anyhow!("{key_id:?} is not an API key id"))?;
                engine
                    .directory
                    .send(RevokeApiKey {
                        entity_id: e.id,
                        key_id,
                    })
                    .await??;
                println!("revoked {key_id}");
            }
        }
        Ok(())
    })
}
