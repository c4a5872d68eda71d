//! List filters in NetBox's filter-set style (`?name__ic=x&id=1&id=2`) and `?ordering=`.
//!
//! Values of one parameter are ORed and different parameters ANDed, as in NetBox. Unlike NetBox,
//! an unknown parameter is a 400 rather than ignored, so a misspelt filter never returns every
//! secret.

use std::cmp::Ordering;
use std::collections::HashSet;

use regex::{Regex, RegexBuilder};
use serde_json::{json, Map, Value};
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use super::error::ApiError;
use super::request::{as_boolean, Query};

/// Parameters of every list endpoint that are not filters: pagination, field selection,
/// ordering and the renderer choice.
pub const LIST_PARAMS: &[&str] = &[
    "limit", "offset", "start", "brief", "fields", "omit", "ordering", "format",
];

/// Message for a parameter that is neither a filter nor a list parameter.
const UNKNOWN_PARAMETER: &str = "Unknown filter parameter; check the spelling or remove it.";

/// Largest compiled size of a client-supplied regular expression, in bytes.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Suffixes of text fields, NetBox's `FILTER_CHAR_BASED_LOOKUP_MAP` plus `empty`.
const TEXT_LOOKUPS: &[&str] = &[
    "", "n", "ic", "nic", "iew", "niew", "isw", "nisw", "ie", "nie", "empty", "regex", "iregex",
];

/// Suffixes of numeric and date-time fields, NetBox's `FILTER_NUMERIC_BASED_LOOKUP_MAP`
/// plus `empty`.
const ORDERED_LOOKUPS: &[&str] = &["", "n", "lt", "lte", "gt", "gte", "empty"];

/// Reads a text field of an item; `None` is SQL NULL.
type TextGetter<T> = fn(&T) -> Option<&str>;

/// Reads an integer field of an item; `None` is SQL NULL.
type IntegerGetter<T> = fn(&T) -> Option<i64>;

/// The reader of a declared field, by field type.
enum Getter<T> {
    Text(TextGetter<T>),
    Integer(IntegerGetter<T>),
    /// ISO-8601 text such as `2026-07-23T15:47:00.123456Z`.
    Timestamp(TextGetter<T>),
}

struct Field<T> {
    name: &'static str,
    getter: Getter<T>,
}

/// The filters one list endpoint accepts.
pub struct FilterSet<T> {
    fields: Vec<Field<T>>,
    custom: Vec<&'static str>,
}

impl<T> Default for FilterSet<T> {
    fn default() -> Self {
        FilterSet::new()
    }
}

impl<T> FilterSet<T> {
    pub fn new() -> Self {
        FilterSet {
            fields: Vec::new(),
            custom: Vec::new(),
        }
    }

    /// Declares a text field: the plain name is a case-sensitive exact match, and the suffixes
    /// `n ic nic iew niew isw nisw ie nie empty regex iregex` are accepted.
    pub fn text(mut self, name: &'static str, get: fn(&T) -> Option<&str>) -> Self {
        self.fields.push(Field {
            name,
            getter: Getter::Text(get),
        });
        self
    }

    /// Declares an integer field with the suffixes `n lt lte gt gte empty`.
    pub fn integer(mut self, name: &'static str, get: fn(&T) -> Option<i64>) -> Self {
        self.fields.push(Field {
            name,
            getter: Getter::Integer(get),
        });
        self
    }

    /// Declares a date-time field stored as ISO-8601 text, with the suffixes
    /// `n lt lte gt gte empty`. Query values may be dates (midnight UTC) or date-times.
    pub fn timestamp(mut self, name: &'static str, get: fn(&T) -> Option<&str>) -> Self {
        self.fields.push(Field {
            name,
            getter: Getter::Timestamp(get),
        });
        self
    }

    /// Declares a parameter the handler interprets itself; the set allows it and ignores it.
    pub fn custom(mut self, name: &'static str) -> Self {
        self.custom.push(name);
        self
    }

