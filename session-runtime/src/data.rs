//! The contract between `#[derive(Session)]` and the runtime.
//!
//! The derive implements [`SessionData`] for the user's struct and declares a
//! companion accessor type (implementing [`SessionAccess`]) that the request
//! handle derefs to. Nothing here is meant to be implemented by hand.

use crate::codec::{Codec, CodecError};
use crate::seal::envelope;

/// Where a session type's data lives, decided at compile time from its size
/// bound (`SessionData::MAX_ENCODED_LEN`) and its `storage` attribute.
///
/// | bound | `storage` | result |
/// | --- | --- | --- |
/// | known, and the sealed cookie fits 4096 bytes | `auto` | [`Cookie`](Self::Cookie) |
/// | unknown, or over the budget | `auto` | [`Adaptive`](Self::Adaptive) |
/// | any | `server` | [`Server`](Self::Server) |
/// | unknown, or over the budget | `cookie` | compile error |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Storage {
    /// Always in one sealed cookie: no server store is needed.
    Cookie,
    /// In the cookie while its encoding fits the layer's `cookie_threshold`,
    /// else server-side (gae-sessions' behaviour).
    Adaptive,
    /// Always server-side; the cookie carries only a signed ID. Use it for
    /// sessions that must be revocable or hold secrets.
    Server,
}

/// The `storage` attribute as written; input to [`decide_storage`].
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageRequest {
    Auto,
    Cookie,
    Server,
}

/// Applies the table on [`Storage`]. A `Cookie` request that does not fit is
/// returned as `Err` with its bound, for the derive's compile-time message.
#[doc(hidden)]
pub const fn decide_storage(
    bound: Option<usize>,
    cookie_name_len: usize,
    request: StorageRequest,
) -> Result<Storage, StorageError> {
    let budget = envelope::cookie_body_budget(cookie_name_len);
    let fits = match bound {
        Some(bound) => bound <= budget,
        None => false,
    };
    match request {
        StorageRequest::Server => Ok(Storage::Server),
        StorageRequest::Auto if fits => Ok(Storage::Cookie),
        StorageRequest::Auto => Ok(Storage::Adaptive),
        StorageRequest::Cookie if fits => Ok(Storage::Cookie),
        StorageRequest::Cookie => Err(StorageError { bound, budget }),
    }
}

/// A `storage = "cookie"` session that cannot be proven to fit.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct StorageError {
    pub bound: Option<usize>,
    pub budget: usize,
}

/// Room for the compile-time message of [`StorageError`].
#[doc(hidden)]
pub const MESSAGE_CAPACITY: usize = 256;

impl StorageError {
    /// The message, formatted in a const context (no `format!` there): the
    /// derive turns it into a compile error that states the numbers.
    #[must_use]
    pub const fn message(&self) -> ([u8; MESSAGE_CAPACITY], usize) {
        let mut out = ConstMessage::new();
        match self.bound {
            Some(bound) => {
                out.push(b"`storage = \"cookie\"` but the session's encoded size bound is ");
                out.push_number(bound);
                out.push(b" bytes, over the cookie budget of ");
                out.push_number(self.budget);
                out.push(b" bytes: use bounded types with smaller `N`, or `storage = \"auto\"`");
            }
            None => {
                // an unbounded field is reported on the field; what is left
                // is a sum of known bounds that does not fit a `usize`
                out.push(b"`storage = \"cookie\"` but the session's fields' size bounds add up past `usize::MAX`, over the cookie budget of ");
                out.push_number(self.budget);
                out.push(b" bytes: use bounded types with smaller `N`, or `storage = \"auto\"`");
            }
        }
        (out.buf, out.len)
    }
}

struct ConstMessage {
    buf: [u8; MESSAGE_CAPACITY],
    len: usize,
}

impl ConstMessage {
    const fn new() -> Self {
        Self {
            buf: [0; MESSAGE_CAPACITY],
            len: 0,
        }
    }

    const fn push(&mut self, bytes: &[u8]) {
        let mut i = 0;
        while i < bytes.len() && self.len < MESSAGE_CAPACITY {
            self.buf[self.len] = bytes[i];
            self.len += 1;
            i += 1;
        }
    }

