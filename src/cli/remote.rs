//! The subcommands through a running server's admin API, for when that
//! server holds the store. They print what the local ones print.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use tessera_actors::keys::KeyInfo;

use super::{
    client_spec, print_api_key_created, print_api_key_line, print_client_created,
    print_client_line, print_keys, print_roles, print_user_created, print_user_line, role,
    roles_after, ApiKeyCmd, ClientCmd, EntityCmd, KeysCmd, Target, UserCmd,
};

/// A server's admin API, reached with its admin token.
pub struct Admin {
    http: reqwest::Client,
    base: String,
    token: String,
}

/// The admin token: configured (`TESSERA_ADMIN_TOKEN`), else the one the
/// server generated into the data directory.
fn admin_token(target: &Target) -> Option<String> {
    let settings = target.settings;
    if let Some(t) = settings.admin_token.as_ref().filter(|t| !t.is_empty()) {
        return Some(t.clone());
    }
    std::fs::read_to_string(settings.data_dir.join("admin_token"))
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// Where the server may be: `--url` alone when given, else the bind
/// address (unless its port is picked at start) and the public URL.
fn candidates(target: &Target) -> Vec<String> {
    if let Some(u) = &target.url {
        return vec![u.trim_end_matches('/').to_string()];
    }
    let mut out = Vec::new();
    if let Some((host, port)) = target.settings.bind.rsplit_once(':') {
        if port != "0" {
            // A wildcard listens on loopback too.
            let host = match host {
                "0.0.0.0" | "" => "127.0.0.1",
                "[::]" => "[::1]",
                h => h,
            };
            out.push(format!("{}://{host}:{port}", target.settings.scheme()));
        }
    }
    let public = target.settings.public_url();
    if !out.contains(&public) {
        out.push(public);
    }
    out
}

#[derive(Deserialize)]
struct ErrorBody {
    message: String,
}

impl Admin {
    /// Find the server that holds the store (`locked` says which store).
    pub async fn connect(
        target: &Target<'_>,
        locked: &dyn std::fmt::Display,
    ) -> anyhow::Result<Admin> {
        let Some(token) = admin_token(target) else {
            anyhow::bail!(
                "{locked}; no admin token to reach that server's admin API: set TESSERA_ADMIN_TOKEN"
            );
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(3))
            .build()?;
        let mut tried = Vec::new();
        for base in candidates(target) {
            let admin = Admin {
                http: http.clone(),
                base: base.clone(),
                token: token.clone(),
            };
            match admin.get::<Vec<KeyInfo>>("/admin/keys").await {
                Ok(_) => return Ok(admin),
                Err(e) if e.downcast_ref::<reqwest::Error>().is_some() => {
                    tried.push(format!("{base} ({e})"));
                }
                Err(e) => anyhow::bail!("{locked}; the server at {base} answered: {e}"),
            }
        }
        anyhow::bail!(
            "{locked}; and no server answered at {} (name it with --url or TESSERA_URL)",
            tried.join(", ")
        )
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// Send, and turn an error answer into its message.
    async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<reqwest::Response> {
        let r = req.send().await?;
        if r.status().is_success() {
            return Ok(r);
        }
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        match serde_json::from_str::<ErrorBody>(&body) {
            Ok(e) => anyhow::bail!("{}", e.message),
            Err(_) => anyhow::bail!("the server answered {status}"),
        }
    }

    pub(super) async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let r = self.send(self.request(reqwest::Method::GET, path)).await?;
        Ok(r.json().await?)
    }

    pub(super) async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<T> {
        let r = self
            .send(self.request(reqwest::Method::POST, path).json(body))
            .await?;
        Ok(r.json().await?)
    }

    async fn put_json<T: DeserializeOwned>(&self, path: &str, body: &Value) -> anyhow::Result<T> {
        let r = self
            .send(self.request(reqwest::Method::PUT, path).json(body))
            .await?;
        Ok(r.json().await?)
    }

    async fn put(&self, path: &str, body: &Value) -> anyhow::Result<()> {
        self.send(self.request(reqwest::Method::PUT, path).json(body))
            .await?;
        Ok(())
    }

    pub(super) async fn delete(&self, path: &str) -> anyhow::Result<()> {
        self.send(self.request(reqwest::Method::DELETE, path))
            .await?;
        Ok(())
    }
}

#[derive(Deserialize)]
struct ClientRow {
    client_id: String,
    name: String,
    public: bool,
    grant_types: Vec<String>,
    scope: String,
    client_secret: Option<String>,
}

pub async fn client(admin: Admin, cmd: ClientCmd) -> anyhow::Result<()> {
    match cmd {
        ClientCmd::Create(a) => {
            let spec = serde_json::to_value(client_spec(a)?)?;
            let c: ClientRow = admin.post("/admin/clients", &spec).await?;
            print_client_created(&c.client_id, c.client_secret.as_deref());
        }
        ClientCmd::List => {
            for c in admin.get::<Vec<ClientRow>>("/admin/clients").await? {
                let grants: Vec<&str> = c.grant_types.iter().map(String::as_str).collect();
                print_client_line(&c.client_id, &c.name, c.public, &grants, &c.scope);
            }
        }
        ClientCmd::Delete { client_id } => {
            admin.delete(&format!("/admin/clients/{client_id}")).await?;
            println!("deleted {client_id}");
        }
    }
    Ok(())
}

pub async fn keys(admin: Admin, cmd: KeysCmd) -> anyhow::Result<()> {
    let keys: Vec<KeyInfo> = match cmd {
        KeysCmd::List => admin.get("/admin/keys").await?,
        KeysCmd::Rotate => admin.post("/admin/keys/rotate", &Value::Null).await?,
    };
    print_keys(&keys);
    Ok(())
}

#[derive(Deserialize)]
struct UserRow {
    id: uuid::Uuid,
    username: String,
    email: String,
    email_verified: bool,
    status: String,
    created_at: String,
    #[serde(default)]
    roles: Vec<String>,
}

/// A user by id, username or e-mail, as the local command finds one.
async fn find_user(admin: &Admin, user: &str) -> anyhow::Result<UserRow> {
    let id = uuid::Uuid::parse_str(user).ok();
    let login = user.trim();
    admin
        .get::<Vec<UserRow>>("/admin/users")
        .await?
        .into_iter()
        .find(|u| {
            Some(u.id) == id
                || u.username.eq_ignore_ascii_case(login)
                || u.email.eq_ignore_ascii_case(login)
        })
        .ok_or_else(|| anyhow::anyhow!("no user {user:?}"))
}

/// `active` → `Active`, as the local listing shows a status.
fn status_word(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

pub async fn user(admin: Admin, (cmd, password): (UserCmd, Option<String>)) -> anyhow::Result<()> {
    match cmd {
        UserCmd::Create(a) => {
            let body = json!({
                "username": a.username,
                "email": a.email,
                "password": password.unwrap_or_default(),
                "email_verified": a.email_verified,
                "name": a.name,
            });
            let u: UserRow = admin.post("/admin/users", &body).await?;
            print_user_created(&u.id, &u.username, &u.email);
        }
        UserCmd::List => {
            for u in admin.get::<Vec<UserRow>>("/admin/users").await? {
                print_user_line(
                    &u.id,
                    &u.username,
                    &u.email,
                    u.email_verified,
                    &status_word(&u.status),
                    &u.created_at,
                );
            }
        }
        // The admin API does not count the sessions it ends.
        UserCmd::Delete { user } => {
            let u = find_user(&admin, &user).await?;
            admin.delete(&format!("/admin/users/{}", u.id)).await?;
            println!("deleted {} ({}); every session ended", u.username, u.id);
        }
        UserCmd::SetPassword { user } => {
            let u = find_user(&admin, &user).await?;
            let body = json!({ "password": password.unwrap_or_default() });
            admin
                .put(&format!("/admin/users/{}/password", u.id), &body)
                .await?;
            println!(
                "password changed for {} ({}); every session ended",
                u.username, u.id
            );
        }
        UserCmd::Role { action, user, role } => {
            let u = find_user(&admin, &user).await?;
            let roles = roles_after(&u.roles, action, &role)?;
            let updated: UserRow = admin
                .put_json(
                    &format!("/admin/users/{}/roles", u.id),
                    &json!({ "roles": roles }),
                )
                .await?;
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

#[derive(Deserialize)]
struct MemberRow {
    user_id: uuid::Uuid,
    username: Option<String>,
    role: String,
}

#[derive(Deserialize)]
struct EntityRow {
    id: uuid::Uuid,
    name: String,
    #[serde(default)]
    members: Vec<MemberRow>,
}

async fn find_entity(admin: &Admin, entity: &str) -> anyhow::Result<EntityRow> {
    let Ok(id) = uuid::Uuid::parse_str(entity) else {
        anyhow::bail!("no entity {entity:?}");
    };
    admin
        .get(&format!("/admin/entities/{id}"))
        .await
        .map_err(|_| anyhow::anyhow!("no entity {entity:?}"))
}

pub async fn entity(admin: Admin, cmd: EntityCmd) -> anyhow::Result<()> {
    match cmd {
        EntityCmd::Create { name } => {
            let e: EntityRow = admin
                .post("/admin/entities", &json!({ "name": name }))
                .await?;
            println!("{}\t{}", e.id, e.name);
        }
        EntityCmd::List => {
            for e in admin.get::<Vec<EntityRow>>("/admin/entities").await? {
                let members: Vec<String> = e
                    .members
                    .iter()
                    .map(|m| {
                        let who = m.username.clone().unwrap_or_else(|| m.user_id.to_string());
                        format!("{who}:{}", m.role)
                    })
                    .collect();
                println!("{}\t{}\t{}", e.id, e.name, members.join(","));
            }
        }
        EntityCmd::Delete { entity } => {
            let e = find_entity(&admin, &entity).await?;
            admin.delete(&format!("/admin/entities/{}", e.id)).await?;
            println!("deleted {}", e.id);
        }
        EntityCmd::AddMember {
            entity,
            user,
            role: r,
        } => {
            let e = find_entity(&admin, &entity).await?;
            let u = find_user(&admin, &user).await?;
            role(&r)?;
            admin
                .put(
                    &format!("/admin/entities/{}/members/{}", e.id, u.id),
                    &json!({ "role": r }),
                )
                .await?;
            println!("{} is now {r} of {}", u.username, e.name);
        }
        EntityCmd::RemoveMember { entity, user } => {
            let e = find_entity(&admin, &entity).await?;
            let u = find_user(&admin, &user).await?;
            admin
                .delete(&format!("/admin/entities/{}/members/{}", e.id, u.id))
                .await?;
            println!("{} left {}", u.username, e.name);
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct ApiKeyRow {
    id: uuid::Uuid,
    name: String,
    created_at: String,
    last_used_at: Option<String>,
    apikey: Option<String>,
}

pub async fn apikey(admin: Admin, cmd: ApiKeyCmd) -> anyhow::Result<()> {
    match cmd {
        ApiKeyCmd::Create { entity, name } => {
            let e = find_entity(&admin, &entity).await?;
            let k: ApiKeyRow = admin
                .post(
                    &format!("/admin/entities/{}/apikeys", e.id),
                    &json!({ "name": name }),
                )
                .await?;
            print_api_key_created(&k.id, k.apikey.as_deref().unwrap_or_default());
        }
        ApiKeyCmd::List { entity } => {
            let e = find_entity(&admin, &entity).await?;
            let keys: Vec<ApiKeyRow> = admin
                .get(&format!("/admin/entities/{}/apikeys", e.id))
                .await?;
            for k in keys {
                print_api_key_line(&k.id, &k.name, &k.created_at, k.last_used_at.as_deref());
            }
        }
        ApiKeyCmd::Revoke { entity, key_id } => {
            let e = find_entity(&admin, &entity).await?;
            let key_id = uuid::Uuid::parse_str(&key_id)
                .map_err(|_| anyhow::anyhow!("{key_id:?} is not an API key id"))?;
            admin
                .delete(&format!("/admin/entities/{}/apikeys/{key_id}", e.id))
                .await?;
            println!("revoked {key_id}");
        }
    }
    Ok(())
}
