#!/usr/bin/python3
"""gtk-bench.py -- issue 6's measurements of the desktop greeter and lock screen on an X server
(run by bench/run-gtk.sh, which starts Xvfb, the buses and the agent; run it with Debian's
/usr/bin/python3: it needs python3-xlib and, for the lock, python3-gi).

How a frame is seen: the harness paints the root window magenta (#ff00ff, a colour neither greeter
nor the lock screen uses) and waits until the sample points show it; then it starts the clock and
reads five single pixels -- the four corners (2 px in) and the centre of the screen -- with
XGetImage on the root window, one round of five requests every POLL_MS (1 ms), until every sample
shows the colour it has when that screen is idle. There is no compositor, so what XGetImage
returns is what is on the screen. The idle colours are learned in a warm-up run of each side (not
timed): wait until the screen has changed, let it settle for IDLE seconds, read the samples twice
0.5 s apart, they must agree. The centre lands on the login card of both greeters and of the lock
screen, so "done" means the card is drawn, not only the background.

  greeter    first frame: t0 just before fork/exec of the greeter, t1 the first round of samples
             that all show their idle colours. Also reported: the first round where any sample
             is no longer magenta. Then, IDLE seconds later: VmRSS and VmHWM from
             /proc/PID/status and Pss from /proc/PID/smaps_rollup of the greeter process, and the
             RSS of any child processes it has (none in the runs so far). The samples are checked
             again (a screen that changed after "done" is reported).
             lightdm-gtk-greeter (kind "lightdm") gets the two pipes lightdm gives its greeters
             (LIGHTDM_TO_SERVER_FD / LIGHTDM_FROM_SERVER_FD) and this script answers its CONNECT
             message as lightdm 1.26 does (CONNECTED_V2 with the hints lightdm sends by default);
             nothing else is ever sent to it, as lightdm sends nothing until a login starts.
  lock       lock signal to covered: the lock daemon (vestibule-gtk --lock-daemon, started once)
             waits unlocked; t0 just before LockSession(id) is sent to the agent (Gio, in this
             process), t1 the first round of samples that all show the locked screen's idle
             colours. Right at t1 a full-screen XGetImage counts magenta pixels (0: the screen was
             fully covered when the samples said so), and 0.5 s later a second full screenshot
             must have no magenta pixel and the lock window's background (#0e1219) in every
             corner. The time the agent's Lock signal reached this process and the time of the
             LockSession reply are recorded too. Then UnlockSession(id) (root) and the root window
             must show again before the next run.

Output: one tab-separated line per run on stdout; lines starting with # carry the learned idle
colours (#targets), a memory breakdown (#breakdown) and the lock daemon's memory (#lockdaemon).
bench/run-gtk.sh turns them into bench/gtk-results.md (the column names are given there).
"""
import argparse
import array
import os
import re
import shlex
import signal
import struct
import subprocess
import sys
import threading
import time

from Xlib import X, display as xdisplay

MAGENTA = (0xFF, 0x00, 0xFF)
LOCK_BG = (0x0E, 0x12, 0x19)
POLL_MS = 1.0


def log(*a):
    print("gtk-bench:", *a, file=sys.stderr, flush=True)


