//! The services a stack's clients reach, and what those depend on. On a
//! failover they are the outage: `up` starts them first and holds the
//! other services back until they have started, because a start the
//! daemon runs beside another takes it about half as long again (two
//! network sandboxes set up at once on a small host).

use std::collections::BTreeSet;

use crate::file::{Project, Service};

/// Services that publish ports, use the host's network, or share the
/// network namespace of one that does, with all they depend on. Empty
/// when no service is reachable that way: then nothing is held back.
pub fn serving(project: &Project) -> BTreeSet<&str> {
    let mut serving = BTreeSet::new();
    // Reverse start order: a service comes before its dependencies, so
    // a dependency is marked before it is visited.
    for name in project.start_order.iter().rev() {
        let service = &project.services[name];
        if serving.contains(name.as_str()) || is_front(project, service) {
            serving.insert(name.as_str());
            serving.extend(service.dependencies());
        }
    }
    serving
}

/// Whether clients reach this service's own processes from outside the
/// node. A `network_mode: service:x` chain ends: the loader refuses a
/// dependency cycle, and the owner is a dependency.
fn is_front(project: &Project, service: &Service) -> bool {
    !service.ports.is_empty()
        || service.network_mode.as_deref() == Some("host")
        || service
            .namespace_owner()
            .and_then(|owner| project.services.get(owner))
            .is_some_and(|owner| is_front(project, owner))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::load_text;

    fn serving_in(compose: &str) -> Vec<String> {
        let project = load_text(compose).unwrap();
        serving(&project).into_iter().map(str::to_string).collect()
    }

    #[test]
    fn a_published_service_serves_with_its_dependency_chain_and_an_idle_one_does_not() {
        assert_eq!(
            serving_in(
                "services:\n  web: {image: x, ports: [\"80:80\"], depends_on: [app]}\n  app: {image: x, depends_on: [db]}\n  db: {image: x}\n  cron: {image: x, depends_on: [db]}\n"
            ),
            ["app", "db", "web"]
        );
    }

    #[test]
    fn host_networking_and_a_namespace_shared_with_a_front_serve() {
        assert_eq!(
            serving_in(
                "services:\n  dns: {image: x, network_mode: host}\n  vpn: {image: x, ports: [\"51820:51820/udp\"]}\n  app: {image: x, network_mode: \"service:vpn\"}\n  sidecar: {image: x, network_mode: \"service:idle\"}\n  idle: {image: x}\n"
            ),
            ["app", "dns", "vpn"]
        );
    }

    #[test]
    fn a_stack_nobody_reaches_from_outside_holds_nothing_back() {
        assert!(
            serving_in("services:\n  a: {image: x}\n  b: {image: x, depends_on: [a]}\n").is_empty()
        );
    }
}
