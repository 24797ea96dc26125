//! Peak memory of the benchmark process, as the kernel counts it.

/// The process's peak resident set (VmHWM), in MiB; NaN where /proc is not there.
pub fn peak_rss_mib() -> f64 {
    status_mib("VmHWM:")
}

/// A `kB` field of /proc/self/status, in MiB; NaN where it is not there.
fn status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Starts a new peak: hands the heap's free memory back to the system (glibc keeps it otherwise,
/// and the last run's garbage would count as this one's) and resets VmHWM to the resident set
/// now (`/proc/self/clear_refs`, Linux 4.0 on). Where that fails, the peak stays the process's.
#[allow(dead_code)] // not every benchmark measures runs one by one
#[allow(unsafe_code)] // malloc_trim has no safe wrapper; a benchmark-only call
pub fn reset_peak() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of glibc's own heap to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The process's resident set now (VmRSS), in MiB; NaN where /proc is not there.
#[allow(dead_code)] // not every benchmark measures memory per instance
pub fn rss_mib() -> f64 {
    status_mib("VmRSS:")
}
