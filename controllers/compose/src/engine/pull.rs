//! Images on the node: whether one is there, and pulling one through the
//! Engine API with its registry's credentials, logged as a start and a
//! summary (layers, bytes, time) instead of per-layer progress.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::image::CreateImageOptions;
use futures::StreamExt;
use tracing::info;

use super::{api, credentials, Engine, EngineError};
use crate::file::ImageRef;

/// What a finished pull brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pulled {
    /// Layers downloaded (those already on the node are not counted).
    pub layers: usize,
    /// Their compressed size, as the registry announced it.
    pub bytes: u64,
    pub took: Duration,
}

impl std::fmt::Display for Pulled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} layer(s), {} bytes downloaded in {:.1}s",
            self.layers,
            self.bytes,
            self.took.as_secs_f64()
        )
    }
}

impl Engine {
    /// The id (`sha256:...`) of the image `image` names on this node, if
    /// it is here.
    pub async fn image_id(&self, image: &str) -> Result<Option<String>, EngineError> {
        match self.docker.inspect_image(image).await {
            Ok(inspected) => Ok(inspected.id),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(api("inspect image", image)(e)),
        }
    }

    /// Pulls `image` as `docker pull` would, with the plain credentials
    /// `docker login` left for its registry, if any.
    pub async fn pull(&self, image: &str) -> Result<Pulled, EngineError> {
        let failed = |message: String| EngineError::Pull {
            image: image.to_string(),
            message,
        };
        let reference = ImageRef::parse(image).map_err(failed)?;
        let options = CreateImageOptions {
            from_image: reference.repository.as_str(),
            tag: reference.tag_or_digest(),
            ..Default::default()
        };
        let credentials = credentials::for_registry(&reference.registry);
        info!(
            image,
            authenticated = credentials.is_some(),
            "pulling image"
        );
        let started = Instant::now();
        let mut progress = self.docker.create_image(Some(options), None, credentials);
        // Each layer's size, from its download progress.
        let mut layers: HashMap<String, u64> = HashMap::new();
        while let Some(message) = progress.next().await {
            let message = message.map_err(|e| failed(e.to_string()))?;
            if let Some(error) = message.error {
                return Err(failed(error));
            }
            let total = message.progress_detail.as_ref().and_then(|d| d.total);
            if let (Some(layer), Some(total), Some("Downloading")) =
                (message.id, total, message.status.as_deref())
            {
                layers.insert(layer, u64::try_from(total).unwrap_or(0));
            }
        }
        let pulled = Pulled {
            layers: layers.len(),
            bytes: layers.values().sum(),
            took: started.elapsed(),
        };
        info!(image, %pulled, "pulled image");
        Ok(pulled)
    }
}
