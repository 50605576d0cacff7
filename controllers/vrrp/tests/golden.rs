//! Golden-file tests: replay the scenarios in `tests/golden/*.txt` through
//! [`Instance::handle`] and compare the actions with the files.
//!
//! File format, one item per line:
//!
//! ```text
//! # comment (kept as is; blank lines too)
//! config version=3 priority=100 interval=1s primary=10.0.0.2 vips=10.0.0.100
//! at 0ms Startup
//!   StateChanged Initialize -> Backup      <- expected actions, indented
//! at 3600ms Timer MasterDown
//! ```
//!
//! `config` starts a fresh instance (keys: version, vrid, priority, interval,
//! preempt, preempt_delay, accept, primary, vips, members (`acceptFrom:
//! members`, the members' addresses); unset keys take
//! [`InstanceConfig::new`]'s defaults). `at TIME INPUT` feeds one input;
//! INPUT is one of `Startup`, `Shutdown`, `ForceBackup`, `Restore`,
//! `GroupBackup`, `GroupMaster`, `GroupFault on|off`, `PreemptAllowed on|off`,
//! `Timer Advert|MasterDown|PreemptDelay`, `Tracking fault`,
//! `Tracking delta=N`, `PriorityAdjust adjustment=N`,
//! `Advert src=IP prio=N interval=DURATION [vips=IP,IP]` (vips default to
//! the instance's own), and the changes the shell sees on the host:
//! `VipRemoved addr=IP`, `VipAppeared addr=IP on=vips|parent`,
//! `VirtualMacDown`. Indented lines are the actions the input must
//! produce, in order, as [`hareconcile_vrrp::core::Action`]'s `Display` writes
//! them. Run with `BLESS=1` to rewrite them from the current code.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hareconcile_vrrp::core::packet::Version;
use hareconcile_vrrp::core::repair::VipPlace;
use hareconcile_vrrp::core::{
    Input, Instance, InstanceConfig, Switchover, Timer, Timestamp, Tracking,
};

