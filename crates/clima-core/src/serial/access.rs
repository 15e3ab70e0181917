//! Whether this user may open a serial device, and when not, the reason and the fix.
//!
//! On Unix the device file's group and mode say who may open it, and `access(2)` says whether
//! this user may, without opening it (opening a tty raises DTR, which resets many boards). On
//! Windows there is no such file to read: [`check`] finds nothing, and a refused open is
//! explained by [`explain_open_error`] alone.

use std::io::ErrorKind;
use std::path::Path;

use clima_model::serial::permission::{denied, Denied, System};

/// The reason and the fix for a port whose open failed with `kind`, when it was refused for lack
/// of permission; `None` for any other failure.
pub fn explain_open_error(path: &Path, kind: ErrorKind) -> Option<Denied> {
    (kind == ErrorKind::PermissionDenied).then(|| explain(path))
}

/// The reason and the fix when this user may not open `path`, checked without opening it.
pub fn check(path: &Path) -> Option<Denied> {
    #[cfg(unix)]
    if !unix::may_open(path) {
        return Some(explain(path));
    }
    #[cfg(not(unix))]
    let _ = path;
    None
}

fn explain(path: &Path) -> Denied {
    #[cfg(unix)]
    let access = unix::device_access(path);
    #[cfg(not(unix))]
    let access = clima_model::serial::permission::DeviceAccess::Unknown;
    denied(System::current(), &path.display().to_string(), &access)
}

#[cfg(unix)]
mod unix {
    use std::ffi::{CStr, CString};
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    use clima_model::serial::permission::DeviceAccess;

    /// False only when the device exists and `access(2)` refuses reading and writing it.
    pub fn may_open(path: &Path) -> bool {
        let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
            return true;
        };
        // SAFETY: a valid NUL-terminated path; access only reads it.
        let ok = unsafe { libc::access(c.as_ptr(), libc::R_OK | libc::W_OK) } == 0;
        ok || std::io::Error::last_os_error().kind() != std::io::ErrorKind::PermissionDenied
    }

    /// Who may open the device: its group when that group may read and write it.
    pub fn device_access(path: &Path) -> DeviceAccess {
        let Ok(meta) = std::fs::metadata(path) else {
            return DeviceAccess::Unknown;
        };
        if meta.mode() & 0o060 != 0o060 || meta.gid() == 0 {
            return DeviceAccess::OwnerOnly;
        }
        group_name(meta.gid()).map_or(DeviceAccess::Unknown, DeviceAccess::Group)
    }

    fn group_name(gid: libc::gid_t) -> Option<String> {
        let mut buf = vec![0 as libc::c_char; 4096];
        // SAFETY: zeroed plain C struct, filled by getgrgid_r.
        let mut group: libc::group = unsafe { std::mem::zeroed() };
        let mut found = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call, the buffer's length is passed.
        let rc =
            unsafe { libc::getgrgid_r(gid, &mut group, buf.as_mut_ptr(), buf.len(), &mut found) };
        if rc != 0 || found.is_null() {
            return None;
        }
        // SAFETY: on success gr_name points into `buf`, NUL-terminated.
        let name = unsafe { CStr::from_ptr(group.gr_name) };
        Some(name.to_string_lossy().into_owned())
    }
}
