//! Object names from the names keepalived and Vrrpd users chose (`VI_1`,
//! `web_group`): hareconcile names are DNS labels.

use std::collections::BTreeSet;

/// The longest object name (a DNS-1123 label).
const MAX_LEN: usize = 63;

/// `raw` as a DNS label: lower case, anything but letters and digits turned
/// into single dashes, no dash at either end; `fallback` if nothing is left.
pub fn dns_label(raw: &str, fallback: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed: String = out.trim_matches('-').chars().take(MAX_LEN).collect();
    let trimmed = trimmed.trim_end_matches('-');
    if trimmed.is_empty() {
        fallback.to_string()
    } else {
        trimmed.to_string()
    }
}

/// Hands out names, each once: a name already taken gets `-2`, `-3`...
#[derive(Debug, Default)]
pub struct Names(BTreeSet<String>);

impl Names {
    pub fn take(&mut self, wanted: &str) -> String {
        let mut name = wanted.to_string();
        let mut n = 2;
        while self.0.contains(&name) {
            let suffix = format!("-{n}");
            let stem: String = wanted.chars().take(MAX_LEN - suffix.len()).collect();
            name = format!("{}{suffix}", stem.trim_end_matches('-'));
            n += 1;
        }
        self.0.insert(name.clone());
        name
    }
}

/// Whether `name` is already a valid object name.
pub fn is_dns_label(name: &str) -> bool {
    dns_label(name, "") == name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_names_become_labels() {
        assert_eq!(dns_label("VI_1", "x"), "vi-1");
        assert_eq!(dns_label("__Web..Group__", "x"), "web-group");
        assert_eq!(dns_label("___", "vrrp-51"), "vrrp-51");
        assert_eq!(dns_label(&"a".repeat(80), "x").len(), 63);
        assert!(is_dns_label("n1") && !is_dns_label("N1") && !is_dns_label("-a"));
    }

    #[test]
    fn taken_names_get_a_number() {
        let mut names = Names::default();
        assert_eq!(names.take("vi-1"), "vi-1");
        assert_eq!(names.take("vi-1"), "vi-1-2");
        assert_eq!(names.take("vi-1"), "vi-1-3");
    }
}
