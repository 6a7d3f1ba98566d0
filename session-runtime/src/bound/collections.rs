//! Collections whose capacity is part of their type.

use super::{MaxEncodedLen, collection, prefix_len};
use core::fmt;
use core::ops::{Deref, DerefMut};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Borrow;
use std::collections::BTreeMap;

/// A value refused because it would exceed a bounded collection's capacity.
///
/// It hands the refused value back ([`into_inner`](Self::into_inner)), so
/// nothing is lost.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} would exceed the capacity of {capacity}")]
pub struct CapacityError<T> {
    value: T,
    capacity: usize,
    what: &'static str,
}

impl<T> CapacityError<T> {
    pub(crate) fn new(value: T, capacity: usize, what: &'static str) -> Self {
        Self {
            value,
            capacity,
            what,
        }
    }

    /// The capacity that was exceeded.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The refused value.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> fmt::Debug for CapacityError<T> {
    // no `T: Debug` bound: session data may be secret and need not be `Debug`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CapacityError")
            .field("capacity", &self.capacity)
            .field("what", &self.what)
            .finish_non_exhaustive()
    }
}

/// A `String` of at most `N` bytes of UTF-8.
///
/// ```
/// use session_runtime::BoundedString;
///
/// let mut name = BoundedString::<8>::try_from("Ada")?;
/// name.try_push_str(" L.")?;
/// assert_eq!(name, "Ada L.");
/// assert!(name.try_push_str(" Lovelace").is_err()); // would be 15 bytes
/// # Ok::<(), session_runtime::CapacityError<String>>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BoundedString<const N: usize>(String);

impl<const N: usize> BoundedString<N> {
    /// An empty string.
    #[must_use]
    pub const fn new() -> Self {
        Self(String::new())
    }

    /// The capacity `N`, in bytes.
    pub const CAPACITY: usize = N;

    /// Appends `s`, or refuses it whole when the result would exceed `N` bytes.
    ///
    /// # Errors
    ///
    /// [`CapacityError`] holding `s` when it does not fit.
    pub fn try_push_str(&mut self, s: &str) -> Result<(), CapacityError<String>> {
        if self.0.len() + s.len() > N {
            return Err(CapacityError::new(s.to_owned(), N, "string"));
        }
        self.0.push_str(s);
        Ok(())
    }

    /// Appends `c`, or refuses it when the result would exceed `N` bytes.
    ///
    /// # Errors
    ///
    /// [`CapacityError`] holding `c` when it does not fit.
    pub fn try_push(&mut self, c: char) -> Result<(), CapacityError<char>> {
        if self.0.len() + c.len_utf8() > N {
            return Err(CapacityError::new(c, N, "string"));
        }
        self.0.push(c);
        Ok(())
    }

    /// Empties the string.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// Shortens the string to at most `max_bytes`, backing off to a character
    /// boundary.
    pub fn truncate_to(&mut self, max_bytes: usize) {
        if max_bytes < self.0.len() {
            let end = self.0.floor_char_boundary(max_bytes);
            self.0.truncate(end);
        }
    }

    /// The contents.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The owned `String`.
    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }
}

impl<const N: usize> TryFrom<String> for BoundedString<N> {
    type Error = CapacityError<String>;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        if s.len() > N {
            return Err(CapacityError::new(s, N, "string"));
        }
        Ok(Self(s))
    }
}

impl<const N: usize> TryFrom<&str> for BoundedString<N> {
    type Error = CapacityError<String>;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        if s.len() > N {
            return Err(CapacityError::new(s.to_owned(), N, "string"));
        }
        Ok(Self(s.to_owned()))
    }
}

