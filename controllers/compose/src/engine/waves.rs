//! Services grouped into waves: every service in a wave depends only on
//! services of earlier waves, so each wave starts in parallel.

use std::collections::BTreeMap;

use crate::file::Project;

pub fn waves(project: &Project) -> Vec<Vec<String>> {
    let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
    // start_order puts dependencies first, so their depth is known.
    for name in &project.start_order {
        let d = project.services[name]
            .dependencies()
            .map(|dep| depth.get(dep).map_or(0, |d| d + 1))
            .max()
            .unwrap_or(0);
        depth.insert(name, d);
    }
    let mut waves: Vec<Vec<String>> = Vec::new();
    for (name, d) in depth {
        if waves.len() <= d {
            waves.resize(d + 1, Vec::new());
        }
        waves[d].push(name.to_string());
    }
    waves
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::load_text;

    #[test]
    fn independent_services_share_a_wave() {
        let project = load_text(
            "services:\n  web: {image: x, depends_on: [worker, cache]}\n  worker: {image: x, depends_on: [db]}\n  cache: {image: x}\n  db: {image: x}\n  idle: {image: x}\n",
        )
        .unwrap();
        assert_eq!(
            waves(&project),
            [vec!["cache", "db", "idle"], vec!["worker"], vec!["web"]]
        );
    }
}
