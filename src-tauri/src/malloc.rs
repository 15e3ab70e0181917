//! Tunes the C allocator for a process left running for weeks: with glibc, at most two malloc
//! arenas.
//!
//! glibc gives threads up to eight arenas per core, and each keeps the pages of its own high
//! point. The window's commands run on short-lived blocking threads that land on a different
//! arena each time, so the process's heap crept up for as long as it ran (measured with
//! `malloc_stats()`: 16 arenas, 24 MB held for 10 MB in use after 7 minutes, still rising).
//! Two arenas are plenty for a handful of busy threads. Other C libraries (musl, macOS,
//! Windows) manage their heaps their own way: nothing is set there.

/// Call first thing in `main`, before any other thread starts.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
