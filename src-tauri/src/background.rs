//! Running in the background: the tray icon and its menu, closing the window to it, and
//! starting at log-in. What to do is `clima_core::background`'s; this is the Tauri side.

use std::time::Duration;

use clima_core::background::CloseAction;
use clima_core::{now_ms, Api};
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Runtime, Window, WindowEvent};
use tauri_plugin_autostart::ManagerExt;

use crate::error::CommandError;
use crate::shell::Shell;

/// How often the tray menu's summary is brought up to date: cheap, and not per reading.
const TRAY_REFRESH: Duration = Duration::from_secs(5);

/// Whether this session has a tray, found once at start.
pub struct Tray {
    pub available: bool,
}

/// What Settings shows and changes.
#[derive(Debug, serde::Serialize)]
pub struct BackgroundView {
    pub tray_available: bool,
    /// Whether closing the window keeps Clima running (never without a tray).
    pub keep_in_tray: bool,
    /// Whether Clima starts when the user logs in.
    pub autostart: bool,
}

/// Adds the tray icon when the session has a tray, and keeps its summary current.
pub fn setup<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let available = tray_host::available();
    app.manage(Tray { available });
    if !available {
        tracing::info!("no system tray in this session: closing the window quits Clima");
        return Ok(());
    }
    let live = MenuItem::with_id(app, "live", "…", false, None::<&str>)?;
    let newest = MenuItem::with_id(app, "newest", "…", false, None::<&str>)?;
    let menu = Menu::with_items(
        app,
        &[
            &live,
            &newest,
            &PredefinedMenuItem::separator(app)?,
            &MenuItem::with_id(app, "open", "Open Clima", true, None::<&str>)?,
            &MenuItem::with_id(app, "quit", "Quit Clima", true, None::<&str>)?,
        ],
    )?;
    let mut tray = TrayIconBuilder::with_id("clima")
        .tooltip("Clima")
        .menu(&menu)
        .on_menu_event(|app, event| match event.id.as_ref() {
            "open" => crate::show_window(app),
            // Exits through RunEvent::Exit, which stops the engine after its last commit.
            "quit" => app.exit(0),
            _ => {}
        });
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    let tray = tray.build(app)?;
    let shell = app.state::<Shell>();
    if let Ok((api, runtime)) = shell.with(|r| Ok((r.engine.api().clone(), r.engine.runtime()))) {
        // Ends with the engine's runtime.
        let api_for_alerts = api.clone();
        runtime.spawn(async move {
            let mut every = tokio::time::interval(TRAY_REFRESH);
            loop {
                every.tick().await;
                let api = api.clone();
                let Ok(Ok(activity)) =
                    tokio::task::spawn_blocking(move || api.activity(now_ms())).await
                else {
                    continue;
                };
                let (live_text, newest_text) = activity.lines();
                let _ = live.set_text(live_text);
                let _ = newest.set_text(newest_text);
                let _ = tray.set_tooltip(Some(clima_core::background::tooltip(
                    api_for_alerts.firing_alerts(),
                )));
            }
        });
    }
    Ok(())
}

/// Closing the main window: hides it and goes on collecting when the user keeps Clima in the
/// tray (saying so the first time), else lets it close, which quits.
pub fn on_window_event<R: Runtime>(window: &Window<R>, event: &WindowEvent) {
    let WindowEvent::CloseRequested { api: close, .. } = event else {
        return;
    };
    let app = window.app_handle();
    let available = app.try_state::<Tray>().is_some_and(|t| t.available);
    let Ok(engine) = app.state::<Shell>().api() else {
        return;
    };
    let settings = engine.background_settings().unwrap_or_default();
    if let CloseAction::Hide { tell } = settings.on_close(available) {
        close.prevent_close();
        if let Err(e) = window.hide() {
            tracing::warn!(error = %e, "could not hide the window");
        }
        if tell {
            tell_once(&engine, settings);
        }
    }
}

/// The one-time message that Clima goes on in the tray.
fn tell_once(engine: &Api, mut settings: clima_core::background::BackgroundSettings) {
    settings.told_about_tray = true;
    if let Err(e) = engine.set_background_settings(&settings) {
        tracing::warn!(error = %e, "could not note that the tray message was shown");
    }
    let shown = rfd::AsyncMessageDialog::new()
        .set_level(rfd::MessageLevel::Info)
        .set_title("Clima keeps running")
        .set_description("Clima goes on collecting readings in the background. Open it again from its tray icon; choose Quit Clima there to stop it. Settings → Background changes this.")
        .show();
    std::thread::spawn(move || tauri::async_runtime::block_on(shown));
}

pub fn view<R: Runtime>(app: &AppHandle<R>, engine: &Api) -> Result<BackgroundView, CommandError> {
    let available = app.state::<Tray>().available;
    let settings = engine.background_settings()?;
    Ok(BackgroundView {
        tray_available: available,
        keep_in_tray: settings.keeps_in_tray(available),
        autostart: app.autolaunch().is_enabled().unwrap_or(false),
    })
}

/// Applies what the user changed in Settings and answers the new state.
pub fn change<R: Runtime>(
    app: &AppHandle<R>,
    engine: &Api,
    keep_in_tray: Option<bool>,
    autostart: Option<bool>,
) -> Result<BackgroundView, CommandError> {
    if let Some(keep) = keep_in_tray {
        let mut settings = engine.background_settings()?;
        settings.keep_in_tray = Some(keep);
        engine.set_background_settings(&settings)?;
    }
    if let Some(on) = autostart {
        let launcher = app.autolaunch();
        let done = if on {
            launcher.enable()
        } else {
            launcher.disable()
        };
        done.map_err(|e| {
            CommandError::new(
                "io",
                format!("could not change starting at log-in ({e}): check that your autostart folder is writable"),
            )
        })?;
    }
    view(app, engine)
}

/// Whether the session shows tray icons. On Linux a tray needs a StatusNotifier host on the
/// session bus (the desktop's panel) and the AppIndicator library Tauri draws it with;
/// elsewhere (the macOS menu bar, the Windows notification area) there always is one.
mod tray_host {
    #[cfg(target_os = "linux")]
    pub fn available() -> bool {
        status_notifier_host() && indicator_library()
    }

    #[cfg(not(target_os = "linux"))]
    pub fn available() -> bool {
        true
    }

    /// A panel that shows tray icons owns this name on the session bus.
    #[cfg(target_os = "linux")]
    fn status_notifier_host() -> bool {
        let Ok(bus) = zbus::blocking::Connection::session() else {
            return false;
        };
        let Ok(dbus) = zbus::blocking::fdo::DBusProxy::new(&bus) else {
            return false;
        };
        zbus::names::BusName::try_from("org.kde.StatusNotifierWatcher")
            .ok()
            .and_then(|name| dbus.name_has_owner(name).ok())
            .unwrap_or(false)
    }

    /// The library Tauri's tray loads at run time (it aborts when none is installed).
    #[cfg(target_os = "linux")]
    fn indicator_library() -> bool {
        [
            c"libayatana-appindicator3.so.1",
            c"libappindicator3.so.1",
            c"libayatana-appindicator3.so",
            c"libappindicator3.so",
        ]
        .iter()
        .any(|name| {
            // SAFETY: a NUL-terminated name; a handle that loaded is closed again at once.
            unsafe {
                let handle = libc::dlopen(name.as_ptr(), libc::RTLD_LAZY);
                !handle.is_null() && libc::dlclose(handle) == 0
            }
        })
    }
}
