//! What differs between operating systems for the engine itself, one function per concern.

/// Lets the process hold as many descriptors as the system allows it: each HTTP connection
/// holds one. On Unix the soft limit is raised to the hard one. Windows has no such per-process
/// descriptor limit for sockets, so there is nothing to raise.
pub fn raise_open_file_limit() {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: reading and setting this process's own limit through a valid struct.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
                lim.rlim_cur = lim.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            }
        }
    }
}
