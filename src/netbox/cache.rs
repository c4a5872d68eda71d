//! A small expiring cache that merges concurrent loads of the same key into one.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

struct Slot<V> {
    cell: OnceCell<(V, Instant)>,
}

/// Values keyed by `K` that expire after the time their loader chose.
///
/// Callers that ask for the same missing key at the same time wait for one load. A load that
/// fails is not cached, so the next caller tries again.
pub struct ExpiringCache<K, V> {
    slots: Mutex<HashMap<K, Arc<Slot<V>>>>,
    max_entries: usize,
}

impl<K: Eq + Hash + Clone, V: Clone> ExpiringCache<K, V> {
    pub fn new(max_entries: usize) -> Self {
        ExpiringCache {
            slots: Mutex::new(HashMap::new()),
            max_entries: max_entries.max(1),
        }
    }

    /// Returns the cached value, or runs `load` once for all concurrent callers of this key.
    ///
    /// `load` returns the value and how long it stays valid.
    pub async fn get_or_load<E, F, Fut>(&self, key: K, load: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(V, Duration), E>>,
    {
        let slot = self.slot_for(&key);

        let (value, _) = slot
            .cell
            .get_or_try_init(|| async {
                let (value, ttl) = load().await?;
                Ok((value, Instant::now() + ttl))
            })
            .await?;

        Ok(value.clone())
    }

    fn slot_for(&self, key: &K) -> Arc<Slot<V>> {
        let mut slots = self.lock();
        let now = Instant::now();

        if let Some(slot) = slots.get(key) {
            let expired = matches!(slot.cell.get(), Some((_, expires)) if *expires <= now);
            if !expired {
                return slot.clone();
            }
        }

        if slots.len() >= self.max_entries {
            slots.retain(|_, slot| matches!(slot.cell.get(), Some((_, expires)) if *expires > now));
        }
        if slots.len() >= self.max_entries {
            slots.clear();
        }

        let slot = Arc::new(Slot {
            cell: OnceCell::new(),
        });
        slots.insert(key.clone(), slot.clone());
        slot
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Arc<Slot<V>>>> {
        // A panic while the lock is held leaves the map consistent, so a poisoned lock is usable.
        self.slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_loads_of_one_key_run_once() {
        let cache = Arc::new(ExpiringCache::<u32, u32>::new(16));
        let loads = Arc::new(AtomicUsize::new(0));

        let mut tasks = Vec::new();
        for _ in 0..20 {
            let cache = cache.clone();
            let loads = loads.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_load(7, || async move {
                        loads.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok::<_, ()>((42, Duration::from_secs(60)))
                    })
                    .await
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap(), Ok(42));
        }

        assert_eq!(loads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn expired_values_are_loaded_again() {
        let cache = ExpiringCache::<u32, u32>::new(16);
        let first = cache
            .get_or_load(1, || async { Ok::<_, ()>((1, Duration::ZERO)) })
            .await;
        let second = cache
            .get_or_load(1, || async { Ok::<_, ()>((2, Duration::from_secs(60))) })
            .await;

        assert_eq!(first, Ok(1));
        assert_eq!(second, Ok(2));
    }

    #[tokio::test]
    async fn failed_loads_are_not_cached() {
        let cache = ExpiringCache::<u32, u32>::new(16);
        let failed = cache
            .get_or_load(1, || async { Err::<(u32, Duration), _>("down") })
            .await;
        let loaded = cache
            .get_or_load(1, || async { Ok::<_, &str>((5, Duration::from_secs(60))) })
            .await;

        assert_eq!(failed, Err("down"));
        assert_eq!(loaded, Ok(5));
    }

    #[tokio::test]
    async fn full_cache_drops_old_entries() {
        let cache = ExpiringCache::<u32, u32>::new(2);
        for key in 0..5 {
            let value = cache
                .get_or_load(key, || async move {
                    Ok::<_, ()>((key, Duration::from_secs(60)))
                })
                .await;
            assert_eq!(value, Ok(key));
        }

        assert!(cache.lock().len() <= 2);
    }
}
