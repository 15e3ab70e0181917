//! How the window's web view is set up beyond `tauri.conf.json`: on Linux, WebKitGTK paints the
//! page without GPU compositing.
//!
//! Measured under Xvfb with the soak's load (BENCHMARKS.md, "Desktop app: memory over half an
//! hour"): with compositing, WebKit's web process starts a GL context (Mesa's software
//! rasteriser where there is no GPU) and held about 270 MB; without it, about 60 MB, and it used
//! half the processor time. A page of cards and two charts redrawn every few seconds gains
//! nothing from the GPU. On macOS and Windows the system web view decides, and nothing is set.

use tauri::{Runtime, WebviewWindow};

/// Applies the settings to the window's web view (on Linux; elsewhere does nothing).
pub fn configure<R: Runtime>(window: &WebviewWindow<R>) {
    #[cfg(target_os = "linux")]
    if let Err(e) = window.with_webview(|platform| {
        use webkit2gtk::{HardwareAccelerationPolicy, SettingsExt, WebViewExt};
        if let Some(settings) = WebViewExt::settings(&platform.inner()) {
            settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
        }
    }) {
        tracing::warn!(error = %e, "the window keeps WebKit's default compositing");
    }
    #[cfg(not(target_os = "linux"))]
    let _ = window;
}
