//! An independent OpenID Connect client library (`openidconnect`) against
//! the real server: discovery from the issuer, the code flow with PKCE (the
//! login and consent pages driven by hand), the ID token validated by the
//! library against the discovered JWKS (signature, iss, aud, exp, nonce,
//! at_hash), userinfo, and a refresh.

use std::future::Future;
use std::pin::Pin;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, CsrfToken, HttpRequest, HttpResponse, IssuerUrl,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use reqwest::StatusCode;

use crate::flow::*;
use crate::helpers::{http_client, spawn_app};

type HttpFuture = Pin<Box<dyn Future<Output = Result<HttpResponse, reqwest::Error>>>>;

/// The library's HTTP client: our reqwest, no redirects followed.
fn library_http() -> impl Fn(HttpRequest) -> HttpFuture {
    let client = http_client();
    move |req: HttpRequest| {
        let client = client.clone();
        Box::pin(async move {
            let method =
                reqwest::Method::from_bytes(req.method().as_str().as_bytes()).expect("method");
            let mut rb = client.request(method, req.uri().to_string());
            for (name, value) in req.headers() {
                rb = rb.header(name.as_str(), value.as_bytes());
            }
            let r = rb.body(req.into_body()).send().await?;
            let mut builder = openidconnect::http::Response::builder().status(r.status().as_u16());
            for (name, value) in r.headers() {
                builder = builder.header(name.as_str(), value.as_bytes());
            }
            let body = r.bytes().await?.to_vec();
            Ok(builder.body(body).expect("response"))
        }) as HttpFuture
    }
}

#[actix_web::test]
async fn the_openidconnect_crate_completes_the_code_flow() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = public_rp(&app).await;
    let http = library_http();

    // Discovery from the issuer (and the JWKS it names).
    let issuer = IssuerUrl::new(app.issuer.clone()).expect("issuer URL");
    let metadata = CoreProviderMetadata::discover_async(issuer, &http)
        .await
        .expect("discovery");
    let client = CoreClient::from_provider_metadata(metadata, ClientId::new(rp.id().into()), None)
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).expect("redirect URL"));

    // The authorization request, built by the library.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();

    // The browser part by hand: login redirect, JSON login, consent.
    let mut b = Browser::new(&app);
    let r = b.get(auth_url.as_str()).await;
    let login = redirect(&r, StatusCode::FOUND);
    assert_eq!(login.base, "/auth/login");
    b.login(&user).await;
    let r = b.get(login.param("return_to")).await;
    assert_eq!(r.status(), StatusCode::OK, "the consent page");
    let html = r.text().await.unwrap();
    let r = b.consent(&html, "allow").await;
    let cb = redirect(&r, StatusCode::SEE_OTHER);
    assert_eq!(cb.base, REDIRECT);
    assert_eq!(cb.get("state"), Some(csrf.secret().as_str()));
    assert_eq!(cb.get("iss"), Some(app.issuer.as_str()));
    let code = AuthorizationCode::new(cb.param("code").into());

    // The exchange, by the library.
    let response = client
        .exchange_code(code)
        .expect("token endpoint discovered")
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = response.id_token().expect("an ID token");
    let id_verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&id_verifier, &nonce)
        .expect("the library validates the ID token");
    assert_eq!(claims.subject().as_str(), user.id.to_string());
    assert_eq!(claims.issuer().as_str(), app.issuer);
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        Some(user.email.as_str())
    );
    assert_eq!(claims.email_verified(), Some(true));
    assert_eq!(
        claims.preferred_username().map(|u| u.as_str()),
        Some(user.username.as_str())
    );
    let expected_hash = claims.access_token_hash().expect("at_hash");
    let actual = AccessTokenHash::from_token(
        response.access_token(),
        id_token.signing_alg().expect("alg"),
        id_token.signing_key(&id_verifier).expect("key"),
    )
    .expect("hash");
    assert_eq!(&actual, expected_hash);
    // A different nonce fails the library's validation.
    assert!(id_token
        .claims(&id_verifier, &Nonce::new("other".into()))
        .is_err());

    // userinfo, by the library, with the subject pinned.
    let info: CoreUserInfoClaims = client
        .user_info(
            response.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .expect("userinfo endpoint discovered")
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.subject().as_str(), user.id.to_string());
    assert_eq!(info.email().map(|e| e.as_str()), Some(user.email.as_str()));

    // A refresh, by the library: a new refresh token and a valid ID token.
    let rt = response.refresh_token().expect("a refresh token");
    let refreshed = client
        .exchange_refresh_token(rt)
        .expect("token endpoint discovered")
        .request_async(&http)
        .await
        .expect("refresh");
    let new_rt = refreshed.refresh_token().expect("a rotated refresh token");
    assert_ne!(new_rt.secret(), rt.secret());
    let again = refreshed.id_token().expect("an ID token on refresh");
    let c2 = again
        .claims(&id_verifier, |n: Option<&Nonce>| match n {
            None => Ok(()),
            Some(_) => Err("a refreshed ID token carries no nonce".to_string()),
        })
        .expect("the refreshed ID token validates");
    assert_eq!(c2.subject(), claims.subject());
    assert_eq!(c2.auth_time(), claims.auth_time());

    // The old refresh token is now reuse: the library sees an error.
    let reuse = client
        .exchange_refresh_token(rt)
        .expect("token endpoint discovered")
        .request_async(&http)
        .await;
    assert!(reuse.is_err(), "reuse of a rotated refresh token fails");
}
