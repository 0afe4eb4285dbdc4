//! Start-up with `[tls]`: what turns TLS on, the errors that name the
//! file at fault, and what TLS changes in the defaults (issuer, cookies).

use tessera::configuration::Settings;
use tessera::startup::Application;

use super::{Ca, Pair, TlsFiles};

/// Why `Application::build` refused `configure`'s settings.
async fn build_error(configure: impl FnOnce(&mut Settings)) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings {
        bind: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        workers: Some(1),
        ..Settings::default()
    };
    configure(&mut settings);
    match Application::build(settings).await {
        Ok(_) => panic!("the application started"),
        Err(e) => format!("{e:#}"),
    }
}

#[actix_web::test]
async fn a_certificate_without_its_key_is_a_start_error() {
    let files = TlsFiles::new(&Ca::new("CA").server());
    let e = build_error(|s| s.tls.cert_file = Some(files.cert.clone())).await;
    assert!(e.contains("tls.key_file"), "{e}");
    let e = build_error(|s| s.tls.key_file = Some(files.key.clone())).await;
    assert!(e.contains("tls.cert_file"), "{e}");
}

#[actix_web::test]
async fn a_missing_or_bad_file_is_a_start_error_naming_it() {
    let ca = Ca::new("CA");
    let pair = ca.server();
    let files = TlsFiles::new(&pair);
    let missing = files.key.with_file_name("no-such-key.pem");
    let e = build_error(|s| {
        files.set(s);
        s.tls.key_file = Some(missing.clone());
    })
    .await;
    assert!(e.contains("tls.key_file"), "{e}");
    assert!(e.contains(&missing.display().to_string()), "{e}");

    let missing = files.cert.with_file_name("no-such-cert.pem");
    let e = build_error(|s| {
        files.set(s);
        s.tls.cert_file = Some(missing.clone());
    })
    .await;
    assert!(e.contains(&missing.display().to_string()), "{e}");

    // A key that is not the certificate's.
    let other = TlsFiles::new(&ca.server());
    let e = build_error(|s| {
        files.set(s);
        s.tls.key_file = Some(other.key.clone());
    })
    .await;
    assert!(e.contains("is not the key of the certificate"), "{e}");
    assert!(e.contains(&other.key.display().to_string()), "{e}");

    // Files that are not PEM.
    let broken = TlsFiles::new(&Pair {
        cert_pem: "-----BEGIN CERTIFICATE-----\nnot base64\n".into(),
        ..pair.clone()
    });
    let e = build_error(|s| broken.set(s)).await;
    assert!(e.contains("tls.cert_file"), "{e}");
    assert!(e.contains(&broken.cert.display().to_string()), "{e}");
    let keyless = TlsFiles::new(&Pair {
        key_pem: pair.cert_pem.clone(),
        ..pair.clone()
    });
    let e = build_error(|s| keyless.set(s)).await;
    assert!(e.contains("holds no private key"), "{e}");
    assert!(e.contains(&keyless.key.display().to_string()), "{e}");
}

#[test]
fn tls_makes_the_default_issuer_https_and_cookies_secure() {
    let plain = Settings::default();
    assert!(plain.issuer().starts_with("http://"));
    assert!(plain.insecure_cookies());
    let mut tls = Settings::default();
    tls.tls.cert_file = Some("cert.pem".into());
    tls.tls.key_file = Some("key.pem".into());
    assert_eq!(tls.issuer(), format!("https://{}", tls.bind));
    assert!(!tls.insecure_cookies());
}

#[test]
fn tls_settings_come_from_the_file_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tessera.toml");
    std::fs::write(
        &file,
        "[tls]\nkey_file = \"/etc/tessera/key.pem\"\nhealth_bind = \"127.0.0.1:8081\"\nclient_certificates = true\n",
    )
    .unwrap();
    let vars = vec![
        (
            "TESSERA_TLS__CERT_FILE".to_string(),
            "/etc/tessera/cert.pem".to_string(),
        ),
        ("TESSERA_TLS__RELOAD_INTERVAL".to_string(), "30".to_string()),
    ];
    let s = Settings::load_with_env(Some(&file), vars).unwrap();
    assert!(s.ignored_env.is_empty(), "{:?}", s.ignored_env);
    assert_eq!(
        s.tls.cert_file.as_deref(),
        Some(std::path::Path::new("/etc/tessera/cert.pem"))
    );
    assert_eq!(s.tls.reload_interval, 30);
    assert_eq!(s.tls.health_bind.as_deref(), Some("127.0.0.1:8081"));
    assert!(s.tls.client_certificates);
    assert!(s.issuer().starts_with("https://"));
    // Defaults, and one file alone refused at load, naming the other.
    let d = Settings::load_with_env(None, Vec::new()).unwrap();
    assert_eq!(d.tls.reload_interval, 10);
    assert!(!d.tls.client_certificates && d.tls.health_bind.is_none());
    let e = Settings::load_with_env(
        None,
        vec![("TESSERA_TLS__CERT_FILE".to_string(), "c.pem".to_string())],
    )
    .unwrap_err();
    assert!(format!("{e:#}").contains("tls.key_file"), "{e:#}");
    // A typo in the section is fatal in a file.
    std::fs::write(&file, "[tls]\ncert_fil = \"c.pem\"\n").unwrap();
    let e = Settings::load_with_env(Some(&file), Vec::new()).unwrap_err();
    assert!(e.to_string().contains("unknown field"), "{e:#}");
}