impl<const N: usize> Deref for BoundedString<N> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<const N: usize> AsRef<str> for BoundedString<N> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<const N: usize> Borrow<str> for BoundedString<N> {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl<const N: usize> fmt::Display for BoundedString<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<const N: usize> fmt::Debug for BoundedString<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<const N: usize> PartialEq<str> for BoundedString<N> {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl<const N: usize> PartialEq<&str> for BoundedString<N> {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl<const N: usize> Serialize for BoundedString<N> {
    fn serialize<Se: Serializer>(&self, serializer: Se) -> Result<Se::Ok, Se::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de, const N: usize> Deserialize<'de> for BoundedString<N> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        if s.len() > N {
            return Err(D::Error::invalid_length(
                s.len(),
                &"a string within its bound",
            ));
        }
        Ok(Self(s))
    }
}

impl<const N: usize> MaxEncodedLen for BoundedString<N> {
    const MAX_ENCODED_LEN: Option<usize> = Some(prefix_len(N as u64) + N);
    // a capacity change is a schema change: the bound, and so where the
    // session may live, depends on it
    const SHAPE: u64 = super::shape::then_number(super::shape::named("BoundedString"), N as u64);
}

/// A `Vec<T>` of at most `N` items.
///
/// It derefs to a mutable slice, so items can be changed in place; only the
/// operations that grow it are fallible.
///
/// ```
/// use session_runtime::BoundedVec;
///
/// let mut items = BoundedVec::<u32, 2>::new();
/// items.try_push(1)?;
/// items.try_push(2)?;
/// let refused = items.try_push(3).unwrap_err();
/// assert_eq!(refused.into_inner(), 3);
/// assert_eq!(items.as_slice(), &[1, 2]);
/// # Ok::<(), session_runtime::CapacityError<u32>>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BoundedVec<T, const N: usize>(Vec<T>);

impl<T, const N: usize> Default for BoundedVec<T, N> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T, const N: usize> BoundedVec<T, N> {
    /// An empty vector.
    #[must_use]
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// The capacity `N`.
    pub const CAPACITY: usize = N;

    /// Appends `item`, or hands it back when the vector is full.
    ///
    /// # Errors
    ///
    /// [`CapacityError`] holding `item` when the vector already has `N` items.
    pub fn try_push(&mut self, item: T) -> Result<(), CapacityError<T>> {
        if self.0.len() >= N {
            return Err(CapacityError::new(item, N, "item"));
        }
        self.0.push(item);
        Ok(())
    }

    /// Inserts `item` at `index` (shifting later items), or hands it back when
    /// the vector is full.
    ///
    /// # Errors
    ///
    /// [`CapacityError`] holding `item` when the vector already has `N` items.
    ///
    /// # Panics
    ///
    /// When `index > len`, as `Vec::insert` does.
    pub fn try_insert(&mut self, index: usize, item: T) -> Result<(), CapacityError<T>> {
        if self.0.len() >= N {
            return Err(CapacityError::new(item, N, "item"));
        }
        self.0.insert(index, item);
        Ok(())
    }

    /// Removes and returns the last item.
    pub fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }

    /// Removes and returns the item at `index`, or `None` when out of range.
    pub fn remove(&mut self, index: usize) -> Option<T> {
        (index < self.0.len()).then(|| self.0.remove(index))
    }

    /// Keeps only the items for which `keep` returns true.
    pub fn retain(&mut self, keep: impl FnMut(&T) -> bool) {
        self.0.retain(keep);
    }

    /// Shortens the vector to at most `len` items.
    pub fn truncate(&mut self, len: usize) {
        self.0.truncate(len);
    }

    /// Removes every item.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// The items.
    #[must_use]
    pub fn as_slice(&self) -> &[T] {
        &self.0
    }

    /// The owned `Vec`.
    #[must_use]
    pub fn into_vec(self) -> Vec<T> {
        self.0
    }
}

impl<T, const N: usize> TryFrom<Vec<T>> for BoundedVec<T, N> {
    type Error = CapacityError<Vec<T>>;
    fn try_from(items: Vec<T>) -> Result<Self, Self::Error> {
        if items.len() > N {
            return Err(CapacityError::new(items, N, "vector"));
        }
        Ok(Self(items))
    }
}

impl<T, const N: usize> Deref for BoundedVec<T, N> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T, const N: usize> DerefMut for BoundedVec<T, N> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.0
    }
}

impl<'a, T, const N: usize> IntoIterator for &'a BoundedVec<T, N> {
    type Item = &'a T;
    type IntoIter = core::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<T, const N: usize> IntoIterator for BoundedVec<T, N> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<T: fmt::Debug, const N: usize> fmt::Debug for BoundedVec<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.0).finish()
    }
}

impl<T: Serialize, const N: usize> Serialize for BoundedVec<T, N> {
    fn serialize<Se: Serializer>(&self, serializer: Se) -> Result<Se::Ok, Se::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>, const N: usize> Deserialize<'de> for BoundedVec<T, N> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let items = Vec::<T>::deserialize(deserializer)?;
        if items.len() > N {
            return Err(D::Error::invalid_length(
                items.len(),
                &"a sequence within its bound",
            ));
        }
        Ok(Self(items))
    }
}

impl<T: MaxEncodedLen, const N: usize> MaxEncodedLen for BoundedVec<T, N> {
    const MAX_ENCODED_LEN: Option<usize> = collection(N, T::MAX_ENCODED_LEN);
    const SHAPE: u64 =
        super::shape::then_number(super::shape::wrap("BoundedVec", T::SHAPE), N as u64);
}

