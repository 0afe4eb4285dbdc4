//! The subcommands over an engine on the store (no server running on it).

use std::sync::Arc;

use tessera_actors::directory::{
    CreateApiKey, CreateClient, CreateEntity, DeleteClient, DeleteEntity, Entity, NewUser,
    RemoveMember, RevokeApiKey, SetMember, SetRoles, User,
};
use tessera_actors::flows::NewPassword;
use tessera_actors::keys::{ListKeys, Rotate};
use tessera_actors::Engine;

use super::{
    client_spec, print_api_key_created, print_api_key_line, print_client_created,
    print_client_line, print_keys, print_roles, print_user_created, print_user_line, role,
    roles_after, ApiKeyCmd, ClientCmd, EntityCmd, KeysCmd, UserCmd,
};

pub async fn client(engine: Engine, cmd: ClientCmd) -> anyhow::Result<()> {
    match cmd {
        ClientCmd::Create(a) => {
            let spec = client_spec(a)?;
            let (c, secret) = engine.directory.send(CreateClient(spec)).await??;
            print_client_created(&c.client_id, secret.as_deref());
        }
        ClientCmd::List => {
            for c in engine.clients.list() {
                let grants: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
                print_client_line(
                    &c.client_id,
                    &c.name,
                    c.is_public(),
                    &grants,
                    &c.scope.to_string(),
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
}

pub async fn keys(engine: Engine, cmd: KeysCmd) -> anyhow::Result<()> {
    let keys = match cmd {
        KeysCmd::List => engine.key_rotator.send(ListKeys).await?,
        KeysCmd::Rotate => engine.key_rotator.send(Rotate).await??,
    };
    print_keys(&keys);
    Ok(())
}

/// A user by id, username or e-mail.
fn find_user(engine: &Engine, user: &str) -> anyhow::Result<Arc<User>> {
    uuid::Uuid::parse_str(user)
        .ok()
        .and_then(|id| engine.users.get(&id))
        .or_else(|| engine.users.by_login(user))
        .ok_or_else(|| anyhow::anyhow!("no user {user:?}"))
}

/// `password`: read from stdin (or given) for `create` and `set-password`.
pub async fn user(
    engine: Engine,
    (cmd, password): (UserCmd, Option<String>),
) -> anyhow::Result<()> {
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
            print_user_created(&u.id, &u.username, &u.email);
        }
        UserCmd::List => {
            for u in engine.users.list() {
                print_user_line(
                    &u.id,
                    &u.username,
                    &u.email,
                    u.email_verified,
                    &format!("{:?}", u.status),
                    &tessera_actors::clock::rfc3339(u.created_at),
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
        UserCmd::Role { action, user, role } => {
            let u = find_user(&engine, &user)?;
            let roles = roles_after(&u.roles, action, &role)?;
            let r = engine
                .directory
                .send(SetRoles {
                    id: u.id,
                    roles: roles.clone(),
                })
                .await?
                .map_err(crate::error::ApiError::from);
            let detail = Some(format!(
                "roles: {}",
                if roles.is_empty() {
                    "none".to_string()
                } else {
                    roles.join(", ")
                }
            ));
            let r = r.map(|u| (u, detail));
            let who = crate::audit::Who::cli();
            let updated = crate::audit::audited_with(
                &engine,
                &who,
                "user.roles.set",
                Some(u.id.to_string()),
                r,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            print_roles(
                action,
                &role,
                &updated.username,
                &updated.id,
                &updated.roles,
            );
        }
    }
    Ok(())
}

fn find_entity(engine: &Engine, entity: &str) -> anyhow::Result<Arc<Entity>> {
    uuid::Uuid::parse_str(entity)
        .ok()
        .and_then(|id| engine.entities.get(&id))
        .ok_or_else(|| anyhow::anyhow!("no entity {entity:?}"))
}

pub async fn entity(engine: Engine, cmd: EntityCmd) -> anyhow::Result<()> {
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
}

pub async fn apikey(engine: Engine, cmd: ApiKeyCmd) -> anyhow::Result<()> {
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
            print_api_key_created(&k.id, &secret);
        }
        ApiKeyCmd::List { entity } => {
            let e = find_entity(&engine, &entity)?;
            for k in engine.entities.api_keys(&e.id) {
                print_api_key_line(
                    &k.id,
                    &k.name,
                    &tessera_actors::clock::rfc3339(k.created_at),
                    k.last_used_at
                        .map(tessera_actors::clock::rfc3339)
                        .as_deref(),
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
}