    /// Builds the filter that a query requests. Every unknown parameter and every invalid value is
    /// reported in one 400 field-error body, keyed by parameter name.
    pub fn compile(&self, query: &Query) -> Result<Filter<'_, T>, ApiError> {
        let mut conditions = Vec::new();
        let mut errors = Map::new();
        let mut seen = HashSet::new();

        for (parameter, _) in query.pairs() {
            let parameter = parameter.as_str();
            if !seen.insert(parameter) || self.is_ignored(parameter) {
                continue;
            }

            let Some((field, lookup)) = self.resolve(parameter) else {
                errors.insert(parameter.to_string(), json!([UNKNOWN_PARAMETER]));
                continue;
            };

            match build_test(&field.getter, lookup, &query.all(parameter)) {
                Ok(Some(test)) => conditions.push(Condition { field, test }),
                Ok(None) => {}
                Err(value) => {
                    errors.insert(parameter.to_string(), json!([invalid_value(&value)]));
                }
            }
        }

        if errors.is_empty() {
            Ok(Filter { conditions })
        } else {
            Err(ApiError::Fields(errors))
        }
    }

    fn is_ignored(&self, parameter: &str) -> bool {
        LIST_PARAMS.contains(&parameter) || self.custom.contains(&parameter)
    }

    /// Finds the field and lookup suffix a parameter names, such as `name` + `ic` for
    /// `name__ic`; the plain field name has the empty suffix.
    fn resolve<'p>(&self, parameter: &'p str) -> Option<(&Field<T>, &'p str)> {
        let (name, lookup) = parameter.rsplit_once("__").unwrap_or((parameter, ""));

        let field = self.fields.iter().find(|field| field.name == name)?;
        let lookups = match field.getter {
            Getter::Text(_) => TEXT_LOOKUPS,
            Getter::Integer(_) | Getter::Timestamp(_) => ORDERED_LOOKUPS,
        };
        lookups.contains(&lookup).then_some((field, lookup))
    }
}

/// NetBox's message for a filter value that does not parse.
fn invalid_value(value: &str) -> String {
    format!("\u{201c}{value}\u{201d} is not a valid value.")
}

/// A compiled filter; borrows the field readers of its [`FilterSet`].
pub struct Filter<'a, T> {
    conditions: Vec<Condition<'a, T>>,
}

impl<T> Filter<'_, T> {
    /// Returns whether an item passes every condition.
    pub fn matches(&self, item: &T) -> bool {
        self.conditions
            .iter()
            .all(|condition| condition.matches(item))
    }
}

struct Condition<'a, T> {
    field: &'a Field<T>,
    test: Test,
}

impl<T> Condition<'_, T> {
    fn matches(&self, item: &T) -> bool {
        match (&self.field.getter, &self.test) {
            (Getter::Text(get), test) => test.matches_text(get(item)),
            (Getter::Integer(get), test) => test.matches_integer(get(item)),
            (Getter::Timestamp(get), test) => {
                let moment = get(item).and_then(parse_moment);
                test.matches_moment(moment, get(item).is_some_and(str::is_empty))
            }
        }
    }
}

/// Text comparisons; every one but `Exact` ignores case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TextOp {
    Exact,
    IExact,
    IContains,
    IStartsWith,
    IEndsWith,
}

/// Comparisons of integers and date-times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Comparison {
    Eq,
    Lt,
    Lte,
    Gt,
    Gte,
}

impl Comparison {
    fn holds(self, ordering: Ordering) -> bool {
        match self {
            Comparison::Eq => ordering == Ordering::Equal,
            Comparison::Lt => ordering == Ordering::Less,
            Comparison::Lte => ordering != Ordering::Greater,
            Comparison::Gt => ordering == Ordering::Greater,
            Comparison::Gte => ordering != Ordering::Less,
        }
    }
}

