//! Embeds every chart (each directory beside `src/` with a `chart.yaml`)
//! into the crate, so the binary carries its charts: `$OUT_DIR/embedded.rs`
//! lists each file with its bytes and whether it is executable (hooks and
//! probes must stay so when a chart is rendered).

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    // A directory makes cargo rescan everything below it: new charts and
    // new files in a chart are picked up, not only edits.
    println!("cargo:rerun-if-changed={}", root.display());
    let mut charts: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("the crate directory is readable")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.join("chart.yaml").is_file())
        .collect();
    charts.sort();
    let mut out = String::from("pub(crate) static EMBEDDED: &[EmbeddedFile] = &[\n");
    for chart in &charts {
        let name = chart.file_name().unwrap().to_string_lossy().into_owned();
        let mut files = Vec::new();
        collect(chart, chart, &mut files);
        files.sort();
        for (relative, absolute, executable) in files {
            writeln!(
                out,
                "    EmbeddedFile {{ chart: {name:?}, path: {relative:?}, executable: {executable}, bytes: include_bytes!({:?}) }},",
                absolute.display().to_string()
            )
            .unwrap();
        }
    }
    out.push_str("];\n");
    let dest =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo")).join("embedded.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}

/// Every file below `dir` except hidden ones (editor swap files, `.git`),
/// as (path relative to the chart with `/`, absolute path, executable).
fn collect(chart: &Path, dir: &Path, files: &mut Vec<(String, PathBuf, bool)>) {
    for entry in std::fs::read_dir(dir).expect("a chart directory is readable") {
        let entry = entry.expect("a directory entry");
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let meta = entry.metadata().expect("a chart file's metadata");
        if meta.is_dir() {
            collect(chart, &path, files);
        } else {
            let relative = path
                .strip_prefix(chart)
                .unwrap()
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            files.push((relative, path, meta.permissions().mode() & 0o111 != 0));
        }
    }
}
