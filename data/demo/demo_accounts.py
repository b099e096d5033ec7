# demo_accounts.py -- pam_python module behind the README demo.
#
# Why: the demo must let anyone try Vestibule's whole login flow -- good and
# bad passwords, a forced password change, a locked account -- without
# creating real accounts or touching /etc/shadow.  Messages imitate the real
# modules (pam_unix, pam_pwquality, pam_faillock) so the demo looks like a
# real login.
#
# Accounts (user / password):
#   alice / wonderland
#   bob   / builder
#   carol / expired     must change her password at first login
#   dave  / locked      correct password, but the account is locked
#
# Options:
#   state=PATH   where changed passwords are kept ("name:password" lines,
#                last wins); without it changes last for one PAM handle only.
#
# Session: sets VESTIBULE_DEMO=1 and VESTIBULE_GREETING="Welcome to
# Vestibule, <user>!" in the PAM environment and shows that greeting.
import fcntl

ACCOUNTS = {"alice": "wonderland", "bob": "builder", "carol": "expired", "dave": "locked"}
EXPIRED = {"carol"}
LOCKED = {"dave"}
_changed = {}


def _state_path(argv):
    for arg in argv[1:]:
        if arg.startswith("state="):
            return arg[len("state="):]
    return None


def _changes(argv):
    changes = dict(_changed)
    path = _state_path(argv)
    if path:
        try:
            with open(path) as f:
                for line in f:
                    name, sep, pw = line.rstrip("\n").partition(":")
                    if sep and name in ACCOUNTS:
                        changes[name] = pw
        except FileNotFoundError:
            pass
    return changes


def _password(argv, user):
    if user not in ACCOUNTS:
        return None
    return _changes(argv).get(user, ACCOUNTS[user])


def _say(pamh, style, text):
    try:
        pamh.conversation(pamh.Message(style, text))
    except pamh.exception:
        pass


def _ask(pamh, prompt):
    """Echo-off prompt; None if the conversation failed or gave no answer."""
    try:
        return pamh.conversation(pamh.Message(pamh.PAM_PROMPT_ECHO_OFF, prompt)).resp
    except (pamh.exception, UnicodeDecodeError):
        return None


def pam_sm_authenticate(pamh, flags, argv):
    try:
        user = pamh.get_user(None)
    except pamh.exception as e:
        return e.pam_result
    given = _ask(pamh, "Password: ")
    if given is None:
        return pamh.PAM_CONV_ERR
    expected = _password(argv, user)
    if expected is None or given != expected:
        pamh.fail_delay(1000000)  # like pam_unix: slow down guessing (microseconds)
        return pamh.PAM_USER_UNKNOWN if expected is None else pamh.PAM_AUTH_ERR
    pamh.authtok = given
    return pamh.PAM_SUCCESS


def pam_sm_acct_mgmt(pamh, flags, argv):
    user = pamh.user
    if user not in ACCOUNTS:
        return pamh.PAM_USER_UNKNOWN
    if user in LOCKED:
        _say(pamh, pamh.PAM_ERROR_MSG,
             "Your account has been locked. Please contact your system administrator.")
        return pamh.PAM_ACCT_EXPIRED
    if user in EXPIRED and user not in _changes(argv):
        _say(pamh, pamh.PAM_ERROR_MSG,
             "You are required to change your password immediately (administrator enforced).")
        return pamh.PAM_NEW_AUTHTOK_REQD
    return pamh.PAM_SUCCESS


def pam_sm_chauthtok(pamh, flags, argv):
    user = pamh.user
    old = _password(argv, user)
    if old is None:
        return pamh.PAM_USER_UNKNOWN
    if flags & pamh.PAM_PRELIM_CHECK:
        return pamh.PAM_SUCCESS
    _say(pamh, pamh.PAM_TEXT_INFO, "Changing password for %s." % user)
    if not flags & pamh.PAM_CHANGE_EXPIRED_AUTHTOK:
        current = _ask(pamh, "Current password: ")
        if current is None:
            return pamh.PAM_CONV_ERR
        if current != old:
            _say(pamh, pamh.PAM_ERROR_MSG, "Authentication token manipulation error")
            return pamh.PAM_AUTH_ERR
    new = _ask(pamh, "New password: ")
    if new is None:
        return pamh.PAM_CONV_ERR
    if new == old:
        _say(pamh, pamh.PAM_ERROR_MSG, "Password unchanged")
        return pamh.PAM_AUTHTOK_ERR
    if len(new) < 8:
        _say(pamh, pamh.PAM_ERROR_MSG, "BAD PASSWORD: The password is shorter than 8 characters")
        return pamh.PAM_AUTHTOK_ERR
    again = _ask(pamh, "Retype new password: ")
    if again is None:
        return pamh.PAM_CONV_ERR
    if again != new:
        _say(pamh, pamh.PAM_ERROR_MSG, "Sorry, passwords do not match.")
        return pamh.PAM_AUTHTOK_ERR
    _changed[user] = new
    path = _state_path(argv)
    if path:
        with open(path, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.write("%s:%s\n" % (user, new))
    pamh.oldauthtok = old
    pamh.authtok = new
    _say(pamh, pamh.PAM_TEXT_INFO, "Password updated successfully.")
    return pamh.PAM_SUCCESS


def pam_sm_setcred(pamh, flags, argv):
    return pamh.PAM_SUCCESS


def pam_sm_open_session(pamh, flags, argv):
    user = pamh.user or "stranger"
    greeting = "Welcome to Vestibule, %s!" % user
    try:
        pamh.env["VESTIBULE_DEMO"] = "1"
        pamh.env["VESTIBULE_GREETING"] = greeting
    except (pamh.exception, ValueError):
        return pamh.PAM_SESSION_ERR
    _say(pamh, pamh.PAM_TEXT_INFO, greeting + " (This is the demo: nothing on this machine was changed.)")
    return pamh.PAM_SUCCESS


def pam_sm_close_session(pamh, flags, argv):
    return pamh.PAM_SUCCESS