    const fn push_number(&mut self, mut n: usize) {
        let mut digits = [0u8; 20];
        let mut count = 0;
        loop {
            digits[count] = b'0' + (n % 10) as u8;
            count += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        while count > 0 {
            count -= 1;
            self.push(&[digits[count]]);
        }
    }
}

/// What one field of a session struct is, for logs, tooling and the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FieldInfo {
    /// The field's name.
    pub name: &'static str,
    /// `#[session(quick)]`: kept in the cache tier only.
    pub quick: bool,
    /// `#[session(skip)]`: never stored.
    pub skip: bool,
}

/// A [`FieldInfo`] (which is `non_exhaustive`), for the derive's
/// `SessionData::FIELDS`. Not public API: reached through `__private`.
#[must_use]
pub const fn field_info(name: &'static str, quick: bool, skip: bool) -> FieldInfo {
    FieldInfo { name, quick, skip }
}

/// Which fields an encode or decode covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Part {
    /// Every stored field: a cookie, or a cache-only store.
    All,
    /// Fields that go to the durable store: all but `quick` ones.
    Durable,
    /// Only the `quick` fields: the cache tier's extra record.
    Quick,
}

impl Part {
    /// Whether a field with this `quick` flag belongs to the part.
    #[must_use]
    pub const fn includes(self, quick: bool) -> bool {
        match self {
            Self::All => true,
            Self::Durable => !quick,
            Self::Quick => quick,
        }
    }
}

/// A set of field indexes: which fields a request changed.
///
/// The first 64 live inline, so the common case never allocates; structs
/// with more fields spill the rest to the heap.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    first: u64,
    rest: Vec<u64>,
}

impl FieldSet {
    /// The empty set.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            first: 0,
            rest: Vec::new(),
        }
    }

    /// Every field of a struct with `count` fields.
    #[must_use]
    pub fn all(count: usize) -> Self {
        let mut set = Self::new();
        set.insert_all(count);
        set
    }

    /// Adds field `index`.
    #[inline]
    pub(crate) fn insert(&mut self, index: usize) {
        if index < 64 {
            self.first |= 1 << index;
        } else {
            let word = index / 64 - 1;
            if self.rest.len() <= word {
                self.rest.resize(word + 1, 0);
            }
            self.rest[word] |= 1 << (index % 64);
        }
    }

    /// Adds fields `0..count`.
    pub(crate) fn insert_all(&mut self, count: usize) {
        for index in 0..count {
            self.insert(index);
        }
    }

    /// Whether field `index` is in the set.
    #[inline]
    #[must_use]
    pub fn contains(&self, index: usize) -> bool {
        if index < 64 {
            self.first & (1 << index) != 0
        } else {
            self.rest
                .get(index / 64 - 1)
                .is_some_and(|word| word & (1 << (index % 64)) != 0)
        }
    }

    /// Whether no field is in the set.
    #[inline]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.first == 0 && self.rest.iter().all(|word| *word == 0)
    }

    /// Adds every field of `other`.
    pub(crate) fn union_with(&mut self, other: &Self) {
        self.first |= other.first;
        if self.rest.len() < other.rest.len() {
            self.rest.resize(other.rest.len(), 0);
        }
        for (mine, theirs) in self.rest.iter_mut().zip(&other.rest) {
            *mine |= theirs;
        }
    }

    /// The indexes in the set, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        core::iter::once(self.first)
            .chain(self.rest.iter().copied())
            .enumerate()
            .flat_map(|(word, bits)| {
                (0..64)
                    .filter(move |bit| bits & (1 << bit) != 0)
                    .map(move |bit| word * 64 + bit)
            })
    }
}

/// Marks field `index` of `set` changed: what the derive's setters call.
/// Not public API: reached through `__private`.
#[inline]
pub fn mark_changed(set: &mut FieldSet, index: usize) {
    set.insert(index);
}

