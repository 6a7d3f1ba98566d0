//! The near cache's memory: what it holds, bounded in bytes, and the rule
//! that keeps it coherent with the store whatever order replies and
//! notifications arrive in.
//!
//! # The rule
//!
//! A value enters only through a [`Ticket`] taken *before* the store was
//! asked: taking it leaves a pending slot for the key, and every
//! notification for that key removes the slot (or, when it carries the
//! version it announces, raises the version the fill must reach). A reply
//! is kept only if its slot is still the ticket's, so a reply that a
//! concurrent write made stale is dropped whichever of the two arrives
//! first. Nothing is filled or served while the channel is down, and going
//! down clears everything: an entry never outlives a notification it may
//! have missed.

use super::super::{Lookup, Record};
use crate::id::StoreKey;
use hashlink::LinkedHashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Notify;

/// What the near cache holds a value for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum NearKey {
    /// A session's record.
    Session(StoreKey),
    /// A user's revocation time.
    Revoked(Box<str>),
}

impl NearKey {
    fn shard(&self, shards: usize) -> usize {
        let spread = match self {
            // a store key is a SHA-256 output: its bytes are already spread
            Self::Session(key) => usize::from(key.as_bytes()[0]),
            Self::Revoked(user) => user.bytes().fold(0usize, |h, b| {
                h.wrapping_mul(31).wrapping_add(usize::from(b))
            }),
        };
        spread % shards
    }

    fn bytes(&self) -> usize {
        match self {
            Self::Session(_) => 32,
            Self::Revoked(user) => user.len(),
        }
    }
}

/// A value the near cache holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Cached {
    /// A live record.
    Record(Record),
    /// A deleted session's tombstone, until the instant its store lets it go.
    Gone(Instant),
    /// A user's revocation time (`None`: never revoked).
    Revoked(Option<u64>),
}

impl Cached {
    /// The version a notification is compared with: a record's version, a
    /// revocation time (which only moves forward).
    fn version(&self) -> u64 {
        match self {
            Self::Record(record) => record.version,
            // a notified version means the key holds a record again
            Self::Gone(_) => 0,
            Self::Revoked(at) => at.unwrap_or(0),
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Self::Record(record) => record.data.len() + record.quick.len(),
            Self::Gone(_) | Self::Revoked(_) => 0,
        }
    }

    /// The value as a cache lookup answers it.
    pub(crate) fn lookup(self) -> Lookup {
        match self {
            Self::Record(record) => Lookup::Hit(record),
            Self::Gone(_) | Self::Revoked(_) => Lookup::Gone,
        }
    }
}

/// What a slot's bookkeeping costs beside the value itself.
const SLOT_OVERHEAD: usize = 96;

#[derive(Debug)]
enum Held {
    /// A ticket's: a reply at `floor` or newer may fill it. `write`: the
    /// ticket of a write (a read's reply changes nothing in the store).
    Pending { token: u64, floor: u64, write: bool },
    /// A value, filled in generation `generation`.
    Ready { value: Cached, generation: u64 },
}

#[derive(Debug)]
struct Slot {
    held: Held,
    bytes: usize,
    /// Requests waiting for a place taken (see [`Near::waiter`]), woken
    /// when the slot goes: filled, given back, dropped.
    waiters: Option<Arc<Notify>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(waiters) = &self.waiters {
            waiters.notify_waiters();
        }
    }
}

impl Slot {
    /// A write in flight: its place is what tells a read of the same key
    /// not to keep what it reads, so it is never evicted nor flushed; it
    /// goes when its write returns.
    fn is_write(&self) -> bool {
        matches!(self.held, Held::Pending { write: true, .. })
    }
}

#[derive(Debug, Default)]
struct Shard {
    slots: LinkedHashMap<NearKey, Slot>,
    bytes: usize,
}

impl Shard {
    fn remove(&mut self, key: &NearKey) {
        if let Some(slot) = self.slots.remove(key) {
            self.bytes -= slot.bytes;
        }
    }