class Screen:
    def __init__(self, name):
        self.d = xdisplay.Display(name)
        self.screen = self.d.screen()
        self.root = self.screen.root
        self.w = self.screen.width_in_pixels
        self.h = self.screen.height_in_pixels
        m = 2
        self.points = [(m, m), (self.w - 1 - m, m), (m, self.h - 1 - m),
                       (self.w - 1 - m, self.h - 1 - m), (self.w // 2, self.h // 2)]
        cmap = self.screen.default_colormap
        self.magenta_pixel = cmap.alloc_color(0xFFFF, 0, 0xFFFF).pixel

    def paint_root(self):
        """What xsetroot -solid does: a plain background pixel (drops any root pixmap a greeter
        left, lightdm-gtk-greeter sets one), then the whole root is repainted."""
        self.root.change_attributes(background_pixel=self.magenta_pixel)
        self.root.clear_area(0, 0, 0, 0)
        self.d.sync()

    def pixel(self, x, y):
        data = self.root.get_image(x, y, 1, 1, X.ZPixmap, 0xFFFFFFFF).data
        return (data[2], data[1], data[0])  # BGRX on a 24-bit TrueColor screen

    def samples(self):
        return tuple(self.pixel(x, y) for x, y in self.points)

    def count(self, colour):
        """How many pixels of the whole screen have this colour (one full XGetImage)."""
        data = self.root.get_image(0, 0, self.w, self.h, X.ZPixmap, 0xFFFFFFFF).data
        words = array.array("I")
        words.frombytes(data)
        value = colour[0] << 16 | colour[1] << 8 | colour[2]
        # The unused byte is 0 on Xvfb; mask it anyway.
        if any(w >> 24 for w in words[:64]):
            words = array.array("I", (w & 0xFFFFFF for w in words))
        return words.count(value)

    def wait_samples(self, ok, limit, what):
        start = time.perf_counter()
        while True:
            s = self.samples()
            if ok(s):
                return s
            if time.perf_counter() - start > limit:
                raise RuntimeError(f"{what}: not within {limit} s (samples {hexs(s)})")
            time.sleep(0.01)


def hexs(samples):
    return ",".join("#%02x%02x%02x" % c for c in samples)


def poll(screen, targets, limit, start, tick=None):
    """Polls the samples every POLL_MS until they all equal `targets` (or, without targets, until
    any differs from magenta). Returns (first_change, done) in seconds since `start`."""
    first_change = None
    while True:
        s = screen.samples()
        now = time.perf_counter() - start
        if first_change is None and any(c != MAGENTA for c in s):
            first_change = now
        if targets is None:
            if first_change is not None:
                return first_change, now
        elif s == targets:
            return first_change, now
        if now > limit:
            raise RuntimeError(f"timeout after {limit} s; samples {hexs(s)}, want {hexs(targets) if targets else 'a change'}")
        if tick:
            tick()
        time.sleep(POLL_MS / 1000)


def settle(screen, idle):
    """The samples once the screen is idle: read twice, 0.5 s apart, after `idle` seconds."""
    for _ in range(10):
        time.sleep(max(idle, 0.5))
        a = screen.samples()
        time.sleep(0.5)
        b = screen.samples()
        if a == b and all(c != MAGENTA for c in a):
            return a
    raise RuntimeError(f"the screen did not settle ({hexs(a)} then {hexs(b)})")


def proc_mem(pid):
    status = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            status[k] = v.split()[0] if v.split() else ""
    pss = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    return int(status["VmRSS"]), int(status["VmHWM"]), pss


def breakdown(pid, top=5):
    """RssAnon / RssFile and the mappings with the most resident memory (for the report)."""
    status = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            status[k] = v.strip()
    by_name = {}
    name = ""
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            first = line.split(None, 1)[0]
            if "-" in first and not first.endswith(":"):
                parts = line.split()
                name = os.path.basename(parts[5]) if len(parts) > 5 else "[anon]"
            elif line.startswith("Rss:"):
                by_name[name] = by_name.get(name, 0) + int(line.split()[1])
    biggest = sorted(by_name.items(), key=lambda kv: -kv[1])[:top]
    return (f"RssAnon {status.get('RssAnon', '?')}, RssFile {status.get('RssFile', '?')}; largest: "
            + ", ".join(f"{n} {k // 1024} MiB" for n, k in biggest))


def descendants(pid):
    kids = []
    try:
        out = subprocess.run(["ps", "-o", "pid=,ppid=,rss=,comm=", "-e"], capture_output=True, text=True).stdout
    except OSError:
        return kids
    rows = [l.split(None, 3) for l in out.splitlines() if l.strip()]
    parents = {pid}
    changed = True
    while changed:
        changed = False
        for p, pp, rss, comm in rows:
            if int(pp) in parents and int(p) not in parents:
                parents.add(int(p))
                kids.append((int(p), int(rss), comm))
                changed = True
    return kids


def stop(proc):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(3)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    # Helpers left in its process group (a child that outlived it)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


LIGHTDM_HINTS = [("default-session", "lightdm-xsession"), ("has-guest-account", "false"),
                 ("hide-users", "false"), ("show-manual-login", "true"), ("show-remote-login", "true"),
                 ("lock-screen", "false")]


class FakeLightdm:
    """The daemon's side of lightdm's greeter pipes, up to CONNECTED (what lightdm 1.26 sends to a
    greeter that has just started); afterwards it holds the pipes open and sends nothing."""

    def __init__(self):
        self.to_server_r, self.to_server_w = os.pipe()
        self.from_server_r, self.from_server_w = os.pipe()
        self.connected = None
        self.error = None

    def env(self):
        return {"LIGHTDM_TO_SERVER_FD": str(self.to_server_w), "LIGHTDM_FROM_SERVER_FD": str(self.from_server_r)}

    def fds(self):
        return (self.to_server_w, self.from_server_r)

    def after_spawn(self):
        os.close(self.to_server_w)
        os.close(self.from_server_r)
        threading.Thread(target=self.serve, daemon=True).start()

    def read(self, n):
        b = b""
        while len(b) < n:
            c = os.read(self.to_server_r, n - len(b))
            if not c:
                raise EOFError("the greeter closed its pipe")
            b += c
        return b

    def serve(self):
        try:
            mid, length = struct.unpack(">II", self.read(8))
            body = self.read(length)
            if mid != 0:
                raise RuntimeError(f"expected CONNECT (0), got {mid}")
            n = struct.unpack(">I", body[:4])[0]
            rest = body[4 + n:]
            api = struct.unpack(">I", rest[4:8])[0] if len(rest) >= 8 else 0

            def s(x):
                x = x.encode()
                return struct.pack(">I", len(x)) + x

            hints = b"".join(s(k) + s(v) for k, v in LIGHTDM_HINTS)
            if api:
                payload = struct.pack(">I", api) + s("1.26.0") + struct.pack(">I", len(LIGHTDM_HINTS)) + hints
                msg = struct.pack(">II", 7, len(payload)) + payload  # SERVER_MESSAGE_CONNECTED_V2
            else:
                payload = s("1.26.0") + hints
                msg = struct.pack(">II", 0, len(payload)) + payload  # SERVER_MESSAGE_CONNECTED
            os.write(self.from_server_w, msg)
            self.connected = time.perf_counter()
            # Hold the pipes; drain whatever the greeter might send.
            while os.read(self.to_server_r, 4096):
                pass
        except Exception as e:  # reported by the run
            self.error = str(e)

    def close(self):
        for fd in (self.to_server_r, self.from_server_w):
            try:
                os.close(fd)
            except OSError:
                pass


def greeter_run(screen, side, targets, idle, limit):
    """One start of a greeter. Returns a dict; `targets` None: warm-up (learns the idle colours)."""
    screen.paint_root()
    screen.wait_samples(lambda s: all(c == MAGENTA for c in s), 10, "the root window")
    fake = FakeLightdm() if side["kind"] == "lightdm" else None
    env = dict(os.environ)
    fds = ()
    if fake:
        env.update(fake.env())
        fds = fake.fds()
    err = open(side["log"], "ab")
    start = time.perf_counter()
    proc = subprocess.Popen(side["cmd"], env=env, pass_fds=fds, start_new_session=True,
                            stdin=subprocess.DEVNULL, stdout=err, stderr=err)
    if fake:
        fake.after_spawn()
    try:
        first_change, done = poll(screen, targets, limit, start)
        if targets is None:
            targets = settle(screen, idle)
            return {"targets": targets}
        time.sleep(idle)
        if proc.poll() is not None:
            raise RuntimeError(f"{side['label']} exited ({proc.returncode})")
        rss, hwm, pss = proc_mem(proc.pid)
        kids = descendants(proc.pid)
        mem_detail = breakdown(proc.pid)
        after = screen.samples()
        if fake and fake.error:
            raise RuntimeError(f"lightdm handshake: {fake.error}")
        return {
            "first_change_ms": first_change * 1000,
            "frame_ms": done * 1000,
            "rss_kib": rss, "hwm_kib": hwm, "pss_kib": pss,
            "children": ";".join(f"{c}:{r}" for _, r, c in kids) or "-",
            "stable": "yes" if after == targets else "changed:" + hexs(after),
            "breakdown": mem_detail,
        }
    finally:
        stop(proc)
        err.close()
        if fake:
            fake.close()


def cmd_greeters(args):
    screen = Screen(args.display)
    sides = []
    for label, kind, cmd in args.side:
        sides.append({"label": label, "kind": kind, "cmd": shlex.split(cmd),
                      "log": os.path.join(args.logdir, re.sub(r"[^A-Za-z0-9.]+", "-", label).strip("-") + ".log")})
    for side in sides:
        log(f"{side['label']}: warm-up run (learns the idle colours of the samples)")
        side["targets"] = greeter_run(screen, side, None, args.idle, args.limit)["targets"]
        log(f"{side['label']}: idle samples {hexs(side['targets'])}")
        print(f"#targets\t{side['label']}\t{hexs(side['targets'])}", flush=True)
    for i in range(1, args.runs + 1):
        order = sides if i % 2 else list(reversed(sides))
        for side in order:
            r = greeter_run(screen, side, side["targets"], args.idle, args.limit)
            print("\t".join(str(x) for x in [
                "greeter", side["label"], i, "%.1f" % r["first_change_ms"], "%.1f" % r["frame_ms"],
                r["rss_kib"], r["hwm_kib"], r["pss_kib"], r["children"], r["stable"]]), flush=True)
            if i == 1:
                print(f"#breakdown\t{side['label']}\t{r['breakdown']}", flush=True)
            log(f"{side['label']} run {i}: frame {r['frame_ms']:.1f} ms, RSS {r['rss_kib']} KiB, Pss {r['pss_kib']} KiB")


class Agent:
    """A Gio connection to the agent's private bus (root): register, lock, unlock."""

    NAME = "org.vestibule.SessionAgent1"
    PATH = "/org/vestibule/SessionAgent1"

    def __init__(self, address):
        from gi.repository import Gio, GLib
        self.Gio, self.GLib = Gio, GLib
        flags = (Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
                 | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION)
        self.conn = Gio.DBusConnection.new_for_address_sync(address, flags, None, None)
        self.ctx = GLib.MainContext.default()
        self.lock_signal = None
        self.conn.signal_subscribe(None, self.NAME, "Lock", self.PATH, None,
                                   Gio.DBusSignalFlags.NONE, self._on_lock)

    def _on_lock(self, *a):
        self.lock_signal = time.perf_counter()

    def call(self, method, args, reply="()"):
        GLib = self.GLib
        v = self.conn.call_sync(self.NAME, self.PATH, self.NAME, method,
                                GLib.Variant(args[0], args[1]) if args else None,
                                GLib.VariantType.new(reply), self.Gio.DBusCallFlags.NONE, 10000, None)
        return v.unpack() if v is not None else None

    def pump(self):
        while self.ctx.iteration(False):
            pass


def lock_run(screen, agent, sid, targets, idle, limit):
    screen.paint_root()
    screen.wait_samples(lambda s: all(c == MAGENTA for c in s), 10, "the root window (unlocked)")
    agent.pump()
    agent.lock_signal = None
    start = time.perf_counter()
    agent.call("LockSession", ("(s)", (sid,)))
    replied = time.perf_counter() - start
    first_change, done = poll(screen, targets, limit, start, tick=agent.pump)
    at_done = screen.count(MAGENTA)
    agent.pump()
    signal_ms = (agent.lock_signal - start) * 1000 if agent.lock_signal else float("nan")
    result = {"first_change_ms": first_change * 1000, "covered_ms": done * 1000,
              "reply_ms": replied * 1000, "signal_ms": signal_ms, "magenta_at_done": at_done}
    if targets is None:
        result["targets"] = settle(screen, idle)
    time.sleep(0.5)
    result["magenta_after"] = screen.count(MAGENTA)
    corners = screen.samples()[:4]
    result["corners_ok"] = all(c == LOCK_BG for c in corners)
    result["corners"] = hexs(corners)
    agent.call("UnlockSession", ("(s)", (sid,)))
    screen.wait_samples(lambda s: all(c == MAGENTA for c in s), 10, "the lock screen to go after UnlockSession")
    return result


def cmd_lock(args):
    screen = Screen(args.display)
    agent = Agent(args.bus)
    leader = subprocess.Popen(["sleep", "infinity"], start_new_session=True)
    daemon = None
    sid = None
    try:
        uid = os.getuid()
        user = __import__("pwd").getpwuid(uid).pw_name
        sid = agent.call("RegisterSession", ("(sussssuus)", (user, uid, "", args.display, "", "vestibule",
                                                            leader.pid, os.getpid(), "user")), "(s)")[0]
        log(f"registered session {sid} (leader {leader.pid}, supervisor {os.getpid()})")
        cmd = shlex.split(args.daemon) + ["--session", sid]
        err = open(os.path.join(args.logdir, "lock-daemon.log"), "ab")
        daemon = subprocess.Popen(cmd, start_new_session=True, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        time.sleep(args.idle)  # started and idle, no window
        if daemon.poll() is not None:
            raise RuntimeError(f"the lock daemon exited ({daemon.returncode}); see {err.name}")
        screen.paint_root()
        screen.wait_samples(lambda s: all(c == MAGENTA for c in s), 10, "the root window (daemon idle)")
        log("warm-up lock (learns the locked screen's idle colours)")
        targets = lock_run(screen, agent, sid, None, args.idle, args.limit)["targets"]
        print(f"#targets\tlock\t{hexs(targets)}", flush=True)
        log(f"locked samples {hexs(targets)}")
        for i in range(1, args.runs + 1):
            time.sleep(args.gap)
            r = lock_run(screen, agent, sid, targets, args.idle, args.limit)
            print("\t".join(str(x) for x in [
                "lock", "vestibule-gtk --lock-daemon", i, "%.1f" % r["reply_ms"], "%.1f" % r["signal_ms"],
                "%.1f" % r["first_change_ms"], "%.1f" % r["covered_ms"], r["magenta_at_done"],
                r["magenta_after"], "yes" if r["corners_ok"] else "no:" + r["corners"]]), flush=True)
            log(f"lock run {i}: covered {r['covered_ms']:.1f} ms (signal {r['signal_ms']:.1f} ms), magenta {r['magenta_at_done']}/{r['magenta_after']}")
            if daemon.poll() is not None:
                raise RuntimeError(f"the lock daemon exited ({daemon.returncode})")
        rss, hwm, pss = proc_mem(daemon.pid)
        print(f"#lockdaemon\t{rss}\t{hwm}\t{pss}\t{breakdown(daemon.pid)}", flush=True)
        if args.respawn_runs:
            respawn_runs(screen, agent, sid, targets, daemon.pid, args)
    finally:
        if daemon:
            stop(daemon)
        # Lock screens the agent started (their own process groups).
        if sid:
            subprocess.run(["pkill", "-KILL", "-f", "--", f"--lock-daemon --session {sid}( |$)"], check=False)
        leader.kill()
        leader.wait()


def lockers_of(sid):
    out = subprocess.run(["pgrep", "-f", "--", f"--lock-daemon --session {sid}( |$)"], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


def respawn_runs(screen, agent, sid, targets, first_pid, args):
    """Locked; the lock screen is SIGKILLed; t0 at the kill, done when the five samples show the
    lock screen again (after first showing the root window: the X server unmaps a dead client's
    windows), drawn by the lock screen the agent started."""
    screen.paint_root()
    agent.call("LockSession", ("(s)", (sid,)))
    screen.wait_samples(lambda s: list(s) == list(targets), args.limit, "the lock screen before the first kill")
    victim = first_pid
    for i in range(1, args.respawn_runs + 1):
        time.sleep(args.gap)
        start = time.perf_counter()
        os.kill(victim, signal.SIGKILL)
        screen.wait_samples(lambda s: any(c == MAGENTA for c in s), args.limit, "the dead lock screen's windows to go")
        gone = time.perf_counter() - start
        _, done = poll(screen, targets, args.limit, start, tick=agent.pump)
        at_done = screen.count(MAGENTA)
        time.sleep(0.5)
        after = screen.count(MAGENTA)
        new = lockers_of(sid) - {victim}
        if not new:
            raise RuntimeError("no new lock screen after the kill")
        print("\t".join(str(x) for x in ["#respawn", i, "%.1f" % (gone * 1000), "%.1f" % (done * 1000), at_done, after]),
              flush=True)
        log(f"respawn run {i}: uncovered after {gone*1000:.1f} ms, covered again after {done*1000:.1f} ms, magenta {at_done}/{after}")
        victim = max(new)
    agent.call("UnlockSession", ("(s)", (sid,)))


def on_term(signum, frame):
    raise SystemExit(f"gtk-bench: stopped by signal {signum}")


def main():
    # A SIGTERM/SIGHUP (from whoever) must still run the finally blocks: they stop the lock
    # daemon and the session leader this script started.
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    g = sub.add_parser("greeters", help="first frame and idle memory of greeters, interleaved")
    g.add_argument("--display", required=True)
    g.add_argument("--runs", type=int, default=20)
    g.add_argument("--idle", type=float, default=3.0)
    g.add_argument("--limit", type=float, default=30.0)
    g.add_argument("--logdir", default=".")
    g.add_argument("--side", nargs=3, action="append", metavar=("LABEL", "KIND", "COMMAND"), required=True,
                   help="KIND: plain or lightdm; COMMAND: one shell-quoted string")
    l = sub.add_parser("lock", help="LockSession to the screen covered")
    l.add_argument("--display", required=True)
    l.add_argument("--bus", required=True)
    l.add_argument("--daemon", required=True, help="the lock daemon's command, without --session")
    l.add_argument("--runs", type=int, default=20)
    l.add_argument("--idle", type=float, default=2.0)
    l.add_argument("--gap", type=float, default=0.5)
    l.add_argument("--limit", type=float, default=10.0)
    l.add_argument("--logdir", default=".")
    l.add_argument("--respawn-runs", type=int, default=0,
                   help="then, locked, SIGKILL the lock screen this many times and time the agent's replacement")
    args = p.parse_args()
    try:
        if args.what == "greeters":
            cmd_greeters(args)
        else:
            cmd_lock(args)
    except Exception as e:
        log(f"FAILED: {type(e).__name__}: {e}")
        raise


if __name__ == "__main__":
    main()
