//! Links the berth-runtime executable as non-PIE: the linker then resolves the ~14k internal
//! pointer relocations (vtables, string tables) at build time instead of the dynamic loader
//! at every start, which would dirty ~600 KiB of pages and cost ~0.3 ms per invocation —
//! and berth-runtime starts once per container. Objects stay position-independent; only the
//! executable's own load address becomes fixed (shared libraries keep ASLR). A static build
//! (`-C target-feature=+crt-static`) is static-pie already and keeps its own relocation.
fn main() {
    let features = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    if !features.split(',').any(|f| f == "crt-static") {
        println!("cargo:rustc-link-arg-bin=berth-runtime=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
