//! A Docker daemon per lab node, and the busybox image the lab's containers run.
//!
//! Each daemon runs inside its node's network namespace, so the ports it
//! publishes answer on the node's addresses (a VIP too), and shares nothing
//! mutable with the machine's own daemon or with other nodes: its own config
//! file, data root (a tmpfs), exec root, pidfile, socket and cgroup parent.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cleanup;
use crate::error::{LabError, Result};
use crate::naming::LabId;
use crate::process::{NodeCommand, Output, Place, Process};
use crate::topology::{Host, Lab};

/// The tag [`busybox_image`] gives the image.
pub const BUSYBOX_IMAGE: &str = "hareconcile/busybox:lab";

const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_GRACE: Duration = Duration::from_secs(15);

/// A dockerd running in a lab node. Dropping it stops the daemon, kills what
/// is left of its containers and removes its state.
#[derive(Debug)]
pub struct Dockerd {
    process: Option<Process>,
    uri: String,
    dir: PathBuf,
    cgroup_parent: String,
}

impl Host {
    /// Starts a dockerd in this host's network namespace and waits until it
    /// answers. One per host.
    pub fn start_dockerd(&self) -> Result<Dockerd> {
        let dir = self.shared.dir.join(format!("docker-{}", self.name()));
        if dir.exists() {
            return Err(LabError::Invalid(format!(
                "{} already has a dockerd",
                self.name()
            )));
        }
        std::fs::create_dir_all(&dir).map_err(|e| LabError::io("create", &dir, e))?;
        mount_data_root(&dir.join("data"))?;
        let config = dir.join("daemon.json");
        // Our own (empty) config: the machine's /etc/docker/daemon.json may
        // pick a storage driver or data root meant for the machine's daemon.
        std::fs::write(&config, "{}\n").map_err(|e| LabError::io("write", &config, e))?;

        let socket = dir.join("docker.sock");
        let uri = format!("unix://{}", socket.display());
        let cgroup_parent = self.shared.id.derive(self.name());
        let cmd = dockerd_command(&dir, &uri, &cgroup_parent);
        let mut dockerd = Dockerd {
            process: Some(self.spawn(cmd)?),
            uri,
            dir,
            cgroup_parent,
        };
        dockerd.wait_ready()?;
        Ok(dockerd)
    }

    /// Stops `dockerd` (SIGTERM: Docker stops the containers itself, as
    /// on a host's daemon restart or upgrade) and starts it again on the
    /// same state, so its containers exist again, stopped.
    pub fn restart_dockerd(&self, dockerd: &mut Dockerd) -> Result<()> {
        if let Some(process) = dockerd.process.take() {
            process.stop(STOP_GRACE)?;
        }
        let cmd = dockerd_command(&dockerd.dir, &dockerd.uri, &dockerd.cgroup_parent);
        dockerd.process = Some(self.spawn(cmd)?);
        dockerd.wait_ready()
    }
}

impl Lab {
    /// A dockerd on each node ([`Host::start_dockerd`]), in node order.
    pub fn start_dockerds(&self) -> Result<Vec<Dockerd>> {
        self.nodes().iter().map(Host::start_dockerd).collect()
    }
}

/// A one-node lab whose node runs a dockerd that has [`BUSYBOX_IMAGE`]:
/// what the tests of one node's containers start from. Fields drop in
/// order: the daemon before its lab.
pub struct DockerNode {
    pub dockerd: Dockerd,
    /// The busybox image's tag, for compose files.
    pub image: String,
    pub lab: Lab,
}

impl DockerNode {
    /// The lab, with a client host when `client` (to reach published
    /// ports from outside the node).
    pub fn start(client: bool) -> Result<DockerNode> {
        let lab = Lab::builder().nodes(1).client(client).build()?;
        let dockerd = lab.node(1).start_dockerd()?;
        let image = busybox_image(dockerd.uri())?;
        Ok(DockerNode {
            dockerd,
            image,
            lab,
        })
    }

    /// The node, n1.
    pub fn node(&self) -> &Host {
        self.lab.node(1)
    }
}

/// The daemon keeps its images and containers in memory. vfs copies the
/// image for each container (about 900 files for busybox, twice), and on
/// the lab machines' disk creating a file costs up to a millisecond in
/// some directories, a hundred times more than in others: a `docker
/// create` took from 0.06 s to 1 s, slower lab after lab, which says
/// nothing about what a test or benchmark measures. Unmounted with the
/// rest of the daemon's directory when it stops.
fn mount_data_root(data: &Path) -> Result<()> {
    std::fs::create_dir_all(data).map_err(|e| LabError::io("create", data, e))?;
    Place::root().run_ok(
        &NodeCommand::new("mount")
            .args(["-t", "tmpfs", "-o", "mode=0710,size=2g", "tmpfs"])
            .arg(data),
    )?;
    Ok(())
}

/// The daemon's command line: everything under `dir`, so nothing is shared
/// with the machine's daemon or another node's.
fn dockerd_command(dir: &Path, uri: &str, cgroup_parent: &str) -> NodeCommand {
    let path = |name: &str| dir.join(name).display().to_string();
    NodeCommand::new("dockerd").args([
        "--config-file",
        &path("daemon.json"),
        "--data-root",
        &path("data"),
        "--exec-root",
        &path("exec"),
        "--pidfile",
        &path("docker.pid"),
        "--host",
        uri,
        // vfs copies layers instead of mounting overlays: slower for big
        // images, but busybox is 2 MB and nothing is left mounted.
        "--storage-driver",
        "vfs",
        "--exec-opt",
        "native.cgroupdriver=cgroupfs",
        // Named after the lab, so cleanup finds containers even when
        // this process dies before the daemon is stopped.
        "--cgroup-parent",
        &format!("/{cgroup_parent}"),
    ])
}