#[test]
fn golden_scenarios() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/golden exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no scenarios in {}", dir.display());
    let bless = std::env::var_os("BLESS").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    for path in &files {
        let original = std::fs::read_to_string(path).unwrap();
        let rendered = match replay(&original) {
            Ok(text) => text,
            Err(err) => {
                failures.push(format!("{}: {err}", path.display()));
                continue;
            }
        };
        if rendered == original {
            continue;
        }
        if bless {
            std::fs::write(path, &rendered).unwrap();
        } else {
            failures.push(format!(
                "{}:\n{}",
                path.display(),
                first_difference(&original, &rendered)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "golden mismatches (rerun with BLESS=1 to accept):\n\n{}",
        failures.join("\n\n")
    );
}

/// Replays a scenario and returns the file as it should read: every line but
/// the expected actions kept, each input followed by the actions it produced.
fn replay(text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut instance: Option<Instance> = None;
    let mut last_time = Timestamp::ORIGIN;
    for (index, line) in text.lines().enumerate() {
        let lineno = index + 1;
        if line.starts_with("  ") {
            continue; // expected actions: regenerated below their input
        }
        writeln!(out, "{line}").unwrap();
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix("config ") {
            let config = parse_config(rest).map_err(|e| format!("line {lineno}: {e}"))?;
            instance =
                Some(Instance::new(config).map_err(|e| format!("line {lineno}: config: {e}"))?);
            last_time = Timestamp::ORIGIN;
        } else if let Some(rest) = trimmed.strip_prefix("at ") {
            let instance = instance
                .as_mut()
                .ok_or(format!("line {lineno}: input before any config"))?;
            let (time, input) = rest
                .split_once(' ')
                .ok_or(format!("line {lineno}: expected `at TIME INPUT`"))?;
            let now = Timestamp::from_origin(
                parse_duration(time).map_err(|e| format!("line {lineno}: {e}"))?,
            );
            if now < last_time {
                return Err(format!("line {lineno}: time goes backwards"));
            }
            last_time = now;
            let input =
                parse_input(input, instance.config()).map_err(|e| format!("line {lineno}: {e}"))?;
            for action in instance.handle(now, input) {
                writeln!(out, "  {action}").unwrap();
            }
        } else {
            return Err(format!("line {lineno}: unknown line `{line}`"));
        }
    }
    Ok(out)
}

fn parse_config(text: &str) -> Result<InstanceConfig, String> {
    let mut config = InstanceConfig::new(
        51,
        "10.0.0.2".parse().unwrap(),
        vec!["10.0.0.100".parse().unwrap()],
    );
    for (key, value) in key_values(text)? {
        match key {
            "version" => {
                config.version = match value {
                    "2" => Version::V2,
                    "3" => Version::V3,
                    _ => return Err(format!("version must be 2 or 3, not {value}")),
                }
            }
            "vrid" => config.vrid = parse_num(value)?,
            "priority" => config.priority = parse_num(value)?,
            "interval" => config.advert_interval = parse_duration(value)?,
            "preempt" => config.preempt = parse_bool(value)?,
            "preempt_delay" => config.preempt_delay = parse_duration(value)?,
            "accept" => config.accept_mode = parse_bool(value)?,
            "primary" => config.primary_address = parse_ip(value)?,
            "vips" => config.virtual_addresses = parse_ips(value)?,
            "members" => config.accept_from = Some(parse_ips(value)?),
            _ => return Err(format!("unknown config key {key}")),
        }
    }
    Ok(config)
}

fn parse_input(text: &str, config: &InstanceConfig) -> Result<Input, String> {
    let (name, rest) = text.split_once(' ').unwrap_or((text, ""));
    Ok(match (name, rest.trim()) {
        ("Startup", "") => Input::Startup,
        ("Shutdown", "") => Input::Shutdown,
        ("ForceBackup", "") => Input::ForceBackup,
        ("Restore", "") => Input::Restore,
        ("GroupBackup", "") => Input::GroupBackup,
        ("GroupMaster", "") => Input::GroupMaster,
        ("GroupFault", "on") => Input::GroupFault(true),
        ("GroupFault", "off") => Input::GroupFault(false),
        ("PreemptAllowed", "on") => Input::PreemptAllowed(true),
        ("PreemptAllowed", "off") => Input::PreemptAllowed(false),
        ("Switchover", "none") => Input::Switchover(Switchover::None),
        ("Switchover", "here") => Input::Switchover(Switchover::ToHere),
        ("Switchover", "elsewhere") => Input::Switchover(Switchover::Elsewhere),
        ("Timer", "Advert") => Input::TimerExpired(Timer::Advert),
        ("Timer", "MasterDown") => Input::TimerExpired(Timer::MasterDown),
        ("Timer", "PreemptDelay") => Input::TimerExpired(Timer::PreemptDelay),
        ("Tracking", "fault") => Input::TrackingChanged(Tracking::Fault),
        ("Tracking", args) => {
            let delta = single_value(args, "delta")?;
            Input::TrackingChanged(Tracking::Healthy {
                priority_delta: parse_num(delta)?,
            })
        }
        ("VipRemoved", args) => Input::VipRemoved(parse_ip(single_value(args, "addr")?)?),
        ("VipAppeared", args) => {
            let (mut address, mut place) = (None, None);
            for (key, value) in key_values(args)? {
                match (key, value) {
                    ("addr", ip) => address = Some(parse_ip(ip)?),
                    ("on", "vips") => place = Some(VipPlace::VipInterface),
                    ("on", "parent") => place = Some(VipPlace::Parent),
                    _ => return Err(format!("unknown VipAppeared key {key}={value}")),
                }
            }
            Input::VipAppeared {
                address: address.ok_or("VipAppeared needs addr=")?,
                place: place.ok_or("VipAppeared needs on=vips|parent")?,
            }
        }
        ("VirtualMacDown", "") => Input::VirtualMacDown,
        ("PriorityAdjust", args) => Input::PriorityAdjust {
            adjustment: parse_num(single_value(args, "adjustment")?)?,
        },
        ("Advert", args) => {
            let mut src = None;
            let mut priority = None;
            let mut interval = None;
            let mut addresses = config.virtual_addresses.clone();
            for (key, value) in key_values(args)? {
                match key {
                    "src" => src = Some(parse_ip(value)?),
                    "prio" => priority = Some(parse_num(value)?),
                    "interval" => interval = Some(parse_duration(value)?),
                    "vips" => addresses = parse_ips(value)?,
                    _ => return Err(format!("unknown Advert key {key}")),
                }
            }
            Input::AdvertReceived {
                src: src.ok_or("Advert needs src=")?,
                priority: priority.ok_or("Advert needs prio=")?,
                max_advert_interval: interval.ok_or("Advert needs interval=")?,
                addresses,
            }
        }
        _ => return Err(format!("unknown input `{text}`")),
    })
}

fn key_values(text: &str) -> Result<Vec<(&str, &str)>, String> {
    text.split_whitespace()
        .map(|pair| {
            pair.split_once('=')
                .ok_or(format!("expected key=value, got `{pair}`"))
        })
        .collect()
}

fn single_value<'a>(text: &'a str, key: &str) -> Result<&'a str, String> {
    match key_values(text)?.as_slice() {
        [(k, v)] if *k == key => Ok(v),
        _ => Err(format!("expected {key}=VALUE, got `{text}`")),
    }
}

fn parse_num<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("bad number `{text}`"))
}

fn parse_bool(text: &str) -> Result<bool, String> {
    text.parse().map_err(|_| format!("bad boolean `{text}`"))
}

fn parse_ip(text: &str) -> Result<IpAddr, String> {
    text.parse().map_err(|_| format!("bad address `{text}`"))
}

fn parse_ips(text: &str) -> Result<Vec<IpAddr>, String> {
    text.split(',').map(parse_ip).collect()
}

/// `250ms`, `3s`, `609375us`, `3605468750ns`: the forms Timestamp displays.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or(format!("duration `{text}` lacks a unit"))?;
    let (digits, unit) = text.split_at(split);
    let value: u64 = parse_num(digits)?;
    match unit {
        "s" => Ok(Duration::from_secs(value)),
        "ms" => Ok(Duration::from_millis(value)),
        "us" => Ok(Duration::from_micros(value)),
        "ns" => Ok(Duration::from_nanos(value)),
        _ => Err(format!("unknown unit in `{text}`")),
    }
}

fn first_difference(expected: &str, actual: &str) -> String {
    let expected: Vec<&str> = expected.lines().collect();
    let actual: Vec<&str> = actual.lines().collect();
    let at = expected
        .iter()
        .zip(&actual)
        .position(|(e, a)| e != a)
        .unwrap_or(expected.len().min(actual.len()));
    let window = |lines: &[&str]| {
        lines
            .iter()
            .skip(at.saturating_sub(2))
            .take(6)
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    format!(
        "  first difference at line {}\n  file says:\n{}\n  code produces:\n{}",
        at + 1,
        window(&expected),
        window(&actual)
    )
}
