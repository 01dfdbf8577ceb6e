//! Builds berth-init (init/berth-init.rs) as a static executable: it runs inside images
//! that may have no C library (busybox, scratch), which cargo cannot do per binary. berthd
//! embeds the result and installs it under its exec root.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=init/berth-init.rs");
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let target = std::env::var("TARGET").expect("TARGET");
    let st = Command::new(rustc)
        .args([
            "--edition",
            "2024",
            "--crate-type",
            "bin",
            "--crate-name",
            "berth_init",
        ])
        .args([
            "-C",
            "opt-level=s",
            "-C",
            "panic=abort",
            "-C",
            "strip=symbols",
        ])
        .args(["-C", "target-feature=+crt-static", "--target", &target])
        .arg("-o")
        .arg(out.join("berth-init"))
        .arg("init/berth-init.rs")
        .status()
        .expect("run rustc for berth-init");
    assert!(st.success(), "building the static berth-init failed");
}
