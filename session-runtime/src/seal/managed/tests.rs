//! The ring's rules as a table, and a reference model: random sequences of
//! time steps, rotations and revocations checked against what must hold at
//! every step.

use super::*;
use crate::MemoryStore;

const MIN: u64 = 60_000;
const DAY: u64 = 24 * 60 * MIN;

fn policy() -> KeyPolicy {
    KeyPolicy::default()
}

fn key(kid: u32, activates_at: u64, revoked_at: Option<u64>) -> StoredKey {
    StoredKey {
        kid,
        created_at: activates_at.saturating_sub(5 * MIN),
        activates_at,
        revoked_at,
        sealed: Vec::new(),
    }
}

#[test]
fn the_rules_as_a_table() {
    let p = policy();
    let t = 100 * DAY;
    #[rustfmt::skip]
    let rows: Vec<(&str, Vec<StoredKey>, u64, Plan)> = vec![
        ("no key: the first seals at once", vec![], t,
            Plan { verifying: vec![], retire: vec![], make: Some(t) }),
        ("one key, young", vec![key(1, t - DAY, None)], t,
            Plan { verifying: vec![1], retire: vec![], make: None }),
        ("rotation due within the activation delay: the next is made ahead", vec![key(1, t - 30 * DAY + 4 * MIN, None)], t,
            Plan { verifying: vec![1], retire: vec![], make: Some(t + 5 * MIN) }),
        ("a pending key verifies, the current one seals", vec![key(1, t - 30 * DAY, None), key(2, t + MIN, None)], t,
            Plan { verifying: vec![1, 2], retire: vec![], make: None }),
        ("activated: the new one seals, the old verifies", vec![key(1, t - 30 * DAY, None), key(2, t, None)], t,
            Plan { verifying: vec![2, 1], retire: vec![], make: None }),
        ("replaced 30 days ago: verifies one refresh more (an instance may have sealed with it until then)", vec![key(1, t - 60 * DAY, None), key(2, t - 30 * DAY, None), key(3, t + MIN, None)], t,
            Plan { verifying: vec![2, 3, 1], retire: vec![], make: None }),
        ("replaced 30 days and two refreshes ago: retired", vec![key(1, t - 60 * DAY, None), key(2, t - 30 * DAY - 2 * MIN, None), key(3, t + MIN, None)], t,
            Plan { verifying: vec![2, 3], retire: vec![1], make: None }),
        ("the current key revoked: the previous seals again, and a new one is made", vec![key(1, t - 40 * DAY, None), key(2, t - 10 * DAY, Some(t))], t,
            Plan { verifying: vec![1], retire: vec![], make: Some(t + 5 * MIN) }),
        ("every key revoked: a new one seals at once", vec![key(1, t - DAY, Some(t - MIN))], t,
            Plan { verifying: vec![], retire: vec![], make: Some(t) }),
        ("only a pending key left: it seals early", vec![key(1, t - DAY, Some(t - MIN)), key(2, t + MIN, None)], t,
            Plan { verifying: vec![2], retire: vec![], make: None }),
        ("a revoked key's record goes after the retention", vec![key(1, t - DAY, None), key(2, t - 40 * DAY, Some(t - 31 * DAY))], t,
            Plan { verifying: vec![1], retire: vec![2], make: None }),
    ];
    for (case, records, now, expected) in rows {
        assert_eq!(plan(&records, now, &p), expected, "{case}");
    }
}

#[test]
fn a_policy_that_could_seal_with_an_unread_key_is_refused() {
    for bad in [
        policy().with_refresh(Duration::from_secs(200)),
        policy().with_refresh(Duration::ZERO),
        policy().with_rotation(Duration::from_secs(60)),
        // refused, not an overflow
        policy().with_refresh(Duration::MAX),
        policy().with_rotation(Duration::MAX),
        policy().with_retention(Duration::from_secs(u64::MAX / 100)),
    ] {
        assert!(
            matches!(bad.check(), Err(ManagedKeyError::Policy(_))),
            "{bad:?}"
        );
    }
    assert!(policy().check().is_ok());
}

#[test]
fn a_sealed_secret_opens_only_under_its_root_and_its_times() {
    let root = KeyRing::new(MasterKey::from_secret(&[1; 32]).unwrap());
    let mut record = key(3, 1_000, None);
    record.sealed = seal(&root, &record, [9; SECRET_LEN]).unwrap();
    let opened = open(&root, &record).unwrap();
    assert_eq!(
        opened.id(),
        MasterKey::from_secret(&[9; SECRET_LEN]).unwrap().id()
    );
    // another root; a root ring that still holds it
    let other = KeyRing::new(MasterKey::from_secret(&[2; 32]).unwrap());
    assert!(open(&other, &record).is_none());
    let rotated = other.with_previous(MasterKey::from_secret(&[1; 32]).unwrap());
    assert!(open(&rotated, &record).is_some());
    // a changed time or number, a flipped bit: not a key
    for changed in [
        StoredKey {
            activates_at: 0,
            ..record.clone()
        },
        StoredKey {
            kid: 4,
            ..record.clone()
        },
        StoredKey {
            created_at: 1,
            ..record.clone()
        },
    ] {
        assert!(open(&root, &changed).is_none());
    }
    for at in 0..record.sealed.len() {
        let mut flipped = record.clone();
        flipped.sealed[at] ^= 1;
        assert!(open(&root, &flipped).is_none(), "bit at {at}");
    }
}

