//! The only code that touches libpam: declarations, the handle, and the two C callbacks.
//!
//! Declarations are written by hand rather than taken from `pam-sys`: we need eleven functions and
//! three structs, `pam-sys` generates its bindings with bindgen (a libclang build dependency) and
//! its releases predate `pam_start_confdir` (Linux-PAM 1.4), which the tests and the demo rely on.
//!
//! Everything here is wrapped in [`Handle`], whose methods are safe: they take Rust types, return
//! [`PamCode`]s, and copy anything libpam owns before returning it.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::{self, NonNull};
use std::time::Duration;

use crate::code::PamCode;
use crate::conversation::{Bridge, RawMessage, MAX_MESSAGES};

#[repr(C)]
struct PamHandleT {
    _opaque: [u8; 0],
}

#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

type ConvFn = extern "C" fn(c_int, *mut *const PamMessage, *mut *mut PamResponse, *mut c_void) -> c_int;
type DelayFn = extern "C" fn(c_int, c_uint, *mut c_void);

#[repr(C)]
struct PamConv {
    conv: Option<ConvFn>,
    appdata_ptr: *mut c_void,
}

#[link(name = "pam")]
extern "C" {
    fn pam_start_confdir(
        service_name: *const c_char,
        user: *const c_char,
        pam_conversation: *const PamConv,
        confdir: *const c_char,
        pamh: *mut *mut PamHandleT,
    ) -> c_int;
    fn pam_end(pamh: *mut PamHandleT, pam_status: c_int) -> c_int;
    fn pam_authenticate(pamh: *mut PamHandleT, flags: c_int) -> c_int;
    fn pam_acct_mgmt(pamh: *mut PamHandleT, flags: c_int) -> c_int;
    fn pam_chauthtok(pamh: *mut PamHandleT, flags: c_int) -> c_int;
    fn pam_setcred(pamh: *mut PamHandleT, flags: c_int) -> c_int;
    fn pam_open_session(pamh: *mut PamHandleT, flags: c_int) -> c_int;
    fn pam_close_session(pamh: *mut PamHandleT, flags: c_int) -> c_int;
    fn pam_set_item(pamh: *mut PamHandleT, item_type: c_int, item: *const c_void) -> c_int;
    fn pam_get_item(pamh: *const PamHandleT, item_type: c_int, item: *mut *const c_void) -> c_int;
    fn pam_getenvlist(pamh: *mut PamHandleT) -> *mut *mut c_char;
    fn pam_putenv(pamh: *mut PamHandleT, name_value: *const c_char) -> c_int;
    fn pam_fail_delay(pamh: *mut PamHandleT, musec_delay: c_uint) -> c_int;
}

/// String items an application may set or read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Item {
    User = 2,
    Tty = 3,
    Rhost = 4,
    Ruser = 8,
    UserPrompt = 9,
    Xdisplay = 11,
}

const PAM_FAIL_DELAY: c_int = 10;
const PAM_DATA_SILENT: c_int = 0x4000_0000;

/// The libpam calls that take a handle and flags and return a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    Authenticate,
    AcctMgmt,
    Chauthtok,
    Setcred,
    OpenSession,
    CloseSession,
}

impl Call {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Call::Authenticate => "pam_authenticate",
            Call::AcctMgmt => "pam_acct_mgmt",
            Call::Chauthtok => "pam_chauthtok",
            Call::Setcred => "pam_setcred",
            Call::OpenSession => "pam_open_session",
            Call::CloseSession => "pam_close_session",
        }
    }
}

/// An open `pam_handle_t` and the conversation state its callbacks reach.
pub(crate) struct Handle {
    raw: NonNull<PamHandleT>,
    bridge: NonNull<Bridge>,
    last: PamCode,
    ended: bool,
}

