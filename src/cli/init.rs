//! `hareconcile init`: what a new cluster needs on its hosts, made once
//! and safe to run again: a commented `cluster.yaml`, the peer token,
//! optionally the peer TLS CA and certificates and the replication ssh key
//! with `known_hosts`, and what to copy to the other nodes.

use std::fmt::Write as _;
use std::io::Read as _;
use std::net::IpAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Args;
use hareconcile_model::HostAddress;
use hareconcile_vrrp::controller::host_addresses;

use super::{CliError, EXIT_OK};

/// Bootstrap a cluster: cluster.yaml, peer token, TLS and ssh material.
///
/// Run it on one node with every node's name and address. It detects
/// which node this host is and the interface holding its address, and
/// writes into DIR (default /etc/hareconcile, where the packaged agent
/// looks):
///
///   manifests/cluster.yaml   the Cluster, commented (the agent's --manifests)
///   peer.token               the shared peer API token (0600)
///   tls/                     with --tls: ca.crt, ca.key, NODE.crt/.key per
///                            node, node.crt/.key this node's (0600 keys)
///   ssh/                     with --replication-key: id_ed25519(.pub) for
///                            rsync Replications, known_hosts of the nodes
///
/// Running it again changes nothing that exists: secrets (token, keys,
/// CA) are only replaced with --force, and cluster.yaml is kept. Copy DIR
/// to every other node and run the same command there: it keeps the
/// secrets and makes that node's own tls/node.crt and known_hosts entry.
/// Needs openssl for --tls and ssh-keygen for --replication-key.
///
/// Examples:
///   hareconcile init --node n1=10.0.0.11 --node n2=10.0.0.12
///   hareconcile init --node n1=10.0.0.11 --node n2=10.0.0.12 --tls --replication-key -o ./cluster
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct InitArgs {
    /// A node of the cluster as NAME=ADDRESS, its address on the cluster
    /// network; once per node.
    #[arg(long = "node", required = true, value_name = "NAME=ADDRESS", value_parser = parse_node)]
    nodes: Vec<(String, IpAddr)>,
    /// The Cluster's name.
    #[arg(long, default_value = "home")]
    name: String,
    /// The peer API's TCP port.
    #[arg(long, default_value_t = 7979)]
    port: u16,
    /// Also make a CA and a certificate per node for mutual TLS between
    /// the agents (spec.peer.tls).
    #[arg(long)]
    tls: bool,
    /// Also make the ssh key pair rsync Replications push with, and
    /// known_hosts entries for the nodes.
    #[arg(long)]
    replication_key: bool,
    /// Where to write.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "DIR",
        default_value = "/etc/hareconcile"
    )]
    dir: PathBuf,
    /// Replace existing secrets and cluster.yaml.
    #[arg(long)]
    force: bool,
}

fn parse_node(text: &str) -> Result<(String, IpAddr), String> {
    let (name, address) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not NAME=ADDRESS, e.g. n1=10.0.0.11"))?;
    let address = address
        .parse()
        .map_err(|e| format!("{address:?} in {text:?}: {e}"))?;
    if name.is_empty() {
        return Err(format!("{text:?} has no node name before '='"));
    }
    Ok((name.to_string(), address))
}

/// What became of one file.
enum Made {
    Written,
    Kept,
}

pub fn run(args: InitArgs) -> Result<u8, CliError> {
    let dir = std::path::absolute(&args.dir).map_err(CliError::input)?;
    let host = host_addresses();
    let here = args
        .nodes
        .iter()
        .find(|(_, address)| host.iter().any(|a| a.address.addr() == *address))
        .cloned();
    let mut report = Vec::new();
    let mut note = |path: &Path, made: Made| {
        let word = match made {
            Made::Written => "wrote",
            Made::Kept => "kept ",
        };
        report.push(format!("{word} {}", path.display()));
    };

    let token = dir.join("peer.token");
    note(
        &token,
        secret(&token, args.force, || Ok(random_hex(32)?.into_bytes()))?,
    );
    if args.tls {
        make_tls(&dir.join("tls"), &args, here.as_ref(), &mut note)?;
    }
    if args.replication_key {
        make_ssh(&dir.join("ssh"), &args, &mut note)?;
    }
    let cluster = dir.join("manifests/cluster.yaml");
    let text = cluster_yaml(&args, &dir, here.as_ref(), &host);
    let made = if cluster.exists() && !args.force {
        Made::Kept
    } else {
        write_file(&cluster, text.as_bytes(), 0o644)?;
        Made::Written
    };
    note(&cluster, made);

    for line in &report {
        outln!("{line}");
    }
    outln!();
    match &here {
        Some((name, address)) => outln!("this host is node {name} ({address})."),
        None => outln!(
            "no --node address is configured on this host: run init on a node of the cluster"
        ),
    }
    let others: Vec<&str> = args
        .nodes
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| here.as_ref().is_none_or(|(me, _)| me != name))
        .collect();
    outln!(
        "\nOn {}: copy {} there (same path; keep it root-only, e.g. `rsync -a {}/ root@NODE:{}/`),\n\
         then run the same `hareconcile init` there: it keeps the secrets and adds that node's own parts.",
        others.join(", "),
        dir.display(),
        dir.display(),
        dir.display()
    );
    if args.tls {
        outln!(
            "tls/ca.key signs node certificates: once every node has its tls/node.crt, remove it from the nodes and keep it offline."
        );
    }
    if args.replication_key {
        outln!(
            "Replications push as the ssh user you name: add ssh/id_ed25519.pub to that user's ~/.ssh/authorized_keys on every node."
        );
    }
    outln!(
        "Then on every node: set HARECONCILE_NODE in /etc/default/hareconcile (or --node), `systemctl restart hareconcile`, and `hareconcile status`."
    );
    Ok(EXIT_OK)
}