/// An ordered map of at most `N` entries.
///
/// Ordered (a `BTreeMap` inside) on purpose: the same contents always encode
/// to the same bytes, so an unchanged session is recognised and not written.
///
/// ```
/// use session_runtime::BoundedMap;
///
/// let mut prefs = BoundedMap::<u8, bool, 1>::new();
/// prefs.try_insert(1, true)?;
/// prefs.try_insert(1, false)?; // replacing never needs room
/// assert!(prefs.try_insert(2, true).is_err());
/// assert_eq!(prefs.get(&1), Some(&false));
/// # Ok::<(), session_runtime::CapacityError<(u8, bool)>>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BoundedMap<K, V, const N: usize>(BTreeMap<K, V>);

impl<K, V, const N: usize> Default for BoundedMap<K, V, N> {
    fn default() -> Self {
        Self(BTreeMap::new())
    }
}

impl<K: Ord, V, const N: usize> BoundedMap<K, V, N> {
    /// An empty map.
    #[must_use]
    pub const fn new() -> Self {
        Self(BTreeMap::new())
    }

    /// The capacity `N`.
    pub const CAPACITY: usize = N;

    /// Inserts or replaces an entry; returns the replaced value. A new key is
    /// refused when the map is full.
    ///
    /// # Errors
    ///
    /// [`CapacityError`] holding the entry when the key is new and the map
    /// already has `N` entries.
    pub fn try_insert(&mut self, key: K, value: V) -> Result<Option<V>, CapacityError<(K, V)>> {
        if self.0.len() >= N && !self.0.contains_key(&key) {
            return Err(CapacityError::new((key, value), N, "entry"));
        }
        Ok(self.0.insert(key, value))
    }

    /// The value for `key`.
    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.0.get(key)
    }

    /// The value for `key`, mutably.
    pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.0.get_mut(key)
    }

    /// Whether `key` has an entry.
    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.0.contains_key(key)
    }

    /// Removes the entry for `key` and returns its value.
    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.0.remove(key)
    }

    /// Keeps only the entries for which `keep` returns true.
    pub fn retain(&mut self, keep: impl FnMut(&K, &mut V) -> bool) {
        self.0.retain(keep);
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// The number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the map is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries in key order.
    pub fn iter(&self) -> std::collections::btree_map::Iter<'_, K, V> {
        self.0.iter()
    }

    /// The entries in key order, values mutable.
    pub fn iter_mut(&mut self) -> std::collections::btree_map::IterMut<'_, K, V> {
        self.0.iter_mut()
    }

    /// The owned `BTreeMap`.
    #[must_use]
    pub fn into_inner(self) -> BTreeMap<K, V> {
        self.0
    }
}

impl<K: Ord, V, const N: usize> TryFrom<BTreeMap<K, V>> for BoundedMap<K, V, N> {
    type Error = CapacityError<BTreeMap<K, V>>;
    fn try_from(map: BTreeMap<K, V>) -> Result<Self, Self::Error> {
        if map.len() > N {
            return Err(CapacityError::new(map, N, "map"));
        }
        Ok(Self(map))
    }
}

impl<'a, K, V, const N: usize> IntoIterator for &'a BoundedMap<K, V, N> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::collections::btree_map::Iter<'a, K, V>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<K: fmt::Debug, V: fmt::Debug, const N: usize> fmt::Debug for BoundedMap<K, V, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(&self.0).finish()
    }
}

impl<K: Serialize, V: Serialize, const N: usize> Serialize for BoundedMap<K, V, N> {
    fn serialize<Se: Serializer>(&self, serializer: Se) -> Result<Se::Ok, Se::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, K, V, const N: usize> Deserialize<'de> for BoundedMap<K, V, N>
where
    K: Deserialize<'de> + Ord,
    V: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<K, V>::deserialize(deserializer)?;
        if map.len() > N {
            return Err(D::Error::invalid_length(
                map.len(),
                &"a map within its bound",
            ));
        }
        Ok(Self(map))
    }
}

impl<K: MaxEncodedLen, V: MaxEncodedLen, const N: usize> MaxEncodedLen for BoundedMap<K, V, N> {
    const MAX_ENCODED_LEN: Option<usize> =
        collection(N, super::add(K::MAX_ENCODED_LEN, V::MAX_ENCODED_LEN));
    const SHAPE: u64 = super::shape::then_number(
        super::shape::then(super::shape::wrap("BoundedMap", K::SHAPE), V::SHAPE),
        N as u64,
    );
}
