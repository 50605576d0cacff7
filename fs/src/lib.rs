//! Reading files an agent running as root does not control, and writing
//! its own state files durably ([`write_durably`]).
//!
//! Manifests come from a directory anyone with commit access to a git
//! repository fills; token and password files are named by those
//! manifests. Every read of such a file goes through this crate, so that
//! none of them can hang, exhaust or mislead the agent:
//!
//! - [`read_regular`] reads **regular files only, through a size limit**:
//!   a FIFO, a device (`/dev/zero`), a socket or a directory is refused
//!   without being read, and never blocks the reader (a FIFO is opened
//!   non-blocking and refused from the open descriptor).
//! - [`walk`] searches a directory **without leaving it**: a link whose
//!   target lies outside the root is refused, a link that leads back to a
//!   directory already searched (a loop) is refused, the walk is iterative
//!   and bounded in entries.
//! - [`read_secret`] refuses a secret file that its group or others may
//!   read, or that someone else owns, as OpenSSH refuses such a key, with
//!   the `chmod` that fixes it.
//!
//! Reads are synchronous: the agent runs them off its async workers with a
//! deadline, because a file on a hung network mount blocks any reader.

mod durable;
mod read;
mod secret;
mod walk;

pub use durable::{write_durably, write_durably_shared};
pub use read::{read_regular, read_text, utf8_error_at, FileKind, ReadError};
pub use secret::{check_private, read_secret, SecretError};
pub use walk::{walk, Found, Walk, WalkProblem, MAX_WALK_ENTRIES};
