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

/// Makes the calling thread background work that must never slow ingest down (the
/// forwarders): with a core busy, the scheduler gives it only what the writer and the HTTP
/// runtime leave, so a saturating load makes it lag (its backlog waits on disk) rather than
/// slowing the writer, and it runs at full speed whenever the core has time to spare.
/// - Linux: the `SCHED_IDLE` policy (a per-thread attribute; needs no privilege), or nice 19
///   where a kernel refuses it.
/// - macOS: the background quality-of-service class.
/// - Windows: the background processing mode (lower CPU, disk and memory priority).
pub fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: pid 0 is the calling thread; the policy and a valid parameter struct only
        // lower its own priority. gettid has no preconditions, and setpriority on our own
        // thread id only raises its nice value.
        unsafe {
            if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) != 0 {
                let tid = libc::gettid();
                libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19);
            }
        }
    }
    #[cfg(target_os = "macos")]
    {
        // SAFETY: sets the calling thread's own class; no pointers are involved.
        unsafe {
            libc::pthread_set_qos_class_self_np(libc::qos_class_t::QOS_CLASS_BACKGROUND, 0);
        }
    }
    #[cfg(windows)]
    {
        use windows_sys::Win32::System::Threading::{
            GetCurrentThread, SetThreadPriority, THREAD_MODE_BACKGROUND_BEGIN,
        };
        // SAFETY: GetCurrentThread returns a pseudo-handle to the calling thread, the only
        // thread this mode may be set on.
        unsafe {
            SetThreadPriority(GetCurrentThread(), THREAD_MODE_BACKGROUND_BEGIN);
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn background_threads_yield_to_every_other_thread() {
        let (policy, nice) = std::thread::spawn(|| {
            super::lower_thread_priority();
            // SAFETY: reads the calling thread's own policy and nice value.
            unsafe {
                let tid = libc::gettid() as libc::id_t;
                (
                    libc::sched_getscheduler(0),
                    libc::getpriority(libc::PRIO_PROCESS, tid),
                )
            }
        })
        .join()
        .unwrap();
        // The idle class, or nice 19 where a sandbox refuses the class.
        assert!(policy == libc::SCHED_IDLE || nice == 19, "{policy} {nice}");
        // The caller's own thread is untouched.
        // SAFETY: as above.
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
    }
}
