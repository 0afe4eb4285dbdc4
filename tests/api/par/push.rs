//! `POST /oauth2/par` and the authorization request that only names what
//! was pushed (RFC 9126): the flow, what the pushed request keeps from the
//! browser, client authentication, refused pushes, clients and servers
//! that require pushing, discovery.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{assert_par_error, by_uri, code_at, error_page, par_call, push, pushed, URN};
use crate::flow::*;
use crate::helpers::{header, spawn_app, spawn_app_with};

const OTHER_REDIRECT: &str = "https://rp.example.com/other";

#[actix_web::test]
async fn a_pushed_request_runs_the_whole_flow_with_only_its_request_uri() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = confidential_rp(&app).await;
    let req = AuthRequest::new(&rp, "openid read");

    let request_uri = push(&app, &rp, &req).await;
    let mut b = logged_in(&app, &user).await;
    let cb = code_at(&app, &mut b, &by_uri(rp.id(), &request_uri), REDIRECT).await;
    assert_eq!(cb.base, REDIRECT);
    assert_eq!(
        cb.get("state"),
        Some(req.state.as_str()),
        "the pushed state"
    );
    let t = tokens(exchange(&app, &rp, cb.param("code"), Some(&req.verifier)).await).await;
    assert_eq!(t.body["scope"], "openid read", "the pushed scope");
    assert!(t.id_token.is_some(), "openid was pushed");
    let claims = crate::helpers::jwt_part(t.id(), 1);
    assert_eq!(claims["nonce"], req.nonce.as_str(), "the pushed nonce");

    // Used up once the code went to the client: a reload, the same
    // browser, is refused.
    error_page(
        b.get(&by_uri(rp.id(), &request_uri)).await,
        "invalid_request_uri",
    )
    .await;
    // A pushed request is pushed once: the same parameters pushed again
    // make another request_uri.
    let again = push(&app, &rp, &req).await;
    assert_ne!(again, request_uri);
}

#[actix_web::test]
async fn a_public_client_pushes_with_its_client_id_and_the_login_keeps_only_the_handle() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    // Third party: the consent page too.
    let rp = public_rp(&app).await;
    let req = AuthRequest::new(&rp, SCOPE);
    let request_uri = push(&app, &rp, &req).await;

    // Not logged in: to the login page, whose return_to names the pushed
    // request and nothing else. The same browser may come again.
    let mut b = Browser::new(&app);
    let path = by_uri(rp.id(), &request_uri);
    let mut login = None;
    for i in 0..2 {
        let r = b.get(&path).await;
        let binding: Vec<_> = set_cookies(&r)
            .into_iter()
            .filter(|(n, _, _)| n == "tessera_authz")
            .collect();
        if i == 0 {
            // The binding cookie: HttpOnly, Lax, whole site; no Secure
            // over plain HTTP.
            let (_, value, attrs) = binding.first().expect("a binding cookie");
            assert!(value.len() >= 32, "{value}");
            assert!(attrs.contains("httponly"), "{attrs}");
            assert!(attrs.contains("samesite=lax"), "{attrs}");
            assert!(attrs.contains("path=/"), "{attrs}");
            assert!(!attrs.contains("secure"), "{attrs}");
        } else {
            assert!(binding.is_empty(), "the same binding on a reload");
        }
        let l = redirect(&r, StatusCode::FOUND);
        assert_eq!(l.base, "/auth/login");
        login = Some(l);
    }
    assert!(b.cookies.contains_key("tessera_authz"), "{:?}", b.cookies);
    let login = login.unwrap();
    let return_to = login.param("return_to").to_string();
    let back = Redirect::parse(&return_to);
    assert_eq!(back.base, "/oauth2/authorize");
    assert_eq!(
        back.params,
        vec![
            ("client_id".to_string(), rp.id().to_string()),
            ("request_uri".to_string(), request_uri.clone()),
        ],
        "{return_to}"
    );

    b.login(&user).await;
    let r = b.get(&return_to).await;
    assert_eq!(r.status(), StatusCode::OK, "the consent page");
    let page = r.text().await.unwrap();
    let names: Vec<String> = hidden_inputs(&page).into_iter().map(|(n, _)| n).collect();
    assert!(names.contains(&"request_uri".to_string()), "{names:?}");
    for pushed_only in ["scope", "state", "redirect_uri", "code_challenge", "nonce"] {
        assert!(
            !names.contains(&pushed_only.to_string()),
            "the consent form carries the handle, not {pushed_only}: {names:?}"
        );
    }
    let r = b.consent(&page, "allow").await;
    let cb = redirect(&r, StatusCode::SEE_OTHER);
    assert_eq!(cb.base, REDIRECT);
    assert_eq!(cb.get("state"), Some(req.state.as_str()));
    assert_eq!(cb.get("iss"), Some(app.issuer.as_str()));
    let t = tokens(exchange(&app, &rp, cb.param("code"), Some(&req.verifier)).await).await;
    assert_eq!(t.body["scope"], SCOPE);
    error_page(b.get(&path).await, "invalid_request_uri").await;
}

