//! What to tell a user whose serial port refuses to open for lack of permission: the reason,
//! and the fix that applies on their system.

/// The operating system the fix is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    Linux,
    MacOs,
    Windows,
    /// The BSDs and other Unix systems.
    OtherUnix,
}

impl System {
    /// The system this program was built for.
    pub const fn current() -> System {
        if cfg!(target_os = "linux") {
            System::Linux
        } else if cfg!(target_os = "macos") {
            System::MacOs
        } else if cfg!(windows) {
            System::Windows
        } else {
            System::OtherUnix
        }
    }
}

/// Who may open the device, as far as its file says (Unix only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceAccess {
    /// Members of this group may read and write it (`dialout`, `uucp`).
    Group(String),
    /// Only its owner (or root) may: no group to join.
    OwnerOnly,
    /// Not known (Windows, or the file could not be read).
    Unknown,
}

/// Why a port was refused, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub reason: String,
    pub hint: String,
}

/// The reason and the fix for `path`, which this user may not open.
pub fn denied(system: System, path: &str, access: &DeviceAccess) -> Denied {
    let reason = match access {
        DeviceAccess::Group(g) => {
            format!("permission denied: {path} may be opened by the group '{g}', and this user is not in it (or joined it since logging in)")
        }
        _ if system == System::Windows => {
            format!("access denied to {path}: on Windows this means another program has it open")
        }
        _ => format!("permission denied: this user may not open {path}"),
    };
    let hint = match (system, access) {
        (System::Linux, DeviceAccess::Group(g)) => format!(
            "run `sudo usermod -aG {g} $USER`, then log out and back in (the new group applies to new logins only)"
        ),
        (System::MacOs, DeviceAccess::Group(g)) => format!(
            "run `sudo dseditgroup -o edit -a $USER -t user {g}`, then log out and back in"
        ),
        (System::OtherUnix, DeviceAccess::Group(g)) => format!(
            "run `sudo pw groupmod {g} -m $USER` (or ask the administrator to add you to '{g}'), then log out and back in"
        ),
        (System::Linux, _) => format!(
            "a udev rule can give the logged-in user access to USB serial boards (TAG+=\"uaccess\"; Clima's package installs one), then unplug and replug the board; `ls -l {path}` shows who may open it now"
        ),
        (System::Windows, _) => "close the other program (a serial monitor, the Arduino IDE, another Clima); Clima opens the port again by itself".into(),
        (System::MacOs | System::OtherUnix, _) => format!(
            "`ls -l {path}` shows who may open it: ask the administrator to give your user read and write access"
        ),
    };
    Denied { reason, hint }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(system: System, access: DeviceAccess, reason: &[&str], hint: &[&str]) {
        let d = denied(system, "/dev/ttyUSB0", &access);
        for part in reason {
            assert!(d.reason.contains(part), "{part:?} not in {:?}", d.reason);
        }
        for part in hint {
            assert!(d.hint.contains(part), "{part:?} not in {:?}", d.hint);
        }
    }

    #[test]
    fn each_system_gets_its_own_fix() {
        let dialout = || DeviceAccess::Group("dialout".into());
        check(
            System::Linux,
            dialout(),
            &["/dev/ttyUSB0", "group 'dialout'", "not in it"],
            &["sudo usermod -aG dialout $USER", "log out and back in"],
        );
        check(
            System::Linux,
            DeviceAccess::Group("uucp".into()),
            &["'uucp'"],
            &["sudo usermod -aG uucp $USER"],
        );
        check(
            System::Linux,
            DeviceAccess::OwnerOnly,
            &["may not open /dev/ttyUSB0"],
            &["uaccess", "ls -l /dev/ttyUSB0"],
        );
        check(
            System::MacOs,
            dialout(),
            &["'dialout'"],
            &["dseditgroup -o edit -a $USER -t user dialout"],
        );
        check(
            System::OtherUnix,
            dialout(),
            &[],
            &["pw groupmod dialout -m $USER"],
        );
        check(
            System::Windows,
            DeviceAccess::Unknown,
            &["another program has it open"],
            &["close the other program"],
        );
        check(
            System::MacOs,
            DeviceAccess::Unknown,
            &["may not open"],
            &["ls -l /dev/ttyUSB0", "administrator"],
        );
    }

    #[test]
    fn no_system_but_linux_is_told_to_use_usermod() {
        for system in [System::MacOs, System::Windows, System::OtherUnix] {
            for access in [
                DeviceAccess::Group("dialout".into()),
                DeviceAccess::OwnerOnly,
                DeviceAccess::Unknown,
            ] {
                let d = denied(system, "COM3", &access);
                assert!(!d.hint.contains("usermod"), "{system:?}: {}", d.hint);
            }
        }
    }
}
