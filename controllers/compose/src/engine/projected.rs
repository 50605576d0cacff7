//! Secrets and configs whose bytes come from an environment variable or
//! inline content: written into the container after it is created and
//! before it starts, as Compose writes them (a file bind mount cannot
//! carry them). Host-file ones are bind mounts (see `spec`).

use tracing::info;

use super::{api, Engine, EngineError};
use crate::file::{ProjectedFile, Service, Source};

/// Unset mode of a written file: readable by all, as Compose writes it.
const DEFAULT_MODE: u32 = 0o444;

impl Engine {
    /// Writes the service's content secrets and configs into container `name`.
    pub(super) async fn write_projected_files(
        &self,
        name: &str,
        service: &Service,
    ) -> Result<(), EngineError> {
        let files: Vec<&ProjectedFile> = service
            .secrets
            .iter()
            .chain(&service.configs)
            .filter(|f| matches!(f.source, Source::Content(_)))
            .collect();
        if files.is_empty() {
            return Ok(());
        }
        let archive = archive(&files).map_err(|e| EngineError::Projected {
            container: name.to_string(),
            message: e.to_string(),
        })?;
        info!(container = %name, files = files.len(), "writing secrets and configs");
        let options = bollard::container::UploadToContainerOptions {
            path: "/",
            ..Default::default()
        };
        self.docker
            .upload_to_container(name, Some(options), archive.into())
            .await
            .map_err(api("write secrets into container", name))
    }
}

/// One tar archive of the files at their absolute targets; the engine
/// creates missing parent directories as it unpacks.
fn archive(files: &[&ProjectedFile]) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for file in files {
        let Source::Content(content) = &file.source else {
            continue;
        };
        let mut header = tar::Header::new_gnu();
        header.set_size(content.0.len() as u64);
        header.set_mode(file.mode.unwrap_or(DEFAULT_MODE));
        header.set_uid(owner(file.uid.as_deref()));
        header.set_gid(owner(file.gid.as_deref()));
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mtime(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        );
        builder.append_data(
            &mut header,
            file.target.trim_start_matches('/'),
            content.0.as_bytes(),
        )?;
    }
    builder.into_inner()
}

/// A numeric uid or gid (the loader takes nothing else); root when unset.
fn owner(id: Option<&str>) -> u64 {
    id.and_then(|id| id.parse().ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::Content;

    #[test]
    fn files_land_at_their_targets_with_their_owner_and_mode() {
        let secret = ProjectedFile {
            name: "db".into(),
            target: "/run/secrets/db".into(),
            source: Source::Content(Content("s3cret".into())),
            uid: Some("70".into()),
            gid: None,
            mode: Some(0o400),
        };
        let config = ProjectedFile {
            name: "app".into(),
            target: "/app".into(),
            source: Source::Content(Content("a=1".into())),
            uid: None,
            gid: None,
            mode: None,
        };
        let bytes = archive(&[&secret, &config]).unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let entries: Vec<(String, u32, u64, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.size().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("run/secrets/db".to_string(), 0o400, 70, 6),
                ("app".to_string(), 0o444, 0, 3)
            ]
        );
    }
}