impl core::fmt::Debug for FieldSet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// A session struct: implemented by `#[derive(Session)]`.
///
/// The associated consts describe the struct to the runtime at compile time;
/// the methods encode and decode it field by field through a [`Codec`], so
/// the struct itself needs no `Serialize` impl.
pub trait SessionData: Sized + 'static {
    /// The companion accessor type the request handle derefs to.
    type Access: SessionAccess<Data = Self>;

    /// The cookie name: `#[session(cookie = "…")]`, or the snake_case type name.
    const COOKIE_NAME: &'static str;

    /// The fields, in declaration order; indexes into [`FieldSet`].
    const FIELDS: &'static [FieldInfo];

    /// A hash of the field names, types and flags. Stored with the data, so a
    /// deploy that changes the struct discards old sessions instead of
    /// mis-decoding them.
    const FINGERPRINT: u64;

    /// The most bytes [`encode`](Self::encode) of [`Part::All`] can produce
    /// with any shipped codec; `None` when a field is unbounded.
    const MAX_ENCODED_LEN: Option<usize>;

    /// Where the session lives; see [`Storage`].
    const STORAGE: Storage;

    /// Not public API: [`STORAGE`](Self::STORAGE) as a type, which the
    /// layer's constructors require in a trait bound (`SessionLayer::new`
    /// a cookie-only type, `SessionLayer::with_store` any other), so a
    /// mismatch is a type error at the call under `cargo check` too.
    #[doc(hidden)]
    type Tier: crate::tier::Tier;

    /// A fresh session: the struct's `Default`. (`Default` is not a
    /// supertrait so that a missing impl is reported once, on the struct.)
    fn default_session() -> Self;

    /// Whether the struct has a `#[session(user)]` field.
    const HAS_USER: bool = false;

    /// The key of the session's user in the stores' user index: the
    /// `#[session(user)]` field, if the struct has one and it is `Some`.
    fn user_key(&self) -> Option<String> {
        None
    }

    /// Appends the fields of `part` to `out`, in declaration order.
    ///
    /// # Errors
    ///
    /// [`CodecError`] when a field cannot be encoded or exceeds its `max_len`.
    fn encode<C: Codec>(&self, part: Part, out: &mut Vec<u8>) -> Result<(), CodecError>;

    /// Replaces the fields of `part` with values decoded from `input`, which
    /// must hold exactly those fields.
    ///
    /// # Errors
    ///
    /// [`CodecError`] when the bytes do not decode, break a `max_len`, or are
    /// followed by extra bytes. `self` may then be partly updated: decode into
    /// a fresh value and discard it on error.
    fn decode<C: Codec>(&mut self, part: Part, input: &[u8]) -> Result<(), CodecError>;

    /// Moves the fields in `fields` from `from` into `self`: re-applying one
    /// request's changes on top of a newer copy after a write conflict.
    fn take_fields(&mut self, from: &mut Self, fields: &FieldSet);

    /// How many shapes this type opens: 1, plus those of its
    /// `#[session(previous = ..)]` chain.
    const VERSIONS: usize = 1;

    /// With `#[session(next = New)]`: `New`'s fingerprint, the shape the
    /// next release writes, which this one opens (converted down) but never
    /// writes by itself (see [`SealedShape::Next`](crate::seal::SealedShape)).
    const NEXT_FINGERPRINT: Option<u64> = None;

    /// Decodes `body` (the fields of `part`) sealed in `shape` (the
    /// envelope's [`shape_tag`](crate::seal::envelope::shape_tag) of a
    /// fingerprint): this type's own shape; with `#[session(next = New)]`
    /// `New`'s own shape, converted down with `From`; with
    /// `#[session(previous = Old)]` any shape of the chain before it,
    /// converted up with `From`. `None` when no shape has that tag.
    ///
    /// # Errors
    ///
    /// `Some(Err(..))` when the shape matches but the bytes do not decode.
    fn open_shape<C: Codec>(
        shape: u32,
        part: Part,
        body: &[u8],
        quick: Option<&[u8]>,
    ) -> Option<Result<Self, CodecError>> {
        open_own_shape::<Self, C>(shape, part, body, quick)
    }
}

