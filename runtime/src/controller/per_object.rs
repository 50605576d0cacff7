//! What a controller remembers per object between reconciles (a running
//! worker, a prober, the last project loaded): the state a deleted
//! object's `cleanup` needs, since its spec is gone from the store.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use hareconcile_model::ObjectKey;

/// A map from object to `T` that reconciles of different objects share.
/// Reconciles of one object never overlap (the runtime's guarantee), so
/// the lock is only held for a lookup or an update, never across an
/// `.await`.
pub struct PerObject<T> {
    map: Mutex<HashMap<ObjectKey, T>>,
}

impl<T> Default for PerObject<T> {
    fn default() -> Self {
        PerObject {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> PerObject<T> {
    /// The whole map, for an update that reads and writes. A reconcile
    /// that panicked while holding it poisoned the lock; its entries are
    /// still whole values, and refusing the map would turn one bad
    /// reconcile into every later reconcile of the kind failing.
    pub fn lock(&self) -> MutexGuard<'_, HashMap<ObjectKey, T>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn insert(&self, key: ObjectKey, value: T) -> Option<T> {
        self.lock().insert(key, value)
    }

    pub fn remove(&self, key: &ObjectKey) -> Option<T> {
        self.lock().remove(key)
    }

    /// A copy of `key`'s entry, so the lock is released before it is used.
    pub fn get_cloned(&self, key: &ObjectKey) -> Option<T>
    where
        T: Clone,
    {
        self.lock().get(key).cloned()
    }
}

#[cfg(test)]
mod tests {
    use hareconcile_model::Kind;

    use super::*;

    #[test]
    fn a_panic_while_locked_leaves_the_entries_usable() {
        let workers = std::sync::Arc::new(PerObject::default());
        let key = ObjectKey::new(Kind::Replication, "data");
        workers.insert(key.clone(), 1);
        let shared = std::sync::Arc::clone(&workers);
        let panicked = std::thread::spawn(move || {
            let _held = shared.lock();
            panic!("a reconcile bug");
        })
        .join();
        assert!(panicked.is_err());
        assert_eq!(workers.get_cloned(&key), Some(1));
        assert_eq!(workers.remove(&key), Some(1));
        assert!(workers.lock().is_empty());
    }
}
