//! Natural ordering of names, as NetBox sorts secret-role names (ICU `und-u-kn-true`):
//! runs of digits compare by value and letters compare without regard to case.

use std::cmp::Ordering;
use std::iter::Peekable;
use std::str::Chars;

/// Name of the SQLite collation registered on every store connection.
pub const NATURAL: &str = "natural_sort";

/// Compares two names in natural order. Names equal under that order fall back to a plain
/// comparison so the order is total.
///
/// NOTE: an approximation of ICU's root collation with numeric ordering. It folds case and
/// compares digit runs by value, but it does not apply ICU's accent and punctuation weights.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    natural_primary(a, b).then_with(|| a.cmp(b))
}

fn natural_primary(a: &str, b: &str) -> Ordering {
    let mut left = a.chars().peekable();
    let mut right = b.chars().peekable();

    loop {
        let (l, r) = match (left.peek().copied(), right.peek().copied()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(l), Some(r)) => (l, r),
        };

        let step = if l.is_ascii_digit() && r.is_ascii_digit() {
            compare_numbers(&take_digits(&mut left), &take_digits(&mut right))
        } else {
            left.next();
            right.next();
            l.to_lowercase().cmp(r.to_lowercase())
        };

        if step != Ordering::Equal {
            return step;
        }
    }
}

fn take_digits(chars: &mut Peekable<Chars<'_>>) -> String {
    let mut digits = String::new();
    while let Some(c) = chars.next_if(char::is_ascii_digit) {
        digits.push(c);
    }
    digits
}

/// Compares two runs of ASCII digits by value, whatever their length.
fn compare_numbers(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');

    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_compare_by_value() {
        assert_eq!(natural_cmp("role2", "role10"), Ordering::Less);
        assert_eq!(natural_cmp("role10", "role9"), Ordering::Greater);
        assert_eq!(
            natural_cmp("a99999999999999999999", "a100000000000000000000"),
            Ordering::Less
        );
    }

    #[test]
    fn letters_ignore_case() {
        assert_eq!(natural_cmp("alpha", "Beta"), Ordering::Less);
        assert_eq!(natural_cmp("Alpha", "beta"), Ordering::Less);
    }

    #[test]
    fn ties_are_broken() {
        assert_ne!(natural_cmp("Alpha", "alpha"), Ordering::Equal);
        assert_ne!(natural_cmp("a01", "a1"), Ordering::Equal);
        assert_eq!(natural_cmp("same", "same"), Ordering::Equal);
    }

    #[test]
    fn prefix_sorts_first() {
        assert_eq!(natural_cmp("Login", "Login Credentials"), Ordering::Less);
    }
}
