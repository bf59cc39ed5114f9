//! What a soak samples and how: a process by id, or the PostgreSQL backends of a database
//! summed, each read from `/proc` (resident memory, open files, threads, CPU time).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::report;

/// A process named on the command line as `NAME=PID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    pub name: String,
    pub pid: u32,
}

/// How a `--watch` value can be wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatchedError {
    #[error("`{0}` is not NAME=PID")]
    NotNameAndPid(String),
    #[error("`{0}` is not a process id")]
    NotAPid(String),
}

impl FromStr for Watched {
    type Err = WatchedError;

    fn from_str(s: &str) -> Result<Watched, WatchedError> {
        let (name, pid) = s.split_once('=').ok_or_else(|| WatchedError::NotNameAndPid(s.into()))?;
        if name.trim().is_empty() {
            return Err(WatchedError::NotNameAndPid(s.into()));
        }
        let pid = pid.trim().parse().map_err(|_| WatchedError::NotAPid(pid.into()))?;
        Ok(Watched { name: name.trim().into(), pid })
    }
}

/// One row of a soak's samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Process(Watched),
    /// Every PostgreSQL backend serving `database`, summed. Backends come and go with the
    /// clients' pools, so they are looked up again at every sample.
    DatabaseBackends {
        database: String,
    },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Process(Watched { name, pid }) => write!(f, "{name} (pid {pid})"),
            Target::DatabaseBackends { database } => write!(f, "postgres backends of {database}"),
        }
    }
}

/// What a row used at one instant. Over several processes, the sums.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Usage {
    /// Processes summed (1 for a process by id).
    pub processes: u64,
    /// Resident memory (`VmRSS`), in bytes. Summed over backends it counts PostgreSQL's shared
    /// buffers once per backend that touched them.
    pub rss_bytes: u64,
    /// Of that, shared memory (`RssShmem`): for PostgreSQL, the shared buffers the process
    /// has touched, which grow as it reads more of the tables without being its own.
    pub rss_shmem_bytes: u64,
    /// Open file descriptors (entries of `/proc/<pid>/fd`).
    pub fds: u64,
    /// Threads (entries of `/proc/<pid>/task`).
    pub threads: u64,
    /// CPU seconds used since the process started, user and system. Summed over backends,
    /// those that have exited are no longer counted.
    pub cpu_secs: f64,
}

impl Target {
    /// The row's usage now; `None` when its process is gone.
    pub fn read(&self) -> Option<Usage> {
        match self {
            Target::Process(Watched { pid, .. }) => read_process(*pid),
            Target::DatabaseBackends { database } => {
                let usages = backends_of(database).into_iter().filter_map(read_process);
                Some(usages.fold(Usage::default(), |sum, u| Usage {
                    processes: sum.processes + u.processes,
                    rss_bytes: sum.rss_bytes + u.rss_bytes,
                    rss_shmem_bytes: sum.rss_shmem_bytes + u.rss_shmem_bytes,
                    fds: sum.fds + u.fds,
                    threads: sum.threads + u.threads,
                    cpu_secs: sum.cpu_secs + u.cpu_secs,
                }))
            }
        }
    }
}

fn read_process(pid: u32) -> Option<Usage> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let entries = |dir: &str| std::fs::read_dir(format!("/proc/{pid}/{dir}")).map_or(0, |d| d.count() as u64);
    Some(Usage {
        processes: 1,
        rss_bytes: kib_of_status(&status, "VmRSS:")? * 1024,
        rss_shmem_bytes: kib_of_status(&status, "RssShmem:").unwrap_or(0) * 1024,
        fds: entries("fd"),
        threads: entries("task"),
        cpu_secs: report::cpu_secs_of_stat(&stat)?,
    })
}

/// A field of a `/proc/<pid>/status` in KiB (the file says kB), e.g. `VmRSS:`.
fn kib_of_status(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The running PostgreSQL backends serving `database`.
fn backends_of(database: &str) -> Vec<u32> {
    let running = std::fs::read_dir("/proc").into_iter().flatten().flatten();
    let numbered = running.filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok());
    numbered
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| is_backend_of(&String::from_utf8_lossy(&cmdline), database))
        })
        .collect()
}

/// Whether a process title is a backend's of `database`: PostgreSQL sets it to
/// `postgres: [CLUSTER: ]USER DATABASE CLIENT ACTIVITY` (the cluster part where
/// `cluster_name` is set, as Debian's `15/main:`).
fn is_backend_of(title: &str, database: &str) -> bool {
    let mut words = title.split(['\0', ' ']).filter(|w| !w.is_empty());
    if words.next() != Some("postgres:") {
        return false;
    }
    let mut words = words.skip_while(|w| w.ends_with(':'));
    let _user = words.next();
    words.next() == Some(database)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watched_process_is_a_name_and_a_pid() {
        assert_eq!("node-8080=1234".parse::<Watched>(), Ok(Watched { name: "node-8080".into(), pid: 1234 }));
        assert_eq!("nats".parse::<Watched>(), Err(WatchedError::NotNameAndPid("nats".into())));
        assert_eq!("=12".parse::<Watched>(), Err(WatchedError::NotNameAndPid("=12".into())));
        assert_eq!("nats=".parse::<Watched>(), Err(WatchedError::NotAPid("".into())));
        assert_eq!("nats=x1".parse::<Watched>(), Err(WatchedError::NotAPid("x1".into())));
    }

    #[test]
    fn memory_fields_are_read_in_kib() {
        let status = "Name:\tpostgres\nVmPeak:\t  900 kB\nVmRSS:\t   51200 kB\nRssShmem:\t 40000 kB\n";
        assert_eq!(kib_of_status(status, "VmRSS:"), Some(51200));
        assert_eq!(kib_of_status(status, "RssShmem:"), Some(40000));
        assert_eq!(kib_of_status("Name:\tkthreadd\n", "VmRSS:"), None);
    }

    #[test]
    fn backends_are_told_by_their_database_with_or_without_a_cluster_name() {
        assert!(is_backend_of("postgres: 15/main: postgres soak1 127.0.0.1(50412) idle", "soak1"));
        assert!(is_backend_of("postgres: app soak1 [local] INSERT\0\0\0", "soak1"));
        assert!(!is_backend_of("postgres: 15/main: postgres soak10 127.0.0.1(50412) idle", "soak1"));
        assert!(!is_backend_of("postgres: 15/main: soak1 postgres 127.0.0.1(50412) idle", "soak1"));
        assert!(!is_backend_of("postgres: 15/main: checkpointer ", "soak1"));
        assert!(!is_backend_of("/usr/lib/postgresql/15/bin/postgres\0-D\0soak1", "soak1"));
    }

    #[test]
    fn this_process_can_be_read() {
        let me = Target::Process(Watched { name: "bench".into(), pid: std::process::id() });
        let usage = me.read().expect("this process runs");
        assert_eq!(usage.processes, 1);
        assert!(usage.rss_bytes > 0 && usage.fds > 0 && usage.threads > 0);
        let gone = Target::Process(Watched { name: "gone".into(), pid: u32::MAX });
        assert_eq!(gone.read(), None);
    }

    #[test]
    fn a_database_without_backends_sums_to_nothing() {
        let none = Target::DatabaseBackends { database: "no_such_database_here".into() };
        assert_eq!(none.read(), Some(Usage::default()));
    }
}
