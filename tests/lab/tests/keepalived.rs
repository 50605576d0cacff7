//! The lab carries VRRP: Debian's keepalived, run in two node namespaces,
//! elects a master, and node loss moves the VIP to the backup.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use hareconcile_lab::{
    ipv4, require_privileges, start_keepalived, Host, Lab, Process, VrrpInstance,
};

const VIP_NUMBER: u8 = 100;

fn start(lab: &Lab, node: &Host, priority: u8) -> Process {
    let vip = format!("{}/24", ipv4(0, VIP_NUMBER));
    let instance = VrrpInstance::new(51, priority, Duration::from_millis(100), vip);
    start_keepalived(lab, node, 3, &[instance]).unwrap()
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
    let k1 = start(&lab, n1, 110);
    let k2 = start(&lab, n2, 100);

    // Both start as backups and may both claim the VIP for one advert
    // interval before n1's adverts demote n2: wait for the settled
    // election, not the instant n1 first holds it.
    assert!(
        wait_until(Duration::from_secs(5), || holds(n1, vip) && !holds(n2, vip)),
        "no single master (if n2 holds the VIP too, adverts do not cross the bridge)\n\
         n1: {}\nn2: {}",
        k1.log(),
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
