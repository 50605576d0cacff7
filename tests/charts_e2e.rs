//! Each seed chart end to end in the lab, the minimum: rendered with lab
//! values, served from n1, and on n1's loss the VIP moves to n2 and the
//! client is served again over the protocol the seed checks. How long the
//! client waits is measured by `benches/charts.rs`, not here.

mod charts_lab;

use hareconcile_lab::require_privileges;

#[test]
fn vrrp_router_moves_every_interface_address_on_node_loss() {
    require_privileges!();
    charts_lab::vrrp_router().start().node_loss_outage();
}

#[test]
fn home_server_serves_traefik_from_the_standby_on_node_loss() {
    require_privileges!(docker);
    charts_lab::home_server().start().node_loss_outage();
}

#[test]
fn compose_on_nfs_moves_the_stack_on_node_loss() {
    require_privileges!(docker);
    charts_lab::compose_on_nfs().start().node_loss_outage();
}

#[test]
fn npmplus_serves_from_the_standby_on_node_loss() {
    require_privileges!(docker);
    charts_lab::npmplus().start().node_loss_outage();
}

#[test]
fn pihole_answers_dns_on_the_address_after_node_loss() {
    require_privileges!(docker);
    charts_lab::pihole().start().node_loss_outage();
}