#[actix_web::test]
async fn the_pushed_parameters_win_over_whatever_the_browser_adds() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = rp_with(
        &app,
        json!({"first_party": true, "redirect_uris": [REDIRECT, OTHER_REDIRECT]}),
    )
    .await;
    let req = AuthRequest::new(&rp, "openid read");
    let request_uri = push(&app, &rp, &req).await;
    let (_, evil_challenge) = pkce_pair();
    let path = format!(
        "/oauth2/authorize?{}",
        encode(&[
            ("client_id", rp.id()),
            ("request_uri", request_uri.as_str()),
            ("scope", "openid profile email read"),
            ("state", "attacker-state"),
            ("redirect_uri", OTHER_REDIRECT),
            ("response_mode", "form_post"),
            ("code_challenge", evil_challenge.as_str()),
            ("nonce", "attacker-nonce"),
            ("prompt", "none"),
        ])
    );
    let mut b = logged_in(&app, &user).await;
    let cb = code_at(&app, &mut b, &path, REDIRECT).await;
    assert_eq!(cb.base, REDIRECT, "the pushed redirect_uri");
    assert_eq!(
        cb.get("state"),
        Some(req.state.as_str()),
        "the pushed state"
    );
    let t = tokens(exchange(&app, &rp, cb.param("code"), Some(&req.verifier)).await).await;
    assert_eq!(t.body["scope"], "openid read", "the pushed scope");
    assert_eq!(
        crate::helpers::jwt_part(t.id(), 1)["nonce"],
        req.nonce.as_str()
    );
}

#[actix_web::test]
async fn a_request_uri_cannot_be_pushed() {
    let app = spawn_app().await;
    let rp = first_party_rp(&app).await;
    let earlier = push(&app, &rp, &AuthRequest::new(&rp, SCOPE)).await;
    let req = AuthRequest::new(&rp, SCOPE).set("request_uri", &earlier);
    assert_par_error(
        par_call(&app, &rp, &req.pairs).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
}

#[actix_web::test]
async fn a_confidential_client_authenticates_to_push() {
    let app = spawn_app().await;
    let rp = confidential_rp(&app).await;
    let req = AuthRequest::new(&rp, SCOPE);
    // client_id only.
    let r = app
        .http
        .post(app.url("/oauth2/par"))
        .form(&req.pairs)
        .send()
        .await
        .unwrap();
    assert_par_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // A wrong secret.
    let r = app
        .http
        .post(app.url("/oauth2/par"))
        .basic_auth(rp.id(), Some("not-the-secret"))
        .form(&req.pairs)
        .send()
        .await
        .unwrap();
    assert!(header(&r, "www-authenticate").is_some());
    assert_par_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // Nobody.
    let r = app
        .http
        .post(app.url("/oauth2/par"))
        .form(&req.clone().without("client_id").pairs)
        .send()
        .await
        .unwrap();
    assert_par_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // The secret in the body works as it does at the token endpoint.
    let r = app
        .http
        .post(app.url("/oauth2/par"))
        .form(&req.clone().push("client_secret", &rp.client.secret).pairs)
        .send()
        .await
        .unwrap();
    pushed(r).await;
}

#[actix_web::test]
async fn bad_pushed_requests_are_refused_with_their_code() {
    let app = spawn_app().await;
    let public = public_rp(&app).await;
    let conf = confidential_rp(&app).await;
    let base = || AuthRequest::new(&public, SCOPE);
    let cases: Vec<(&Rp, AuthRequest, &str)> = vec![
        (
            &public,
            base().set("redirect_uri", "https://evil.example/cb"),
            "invalid_request",
        ),
        (
            &public,
            base().set("redirect_uri", "https://rp.example.com/cb/x"),
            "invalid_request",
        ),
        (
            &public,
            base().set("scope", "openid admin"),
            "invalid_scope",
        ),
        (
            &public,
            base().set("scope", "openid read write"),
            "invalid_scope",
        ),
        (
            &public,
            base()
                .without("code_challenge")
                .without("code_challenge_method"),
            "invalid_request",
        ),
        (
            &public,
            base().set("code_challenge", "short"),
            "invalid_request",
        ),
        (
            &public,
            base().set("response_type", "token"),
            "unsupported_response_type",
        ),
        (
            &public,
            base().without("response_type"),
            "unsupported_response_type",
        ),
        (
            &public,
            base().set("response_mode", "fragment"),
            "invalid_request",
        ),
        (
            &public,
            base().set("resource", "https://api.example"),
            "invalid_target",
        ),
        (
            &conf,
            AuthRequest::new(&conf, "openid read write"),
            "invalid_scope",
        ),
    ];
    for (rp, req, code) in cases {
        let body = assert_par_error(
            par_call(&app, rp, &req.pairs).await,
            StatusCode::BAD_REQUEST,
            code,
        )
        .await;
        assert!(!body.to_string().contains(URN), "{body}");
    }
    // A client without the code flow.
    let cc = Rp {
        client: app.cc_client().await,
        redirect_uri: REDIRECT.into(),
    };
    let r = par_call(&app, &cc, &AuthRequest::new(&cc, "read").pairs).await;
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"] == "unauthorized_client" || body["error"] == "invalid_request",
        "{body}"
    );
    assert!(body.get("request_uri").is_none());
}

