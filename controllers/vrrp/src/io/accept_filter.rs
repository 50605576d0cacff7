//! Accept mode off (RFC 5798 §6.4.3): a master that is not the
//! address owner must not accept packets addressed to its VIPs, except what
//! keeps the VIPs working as a router address: ARP (not IP, so never
//! filtered) and IPv6 neighbour discovery, whose unicast probes are sent to
//! the VIP itself.
//!
//! The agent enforces it with one nftables table of its own,
//! `inet hareconcile_vrrp`: sets of the non-accepting VIPs of every
//! instance it runs, and a prerouting chain dropping packets to them while
//! they are local addresses (held as master). An instance's VIPs are in the
//! sets for its whole life, not only while master: a VIP this node does not
//! hold is not local, so the rule costs nothing on a backup, and becoming
//! master starts no process on the failover's critical path.
//!
//! Prerouting rather than input: Docker publishes a stack's ports by DNAT
//! in prerouting, so packets to a published port on the VIP are forwarded
//! to the container and never reach an input chain. At priority `raw` the
//! drop also comes before conntrack and DNAT.
//!
//! Through the `nft` CLI rather than a netlink crate: each update is one
//! complete script that `nft -f` applies as one atomic transaction (the
//! table replaced whole, never half-updated), updates happen only when an
//! instance starts or stops, and it adds no dependency to the agent (which
//! keeps its memory small). A missing `nft` only matters to the VirtualIPs
//! that turn accept mode off: their instances do not start, and say why.
//!
//! Nothing tells the agent when someone else changes the table (`nft flush
//! ruleset`, `nft delete table`), so the controller's periodic resync
//! compares the kernel's listing of it with the one taken right after the
//! agent wrote it, and writes it again when they differ ([`Restored`]).

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::IpAddr;
use std::process::Output;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use hareconcile_runtime::process_group::{self, Ended};
use thiserror::Error;
use tokio::process::Command;
use tokio::sync::Mutex;

/// The agent's own table; no other table is ever touched.
pub const TABLE: &str = "hareconcile_vrrp";
/// `nft` answers in milliseconds; a hung one must not hold up the controller.
const NFT_TIMEOUT: Duration = Duration::from_secs(10);
/// Every VirtualIP's reconcile resyncs the filter: the kernel's table is
/// listed at most this often, not once per VirtualIP.
const CHECK_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, Error)]
pub enum FilterError {
    #[error("accept: false needs nftables' `nft` command to drop traffic to the VIPs, and it cannot be run ({0}): install nftables or set accept: true")]
    NftMissing(#[source] io::Error),
    #[error("running nft: {0}")]
    Nft(#[source] io::Error),
    #[error("nft did not answer within {NFT_TIMEOUT:?}")]
    Timeout,
    #[error("nft refused the table {TABLE} for the VIPs that do not accept traffic: {0}")]
    Refused(String),
    #[error("nft cannot list the table {TABLE}: {0}")]
    Unlisted(String),
}

/// What a resync found of the table, changed by someone else, and wrote again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restored {
    /// Deleted (`nft flush ruleset`, `nft delete table`).
    Missing,
    /// Still there, with other sets, elements, chains or rules.
    Changed,
}

/// The VIPs of this agent's instances that must not accept traffic, and
/// the table enforcing them. Clones share one table.
#[derive(Clone, Default)]
pub struct AcceptFilter {
    filters: Arc<Mutex<Filters>>,
    /// Why the last check of the kernel's table could not keep it as
    /// written; readable without waiting for an nft run in progress.
    unenforced: Arc<std::sync::Mutex<Option<String>>>,
}

struct Filters {
    /// Each instance's non-accepting VIPs, by instance name.
    by_instance: BTreeMap<String, BTreeSet<IpAddr>>,
    /// What the kernel's table holds: `None` until first applied, as a
    /// table left by an earlier run may hold anything.
    applied: Option<BTreeSet<IpAddr>>,
    /// Whether a table left by an earlier run was dealt with (or tried).
    leftovers_cleared: bool,
    /// The kernel's listing of the table right after it was last written
    /// with VIPs: what it must still list. `None` without VIPs.
    listed: Option<String>,
    /// When the kernel's table was last compared with `listed`.
    checked: Option<Instant>,
    check_every: Duration,
    /// The command applying a script read from stdin: `nft -f -`, nft
    /// found on `PATH`.
    nft: Vec<String>,
    /// The command listing the table: `nft list table inet hareconcile_vrrp`.
    list: Vec<String>,
}

impl Default for Filters {
    fn default() -> Self {
        Filters {
            by_instance: BTreeMap::new(),
            applied: None,
            leftovers_cleared: false,
            listed: None,
            checked: None,
            check_every: CHECK_EVERY,
            nft: ["nft", "-f", "-"].map(String::from).to_vec(),
            list: ["nft", "list", "table", "inet", TABLE]
                .map(String::from)
                .to_vec(),
        }
    }
}

impl Filters {
    fn desired(&self) -> BTreeSet<IpAddr> {
        self.by_instance.values().flatten().copied().collect()
    }