/// One parameter's test. A negated test matches items that match none of its values, NULL
/// included, as Django's `exclude()` does.
#[derive(Debug)]
enum Test {
    /// `__empty`: `true` matches NULL and empty text, `false` the rest.
    Empty(bool),
    /// Case-insensitive values are stored lowercased.
    Text {
        op: TextOp,
        values: Vec<String>,
        negate: bool,
    },
    Regex(Vec<Regex>),
    Integer {
        op: Comparison,
        values: Vec<i64>,
        negate: bool,
    },
    Moment {
        op: Comparison,
        values: Vec<OffsetDateTime>,
        negate: bool,
    },
}

impl Test {
    fn matches_text(&self, value: Option<&str>) -> bool {
        match self {
            Test::Empty(wanted) => value.map_or(true, str::is_empty) == *wanted,
            Test::Text { op, values, negate } => {
                let hit = value.is_some_and(|value| text_hit(*op, value, values));
                hit != *negate
            }
            Test::Regex(patterns) => {
                value.is_some_and(|value| patterns.iter().any(|pattern| pattern.is_match(value)))
            }
            Test::Integer { .. } | Test::Moment { .. } => false,
        }
    }

    fn matches_integer(&self, value: Option<i64>) -> bool {
        match self {
            Test::Empty(wanted) => value.is_none() == *wanted,
            Test::Integer { op, values, negate } => {
                let hit = value
                    .is_some_and(|value| values.iter().any(|wanted| op.holds(value.cmp(wanted))));
                hit != *negate
            }
            Test::Text { .. } | Test::Regex(_) | Test::Moment { .. } => false,
        }
    }

    /// `blank` is true for empty stored text, which `__empty=true` matches like NULL.
    fn matches_moment(&self, value: Option<OffsetDateTime>, blank: bool) -> bool {
        match self {
            Test::Empty(wanted) => (value.is_none() || blank) == *wanted,
            Test::Moment { op, values, negate } => {
                let hit = value
                    .is_some_and(|value| values.iter().any(|wanted| op.holds(value.cmp(wanted))));
                hit != *negate
            }
            Test::Text { .. } | Test::Regex(_) | Test::Integer { .. } => false,
        }
    }
}

fn text_hit(op: TextOp, value: &str, values: &[String]) -> bool {
    if op == TextOp::Exact {
        return values.iter().any(|wanted| wanted == value);
    }

    let value = value.to_lowercase();
    values.iter().any(|wanted| match op {
        TextOp::Exact | TextOp::IExact => value == *wanted,
        TextOp::IContains => value.contains(wanted.as_str()),
        TextOp::IStartsWith => value.starts_with(wanted.as_str()),
        TextOp::IEndsWith => value.ends_with(wanted.as_str()),
    })
}

/// Builds the test for one parameter from its values. Empty values are dropped, as NetBox's
/// multi-value fields do, and a parameter left with no value filters nothing (`Ok(None)`).
/// `Err` carries the first value that does not parse.
fn build_test<T>(getter: &Getter<T>, lookup: &str, raw: &[&str]) -> Result<Option<Test>, String> {
    let values: Vec<&str> = raw
        .iter()
        .copied()
        .filter(|value| !value.is_empty())
        .collect();
    if values.is_empty() {
        return Ok(None);
    }

    if lookup == "empty" {
        return empty_test(&values).map(Some);
    }

    let test = match getter {
        Getter::Text(_) => text_test(lookup, &values)?,
        Getter::Integer(_) => {
            let (op, negate) = comparison(lookup);
            let values = parse_all(&values, |value| value.trim().parse::<i64>().ok())?;
            Test::Integer { op, values, negate }
        }
        Getter::Timestamp(_) => {
            let (op, negate) = comparison(lookup);
            let values = parse_all(&values, |value| parse_moment(value.trim()))?;
            Test::Moment { op, values, negate }
        }
    };
    Ok(Some(test))
}