    /// Inserts at the most recent end, evicting the least recently used
    /// down to `budget`. The place of a write in flight counts nothing
    /// against the budget (it holds no value, and there are at most as
    /// many as writes in flight) and is always kept.
    fn insert(&mut self, key: NearKey, held: Held, value_bytes: usize, budget: usize) -> bool {
        let bytes = match held {
            Held::Pending { write: true, .. } => 0,
            _ => SLOT_OVERHEAD + key.bytes() + value_bytes,
        };
        self.remove(&key);
        if bytes > budget {
            return false;
        }
        while self.bytes + bytes > budget {
            // the least recently used that is not a write in flight (there
            // are at most as many of those as requests in flight)
            let victim = self
                .slots
                .iter()
                .find(|(_, slot)| !slot.is_write())
                .map(|(key, _)| key.clone());
            match victim {
                Some(victim) => self.remove(&victim),
                None => break,
            }
        }
        self.bytes += bytes;
        self.slots.insert(
            key,
            Slot {
                held,
                bytes,
                waiters: None,
            },
        );
        true
    }
}

/// A place taken for a key before the store is asked; see the module docs.
/// Dropped unfilled, it gives the place back.
#[derive(Debug)]
pub(crate) struct Ticket<'a> {
    near: &'a Near,
    key: Option<NearKey>,
    token: u64,
    generation: u64,
}

impl Ticket<'_> {
    /// Keeps `value` as the key's, if no notification made it stale since
    /// the ticket was taken and the channel stayed up.
    pub(crate) fn fill(mut self, value: Cached) {
        if let Some(key) = self.key.take() {
            self.near.fill(key, self.token, self.generation, value);
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.near.release(&key, self.token);
        }
    }
}

/// Counts for [`NearStats`](super::NearStats).
#[derive(Debug, Default)]
struct Counts {
    hits: AtomicU64,
    misses: AtomicU64,
    invalidations: AtomicU64,
    flushes: AtomicU64,
}

/// The near cache's memory: sharded LRU slots bounded in bytes, and the
/// generation of the notification channel.
#[derive(Debug)]
pub(crate) struct Near {
    shards: Box<[Mutex<Shard>]>,
    budget: usize,
    /// The channel's generation while it is up; 0 while it is down.
    generation: AtomicU64,
    /// Where tokens and generations come from.
    next: AtomicU64,
    counts: Counts,
    /// The store's name, the metrics' `store` label.
    store: &'static str,
}

/// Shards: one lock each, so requests on different keys seldom wait.
const MAX_SHARDS: usize = 16;
/// The least a shard holds, so a small cache is not cut into crumbs.
const MIN_SHARD_BYTES: usize = 64 * 1024;

impl Near {
    /// A cache of at most `max_bytes` in front of `store`, down until
    /// [`up`](Self::up).
    pub(crate) fn new(store: &'static str, max_bytes: usize) -> Self {
        let shards = (max_bytes / MIN_SHARD_BYTES).clamp(1, MAX_SHARDS);
        Self {
            shards: (0..shards).map(|_| Mutex::default()).collect(),
            budget: max_bytes / shards,
            generation: AtomicU64::new(0),
            next: AtomicU64::new(1),
            counts: Counts::default(),
            store,
        }
    }

    fn flushed(&self, why: &'static str) {
        self.counts.flushes.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("sessionkit_near_cache_flushes_total", "store" => self.store, "why" => why)
            .increment(1);
    }

