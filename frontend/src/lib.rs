//! The browser entry point: cargo-leptos builds this crate to WASM and the page calls `hydrate()`.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