/// `__empty=true|false`; with several values the last wins, as for a single-value filter.
fn empty_test(values: &[&str]) -> Result<Test, String> {
    let last = values[values.len() - 1];

    as_boolean(&Value::String(last.to_string()))
        .map(Test::Empty)
        .ok_or_else(|| last.to_string())
}

fn text_test(lookup: &str, values: &[&str]) -> Result<Test, String> {
    if lookup == "regex" || lookup == "iregex" {
        let patterns = parse_all(values, |value| {
            RegexBuilder::new(value)
                .case_insensitive(lookup == "iregex")
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .ok()
        })?;
        return Ok(Test::Regex(patterns));
    }

    let negate = lookup.starts_with('n');
    let op = match lookup.trim_start_matches('n') {
        "" => TextOp::Exact,
        "ie" => TextOp::IExact,
        "ic" => TextOp::IContains,
        "isw" => TextOp::IStartsWith,
        _ => TextOp::IEndsWith,
    };
    let values = values
        .iter()
        .map(|value| match op {
            TextOp::Exact => value.to_string(),
            _ => value.to_lowercase(),
        })
        .collect();

    Ok(Test::Text { op, values, negate })
}

/// Maps an ordered-field suffix (already checked against [`ORDERED_LOOKUPS`]) to a comparison
/// and whether it is negated.
fn comparison(lookup: &str) -> (Comparison, bool) {
    match lookup {
        "n" => (Comparison::Eq, true),
        "lt" => (Comparison::Lt, false),
        "lte" => (Comparison::Lte, false),
        "gt" => (Comparison::Gt, false),
        "gte" => (Comparison::Gte, false),
        _ => (Comparison::Eq, false),
    }
}

fn parse_all<V>(values: &[&str], parse: impl Fn(&str) -> Option<V>) -> Result<Vec<V>, String> {
    values
        .iter()
        .map(|value| parse(value).ok_or_else(|| value.to_string()))
        .collect()
}

/// Parses an ISO-8601 date (`2026-07-23`, midnight UTC) or date-time (`T` or space between
/// date and time, seconds and fractions optional, `Z` or `±HH:MM` offset, UTC when absent).
fn parse_moment(text: &str) -> Option<OffsetDateTime> {
    let (date_text, rest) = match text.find(['T', 't', ' ']) {
        Some(split) => (&text[..split], Some(&text[split + 1..])),
        None => (text, None),
    };
    let date = Date::parse(date_text, format_description!("[year]-[month]-[day]")).ok()?;

    let Some(rest) = rest else {
        return Some(date.midnight().assume_utc());
    };
    let (time_text, offset) = split_offset(rest)?;
    let time = Time::parse(
        time_text,
        format_description!("[hour]:[minute][optional [:[second][optional [.[subsecond]]]]]"),
    )
    .ok()?;

    Some(PrimitiveDateTime::new(date, time).assume_offset(offset))
}

/// Splits `15:47:00.5+02:00` into the time and its UTC offset.
fn split_offset(text: &str) -> Option<(&str, UtcOffset)> {
    if let Some(time) = text.strip_suffix(['Z', 'z']) {
        return Some((time, UtcOffset::UTC));
    }

    let Some(sign) = text.rfind(['+', '-']) else {
        return Some((text, UtcOffset::UTC));
    };
    let offset = UtcOffset::parse(
        &text[sign..],
        format_description!("[offset_hour sign:mandatory][optional [:]][offset_minute]"),
    )
    .ok()?;
    Some((&text[..sign], offset))
}

/// A value to sort by; NULL sorts after every value in ascending order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SortKey {
    Integer(i64),
    Text(String),
    Null,
}

impl Ord for SortKey {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (SortKey::Null, SortKey::Null) => Ordering::Equal,
            (SortKey::Null, _) => Ordering::Greater,
            (_, SortKey::Null) => Ordering::Less,
            (SortKey::Integer(a), SortKey::Integer(b)) => a.cmp(b),
            (SortKey::Text(a), SortKey::Text(b)) => compare_text(a, b),
            (SortKey::Integer(_), SortKey::Text(_)) => Ordering::Less,
            (SortKey::Text(_), SortKey::Integer(_)) => Ordering::Greater,
        }
    }
}

