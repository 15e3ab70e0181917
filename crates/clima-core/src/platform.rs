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

/// Gives the calling thread a lower CPU priority than ingest's threads, for background work
/// that must never slow ingest down (the forwarders): with a core busy, the scheduler gives
/// it what the writer and the HTTP runtime leave, so a saturating load makes it lag (its
/// backlog waits on disk) rather than slowing the writer. On Linux the nice value is a
/// per-thread attribute, so this lowers only the calling thread. Elsewhere the thread keeps the
/// normal priority: forwarding then costs ingest its plain CPU share under a saturating load.
pub fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no preconditions; setpriority on our own thread id only changes
        // that thread's nice value (raising it needs no privilege).
        unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, BACKGROUND_NICE);
        }
    }
}

/// The forwarders' nice value: a tenth of a normal thread's CPU share when both want the core.
#[cfg(target_os = "linux")]
const BACKGROUND_NICE: libc::c_int = 10;