    /// Brings the table in line with `by_instance`.
    async fn sync(&mut self) -> Result<(), FilterError> {
        let desired = self.desired();
        if self.applied.as_ref() == Some(&desired) {
            return Ok(());
        }
        match apply(&self.nft, &script(&desired)).await {
            Ok(()) => {}
            // Without nft no table of ours can be enforcing anything either.
            Err(FilterError::NftMissing(_)) if desired.is_empty() => {}
            Err(error) => return Err(error),
        }
        self.listed = match desired.is_empty() {
            true => None,
            false => listing(&self.list).await?,
        };
        self.applied = Some(desired);
        Ok(())
    }

    /// Whether the kernel's table is to be checked now: it holds VIPs and
    /// was last checked `check_every` ago or more.
    fn check_due(&mut self) -> bool {
        let due = self
            .checked
            .is_none_or(|at| at.elapsed() >= self.check_every);
        if due {
            self.checked = Some(Instant::now());
        }
        due
    }

    /// Compares the kernel's table with what was written and writes it
    /// again if someone changed it.
    async fn verify(&mut self) -> Result<Option<Restored>, FilterError> {
        let desired = self.desired();
        let kernel = listing(&self.list).await?;
        if kernel.is_some() && kernel == self.listed {
            return Ok(None);
        }
        apply(&self.nft, &script(&desired)).await?;
        self.listed = listing(&self.list).await?;
        Ok(Some(match kernel {
            None => Restored::Missing,
            Some(_) => Restored::Changed,
        }))
    }
}

impl AcceptFilter {
    /// Drops traffic to `vips` while this node holds them, on behalf of
    /// `instance`, until [`AcceptFilter::release`]. Nothing is recorded
    /// when the table cannot be updated.
    pub async fn enforce(
        &self,
        instance: &str,
        vips: impl IntoIterator<Item = IpAddr>,
    ) -> Result<(), FilterError> {
        let mut filters = self.filters.lock().await;
        let previous = filters
            .by_instance
            .insert(instance.to_string(), vips.into_iter().collect());
        let synced = filters.sync().await;
        if synced.is_ok() {
            // Written and listed just now.
            self.set_unenforced(None);
        } else {
            match previous {
                Some(previous) => filters.by_instance.insert(instance.to_string(), previous),
                None => filters.by_instance.remove(instance),
            };
        }
        synced
    }

    /// Stops filtering `instance`'s VIPs (none is fine); the table goes
    /// with the last of them. After a failure, [`AcceptFilter::resync`]
    /// tries again.
    pub async fn release(&self, instance: &str) -> Result<(), FilterError> {
        let mut filters = self.filters.lock().await;
        filters.by_instance.remove(instance);
        filters.sync().await
    }