/// [`SessionData::open_shape`] for `S`'s own shape alone: `None` unless
/// `shape` is the [`shape_tag`](envelope::shape_tag) of `S::FINGERPRINT`.
/// The default `open_shape`, and the first step of the one the derive
/// writes for `#[session(previous = ..)]`. Not public API: reached through
/// `__private`.
///
/// # Errors
///
/// `Some(Err(..))` when the shape matches but the bytes do not decode.
pub fn open_own_shape<S: SessionData, C: Codec>(
    shape: u32,
    part: Part,
    body: &[u8],
    quick: Option<&[u8]>,
) -> Option<Result<S, CodecError>> {
    if shape != envelope::shape_tag(S::FINGERPRINT) {
        return None;
    }
    let mut data = S::default_session();
    if let Err(err) = data.decode::<C>(part, body) {
        return Some(Err(err));
    }
    // the quick fields the same shape sealed apart: best effort, as quick
    // fields are (a blob that does not decode leaves them default)
    if let Some(quick) = quick {
        let mut holder = S::default_session();
        if holder.decode::<C>(Part::Quick, quick).is_ok() {
            let quick_fields = quick_field_set::<S>();
            data.take_fields(&mut holder, &quick_fields);
        }
    }
    Some(Ok(data))
}

/// The indexes of `S`'s quick fields.
pub(crate) fn quick_field_set<S: SessionData>() -> FieldSet {
    let mut set = FieldSet::new();
    for (index, field) in S::FIELDS.iter().enumerate() {
        if field.quick {
            set.insert(index);
        }
    }
    set
}

/// A type named in `#[session(previous = ..)]`: an earlier shape of a
/// session, which derives `Session` itself.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`previous = {Self}` names a type that is not a session shape",
    label = "`{Self}` does not derive `Session`",
    note = "keep the retired struct in the code exactly as it was and `#[derive(Session, Default)]` on it"
)]
pub trait PreviousShape: Sized {
    const VERSIONS: usize;
    const FINGERPRINT: u64;
    const STORAGE: Storage;
    const COOKIE_NAME: &'static str;
    fn open_shape<C: Codec>(
        shape: u32,
        part: Part,
        body: &[u8],
        quick: Option<&[u8]>,
    ) -> Option<Result<Self, CodecError>>;
}

impl<T: SessionData> PreviousShape for T {
    const VERSIONS: usize = T::VERSIONS;
    const FINGERPRINT: u64 = T::FINGERPRINT;
    const STORAGE: Storage = T::STORAGE;
    const COOKIE_NAME: &'static str = T::COOKIE_NAME;
    fn open_shape<C: Codec>(
        shape: u32,
        part: Part,
        body: &[u8],
        quick: Option<&[u8]>,
    ) -> Option<Result<Self, CodecError>> {
        T::open_shape::<C>(shape, part, body, quick)
    }
}

/// A type named in `#[session(next = ..)]`: the shape the next release
/// writes, which derives `Session` itself. Only its own shape is opened
/// (its `previous` chain leads back to the type that names it).
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`next = {Self}` names a type that is not a session shape",
    label = "`{Self}` does not derive `Session`",
    note = "copy the struct the next release writes, exactly as it will be, with `#[derive(Session, Default)]` and the same cookie name"
)]
pub trait NextShape: Sized {
    const FINGERPRINT: u64;
    const STORAGE: Storage;
    const COOKIE_NAME: &'static str;
    fn open_own_shape<C: Codec>(
        shape: u32,
        part: Part,
        body: &[u8],
        quick: Option<&[u8]>,
    ) -> Option<Result<Self, CodecError>>;
}

impl<T: SessionData> NextShape for T {
    const FINGERPRINT: u64 = T::FINGERPRINT;
    const STORAGE: Storage = T::STORAGE;
    const COOKIE_NAME: &'static str = T::COOKIE_NAME;
    fn open_own_shape<C: Codec>(
        shape: u32,
        part: Part,
        body: &[u8],
        quick: Option<&[u8]>,
    ) -> Option<Result<Self, CodecError>> {
        open_own_shape::<T, C>(shape, part, body, quick)
    }
}

/// The conversion `#[session(next = New)]` needs.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` lists `next = {New}`, but there is no `impl From<{New}> for {Self}`",
    label = "sessions the next release writes cannot be read by this one",
    note = "write `impl From<{New}> for {Self} {{ fn from(new: {New}) -> Self {{ .. }} }}`: it turns a session the next release sealed into this release's shape"
)]
pub trait DowngradeFrom<New> {
    fn downgrade_from(new: New) -> Self;
}

impl<T: From<New>, New> DowngradeFrom<New> for T {
    #[inline]
    fn downgrade_from(new: New) -> Self {
        T::from(new)
    }
}

