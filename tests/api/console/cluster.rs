//! A console session on a cluster: opened on one node, used on another,
//! ended on a third, and then dead on every node (the nodes share it
//! through the database and the change feed).

use reqwest::StatusCode;

use super::{cookie_pair, csrf_in, CONSOLE_COOKIE};
use crate::cluster::{eventually, Node, Three};
use crate::helpers::http_client;
use crate::process::ADMIN_TOKEN;

async fn status(n: &Node, cookie: &str) -> StatusCode {
    http_client()
        .get(n.url("/admin/console"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("GET")
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_console_session_works_on_every_node_and_ends_on_all() {
    let cluster = Three::start("eventual").await;
    let http = http_client();
    let (a, b, c) = (cluster.a(), cluster.b(), cluster.c());
    let page = http
        .get(a.url("/admin/console/signin"))
        .send()
        .await
        .unwrap();
    let pair = cookie_pair(&page, "tessera_console_csrf").expect("csrf cookie");
    let csrf = csrf_in(&page.text().await.unwrap()).unwrap();
    let r = http
        .post(a.url("/admin/console/signin"))
        .header("cookie", &pair)
        .form(&[("token", ADMIN_TOKEN), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = cookie_pair(&r, CONSOLE_COOKIE).expect("a console cookie");
    assert_eq!(status(a, &cookie).await, StatusCode::OK);
    eventually("node b knows the console session", || async {
        status(b, &cookie).await == StatusCode::OK
    })
    .await;
    eventually("node c knows the console session", || async {
        status(c, &cookie).await == StatusCode::OK
    })
    .await;
    // The form token of node b's page is good on node c.
    let html = http
        .get(b.url("/admin/console"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf_in(&html).unwrap();
    let r = http
        .post(c.url("/admin/console/signout"))
        .header("cookie", &cookie)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(status(c, &cookie).await, StatusCode::SEE_OTHER);
    for n in [a, b] {
        eventually("the ended session is dead on every node", || async {
            status(n, &cookie).await == StatusCode::SEE_OTHER
        })
        .await;
    }
}
