//! Prints the hex VRRP message hareconcile would multicast, for interop
//! checks against other implementations (see `interop/keepalived.sh`).
//!
//! Usage: encode_advert VERSION VRID PRIORITY INTERVAL_MS SRC VIP[,VIP...] [PASSWORD]

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use hareconcile_vrrp::core::packet::{Auth, Version, MULTICAST_V4, MULTICAST_V6};
use hareconcile_vrrp::core::{Instance, InstanceConfig};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match encode(&args) {
        Ok(hex) => {
            println!("{hex}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("encode_advert: {err}");
            eprintln!("usage: encode_advert VERSION VRID PRIORITY INTERVAL_MS SRC VIP[,VIP...] [PASSWORD]");
            ExitCode::from(2)
        }
    }
}

fn encode(args: &[String]) -> Result<String, String> {
    let [version, vrid, priority, interval_ms, src, vips, rest @ ..] = args else {
        return Err("missing arguments".into());
    };
    let number = |text: &str| {
        text.parse::<u64>()
            .map_err(|_| format!("bad number {text}"))
    };
    let address = |text: &str| {
        text.parse::<IpAddr>()
            .map_err(|_| format!("bad address {text}"))
    };
    let vrid = u8::try_from(number(vrid)?).map_err(|_| "VRID is 1-255")?;
    let mut config = InstanceConfig::new(
        vrid,
        address(src)?,
        vips.split(',').map(address).collect::<Result<_, _>>()?,
    );
    config.version = match version.as_str() {
        "2" => Version::V2,
        "3" => Version::V3,
        other => return Err(format!("version {other}: use 2 or 3")),
    };
    config.priority = u8::try_from(number(priority)?).map_err(|_| "priority is 1-255")?;
    config.advert_interval = Duration::from_millis(number(interval_ms)?);
    if let [password] = rest {
        config.auth = Auth::password(password);
    }
    // Validates the config the same way the agent would.
    let instance = Instance::new(config).map_err(|e| e.to_string())?;
    let config = instance.config();
    let group: IpAddr = match config.primary_address {
        IpAddr::V4(_) => MULTICAST_V4.into(),
        IpAddr::V6(_) => MULTICAST_V6.into(),
    };
    let bytes = config
        .advertisement(config.priority)
        .encode(config.primary_address, group, config.checksum_mode)
        .map_err(|e| e.to_string())?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