    /// Stops filtering anything and deletes the table: on the agent's way
    /// out, whatever instance failed to release its VIPs.
    pub async fn release_all(&self) -> Result<(), FilterError> {
        let mut filters = self.filters.lock().await;
        filters.by_instance.clear();
        filters.sync().await
    }

    /// Brings the table in line: the first time, replacing a table left by
    /// an earlier run (which may filter VIPs that accept traffic now);
    /// later, retrying an update that failed (a release the VIP's next,
    /// accepting instance would otherwise leave filtered), and putting
    /// back a table someone else deleted or changed, which it reports. A
    /// no-op when in line, and when nft never worked here.
    pub async fn resync(&self) -> Result<Option<Restored>, FilterError> {
        let mut filters = self.filters.lock().await;
        let first = !std::mem::replace(&mut filters.leftovers_cleared, true);
        if !first && filters.applied.is_none() {
            return Ok(None);
        }
        filters.sync().await?;
        if filters.desired().is_empty() {
            self.set_unenforced(None);
            return Ok(None);
        }
        if !filters.check_due() {
            return Ok(None);
        }
        let verified = filters.verify().await;
        self.set_unenforced(verified.as_ref().err().map(ToString::to_string));
        verified
    }

    /// Why traffic to the VIPs without accept mode may not be dropped: the
    /// last check could not list the table or put it back. `None` when it
    /// could, or nothing was checked.
    pub fn unenforced(&self) -> Option<String> {
        self.unenforced
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_unenforced(&self, why: Option<String>) {
        *self
            .unenforced
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = why;
    }
}

/// The nft script making the table filter exactly `vips`: the table is
/// created (so that deleting it cannot fail), deleted and declared afresh,
/// all in one transaction; without VIPs it is only deleted.
fn script(vips: &BTreeSet<IpAddr>) -> String {
    let mut script = format!("table inet {TABLE}\ndelete table inet {TABLE}\n");
    if vips.is_empty() {
        return script;
    }
    let v4: Vec<String> = vips
        .iter()
        .filter(|vip| vip.is_ipv4())
        .map(IpAddr::to_string)
        .collect();
    let v6: Vec<String> = vips
        .iter()
        .filter(|vip| vip.is_ipv6())
        .map(IpAddr::to_string)
        .collect();
    script.push_str(&format!(
        "table inet {TABLE} {{\n\
         \tset no_accept_v4 {{\n\t\ttype ipv4_addr\n{v4}\t}}\n\
         \tset no_accept_v6 {{\n\t\ttype ipv6_addr\n{v6}\t}}\n\
         \tchain prerouting {{\n\
         \t\ttype filter hook prerouting priority raw; policy accept;\n\
         \t\tiifname \"lo\" accept\n\
         \t\tip6 daddr @no_accept_v6 icmpv6 type {{ nd-neighbor-solicit, nd-neighbor-advert }} accept\n\
         \t\tip daddr @no_accept_v4 fib daddr type local drop\n\
         \t\tip6 daddr @no_accept_v6 fib daddr type local drop\n\
         \t}}\n\
         }}\n",
        v4 = elements(&v4),
        v6 = elements(&v6),
    ));
    script
}

/// A set's `elements` line; nft refuses an empty one.
fn elements(addresses: &[String]) -> String {
    if addresses.is_empty() {
        String::new()
    } else {
        format!("\t\telements = {{ {} }}\n", addresses.join(", "))
    }
}

/// Runs `nft -f -` on `script`.
async fn apply(nft: &[String], script: &str) -> Result<(), FilterError> {
    let output = run(nft, script).await?;
    if output.status.success() {
        Ok(())
    } else {
        Err(FilterError::Refused(stderr_of(&output)))
    }
}

/// The kernel's listing of the table, `None` when there is no such table.
async fn listing(list: &[String]) -> Result<Option<String>, FilterError> {
    let output = run(list, "").await?;
    let stderr = stderr_of(&output);
    if output.status.success() {
        Ok(Some(String::from_utf8_lossy(&output.stdout).into_owned()))
    } else if stderr.contains("No such file or directory") {
        Ok(None)
    } else {
        Err(FilterError::Unlisted(stderr))
    }
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).trim().to_string()
}

/// Runs `command` with `input` on its stdin, bounded by [`NFT_TIMEOUT`].
async fn run(command: &[String], input: &str) -> Result<Output, FilterError> {
    let (program, args) = command.split_first().expect("a command is configured");
    let ran = process_group::output_with_input(
        Command::new(program).args(args),
        input.as_bytes(),
        NFT_TIMEOUT,
        std::future::pending(),
    )
    .await;
    ran.map_err(|ended| match ended {
        Ended::Spawn { source, .. }
            if matches!(
                source.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
            ) =>
        {
            FilterError::NftMissing(source)
        }
        Ended::Spawn { source, .. } | Ended::Wait(source) => FilterError::Nft(source),
        Ended::Timeout(_) | Ended::Cancelled => FilterError::Timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vips(list: &[&str]) -> BTreeSet<IpAddr> {
        list.iter().map(|vip| vip.parse().unwrap()).collect()
    }

    /// Enforces web's one address, 10.77.0.100, which must succeed.
    async fn enforce_web(filter: &AcceptFilter) {
        let web = vips(&["10.77.0.100"]);
        filter.enforce("web/ipv4", web).await.unwrap();
    }

    #[test]
    fn without_vips_the_table_is_only_deleted() {
        assert_eq!(
            script(&BTreeSet::new()),
            "table inet hareconcile_vrrp\ndelete table inet hareconcile_vrrp\n"
        );
    }

    #[test]
    fn the_table_is_replaced_whole_with_each_family_in_its_set() {
        let script = script(&vips(&["10.77.0.101", "fd00::100", "10.77.0.100"]));
        assert!(
            script.starts_with("table inet hareconcile_vrrp\ndelete table inet hareconcile_vrrp\ntable inet hareconcile_vrrp {\n"),
            "{script}"
        );
        assert!(
            script.contains(
                "set no_accept_v4 {\n\t\ttype ipv4_addr\n\t\telements = { 10.77.0.100, 10.77.0.101 }\n\t}"
            ),
            "{script}"
        );
        assert!(
            script.contains(
                "set no_accept_v6 {\n\t\ttype ipv6_addr\n\t\telements = { fd00::100 }\n\t}"
            ),
            "{script}"
        );
    }

    #[test]
    fn a_family_without_vips_has_an_empty_set() {
        let script = script(&vips(&["10.77.0.100"]));
        assert!(
            script.contains("set no_accept_v6 {\n\t\ttype ipv6_addr\n\t}"),
            "{script}"
        );
        assert_eq!(script.matches("elements").count(), 1, "{script}");
    }

    #[test]
    fn held_vips_drop_all_but_loopback_and_neighbour_discovery() {
        let script = script(&vips(&["10.77.0.100", "fd00::100"]));
        let rules: Vec<&str> = script
            .lines()
            .map(str::trim)
            .skip_while(|line| !line.starts_with("chain prerouting"))
            .skip(1)
            .take_while(|line| *line != "}")
            .collect();
        assert_eq!(
            rules,
            [
                // Before conntrack and Docker's DNAT of published ports.
                "type filter hook prerouting priority raw; policy accept;",
                // The node's own traffic to its VIP is not received traffic.
                "iifname \"lo\" accept",
                // Unicast neighbour solicitations go to the VIP itself.
                "ip6 daddr @no_accept_v6 icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept",
                // Only where the VIP is local, i.e. on the master.
                "ip daddr @no_accept_v4 fib daddr type local drop",
                "ip6 daddr @no_accept_v6 fib daddr type local drop",
            ]
        );
    }

    use std::path::{Path, PathBuf};

    /// Instead of nft: appends each script to `log`.
    fn recorder(log: &Path) -> Vec<String> {
        let record = format!("cat >> {0}; echo --- >> {0}", log.display());
        ["sh", "-c", &record].map(String::from).to_vec()
    }

    fn missing_nft() -> Vec<String> {
        vec!["/nonexistent/nft".to_string()]
    }

    fn recording(dir: &Path) -> (AcceptFilter, PathBuf) {
        let log = dir.join("scripts");
        let filter = AcceptFilter::default();
        let mut filters = filter.filters.try_lock().unwrap();
        filters.nft = recorder(&log);
        filters.list = ["sh", "-c", "echo table"].map(String::from).to_vec();
        drop(filters);
        (filter, log)
    }

    /// Instead of the kernel: `nft -f` writes the script to `table`,
    /// listing prints it, or fails as nft does when there is none.
    fn kernel(dir: &Path) -> (AcceptFilter, PathBuf) {
        let table = dir.join("table");
        let filter = AcceptFilter::default();
        let mut filters = filter.filters.try_lock().unwrap();
        let write = format!("cat > {}", table.display());
        filters.nft = ["sh", "-c", &write].map(String::from).to_vec();
        let list = format!(
            "cat {} 2>/dev/null || {{ echo 'Error: No such file or directory' >&2; exit 1; }}",
            table.display()
        );
        filters.list = ["sh", "-c", &list].map(String::from).to_vec();
        filters.check_every = Duration::ZERO;
        drop(filters);
        (filter, table)
    }

    #[tokio::test]
    async fn a_table_deleted_or_changed_by_hand_is_put_back_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let (filter, table) = kernel(dir.path());
        let web = vips(&["10.77.0.100"]);
        filter.enforce("web/ipv4", web.clone()).await.unwrap();
        let written = std::fs::read_to_string(&table).unwrap();
        assert_eq!(written, script(&web));
        assert_eq!(filter.resync().await.unwrap(), None, "in line");

        // nft flush ruleset
        std::fs::remove_file(&table).unwrap();
        assert_eq!(filter.resync().await.unwrap(), Some(Restored::Missing));
        assert_eq!(std::fs::read_to_string(&table).unwrap(), written);
        assert_eq!(filter.resync().await.unwrap(), None);

        // nft flush table / delete rule
        std::fs::write(&table, "table inet hareconcile_vrrp {\n}\n").unwrap();
        assert_eq!(filter.resync().await.unwrap(), Some(Restored::Changed));
        assert_eq!(std::fs::read_to_string(&table).unwrap(), written);

        // Without VIPs there is nothing to keep.
        filter.release("web/ipv4").await.unwrap();
        std::fs::remove_file(&table).unwrap();
        assert_eq!(filter.resync().await.unwrap(), None);
    }

    #[tokio::test]
    async fn the_kernel_is_listed_at_most_every_check_interval() {
        let dir = tempfile::tempdir().unwrap();
        let (filter, table) = kernel(dir.path());
        filter.filters.lock().await.check_every = Duration::from_secs(3600);
        enforce_web(&filter).await;
        assert_eq!(filter.resync().await.unwrap(), None);
        std::fs::remove_file(&table).unwrap();
        assert_eq!(filter.resync().await.unwrap(), None, "not due yet");
        filter.filters.lock().await.check_every = Duration::ZERO;
        assert_eq!(filter.resync().await.unwrap(), Some(Restored::Missing));
    }

    #[tokio::test]
    async fn a_listing_that_fails_otherwise_is_an_error_not_a_restore() {
        let dir = tempfile::tempdir().unwrap();
        let (filter, _) = kernel(dir.path());
        enforce_web(&filter).await;
        let denied = "echo 'Error: Operation not permitted' >&2; exit 1";
        filter.filters.lock().await.list = ["sh", "-c", denied].map(String::from).to_vec();
        let error = filter.resync().await.unwrap_err();
        assert!(matches!(error, FilterError::Unlisted(_)), "{error}");
        let why = filter
            .unenforced()
            .expect("reported until a check succeeds");
        assert!(why.ends_with("Error: Operation not permitted"), "{why}");
        let table = dir.path().join("table").display().to_string();
        filter.filters.lock().await.list = vec!["cat".to_string(), table];
        filter.resync().await.unwrap();
        assert_eq!(filter.unenforced(), None);
    }

    fn applied(log: &Path) -> Vec<String> {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .split("---\n")
            .filter(|script| !script.is_empty())
            .map(str::to_string)
            .collect()
    }

    #[tokio::test]
    async fn instances_share_the_table_which_goes_with_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let (filter, log) = recording(dir.path());
        filter.resync().await.unwrap();
        assert_eq!(applied(&log), [script(&BTreeSet::new())]);
        filter.resync().await.unwrap();
        enforce_web(&filter).await;
        filter
            .enforce("db/ipv6", vips(&["fd00::101"]))
            .await
            .unwrap();
        // Unchanged: nft is not run again.
        enforce_web(&filter).await;
        filter.release("web/ipv4").await.unwrap();
        filter.release("web/ipv4").await.unwrap();
        filter.release("db/ipv6").await.unwrap();
        assert_eq!(
            applied(&log),
            [
                script(&BTreeSet::new()),
                script(&vips(&["10.77.0.100"])),
                script(&vips(&["10.77.0.100", "fd00::101"])),
                script(&vips(&["fd00::101"])),
                script(&BTreeSet::new()),
            ]
        );
    }

    #[tokio::test]
    async fn a_failed_update_records_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (filter, log) = recording(dir.path());
        enforce_web(&filter).await;
        filter.filters.lock().await.nft = missing_nft();
        let error = filter
            .enforce("db/ipv4", vips(&["10.77.0.101"]))
            .await
            .unwrap_err();
        assert!(matches!(error, FilterError::NftMissing(_)), "{error}");
        assert!(error
            .to_string()
            .contains("install nftables or set accept: true"));
        // Back with nft: only what succeeded is in the table.
        filter.filters.lock().await.nft = recorder(&log);
        filter
            .enforce("web/ipv6", vips(&["fd00::100"]))
            .await
            .unwrap();
        assert_eq!(
            applied(&log).last().unwrap(),
            &script(&vips(&["10.77.0.100", "fd00::100"]))
        );
    }

