//! Text helpers that stay fast inside the sandbox.

/// Whether `a` and `b` hold the same bytes. The same answer as `a == b`, which in a wasm guest
/// calls libc's `memcmp`, a byte-at-a-time loop behind a call; this compares eight bytes at a
/// time inline, for the short strings (field names, type names) plugins compare per record.
#[inline]
pub fn same(a: &str, b: &str) -> bool {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    while let (Some((x, rest_a)), Some((y, rest_b))) = (a.split_first_chunk::<8>(), b.split_first_chunk::<8>()) {
        if u64::from_ne_bytes(*x) != u64::from_ne_bytes(*y) {
            return false;
        }
        (a, b) = (rest_a, rest_b);
    }
    a.iter().zip(b).all(|(x, y)| x == y)
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn agrees_with_string_equality() {
        let words = [
            "",
            "a",
            "b",
            "ab",
            "ba",
            "id",
            "score",
            "title",
            "subreddit",
            "created_utc",
            "created_utd",
            "0123456789abcdef",
            "0123456789abcdeF",
            "0123456789abcdef0",
            "é",
            "e",
        ];
        for a in words {
            for b in words {
                assert_eq!(same(a, b), a == b, "{a:?} vs {b:?}");
            }
        }
    }
}
