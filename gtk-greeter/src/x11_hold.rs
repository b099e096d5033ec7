//! Holding the input on X11 while locked: the keyboard and the pointer grabbed for the lock
//! window, and the lock windows raised above anything another client maps or raises.
//!
//! Without a grab a window manager still sees its own shortcuts (Alt-Tab brings another window to
//! the front) and a client that raises itself shows the desktop. GTK 4 has no grab API (GTK 3's
//! `gdk_seat_grab` is gone), so this is Xlib's `XGrabKeyboard` / `XGrabPointer`, made on GDK's own
//! X connection: a grab belongs to the connection that made it, and GTK must keep receiving the
//! keys. A grab fails while another client holds one (a menu that is open, another locker), so
//! the caller retries for a few seconds as i3lock does, and says so on screen if it never gets
//! one. Raising is `XRaiseWindow`, repeated while locked (GTK 4 reports no visibility changes), and
//! the focus is taken back with `XSetInputFocus` when a window mapped later took it.
//!
//! Under Wayland none of this exists: the compositor owns input and stacking (see the README).

use std::ffi::{c_int, c_uint, c_ulong, c_void};

use gtk::gdk;
use gtk::glib::translate::ToGlibPtr;
use gtk::prelude::*;

const GRAB_SUCCESS: c_int = 0;
const GRAB_MODE_ASYNC: c_int = 1;
const CURRENT_TIME: c_ulong = 0;
const NONE: c_ulong = 0;
const REVERT_TO_PARENT: c_int = 2;
/// ButtonPressMask | ButtonReleaseMask | PointerMotionMask.
const POINTER_EVENTS: c_uint = (1 << 2) | (1 << 3) | (1 << 6);

#[link(name = "X11")]
extern "C" {
    fn XGrabKeyboard(
        display: *mut c_void,
        grab_window: c_ulong,
        owner_events: c_int,
        pointer_mode: c_int,
        keyboard_mode: c_int,
        time: c_ulong,
    ) -> c_int;
    #[allow(clippy::too_many_arguments)]
    fn XGrabPointer(
        display: *mut c_void,
        grab_window: c_ulong,
        owner_events: c_int,
        event_mask: c_uint,
        pointer_mode: c_int,
        keyboard_mode: c_int,
        confine_to: c_ulong,
        cursor: c_ulong,
        time: c_ulong,
    ) -> c_int;
    fn XUngrabKeyboard(display: *mut c_void, time: c_ulong) -> c_int;
    fn XUngrabPointer(display: *mut c_void, time: c_ulong) -> c_int;
    fn XRaiseWindow(display: *mut c_void, window: c_ulong) -> c_int;
    fn XSetInputFocus(display: *mut c_void, focus: c_ulong, revert_to: c_int, time: c_ulong) -> c_int;
    fn XGetInputFocus(
        display: *mut c_void,
        focus_return: *mut c_ulong,
        revert_to_return: *mut c_int,
    ) -> c_int;
    fn XFlush(display: *mut c_void) -> c_int;
}

// GDK's X11 backend, part of libgtk-4 (gdk4-x11's bindings are not packaged for this build).
extern "C" {
    fn gdk_x11_display_get_xdisplay(display: *mut gdk::ffi::GdkDisplay) -> *mut c_void;
    fn gdk_x11_surface_get_xid(surface: *mut gdk::ffi::GdkSurface) -> c_ulong;
    fn gdk_x11_display_error_trap_push(display: *mut gdk::ffi::GdkDisplay);
    fn gdk_x11_display_error_trap_pop_ignored(display: *mut gdk::ffi::GdkDisplay);
}

/// An X window of ours: GDK's display, its Xlib connection, and the window's XID.
struct XWindow {
    display: gdk::Display,
    xdisplay: *mut c_void,
    xid: c_ulong,
}

impl XWindow {
    /// Runs `f` with X errors trapped and ignored: a window that is not viewable yet (a window
    /// manager still reparenting it) or already gone makes a request fail with BadMatch or
    /// BadWindow, which is no reason for GDK to complain (or for the lock screen to die).
    fn trapped<R>(&self, f: impl FnOnce(*mut c_void, c_ulong) -> R) -> R {
        let d: *mut gdk::ffi::GdkDisplay = self.display.to_glib_none().0;
        // SAFETY: `d` is GDK's live X11 display (checked by `x_window`); push and pop pair up
        // around `f`, on GTK's thread.
        unsafe { gdk_x11_display_error_trap_push(d) };
        let r = f(self.xdisplay, self.xid);
        // SAFETY: as above; pop waits for the replies, so every error of `f` is caught.
        unsafe { gdk_x11_display_error_trap_pop_ignored(d) };
        r
    }
}

/// Why the input could not be held (yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrabError {
    /// The window is not on screen yet (not realized or not mapped).
    NotShown,
    /// Another client holds the keyboard or pointer (Xlib's status).
    Refused { keyboard: c_int, pointer: c_int },
}

