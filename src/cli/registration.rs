//! `tessera registration-token`: initial access tokens for dynamic client
//! registration (`[registration] mode = "initial_token"`), on the store or
//! through a running server's `/admin/registration-tokens`.

use clap::Subcommand;
use serde::Deserialize;
use serde_json::json;
use tessera_actors::directory::{IssueInitialToken, ListInitialTokens, RevokeInitialToken};
use tessera_actors::Engine;

use super::remote::Admin;
use super::{run, Target};

#[derive(Debug, Subcommand)]
pub enum RegistrationTokenCmd {
    /// Issue a token and print it (shown once).
    Create {
        /// Registrations it may make.
        #[arg(long, default_value_t = 1)]
        uses: u32,
        /// Seconds until it expires.
        #[arg(long, default_value_t = 86_400)]
        expires_in: i64,
        /// Who it is for.
        #[arg(long)]
        note: Option<String>,
    },
    /// List tokens (never the tokens themselves).
    List,
    /// Revoke a token by id.
    Revoke { id: String },
}

/// One token, as both ways print it.
#[derive(Deserialize)]
struct Row {
    id: uuid::Uuid,
    #[serde(default)]
    token: Option<String>,
    uses: u32,
    uses_left: u32,
    expires_at: i64,
    #[serde(default)]
    note: Option<String>,
}

fn print_created(r: &Row) {
    println!("id:         {}", r.id);
    println!("token:      {}", r.token.as_deref().unwrap_or(""));
    println!("uses:       {}", r.uses);
    println!(
        "expires_at: {}",
        tessera_actors::clock::rfc3339(r.expires_at)
    );
}

fn print_line(r: &Row) {
    println!(
        "{}\t{}/{} left\texpires {}\t{}",
        r.id,
        r.uses_left,
        r.uses,
        tessera_actors::clock::rfc3339(r.expires_at),
        r.note.as_deref().unwrap_or("")
    );
}

fn row(t: &tessera_actors::directory::InitialToken, token: Option<String>) -> Row {
    Row {
        id: t.id,
        token,
        uses: t.uses,
        uses_left: t.uses_left,
        expires_at: t.expires_at,
        note: t.note.clone(),
    }
}

fn parse_id(id: &str) -> anyhow::Result<uuid::Uuid> {
    uuid::Uuid::parse_str(id).map_err(|_| anyhow::anyhow!("{id:?} is not a token id (a UUID)"))
}

async fn local(engine: Engine, cmd: RegistrationTokenCmd) -> anyhow::Result<()> {
    match cmd {
        RegistrationTokenCmd::Create {
            uses,
            expires_in,
            note,
        } => {
            let (t, token) = engine
                .directory
                .send(IssueInitialToken {
                    uses,
                    expires_in,
                    note,
                })
                .await??;
            print_created(&row(&t, Some(token)));
        }
        RegistrationTokenCmd::List => {
            for t in engine.directory.send(ListInitialTokens).await?? {
                print_line(&row(&t, None));
            }
        }
        RegistrationTokenCmd::Revoke { id } => {
            engine
                .directory
                .send(RevokeInitialToken(parse_id(&id)?))
                .await?
                .map_err(|e| match e {
                    tessera_actors::directory::DirectoryError::NotFound => {
                        anyhow::anyhow!("no initial access token {id}")
                    }
                    other => other.into(),
                })?;
            println!("revoked {id}");
        }
    }
    Ok(())
}

async fn remote(admin: Admin, cmd: RegistrationTokenCmd) -> anyhow::Result<()> {
    match cmd {
        RegistrationTokenCmd::Create {
            uses,
            expires_in,
            note,
        } => {
            let r: Row = admin
                .post(
                    "/admin/registration-tokens",
                    &json!({"uses": uses, "expires_in": expires_in, "note": note}),
                )
                .await?;
            print_created(&r);
        }
        RegistrationTokenCmd::List => {
            let rows: Vec<Row> = admin.get("/admin/registration-tokens").await?;
            for r in &rows {
                print_line(r);
            }
        }
        RegistrationTokenCmd::Revoke { id } => {
            let id = parse_id(&id)?;
            admin
                .delete(&format!("/admin/registration-tokens/{id}"))
                .await?;
            println!("revoked {id}");
        }
    }
    Ok(())
}

pub fn registration_token(target: &Target, cmd: RegistrationTokenCmd) -> anyhow::Result<()> {
    run(target, cmd, local, remote)
}