impl Handle {
    /// `pam_start_confdir`; `confdir: None` means the system's `/etc/pam.d`.
    pub(crate) fn start(
        service: &CStr,
        user: Option<&CStr>,
        confdir: Option<&CStr>,
        bridge: Bridge,
    ) -> Result<Handle, PamCode> {
        let bridge = NonNull::from(Box::leak(Box::new(bridge)));
        let conv = PamConv {
            conv: Some(converse),
            appdata_ptr: bridge.as_ptr().cast(),
        };
        let mut raw: *mut PamHandleT = ptr::null_mut();
        // SAFETY: every pointer is valid for the call: the strings are NUL-terminated and outlive
        // it, libpam copies `conv` (not a reference to it), and `raw` is a valid out-pointer.
        // `appdata_ptr` stays valid until `Drop` frees it after pam_end.
        let rc = PamCode::from_raw(unsafe {
            pam_start_confdir(
                service.as_ptr(),
                user.map_or(ptr::null(), CStr::as_ptr),
                &conv,
                confdir.map_or(ptr::null(), CStr::as_ptr),
                &mut raw,
            )
        });
        match (rc.ok(), NonNull::new(raw)) {
            (Ok(()), Some(raw)) => Ok(Handle {
                raw,
                bridge,
                last: rc,
                ended: false,
            }),
            (result, raw) => {
                if let Some(raw) = raw {
                    // SAFETY: libpam gave us a handle despite failing; end it once, as documented.
                    unsafe { pam_end(raw.as_ptr(), rc.raw()) };
                }
                // SAFETY: `bridge` came from Box::leak above and libpam no longer holds it.
                drop(unsafe { Box::from_raw(bridge.as_ptr()) });
                Err(result.err().unwrap_or(PamCode::SYSTEM_ERR))
            }
        }
    }

    /// Runs one of the flag-taking calls and records its status for pam_end.
    pub(crate) fn call(&mut self, call: Call, flags: c_int) -> PamCode {
        debug_assert!(!self.ended);
        let h = self.raw.as_ptr();
        // SAFETY: `h` is a live handle (not ended: every path that ends it sets `ended` and stops
        // calling), and libpam's callbacks only reach `bridge`, which we do not borrow meanwhile.
        let rc = unsafe {
            match call {
                Call::Authenticate => pam_authenticate(h, flags),
                Call::AcctMgmt => pam_acct_mgmt(h, flags),
                Call::Chauthtok => pam_chauthtok(h, flags),
                Call::Setcred => pam_setcred(h, flags),
                Call::OpenSession => pam_open_session(h, flags),
                Call::CloseSession => pam_close_session(h, flags),
            }
        };
        self.last = PamCode::from_raw(rc);
        self.last
    }

    /// Sets a string item; `None` clears it (a fresh user prompt on retry).
    pub(crate) fn set_item(&mut self, item: Item, value: Option<&CStr>) -> PamCode {
        // SAFETY: live handle; libpam copies the string before returning.
        PamCode::from_raw(unsafe {
            pam_set_item(
                self.raw.as_ptr(),
                item as c_int,
                value.map_or(ptr::null(), |v| v.as_ptr().cast()),
            )
        })
    }

    /// Reads a string item and hands its bytes to `read` while they are valid (a module may
    /// change or free the item on the next call, so `read` must copy what it keeps).
    pub(crate) fn with_item<T>(
        &self,
        item: Item,
        read: impl FnOnce(Option<&[u8]>) -> T,
    ) -> Result<T, PamCode> {
        let mut value: *const c_void = ptr::null();
        // SAFETY: live handle and a valid out-pointer.
        let rc = PamCode::from_raw(unsafe { pam_get_item(self.raw.as_ptr(), item as c_int, &mut value) });
        rc.ok()?;
        if value.is_null() {
            return Ok(read(None));
        }
        // SAFETY: string items are NUL-terminated C strings owned by libpam, unchanged until the
        // next libpam call, which cannot happen while `read` borrows `self`.
        Ok(read(Some(unsafe { CStr::from_ptr(value.cast()) }.to_bytes())))
    }

    /// `pam_getenvlist`, copied into owned strings; libpam's copy is wiped and freed here.
    pub(crate) fn env_list(&mut self) -> Result<Vec<CString>, PamCode> {
        // SAFETY: live handle.
        let list = unsafe { pam_getenvlist(self.raw.as_ptr()) };
        if list.is_null() {
            return Err(PamCode::BUF_ERR);
        }
        let mut out = Vec::new();
        let mut i = 0;
        loop {
            // SAFETY: the list is NULL-terminated; `i` never passes the terminator.
            let entry = unsafe { *list.add(i) };
            if entry.is_null() {
                break;
            }
            // SAFETY: each entry is a malloc'd NUL-terminated string we now own: copy, wipe, free.
            unsafe {
                let c = CStr::from_ptr(entry);
                out.push(c.to_owned());
                ptr::write_bytes(entry, 0, c.to_bytes().len());
                libc::free(entry.cast());
            }
            i += 1;
        }
        // SAFETY: the array itself was malloc'd by libpam and is ours to free.
        unsafe { libc::free(list.cast()) };
        Ok(out)
    }