/// A clock the model moves.
#[derive(Clone, Default)]
struct ModelClock(Arc<std::sync::atomic::AtomicU64>);

impl Clock for ModelClock {
    fn now(&self) -> SystemTime {
        time(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}

#[derive(Clone, Copy, Debug)]
enum Step {
    /// Time passes (minutes).
    Wait(u16),
    /// An instance refreshes.
    Refresh(bool),
    /// An operator rotates.
    Rotate,
    /// An operator revokes the key that seals now.
    RevokeCurrent,
}

fn steps() -> impl proptest::strategy::Strategy<Value = Vec<Step>> {
    use proptest::prelude::*;
    proptest::collection::vec(
        prop_oneof![
            4 => (1u16..3_000).prop_map(Step::Wait),
            4 => any::<bool>().prop_map(Step::Refresh),
            1 => Just(Step::Rotate),
            1 => Just(Step::RevokeCurrent),
        ],
        1..40,
    )
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]

    /// Two instances over one store, under random steps: each always has a
    /// key to seal with; a key seals only once every instance that
    /// refreshed since it was made knows it (it is past its activation
    /// delay); a revoked key never verifies after the instance's next
    /// refresh; a session sealed by either instance opens on the other
    /// unless its key was revoked or retired; at most one key is pending.
    #[test]
    fn two_instances_follow_the_rules(steps in steps()) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async move {
            let clock = ModelClock::default();
            clock.0.store(1_000 * DAY, std::sync::atomic::Ordering::SeqCst);
            // a day's rotation and retention, so that a few thousand
            // minutes see keys made, activated, replaced and retired
            let policy = policy()
                .with_rotation(Duration::from_secs(24 * 3600))
                .with_retention(Duration::from_secs(24 * 3600))
                .with_clock(clock.clone());
            let store = Arc::new(MemoryStore::default());
            let root = MasterKey::from_secret(&[5; 32]).unwrap();
            let a = ManagedKeys::load(Arc::clone(&store), root.clone(), policy.clone()).await.unwrap();
            let b = ManagedKeys::load(Arc::clone(&store), root, policy).await.unwrap();
            let sealer = |keys: &ManagedKeys<Arc<MemoryStore>>| crate::Sealer::new(keys.ring(), crate::Mode::Encrypted);
            let meta = crate::Meta { issued_at: 0, expires_at: u64::MAX, ..crate::Meta::default() };
            for step in steps {
                match step {
                    Step::Wait(minutes) => {
                        // each instance refreshes at least twice per
                        // activation delay
                        let mut left = u64::from(minutes) * MIN;
                        while left > 0 {
                            let by = left.min(2 * MIN);
                            clock.0.fetch_add(by, std::sync::atomic::Ordering::SeqCst);
                            a.refresh().await.unwrap();
                            b.refresh().await.unwrap();
                            left -= by;
                        }
                    }
                    Step::Refresh(first) => {
                        if first { a.refresh().await.unwrap() } else { b.refresh().await.unwrap() }
                    }
                    Step::Rotate => {
                        a.rotate().await.unwrap();
                    }
                    Step::RevokeCurrent => {
                        let current = a.status().current;
                        a.revoke(current).await.unwrap();
                        b.refresh().await.unwrap();
                        // neither verifies it any more
                        for keys in [&a, &b] {
                            assert!(keys.keys().iter().any(|k| k.kid == current && k.state == KeyState::Revoked));
                            assert_ne!(keys.status().current, current);
                        }
                    }
                }
                let now = clock.0.load(std::sync::atomic::Ordering::SeqCst);
                let records = store.load_keys().await.unwrap();
                let pending = records.iter().filter(|k| k.revoked_at.is_none() && k.activates_at > now).count();
                assert!(pending <= 1, "{records:?}");
                // what one seals the other opens, before either refreshes
                // again: a key seals only once the other has read it
                for (from, to) in [(&a, &b), (&b, &a)] {
                    let value = sealer(from).seal::<Probe, crate::Bincode>("p", &meta, &Probe::default()).unwrap();
                    assert!(
                        sealer(to).open::<Probe, crate::Bincode>("p", &value, 0).is_ok(),
                        "after {step:?}: {:?} / {:?}", from.keys(), to.keys()
                    );
                }
                // and when both are up to date
                a.refresh().await.unwrap();
                b.refresh().await.unwrap();
                for (from, to) in [(&a, &b), (&b, &a)] {
                    let value = sealer(from).seal::<Probe, crate::Bincode>("p", &meta, &Probe::default()).unwrap();
                    assert!(sealer(to).open::<Probe, crate::Bincode>("p", &value, 0).is_ok());
                }
                // the sealing key is active, unless every active one was revoked
                let current = a.status().current;
                let sealing = records.iter().find(|k| k.kid == current).unwrap();
                assert!(sealing.revoked_at.is_none());
            }
        });
    }
}

#[derive(crate::Session, Default)]
#[session(crate = crate, cookie = "p")]
struct Probe {
    n: u32,
}
