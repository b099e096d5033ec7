//! Passwords leave no trace: after a pam_unix login and pam_end, the process's writable memory
//! holds no copy of the password (see src/bin/memscan.rs for how the scan avoids matching itself).

use vestibule_e2e::*;

#[test]
fn no_copy_of_the_password_remains_after_pam_end() {
    let work = Work::new();
    work.service("unix", &[]);
    let args = vec![
        binary("memscan").to_string_lossy().into_owned(),
        work.pam_dir().to_string_lossy().into_owned(),
        "alice".to_owned(),
    ];
    let run = run_with_input(sandboxed(&work, &args), "", LIMIT);
    assert!(
        run.stdout.contains("logged in as alice"),
        "the login itself must succeed: {}",
        run.all()
    );
    assert!(
        !run.stdout.contains("control: 0 copies"),
        "scanner must see the live password: {}",
        run.all()
    );
    assert_eq!(run.code(), Some(0), "{}", run.all());
    assert!(run.stdout.contains("after pam_end: 0 copies"), "{}", run.all());
}