    fn shard(&self, key: &NearKey) -> std::sync::MutexGuard<'_, Shard> {
        let shard = &self.shards[key.shard(self.shards.len())];
        // a panic while holding the lock leaves a consistent map: keep going
        shard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn token(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether the channel is up: entries are served and filled.
    pub(crate) fn is_up(&self) -> bool {
        self.generation.load(Ordering::Acquire) != 0
    }

    /// The channel is up (again): from now on every change is notified.
    pub(crate) fn up(&self) {
        let generation = self.token();
        self.generation.store(generation, Ordering::Release);
    }

    /// The channel broke (or may have): nothing is served or filled until
    /// it is up again, and everything held is dropped.
    pub(crate) fn down(&self) {
        if self.generation.swap(0, Ordering::AcqRel) != 0 {
            self.flushed("channel_down");
            tracing::warn!(
                store = self.store,
                "near cache: notification channel down, cache flushed"
            );
        }
        self.clear();
    }

    /// Drops everything and every ticket out, staying up (the store said
    /// every key changed: a flush of the database).
    pub(crate) fn flush(&self) {
        // down, nothing is held: nothing to flush
        let current = self.generation.load(Ordering::Acquire);
        if current == 0 {
            return;
        }
        // a new generation only if still up: a `down` meanwhile stays down
        let _ = self.generation.compare_exchange(
            current,
            self.token(),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        self.flushed("store_flushed");
        self.clear();
    }

    /// Drops every value and read in flight; writes in flight keep their
    /// place (see [`Slot::is_write`]), and will keep nothing.
    fn clear(&self) {
        for shard in &self.shards {
            let mut shard = shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            shard.slots.retain(|_, slot| {
                let Held::Pending {
                    write: true, floor, ..
                } = &mut slot.held
                else {
                    return false;
                };
                *floor = u64::MAX;
                true
            });
            // what is left are writes' places, which count nothing
            shard.bytes = 0;
        }
    }

    /// The key's value, if held in this generation; otherwise a ticket to
    /// fill it with the store's answer (none while the channel is down, or
    /// while another request holds the key's place).
    pub(crate) fn get(&self, key: &NearKey) -> Result<Cached, Option<Ticket<'_>>> {
        let generation = self.generation.load(Ordering::Acquire);
        if generation == 0 {
            return Err(None);
        }
        let mut shard = self.shard(key);
        if let Some(slot) = shard.slots.to_back(key) {
            if let Held::Ready {
                value,
                generation: filled,
            } = &slot.held
                && *filled == generation
            {
                self.counts.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(value.clone());
            }
            // another request's place: see `waiter`
            return Err(None);
        }
        self.counts.misses.fetch_add(1, Ordering::Relaxed);
        let token = self.token();
        let budget = self.budget;
        let held = Held::Pending {
            token,
            floor: 0,
            write: false,
        };
        shard.insert(key.clone(), held, 0, budget);
        Err(Some(Ticket {
            near: self,
            key: Some(key.clone()),
            token,
            generation,
        }))
    }

    /// A ticket for a write about to change the key: the value held stops
    /// being served at once, and a concurrent read's reply is not kept.
    /// Two writes of one key in flight at once keep nothing: which of them
    /// the store applied last (a save, or the delete that ends the
    /// session) is not known here, and whatever the later ticket kept
    /// would outlive the other's return.
    pub(crate) fn write(&self, key: NearKey) -> Ticket<'_> {
        let generation = self.generation.load(Ordering::Acquire);
        let mut shard = self.shard(&key);
        let contended = shard.slots.get(&key).is_some_and(Slot::is_write);
        let token = self.token();
        let budget = self.budget;
        // while down, the place still marks the write in flight, and its
        // ticket (of no generation) keeps nothing
        let held = Held::Pending {
            token,
            floor: if contended || generation == 0 {
                u64::MAX
            } else {
                0
            },
            write: true,
        };
        shard.insert(key.clone(), held, 0, budget);
        Ticket {
            near: self,
            key: Some(key),
            token,
            generation,
        }
    }

    /// A request that found the key's place taken by another (`get`
    /// answered no ticket while up) can wait for that request to end
    /// rather than ask the store too: the place's waiters, woken when it
    /// goes (filled, given back or dropped). `None` when the place is no
    /// longer taken.
    ///
    /// A write's place is waited for only where `writes_keep` (the store's
    /// notifications let a write keep what it wrote): a write that keeps
    /// nothing would only make its readers wait to ask the store after it.
    pub(crate) fn waiter(&self, key: &NearKey, writes_keep: bool) -> Option<Arc<Notify>> {
        let mut shard = self.shard(key);
        let slot = shard.slots.get_mut(key)?;
        match slot.held {
            Held::Pending { write: false, .. } => {}
            Held::Pending { write: true, .. } if writes_keep => {}
            _ => return None,
        }
        Some(Arc::clone(
            slot.waiters.get_or_insert_with(|| Arc::new(Notify::new())),
        ))
    }

    /// Whether the key's place is still the one `waiters` belong to.
    pub(crate) fn still_taken(&self, key: &NearKey, waiters: &Arc<Notify>) -> bool {
        self.shard(key)
            .slots
            .get(key)
            .and_then(|slot| slot.waiters.as_ref())
            .is_some_and(|held| Arc::ptr_eq(held, waiters))
    }

