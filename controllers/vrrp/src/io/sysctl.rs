//! Per-interface kernel settings under /proc/sys/net.

use std::io;

use thiserror::Error;

#[derive(Debug, Error)]
#[error("setting {path} to {value}: {source}")]
pub struct SysctlError {
    pub path: String,
    pub value: u8,
    #[source]
    pub source: io::Error,
}

/// Writes `/proc/sys/net/FAMILY/conf/INTERFACE/KEY` (a dot in an interface
/// name is literal there, unlike in sysctl(8)'s dotted keys).
pub fn set_interface(
    family: &str,
    interface: &str,
    key: &str,
    value: u8,
) -> Result<(), SysctlError> {
    let path = format!("/proc/sys/net/{family}/conf/{interface}/{key}");
    std::fs::write(&path, value.to_string()).map_err(|source| SysctlError {
        path,
        value,
        source,
    })
}