/// The X window of `window`, if it is an X11 window on screen.
fn x_window(window: &gtk::Window) -> Option<XWindow> {
    let surface = window.surface()?;
    let display = surface.display();
    if !is_x11(&display) || !is_a(surface.type_(), "GdkX11Surface") {
        return None;
    }
    // SAFETY: both objects were just checked to be GDK's X11 types, which these two functions
    // take; GDK owns the returned Display (alive as long as `display`) and the XID is a number.
    let (xdisplay, xid) = unsafe {
        let d: *mut gdk::ffi::GdkDisplay = display.to_glib_none().0;
        let s: *mut gdk::ffi::GdkSurface = surface.to_glib_none().0;
        (gdk_x11_display_get_xdisplay(d), gdk_x11_surface_get_xid(s))
    };
    (!xdisplay.is_null() && xid != NONE).then_some(XWindow {
        display,
        xdisplay,
        xid,
    })
}

/// Whether `display` is an X11 display (where grabs and raising apply at all).
pub fn is_x11(display: &gdk::Display) -> bool {
    is_a(display.type_(), "GdkX11Display")
}

/// `ty` is the GType named `name` or derives from it (GDK's X11 toplevels are `GdkX11Toplevel`,
/// a `GdkX11Surface`). A name GLib does not know (no X11 backend) is never matched.
fn is_a(ty: gtk::glib::Type, name: &str) -> bool {
    gtk::glib::Type::from_name(name).is_some_and(|base| ty.is_a(base))
}

/// Grabs keyboard and pointer for `window` (events for the lock screen's own windows still go
/// to them as usual). On failure nothing stays grabbed.
pub fn grab(window: &gtk::Window) -> Result<(), GrabError> {
    if !window.is_mapped() {
        return Err(GrabError::NotShown);
    }
    let w = x_window(window).ok_or(GrabError::NotShown)?;
    // SAFETY: `xdisplay` is GDK's live X connection and `xid` one of its mapped windows; these
    // calls take plain integers and run on GTK's thread, the only one using the connection.
    w.trapped(|xdisplay, xid| unsafe {
        let keyboard = XGrabKeyboard(xdisplay, xid, 1, GRAB_MODE_ASYNC, GRAB_MODE_ASYNC, CURRENT_TIME);
        let pointer = XGrabPointer(
            xdisplay,
            xid,
            1,
            POINTER_EVENTS,
            GRAB_MODE_ASYNC,
            GRAB_MODE_ASYNC,
            NONE,
            NONE,
            CURRENT_TIME,
        );
        if keyboard == GRAB_SUCCESS && pointer == GRAB_SUCCESS {
            XFlush(xdisplay);
            return Ok(());
        }
        if keyboard == GRAB_SUCCESS {
            XUngrabKeyboard(xdisplay, CURRENT_TIME);
        }
        if pointer == GRAB_SUCCESS {
            XUngrabPointer(xdisplay, CURRENT_TIME);
        }
        XFlush(xdisplay);
        Err(GrabError::Refused { keyboard, pointer })
    })
}

/// Lets go of keyboard and pointer (unlocked).
pub fn release(window: &gtk::Window) {
    if let Some(w) = x_window(window) {
        // SAFETY: as in `grab`; ungrabbing what is not grabbed is harmless.
        w.trapped(|xdisplay, _| unsafe {
            XUngrabKeyboard(xdisplay, CURRENT_TIME);
            XUngrabPointer(xdisplay, CURRENT_TIME);
            XFlush(xdisplay);
        });
    }
}

/// Puts `windows` above every other window, the last one on top.
pub fn raise(windows: &[gtk::Window]) {
    for w in windows.iter().filter_map(x_window) {
        // SAFETY: as in `grab`.
        w.trapped(|xdisplay, xid| unsafe {
            XRaiseWindow(xdisplay, xid);
            XFlush(xdisplay);
        });
    }
}

/// Gives `window` the X keyboard focus back if another window has it (one mapped after the lock,
/// which the window manager focused): the grab still brings the keys to the lock screen, but GTK
/// drops key events while another client's window has the focus. GDK's own idea of the focus
/// does not change during a grab, so the server is asked.
pub fn keep_focus(window: &gtk::Window) {
    if let Some(w) = x_window(window) {
        let mut focused: c_ulong = NONE;
        let mut revert: c_int = 0;
        // SAFETY: as in `grab`; both out-pointers point at live locals.
        w.trapped(|xdisplay, xid| unsafe {
            XGetInputFocus(xdisplay, &mut focused, &mut revert);
            if focused != xid {
                XSetInputFocus(xdisplay, xid, REVERT_TO_PARENT, CURRENT_TIME);
                XFlush(xdisplay);
            }
        });
    }
}
