#!/usr/bin/python3
"""cage-bench.py -- issue 11's measurements of a greeter inside cage (Debian's cage 0.1.4 on wlroots'
headless backend, pixman renderer, one 1280x720 output), run by bench/run-cage.sh as root; cage and
the greeter run as an unprivileged user (--user, the greeter's place: vestibule-gtk refuses root),
root only reads their memory (vestibule-gtk is not dumpable, so its smaps are root's to read).

  first frame   t0 just before fork/exec of `cage -- GREETER` (the compositor starts with the
                greeter, as vestibuled runs `cage -s -- vestibule-gtk`), t1 the greeter's first
                frame: its first wl_surface.commit with a buffer attached on its toplevel's
                surface; also the first such commit at the output's size (see first_commits);
                both read from the greeter's own WAYLAND_DEBUG=client trace (libwayland
                stamps each request with CLOCK_REALTIME in microseconds, modulo 2^32, which t0 is
                taken in too). The output shows it at its next refresh (60 Hz: up to 17 ms on).
  idle screen   the same t0 to the first grim screenshot whose five sample points (the corners 2 px
                in and the centre) all show their idle colours, learned in a warm-up run (not
                timed: settled for IDLE s, two captures 0.5 s apart agree). One capture takes
                grim_ms (reported; it waits for cage's next frame), which bounds the resolution:
                this checks that the first frames led to the finished screen, not the exact time.
  idle memory   IDLE s after the first frame: VmRSS and Pss (smaps_rollup) of cage and of every
                process under it (the greeter; Xwayland if one was started), summed.

lightdm-gtk-greeter (kind "lightdm") gets lightdm's two greeter pipes and the CONNECT handshake
from bench/gtk-bench.py's FakeLightdm (nothing else is sent, as lightdm sends nothing until a
login starts). Output: one tab-separated line per run on stdout ("#targets" lines: the learned
colours); bench/run-cage.sh turns them into Markdown.
"""
import argparse
import importlib.util
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("gtk_bench", os.path.join(HERE, "gtk-bench.py"))
gtk_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gtk_bench)

BLACK = (0, 0, 0)


def log(*a):
    print("cage-bench:", *a, file=sys.stderr, flush=True)


def capture(runtime):
    """One grim capture of cage's output: (width, height, rgb bytes) or None if not yet possible."""
    env = {"XDG_RUNTIME_DIR": runtime, "WAYLAND_DISPLAY": "wayland-0", "PATH": os.environ["PATH"]}
    r = subprocess.run(["grim", "-t", "ppm", "-"], env=env, capture_output=True)
    if r.returncode != 0 or not r.stdout.startswith(b"P6"):
        return None
    data = r.stdout
    # P6\nW H\n255\n<rgb>
    parts = data.split(b"\n", 3)
    w, h = (int(x) for x in parts[1].split())
    return w, h, parts[3]


