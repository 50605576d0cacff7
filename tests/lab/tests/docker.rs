//! A per-node dockerd publishes container ports on the node's addresses.

use std::time::{Duration, Instant};

use hareconcile_lab::{busybox_image, leftovers, require_privileges, Host, Lab};

/// GETs `url` from `host` until it answers or `timeout` passes.
fn fetch(host: &Host, url: &str, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let out = host.exec(&["curl", "-sS", "--max-time", "1", url]).unwrap();
        if out.success() {
            return Some(out.stdout);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_node_dockerd_publishes_busybox_httpd_to_the_client() {
    require_privileges!(docker);
    let lab = Lab::builder().nodes(2).client(true).build().unwrap();
    let n1 = lab.node(1);
    let dockerd = n1.start_dockerd().unwrap();
    let image = busybox_image(dockerd.uri()).unwrap();
    assert_eq!(
        busybox_image(dockerd.uri()).unwrap(),
        image,
        "a second import is a no-op"
    );

    dockerd
        .docker(&[
            "run",
            "--detach",
            "--name",
            "web",
            "--publish",
            "8080:80",
            &image,
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/www",
        ])
        .unwrap()
        .ok()
        .unwrap();

    let url = format!("http://{}:8080/", n1.ipv4(0));
    let page = fetch(lab.client(), &url, Duration::from_secs(10));
    assert_eq!(
        page.as_deref(),
        Some("hareconcile lab\n"),
        "{}",
        dockerd.log()
    );
    // The port is published in n1's namespace only.
    let other = format!("http://{}:8080/", lab.node(2).ipv4(0));
    assert_eq!(fetch(lab.client(), &other, Duration::ZERO), None);

    let id = lab.id().clone();
    drop(dockerd);
    drop(lab);
    let after = leftovers(&id);
    assert!(after.is_empty(), "{after:?}");
}

#[test]
fn node_daemons_share_no_images_or_containers() {
    require_privileges!(docker);
    let lab = Lab::builder().nodes(2).client(false).build().unwrap();
    let (d1, d2) = (
        lab.node(1).start_dockerd().unwrap(),
        lab.node(2).start_dockerd().unwrap(),
    );
    assert_ne!(d1.uri(), d2.uri());
    busybox_image(d1.uri()).unwrap();
    let images = |d: &hareconcile_lab::Dockerd| {
        d.docker(&["images", "--quiet"])
            .unwrap()
            .ok()
            .unwrap()
            .stdout
    };
    assert!(!images(&d1).trim().is_empty());
    assert!(images(&d2).trim().is_empty(), "n2's daemon sees n1's image");
}

#[test]
fn a_lab_dropped_under_a_running_container_leaves_nothing() {
    require_privileges!(docker);
    let lab = Lab::builder().nodes(1).client(false).build().unwrap();
    let dockerd = lab.node(1).start_dockerd().unwrap();
    let image = busybox_image(dockerd.uri()).unwrap();
    dockerd
        .docker(&["run", "--detach", &image, "sleep", "600"])
        .unwrap()
        .ok()
        .unwrap();
    let id = lab.id().clone();
    assert!(
        !leftovers(&id).cgroups.is_empty(),
        "the container has a lab cgroup"
    );

    // As when a test panics with the daemon's handle declared before the lab.
    drop(lab);
    let after = leftovers(&id);
    assert!(after.is_empty(), "{after:?}");
    drop(dockerd);
}