    /// `pam_putenv` of one `NAME=value` entry.
    pub(crate) fn putenv(&mut self, entry: &CStr) -> PamCode {
        // SAFETY: live handle; libpam copies the NUL-terminated string before returning.
        PamCode::from_raw(unsafe { pam_putenv(self.raw.as_ptr(), entry.as_ptr()) })
    }

    /// Asks libpam for at least this delay after a failure, and routes the wait through the
    /// conversation so a front end can show it.
    pub(crate) fn request_fail_delay(&mut self, delay: Duration) -> PamCode {
        let usec = c_uint::try_from(delay.as_micros()).unwrap_or(c_uint::MAX);
        // SAFETY: live handle.
        let rc = PamCode::from_raw(unsafe { pam_fail_delay(self.raw.as_ptr(), usec) });
        if !rc.is_success() {
            return rc;
        }
        let hook: DelayFn = fail_delay;
        // SAFETY: PAM_FAIL_DELAY takes a function pointer of exactly this signature; libpam passes
        // it our conversation's appdata_ptr, which is `bridge`.
        PamCode::from_raw(unsafe { pam_set_item(self.raw.as_ptr(), PAM_FAIL_DELAY, hook as *const c_void) })
    }

    pub(crate) fn bridge(&mut self) -> &mut Bridge {
        // SAFETY: `bridge` is valid until Drop; `&mut self` guarantees no PAM call (and so no
        // callback holding its own reference) is running.
        unsafe { self.bridge.as_mut() }
    }

    pub(crate) fn bridge_ref(&self) -> &Bridge {
        // SAFETY: as for `bridge`; a shared borrow of self rules out a PAM call in progress.
        unsafe { self.bridge.as_ref() }
    }

    /// In a forked child about to exec: release this process's copy of the handle without
    /// letting modules act on it (PAM_DATA_SILENT), as login(1) does.
    pub(crate) fn end_in_forked_child(&mut self) {
        if !self.ended {
            self.ended = true;
            // SAFETY: live handle, ended exactly once.
            unsafe { pam_end(self.raw.as_ptr(), self.last.raw() | PAM_DATA_SILENT) };
        }
    }

    /// `pam_end` with the last status; later calls do nothing.
    pub(crate) fn end(&mut self) -> PamCode {
        if self.ended {
            return PamCode::SUCCESS;
        }
        self.ended = true;
        // SAFETY: live handle, ended exactly once; callbacks may still run inside (module cleanup),
        // and `bridge` is still allocated.
        PamCode::from_raw(unsafe { pam_end(self.raw.as_ptr(), self.last.raw()) })
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let rc = self.end();
        if !rc.is_success() {
            tracing::warn!(status = ?rc, "pam_end failed");
        }
        // SAFETY: `bridge` came from Box::leak in `start`; after pam_end libpam holds no pointer.
        drop(unsafe { Box::from_raw(self.bridge.as_ptr()) });
    }
}

/// libpam's conversation callback. Never unwinds: a panic becomes `PAM_CONV_ERR`.
extern "C" fn converse(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata: *mut c_void,
) -> c_int {
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: called by libpam with the arguments of a conversation call and our own appdata.
        unsafe { converse_checked(num_msg, msg, resp, appdata.cast()) }
    }));
    result
        .unwrap_or_else(|_| {
            tracing::error!("conversation panicked; answered PAM_CONV_ERR");
            PamCode::CONV_ERR
        })
        .raw()
}

