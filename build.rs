//! Names the one build setting the source needs to see: whether the crate is built for
//! ThreadSanitizer (`.ci/tsan`). `cfg(sanitize = "thread")` itself is unstable, so the build
//! script reads the target's `sanitize` setting and sets `minirt_tsan`, as crossbeam does.
//! `src/memory/shared_block.rs` uses it to make an edge TSan can see.

fn main() {
    println!("cargo:rustc-check-cfg=cfg(minirt_tsan)");
    println!("cargo:rerun-if-changed=build.rs");
    let sanitize = std::env::var("CARGO_CFG_SANITIZE").unwrap_or_default();
    if sanitize.split(',').any(|s| s == "thread") {
        println!("cargo:rustc-cfg=minirt_tsan");
    }
}
