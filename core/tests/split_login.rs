//! The login split vestibuled's worker uses: `authenticate_login` (or, with no authentication,
//! `begin_without_authentication`), variables put into the PAM environment in between, then
//! `Authenticated::open`, against real libpam and pam_permit from a private config directory
//! (as an existing account, nobody: run as root, the core looks the account up).

use std::path::{Path, PathBuf};

use vestibule_core::{
    authenticate_login, begin_without_authentication, AuthLog, ConfigDir, Items, LoginError, LoginOptions,
    NoUser, Scripted, Secret, Service,
};

fn confdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vestibule-split-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let permit = "auth required pam_permit.so\naccount required pam_permit.so\n\
                  session required pam_permit.so\n";
    for service in ["vestibule", "vestibule-greeter", "vestibule-autologin"] {
        std::fs::write(dir.join(service), permit).unwrap();
    }
    dir
}

fn options(dir: &Path, user: Option<&str>) -> LoginOptions {
    LoginOptions {
        config: ConfigDir::Override(dir.to_path_buf()),
        items: Items {
            user: user.map(str::to_owned),
            tty: Some("pts/99".into()),
            ..Items::default()
        },
        max_tries: 1,
        fail_delay: std::time::Duration::ZERO,
        log: AuthLog::new("vestibule-test"),
        notice_after_last_try: true,
    }
}

fn pam_env(session: &mut vestibule_core::OpenSession) -> Vec<String> {
    session
        .transaction()
        .env_list()
        .unwrap()
        .iter()
        .map(|e| e.to_string_lossy().into_owned())
        .collect()
}

#[test]
fn variables_put_before_open_are_in_the_sessions_pam_environment() {
    let dir = confdir("login");
    let conv = Scripted {
        user: "nobody".into(),
        secret: Secret::from_bytes(b"pw").unwrap(),
    };
    let mut auth =
        authenticate_login(Service::Login, &options(&dir, Some("nobody")), Box::new(conv)).unwrap();
    assert_eq!(auth.user(), "nobody");
    auth.putenv("XDG_SESSION_TYPE", "tty").unwrap();
    auth.putenv("XDG_SEAT", "seat0").unwrap();
    assert!(auth.putenv("BAD=NAME", "x").is_err());
    let mut session = auth.open().unwrap();
    let env = pam_env(&mut session);
    assert!(env.contains(&"XDG_SESSION_TYPE=tty".to_owned()), "{env:?}");
    assert!(env.contains(&"XDG_SEAT=seat0".to_owned()), "{env:?}");
    session.close().unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn greeter_and_autologin_sessions_need_a_user_and_no_answers() {
    let dir = confdir("greeter");
    for service in [Service::Greeter, Service::Autologin] {
        let err = begin_without_authentication(service, &options(&dir, None), Box::new(NoUser)).unwrap_err();
        assert!(matches!(err, LoginError::NoUser), "{err}");
        // NoUser fails every prompt: this passes only because nothing is asked.
        let auth =
            begin_without_authentication(service, &options(&dir, Some("nobody")), Box::new(NoUser)).unwrap();
        assert_eq!(auth.user(), "nobody");
        auth.open().unwrap().close().unwrap();
    }
    assert_eq!(Service::Greeter.name(), "vestibule-greeter");
    assert_eq!(Service::Autologin.name(), "vestibule-autologin");
    std::fs::remove_dir_all(dir).unwrap();
}
