//! Links berth-shim as non-PIE, as berth-runtime does (see its build.rs): one shim runs per
//! container for the container's whole life, and the dynamic loader's relocation of a PIE's
//! internal pointers would dirty hundreds of KiB of private pages in every one of them.
fn main() {
    println!("cargo:rustc-link-arg-bin=berth-shim=-no-pie");
    println!("cargo:rerun-if-changed=build.rs");
}
