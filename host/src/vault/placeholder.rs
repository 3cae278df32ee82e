//! `${vault:NAME}` and `${vault:NAME.field}` in text a pack sends: found
//! here, resolved by the vault, substituted at the capability boundary so
//! the value never enters guest memory.

use regex::Regex;
use std::collections::BTreeMap;
use std::sync::LazyLock;

static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\$\{vault:([A-Za-z0-9_-]{1,64})(?:\.([A-Za-z0-9_-]{1,64}))?\}")
        .expect("the placeholder pattern is a constant that compiles")
});

/// One placeholder: a credential name and an optional field.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Placeholder {
    pub name: String,
    pub field: Option<String>,
}

/// Every distinct placeholder in `text`, in order of first appearance.
pub fn find(text: &str) -> Vec<Placeholder> {
    let mut found: Vec<Placeholder> = Vec::new();
    for c in PLACEHOLDER.captures_iter(text) {
        let p = Placeholder { name: c[1].to_owned(), field: c.get(2).map(|m| m.as_str().to_owned()) };
        if !found.contains(&p) {
            found.push(p);
        }
    }
    found
}

/// `text` with each placeholder replaced by its value in `values`
/// (placeholders without a value are left as written).
pub fn substitute(text: &str, values: &BTreeMap<Placeholder, String>) -> String {
    PLACEHOLDER
        .replace_all(text, |c: &regex::Captures<'_>| {
            let key = Placeholder { name: c[1].to_owned(), field: c.get(2).map(|m| m.as_str().to_owned()) };
            values.get(&key).cloned().unwrap_or_else(|| c[0].to_owned())
        })
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_once_each_and_substituted_everywhere() {
        let text = "Bearer ${vault:api} and ${vault:login.username}:${vault:api} ${vault:bad name}";
        let found = find(text);
        assert_eq!(
            found,
            vec![
                Placeholder { name: "api".into(), field: None },
                Placeholder { name: "login".into(), field: Some("username".into()) }
            ]
        );
        let values = BTreeMap::from([(found[0].clone(), "T".to_owned()), (found[1].clone(), "ada".to_owned())]);
        assert_eq!(substitute(text, &values), "Bearer T and ada:T ${vault:bad name}");
    }
}
