//! The lab carries VRRP: Debian's keepalived, run in two node namespaces,
//! elects a master, and node loss moves the VIP to the backup.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use hareconcile_lab::{ipv4, require_privileges, Host, Lab, Process};

const VIP_NUMBER: u8 = 100;

fn start_keepalived(lab: &Lab, node: &Host, priority: u8) -> Process {
    let dir = lab.dir().join(format!("keepalived-{}", node.name()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("keepalived.conf");
    std::fs::write(
        &conf,
        format!(
            "global_defs {{\n  router_id {name}\n  vrrp_version 3\n}}\n\
             vrrp_instance VI {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  \
             priority {priority}\n  advert_int 0.1\n  virtual_ipaddress {{\n    {vip}/24\n  }}\n}}\n",
            name = node.name(),
            vip = ipv4(0, VIP_NUMBER),
        ),
    )
    .unwrap();
    let path = |name: &str| dir.join(name).display().to_string();
    node.spawn(&[
        "keepalived",
        "--dont-fork",
        "--log-console",
        "--log-detail",
        "--use-file",
        &path("keepalived.conf"),
        "--pid",
        &path("keepalived.pid"),
        "--vrrp_pid",
        &path("vrrp.pid"),
        "--checkers_pid",
        &path("checkers.pid"),
    ])
    .unwrap()
}

fn holds(node: &Host, vip: Ipv4Addr) -> bool {
    let addrs = node
        .exec_ok(&["ip", "-o", "-4", "address", "show", "dev", "eth0"])
        .unwrap();
    addrs.stdout.contains(&format!("inet {vip}/"))
}

fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

#[test]
fn keepalived_moves_the_vip_when_the_master_is_lost() {
    require_privileges!();
    let lab = Lab::builder().nodes(2).client(true).build().unwrap();
    let (n1, n2, client) = (lab.node(1), lab.node(2), lab.client());
    let vip = ipv4(0, VIP_NUMBER);
    let k1 = start_keepalived(&lab, n1, 110);
    let k2 = start_keepalived(&lab, n2, 100);

    assert!(
        wait_until(Duration::from_secs(5), || holds(n1, vip)),
        "{}",
        k1.log()
    );
    assert!(
        !holds(n2, vip),
        "both are master: adverts do not cross the bridge\n{}",
        k2.log()
    );
    assert!(client.reaches_within(vip, Duration::from_secs(3)).unwrap());

    lab.node_loss(n1).unwrap();
    assert!(
        wait_until(Duration::from_secs(3), || holds(n2, vip)),
        "{}",
        k2.log()
    );
    assert!(client.reaches_within(vip, Duration::from_secs(3)).unwrap());
}
