//! Image references as Docker reads them (`name`, `name:tag`,
//! `registry:5000/name:tag`, `name@sha256:...`), so a pull asks the
//! Engine API for exactly what `docker pull` would, and credentials are
//! looked up for the right registry.

/// The registry of a reference that names none (Docker Hub).
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// The tag of a reference that gives neither tag nor digest.
const DEFAULT_TAG: &str = "latest";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The repository as written, registry included when written
    /// (`busybox`, `127.0.0.1:5000/busybox`): the Engine API's `fromImage`.
    pub repository: String,
    /// `docker.io` unless the first path component names a host.
    pub registry: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses a reference, refusing what Docker would refuse: empty parts,
    /// upper case in the repository, a digest that is not `algorithm:hex`.
    pub fn parse(text: &str) -> Result<ImageRef, String> {
        let invalid = |why: &str| Err(format!("invalid image reference {text:?}: {why}"));
        let (named, digest) = match text.split_once('@') {
            Some((named, digest)) => (named, Some(digest)),
            None => (text, None),
        };
        if let Some(digest) = digest {
            let well_formed = digest.split_once(':').is_some_and(|(algorithm, hex)| {
                !algorithm.is_empty()
                    && algorithm
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+._-".contains(c))
                    && hex.len() >= 32
                    && hex.chars().all(|c| c.is_ascii_hexdigit())
            });
            if !well_formed {
                return invalid("the digest must be algorithm:hex, e.g. sha256:...");
            }
        }
        // A colon after the last slash starts the tag; one before it is a
        // registry's port.
        let last_slash = named.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match named[last_slash..].split_once(':') {
            Some((_, tag)) => (&named[..named.len() - tag.len() - 1], Some(tag)),
            None => (named, None),
        };
        if let Some(tag) = tag {
            let valid = !tag.is_empty()
                && tag.len() <= 128
                && !tag.starts_with(['.', '-'])
                && tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
            if !valid {
                return invalid("a tag is up to 128 letters, digits, `_`, `.` and `-`");
            }
        }
        let (registry, path) = match repository.split_once('/') {
            Some((first, rest))
                if first.contains(['.', ':']) || first == "localhost" || first.contains('[') =>
            {
                (first, rest)
            }
            _ => (DEFAULT_REGISTRY, repository),
        };
        if registry.is_empty() || path.is_empty() {
            return invalid("the name is empty");
        }
        let component_ok = |c: &str| {
            !c.is_empty()
                && c.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && c.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && c.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        };
        if !path.split('/').all(component_ok) {
            return invalid(
                "a repository name is lower-case letters, digits and `._-` separators between `/`",
            );
        }
        Ok(ImageRef {
            repository: repository.to_string(),
            registry: registry.to_string(),
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        })
    }

    /// The Engine API's `tag` for a pull: the digest when there is one (it
    /// pins the content), else the tag, `latest` by default.
    pub fn tag_or_digest(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or(DEFAULT_TAG)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn references_split_into_repository_registry_and_tag_as_docker_reads_them() {
        let pinned = format!("busybox@{DIGEST}");
        let tagged_and_pinned = format!("quay.io/a/b:1.0@{DIGEST}");
        // (reference, fromImage, registry, tag or digest pulled)
        let cases = [
            ("busybox", "busybox", "docker.io", "latest"),
            (
                "pihole/pihole:2024.07.0",
                "pihole/pihole",
                "docker.io",
                "2024.07.0",
            ),
            (
                "127.0.0.1:5000/busybox:lab",
                "127.0.0.1:5000/busybox",
                "127.0.0.1:5000",
                "lab",
            ),
            // A port without a tag is not a tag.
            (
                "registry.example:5000/team/app",
                "registry.example:5000/team/app",
                "registry.example:5000",
                "latest",
            ),
            ("localhost/app:1", "localhost/app", "localhost", "1"),
            (
                "ghcr.io/zoeyvid/npmplus:latest",
                "ghcr.io/zoeyvid/npmplus",
                "ghcr.io",
                "latest",
            ),
            // A digest pins the content: it is what is pulled, even beside a tag.
            (&pinned, "busybox", "docker.io", DIGEST),
            (&tagged_and_pinned, "quay.io/a/b", "quay.io", DIGEST),
        ];
        for (text, repository, registry, pulled) in cases {
            let r = ImageRef::parse(text).unwrap();
            assert_eq!(
                (
                    r.repository.as_str(),
                    r.registry.as_str(),
                    r.tag_or_digest()
                ),
                (repository, registry, pulled),
                "{text}"
            );
        }
    }

    #[test]
    fn malformed_references_are_refused() {
        for bad in [
            "",
            "Busybox",
            "busybox:",
            "busybox:a b",
            "busybox@sha256:xyz",
            "busybox@latest",
            "registry:5000/",
            "/busybox",
            "team//app",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