/// Writes `make()` to `path` (mode 0600) unless it exists and `force` is off.
fn secret(
    path: &Path,
    force: bool,
    make: impl FnOnce() -> Result<Vec<u8>, CliError>,
) -> Result<Made, CliError> {
    if path.exists() && !force {
        return Ok(Made::Kept);
    }
    write_file(path, &make()?, 0o600)?;
    Ok(Made::Written)
}

fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), CliError> {
    let fail = |e: std::io::Error| CliError::runtime(format!("writing {}: {e}", path.display()));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    // A new file is never readable by others, not even for a moment.
    let temporary = path.with_extension("init-tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&temporary)
        .map_err(fail)?;
    std::io::Write::write_all(&mut file, contents).map_err(fail)?;
    std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(mode)).map_err(fail)?;
    std::fs::rename(&temporary, path).map_err(fail)
}

fn random_hex(bytes: usize) -> Result<String, CliError> {
    let mut buffer = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buffer))
        .map_err(|e| CliError::runtime(format!("reading /dev/urandom: {e}")))?;
    Ok(buffer.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    }) + "\n")
}

/// Runs a tool init needs, saying which and why when it fails.
fn tool(program: &str, args: &[&str], purpose: &str) -> Result<(), CliError> {
    let out = Command::new(program).args(args).output().map_err(|e| {
        CliError::runtime(format!(
            "running {program} to {purpose}: {e} (install it, or leave out the option)"
        ))
    })?;
    if !out.status.success() {
        return Err(CliError::runtime(format!(
            "{program} failed to {purpose}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// A CA, a certificate per node naming its address, and this node's pair
/// as node.crt/node.key (the paths the Cluster names on every node).
fn make_tls(
    dir: &Path,
    args: &InitArgs,
    here: Option<&(String, IpAddr)>,
    note: &mut impl FnMut(&Path, Made),
) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(CliError::runtime)?;
    let path = |name: &str| dir.join(name).display().to_string();
    let (ca_key, ca_crt) = (dir.join("ca.key"), dir.join("ca.crt"));
    let new_ca = args.force || !ca_key.exists() || !ca_crt.exists();
    if new_ca {
        tool(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &path("ca.key"),
                "-out",
                &path("ca.crt"),
                "-days",
                "825",
                "-subj",
                "/CN=hareconcile peer CA",
            ],
            "make the peer CA",
        )?;
        std::fs::set_permissions(&ca_key, std::fs::Permissions::from_mode(0o600))
            .map_err(CliError::runtime)?;
    }
    note(&ca_crt, if new_ca { Made::Written } else { Made::Kept });
    for (name, address) in &args.nodes {
        let (key, crt) = (
            dir.join(format!("{name}.key")),
            dir.join(format!("{name}.crt")),
        );
        if !new_ca && key.exists() && crt.exists() {
            note(&crt, Made::Kept);
            continue;
        }
        let ext = dir.join(format!("{name}.ext"));
        write_file(
            &ext,
            format!(
                "subjectAltName=IP:{address}\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n"
            )
            .as_bytes(),
            0o600,
        )?;
        let csr = path(&format!("{name}.csr"));
        let made = tool(
            "openssl",
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &key.display().to_string(),
                "-out",
                &csr,
                "-subj",
                &format!("/CN={name}"),
            ],
            "make a node key",
        )
        .and_then(|()| {
            tool(
                "openssl",
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    &path("ca.crt"),
                    "-CAkey",
                    &path("ca.key"),
                    "-CAcreateserial",
                    "-out",
                    &crt.display().to_string(),
                    "-days",
                    "825",
                    "-extfile",
                    &ext.display().to_string(),
                ],
                "sign a node certificate",
            )
        });
        let _ = std::fs::remove_file(&ext);
        let _ = std::fs::remove_file(&csr);
        made?;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
            .map_err(CliError::runtime)?;
        note(&crt, Made::Written);
    }
    if let Some((me, _)) = here {
        let mut made = Made::Kept;
        for (from, to, mode) in [("crt", "node.crt", 0o644), ("key", "node.key", 0o600)] {
            let source = dir.join(format!("{me}.{from}"));
            let contents = std::fs::read(&source)
                .map_err(|e| CliError::runtime(format!("reading {}: {e}", source.display())))?;
            if std::fs::read(dir.join(to)).ok().as_ref() != Some(&contents) {
                write_file(&dir.join(to), &contents, mode)?;
                made = Made::Written;
            }
        }
        note(&dir.join("node.crt"), made);
    }
    Ok(())
}

/// The replication key pair and `known_hosts` lines for every node whose
/// sshd answers ssh-keyscan at its address (the name Replications connect
/// to); a node that does not answer is skipped, and said, and added by a
/// later run.
fn make_ssh(
    dir: &Path,
    args: &InitArgs,
    note: &mut impl FnMut(&Path, Made),
) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(CliError::runtime)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(CliError::runtime)?;
    let key = dir.join("id_ed25519");
    if key.exists() && !args.force {
        note(&key, Made::Kept);
    } else {
        let _ = std::fs::remove_file(&key);
        let _ = std::fs::remove_file(key.with_extension("pub"));
        tool(
            "ssh-keygen",
            &[
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                &format!("hareconcile@{}", args.name),
                "-f",
                &key.display().to_string(),
            ],
            "make the replication key",
        )?;
        note(&key, Made::Written);
    }
    let known_hosts = dir.join("known_hosts");
    let mut lines: Vec<String> = std::fs::read_to_string(&known_hosts)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    let before = lines.len();
    for (_, address) in &args.nodes {
        let host = address.to_string();
        if lines
            .iter()
            .any(|l| l.split_whitespace().next() == Some(host.as_str()))
        {
            continue;
        }
        let scanned = Command::new("ssh-keyscan")
            .args(["-T", "3", "-t", "ed25519", &host])
            .output();
        match scanned {
            Ok(out) if out.status.success() && !out.stdout.is_empty() => lines.extend(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter(|l| !l.starts_with('#'))
                    .map(str::to_string),
            ),
            _ => eprintln!(
                "note: no ssh host key from {host} yet (sshd not reachable): run init there, or again once it is"
            ),
        }
    }
    if lines.len() != before || !known_hosts.exists() {
        write_file(&known_hosts, (lines.join("\n") + "\n").as_bytes(), 0o644)?;
        note(&known_hosts, Made::Written);
    } else {
        note(&known_hosts, Made::Kept);
    }
    Ok(())
}