/// # Safety
/// `msg` must point to `num_msg` message pointers (Linux-PAM layout), `resp` to a writable
/// pointer, and `bridge` to the `Bridge` this handle was started with (or be NULL).
unsafe fn converse_checked(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    bridge: *mut Bridge,
) -> PamCode {
    if resp.is_null() || bridge.is_null() {
        return PamCode::CONV_ERR;
    }
    // SAFETY: `resp` is writable (checked non-NULL; libpam passes its own variable).
    unsafe { *resp = ptr::null_mut() };
    // SAFETY: `bridge` is the live Bridge of this handle (see `Handle::start`).
    let bridge = unsafe { &mut *bridge };
    let count = match usize::try_from(num_msg) {
        Ok(n) if n <= MAX_MESSAGES && !msg.is_null() => n,
        _ => {
            // Let the bridge record the refusal without reading a count we cannot trust.
            let _ = bridge.converse_raw(&[]);
            return PamCode::CONV_ERR;
        }
    };
    let mut raw: Vec<RawMessage<'_>> = Vec::with_capacity(count);
    for i in 0..count {
        // SAFETY: `msg` holds `count` entries per the conversation contract.
        let m = unsafe { *msg.add(i) };
        if m.is_null() {
            bridge.last_failure = Some("a module sent a NULL message".into());
            return PamCode::CONV_ERR;
        }
        // SAFETY: non-NULL message pointers point to a pam_message; its text is NUL-terminated.
        let (style, text) = unsafe {
            let m = &*m;
            (
                m.msg_style,
                (!m.msg.is_null()).then(|| CStr::from_ptr(m.msg).to_bytes()),
            )
        };
        raw.push((style, text));
    }
    let Ok(answers) = bridge.converse_raw(&raw) else {
        return PamCode::CONV_ERR;
    };
    // SAFETY: plain allocation; libpam frees the array and each `resp` with free().
    let out = unsafe { libc::calloc(count, std::mem::size_of::<PamResponse>()) } as *mut PamResponse;
    if out.is_null() {
        return PamCode::CONV_ERR;
    }
    for (i, answer) in answers.iter().enumerate() {
        let Some(secret) = answer else { continue };
        let bytes = secret.as_bytes_with_nul();
        // SAFETY: plain allocation of the answer plus its NUL.
        let copy = unsafe { libc::malloc(bytes.len()) } as *mut c_char;
        if copy.is_null() {
            // SAFETY: `out` has `count` zero-initialised entries, the first `i` possibly filled.
            unsafe { free_responses(out, i) };
            return PamCode::CONV_ERR;
        }
        // SAFETY: `copy` has room for `bytes.len()` bytes; `out` has `count > i` entries. This is
        // the one copy of the secret libpam needs; ours is wiped when `answers` drops.
        unsafe {
            ptr::copy_nonoverlapping(bytes.as_ptr().cast(), copy, bytes.len());
            (*out.add(i)).resp = copy;
        }
    }
    // SAFETY: `resp` is writable (checked above).
    unsafe { *resp = out };
    PamCode::SUCCESS
}

/// Wipes and frees the first `filled` answers and the array itself.
///
/// # Safety
/// `out` must be a calloc'd array of at least `filled` responses whose `resp` fields are NULL or
/// malloc'd NUL-terminated strings.
unsafe fn free_responses(out: *mut PamResponse, filled: usize) {
    for i in 0..filled {
        // SAFETY: per the function contract.
        unsafe {
            let r = (*out.add(i)).resp;
            if !r.is_null() {
                ptr::write_bytes(r, 0, CStr::from_ptr(r).to_bytes().len());
                libc::free(r.cast());
            }
        }
    }
    // SAFETY: per the function contract.
    unsafe { libc::free(out.cast()) };
}

/// libpam's PAM_FAIL_DELAY hook: the wait after a failed attempt, shown by the front end.
extern "C" fn fail_delay(status: c_int, usec: c_uint, appdata: *mut c_void) {
    // libpam calls the hook after every pam_authenticate, successful or not; only failures wait.
    if appdata.is_null() || status == PamCode::SUCCESS.raw() {
        return;
    }
    let delay = Duration::from_micros(u64::from(usec));
    let shown = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: libpam passes the conversation's appdata_ptr, our live Bridge; no other
        // reference to it exists while a PAM call runs.
        let bridge = unsafe { &mut *appdata.cast::<Bridge>() };
        bridge.fail_delay(delay);
    }));
    if shown.is_err() {
        // The delay is a defence against guessing: it happens even if the front end failed.
        std::thread::sleep(delay);
    }
}