/// Whether two strings are equal, in a const context (the derive compares
/// cookie names with it).
#[doc(hidden)]
#[must_use]
pub const fn same_str(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The conversion `#[session(previous = Old)]` needs.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` lists `previous = {Old}`, but there is no `impl From<{Old}> for {Self}`",
    label = "sessions of this older shape cannot be converted",
    note = "write `impl From<{Old}> for {Self} {{ fn from(old: {Old}) -> Self {{ .. }} }}`: it turns a session sealed before the change into the new shape"
)]
pub trait MigrateFrom<Old> {
    fn migrate_from(old: Old) -> Self;
}

impl<T: From<Old>, Old> MigrateFrom<Old> for T {
    #[inline]
    fn migrate_from(old: Old) -> Self {
        T::from(old)
    }
}

/// The accessor type `#[derive(Session)]` declares next to a session struct.
///
/// It owns the struct and one dirty bit per field; its generated inherent
/// methods (`x()`, `set_x()`, `x_mut()`, `take_x()`, `update()`) are what
/// handlers call. It derefs to the struct for reading.
pub trait SessionAccess: core::ops::Deref<Target = Self::Data> + 'static {
    /// The session struct.
    type Data: SessionData<Access = Self>;

    /// Wraps loaded (or default) data with nothing marked changed.
    fn from_data(data: Self::Data) -> Self;

    /// The data and the set of fields changed since [`from_data`](Self::from_data).
    fn into_parts(self) -> (Self::Data, FieldSet);

    /// The fields changed so far.
    fn changed(&self) -> &FieldSet;
}

/// Encodes every stored field of `data` into a fresh buffer.
///
/// # Errors
///
/// As [`SessionData::encode`].
pub fn encode_to_vec<S: SessionData, C: Codec>(data: &S) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(S::MAX_ENCODED_LEN.unwrap_or(256).min(4096));
    data.encode::<C>(Part::All, &mut out)?;
    Ok(out)
}

/// Decodes every stored field into a fresh value (skipped fields keep their
/// `Default`).
///
/// # Errors
///
/// As [`SessionData::decode`].
pub fn decode_from_slice<S: SessionData, C: Codec>(input: &[u8]) -> Result<S, CodecError> {
    let mut data = S::default_session();
    data.decode::<C>(Part::All, input)?;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_set_spills_past_64() {
        let mut set = FieldSet::new();
        assert!(set.is_empty());
        set.insert(3);
        set.insert(63);
        set.insert(64);
        set.insert(200);
        assert!(set.contains(3) && set.contains(63) && set.contains(64) && set.contains(200));
        assert!(!set.contains(4) && !set.contains(65) && !set.contains(1000));
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![3, 63, 64, 200]);
        let mut other = FieldSet::new();
        other.insert(1);
        other.union_with(&set);
        assert_eq!(other.iter().count(), 5);
        assert_eq!(FieldSet::all(70).iter().count(), 70);
    }

    #[test]
    fn storage_table() {
        use StorageRequest::*;
        assert_eq!(
            decide_storage(Some(100), 4, Auto).ok(),
            Some(Storage::Cookie)
        );
        assert_eq!(decide_storage(None, 4, Auto).ok(), Some(Storage::Adaptive));
        assert_eq!(
            decide_storage(Some(1 << 20), 4, Auto).ok(),
            Some(Storage::Adaptive)
        );
        assert_eq!(
            decide_storage(Some(1), 4, Server).ok(),
            Some(Storage::Server)
        );
        assert_eq!(decide_storage(None, 4, Server).ok(), Some(Storage::Server));
        assert!(decide_storage(None, 4, Cookie).is_err());
        let budget = envelope::cookie_body_budget(4);
        assert_eq!(
            decide_storage(Some(budget), 4, Cookie).ok(),
            Some(Storage::Cookie)
        );
        let err = decide_storage(Some(budget + 1), 4, Cookie).unwrap_err();
        let (buf, len) = err.message();
        let text = core::str::from_utf8(&buf[..len]).unwrap();
        assert!(text.contains(&format!("{} bytes", budget + 1)), "{text}");
        assert!(
            text.contains(&format!("budget of {budget} bytes")),
            "{text}"
        );
    }
}
