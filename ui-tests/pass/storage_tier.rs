//! The hidden `SessionData::Tier` (what the layer constructors' bounds
//! read) agrees with the public `STORAGE` for every kind of session type,
//! and each builds the layer it should.
use session_runtime::__private::Tier;
use session_runtime::{BoundedString, MasterKey, MemoryStore, SessionData, SessionLayer, Storage};

#[derive(session_runtime::Session, Default)]
struct Small {
    count: u32,
}

#[derive(session_runtime::Session, Default)]
#[session(storage = "cookie")]
struct Pinned {
    name: BoundedString<32>,
}

#[derive(session_runtime::Session, Default)]
struct Notes {
    text: String,
}

#[derive(session_runtime::Session, Default)]
struct Large {
    blob: BoundedString<8000>, // bounded, but over the cookie budget
}

#[derive(session_runtime::Session, Default)]
struct Tags {
    #[session(max_len = 4)]
    tags: Vec<String>, // unbounded items: adaptive
}

#[derive(session_runtime::Session, Default)]
#[session(storage = "server")]
struct Account {
    user_id: Option<u64>,
}

fn tier_of<S: SessionData>() -> Option<Storage> {
    <S::Tier as Tier>::STORAGE
}

fn main() {
    let cases = [
        (tier_of::<Small>(), Small::STORAGE, Storage::Cookie),
        (tier_of::<Pinned>(), Pinned::STORAGE, Storage::Cookie),
        (tier_of::<Notes>(), Notes::STORAGE, Storage::Adaptive),
        (tier_of::<Large>(), Large::STORAGE, Storage::Adaptive),
        (tier_of::<Tags>(), Tags::STORAGE, Storage::Adaptive),
        (tier_of::<Account>(), Account::STORAGE, Storage::Server),
    ];
    for (tier, storage, expected) in cases {
        assert_eq!(storage, expected);
        assert_eq!(tier, Some(storage));
    }

    let key = MasterKey::from_secret(&[1; 32]).unwrap();
    let _ = SessionLayer::<Small>::new(key.clone());
    let _ = SessionLayer::<Pinned>::new(key.clone());
    let _ = SessionLayer::<Notes>::with_store(key.clone(), MemoryStore::default());
    let _ = SessionLayer::<Large>::with_store(key.clone(), MemoryStore::default());
    let _ = SessionLayer::<Tags>::with_store(key.clone(), MemoryStore::default());
    let _ = SessionLayer::<Account>::with_store(key, MemoryStore::default());
    let _ = (Small::default().count, Pinned::default().name, Notes::default().text);
    let _ = (Large::default().blob, Tags::default().tags, Account::default().user_id);
}
