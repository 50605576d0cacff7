//! `hareconcile import keepalived|vrrpd`: an existing VRRP setup as
//! manifests, with every option that did not carry over reported at the
//! line it came from.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use hareconcile_import::keepalived::{self, NodeFile};
use hareconcile_import::{vrrpd, Import, ImportError, Options};
use hareconcile_model::Object;

use super::output::{object_json, yaml};
use super::{CliError, EXIT_DIFFERENCES, EXIT_INPUT, EXIT_OK};

/// Bring an existing VRRP setup over: keepalived.conf files or Vrrpd
/// command lines become a Cluster and VirtualIP manifests (tracking,
/// notify hooks, sync groups, unicast peers, authentication, virtual MAC,
/// preemption, gratuitous ARP).
///
/// The manifests go to stdout, or with -o DIR into DIR, one file per
/// object. Every option that did not carry over exactly goes to stderr,
/// one line each, with the file and line it came from:
///   /etc/keepalived/keepalived.conf:14: unmapped: smtp_alert: ...
/// Levels: invalid (keepalived itself rejects or ignores it), unmapped
/// (no equivalent), changed (carried over with a different behaviour),
/// placeholder (a value the input does not say, e.g. a node's address:
/// replace it), note (for your information). The VRRP password is never
/// written into a manifest: -o writes it to DIR/secrets/, for you to
/// install on every node at the path the Cluster names.
///
/// Exit codes: 0 manifests written and nothing to review (notes only),
/// 1 manifests written but some finding needs review before you apply
/// them, 2 nothing imported (unreadable file, no usable virtual router,
/// bad arguments), 3 the output could not be written.
///
/// Examples:
///   hareconcile import keepalived --node n1=n1/keepalived.conf --node n2=n2/keepalived.conf -o manifests/
///   hareconcile import keepalived /etc/keepalived/keepalived.conf --address n1=10.0.0.11 --address n2=10.0.0.12
///   hareconcile import vrrpd --address r1=10.16.1.1 --address r2=10.16.1.2 -- \
///       vrrpd -i eth0 10.16.1.200 -v 51 -M 2 vrrpd -i eth1 10.17.1.200 -v 52 -M 2
///   hareconcile validate -f manifests/
///
/// See docs/migrating-from-keepalived.md for every keyword's field and a
/// rolling migration with no outage.
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct ImportArgs {
    #[command(subcommand)]
    source: ImportSource,
}

#[derive(Subcommand)]
enum ImportSource {
    Keepalived(KeepalivedArgs),
    Vrrpd(VrrpdArgs),
}

/// Read one keepalived.conf per node (with its includes) into manifests.
///
/// Give each node's file with --node NAME=FILE (NAME is the node's name in
/// the Cluster and its keepalived config id, for `@NAME` lines), or give
/// the files alone: they are nodes n1, n2... in order. With one file, the
/// other node is derived from it (its priority and state, as the findings
/// say). Instances of different files with the same VRID are one
/// VirtualIP with a priority per node.
///
/// Examples:
///   hareconcile import keepalived --node lb1=lb1.conf --node lb2=lb2.conf -o manifests/
///   hareconcile import keepalived keepalived.conf --address n1=192.168.1.11 --address n2=192.168.1.12
#[derive(Args)]
#[command(verbatim_doc_comment)]
struct KeepalivedArgs {
    /// keepalived.conf files, nodes n1, n2... in order.
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
    /// A node's name and its keepalived.conf; repeat for each node.
    #[arg(long = "node", value_name = "NAME=FILE", value_parser = node_file)]
    nodes: Vec<(String, PathBuf)>,
    #[command(flatten)]
    common: CommonArgs,
}

/// Read Vrrpd command lines (one process per virtual router; those started
/// with -M N are one sync group) into manifests.
///
/// Give the command lines after --, each starting with `vrrpd` (or its
/// path), as every server runs them; the nodes are the --address names
/// (n1 and n2 with placeholder addresses without them).
///
/// Example:
///   hareconcile import vrrpd --address server1=10.16.1.1 --address server2=10.16.1.2 -- \
///       vrrpd -i eth0 10.16.1.200 -v 51 -M 2 -U /etc/scripts/MASTER.sh -D /etc/scripts/DOWN.sh \
///       vrrpd -i eth1 10.17.1.200 -v 52 -M 2 -U /etc/scripts/MASTER.sh -D /etc/scripts/DOWN.sh
#[derive(Args)]
#[command(verbatim_doc_comment)]
struct VrrpdArgs {
    /// The vrrpd command lines.
    #[arg(last = true, required = true, value_name = "VRRPD ARGS")]
    args: Vec<String>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
struct CommonArgs {
    /// Write one manifest per object (and the password under secrets/)
    /// into DIR instead of printing them; existing files are not replaced.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    output: Option<PathBuf>,
    /// The Cluster's name.
    #[arg(long, value_name = "NAME", default_value = "imported")]
    cluster: String,
    /// A node's address (its VRRP source and peer API address) where the
    /// input does not say it, e.g. for multicast; repeat for each node.
    #[arg(long = "address", value_name = "NAME=IP", value_parser = node_address)]
    addresses: Vec<(String, IpAddr)>,
    /// Where the manifests expect the VRRP password on the nodes.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "/etc/hareconcile/vrrp-password"
    )]
    password_file: PathBuf,
}

