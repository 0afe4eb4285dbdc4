//! The relying party: configured, or derived from the public URL.

use tessera_actors::ceremonies::Ceremonies;
use webauthn_rs::prelude::{Url, WebauthnBuilder};

use super::Passkeys;

impl Passkeys {
    /// The relying party of `settings` (configured, or derived from the
    /// public URL); ceremonies in the database when `pg` is given.
    pub fn new(
        settings: &crate::configuration::Settings,
        pg: Option<&tessera_actors::pg::Pg>,
    ) -> anyhow::Result<Passkeys> {
        let cfg = &settings.passkeys;
        let ceremonies = Ceremonies::default();
        if let Some(pg) = pg {
            ceremonies.share(pg);
        }
        let (webauthn, rp_id) = match cfg.relying_party(&settings.public_url())? {
            Some((rp_id, origins)) => {
                let urls = origins
                    .iter()
                    .map(|o| {
                        Url::parse(o).map_err(|e| {
                            anyhow::anyhow!("passkeys.origins: {o:?} is not a URL: {e}")
                        })
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let (first, rest) = urls
                    .split_first()
                    .ok_or_else(|| anyhow::anyhow!("passkeys.origins is empty"))?;
                let mut b = WebauthnBuilder::new(&rp_id, first).map_err(|_| {
                    anyhow::anyhow!(
                        "passkeys: the origin {first} is not on the relying party id {rp_id:?} (or a subdomain of it)"
                    )
                })?;
                for u in rest {
                    anyhow::ensure!(
                        u.domain()
                            .is_some_and(|d| d == rp_id || d.ends_with(&format!(".{rp_id}"))),
                        "passkeys: the origin {u} is not on the relying party id {rp_id:?}"
                    );
                    b = b.append_allowed_origin(u);
                }
                let w = b
                    .rp_name(&cfg.rp_name)
                    .timeout(std::time::Duration::from_secs(cfg.ceremony_ttl as u64))
                    .build()
                    .map_err(|e| anyhow::anyhow!("passkeys: {e}"))?;
                (Some(w), Some(rp_id))
            }
            None => {
                tracing::warn!(
                    public_url = %settings.public_url(),
                    "passkeys are off: the public URL's host is an address; set passkeys.rp_id and passkeys.origins"
                );
                (None, None)
            }
        };
        Ok(Passkeys {
            webauthn,
            rp_id,
            ceremonies,
            reauth_max_age: cfg.reauth_max_age,
            ttl: cfg.ceremony_ttl,
        })
    }
}