impl Dockerd {
    /// The daemon's address for `docker -H` or `DOCKER_HOST`: `unix:///...`.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Runs the docker CLI against this daemon; the CLI itself runs in the
    /// root namespace, it only needs the socket.
    pub fn docker(&self, args: &[&str]) -> Result<Output> {
        docker(&self.uri, args)
    }

    /// What the daemon printed so far.
    pub fn log(&self) -> String {
        self.process.as_ref().map(Process::log).unwrap_or_default()
    }

    /// Stops the daemon (its containers with it) and removes its state.
    pub fn stop(mut self) -> Result<()> {
        self.shut_down()
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let version = self.docker(&["version", "--format", "{{.Server.Version}}"])?;
            if version.success() {
                return Ok(());
            }
            let process = self
                .process
                .as_mut()
                .expect("a starting daemon has a process");
            if let Some(status) = process.try_wait()? {
                return Err(LabError::CommandFailed {
                    command: process.command().to_owned(),
                    status,
                    stderr: tail(&process.log(), 20),
                });
            }
            if Instant::now() >= deadline {
                return Err(LabError::Timeout {
                    what: format!("dockerd at {}", self.uri),
                    last: format!("{}\n{}", version.stderr.trim(), tail(&self.log(), 20)),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn kill_containers(&self) {
        let Ok(running) = self.docker(&["ps", "--quiet"]) else {
            return;
        };
        let ids: Vec<&str> = running.stdout.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["kill"];
            args.extend(ids);
            // Best effort: whatever survives is killed through its cgroup.
            let _ = self.docker(&args);
        }
    }

    fn shut_down(&mut self) -> Result<()> {
        let Some(process) = self.process.take() else {
            return Ok(());
        };
        // The daemon would give each container its own stop timeout (10 s
        // by default) on SIGTERM; a lab being torn down needs no grace.
        self.kill_containers();
        let stopped = process.stop(STOP_GRACE);
        // Whatever the daemon failed to clean up: container processes (their
        // cgroups), container mounts, its files.
        cleanup::remove_cgroups_named(&self.cgroup_parent);
        cleanup::unmount_under(&self.dir);
        cleanup::remove_dir(&self.dir);
        stopped.map(drop)
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if let Err(e) = self.shut_down() {
            eprintln!("hareconcile-lab: stopping dockerd at {}: {e}", self.uri);
        }
    }
}

fn docker(uri: &str, args: &[&str]) -> Result<Output> {
    Place::root().run(&NodeCommand::new("docker").args(["--host", uri]).args(args))
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Makes sure the daemon at `docker_host` has [`BUSYBOX_IMAGE`], importing
/// it from a rootfs of Debian's `/bin/busybox` when missing, and returns the
/// tag. There is no registry to pull from.
pub fn busybox_image(docker_host: &str) -> Result<String> {
    if docker(
        docker_host,
        &["image", "inspect", "--format", "{{.Id}}", BUSYBOX_IMAGE],
    )?
    .success()
    {
        return Ok(BUSYBOX_IMAGE.to_owned());
    }
    // Named like a lab of this process, so a sweep removes it if we die.
    let work = cleanup::lab_dir(&LabId::next());
    let result = build_rootfs(&work.join("rootfs")).and_then(|rootfs| {
        let tarball = work.join("rootfs.tar");
        let tar = NodeCommand::new("tar")
            .arg("--create")
            .arg("--file")
            .arg(&tarball)
            .arg("--directory")
            .arg(&rootfs)
            .arg(".");
        Place::root().run_ok(&tar)?;
        let tarball = tarball.display().to_string();
        docker(
            docker_host,
            &[
                "import",
                "--change",
                r#"CMD ["sh"]"#,
                &tarball,
                BUSYBOX_IMAGE,
            ],
        )?
        .ok()
    });
    cleanup::remove_dir(&work);
    result.map(|_| BUSYBOX_IMAGE.to_owned())
}

/// A minimal root filesystem: busybox and its applet symlinks, users for
/// tools that look them up, a world-writable /tmp and a page for httpd.
fn build_rootfs(root: &Path) -> Result<PathBuf> {
    for dir in [
        "bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "tmp", "www",
    ] {
        let dir = root.join(dir);
        std::fs::create_dir_all(&dir).map_err(|e| LabError::io("create", &dir, e))?;
    }
    // Copied by cp, not std::fs::copy: a copy written through a file
    // descriptor of this (multi-threaded) test process lives on, between
    // fork and exec, in any child another thread starts meanwhile, and
    // executing the file then fails with "Text file busy" (ETXTBSY).
    let busybox = root.join("bin/busybox");
    Place::root().run_ok(&NodeCommand::new("cp").arg("/bin/busybox").arg(&busybox))?;
    // Run inside the rootfs so the links land in its /bin, /sbin, /usr/bin.
    Place::root().run_ok(&NodeCommand::new("chroot").arg(root).args([
        "/bin/busybox",
        "--install",
        "-s",
    ]))?;
    let files = [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        ),
        ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
        ("www/index.html", "hareconcile lab\n"),
    ];
    for (name, content) in files {
        let path = root.join(name);
        std::fs::write(&path, content).map_err(|e| LabError::io("write", &path, e))?;
    }
    let tmp = root.join("tmp");
    std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o1777))
        .map_err(|e| LabError::io("chmod", &tmp, e))?;
    Ok(root.to_owned())
}