impl CommonArgs {
    fn options(&self) -> Result<Options, CliError> {
        let mut addresses = BTreeMap::new();
        for (name, ip) in &self.addresses {
            if addresses.insert(name.clone(), *ip).is_some() {
                return Err(CliError::input(format!(
                    "--address {name}= is given twice: give each node one address"
                )));
            }
        }
        if !self.password_file.is_absolute() {
            return Err(CliError::input(format!(
                "--password-file {}: give an absolute path (the agents read it on every node)",
                self.password_file.display()
            )));
        }
        Ok(Options {
            cluster: self.cluster.clone(),
            addresses,
            password_file: self.password_file.clone(),
        })
    }
}

fn node_file(text: &str) -> Result<(String, PathBuf), String> {
    match text.split_once('=') {
        Some((name, file)) if !name.is_empty() && !file.is_empty() => {
            Ok((name.to_string(), PathBuf::from(file)))
        }
        _ => Err("expected NAME=FILE, e.g. n1=/etc/keepalived/keepalived.conf".to_string()),
    }
}

fn node_address(text: &str) -> Result<(String, IpAddr), String> {
    let (name, ip) = text
        .split_once('=')
        .ok_or("expected NAME=IP, e.g. n1=192.168.1.11")?;
    let ip = ip
        .parse()
        .map_err(|_| format!("{ip:?} is not an IP address: e.g. n1=192.168.1.11"))?;
    Ok((name.to_string(), ip))
}

pub fn run(args: ImportArgs) -> Result<u8, CliError> {
    let (result, common) = match &args.source {
        ImportSource::Keepalived(args) => {
            let files = node_files(args)?;
            (
                keepalived::import(&files, &args.common.options()?),
                &args.common,
            )
        }
        ImportSource::Vrrpd(args) => (
            vrrpd::import(&args.args, &args.common.options()?),
            &args.common,
        ),
    };
    let import = result.map_err(import_error)?;
    match &common.output {
        Some(dir) => write_dir(&import, dir)?,
        None => out!("{}", manifests_text(&import.objects)),
    }
    for finding in &import.findings {
        eprintln!("{finding}");
    }
    let review = import
        .findings
        .iter()
        .filter(|f| f.level.needs_review())
        .count();
    if review == 0 {
        eprintln!(
            "imported {} object(s); nothing to review",
            import.objects.len()
        );
        Ok(EXIT_OK)
    } else {
        eprintln!(
            "imported {} object(s); {review} finding(s) above need review before you apply them",
            import.objects.len()
        );
        Ok(EXIT_DIFFERENCES)
    }
}

/// The positional files as n1, n2... (skipping names --node takes), then
/// the --node files.
fn node_files(args: &KeepalivedArgs) -> Result<Vec<NodeFile>, CliError> {
    if args.files.is_empty() && args.nodes.is_empty() {
        return Err(CliError::input(
            "no keepalived.conf given: give each node's file, e.g. --node n1=n1.conf --node n2=n2.conf",
        ));
    }
    let mut numbers = 1..;
    let mut files = Vec::new();
    for path in &args.files {
        let name = numbers
            .by_ref()
            .map(|n| format!("n{n}"))
            .find(|name| !args.nodes.iter().any(|(taken, _)| taken == name))
            .expect("an endless range");
        files.push(NodeFile::new(name, path));
    }
    files.extend(
        args.nodes
            .iter()
            .map(|(name, path)| NodeFile::new(name, path)),
    );
    Ok(files)
}

fn import_error(error: ImportError) -> CliError {
    match error {
        ImportError::Nothing { reason, findings } => {
            let mut lines: Vec<String> = findings.iter().map(ToString::to_string).collect();
            lines.push(format!("error: nothing to import: {reason}"));
            CliError {
                code: EXIT_INPUT,
                message: lines.join("\n"),
            }
        }
        other => CliError::input(other),
    }
}

/// The objects as one YAML stream.
fn manifests_text(objects: &[Object]) -> String {
    let mut out = String::from(
        "# Imported by `hareconcile import`: review the findings it printed before you apply this.\n",
    );
    for object in objects {
        out.push_str(&yaml(&object_json(object)));
    }
    out
}

/// One manifest per object, `KIND-NAME.yaml`, and each secret under
/// `secrets/` (mode 0600, beside a `.gitignore` that keeps it out of git);
/// nothing is replaced, nothing is written when a file exists.
fn write_dir(import: &Import, dir: &Path) -> Result<(), CliError> {
    let mut files: Vec<(PathBuf, String, u32)> = import
        .objects
        .iter()
        .map(|object| {
            let name = format!(
                "{}-{}.yaml",
                object.kind.to_string().to_lowercase(),
                object.metadata.name
            );
            (
                dir.join(name),
                manifests_text(std::slice::from_ref(object)),
                0o644,
            )
        })
        .collect();
    for secret in &import.secrets {
        let name = secret
            .path
            .file_name()
            .map_or_else(|| "vrrp-password".into(), |n| n.to_os_string());
        files.push((
            dir.join("secrets").join(name),
            secret.content.clone(),
            0o600,
        ));
    }
    if !import.secrets.is_empty() {
        // The manifests are meant for git (GitOps); the password is not.
        files.push((dir.join("secrets/.gitignore"), "*\n".to_string(), 0o644));
    }
    if let Some((path, _, _)) = files.iter().find(|(path, _, _)| path.exists()) {
        return Err(CliError::input(format!(
            "{} exists: move it away or import into another directory (-o); nothing was written",
            path.display()
        )));
    }
    for (path, text, mode) in &files {
        let parent = path.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent)
            .map_err(|e| CliError::runtime(format!("{}: cannot create: {e}", parent.display())))?;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(*mode)
            .open(path)
            .and_then(|mut file| file.write_all(text.as_bytes()))
            .map_err(|e| CliError::runtime(format!("{}: cannot write: {e}", path.display())))?;
        outln!("wrote {}", path.display());
    }
    Ok(())
}