    #[tokio::test]
    async fn what_nft_refuses_is_reported_with_its_reason() {
        let filter = AcceptFilter::default();
        let refuse = "cat > /dev/null; echo 'Error: No such file or directory' >&2; exit 1";
        filter.filters.lock().await.nft = ["sh", "-c", refuse].map(String::from).to_vec();
        let error = filter
            .enforce("web/ipv4", vips(&["10.77.0.100"]))
            .await
            .unwrap_err();
        assert!(matches!(error, FilterError::Refused(_)), "{error}");
        assert!(
            error
                .to_string()
                .ends_with(": Error: No such file or directory"),
            "{error}"
        );
        assert!(filter.filters.lock().await.by_instance.is_empty());
    }

    #[tokio::test]
    async fn a_failed_release_is_retried_by_the_next_resync() {
        let dir = tempfile::tempdir().unwrap();
        let (filter, log) = recording(dir.path());
        filter.resync().await.unwrap();
        enforce_web(&filter).await;
        filter.filters.lock().await.nft = ["sh", "-c", "exit 1"].map(String::from).to_vec();
        filter.release("web/ipv4").await.unwrap_err();
        filter.filters.lock().await.nft = recorder(&log);
        filter.resync().await.unwrap();
        filter.resync().await.unwrap();
        assert_eq!(
            applied(&log),
            [
                script(&BTreeSet::new()),
                script(&vips(&["10.77.0.100"])),
                script(&BTreeSet::new()),
            ]
        );
    }

    #[tokio::test]
    async fn without_nft_accepting_instances_still_run() {
        let filter = AcceptFilter::default();
        filter.filters.lock().await.nft = missing_nft();
        filter.resync().await.unwrap();
        filter.release("web/ipv4").await.unwrap();
    }
}
