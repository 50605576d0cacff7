//! What a project's containers are doing, as one list call sees it.

use std::collections::HashMap;

use bollard::container::ListContainersOptions;

use super::{api, labels, Engine, EngineError};

/// What one of the project's containers is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerStatus {
    pub name: String,
    pub service: String,
    /// Which of the service's containers it is, from 1.
    pub number: u32,
    /// Docker's state: `running`, `exited`, `created`...
    pub state: String,
    /// `healthy`, `unhealthy`, `starting`, or `None` without a healthcheck.
    pub health: Option<String>,
    /// The `com.docker.compose.config-hash` label it was created with.
    pub config_hash: Option<String>,
}

#[cfg(test)]
impl ContainerStatus {
    /// Container `shop_SERVICE_1` as a list call would describe it.
    pub(crate) fn of_shop(service: &str, state: &str, health: Option<&str>) -> Self {
        ContainerStatus {
            name: format!("shop_{service}_1"),
            service: service.into(),
            number: 1,
            state: state.into(),
            health: health.map(str::to_string),
            config_hash: None,
        }
    }
}

impl Engine {
    /// The project's containers (not one-off runs), by name.
    pub async fn containers(&self, project: &str) -> Result<Vec<ContainerStatus>, EngineError> {
        let options = ListContainersOptions {
            all: true,
            filters: HashMap::from([(
                "label".to_string(),
                vec![
                    format!("{}={project}", labels::PROJECT),
                    format!("{}=False", labels::ONEOFF),
                ],
            )]),
            ..Default::default()
        };
        let mut found: Vec<ContainerStatus> = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(api("list containers of", project))?
            .into_iter()
            .map(|summary| {
                let labels = summary.labels.unwrap_or_default();
                let status = summary.status.unwrap_or_default();
                ContainerStatus {
                    name: summary
                        .names
                        .and_then(|n| n.into_iter().next())
                        .map(|n| n.trim_start_matches('/').to_string())
                        .unwrap_or_default(),
                    service: labels.get(labels::SERVICE).cloned().unwrap_or_default(),
                    number: labels::identity(&labels).map_or(1, |(_, _, n)| n),
                    state: summary.state.unwrap_or_default(),
                    health: health_from_status(&status),
                    config_hash: labels.get(labels::CONFIG_HASH).cloned(),
                }
            })
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }
}

/// The list API gives health only inside the human status, e.g.
/// `Up 3 seconds (healthy)`; it saves an inspect per container.
fn health_from_status(status: &str) -> Option<String> {
    ["healthy", "unhealthy", "health: starting"]
        .iter()
        .rev()
        .find(|h| status.contains(&format!("({h})")))
        .map(|h| h.trim_start_matches("health: ").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_health_from_the_status_line() {
        assert_eq!(
            health_from_status("Up 3 seconds (healthy)").as_deref(),
            Some("healthy")
        );
        assert_eq!(
            health_from_status("Up 1 second (unhealthy)").as_deref(),
            Some("unhealthy")
        );
        assert_eq!(
            health_from_status("Up 1 second (health: starting)").as_deref(),
            Some("starting")
        );
        assert_eq!(health_from_status("Exited (0) 2 minutes ago"), None);
    }
}
