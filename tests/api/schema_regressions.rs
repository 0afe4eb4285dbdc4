//! What the schemathesis run (tests/schemathesis/run.sh) found, pinned down
//! so it stays fixed without it.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

/// The statuses `/openapi.json` documents for `method path`.
async fn documented(app: &TestApp, method: &str, path: &str) -> Vec<u16> {
    let doc: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let responses = doc["paths"][path][method]["responses"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} is not in the document"));
    responses.keys().map(|k| k.parse().unwrap()).collect()
}

async fn assert_documented(app: &TestApp, method: &str, path: &str, status: StatusCode) {
    let statuses = documented(app, method, path).await;
    assert!(
        statuses.contains(&status.as_u16()),
        "{method} {path} answered {status}, documented {statuses:?}"
    );
}

#[actix_web::test]
async fn the_account_client_cannot_be_deleted() {
    // Deleting it left registration answering 503 until a restart.
    let app = spawn_app().await;
    let r = app
        .admin(
            Method::DELETE,
            &format!("/admin/clients/{ACCOUNT_CLIENT}"),
            None,
        )
        .await;
    assert_api_error(r, StatusCode::CONFLICT, "conflict").await;
    assert_documented(
        &app,
        "delete",
        "/admin/clients/{client_id}",
        StatusCode::CONFLICT,
    )
    .await;
    let r = app
        .admin(
            Method::GET,
            &format!("/admin/clients/{ACCOUNT_CLIENT}"),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .http
        .post(app.url("/registration"))
        .json(&json!({
            "username": "still-open",
            "email": "still-open@example.com",
            "password": "a long enough password",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    // Any other client still can be.
    let c = app.cc_client().await;
    let r = app
        .admin(Method::DELETE, &format!("/admin/clients/{}", c.id), None)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

#[actix_web::test]
async fn answers_the_document_left_out_are_documented() {
    let app = spawn_app().await;

    // Rotating a secret without the admin token.
    let c = app.cc_client().await;
    let path = format!("/admin/clients/{}/secret", c.id);
    let r = app.http.post(app.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_documented(
        &app,
        "post",
        "/admin/clients/{client_id}/secret",
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // A second-factor callback whose body is neither JSON nor a form.
    let r = app
        .http
        .post(app.url("/auth/login/callback"))
        .send()
        .await
        .unwrap();
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert_documented(
        &app,
        "post",
        "/auth/login/callback",
        StatusCode::BAD_REQUEST,
    )
    .await;

    // The reset page opened without a reset token: an HTML 404 page.
    for query in ["", "?token=", "?token=nonsense"] {
        let r = app
            .http
            .get(app.url(&format!("/api/oauth/reset_password/confirm{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{query}");
        assert!(header(&r, "content-type")
            .unwrap_or_default()
            .starts_with("text/html"));
    }
    assert_documented(
        &app,
        "get",
        "/api/oauth/reset_password/confirm",
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[actix_web::test]
async fn the_authorize_form_body_is_documented_as_its_fields() {
    // It was documented as one string, which no form encoder can send.
    let app = spawn_app().await;
    let doc: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schema = &doc["paths"]["/oauth2/authorize"]["post"]["requestBody"]["content"]
        ["application/x-www-form-urlencoded"]["schema"];
    let name = schema["$ref"]
        .as_str()
        .and_then(|r| r.rsplit('/').next())
        .unwrap_or_else(|| panic!("{schema}"));
    let fields = &doc["components"]["schemas"][name]["properties"];
    for f in [
        "response_type",
        "client_id",
        "redirect_uri",
        "consent",
        "csrf",
    ] {
        assert!(fields.get(f).is_some(), "{f} in {fields}");
    }
}
