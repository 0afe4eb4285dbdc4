//! `register`: the dynamic client registration rate (RFC 7591, open mode)
//! against the admin API creating the same client, on the same server in
//! the same run, in rounds of alternating order (A B, then B A). Both
//! write one client record durably; the difference is what registration
//! adds: the metadata checks, the registration access token, the policy.

use std::sync::Arc;

use anyhow::bail;
use serde_json::json;

use crate::fixture::Fixture;
use crate::generator::{exchange_once, request};
use crate::measure::measure;
use crate::opts::Opts;
use crate::report::compare;
use crate::servers::Target;
use crate::workload::{Mode, Workload};

const JSON: &str = "application/json";

pub(crate) fn registration(
    rt: &tokio::runtime::Runtime,
    target: &Target,
    fixture: &Fixture,
    opts: &Opts,
) -> anyhow::Result<()> {
    let Some(admin) = target.admin_token.as_deref() else {
        bail!("--scenario register compares against the admin API: give --admin-token");
    };
    let metadata = json!({
        "client_name": "load register",
        "redirect_uris": ["http://127.0.0.1:33418/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
        "scope": "openid profile",
    })
    .to_string();
    let spec = json!({
        "name": "load register",
        "public": true,
        "redirect_uris": ["http://127.0.0.1:33418/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": "openid profile",
    })
    .to_string();
    let host = &fixture.host;
    let dcr = request("POST", host, "/oauth2/register", &[], Some(JSON), &metadata);
    let bearer = format!("Bearer {admin}");
    let by_admin = request(
        "POST",
        host,
        "/admin/clients",
        &[("Authorization", &bearer)],
        Some(JSON),
        &spec,
    );
    for (what, req) in [("registration", &dcr), ("admin create", &by_admin)] {
        let a = rt.block_on(exchange_once(target.addr, req))?;
        anyhow::ensure!(
            a.status == 201,
            "a {what} answered {} (is registration open? the harness opens it for this scenario)",
            a.status
        );
    }
    let fixed = |req: &Vec<u8>| {
        let mut wl = Workload::with_tokens(Mode::Fixed, fixture, &[], opts);
        wl.fixed = req.clone();
        wl.marker = br#""client_id""#;
        Arc::new(wl)
    };
    let (dcr_wl, admin_wl) = (fixed(&dcr), fixed(&by_admin));
    let rounds = opts.rounds.max(2);
    let name = &opts.name;
    let (mut base, mut reg) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let tag = format!(" [round {round}/{rounds}]");
        let mut order = [false, true];
        if round % 2 == 0 {
            order.reverse();
        }
        for dcr_run in order {
            if dcr_run {
                reg.push(measure(
                    rt,
                    &format!("{name} POST /oauth2/register (open){tag}"),
                    target.addr,
                    dcr_wl.clone(),
                    opts,
                ));
            } else {
                base.push(measure(
                    rt,
                    &format!("{name} POST /admin/clients{tag}"),
                    target.addr,
                    admin_wl.clone(),
                    opts,
                ));
            }
        }
    }
    compare(
        "register",
        "self-registration vs admin creation",
        base,
        reg,
        None,
    )?;
    Ok(())
}
