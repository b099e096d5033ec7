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
//! The lock windows are override-redirect, as i3lock's and xscreensaver's are: the window
//! manager never reparents, maps, places or decorates them, so the map is at once (no wait for
//! the window manager to reparent and map a frame: until it had, XGrabKeyboard refused with
//! GrabNotViewable and GDK held the first frame, ~20 ms under openbox), and no shortcut of the
//! window manager's can move, iconify or restack them. What the window manager did for them is
//! done here: each window is placed over its own monitor (`place`), raised above later windows
//! (`raise`), given the keyboard focus (`keep_focus`) and, once unlocked, the focus goes back
//! where it was (`save_focus`, `restore_focus`); its background pixel is the lock screen's
//! colour, so that from the map on the server shows that colour, never the desktop, until GTK's
//! first frame.
//!
//! Under Wayland none of this exists: the compositor owns input and stacking (see the README).

use std::ffi::{c_int, c_long, c_uint, c_ulong, c_void};

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
const CW_BACK_PIXEL: c_ulong = 1 << 1;
const CW_OVERRIDE_REDIRECT: c_ulong = 1 << 9;
const IS_VIEWABLE: c_int = 2;

/// Xlib's `XSetWindowAttributes` (X11/Xlib.h).
#[repr(C)]
#[derive(Default)]
struct XSetWindowAttributes {
    background_pixmap: c_ulong,
    background_pixel: c_ulong,
    border_pixmap: c_ulong,
    border_pixel: c_ulong,
    bit_gravity: c_int,
    win_gravity: c_int,
    backing_store: c_int,
    backing_planes: c_ulong,
    backing_pixel: c_ulong,
    save_under: c_int,
    event_mask: c_long,
    do_not_propagate_mask: c_long,
    override_redirect: c_int,
    colormap: c_ulong,
    cursor: c_ulong,
}

/// Xlib's `Visual`, the fields before and including the colour masks (only read through a
/// pointer Xlib owns).
#[repr(C)]
struct Visual {
    ext_data: *mut c_void,
    visualid: c_ulong,
    class: c_int,
    red_mask: c_ulong,
    green_mask: c_ulong,
    blue_mask: c_ulong,
}

/// Xlib's `XWindowAttributes` (X11/Xlib.h).
#[repr(C)]
struct XWindowAttributes {
    x: c_int,
    y: c_int,
    width: c_int,
    height: c_int,
    border_width: c_int,
    depth: c_int,
    visual: *mut Visual,
    root: c_ulong,
    class: c_int,
    bit_gravity: c_int,
    win_gravity: c_int,
    backing_store: c_int,
    backing_planes: c_ulong,
    backing_pixel: c_ulong,
    save_under: c_int,
    colormap: c_ulong,
    map_installed: c_int,
    map_state: c_int,
    all_event_masks: c_long,
    your_event_mask: c_long,
    do_not_propagate_mask: c_long,
    override_redirect: c_int,
    screen: *mut c_void,
}

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
    fn XChangeWindowAttributes(
        display: *mut c_void,
        window: c_ulong,
        valuemask: c_ulong,
        attributes: *mut XSetWindowAttributes,
    ) -> c_int;
    fn XGetWindowAttributes(
        display: *mut c_void,
        window: c_ulong,
        attributes: *mut XWindowAttributes,
    ) -> c_int;
    fn XQueryTree(
        display: *mut c_void,
        window: c_ulong,
        root_return: *mut c_ulong,
        parent_return: *mut c_ulong,
        children_return: *mut *mut c_ulong,
        nchildren_return: *mut c_uint,
    ) -> c_int;
    fn XFree(data: *mut c_void) -> c_int;
    fn XMoveResizeWindow(
        display: *mut c_void,
        window: c_ulong,
        x: c_int,
        y: c_int,
        width: c_uint,
        height: c_uint,
    ) -> c_int;
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

/// The X window id of `window`, if it is an X11 window that has been realized.
pub fn xid(window: &gtk::Window) -> Option<c_ulong> {
    x_window(window).map(|w| w.xid)
}

/// The pixel of the colour `rgb` in a TrueColor visual with these channel masks (GDK's visuals
/// are); the bits outside the three masks (a 32-bit visual's alpha) are set: opaque.
fn pixel(visual: &Visual, depth: c_int, [r, g, b]: [u8; 3]) -> c_ulong {
    fn channel(value: u8, mask: c_ulong) -> c_ulong {
        if mask == 0 {
            return 0;
        }
        let shift = mask.trailing_zeros();
        let max = mask >> shift;
        ((c_ulong::from(value) * max + 127) / 255) << shift
    }
    let all: c_ulong = if depth >= 64 { !0 } else { (1 << depth) - 1 };
    let colours = visual.red_mask | visual.green_mask | visual.blue_mask;
    channel(r, visual.red_mask)
        | channel(g, visual.green_mask)
        | channel(b, visual.blue_mask)
        | (all & !colours)
}