    /// A read that asked the store without a ticket.
    pub(crate) fn missed(&self) {
        self.counts.misses.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops the key's value, if it holds one (an entry found expired).
    pub(crate) fn forget(&self, key: &NearKey) {
        let mut shard = self.shard(key);
        if matches!(
            shard.slots.get(key).map(|slot| &slot.held),
            Some(Held::Ready { .. })
        ) {
            shard.remove(key);
        }
    }

    /// A notification: the key changed to `version` (`None`: deleted, or
    /// a store whose notifications carry no version). A value at that
    /// version or newer stays (the writer's own notification); an older
    /// one goes, and a ticket out for the key now needs a reply at least
    /// that new.
    pub(crate) fn invalidate(&self, key: &NearKey, version: Option<u64>) {
        self.counts.invalidations.fetch_add(1, Ordering::Relaxed);
        let mut shard = self.shard(key);
        let keep = match shard.slots.get_mut(key).map(|slot| &mut slot.held) {
            None => return,
            Some(Held::Ready { value, .. }) => version.is_some_and(|v| value.version() >= v),
            // a write in flight keeps its place (a read must not take it
            // and keep what the write is replacing), but not what it writes
            Some(Held::Pending {
                floor, write: true, ..
            }) => {
                *floor = version.map_or(u64::MAX, |v| (*floor).max(v));
                true
            }
            Some(Held::Pending { floor, .. }) => match version {
                Some(v) => {
                    *floor = (*floor).max(v);
                    true
                }
                None => false,
            },
        };
        if !keep {
            shard.remove(key);
        }
    }

    fn fill(&self, key: NearKey, token: u64, generation: u64, value: Cached) {
        let mut shard = self.shard(&key);
        let Some(Held::Pending {
            token: held, floor, ..
        }) = shard.slots.get(&key).map(|slot| &slot.held)
        else {
            return;
        };
        if *held != token {
            return;
        }
        // the generation under the shard's lock: `down` clears this shard
        // after it changes the generation, so a fill that sees the old one
        // is cleared with the rest
        if self.generation.load(Ordering::Acquire) != generation || value.version() < *floor {
            // stale, contended, or from before a break: the place is given
            // back empty
            shard.remove(&key);
            return;
        }
        let bytes = value.bytes();
        let budget = self.budget;
        shard.insert(key, Held::Ready { value, generation }, bytes, budget);
    }

    fn release(&self, key: &NearKey, token: u64) {
        let mut shard = self.shard(key);
        if matches!(
            shard.slots.get(key).map(|slot| &slot.held),
            Some(Held::Pending { token: held, .. }) if *held == token
        ) {
            shard.remove(key);
        }
    }

    /// Entries held (tickets out included) and their bytes.
    pub(crate) fn size(&self) -> (usize, usize) {
        self.shards.iter().fold((0, 0), |(entries, bytes), shard| {
            let shard = shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            (entries + shard.slots.len(), bytes + shard.bytes)
        })
    }

    /// Hits, misses, notifications applied, flushes.
    pub(crate) fn counts(&self) -> [u64; 4] {
        let c = &self.counts;
        [&c.hits, &c.misses, &c.invalidations, &c.flushes].map(|n| n.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> NearKey {
        NearKey::Session(StoreKey::from_bytes([n; 32]))
    }

    fn record(version: u64) -> Cached {
        Cached::Record(Record {
            data: vec![1; 10],
            quick: Vec::new(),
            expires_at: 100,
            version,
        })
    }

    fn up() -> Near {
        let near = Near::new("test", 1 << 20);
        near.up();
        near
    }

    #[test]
    fn nothing_is_served_or_filled_while_down() {
        let near = Near::new("test", 1 << 20);
        assert!(matches!(near.get(&key(1)), Err(None)));
        near.write(key(1)).fill(record(1));
        near.up();
        assert!(
            near.get(&key(1)).is_err(),
            "a write while down keeps nothing"
        );
        let Err(Some(ticket)) = near.get(&key(1)) else {
            panic!("a ticket once up")
        };
        near.down();
        ticket.fill(record(1));
        near.up();
        assert!(near.get(&key(1)).is_err(), "a fill from before the break");
    }

    #[test]
    fn down_drops_everything_and_stays_down_until_up() {
        let near = up();
        assert!(near.is_up());
        filled(&near, &key(1), record(1));
        near.down();
        assert!(!near.is_up());
        assert_eq!(near.size(), (0, 0), "nothing held");
        assert!(matches!(near.get(&key(1)), Err(None)), "nor served");
        near.flush();
        assert!(!near.is_up(), "a flush does not bring it up");
        assert_eq!(near.counts()[3], 1, "one flush counted: the break");
        near.down();
        assert_eq!(near.counts()[3], 1, "going down twice is one break");
        near.up();
        assert!(near.is_up());
    }

    #[test]
    fn hits_misses_and_notifications_are_counted() {
        let near = up();
        assert_eq!(near.counts(), [0; 4]);
        filled(&near, &key(1), record(1)); // a miss, then the fill
        near.get(&key(1)).unwrap();
        near.get(&key(1)).unwrap();
        near.invalidate(&key(2), None);
        assert_eq!(near.counts(), [2, 1, 1, 0]);
        // a read that asked the store without a ticket is a miss too
        near.missed();
        assert_eq!(near.counts(), [2, 2, 1, 0]);
    }

    #[test]
    fn a_value_found_expired_is_forgotten() {
        let near = up();
        filled(&near, &key(1), record(1));
        near.forget(&key(1));
        assert!(matches!(near.get(&key(1)), Err(Some(_))), "asked again");
        // a write's place is not a value: forgetting leaves it
        let write = near.write(key(2));
        near.forget(&key(2));
        assert!(matches!(near.get(&key(2)), Err(None)));
        drop(write);
    }

    #[test]
    fn a_fill_is_served_until_a_notification() {
        let near = up();
        let Err(Some(ticket)) = near.get(&key(1)) else {
            panic!()
        };
        assert!(matches!(near.get(&key(1)), Err(None)), "one ticket a key");
        ticket.fill(record(3));
        assert_eq!(near.get(&key(1)).unwrap(), record(3));
        near.invalidate(&key(1), None);
        assert!(near.get(&key(1)).is_err());
    }

    #[test]
    fn a_notification_before_the_reply_keeps_the_reply_out() {
        let near = up();
        let Err(Some(ticket)) = near.get(&key(1)) else {
            panic!()
        };
        near.invalidate(&key(1), None);
        ticket.fill(record(3));
        let Err(Some(_)) = near.get(&key(1)) else {
            panic!("not filled, and the place is free again")
        };
    }

    #[test]
    fn versioned_notifications_keep_what_is_as_new() {
        let near = up();
        let Err(Some(ticket)) = near.get(&key(1)) else {
            panic!()
        };
        // the writer's own notification, then its reply
        near.invalidate(&key(1), Some(4));
        ticket.fill(record(4));
        assert_eq!(near.get(&key(1)).unwrap(), record(4));
        near.invalidate(&key(1), Some(4));
        assert_eq!(near.get(&key(1)).unwrap(), record(4), "its own echo");
        near.invalidate(&key(1), Some(5));
        assert!(near.get(&key(1)).is_err(), "a newer write elsewhere");
        // a reply older than a notification seen meanwhile is not kept
        let Err(Some(ticket)) = near.get(&key(1)) else {
            panic!()
        };
        near.invalidate(&key(1), Some(7));
        ticket.fill(record(6));
        assert!(near.get(&key(1)).is_err());
    }

    #[test]
    fn a_write_stops_serving_and_outruns_a_read_in_flight() {
        let near = up();
        let Err(Some(read)) = near.get(&key(1)) else {
            panic!()
        };
        let write = near.write(key(1));
        read.fill(record(1));
        assert!(near.get(&key(1)).is_err(), "the read's reply is not kept");
        write.fill(record(2));
        assert_eq!(near.get(&key(1)).unwrap(), record(2));
        let write = near.write(key(1));
        assert!(near.get(&key(1)).is_err(), "not served while written");
        drop(write);
        assert!(matches!(near.get(&key(1)), Err(Some(_))), "given back");
    }

    #[test]
    fn two_writes_in_flight_keep_nothing() {
        // a save and the logout's delete at once: the save's reply must
        // not outlive the delete's return
        let near = up();
        let save = near.write(key(1));
        let delete = near.write(key(1));
        drop(delete);
        save.fill(record(2));
        assert!(near.get(&key(1)).is_err(), "the save's reply is not kept");
        let save = near.write(key(1));
        let other = near.write(key(1));
        drop(save);
        other.fill(record(3));
        assert!(near.get(&key(1)).is_err(), "nor the later one's");
        let Err(Some(_)) = near.get(&key(1)) else {
            panic!("and the place is free again")
        };
    }

    #[test]
    fn a_write_in_flight_keeps_its_place_through_notifications_and_flushes() {
        // Redis reports with no version: a late report (of an earlier
        // write) while a write is in flight must not let a read of this
        // process take the place and keep the record the write replaces
        let near = up();
        let write = near.write(key(1));
        near.invalidate(&key(1), None);
        assert!(
            matches!(near.get(&key(1)), Err(None)),
            "no ticket for a read"
        );
        write.fill(record(2));
        assert!(near.get(&key(1)).is_err(), "nor is the write's kept");
        // the same across a flush and a break of the channel
        let write = near.write(key(2));
        near.flush();
        assert!(matches!(near.get(&key(2)), Err(None)));
        near.down();
        near.up();
        assert!(matches!(near.get(&key(2)), Err(None)));
        write.fill(record(3));
        let Err(Some(_)) = near.get(&key(2)) else {
            panic!("the place is free once the write returned")
        };
    }

    #[test]
    fn a_write_in_flight_costs_no_value_its_place() {
        // a cache full to its bound: a write of another key evicts nothing
        let slot = SLOT_OVERHEAD + 32 + 1000;
        let near = Near::new("test", slot);
        near.up();
        let full = Cached::Record(Record {
            data: vec![0; 1000],
            ..Record::default()
        });
        filled(&near, &key(1), full.clone());
        let write = near.write(key(2));
        assert_eq!(near.get(&key(1)).unwrap(), full, "still held");
        assert_eq!(near.size(), (2, slot));
        drop(write);
    }

    #[tokio::test]
    async fn a_request_waiting_for_a_place_is_woken_by_its_fill() {
        let near = up();
        let Err(Some(ticket)) = near.get(&key(1)) else {
            panic!()
        };
        let waiters = near.waiter(&key(1), false).expect("a place taken");
        assert!(near.still_taken(&key(1), &waiters));
        let woken = waiters.notified();
        let mut woken = std::pin::pin!(woken);
        woken.as_mut().enable();
        ticket.fill(record(1));
        tokio::time::timeout(std::time::Duration::from_secs(1), woken)
            .await
            .expect("woken by the fill");
        assert!(!near.still_taken(&key(1), &waiters));
        assert!(near.waiter(&key(1), true).is_none(), "a value, not a place");
        assert_eq!(near.get(&key(1)).unwrap(), record(1));
        // a write's place is waited for only where writes keep what they
        // wrote; and its end wakes
        let write = near.write(key(2));
        assert!(near.waiter(&key(2), false).is_none());
        let waiters = near.waiter(&key(2), true).unwrap();
        let woken = waiters.notified();
        let mut woken = std::pin::pin!(woken);
        woken.as_mut().enable();
        drop(write);
        tokio::time::timeout(std::time::Duration::from_secs(1), woken)
            .await
            .expect("woken by the write's end");
    }

    #[test]
    fn eviction_never_takes_a_write_in_flight() {
        let slot = SLOT_OVERHEAD + 32;
        let near = Near::new("test", 2 * slot + 1000);
        near.up();
        let write = near.write(key(1));
        // a flood of reads filling the cache evicts around the write
        for n in 2..40 {
            filled(
                &near,
                &key(n),
                Cached::Record(Record {
                    data: vec![0; 500],
                    ..Record::default()
                }),
            );
        }
        assert!(matches!(near.get(&key(1)), Err(None)), "still a write's");
        write.fill(record(5));
        assert_eq!(near.get(&key(1)).unwrap(), record(5));
    }

    #[test]
    fn bytes_are_bounded_least_recently_used_first() {
        let near = Near::new("test", 4 * (SLOT_OVERHEAD + 32 + 1000));
        near.up();
        let big = |version| {
            Cached::Record(Record {
                data: vec![0; 1000],
                quick: Vec::new(),
                expires_at: 100,
                version,
            })
        };
        for n in 0..4 {
            let Err(Some(ticket)) = near.get(&key(n)) else {
                panic!()
            };
            ticket.fill(big(1));
        }
        assert!(near.get(&key(0)).is_ok(), "0 is now the most recent");
        let Err(Some(ticket)) = near.get(&key(9)) else {
            panic!()
        };
        ticket.fill(big(1));
        let (entries, bytes) = near.size();
        assert!(bytes <= 4 * (SLOT_OVERHEAD + 32 + 1000), "{bytes}");
        assert_eq!(entries, 4);
        assert!(near.get(&key(0)).is_ok());
        assert!(near.get(&key(1)).is_err(), "the least recently used went");
        // a value larger than the whole budget is not held at all
        let Err(Some(ticket)) = near.get(&key(20)) else {
            panic!()
        };
        ticket.fill(Cached::Record(Record {
            data: vec![0; 5000],
            ..Record::default()
        }));
        assert!(near.get(&key(20)).is_err());
    }

    fn filled(near: &Near, key: &NearKey, value: Cached) {
        let Err(Some(ticket)) = near.get(key) else {
            panic!("a ticket for {key:?}")
        };
        ticket.fill(value);
    }

    #[test]
    fn every_byte_is_counted_and_given_back() {
        let near = up();
        let record = Cached::Record(Record {
            data: vec![0; 100],
            quick: vec![0; 7],
            expires_at: 100,
            version: 1,
        });
        filled(&near, &key(1), record);
        assert_eq!(near.size(), (1, SLOT_OVERHEAD + 32 + 107));
        let user = NearKey::Revoked("bob".into());
        filled(&near, &user, Cached::Revoked(Some(3)));
        assert_eq!(near.size(), (2, 2 * SLOT_OVERHEAD + 32 + 107 + 3));
        near.invalidate(&key(1), None);
        near.invalidate(&user, None);
        assert_eq!(near.size(), (0, 0));
    }

    #[test]
    fn a_value_exactly_at_the_bound_is_held_and_evicts_the_rest() {
        let slot = SLOT_OVERHEAD + 32 + 1000;
        let near = Near::new("test", 2 * slot);
        near.up();
        let big = Cached::Record(Record {
            data: vec![0; 1000],
            ..Record::default()
        });
        filled(&near, &key(1), big.clone());
        filled(&near, &key(2), big.clone());
        assert_eq!(near.size(), (2, 2 * slot));
        let whole = Cached::Record(Record {
            data: vec![0; slot + 1000],
            ..Record::default()
        });
        filled(&near, &key(3), whole.clone());
        assert_eq!(near.get(&key(3)).unwrap(), whole, "held, at the bound");
        assert_eq!(
            near.size(),
            (1, 2 * slot),
            "the others evicted, counted out"
        );
    }

    #[test]
    fn a_small_cache_is_one_shard_and_a_large_one_holds_its_bound_whatever_the_keys() {
        // 60 KiB: one shard, which holds a 40 KB record
        let near = Near::new("test", 60 * 1024);
        near.up();
        let record = Cached::Record(Record {
            data: vec![0; 40_000],
            ..Record::default()
        });
        filled(&near, &key(1), record.clone());
        assert_eq!(near.get(&key(1)).unwrap(), record);
        // 16 shards: 200 records of 1 KB are a fifth of the bound, all held
        let near = Near::new("test", 16 * MIN_SHARD_BYTES);
        near.up();
        for n in 0..200u8 {
            let key = NearKey::Session(StoreKey::from_bytes([n; 32]));
            filled(
                &near,
                &key,
                Cached::Record(Record {
                    data: vec![0; 1000],
                    ..Record::default()
                }),
            );
        }
        assert_eq!(near.size().0, 200);
        for n in 0..50 {
            filled(
                &near,
                &NearKey::Revoked(format!("user {n}").into()),
                Cached::Revoked(None),
            );
        }
        assert_eq!(near.size().0, 250);
    }

    #[test]
    fn a_flush_drops_everything_and_every_ticket() {
        let near = up();
        let Err(Some(ticket)) = near.get(&key(1)) else {
            panic!()
        };
        ticket.fill(record(1));
        let Err(Some(ticket)) = near.get(&key(2)) else {
            panic!()
        };
        near.flush();
        ticket.fill(record(1));
        assert!(near.get(&key(1)).is_err());
        assert!(near.get(&key(2)).is_err());
        assert!(near.is_up());
        assert_eq!(near.counts()[3], 1);
    }

    #[test]
    fn revocation_times_are_versioned_by_their_time() {
        let near = up();
        let user = NearKey::Revoked("alice".into());
        let Err(Some(ticket)) = near.get(&user) else {
            panic!()
        };
        ticket.fill(Cached::Revoked(None));
        assert_eq!(near.get(&user).unwrap(), Cached::Revoked(None));
        near.invalidate(&user, Some(10));
        assert!(near.get(&user).is_err(), "a first revocation elsewhere");
    }
}
