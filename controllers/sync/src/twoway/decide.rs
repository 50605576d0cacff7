//! What one round of two-way sync does to each path, from the two sides'
//! scans and the state they last agreed on (see `docs/replication.md`).
//! Pure: no files, no clocks.

use std::collections::{BTreeMap, BTreeSet};

/// A file as one side's own host reports it: type, inode, size, mode and
/// mtime. Only ever compared with the same side's earlier fingerprint, so
/// clock skew between the nodes changes nothing. (ctime is left out: a
/// rename into place changes it, and the receiving side records the
/// fingerprint of a copy before renaming it in.)
pub type Fingerprint = String;

/// One side's scan: relative path to fingerprint.
pub type Scan = BTreeMap<String, Fingerprint>;

/// The state both sides agreed on for one path at their last sync: each
/// side's fingerprint of it then.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Agreed {
    pub local: Fingerprint,
    pub remote: Fingerprint,
}

/// What to do with one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Copy the local file over the remote one, expecting the remote to
    /// still hold `expect` (empty: absent).
    Push {
        expect: String,
    },
    /// Copy the remote file over the local one.
    Pull {
        expect: String,
    },
    /// Delete the remote file (the local side deleted it).
    DeleteRemote {
        expect: String,
    },
    DeleteLocal {
        expect: String,
    },
    /// Both sides hold it now and may agree: compare their contents.
    Compare,
    /// Changed on both sides, at least one by deleting it: neither is
    /// touched.
    Conflict,
    /// Gone on both sides: forget it.
    Forget,
    /// Both sides as agreed: nothing.
    Keep,
}

fn changed(now: Option<&Fingerprint>, agreed: Option<&Fingerprint>) -> bool {
    now != agreed
}

/// The action for every path either side holds or the state knows.
pub fn decide(
    local: &Scan,
    remote: &Scan,
    agreed: &BTreeMap<String, Agreed>,
) -> BTreeMap<String, Action> {
    let paths: BTreeSet<&String> = local
        .keys()
        .chain(remote.keys())
        .chain(agreed.keys())
        .collect();
    paths
        .into_iter()
        .map(|path| {
            let (l, r) = (local.get(path), remote.get(path));
            let base = agreed.get(path);
            let l_changed = changed(l, base.map(|a| &a.local));
            let r_changed = changed(r, base.map(|a| &a.remote));
            let expect = |fp: Option<&Fingerprint>| fp.cloned().unwrap_or_default();
            let action = match (l_changed, r_changed, l, r) {
                (false, false, _, _) => Action::Keep,
                (_, _, None, None) => Action::Forget,
                (true, false, Some(_), _) => Action::Push { expect: expect(r) },
                (true, false, None, Some(_)) => Action::DeleteRemote { expect: expect(r) },
                (false, true, _, Some(_)) => Action::Pull { expect: expect(l) },
                (false, true, Some(_), None) => Action::DeleteLocal { expect: expect(l) },
                (true, true, Some(_), Some(_)) => Action::Compare,
                // Edited on one side, deleted on the other: a deletion
                // propagates only over an unchanged file.
                (true, true, _, _) => Action::Conflict,
            };
            (path.clone(), action)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(entries: &[(&str, &str)]) -> Scan {
        entries
            .iter()
            .map(|(p, f)| (p.to_string(), f.to_string()))
            .collect()
    }

    fn agreed(entries: &[(&str, &str, &str)]) -> BTreeMap<String, Agreed> {
        entries
            .iter()
            .map(|(p, l, r)| {
                (
                    p.to_string(),
                    Agreed {
                        local: l.to_string(),
                        remote: r.to_string(),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn a_change_on_one_side_flows_to_the_other() {
        let base = agreed(&[("a", "l1", "r1"), ("b", "l1", "r1")]);
        let actions = decide(
            &scan(&[("a", "l2"), ("b", "l1")]),
            &scan(&[("a", "r1"), ("b", "r2")]),
            &base,
        );
        assert_eq!(
            actions["a"],
            Action::Push {
                expect: "r1".into()
            }
        );
        assert_eq!(
            actions["b"],
            Action::Pull {
                expect: "l1".into()
            }
        );
    }

    #[test]
    fn new_files_flow_and_deletions_propagate_over_unchanged_copies_only() {
        let base = agreed(&[
            ("gone", "l1", "r1"),
            ("edited", "l1", "r1"),
            ("both", "l1", "r1"),
        ]);
        let actions = decide(
            &scan(&[("new", "l9"), ("edited", "l2")]),
            &scan(&[("gone", "r1"), ("theirs", "r9")]),
            &base,
        );
        assert_eq!(actions["new"], Action::Push { expect: "".into() });
        assert_eq!(actions["theirs"], Action::Pull { expect: "".into() });
        assert_eq!(
            actions["gone"],
            Action::DeleteRemote {
                expect: "r1".into()
            }
        );
        assert_eq!(
            actions["edited"],
            Action::Conflict,
            "edited here, deleted there: the edit is not lost"
        );
        assert_eq!(actions["both"], Action::Forget);
    }

    #[test]
    fn both_sides_changed_is_compared_and_unchanged_is_kept() {
        let base = agreed(&[("x", "l1", "r1"), ("same", "l1", "r1")]);
        let actions = decide(
            &scan(&[("x", "l2"), ("same", "l1"), ("fresh", "l7")]),
            &scan(&[("x", "r2"), ("same", "r1"), ("fresh", "r7")]),
            &base,
        );
        assert_eq!(actions["x"], Action::Compare);
        assert_eq!(actions["same"], Action::Keep);
        assert_eq!(
            actions["fresh"],
            Action::Compare,
            "created on both sides since the last sync"
        );
    }
}
