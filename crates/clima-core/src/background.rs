//! What a desktop front door does while its window is closed: whether closing keeps Clima
//! running, and the sensors' activity at a glance for a tray menu. Pure; kept by [`crate::Api`].

use clima_model::{Millis, MINUTE, SECOND};

/// Settings key of [`BackgroundSettings`] (JSON) in the settings table.
pub const SETTINGS_KEY: &str = "desktop_background";

/// A sensor counts as live when its newest reading is at most this old.
pub const LIVE_WITHIN: Millis = 10 * MINUTE;

/// What the user chose about running in the background.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct BackgroundSettings {
    /// Keep collecting in the tray when the window is closed; `None` until the user chooses,
    /// which means yes wherever a tray is available.
    #[serde(default)]
    pub keep_in_tray: Option<bool>,
    /// Whether the user was told, at a close, that Clima goes on in the tray.
    #[serde(default)]
    pub told_about_tray: bool,
}

/// What closing the window does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseAction {
    /// Stop the engine and exit.
    Quit,
    /// Hide the window and go on collecting; `tell` says it to the user (the first time).
    Hide { tell: bool },
}

impl BackgroundSettings {
    /// Whether closing keeps Clima running: never without a tray to come back through.
    pub fn keeps_in_tray(&self, tray_available: bool) -> bool {
        tray_available && self.keep_in_tray.unwrap_or(true)
    }

    /// What a close of the window does now.
    pub fn on_close(&self, tray_available: bool) -> CloseAction {
        if self.keeps_in_tray(tray_available) {
            CloseAction::Hide {
                tell: !self.told_about_tray,
            }
        } else {
            CloseAction::Quit
        }
    }
}

/// How many sensors sent lately, and how old the newest reading is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activity {
    pub live: usize,
    /// `None` before the first reading.
    pub newest_age: Option<Millis>,
}

impl Activity {
    /// From each sensor's last reading time.
    pub fn of(last_seen: impl IntoIterator<Item = Millis>, now: Millis) -> Activity {
        let mut live = 0;
        let mut newest = None::<Millis>;
        for seen in last_seen {
            if now - seen <= LIVE_WITHIN {
                live += 1;
            }
            newest = Some(newest.map_or(seen, |n| n.max(seen)));
        }
        Activity {
            live,
            newest_age: newest.map(|n| (now - n).max(0)),
        }
    }

    /// The tray menu's two lines: "2 sensors live" and "Newest reading 5 s ago".
    pub fn lines(&self) -> (String, String) {
        let live = match self.live {
            1 => "1 sensor live".to_owned(),
            n => format!("{n} sensors live"),
        };
        let newest = match self.newest_age {
            None => "No readings yet".to_owned(),
            Some(age) => format!("Newest reading {} ago", age_text(age)),
        };
        (live, newest)
    }
}

/// The tray icon's tooltip: "Clima", and how many alerts fire when any do.
pub fn tooltip(firing: usize) -> String {
    match firing {
        0 => "Clima".to_owned(),
        1 => "Clima: 1 alert firing".to_owned(),
        n => format!("Clima: {n} alerts firing"),
    }
}

/// An age in the largest whole unit: "0 s", "59 s", "3 min", "5 h", "2 d".
fn age_text(age: Millis) -> String {
    const HOUR: Millis = 60 * MINUTE;
    const DAY: Millis = 24 * HOUR;
    match age {
        a if a < MINUTE => format!("{} s", a / SECOND),
        a if a < HOUR => format!("{} min", a / MINUTE),
        a if a < DAY => format!("{} h", a / HOUR),
        a => format!("{} d", a / DAY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tooltip_counts_firing_alerts() {
        assert_eq!(tooltip(0), "Clima");
        assert_eq!(tooltip(1), "Clima: 1 alert firing");
        assert_eq!(tooltip(3), "Clima: 3 alerts firing");
    }

    #[test]
    fn closing_hides_only_with_a_tray_and_says_so_once() {
        let fresh = BackgroundSettings::default();
        assert_eq!(fresh.on_close(true), CloseAction::Hide { tell: true });
        assert_eq!(fresh.on_close(false), CloseAction::Quit);
        let told = BackgroundSettings {
            told_about_tray: true,
            ..fresh
        };
        assert_eq!(told.on_close(true), CloseAction::Hide { tell: false });
        let off = BackgroundSettings {
            keep_in_tray: Some(false),
            ..fresh
        };
        assert_eq!(off.on_close(true), CloseAction::Quit);
        let on = BackgroundSettings {
            keep_in_tray: Some(true),
            ..fresh
        };
        assert_eq!(on.on_close(false), CloseAction::Quit);
        assert!(!on.keeps_in_tray(false) && on.keeps_in_tray(true));
    }

    #[test]
    fn settings_read_back_from_older_or_partial_json() {
        let s: BackgroundSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(s, BackgroundSettings::default());
        let s: BackgroundSettings = serde_json::from_str(r#"{"keep_in_tray":false}"#).unwrap();
        assert_eq!(s.keep_in_tray, Some(false));
    }

    #[test]
    fn activity_counts_live_sensors_and_the_newest_age() {
        let now = 1_000 * MINUTE;
        let check = |seen: &[Millis], live: &str, newest: &str| {
            let lines = Activity::of(seen.iter().copied(), now).lines();
            assert_eq!(
                (lines.0.as_str(), lines.1.as_str()),
                (live, newest),
                "{seen:?}"
            );
        };
        check(&[], "0 sensors live", "No readings yet");
        check(
            &[now - 5 * SECOND],
            "1 sensor live",
            "Newest reading 5 s ago",
        );
        check(
            &[now - LIVE_WITHIN, now - LIVE_WITHIN - 1, now - 90 * SECOND],
            "2 sensors live",
            "Newest reading 1 min ago",
        );
        check(
            &[now - 3 * 60 * MINUTE],
            "0 sensors live",
            "Newest reading 3 h ago",
        );
        check(
            &[now - 50 * 60 * MINUTE],
            "0 sensors live",
            "Newest reading 2 d ago",
        );
        // A device clock ahead of ours is "0 s", not negative.
        check(
            &[now + 5 * SECOND],
            "1 sensor live",
            "Newest reading 0 s ago",
        );
    }
}
