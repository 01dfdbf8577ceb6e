use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType};

use crate::Error;
use crate::devices::{ACC_ALL, ACC_MKNOD, ACC_READ, ACC_WRITE, DevKind, DevicePolicy};
use crate::devices_bpf::{self, Insn};

fn rule(
    allow: bool,
    t: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .typ(t)
        .access(access);
    if let Some(m) = major {
        b = b.major(m);
    }
    if let Some(m) = minor {
        b = b.minor(m);
    }
    b.build().unwrap()
}

/// Docker's default device rules (deny all, then the usual character devices).
fn docker_default() -> Vec<LinuxDeviceCgroup> {
    use LinuxDeviceType::*;
    vec![
        rule(false, A, None, None, "rwm"),
        rule(true, C, None, None, "m"),
        rule(true, B, None, None, "m"),
        rule(true, C, Some(1), Some(3), "rwm"),
        rule(true, C, Some(1), Some(5), "rwm"),
        rule(true, C, Some(1), Some(7), "rwm"),
        rule(true, C, Some(1), Some(8), "rwm"),
        rule(true, C, Some(1), Some(9), "rwm"),
        rule(true, C, Some(5), Some(0), "rwm"),
        rule(true, C, Some(5), Some(1), "rwm"),
        rule(true, C, Some(136), None, "rwm"),
        rule(true, C, Some(5), Some(2), "rwm"),
        rule(true, C, Some(10), Some(200), "rwm"),
    ]
}

/// A tiny interpreter for the instructions our assembler emits, so the program's
/// decisions can be checked against the policy model without loading it into a kernel.
fn run(prog: &[Insn], kind: DevKind, major: u32, minor: u32, access: u8) -> u64 {
    use devices_bpf::*;
    let typ: u32 = match kind {
        DevKind::Block => 1,
        DevKind::Char => 2,
        DevKind::All => unreachable!(),
    };
    let ctx = [(u32::from(access) << 16) | typ, major, minor];
    let mut r = [0u64; 11];
    let mut pc = 0usize;
    for _ in 0..10_000 {
        let i = prog[pc];
        let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
        pc += 1;
        match i.code {
            LDX_MEM_W => {
                assert_eq!(src, 1, "loads only from the context");
                r[dst] = u64::from(ctx[i.off as usize / 4]);
            }
            ALU32_AND_K => r[dst] = u64::from(r[dst] as u32 & i.imm as u32),
            ALU32_RSH_K => r[dst] = u64::from((r[dst] as u32) >> i.imm),
            ALU32_MOV_X => r[dst] = u64::from(r[src] as u32),
            ALU32_MOV_K => r[dst] = u64::from(i.imm as u32),
            JMP_JNE_K => {
                if r[dst] != i.imm as i64 as u64 {
                    pc = (pc as i64 + i64::from(i.off)) as usize;
                }
            }
            JMP_JEQ_K => {
                if r[dst] == i.imm as i64 as u64 {
                    pc = (pc as i64 + i64::from(i.off)) as usize;
                }
            }
            JMP_EXIT => return r[0],
            c => panic!("unexpected opcode {c:#x}"),
        }
    }
    panic!("program did not terminate")
}

/// Checks program == model over a grid of devices and every access combination.
fn assert_program_matches_model(p: &DevicePolicy) {
    let prog = devices_bpf::assemble(p);
    for kind in [DevKind::Char, DevKind::Block] {
        for (major, minor) in [
            (1, 3),
            (1, 5),
            (1, 9),
            (5, 0),
            (136, 4),
            (8, 0),
            (10, 200),
            (4095, 1048575),
        ] {
            for access in 1..=ACC_ALL {
                let want = p.allows(kind, major, minor, access);
                let got = run(&prog, kind, major, minor, access);
                assert_eq!(
                    got,
                    u64::from(want),
                    "{kind:?} {major}:{minor} access {access} policy {p:?}"
                );
            }
        }
    }
}

#[test]
fn docker_default_rules_allow_only_the_listed_devices() {
    let p = DevicePolicy::from_oci(&docker_default()).unwrap();
    assert!(!p.default_allow);
    assert!(p.allows(DevKind::Char, 1, 3, ACC_READ | ACC_WRITE));
    assert!(p.allows(DevKind::Char, 136, 7, ACC_READ));
    assert!(!p.allows(DevKind::Char, 1, 4, ACC_READ));
    assert!(p.allows(DevKind::Char, 1, 4, ACC_MKNOD));
    assert!(p.allows(DevKind::Block, 8, 0, ACC_MKNOD));
    assert!(!p.allows(DevKind::Block, 8, 0, ACC_READ));
    assert!(!p.allows(DevKind::Block, 8, 0, ACC_READ | ACC_MKNOD));
    assert_program_matches_model(&p);
}

