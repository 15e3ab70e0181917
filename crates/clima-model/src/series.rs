//! A line-protocol series' identity: its measurement and whole tag set, in one canonical form,
//! so that two different series never share a sensor and the same series always finds its own.

use std::collections::BTreeMap;

/// A measurement and its tags, as a line-protocol series names them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SeriesTags {
    measurement: String,
    /// Sorted by key; keys are unique.
    tags: BTreeMap<String, String>,
    #[serde(skip)]
    key: String,
}

impl SeriesTags {
    pub fn new(measurement: String, tags: BTreeMap<String, String>) -> SeriesTags {
        let mut key = escape(&measurement, &[',', ' ']);
        for (k, v) in &tags {
            key.push(',');
            key.push_str(&escape(k, &[',', ' ', '=']));
            key.push('=');
            key.push_str(&escape(v, &[',', ' ', '=']));
        }
        SeriesTags {
            measurement,
            tags,
            key,
        }
    }

    /// The series in canonical line-protocol form: tags sorted by key, and every comma, space
    /// and equals sign escaped as line protocol escapes them, so distinct series never meet.
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn measurement(&self) -> &str {
        &self.measurement
    }

    pub fn tags(&self) -> &BTreeMap<String, String> {
        &self.tags
    }

    /// A short, stable fingerprint of [`SeriesTags::key`] (FNV-1a, 32 bits as 8 hex digits),
    /// which tells apart series whose readable ids would be the same.
    pub fn fingerprint(&self) -> String {
        let mut h: u32 = 0x811c_9dc5;
        for b in self.key.bytes() {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        format!("{h:08x}")
    }
}

fn escape(s: &str, special: &[char]) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '\\' || special.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(m: &str, tags: &[(&str, &str)]) -> SeriesTags {
        SeriesTags::new(
            m.into(),
            tags.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn keys_are_canonical_and_one_to_one() {
        assert_eq!(
            series("climate", &[("room", "attic")]).key(),
            "climate,room=attic"
        );
        assert_eq!(
            series("climate", &[("room", "a"), ("host", "b")]).key(),
            series("climate", &[("host", "b"), ("room", "a")]).key()
        );
        // Series that only look alike stay apart: tag keys, escaped characters, where a dot sits.
        let distinct = [
            series("climate", &[("room", "attic")]),
            series("climate", &[("host", "attic")]),
            series("climate", &[("room", "a,b")]),
            series("climate", &[("room", "a"), ("b", "")]),
            series("climate", &[("room", "a b")]),
            series("climate", &[("room", "a_b")]),
            series("climate.x", &[]),
            series("climate", &[("x", "")]),
            series("clïmate", &[]),
            series("climate", &[("room", "a=b")]),
            series("climate", &[("room=a", "b")]),
        ];
        for (i, a) in distinct.iter().enumerate() {
            for b in &distinct[i + 1..] {
                assert_ne!(a.key(), b.key(), "{a:?} and {b:?}");
            }
        }
        assert_eq!(series("climate", &[]).fingerprint().len(), 8);
        assert_ne!(distinct[0].fingerprint(), distinct[1].fingerprint());
    }
}
