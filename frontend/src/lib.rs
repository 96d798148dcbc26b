//! The browser entry point: cargo-leptos builds this crate to WASM and the page calls `hydrate()`.

// The app's view types nest deeply (each keyed list and component adds a layer), and without
// cargo-leptos's type erasure, which the dev build leaves off, hydration's types outgrow the default.
#![recursion_limit = "256"]

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
