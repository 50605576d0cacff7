//! Whether a container still runs the image its service's reference names
//! on this node. A tag moves when a pull brings a newer image under it
//! (`pull_policy: always`, or `docker pull` by hand) or when `docker tag`
//! or `docker load` puts another image there; the container keeps the
//! image it was created from. Docker Compose v2 recreates such a container
//! on `up` whatever the pull policy (it compares the image id the tag has
//! now with the one the container was created from), and so does the
//! engine here.

use bollard::models::ContainerInspectResponse;

use super::{Engine, EngineError};
use crate::file::Service;

/// A service's container created from an older image than the one its
/// reference names now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUpdate {
    pub service: String,
    /// The reference as the compose file writes it.
    pub image: String,
    /// Image ids (`sha256:...`): the container's, and the reference's now.
    pub old: String,
    pub new: String,
}

/// The 12 hex digits `docker images` shows of an image id.
fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

impl std::fmt::Display for ImageUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "service {}: image {} is now {} (was {})",
            self.service,
            self.image,
            short(&self.new),
            short(&self.old)
        )
    }
}

impl Engine {
    /// The newer image `existing` should run, if its service's reference
    /// names another image now. An image no longer here (untagged by hand)
    /// is no reason to touch a container that still has it.
    pub(super) async fn newer_image(
        &self,
        service_name: &str,
        service: &Service,
        existing: &ContainerInspectResponse,
    ) -> Result<Option<ImageUpdate>, EngineError> {
        let (Some(old), Some(new)) = (
            existing.image.as_deref(),
            self.image_id(&service.image).await?,
        ) else {
            return Ok(None);
        };
        Ok((old != new).then(|| ImageUpdate {
            service: service_name.to_string(),
            image: service.image.clone(),
            old: old.to_string(),
            new,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_shown_as_docker_images_shows_them() {
        let update = ImageUpdate {
            service: "web".into(),
            image: "127.0.0.1:5000/busybox:lab".into(),
            old: "sha256:0123456789abcdef0123".into(),
            new: "sha256:fedcba9876543210fedc".into(),
        };
        assert_eq!(
            update.to_string(),
            "service web: image 127.0.0.1:5000/busybox:lab is now fedcba987654 (was 0123456789ab)"
        );
        assert_eq!(short("abc"), "abc");
    }
}