/// Makes `window` (realized, not mapped yet) override-redirect, with `background` as the
/// colour the server paints it with as it maps it, until GTK has drawn a frame. None if it is not
/// an X11 window; else whether the background could be set too (its visual read).
pub fn make_override_redirect(window: &gtk::Window, background: [u8; 3]) -> Option<bool> {
    let w = x_window(window)?;
    // SAFETY: as in `grab`; `have` is written by Xlib (zeroed first: an integer and pointer
    // struct for which all-zero is valid), its `visual` points into Xlib's own display data and
    // is read only when not null; `set` lives across the call that reads it.
    Some(w.trapped(|xdisplay, xid| unsafe {
        let mut set = XSetWindowAttributes {
            override_redirect: 1,
            ..Default::default()
        };
        let mut mask = CW_OVERRIDE_REDIRECT;
        let mut have: XWindowAttributes = std::mem::zeroed();
        if XGetWindowAttributes(xdisplay, xid, &mut have) != 0 && !have.visual.is_null() {
            set.background_pixel = pixel(&*have.visual, have.depth, background);
            mask |= CW_BACK_PIXEL;
        }
        XChangeWindowAttributes(xdisplay, xid, mask, &mut set);
        XFlush(xdisplay);
        mask & CW_BACK_PIXEL != 0
    }))
}

/// Moves and sizes `window` to `(x, y, width, height)` in X pixels: its monitor, which a window
/// manager would have given a managed full-screen window.
pub fn place(window: &gtk::Window, (x, y, width, height): (i32, i32, i32, i32)) {
    if let Some(w) = x_window(window) {
        let (width, height) = (width.max(1) as c_uint, height.max(1) as c_uint);
        // SAFETY: as in `grab`.
        w.trapped(|xdisplay, xid| unsafe {
            XMoveResizeWindow(xdisplay, xid, x, y, width, height);
            XFlush(xdisplay);
        });
    }
}

/// Whether a viewable window that is not one of `ours` is stacked above the lowest of `ours`
/// (which then does not cover everything it should).
pub fn covered_by_another(ours: &[gtk::Window]) -> bool {
    let mine: Vec<XWindow> = ours.iter().filter_map(x_window).collect();
    let Some(first) = mine.first() else {
        return false;
    };
    let ids: Vec<c_ulong> = mine.iter().map(|w| w.xid).collect();
    // SAFETY: as in `grab`; the out-pointers point at live locals, and the children array Xlib
    // returns is read within its length and freed once, with XFree, as Xlib documents.
    first.trapped(|xdisplay, xid| unsafe {
        let (mut root, mut parent, mut children, mut n): (c_ulong, c_ulong, *mut c_ulong, c_uint) =
            (NONE, NONE, std::ptr::null_mut(), 0);
        if XQueryTree(xdisplay, xid, &mut root, &mut parent, &mut children, &mut n) == 0 {
            return false;
        }
        if !children.is_null() {
            XFree(children.cast());
        }
        children = std::ptr::null_mut();
        n = 0;
        if XQueryTree(xdisplay, root, &mut root, &mut parent, &mut children, &mut n) == 0
            || children.is_null()
        {
            return false;
        }
        // Bottom to top.
        let stack = std::slice::from_raw_parts(children, n as usize).to_vec();
        XFree(children.cast());
        let Some(lowest) = stack.iter().position(|c| ids.contains(c)) else {
            return false;
        };
        stack[lowest..].iter().filter(|c| !ids.contains(c)).any(|&c| {
            let mut a: XWindowAttributes = std::mem::zeroed();
            XGetWindowAttributes(xdisplay, c, &mut a) != 0 && a.map_state == IS_VIEWABLE
        })
    })
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

/// The X keyboard focus as it was before the lock (a window, PointerRoot or None).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SavedFocus {
    window: c_ulong,
    revert_to: c_int,
}

/// Runs `f` on `display`'s Xlib connection with X errors trapped and ignored; None if it is not
/// an X11 display.
fn on_display<R>(display: &gdk::Display, f: impl FnOnce(*mut c_void) -> R) -> Option<R> {
    if !is_x11(display) {
        return None;
    }
    let d: *mut gdk::ffi::GdkDisplay = display.to_glib_none().0;
    // SAFETY: `d` was just checked to be GDK's X11 display, which this function takes; GDK owns
    // the Display it returns, alive as long as `display`.
    let xdisplay = unsafe { gdk_x11_display_get_xdisplay(d) };
    if xdisplay.is_null() {
        return None;
    }
    // SAFETY: as in `XWindow::trapped`.
    unsafe { gdk_x11_display_error_trap_push(d) };
    let r = f(xdisplay);
    // SAFETY: as in `XWindow::trapped`.
    unsafe { gdk_x11_display_error_trap_pop_ignored(d) };
    Some(r)
}

/// The keyboard focus now, to give back with [`restore_focus`] once unlocked: the window
/// manager does not know the override-redirect lock windows, so nobody else would (the focus
/// would fall back to the root window when they go, and keys to whatever is under the pointer).
pub fn save_focus(display: &gdk::Display) -> Option<SavedFocus> {
    let mut saved = SavedFocus {
        window: NONE,
        revert_to: REVERT_TO_PARENT,
    };
    // SAFETY: GDK's live X connection (`on_display`), on GTK's thread; both out-pointers point at
    // live fields.
    on_display(display, |xdisplay| unsafe {
        XGetInputFocus(xdisplay, &mut saved.window, &mut saved.revert_to);
    })?;
    Some(saved)
}

/// Gives the focus back to where [`save_focus`] found it (a window gone or no longer viewable
/// makes the request fail, which is ignored: the focus then stays with the root window).
pub fn restore_focus(display: &gdk::Display, saved: SavedFocus) {
    // SAFETY: as in `save_focus`; the request takes plain integers.
    on_display(display, |xdisplay| unsafe {
        XSetInputFocus(xdisplay, saved.window, saved.revert_to, CURRENT_TIME);
        XFlush(xdisplay);
    });
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