#[actix_web::test]
async fn a_client_that_must_push_cannot_send_a_plain_request() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = rp_with(
        &app,
        json!({"first_party": true, "require_pushed_authorization_requests": true}),
    )
    .await;
    let mut b = logged_in(&app, &user).await;
    let req = AuthRequest::new(&rp, SCOPE);
    error_page(b.get(&req.path()).await, "invalid_request").await;
    // Pushed, it works.
    let uri = push(&app, &rp, &req).await;
    code_at(&app, &mut b, &by_uri(rp.id(), &uri), REDIRECT).await;
    // Other clients are not concerned.
    let other = first_party_rp(&app).await;
    b.code(&app, &AuthRequest::new(&other, SCOPE)).await;
    // The admin view shows the setting.
    let v: Value = app
        .admin(
            reqwest::Method::GET,
            &format!("/admin/clients/{}", rp.id()),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["require_pushed_authorization_requests"], true, "{v}");
}

#[actix_web::test]
async fn a_server_that_requires_pushing_refuses_plain_requests() {
    let app = spawn_app_with(|s| s.par.required = true).await;
    let user = create_user(&app, "alice").await;
    let rp = first_party_rp(&app).await;
    let mut b = logged_in(&app, &user).await;
    let req = AuthRequest::new(&rp, SCOPE);
    error_page(b.get(&req.path()).await, "invalid_request").await;
    // A POSTed plain request too.
    error_page(
        b.post_form("/oauth2/authorize", &req.pairs).await,
        "invalid_request",
    )
    .await;
    let uri = push(&app, &rp, &req).await;
    let cb = code_at(&app, &mut b, &by_uri(rp.id(), &uri), REDIRECT).await;
    tokens(exchange(&app, &rp, cb.param("code"), Some(&req.verifier)).await).await;
    let d: Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["require_pushed_authorization_requests"], true);
}

#[actix_web::test]
async fn discovery_names_the_par_endpoint_and_what_requests_may_be() {
    let app = spawn_app().await;
    let d: Value = app
        .http
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        d["pushed_authorization_request_endpoint"],
        format!("{}/oauth2/par", app.issuer)
    );
    assert_eq!(d["require_pushed_authorization_requests"], false);
    assert_eq!(d["request_parameter_supported"], true);
    assert_eq!(d["request_uri_parameter_supported"], false);
    assert_eq!(
        d["request_object_signing_alg_values_supported"],
        json!([
            "ES256", "ES384", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "none"
        ])
    );
    assert_eq!(d["response_modes_supported"], json!(["query", "form_post"]));
    // The endpoint works as discovered.
    let rp = first_party_rp(&app).await;
    let r = app
        .http
        .post(d["pushed_authorization_request_endpoint"].as_str().unwrap())
        .form(&AuthRequest::new(&rp, SCOPE).pairs)
        .send()
        .await
        .unwrap();
    pushed(r).await;
}

#[actix_web::test]
async fn a_pushed_request_may_be_brought_by_a_form_post() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = first_party_rp(&app).await;
    let req = AuthRequest::new(&rp, SCOPE);
    let uri = push(&app, &rp, &req).await;
    let mut b = logged_in(&app, &user).await;
    let r = b
        .post_form(
            "/oauth2/authorize",
            &[("client_id", rp.id()), ("request_uri", uri.as_str())],
        )
        .await;
    let cb = redirect(&r, StatusCode::SEE_OTHER);
    assert_eq!(cb.base, REDIRECT);
    assert_eq!(cb.get("state"), Some(req.state.as_str()));
    tokens(exchange(&app, &rp, cb.param("code"), Some(&req.verifier)).await).await;
}
