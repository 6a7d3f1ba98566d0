//! Bound arithmetic on `Option<usize>` (unbounded and overflow stay
//! `None`), in const fns: the bounds of the shipped impls, and of every
//! `#[derive(Session)]` and `#[derive(MaxEncodedLen)]`, whose expansion
//! reaches these through `__private` only. Not public API.

/// Adds two bounds; unbounded (or overflowing) stays unbounded.
#[must_use]
pub const fn add(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    match (a, b) {
        (Some(a), Some(b)) => a.checked_add(b),
        _ => None,
    }
}

/// Multiplies a bound by a count; unbounded (or overflowing) stays unbounded.
#[must_use]
pub(crate) const fn mul(a: Option<usize>, count: usize) -> Option<usize> {
    match a {
        Some(a) => a.checked_mul(count),
        None => None,
    }
}

/// The larger of two bounds, for enum variants; unbounded wins.
#[must_use]
pub const fn max(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if a > b { a } else { b }),
        _ => None,
    }
}

/// Bytes of a length prefix (or enum tag) whose value is at most `n`, in the
/// worse of the shipped codecs: bincode's varint (1, 3, 5 or 9 bytes) and
/// postcard's LEB128 (7 bits a byte).
#[must_use]
pub const fn prefix_len(n: u64) -> usize {
    let bincode = if n < 251 {
        1
    } else if n <= u16::MAX as u64 {
        3
    } else if n <= u32::MAX as u64 {
        5
    } else {
        9
    };
    let bits = 64 - n.leading_zeros() as usize;
    let leb128 = if bits == 0 { 1 } else { bits.div_ceil(7) };
    if bincode > leb128 { bincode } else { leb128 }
}

/// The bound of a session: the sum of its stored fields' bounds, `None`
/// when one is unbounded or the sum overflows.
#[must_use]
pub const fn sum(bounds: &[Option<usize>]) -> Option<usize> {
    let mut total = Some(0);
    let mut i = 0;
    while i < bounds.len() {
        total = add(total, bounds[i]);
        i += 1;
    }
    total
}

/// Whether every one of the bounds is known (the sum may still overflow).
#[must_use]
pub const fn all_known(bounds: &[Option<usize>]) -> bool {
    let mut i = 0;
    while i < bounds.len() {
        if bounds[i].is_none() {
            return false;
        }
        i += 1;
    }
    true
}

/// The bound of a collection of at most `n` items of `item` bytes each.
#[must_use]
pub const fn collection(n: usize, item: Option<usize>) -> Option<usize> {
    add(Some(prefix_len(n as u64)), mul(item, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_len_takes_the_worse_codec() {
        assert_eq!(prefix_len(0), 1);
        assert_eq!(prefix_len(127), 1);
        assert_eq!(prefix_len(128), 2); // postcard needs two bytes
        assert_eq!(prefix_len(250), 2);
        assert_eq!(prefix_len(251), 3); // bincode switches to u16
        assert_eq!(prefix_len(65_535), 3);
        assert_eq!(prefix_len(65_536), 5);
        assert_eq!(prefix_len(u64::from(u32::MAX)), 5);
        assert_eq!(prefix_len(u64::from(u32::MAX) + 1), 9);
        assert_eq!(prefix_len(u64::MAX), 10); // postcard: 64 bits / 7
    }

    #[test]
    fn arithmetic_propagates_unbounded_and_overflow() {
        assert_eq!(add(Some(1), Some(2)), Some(3));
        assert_eq!(add(Some(1), None), None);
        assert_eq!(add(Some(usize::MAX), Some(1)), None);
        assert_eq!(mul(Some(3), 4), Some(12));
        assert_eq!(mul(Some(usize::MAX), 2), None);
        assert_eq!(max(Some(3), Some(9)), Some(9));
        assert_eq!(max(None, Some(9)), None);
        assert_eq!(collection(16, Some(5)), Some(1 + 80));
        assert_eq!(collection(4, None), None); // the items' bound is unknown
        assert_eq!(sum(&[]), Some(0));
        assert_eq!(sum(&[Some(1), Some(2)]), Some(3));
        assert_eq!(sum(&[Some(1), None]), None);
        assert_eq!(sum(&[Some(usize::MAX), Some(1)]), None);
        assert!(all_known(&[]) && all_known(&[Some(usize::MAX), Some(1)]));
        assert!(!all_known(&[Some(1), None]));
    }
}
