//! The client's outage when the master node is lost, per seed chart, as
//! the chart renders it (keepalived's 1 s adverts, the chart's health
//! settings), next to what the seed itself claims. Prints a Markdown table
//! for docs/PERFORMANCE.md.
//!
//!   cargo bench --bench charts                       # every chart, 3 runs each
//!   RUNS=5 CHARTS=vrrp-router cargo bench --bench charts
//!   RUNS=1 SHOW_LOGS=1 CHARTS=home-server cargo bench --bench charts  # n2's log
//!
//! Lab and probes: see tests/charts_lab/mod.rs (the lab tests (tests/charts_e2e.rs) run the
//! same scenarios once). Node loss detaches n1's veths from the bridges;
//! the figure is the longest window in which the client's probe of the
//! VIP (every 10 ms) got no answer.

#[path = "../tests/charts_lab/mod.rs"]
mod charts_lab;

use charts_lab::common::{median, ms, runs};
use charts_lab::Scenario;

/// Each chart with what its seed says of its own failover.
fn scenarios() -> Vec<(Scenario, &'static str)> {
    vec![
        (
            charts_lab::npmplus(),
            "\"Wait 5-10 seconds\" (its failover test)",
        ),
        (charts_lab::pihole(), "\"Failover Time <10 seconds\""),
        (
            charts_lab::vrrp_router(),
            "none stated (vrrpd: 3 adverts of 1 s, RFC 3768)",
        ),
        (
            charts_lab::home_server(),
            "\"Primary power loss: ~30s\" RTO",
        ),
        (
            charts_lab::compose_on_nfs(),
            "\"~3–6 s VIP migration on node loss\"",
        ),
    ]
}

fn main() {
    let wanted: Option<Vec<String>> = std::env::var("CHARTS")
        .ok()
        .map(|c| c.split(',').map(str::to_string).collect());
    let count = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let mut rows = Vec::new();
    for (scenario, claim) in scenarios() {
        if wanted
            .as_ref()
            .is_some_and(|w| !w.iter().any(|c| c == scenario.chart))
        {
            continue;
        }
        let samples: Vec<_> = (0..count)
            .map(|run| {
                let outage = scenario.start().node_loss_outage();
                eprintln!("{} run {}: {} ms", scenario.chart, run + 1, ms(outage));
                outage
            })
            .collect();
        rows.push(format!(
            "| `{}` | {} | {} | {} |",
            scenario.chart,
            ms(median(samples.clone())),
            runs(&samples),
            claim
        ));
    }
    println!("| chart | median outage (ms) | runs (ms) | the seed's claim |");
    println!("|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}
