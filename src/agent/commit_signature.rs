//! GitOps commit signatures (`--git-allowed-signers`): the agent applies
//! only a commit signed with an SSH key that the allowed signers file
//! lists (ssh-keygen's ALLOWED SIGNERS format, one `PRINCIPAL KEY` a
//! line), as `git verify-commit` judges it. An unsigned commit, one signed
//! by another key and one whose signature does not match its content are
//! rejected as an invalid commit is: the last good commit stays applied.
//!
//! The commit to apply is checked at every round, the one applied
//! already included, so a key taken out of the file stops its commits at
//! the next round. Its ancestors are not checked: what is applied is that
//! commit's tree, which its signer vouches for whole.

use std::path::Path;

use tokio::process::Command;

/// How a rejection for the signature starts, which tells it from one for
/// the manifests.
const REFUSED: &str = "commit signature: ";

/// Adds `verify-commit SHA` to `git`, a git command for the repository,
/// checking against `signers`. The minimum trust is the level a listed
/// key gets: a git that took an unlisted key's good signature as merely
/// of undefined trust still refuses it.
pub fn verify_commit(mut git: Command, sha: &str, signers: &Path) -> Command {
    git.arg("-c")
        .arg(format!("gpg.ssh.allowedSignersFile={}", signers.display()))
        .args(["-c", "gpg.minTrustLevel=fully", "verify-commit", sha]);
    git
}

/// The rejection for a commit `git verify-commit` refused, from what it
/// said on stderr (nothing for an unsigned commit).
pub fn refusal(said: &str, signers: &Path) -> String {
    let said = said.lines().filter(|l| !l.is_empty()).collect::<Vec<_>>();
    let why = match said.as_slice() {
        [] => "the commit is not signed".to_string(),
        lines => lines.join("; "),
    };
    format!(
        "{REFUSED}{why}: only commits signed with a key listed in {} are applied (sign with `git commit -S` and gpg.format=ssh, or add the signer's key)",
        signers.display()
    )
}

/// Whether a rejection was for the signature, not the manifests.
pub fn is_refusal(errors: &[String]) -> bool {
    errors.iter().any(|e| e.starts_with(REFUSED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_say_why_and_what_to_do_and_are_told_apart() {
        let signers = Path::new("/etc/hareconcile/allowed_signers");
        let unsigned = refusal("", signers);
        assert!(
            unsigned.starts_with("commit signature: the commit is not signed: only commits signed with a key listed in /etc/hareconcile/allowed_signers"),
            "{unsigned}"
        );
        let other = refusal(
            "Good \"git\" signature with ED25519 key SHA256:abc\nNo principal matched.\n",
            signers,
        );
        assert!(
            other.starts_with("commit signature: Good \"git\" signature with ED25519 key SHA256:abc; No principal matched.: "),
            "{other}"
        );
        assert!(is_refusal(&[other]));
        assert!(!is_refusal(&["manifests/web.yaml:8:9: bad".to_string()]));
    }
}