#[test]
fn privileged_allow_all_resets_to_default_allow() {
    let mut rules = docker_default();
    rules.push(rule(true, LinuxDeviceType::A, None, None, "rwm"));
    let p = DevicePolicy::from_oci(&rules).unwrap();
    assert!(p.default_allow);
    assert!(p.exceptions.is_empty());
    assert!(p.allows(DevKind::Block, 8, 0, ACC_ALL));
    assert_program_matches_model(&p);
    // The program is just "return 1".
    assert_eq!(devices_bpf::assemble(&p).len(), 8);
}

#[test]
fn deny_rules_narrow_an_allowed_device() {
    use LinuxDeviceType::*;
    let rules = vec![
        rule(false, A, None, None, "rwm"),
        rule(true, C, Some(1), Some(3), "rwm"),
        rule(false, C, Some(1), Some(3), "w"),
        rule(true, C, Some(1), Some(5), "r"),
        rule(true, C, Some(1), Some(5), "w"),
    ];
    let p = DevicePolicy::from_oci(&rules).unwrap();
    assert!(p.allows(DevKind::Char, 1, 3, ACC_READ | ACC_MKNOD));
    assert!(!p.allows(DevKind::Char, 1, 3, ACC_WRITE));
    // Same-device exceptions merge their access, as in the kernel.
    assert!(p.allows(DevKind::Char, 1, 5, ACC_READ | ACC_WRITE));
    assert_program_matches_model(&p);
}

#[test]
fn deny_list_on_top_of_allow_all() {
    use LinuxDeviceType::*;
    let rules = vec![
        rule(true, A, None, None, "rwm"),
        rule(false, B, Some(8), None, "rw"),
        rule(false, A, Some(1), Some(9), "m"),
        rule(true, B, Some(8), None, "r"),
    ];
    let p = DevicePolicy::from_oci(&rules).unwrap();
    assert!(p.default_allow);
    assert!(p.allows(DevKind::Block, 8, 1, ACC_READ));
    assert!(!p.allows(DevKind::Block, 8, 1, ACC_WRITE));
    assert!(!p.allows(DevKind::Char, 1, 9, ACC_MKNOD | ACC_READ));
    assert!(!p.allows(DevKind::Block, 1, 9, ACC_MKNOD));
    assert!(p.allows(DevKind::Char, 1, 9, ACC_READ));
    assert_program_matches_model(&p);
    assert_eq!(p.v1_lines(), ["b 8:* w", "c 1:9 m", "b 1:9 m"]);
}

#[test]
fn v1_lines_expand_type_all_and_wildcards() {
    use LinuxDeviceType::*;
    let rules = vec![
        rule(false, A, None, None, "rwm"),
        rule(true, C, Some(1), Some(3), "rwm"),
        rule(true, A, Some(5), None, "r"),
        rule(true, U, Some(4), Some(1), "wm"),
    ];
    let p = DevicePolicy::from_oci(&rules).unwrap();
    assert_eq!(
        p.v1_lines(),
        ["c 1:3 rwm", "c 5:* r", "b 5:* r", "c 4:1 wm"]
    );
    assert_program_matches_model(&p);
}

#[test]
fn fifo_rules_are_ignored_and_empty_access_means_everything() {
    use LinuxDeviceType::*;
    let p = DevicePolicy::from_oci(&[
        rule(false, A, None, None, "rwm"),
        rule(true, P, Some(1), Some(1), "rwm"),
        rule(true, C, Some(1), Some(3), ""),
    ])
    .unwrap();
    assert_eq!(p.exceptions.len(), 1);
    assert_eq!(p.exceptions[0].access, ACC_ALL);
}

#[test]
fn bad_device_rules_are_refused() {
    use LinuxDeviceType::*;
    for bad in [
        rule(true, C, Some(1), Some(3), "rwx"),
        rule(true, C, Some(4096), Some(3), "r"),
        rule(true, C, Some(1), Some(1 << 20), "r"),
        rule(true, C, Some(-2), None, "r"),
    ] {
        assert!(matches!(
            DevicePolicy::from_oci(&[bad]),
            Err(Error::InvalidResource { .. })
        ));
    }
}

#[test]
fn empty_rule_list_denies_everything() {
    let p = DevicePolicy::from_oci(&[]).unwrap();
    assert!(!p.allows(DevKind::Char, 1, 3, ACC_READ));
    assert_program_matches_model(&p);
}