impl PartialOrd for SortKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Orders text case-insensitively first, then by code point so the order is total.
fn compare_text(a: &str, b: &str) -> Ordering {
    let folded = a.chars().flat_map(char::to_lowercase);
    folded
        .cmp(b.chars().flat_map(char::to_lowercase))
        .then_with(|| a.cmp(b))
}

/// Reads the value an item sorts by for one `ordering` name.
pub type SortKeyFn<T> = fn(&T) -> SortKey;

/// One sort column: its key and whether it is descending.
struct Column<T> {
    key: SortKeyFn<T>,
    descending: bool,
}

/// The sort keys of one item, compared column by column.
#[derive(PartialEq, Eq)]
struct RowKey(Vec<(SortKey, bool)>);

impl Ord for RowKey {
    fn cmp(&self, other: &Self) -> Ordering {
        for ((a, descending), (b, _)) in self.0.iter().zip(&other.0) {
            let ordering = if *descending { b.cmp(a) } else { a.cmp(b) };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        Ordering::Equal
    }
}

impl PartialOrd for RowKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Sorts items by `?ordering=a,-b`: a leading `-` sorts descending (NULL first), unknown names
/// are ignored, and items that compare equal keep their current order. Without a known name
/// the items are left as they are.
pub fn order_by<T>(items: &mut [T], ordering: Option<&str>, keys: &[(&str, SortKeyFn<T>)]) {
    let columns: Vec<Column<T>> = ordering
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter_map(|term| {
            let (name, descending) = match term.strip_prefix('-') {
                Some(name) => (name, true),
                None => (term, false),
            };
            let (_, key) = keys.iter().find(|(known, _)| *known == name)?;
            Some(Column {
                key: *key,
                descending,
            })
        })
        .collect();
    if columns.is_empty() {
        return;
    }

    items.sort_by_cached_key(|item| {
        let keys = columns
            .iter()
            .map(|column| ((column.key)(item), column.descending));
        RowKey(keys.collect())
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Item {
        id: i64,
        name: String,
        note: Option<String>,
        size: Option<i64>,
        created: Option<String>,
    }

    fn item(
        id: i64,
        name: &str,
        note: Option<&str>,
        size: Option<i64>,
        created: Option<&str>,
    ) -> Item {
        Item {
            id,
            name: name.to_string(),
            note: note.map(str::to_string),
            size,
            created: created.map(str::to_string),
        }
    }

    fn items() -> Vec<Item> {
        vec![
            item(
                1,
                "Admin",
                Some("Router login"),
                Some(10),
                Some("2026-01-01T00:00:00Z"),
            ),
            item(
                2,
                "admin",
                Some(""),
                Some(20),
                Some("2026-01-02T12:30:00.250000Z"),
            ),
            item(
                3,
                "SNMP community",
                None,
                None,
                Some("2026-01-03T08:00:00Z"),
            ),
            item(4, "enable", Some("Switch enable"), Some(30), None),
        ]
    }

    fn filter_set() -> FilterSet<Item> {
        FilterSet::<Item>::new()
            .integer("id", |item| Some(item.id))
            .text("name", |item| Some(item.name.as_str()))
            .text("note", |item| item.note.as_deref())
            .integer("size", |item| item.size)
            .timestamp("created", |item| item.created.as_deref())
            .custom("q")
    }

    fn matching(raw: &str) -> Vec<i64> {
        let set = filter_set();
        let filter = set.compile(&Query::parse(Some(raw))).expect(raw);
        items()
            .iter()
            .filter(|item| filter.matches(item))
            .map(|item| item.id)
            .collect()
    }

    fn error_of(raw: &str) -> Value {
        match filter_set().compile(&Query::parse(Some(raw))) {
            Err(ApiError::Fields(fields)) => Value::Object(fields),
            Err(other) => panic!("{raw}: unexpected error {other:?}"),
            Ok(_) => panic!("{raw}: compiled without error"),
        }
    }

    #[test]
    fn text_lookups_match() {
        let cases: &[(&str, &[i64])] = &[
            ("name=admin", &[2]),
            ("name=ADMIN", &[]),
            ("name=admin&name=enable", &[2, 4]),
            ("name__n=admin", &[1, 3, 4]),
            ("name__n=admin&name__n=enable", &[1, 3]),
            ("name__ie=ADMIN", &[1, 2]),
            ("name__nie=ADMIN", &[3, 4]),
            ("name__ic=MIN", &[1, 2]),
            ("name__nic=min", &[3, 4]),
            ("name__isw=sn", &[3]),
            ("name__nisw=sn", &[1, 2, 4]),
            ("name__iew=ABLE", &[4]),
            ("name__niew=able", &[1, 2, 3]),
            ("name__regex=^[a-z]", &[2, 4]),
            ("name__regex=^A&name__regex=^e", &[1, 4]),
            ("name__iregex=^a", &[1, 2]),
            ("note__empty=true", &[2, 3]),
            ("note__empty=false", &[1, 4]),
            ("note__ic=login", &[1]),
            ("note__nic=login", &[2, 3, 4]),
            ("note=", &[1, 2, 3, 4]),
        ];
        for (raw, expected) in cases {
            assert_eq!(matching(raw), *expected, "query {raw}");
        }
    }

    #[test]
    fn integer_lookups_match() {
        let cases: &[(&str, &[i64])] = &[
            ("id=3", &[3]),
            ("id=1&id=3", &[1, 3]),
            ("id__n=1&id__n=3", &[2, 4]),
            ("size__lt=20", &[1]),
            ("size__lte=20", &[1, 2]),
            ("size__gt=20", &[4]),
            ("size__gte=20", &[2, 4]),
            ("size__n=20", &[1, 3, 4]),
            ("size__empty=true", &[3]),
            ("size__empty=0", &[1, 2, 4]),
            ("size__lt=15&size__gt=25", &[]),
            ("size__gt=25&size__gt=15", &[2, 4]),
        ];
        for (raw, expected) in cases {
            assert_eq!(matching(raw), *expected, "query {raw}");
        }
    }

    #[test]
    fn timestamp_lookups_match() {
        let cases: &[(&str, &[i64])] = &[
            ("created=2026-01-01", &[1]),
            ("created=2026-01-02T12:30:00.25Z", &[2]),
            ("created=2026-01-02T14:30:00.25%2B02:00", &[2]),
            ("created=2026-01-02 12:30:00.250", &[2]),
            ("created__n=2026-01-01", &[2, 3, 4]),
            ("created__gte=2026-01-02", &[2, 3]),
            ("created__gt=2026-01-02T12:30:00.25Z", &[3]),
            ("created__lt=2026-01-02T12:30", &[1]),
            ("created__lte=2026-01-02T12:30:00.25", &[1, 2]),
            ("created__empty=true", &[4]),
        ];
        for (raw, expected) in cases {
            assert_eq!(matching(raw), *expected, "query {raw}");
        }
    }

    #[test]
    fn different_parameters_are_anded() {
        assert_eq!(matching("name__ic=admin&size__gt=10"), [2]);
        assert_eq!(matching("name__ic=admin&id__n=2&note__empty=false"), [1]);
    }

    #[test]
    fn list_and_custom_parameters_are_allowed() {
        let raw =
            "limit=1&offset=2&brief=1&fields=id&omit=name&ordering=-id&format=json&q=x&start=1";
        assert_eq!(matching(raw), [1, 2, 3, 4]);
    }

    #[test]
    fn unknown_parameters_are_rejected() {
        for raw in [
            "nmae=admin",
            "name__foo=x",
            "name__lt=a",
            "id__ic=1",
            "name__exact=x",
            "q__n=x",
        ] {
            let parameter = raw.split('=').next().unwrap();
            assert_eq!(
                error_of(raw),
                json!({ parameter: [UNKNOWN_PARAMETER] }),
                "query {raw}"
            );
        }
    }

    #[test]
    fn invalid_values_are_rejected() {
        let cases = [
            ("id=abc", "id", "abc"),
            ("id=1&id=x", "id", "x"),
            ("size__gt=1.5", "size__gt", "1.5"),
            ("name__regex=(", "name__regex", "("),
            ("created=yesterday", "created", "yesterday"),
            ("created=2026-13-01", "created", "2026-13-01"),
            ("note__empty=maybe", "note__empty", "maybe"),
        ];
        for (raw, parameter, value) in cases {
            let message = format!("\u{201c}{value}\u{201d} is not a valid value.");
            assert_eq!(
                error_of(raw),
                json!({ parameter: [message] }),
                "query {raw}"
            );
        }
    }

    #[test]
    fn every_bad_parameter_is_reported() {
        let errors = error_of("id=x&bogus=1&name=ok");
        assert_eq!(errors.as_object().map(Map::len), Some(2));
        assert!(errors.get("id").is_some());
        assert!(errors.get("bogus").is_some());
    }

    fn ordered(ordering: Option<&str>) -> Vec<i64> {
        let mut list = items();
        let keys: &[(&str, SortKeyFn<Item>)] = &[
            ("id", |item| SortKey::Integer(item.id)),
            ("name", |item| SortKey::Text(item.name.clone())),
            ("size", |item| {
                item.size.map_or(SortKey::Null, SortKey::Integer)
            }),
        ];
        order_by(&mut list, ordering, keys);
        list.iter().map(|item| item.id).collect()
    }

    #[test]
    fn ordering_sorts_by_columns() {
        let cases: &[(Option<&str>, &[i64])] = &[
            (None, &[1, 2, 3, 4]),
            (Some(""), &[1, 2, 3, 4]),
            (Some("-id"), &[4, 3, 2, 1]),
            (Some("name"), &[1, 2, 4, 3]),
            (Some("size"), &[1, 2, 4, 3]),
            (Some("-size"), &[3, 4, 2, 1]),
            (Some("bogus"), &[1, 2, 3, 4]),
            (Some("bogus,-id"), &[4, 3, 2, 1]),
            (Some(" -name , id"), &[3, 4, 2, 1]),
            (Some("-size,name"), &[3, 4, 2, 1]),
        ];
        for (ordering, expected) in cases {
            assert_eq!(ordered(*ordering), *expected, "ordering {ordering:?}");
        }
    }

    #[test]
    fn ordering_is_stable() {
        let mut list = vec![(1, "b"), (2, "a"), (3, "b"), (4, "a")];
        let keys: &[(&str, SortKeyFn<(i64, &str)>)] =
            &[("name", |item| SortKey::Text(item.1.to_string()))];
        order_by(&mut list, Some("name"), keys);
        let ids: Vec<i64> = list.iter().map(|item| item.0).collect();
        assert_eq!(ids, [2, 4, 1, 3]);
    }

    #[test]
    fn moments_parse_in_iso_forms() {
        let utc = parse_moment("2026-07-23T15:47:00Z").unwrap();
        assert_eq!(parse_moment("2026-07-23T17:47:00+02:00"), Some(utc));
        assert_eq!(parse_moment("2026-07-23T15:47"), Some(utc));
        assert_eq!(parse_moment("2026-07-23 15:47:00.000000"), Some(utc));
        assert_eq!(parse_moment("2026-07-23T12:47:00-0300"), Some(utc));
        assert!(parse_moment("2026-07-23T25:00").is_none());
        assert!(parse_moment("23/07/2026").is_none());
    }
}
