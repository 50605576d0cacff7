//! `minHareconcileVersion`: plain `MAJOR.MINOR.PATCH`, compared numerically
//! (the chart schema admits nothing else).

/// Whether `have` is `needs` or newer; a pre-release suffix of `have`
/// (`0.2.0-dev`) counts as its release.
pub fn at_least(have: &str, needs: &str) -> bool {
    match (numbers(have), numbers(needs)) {
        (Some(have), Some(needs)) => have >= needs,
        // chart.yaml's schema guarantees `needs`; a build whose own version
        // cannot be read is not refused for it.
        _ => true,
    }
}

fn numbers(version: &str) -> Option<(u64, u64, u64)> {
    let release = version.split(['-', '+']).next()?;
    let mut parts = release.split('.').map(|p| p.parse::<u64>().ok());
    let triple = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(triple)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_numerically_not_as_text() {
        assert!(at_least("0.10.0", "0.9.0"));
        assert!(at_least("0.1.0", "0.1.0"));
        assert!(!at_least("0.1.0", "0.1.1"));
        assert!(!at_least("0.9.9", "1.0.0"));
        assert!(at_least("0.2.0-dev", "0.2.0"));
    }
}
