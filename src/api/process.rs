//! The standard `process_*` metrics of Prometheus's client libraries
//! (resident and virtual memory, CPU seconds, open and maximum file
//! descriptors, start time), read from /proc on each scrape: a leak of
//! memory or descriptors in a long-running agent shows on the dashboards
//! every other exporter is graphed with.

use std::io;

/// What /proc says of this process now.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: f64,
    pub resident_memory_bytes: u64,
    pub virtual_memory_bytes: u64,
    pub start_time_seconds: f64,
    pub open_fds: u64,
    pub max_fds: Option<u64>,
}

impl ProcessStats {
    pub fn read() -> io::Result<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat")?;
        let boot_time = boot_time(&std::fs::read_to_string("/proc/stat")?)?;
        // SAFETY: sysconf only reads a configuration value.
        let (ticks, page_size) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        let mut stats = parse_stat(&stat, ticks as f64, page_size as u64, boot_time)?;
        stats.open_fds = std::fs::read_dir("/proc/self/fd")?.count() as u64;
        stats.max_fds = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|limits| max_open_files(&limits));
        Ok(stats)
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// proc_pid_stat(5): the fields after the command name, which is in
/// parentheses and may itself hold spaces and parentheses.
fn parse_stat(stat: &str, ticks: f64, page_size: u64, boot_time: u64) -> io::Result<ProcessStats> {
    let after_name = &stat[stat.rfind(')').ok_or_else(|| invalid("/proc/self/stat"))? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Field N of the manual page is fields[N - 3] here.
    let field = |n: usize| -> io::Result<u64> {
        fields
            .get(n - 3)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| invalid("/proc/self/stat"))
    };
    Ok(ProcessStats {
        cpu_seconds: (field(14)? + field(15)?) as f64 / ticks,
        start_time_seconds: boot_time as f64 + field(22)? as f64 / ticks,
        virtual_memory_bytes: field(23)?,
        resident_memory_bytes: field(24)? * page_size,
        open_fds: 0,
        max_fds: None,
    })
}

/// `btime` of /proc/stat: the boot time in seconds since the epoch.
fn boot_time(stat: &str) -> io::Result<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
        .ok_or_else(|| invalid("/proc/stat has no btime"))
}

/// The soft limit of "Max open files" in /proc/self/limits.
fn max_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_read_after_a_name_with_spaces_and_parentheses() {
        let stat = "4242 (hare (x) y) S 1 4242 4242 0 -1 4194560 500 0 0 0 \
                    250 150 0 0 20 0 9 0 1000 123456789 3000 18446744073709551615";
        let stats = parse_stat(stat, 100.0, 4096, 1_700_000_000).unwrap();
        assert_eq!(stats.cpu_seconds, 4.0);
        assert_eq!(stats.start_time_seconds, 1_700_000_010.0);
        assert_eq!(stats.virtual_memory_bytes, 123_456_789);
        assert_eq!(stats.resident_memory_bytes, 3000 * 4096);
    }

    #[test]
    fn limits_and_boot_time_are_found() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(max_open_files(limits), Some(1024));
        assert_eq!(
            boot_time("cpu  1 2 3\nbtime 1765000000\n").unwrap(),
            1_765_000_000
        );
    }

    #[test]
    fn this_process_is_read() {
        let stats = ProcessStats::read().unwrap();
        assert!(stats.resident_memory_bytes > 0);
        assert!(stats.open_fds > 0);
        assert!(stats.start_time_seconds > 1_600_000_000.0);
    }
}
