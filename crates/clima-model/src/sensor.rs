//! Sensor identifiers: validation of ids a device sends, and derivation of ids where it sends none.

use std::fmt;
use std::net::IpAddr;

/// Longest sensor id accepted, in bytes.
pub const MAX_SENSOR_ID: usize = 64;

/// A validated sensor id: 1 to 64 ASCII letters, digits, `.`, `_` or `-`.
///
/// The narrow alphabet keeps ids safe in URLs, file names and log lines; display text belongs in
/// the sensor's name instead.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct SensorId(String);

/// Why a string is not a sensor id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SensorIdError {
    /// The id was empty.
    #[error("sensor id is empty: send 1 to 64 letters, digits, '.', '_' or '-'")]
    Empty,
    /// The id was longer than [`MAX_SENSOR_ID`].
    #[error("sensor id is {0} characters long: at most 64 are allowed")]
    TooLong(usize),
    /// The id held a character outside the allowed set.
    #[error("sensor id contains {0:?}: only letters, digits, '.', '_' and '-' are allowed")]
    BadChar(char),
}

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

impl SensorId {
    /// Checks a device-supplied id.
    pub fn parse(s: &str) -> Result<Self, SensorIdError> {
        if s.is_empty() {
            return Err(SensorIdError::Empty);
        }
        if let Some(c) = s.chars().find(|c| !allowed(*c)) {
            return Err(SensorIdError::BadChar(c));
        }
        if s.len() > MAX_SENSOR_ID {
            return Err(SensorIdError::TooLong(s.chars().count()));
        }
        Ok(SensorId(s.to_owned()))
    }

    /// Builds an id from free text (tags, addresses, USB names): disallowed characters become
    /// `_`, and an over-long result is shortened with a hash suffix so distinct inputs stay
    /// distinct.
    pub fn sanitized(s: &str) -> Self {
        let mut id: String = s
            .chars()
            .map(|c| if allowed(c) { c } else { '_' })
            .collect();
        if id.is_empty() {
            id.push('_');
        }
        if id.len() > MAX_SENSOR_ID {
            let hash = fnv1a(s.as_bytes());
            id.truncate(MAX_SENSOR_ID - 9);
            id.push_str(&format!("-{:08x}", hash as u32));
        }
        SensorId(id)
    }

    /// The id used for a device that names itself nowhere: its network address.
    pub fn from_client(addr: IpAddr) -> Self {
        let text = match addr {
            IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string().replace('.', "-"),
                None => v6.to_string().replace(':', "-"),
            },
        };
        SensorId::sanitized(&format!("ip-{text}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SensorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A small stable hash for shortening ids; stability across releases matters, speed does not.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}

/// Most sensors one comparison shows: beyond eight, lines and legend entries stop being
/// told apart by colour.
pub const MAX_COMPARED: usize = 8;

/// Why a list of sensors to compare was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SensorListError {
    #[error("no sensor given: pass sensor=ID, or several as sensor=a,b,c")]
    Empty,
    #[error("{0} sensors given: a comparison shows at most 8, pass fewer")]
    TooMany(usize),
    #[error("{id:?} is not a sensor id: {problem}")]
    BadId { id: String, problem: SensorIdError },
}

/// The sensors of a comma-separated list (`a,b,c`), in order, each once: what a comparison
/// query names. At most [`MAX_COMPARED`].
pub fn sensor_list(text: &str) -> Result<Vec<SensorId>, SensorListError> {
    let mut out: Vec<SensorId> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let id = SensorId::parse(part).map_err(|problem| SensorListError::BadId {
            id: part.to_owned(),
            problem,
        })?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    match out.len() {
        0 => Err(SensorListError::Empty),
        n if n > MAX_COMPARED => Err(SensorListError::TooMany(n)),
        _ => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Result<&str, SensorIdError>) {
        assert_eq!(
            SensorId::parse(input).map(|s| s.0),
            expected.map(str::to_owned),
            "{input:?}"
        );
    }

    #[test]
    fn parse_table() {
        check("kitchen", Ok("kitchen"));
        check("shellyht-00EB85", Ok("shellyht-00EB85"));
        check("a.b_c-d", Ok("a.b_c-d"));
        check(&"x".repeat(64), Ok(&"x".repeat(64)));
        check(&"x".repeat(65), Err(SensorIdError::TooLong(65)));
        check("", Err(SensorIdError::Empty));
        check("has space", Err(SensorIdError::BadChar(' ')));
        check("<img>", Err(SensorIdError::BadChar('<')));
        check("küche", Err(SensorIdError::BadChar('ü')));
    }

    #[test]
    fn sanitized_keeps_ids_valid_and_distinct() {
        assert_eq!(
            SensorId::sanitized("climate room=attic").as_str(),
            "climate_room_attic"
        );
        let a = SensorId::sanitized(&"a".repeat(100));
        let b = SensorId::sanitized(&format!("{}b", "a".repeat(99)));
        assert_eq!(a.as_str().len(), 64);
        assert_ne!(a, b);
        assert!(SensorId::parse(a.as_str()).is_ok());
        assert_eq!(SensorId::sanitized("").as_str(), "_");
    }

    #[test]
    fn client_addresses() {
        assert_eq!(
            SensorId::from_client("192.168.1.5".parse().unwrap()).as_str(),
            "ip-192-168-1-5"
        );
        assert_eq!(
            SensorId::from_client("::1".parse().unwrap()).as_str(),
            "ip---1"
        );
        assert_eq!(
            SensorId::from_client("::ffff:10.0.0.7".parse().unwrap()).as_str(),
            "ip-10-0-0-7"
        );
    }

    #[test]
    fn sensor_lists() {
        let ids = |t: &str| sensor_list(t).map(|v| v.into_iter().map(|i| i.0).collect::<Vec<_>>());
        assert_eq!(ids("a"), Ok(vec!["a".to_owned()]));
        assert_eq!(
            ids("a, b,,a,c"),
            Ok(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(ids(" , "), Err(SensorListError::Empty));
        assert_eq!(ids("1,2,3,4,5,6,7,8").map(|v| v.len()), Ok(8));
        assert_eq!(ids("1,2,3,4,5,6,7,8,9"), Err(SensorListError::TooMany(9)));
        assert!(matches!(ids("a,b c"), Err(SensorListError::BadId { .. })));
        assert!(SensorListError::TooMany(9)
            .to_string()
            .contains("at most 8"));
    }
}
