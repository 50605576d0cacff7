//! One side of a two-way round, this node or a peer over ssh, and the
//! shell lines a round runs on it: scan, digest, install. Every path in a
//! line is shell-quoted; every list a side prints is NUL-separated, so no
//! file name can break either.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hareconcile_model::Filter;

use super::decide::{Fingerprint, Scan};
use crate::process::{self, Finished};
use crate::remote::{shell_quote, ssh_run, Link};
use crate::term::{Meta, META_DIR};

/// Bounds one scan, digest or install on a side.
const STEP_TIMEOUT: Duration = Duration::from_secs(600);

/// The fields of `find -printf` that make a fingerprint (see
/// [`super::decide::Fingerprint`]).
const PRINT: &str = "%y %i %s %m %T@";

/// Where a side's commands run.
#[derive(Debug, Clone)]
pub enum Side {
    Local,
    Remote { link: Link, host: String },
}

impl Side {
    fn argv(&self, line: String) -> Vec<String> {
        match self {
            Side::Local => vec!["sh".into(), "-c".into(), line],
            Side::Remote { link, host } => ssh_run(link, host, line),
        }
    }

    /// Runs a shell line on this side; its stdout on success.
    pub async fn run(&self, line: String) -> Result<String, String> {
        match process::run(&self.argv(line), STEP_TIMEOUT).await {
            Ok(Finished {
                success: true,
                stdout,
                ..
            }) => Ok(stdout),
            Ok(out) => Err(out.complaint()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The files and symbolic links below `data` that `filter` copies,
    /// with their fingerprints; the metadata directory never.
    pub async fn scan(&self, data: &Path, filter: &Filter) -> Result<Scan, String> {
        let line = format!(
            "cd {} && find . -mindepth 1 -path ./{META_DIR} -prune -o \\( -type f -o -type l \\) -printf '{PRINT} %P\\0'",
            quote(data)
        );
        parse_scan(&self.run(line).await?, filter)
    }

    /// The SHA-256 of each of `paths` (relative to `data`).
    pub async fn digests(
        &self,
        data: &Path,
        paths: &[&String],
    ) -> Result<BTreeMap<String, String>, String> {
        let mut digests = BTreeMap::new();
        // A command line's one argument is at most 128 KiB: in chunks.
        for chunk in paths.chunks(200) {
            let names: Vec<String> = chunk.iter().map(|p| shell_quote(p)).collect();
            let line = format!("cd {} && sha256sum -z -- {}", quote(data), names.join(" "));
            for record in self.run(line).await?.split('\0').filter(|r| !r.is_empty()) {
                if let Some((hash, name)) = record.split_once("  ") {
                    digests.insert(name.to_string(), hash.to_string());
                }
            }
        }
        Ok(digests)
    }
}

fn quote(path: &Path) -> String {
    shell_quote(&path.to_string_lossy())
}

/// `find`'s records into a scan, keeping what `filter` copies.
pub fn parse_scan(out: &str, filter: &Filter) -> Result<Scan, String> {
    let mut scan = Scan::new();
    for record in out.split('\0').filter(|r| !r.is_empty()) {
        let mut fields = record.splitn(6, ' ');
        let fingerprint: Vec<&str> = fields.by_ref().take(5).collect();
        let path = fields
            .next()
            .filter(|_| fingerprint.len() == 5)
            .ok_or_else(|| format!("unreadable scan record {record:?}"))?;
        if filter.copies(path, false) {
            scan.insert(path.to_string(), fingerprint.join(" "));
        }
    }
    Ok(scan)
}

/// Where files in flight wait on the receiving side.
pub fn incoming(data: &Path) -> PathBuf {
    Meta::of(data).dir().join("incoming")
}

/// One change to make on a side, guarded by what the round saw there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Move the received copy of the path in, if the path still has the
    /// fingerprint (empty: still absent).
    Install {
        path: String,
        expect: Fingerprint,
    },
    Delete {
        path: String,
        expect: Fingerprint,
    },
}

/// What became of each change, by index: the installed file's
/// fingerprint, or `None` when the side changed meanwhile (or it failed).
pub type Outcomes = BTreeMap<usize, Option<Fingerprint>>;

/// The shell line applying `changes` under `data`: each one only if the
/// path still has the fingerprint the round saw (compare-and-swap), so an
/// edit made since the scan is never overwritten; it waits for the next
/// round. An installed file's fingerprint is taken before it is renamed
/// in (a rename keeps all of it).
pub fn apply_line(data: &Path, changes: &[Change]) -> String {
    let mut line = format!(
        "cd {data} || exit 1\n\
         fp() {{ find \"$1\" -maxdepth 0 -printf '{PRINT}' 2>/dev/null; }}\n\
         put() {{ [ \"$(fp \"$1\")\" = \"$2\" ] || {{ echo \"skip $3\"; return; }}; \
         n={incoming}/\"$1\"; f=$(fp \"$n\") && mkdir -p \"$(dirname \"$1\")\" && mv -f \"$n\" \"$1\" \
         && echo \"ok $3 $f\" || echo \"skip $3\"; }}\n\
         del() {{ [ \"$(fp \"$1\")\" = \"$2\" ] || {{ echo \"skip $3\"; return; }}; \
         rm -f \"$1\" && echo \"ok $3 -\" || echo \"skip $3\"; }}\n",
        data = quote(data),
        incoming = shell_quote(&format!("{META_DIR}/incoming")),
    );
    for (i, change) in changes.iter().enumerate() {
        let (verb, path, expect) = match change {
            Change::Install { path, expect } => ("put", path, expect),
            Change::Delete { path, expect } => ("del", path, expect),
        };
        line.push_str(&format!(
            "{verb} {} {} {i}\n",
            shell_quote(&format!("./{path}")),
            shell_quote(expect)
        ));
    }
    line
}

/// The outcomes an [`apply_line`] printed.
pub fn parse_outcomes(out: &str) -> Outcomes {
    let mut outcomes = Outcomes::new();
    for line in out.lines() {
        let mut words = line.splitn(3, ' ');
        let (verdict, index, rest) = (words.next(), words.next(), words.next());
        let Some(index) = index.and_then(|i| i.parse().ok()) else {
            continue;
        };
        let fingerprint = match (verdict, rest) {
            (Some("ok"), Some(fp)) => Some(fp.to_string()),
            _ => None,
        };
        outcomes.insert(index, fingerprint);
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;
    use hareconcile_model::Pattern;

    fn files(dir: &Path, names: &[&str]) {
        for name in names {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, name).unwrap();
        }
    }

    #[tokio::test]
    async fn a_scan_lists_files_with_fingerprints_outside_the_metadata() {
        let dir = tempfile::tempdir().unwrap();
        files(
            dir.path(),
            &["a b.txt", "sub/c\nd", "x.log", ".hareconcile/term"],
        );
        let filter = Filter::new(&[], &[Pattern::parse("*.log").unwrap()]);
        let scan = Side::Local.scan(dir.path(), &filter).await.unwrap();
        let paths: Vec<&str> = scan.keys().map(String::as_str).collect();
        assert_eq!(paths, ["a b.txt", "sub/c\nd"]);
        assert!(scan["a b.txt"].starts_with("f "));
        let again = Side::Local.scan(dir.path(), &filter).await.unwrap();
        assert_eq!(scan, again, "nothing changed: same fingerprints");
        std::fs::write(dir.path().join("a b.txt"), "edited, longer").unwrap();
        let edited = Side::Local.scan(dir.path(), &filter).await.unwrap();
        assert_ne!(scan["a b.txt"], edited["a b.txt"]);
        let digests = Side::Local
            .digests(dir.path(), &[&"sub/c\nd".to_string()])
            .await
            .unwrap();
        assert_eq!(digests["sub/c\nd"].len(), 64);
    }

    #[tokio::test]
    async fn changes_apply_only_where_the_side_did_not_change_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        files(data, &["kept", "edited", "doomed"]);
        let scan = Side::Local.scan(data, &Filter::default()).await.unwrap();
        // Copies received for kept, edited and a new file.
        files(&incoming(data), &["kept", "edited", "dir/new"]);
        std::fs::write(data.join("edited"), "an edit after the scan").unwrap();
        let changes = [
            Change::Install {
                path: "kept".into(),
                expect: scan["kept"].clone(),
            },
            Change::Install {
                path: "edited".into(),
                expect: scan["edited"].clone(),
            },
            Change::Install {
                path: "dir/new".into(),
                expect: String::new(),
            },
            Change::Delete {
                path: "doomed".into(),
                expect: scan["doomed"].clone(),
            },
        ];
        let out = Side::Local.run(apply_line(data, &changes)).await.unwrap();
        let outcomes = parse_outcomes(&out);
        assert!(outcomes[&0].is_some() && outcomes[&2].is_some(), "{out}");
        assert_eq!(outcomes[&1], None, "the edit made meanwhile wins: {out}");
        assert_eq!(outcomes[&3].as_deref(), Some("-"));
        assert_eq!(
            std::fs::read_to_string(data.join("edited")).unwrap(),
            "an edit after the scan"
        );
        assert_eq!(
            std::fs::read_to_string(data.join("dir/new")).unwrap(),
            "dir/new"
        );
        assert!(!data.join("doomed").exists());
        let now = Side::Local.scan(data, &Filter::default()).await.unwrap();
        assert_eq!(
            outcomes[&0].as_ref(),
            Some(&now["kept"]),
            "recorded as installed"
        );
    }
}
