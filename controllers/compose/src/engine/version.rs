//! Settings the engine's API version must know: an older engine drops
//! fields it does not know without a word, so a container would run
//! without them. Refused instead, as Compose refuses them.

use bollard::Docker;

use super::EngineError;
use crate::file::Service;

/// The settings of `service` that need a newer API than `docker` speaks.
pub fn check(docker: &Docker, container: &str, service: &Service) -> Result<(), EngineError> {
    let version = docker.client_version();
    let speaks = (version.major_version, version.minor_version);
    let needs = [
        (
            !service.annotations.is_empty(),
            "annotations",
            (1, 43),
            "Docker 24",
        ),
        (
            service
                .healthcheck
                .as_ref()
                .is_some_and(|h| h.start_interval.is_some()),
            "healthcheck.start_interval",
            (1, 44),
            "Docker 25",
        ),
    ];
    match needs
        .into_iter()
        .find(|(used, _, needed, _)| *used && speaks < *needed)
    {
        Some((_, setting, needed, release)) => Err(EngineError::TooOld {
            container: container.to_string(),
            setting,
            needed: format!("{}.{} ({release})", needed.0, needed.1),
            speaks: format!("{}.{}", speaks.0, speaks.1),
        }),
        None => Ok(()),
    }
}
