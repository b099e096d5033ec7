//! An X11 session chosen in the desktop greeter runs through the configurable wrapper: the
//! default `startx /usr/bin/env`, real startx and xinit, with the X server an admin (here: the
//! test) configures in the user's `~/.xserverrc` — Xvfb, since no real display exists here.
//! startx writes a cookie into the user's own `~/.Xauthority` and gives it to the server; the
//! session gets DISPLAY, reaches the server with that cookie, and a client without it is refused.

use std::fs;

use vestibule_e2e::cage::{Desktop, Greeter, CONFIG};
use vestibule_e2e::vt::Vt;
use vestibule_e2e::Work;

#[test]
fn an_x11_session_gets_its_own_display_and_cookie_through_startx() {
    assert!(
        std::path::Path::new("/usr/bin/startx").is_file(),
        "startx is missing: install xinit (scripts/install-deps.sh does)"
    );
    let work = Work::new();
    let dir = work.path();
    fs::create_dir_all(dir.join("xsessions")).unwrap();
    let script = dir.join("x11-session.sh");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\nw={d}\n{{\necho \"display=$DISPLAY\"\necho \"xauthority=${{XAUTHORITY:-}}\"\n\
             stat -c 'auth_stat=%U %a' \"${{XAUTHORITY:-$HOME/.Xauthority}}\"\n\
             xdpyinfo >/dev/null 2>&1 && echo with_cookie=ok || echo with_cookie=refused\n\
             XAUTHORITY=/dev/null xdpyinfo >/dev/null 2>&1 && echo without_cookie=ok || echo without_cookie=refused\n\
             echo \"user=$(id -un)\"\nenv | grep '^XDG_' | sort\n}} >$w/x11.tmp\nmv $w/x11.tmp $w/x11.info\n\
             while [ ! -e $w/end.x11 ]; do sleep 0.05; done\n",
            d = dir.display()
        ),
    )
    .unwrap();
    fs::write(
        dir.join("xsessions/test-x11.desktop"),
        format!(
            "[Desktop Entry]\nName=X session (test)\nExec=/bin/sh {}\nType=Application\nDesktopNames=TestX\n",
            script.display()
        ),
    )
    .unwrap();
    let config = CONFIG.replace("xsession_dirs = []", "xsession_dirs = [\"@WORK@/xsessions\"]");
    // On a virtual terminal of its own, as on a real machine: startx runs on it.
    let vt = Vt::free();
    let d = Desktop::start_with(
        &work,
        "cage-x11",
        Greeter {
            config: &config,
            command: Vec::new(),
            env: Vec::new(),
        },
        |s| s.vt = Some(vt.number),
    );
    // The X server startx starts for alice: Xvfb, from her ~/.xserverrc (startx passes the
    // display, `-auth FILE`, and on a VT `vtN -keeptty`, which Xvfb does not know; the
    // arguments are noted in ~/xserver.args).
    let rc = d.daemon.ns(&[
        "sh",
        "-c",
        "printf '#!/bin/sh\\necho \"$*\" >$HOME/xserver.args\\nargs=\\nfor a; do case $a in vt[0-9]*|-keeptty) ;; *) args=\"$args $a\";; esac; done\\n\
         exec /usr/bin/Xvfb $args -screen 0 800x600x24 -nolisten tcp\\n' > /home/alice/.xserverrc && \
         chown alice: /home/alice/.xserverrc && chmod 0755 /home/alice/.xserverrc",
    ]);
    assert_eq!(rc.code(), Some(0), "{}", rc.all());
    let probe = d.wait_greeter(1);
    assert!(probe.contains("dropdown: X session (test)"), "{probe}");
    d.enter_user("alice");
    d.answer("Password", "password-entry", "alice-pw-1");
    let info = d.daemon.wait_file("x11.info", "the X session");
    let get = |key: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or("")
            .to_owned()
    };
    assert!(get("display").starts_with(':'), "{info}");
    assert_eq!(get("user"), "alice", "{info}");
    assert_eq!(get("xauthority"), "/home/alice/.Xauthority", "{info}");
    assert_eq!(get("auth_stat"), "alice 600", "the cookie is alice's own: {info}");
    assert_eq!(get("with_cookie"), "ok", "{info}");
    assert_eq!(get("without_cookie"), "refused", "{info}");
    assert_eq!(get("XDG_SESSION_TYPE"), "x11", "{info}");
    assert_eq!(get("XDG_CURRENT_DESKTOP"), "TestX", "{info}");
    assert_eq!(get("XDG_VTNR"), vt.number.to_string(), "{info}");
    assert_eq!(get("XDG_SEAT"), "seat0", "{info}");
    // startx found the VT as its terminal and asked for that VT's X server.
    let args = d.daemon.ns(&["cat", "/home/alice/xserver.args"]);
    assert!(
        args.stdout.contains(&format!("vt{} -keeptty", vt.number)),
        "the X server's arguments: {}",
        args.all()
    );
    // Nobody else gets in either: root without the cookie is refused too.
    let display = get("display");
    let root = d
        .daemon
        .ns(&["env", "XAUTHORITY=/dev/null", "xdpyinfo", "-display", &display]);
    assert_ne!(root.code(), Some(0), "{}", root.all());

    // The session ends: startx's server goes with it, and the greeter is back.
    fs::write(dir.join("end.x11"), "").unwrap();
    let probe = d.wait_greeter(2);
    assert!(probe.contains("entry focus: alice"), "{probe}");
    let alice = d.daemon.uid("alice");
    d.daemon.wait_until("alice's X server gone", || {
        let left: Vec<u32> = vestibule_e2e::daemon::processes()
            .into_iter()
            .filter(|&p| {
                vestibule_e2e::exe(p) == "/usr/bin/Xvfb"
                    && vestibule_e2e::daemon::uids(p).first() == Some(&alice)
            })
            .collect();
        left.is_empty().then_some(())
    });
}
