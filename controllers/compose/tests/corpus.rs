//! Issue 13: the stacks people already have run unchanged. Every stack of
//! `tests/fixtures/compose/`, written in the shape of the documented
//! compose files of popular self-hosted projects and of the seed systems,
//! loads with the agent's loader; a few spot checks pin what their
//! Compose features (include, extends, merge keys, profiles, `.env`) give.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hareconcile_compose::file::{load, LoadOptions, Project};

/// The file Compose picks in a directory, in its search order.
fn compose_file(dir: &Path) -> Option<PathBuf> {
    [
        "compose.yaml",
        "compose.yml",
        "docker-compose.yaml",
        "docker-compose.yml",
    ]
    .iter()
    .map(|name| dir.join(name))
    .find(|path| path.is_file())
}

fn corpus() -> BTreeMap<String, PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/compose");
    std::fs::read_dir(&root)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter_map(|dir| {
            let name = dir.file_name()?.to_str()?.to_string();
            Some((name, compose_file(&dir)?))
        })
        .collect()
}

/// As a Service loads it: no variables from the test's own environment.
fn load_stack(file: &Path) -> Result<Project, String> {
    load(file, &LoadOptions::default()).map_err(|errors| {
        errors
            .0
            .iter()
            .map(|e| format!("\n    {e}"))
            .collect::<String>()
    })
}

#[test]
fn every_stack_of_the_corpus_loads() {
    let stacks = corpus();
    assert!(stacks.len() >= 30, "only {} stacks", stacks.len());
    let failures: Vec<String> = stacks
        .iter()
        .filter_map(|(name, file)| load_stack(file).err().map(|e| format!("{name}:{e}")))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn stack(name: &str) -> Project {
    load_stack(&corpus()[name]).unwrap()
}

fn env<'a>(project: &'a Project, service: &str, name: &str) -> &'a str {
    &project.services[service].environment[name]
}

#[test]
fn the_corpus_features_give_what_compose_gives() {
    let immich = stack("immich");
    assert_eq!(immich.name, "immich");
    assert_eq!(immich.services.len(), 4);
    assert_eq!(
        immich.services["immich-server"].image,
        "ghcr.io/immich-app/immich-server:release"
    );
    assert_eq!(env(&immich, "immich-server", "DB_DATABASE_NAME"), "immich");

    // COMPOSE_PROJECT_NAME in .env names the project.
    assert_eq!(stack("paperless-ngx").name, "paperless");

    // COMPOSE_PROFILES in .env enables the browser, `${BROWSER:+...}` points at it.
    let changes = stack("changedetection");
    assert!(changes.services.contains_key("browser"));
    assert_eq!(
        env(&changes, "changedetection", "PLAYWRIGHT_DRIVER_URL"),
        "ws://browser:3000"
    );

    // Merge keys share the linuxserver.io settings; a service's own win.
    let media = stack("linuxserver-media");
    assert_eq!(env(&media, "sonarr", "PGID"), "1000");
    assert_eq!(env(&media, "qbittorrent", "WEBUI_PORT"), "8080");
    assert_eq!(
        media.services["radarr"].restart.as_deref(),
        Some("unless-stopped")
    );

    // extends from a common file keeps that file's relative paths.
    let heimdall = stack("heimdall");
    let service = &heimdall.services["heimdall"];
    assert_eq!(env(&heimdall, "heimdall", "TZ"), "Etc/UTC");
    let localtime = service
        .volumes
        .iter()
        .find_map(|m| m.source.as_deref().filter(|s| s.ends_with("/localtime")))
        .unwrap();
    assert!(
        localtime.ends_with("heimdall/common/localtime"),
        "{localtime}"
    );

    // include brings the monitoring stack in with its own env file.
    let monitoring = stack("monitoring-include");
    assert_eq!(monitoring.services["loki"].image, "grafana/loki:3.5.0");
    assert_eq!(
        monitoring.start_order.first().map(String::as_str),
        Some("loki")
    );

    // .env with export and an inline comment (the Pi-hole seed).
    let pihole = stack("pihole");
    assert_eq!(
        env(&pihole, "pihole", "FTLCONF_webserver_api_password"),
        "correct horse battery staple"
    );
    assert_eq!(pihole.services["pihole"].ports.len(), 4);
}
