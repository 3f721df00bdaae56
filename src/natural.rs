//! Natural order for environment names: `fleet-2` before `fleet-10`, as people number their
//! clusters. Every list of environments kgen prints or walks uses it.

use std::cmp::Ordering;

/// Compares two names: runs of ASCII digits by numeric value (then by length, so `01` and `1`
/// stay distinct and the order total), everything else byte by byte.
pub fn cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let (ei, ej) = (run_end(a, i), run_end(b, j));
            let (da, db) = (trim_zeros(&a[i..ei]), trim_zeros(&b[j..ej]));
            // Equal-length digit strings without leading zeros compare as numbers bytewise.
            let by_value = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
            let ord = by_value.then_with(|| (ei - i).cmp(&(ej - j)));
            if ord != Ordering::Equal {
                return ord;
            }
            (i, j) = (ei, ej);
        } else {
            match a[i].cmp(&b[j]) {
                Ordering::Equal => (i, j) = (i + 1, j + 1),
                ord => return ord,
            }
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

/// Sorts names naturally.
pub fn sort<S: AsRef<str>>(names: &mut [S]) {
    names.sort_by(|a, b| cmp(a.as_ref(), b.as_ref()));
}

fn run_end(s: &[u8], from: usize) -> usize {
    s[from..].iter().position(|c| !c.is_ascii_digit()).map_or(s.len(), |p| from + p)
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let first = digits.iter().position(|&c| c != b'0').unwrap_or(digits.len());
    &digits[first..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numbers_by_value() {
        let mut v = vec!["fleet-10", "fleet-2", "fleet-1", "fleet-100", "dev", "fleet-02", "prod-eu-3", "prod-eu-12"];
        sort(&mut v);
        assert_eq!(v, ["dev", "fleet-1", "fleet-2", "fleet-02", "fleet-10", "fleet-100", "prod-eu-3", "prod-eu-12"]);
    }

    proptest! {
        /// A total order that agrees with equality: sorting is deterministic whatever the input order.
        #[test]
        fn total_order(a in "[a-c0-9-]{0,8}", b in "[a-c0-9-]{0,8}", c in "[a-c0-9-]{0,8}") {
            prop_assert_eq!(cmp(&a, &b), cmp(&b, &a).reverse());
            prop_assert_eq!(cmp(&a, &b) == Ordering::Equal, a == b);
            if cmp(&a, &b) != Ordering::Greater && cmp(&b, &c) != Ordering::Greater {
                prop_assert_ne!(cmp(&a, &c), Ordering::Greater);
            }
        }
    }
}