def samples(shot):
    w, h, rgb = shot
    m = 2
    points = [(m, m), (w - 1 - m, m), (m, h - 1 - m), (w - 1 - m, h - 1 - m), (w // 2, h // 2)]
    out = []
    for x, y in points:
        i = (y * w + x) * 3
        out.append(tuple(rgb[i:i + 3]))
    return tuple(out)


LINE = re.compile(rb"^\[\s*(\d+)\.(\d{3})\]\s+(-> )?(\w+)@(\d+)\.(\w+)\((.*)\)$")


def first_commits(trace):
    """The times (us, modulo 2^32) of the toplevel's first frame (the first commit with a buffer
    attached) and of its first frame at the size the compositor gave it (the first such commit
    after the client acknowledged a configure event with a size: cage first sends 0x0, "choose
    yourself", and the output's size once the window is mapped; a frame before that is drawn at
    the client's own default size, with decorations if it draws any)."""
    first = None
    toplevel_surface = toplevel = None
    surfaces = {}
    sized = acked = attached = False
    with open(trace, "rb") as f:
        for line in f:
            m = LINE.match(line.strip())
            if not m:
                continue
            ms, frac, sent, iface, oid, req, args = m.groups()
            t = int(ms) * 1000 + int(frac)
            if not sent:
                if iface == b"xdg_toplevel" and oid == toplevel and req == b"configure":
                    w, h = (int(x) for x in args.split(b",")[:2])
                    sized = sized or (w > 0 and h > 0)
                continue
            if iface == b"xdg_wm_base" and req == b"get_xdg_surface":
                ids = re.findall(rb"(\w+)@(\d+)", args)
                surfaces[ids[0][1]] = ids[1][1]  # xdg_surface id -> wl_surface id
            elif iface == b"xdg_surface" and req == b"get_toplevel" and toplevel_surface is None:
                toplevel_surface = surfaces.get(oid)
                toplevel = re.findall(rb"xdg_toplevel@(\d+)", args)[0]
            elif iface == b"xdg_surface" and req == b"ack_configure" and sized:
                acked = True
            elif iface == b"wl_surface" and oid == toplevel_surface and acked:
                if req == b"attach" and not args.startswith(b"nil"):
                    attached = True
                elif req == b"commit" and attached:
                    return first, t
            elif iface == b"wl_surface" and oid == toplevel_surface and first is None:
                if req == b"attach" and not args.startswith(b"nil"):
                    attached = True
                elif req == b"commit" and attached:
                    first = t
                    attached = False
    return first, None


def hexs(s):
    return ",".join("#%02x%02x%02x" % c for c in s)


def tree(pid):
    """pid and every process under it."""
    out = subprocess.run(["ps", "-o", "pid=,ppid=", "-e"], capture_output=True, text=True).stdout
    rows = [tuple(int(x) for x in l.split()) for l in out.splitlines() if l.strip()]
    found = [pid]
    changed = True
    while changed:
        changed = False
        for p, pp in rows:
            if pp in found and p not in found:
                found.append(p)
                changed = True
    return found


def mem(pids):
    rss = pss = 0
    parts = []
    for p in pids:
        try:
            r, _, s = gtk_bench.proc_mem(p)
            with open(f"/proc/{p}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        rss += r
        pss += s
        parts.append(f"{comm}:{r}")
    return rss, pss, ";".join(parts)


def run(side, targets, idle, limit, workdir, n):
    runtime = os.path.join(workdir, f"rt-{n}")
    shutil.rmtree(runtime, ignore_errors=True)
    os.mkdir(runtime, 0o700)
    shutil.chown(runtime, side["user"], side["group"])
    fake = gtk_bench.FakeLightdm() if side["kind"] == "lightdm" else None
    env = {
        "PATH": os.environ["PATH"],
        "HOME": workdir,
        "XDG_RUNTIME_DIR": runtime,
        "XDG_CACHE_HOME": os.path.join(workdir, "cache"),
        "WLR_BACKENDS": "headless",
        "WLR_LIBINPUT_NO_DEVICES": "1",
        "WLR_RENDERER": "pixman",
        "GREETD_SOCK": os.path.join(workdir, "no-daemon.sock"),
    }
    if os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        env["DBUS_SESSION_BUS_ADDRESS"] = os.environ["DBUS_SESSION_BUS_ADDRESS"]
    fds = ()
    if fake:
        env.update(fake.env())
        fds = fake.fds()
    env["WAYLAND_DEBUG"] = "client"
    trace = os.path.join(workdir, f"trace-{n}.log")
    err = open(trace, "wb")
    t0_us = int(time.clock_gettime(time.CLOCK_REALTIME) * 1e6) % 2**32
    start = time.perf_counter()
    drop = ["setpriv", f"--reuid={side['user']}", f"--regid={side['group']}", "--clear-groups", "--"]
    proc = subprocess.Popen(drop + ["cage", "--"] + side["cmd"], env=env, pass_fds=fds, start_new_session=True,
                            stdin=subprocess.DEVNULL, stdout=err, stderr=err)
    if fake:
        fake.after_spawn()
    try:
        first_change = done = None
        grabs = []
        while True:
            now = time.perf_counter()
            if now - start > limit:
                raise RuntimeError(f"{side['label']}: no idle frame within {limit} s")
            if proc.poll() is not None:
                raise RuntimeError(f"{side['label']}: cage exited ({proc.returncode}); see {side['log']}")
            if not os.path.exists(os.path.join(runtime, "wayland-0")):
                time.sleep(0.001)
                continue
            shot = capture(runtime)
            after = time.perf_counter()
            if shot is None:
                continue
            grabs.append(after - now)
            s = samples(shot)
            if first_change is None and any(c != BLACK for c in s):
                first_change = after - start
            if targets is None:
                if first_change is not None:
                    break
            elif s == targets:
                done = after - start
                break
        if targets is None:
            for _ in range(10):
                time.sleep(max(idle, 0.5))
                a = samples(capture(runtime))
                time.sleep(0.5)
                b = samples(capture(runtime))
                if a == b:
                    return {"targets": a}
            raise RuntimeError(f"{side['label']}: the screen did not settle ({hexs(a)} / {hexs(b)})")
        time.sleep(idle)
        if proc.poll() is not None:
            raise RuntimeError(f"{side['label']}: exited while idle")
        # proc is setpriv, which exec'd cage: the same pid.
        rss, pss, detail = mem(tree(proc.pid))
        err.flush()
        first_us, sized_us = first_commits(trace)
        if first_us is None or sized_us is None:
            raise RuntimeError(f"{side['label']}: no frame in its Wayland trace {trace}")
        if fake and fake.error:
            raise RuntimeError(f"lightdm handshake: {fake.error}")
        grabs.sort()
        return {
            "first_change_ms": (first_change or done) * 1000,
            "frame_ms": ((first_us - t0_us) % 2**32) / 1000,
            "sized_ms": ((sized_us - t0_us) % 2**32) / 1000,
            "screen_ms": done * 1000,
            "grim_ms": grabs[len(grabs) // 2] * 1000,
            "rss_kib": rss,
            "pss_kib": pss,
            "detail": detail,
        }
    finally:
        gtk_bench.stop(proc)
        err.close()
        if n:
            os.replace(trace, side["log"])
        if fake:
            fake.close()
        shutil.rmtree(runtime, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--idle", type=float, default=3)
    ap.add_argument("--limit", type=float, default=20)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--logdir", required=True)
    ap.add_argument("--user", default="nobody")
    ap.add_argument("--group", default="nogroup")
    ap.add_argument("--side", nargs=3, action="append", metavar=("LABEL", "KIND", "CMD"), required=True)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(130))
    sides = [{"label": l, "kind": k, "cmd": shlex.split(c),
              "log": os.path.join(args.logdir, re.sub(r"[^A-Za-z0-9.]+", "-", l).strip("-") + ".log"),
              "user": args.user, "group": args.group}
             for l, k, c in args.side]
    for side in sides:
        side["targets"] = run(side, None, args.idle, args.limit, args.workdir, 0)["targets"]
        log(f"{side['label']}: idle samples {hexs(side['targets'])}")
        print(f"#targets\t{side['label']}\t{hexs(side['targets'])}", flush=True)
    for i in range(1, args.runs + 1):
        for side in (sides if i % 2 else list(reversed(sides))):
            r = run(side, side["targets"], args.idle, args.limit, args.workdir, i)
            print("\t".join(str(x) for x in [
                "cage", side["label"], i, "%.1f" % r["frame_ms"], "%.1f" % r["screen_ms"],
                "%.1f" % r["grim_ms"], r["rss_kib"], r["pss_kib"], r["detail"], "%.1f" % r["sized_ms"]]),
                  flush=True)
            log(f"{side['label']} run {i}: frame {r['frame_ms']:.1f} ms, idle screen {r['screen_ms']:.1f} ms, "
                f"RSS {r['rss_kib']} KiB ({r['detail']})")


if __name__ == "__main__":
    main()
