//! The certificate is reloaded from its files without a restart; a bad
//! new pair is refused, counted, and the old certificate keeps serving.

use super::{eventually, reloads, served_leaf, spawn_tls_app, Ca, Pair, TlsFiles};

#[actix_web::test]
async fn a_changed_pair_is_served_without_a_restart() {
    let (first, second) = (Ca::new("first CA"), Ca::new("second CA"));
    let old = first.server();
    let files = TlsFiles::new(&old);
    let app = spawn_tls_app(&files, &first, |s| s.tls.reload_interval = 1).await;
    assert_eq!(served_leaf(&app, &first).await.unwrap(), old.der);
    assert!(served_leaf(&app, &second).await.is_err());
    let ok_before = reloads(&app, "ok").await;

    let new = second.server();
    files.write(&new);
    eventually("a client trusting only the second CA connects", || async {
        served_leaf(&app, &second).await.ok().as_ref() == Some(&new.der)
    })
    .await;
    let e = served_leaf(&app, &first)
        .await
        .expect_err("a client trusting only the first CA is refused");
    assert!(e.is_connect(), "{e:?}");
    // `app.http` trusts the first CA only: a client of the second reads
    // the counter.
    let mut reader = app;
    reader.http = super::client(&second).build().unwrap();
    assert!(reloads(&reader, "ok").await > ok_before);
}

#[actix_web::test]
async fn a_bad_pair_is_refused_counted_and_the_old_certificate_serves() {
    let ca = Ca::new("steady CA");
    let old = ca.server();
    let files = TlsFiles::new(&old);
    let app = spawn_tls_app(&files, &ca, |s| s.tls.reload_interval = 1).await;

    // A new certificate whose key is not in the key file.
    let stranger = ca.server();
    let mismatched = Pair {
        key_pem: old.key_pem.clone(),
        ..stranger
    };
    refused(&app, &files, &mismatched, &ca, &old).await;
    // A certificate file that is not PEM at all.
    let garbage = Pair {
        cert_pem: "not a certificate\n".into(),
        ..old.clone()
    };
    refused(&app, &files, &garbage, &ca, &old).await;
    // A key file holding no key.
    let keyless = Pair {
        key_pem: old.cert_pem.clone(),
        ..old.clone()
    };
    refused(&app, &files, &keyless, &ca, &old).await;

    // A good pair after the bad ones is taken.
    let good = ca.server();
    files.write(&good);
    eventually("the good pair serves", || async {
        served_leaf(&app, &ca).await.ok().as_ref() == Some(&good.der)
    })
    .await;
}

/// Write `bad` into the files; the refusal is counted and `serving` still
/// serves.
async fn refused(
    app: &crate::helpers::TestApp,
    files: &TlsFiles,
    bad: &Pair,
    ca: &Ca,
    serving: &Pair,
) {
    let before = reloads(app, "error").await;
    files.write(bad);
    eventually("the refusal is counted", || async {
        reloads(app, "error").await > before
    })
    .await;
    assert_eq!(served_leaf(app, ca).await.unwrap(), serving.der);
}
