//! Alerts on the desktop: one notification per alert transition the engine says to tell (firing,
//! resolved), sent from Rust so it works with the window hidden in the tray; a click brings the
//! window up on that sensor; the tray's tooltip follows each transition at once (`background`
//! also refreshes it every few seconds).

use std::sync::atomic::{AtomicI32, Ordering};

use clima_core::alert::AlertView;
use clima_core::Api;
use clima_model::alert::State;
use clima_model::Millis;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tauri_plugin_notification::NotificationExt;
use tokio::sync::broadcast::error::RecvError;

use crate::shell::Shell;

/// The event that asks the page to show one sensor (a notification was clicked); its payload is
/// the sensor id.
pub const FOCUS_EVENT: &str = "focus-sensor";

/// What a desktop notification says.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub title: String,
    pub body: String,
}

/// The notification for a transition, or `None` when it is not one to tell (pending, a
/// backlog's past change). `offset_s` is the local time's offset from UTC at `since`.
pub fn message(a: &AlertView, offset_s: i32) -> Option<Message> {
    if a.notified != Some(true) {
        return None;
    }
    // Sensor-supplied text: the notification server shows it as text (no markup is sent).
    let room = plain(a.name.as_deref().unwrap_or(&a.sensor));
    let rule = plain(&a.rule);
    match a.state {
        State::Firing => Some(Message {
            title: format!("{room}: {rule}"),
            body: format!("{} (since {})", plain(&a.reason), clock(a.since, offset_s)),
        }),
        State::Ok => Some(Message {
            title: format!("Resolved: {room}: {rule}"),
            body: format!(
                "{} (at {})",
                plain(&a.reason),
                clock(a.at.unwrap_or(a.since), offset_s)
            ),
        }),
        State::Pending => None,
    }
}

/// `HH:MM` of `t` (unix ms) at `offset_s` from UTC.
fn clock(t: Millis, offset_s: i32) -> String {
    let minutes = (t.div_euclid(1000) + offset_s as i64).div_euclid(60);
    let of_day = minutes.rem_euclid(24 * 60);
    format!("{:02}:{:02}", of_day / 60, of_day % 60)
}

/// One line of plain text: control characters (a sensor-supplied newline) become spaces, and
/// `<`, `&` are escaped because some notification servers read the body as markup.
fn plain(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
}

/// The local time's offset from UTC at `t` (unix ms), from the system's time zone on every
/// platform; 0 for a time outside what it can represent.
fn local_offset_s(t: Millis) -> i32 {
    use chrono::{Local, Offset, TimeZone};
    Local
        .timestamp_millis_opt(t)
        .single()
        .map_or(0, |at| at.offset().fix().local_minus_utc())
}

/// Notification ids, so each transition is its own notification.
static NEXT_ID: AtomicI32 = AtomicI32::new(1);

/// Starts telling alert transitions on the desktop and keeping the tray's tooltip current;
/// ends with the engine's runtime.
pub fn setup<R: Runtime>(app: &AppHandle<R>) {
    let Ok((api, runtime)) = app
        .state::<Shell>()
        .with(|r| Ok((r.engine.api().clone(), r.engine.runtime())))
    else {
        return;
    };
    // A click on a notification (`tap`) opens the window on its sensor. Registered before the
    // first notification: only those shown while a handler exists report clicks.
    let handle = app.clone();
    let registered = app.notification().on_action(move |performed| {
        if performed.action_id() != "tap" {
            return;
        }
        crate::show_window(&handle);
        let sensor = performed
            .notification()
            .and_then(|n| n.extra().get("sensor"))
            .and_then(|s| s.as_str());
        if let Some(sensor) = sensor {
            if let Err(e) = handle.emit(FOCUS_EVENT, sensor) {
                tracing::debug!(error = %e, "could not ask the page to show the sensor");
            }
        }
    });
    if let Err(e) = registered {
        tracing::warn!(error = %e, "notification clicks will not open the window");
    }
    set_tooltip(app, &api);
    let mut alerts = api.alert_events();
    let app = app.clone();
    runtime.spawn(async move {
        loop {
            match alerts.recv().await {
                Ok(a) => {
                    show(&app, &a);
                    set_tooltip(&app, &api);
                }
                // Missed transitions are in the alert list; the tooltip catches up now.
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "alert notifications were skipped");
                    set_tooltip(&app, &api);
                }
                Err(RecvError::Closed) => break,
            }
        }
    });
}

fn show<R: Runtime>(app: &AppHandle<R>, a: &AlertView) {
    let Some(m) = message(a, local_offset_s(a.since)) else {
        return;
    };
    let shown = app
        .notification()
        .builder()
        .id(NEXT_ID.fetch_add(1, Ordering::Relaxed))
        .title(m.title)
        .body(m.body)
        .extra("sensor", &a.sensor)
        .show();
    if let Err(e) = shown {
        tracing::warn!(error = %e, rule = a.rule_id, sensor = %a.sensor, "could not show the alert's notification");
    }
}

fn set_tooltip<R: Runtime>(app: &AppHandle<R>, api: &Api) {
    if let Some(tray) = app.tray_by_id("clima") {
        if let Err(e) = tray.set_tooltip(Some(clima_core::background::tooltip(api.firing_alerts())))
        {
            tracing::debug!(error = %e, "could not update the tray's tooltip");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(state: State, notified: Option<bool>) -> AlertView {
        AlertView {
            rule_id: 3,
            rule: "Mould risk".into(),
            sensor: "bath".into(),
            name: Some("Bath\nroom <b>".into()),
            metric: "humidity".into(),
            state,
            // 2026-12-01T14:03:30Z
            since: 1_796_133_810_000,
            at: Some(1_796_134_020_000),
            value: Some(74.2),
            reason: "humidity above 70 % for 6h: 74.2 %".into(),
            notified,
        }
    }

    fn check(a: AlertView, offset_s: i32, expected: Option<(&str, &str)>) {
        let got = message(&a, offset_s);
        let want = expected.map(|(title, body)| Message {
            title: title.into(),
            body: body.into(),
        });
        assert_eq!(got, want);
    }

    #[test]
    fn one_message_per_told_transition_naming_room_value_and_time() {
        check(
            alert(State::Firing, Some(true)),
            0,
            Some((
                "Bath room &lt;b>: Mould risk",
                "humidity above 70 % for 6h: 74.2 % (since 14:03)",
            )),
        );
        // Tokyo, and a zone west of UTC across midnight.
        check(
            alert(State::Firing, Some(true)),
            9 * 3600,
            Some((
                "Bath room &lt;b>: Mould risk",
                "humidity above 70 % for 6h: 74.2 % (since 23:03)",
            )),
        );
        check(
            alert(State::Ok, Some(true)),
            -15 * 3600,
            Some((
                "Resolved: Bath room &lt;b>: Mould risk",
                "humidity above 70 % for 6h: 74.2 % (at 23:07)",
            )),
        );
        check(alert(State::Pending, Some(true)), 0, None);
        // A backlog's change is recorded, not told.
        check(alert(State::Firing, Some(false)), 0, None);
        check(alert(State::Firing, None), 0, None);
    }
}