/// The Cluster, with what init found and what to adjust in comments.
fn cluster_yaml(
    args: &InitArgs,
    dir: &Path,
    here: Option<&(String, IpAddr)>,
    host: &[HostAddress],
) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# Written by `hareconcile init`. The same file goes on every node\n\
         # ({}/manifests/, which the packaged agent loads); each agent finds\n\
         # itself by its --node name (HARECONCILE_NODE).",
        dir.display()
    );
    if let Some((name, address)) = here {
        if let Some(found) = host.iter().find(|a| a.address.addr() == *address) {
            let _ = writeln!(
                text,
                "# On {name}, {address} is on interface {} ({}): a VirtualIP on that\n\
                 # subnet can say `interface: auto`, or name it per node in `interfaces:`.",
                found.interface,
                found.address.trunc()
            );
        }
    }
    let _ = writeln!(
        text,
        "apiVersion: hareconcile.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: {}\nspec:\n  nodes:\n    \
         # The first node is the preferred master (keepalived's highest priority).",
        args.name
    );
    for (i, (name, address)) in args.nodes.iter().enumerate() {
        let priority = 110u8.saturating_sub(10 * i as u8).max(1);
        let _ = writeln!(
            text,
            "    - {{name: {name}, address: {address}, priority: {priority}}}"
        );
    }
    let _ = writeln!(
        text,
        "  vrrp:\n    version: 3\n    advertInterval: 1s\n  \
         # auto: a recovered preferred master takes the VIPs back; manual keeps them.\n  \
         failback: auto\n  peer:\n    \
         # Agents talk to each other here: status, switchover, `apply` to every node.\n    \
         port: {}\n    tokenFile: {}",
        args.port,
        dir.join("peer.token").display()
    );
    if args.tls {
        let tls = dir.join("tls");
        let _ = writeln!(
            text,
            "    # Each node's own certificate behind the same paths.\n    \
             tls:\n      certFile: {}\n      keyFile: {}\n      caFile: {}",
            tls.join("node.crt").display(),
            tls.join("node.key").display(),
            tls.join("ca.crt").display()
        );
    }
    if args.replication_key {
        let ssh = dir.join("ssh");
        let _ = writeln!(
            text,
            "# A Replication of method rsync pushes with:\n\
             #   ssh: {{user: root, identityFile: {}, knownHostsFile: {}}}",
            ssh.join("id_ed25519").display(),
            ssh.join("known_hosts").display()
        );
    }
    text
}
