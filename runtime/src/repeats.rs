//! Warnings for failures a retry loop meets every few seconds (a peer
//! address it cannot bind, a Docker Engine that is not there): the first
//! of a run of identical ones is logged, then the 2nd, 4th, 8th... with
//! the count, so a lasting failure stays visible without filling the
//! journal.

#[derive(Default)]
pub struct Repeats {
    last: Option<String>,
    count: u64,
}

impl Repeats {
    /// `Some(n)`: log `message`, the `n`th in a row; `None`: stay quiet.
    pub fn note(&mut self, message: &str) -> Option<u64> {
        if self.last.as_deref() != Some(message) {
            self.last = Some(message.to_string());
            self.count = 0;
        }
        self.count += 1;
        self.count.is_power_of_two().then_some(self.count)
    }

    /// The failure is over: the next one is logged at once.
    pub fn clear(&mut self) {
        *self = Repeats::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_failures_are_logged_ever_more_rarely_with_their_count() {
        let mut repeats = Repeats::default();
        let logged: Vec<u64> = (0..20)
            .filter_map(|_| repeats.note("EADDRNOTAVAIL"))
            .collect();
        assert_eq!(logged, [1, 2, 4, 8, 16]);
        assert_eq!(
            repeats.note("EACCES"),
            Some(1),
            "a new failure shows at once"
        );
        repeats.clear();
        assert_eq!(repeats.note("EACCES"), Some(1));
    }
}
