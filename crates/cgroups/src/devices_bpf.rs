//! The cgroup v2 device allowlist: cgroup2 has no `devices` files, the kernel instead
//! asks a `BPF_PROG_TYPE_CGROUP_DEVICE` program attached to the cgroup. We assemble that
//! program by hand from a [`DevicePolicy`] (a few instructions per exception, no maps, no
//! helpers), load it with `bpf(2)` and attach it with `BPF_F_ALLOW_MULTI`, replacing the
//! program we attached earlier so that `update` does not stack programs.
//!
//! Program shape (`r1` = `struct bpf_cgroup_dev_ctx *`):
//! ```text
//!   r2 = ctx->access_type & 0xffff   ; BPF_DEVCG_DEV_BLOCK=1 / CHAR=2
//!   r3 = ctx->access_type >> 16      ; BPF_DEVCG_ACC_* bits
//!   r4 = ctx->major ; r5 = ctx->minor
//!   per exception:  if type/major/minor differ goto next
//!                   default deny:  if (r3 & ~access) != 0 goto next; return 1
//!                   default allow: if (r3 & access) == 0 goto next;  return 0
//!   return default
//! ```

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use crate::Error;
use crate::devices::{ACC_ALL, DevKind, DevicePolicy};

/// Name given to our programs, so a later apply can recognise (and replace) them.
pub const PROG_NAME: &str = "berth_devices";

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;
const BPF_F_REPLACE: u32 = 4;

const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// Opcode.
    pub code: u8,
    /// `dst_reg` in the low nibble, `src_reg` in the high one.
    pub regs: u8,
    /// Jump offset or memory offset.
    pub off: i16,
    /// Immediate.
    pub imm: i32,
}

// Opcodes used (class | op | source).
pub(crate) const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
pub(crate) const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
pub(crate) const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
pub(crate) const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
pub(crate) const ALU32_MOV_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
pub(crate) const JMP_JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
pub(crate) const JMP_JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
pub(crate) const JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (dst & 0xf) | (src << 4),
        off,
        imm,
    }
}

/// Assembles the program for `policy`.
pub fn assemble(policy: &DevicePolicy) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU32_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU32_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    for e in &policy.exceptions {
        // Jumps are emitted with off = -1 ("to the end of this block") and patched below.
        let mut b: Vec<Insn> = Vec::new();
        match e.kind {
            DevKind::All => {}
            DevKind::Char => b.push(insn(JMP_JNE_K, 2, 0, -1, DEV_CHAR)),
            DevKind::Block => b.push(insn(JMP_JNE_K, 2, 0, -1, DEV_BLOCK)),
        }
        if let Some(m) = e.major {
            b.push(insn(JMP_JNE_K, 4, 0, -1, m as i32));
        }
        if let Some(m) = e.minor {
            b.push(insn(JMP_JNE_K, 5, 0, -1, m as i32));
        }
        if policy.default_allow {
            if e.access != ACC_ALL {
                b.push(insn(ALU32_MOV_X, 6, 3, 0, 0));
                b.push(insn(ALU32_AND_K, 6, 0, 0, i32::from(e.access)));
                b.push(insn(JMP_JEQ_K, 6, 0, -1, 0));
            }
            b.push(insn(ALU32_MOV_K, 0, 0, 0, 0));
        } else {
            if e.access != ACC_ALL {
                b.push(insn(ALU32_MOV_X, 6, 3, 0, 0));
                b.push(insn(ALU32_AND_K, 6, 0, 0, i32::from(!e.access & ACC_ALL)));
                b.push(insn(JMP_JNE_K, 6, 0, -1, 0));
            }
            b.push(insn(ALU32_MOV_K, 0, 0, 0, 1));
        }
        b.push(insn(JMP_EXIT, 0, 0, 0, 0));
        let len = b.len();
        for (i, ins) in b.iter_mut().enumerate() {
            if (ins.code == JMP_JNE_K || ins.code == JMP_JEQ_K) && ins.off == -1 {
                // A block is a handful of instructions, far below i16::MAX.
                ins.off = (len - i - 1) as i16;
            }
        }
        p.extend(b);
    }
    p.push(insn(ALU32_MOV_K, 0, 0, 0, i32::from(policy.default_allow)));
    p.push(insn(JMP_EXIT, 0, 0, 0, 0));
    p
}

/// Loads the program for `policy` and attaches it to the cgroup directory `dir`, replacing
/// any program of ours already attached there (other programs are left alone).
pub fn apply(dir: &Path, policy: &DevicePolicy) -> Result<(), Error> {
    let insns = assemble(policy);
    let cg = open_cgroup(dir)?;
    let old = our_programs(&cg, dir)?;
    let prog = load(&insns, dir)?;
    let mut attr = AttachAttr {
        target_fd: cg.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    let mut leftover: &[OwnedFd] = &old;
    if let Some(first) = old.first() {
        attr.attach_flags |= BPF_F_REPLACE;
        attr.replace_bpf_fd = first.as_raw_fd() as u32;
        match bpf(BPF_PROG_ATTACH, &mut attr) {
            Ok(_) => leftover = &old[1..],
            // Kernels before 5.6 have no BPF_F_REPLACE: attach, then detach the old one.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                attr.attach_flags = BPF_F_ALLOW_MULTI;
                attr.replace_bpf_fd = 0;
                bpf(BPF_PROG_ATTACH, &mut attr).map_err(|e| bpf_err("PROG_ATTACH", dir, e))?;
            }
            Err(e) => return Err(bpf_err("PROG_ATTACH(REPLACE)", dir, e)),
        }
    } else {
        bpf(BPF_PROG_ATTACH, &mut attr).map_err(|e| bpf_err("PROG_ATTACH", dir, e))?;
    }
    for o in leftover {
        let mut d = AttachAttr {
            target_fd: cg.as_raw_fd() as u32,
            attach_bpf_fd: o.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            attach_flags: 0,
            replace_bpf_fd: 0,
        };
        bpf(BPF_PROG_DETACH, &mut d).map_err(|e| bpf_err("PROG_DETACH", dir, e))?;
    }
    tracing::debug!(
        dir = %dir.display(),
        insns = insns.len(),
        replaced = old.len(),
        default_allow = policy.default_allow,
        exceptions = policy.exceptions.len(),
        "device filter attached"
    );
    Ok(())
}

/// IDs of the device programs attached directly to the cgroup `dir` (ours or not).
pub fn attached_program_ids(dir: &Path) -> Result<Vec<u32>, Error> {
    let cg = open_cgroup(dir)?;
    query(&cg, dir)
}

fn open_cgroup(dir: &Path) -> Result<OwnedFd, Error> {
    use rustix::fs::{Mode, OFlags, open};
    // bpf(2) wants a real open file for the cgroup, not an O_PATH one.
    open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::Open {
        path: dir.to_owned(),
        source: e.into(),
    })
}

fn bpf_err(op: &'static str, dir: &Path, source: io::Error) -> Error {
    Error::Bpf {
        op,
        path: dir.to_owned(),
        source,
        log: String::new(),
    }
}

/// Calls bpf(2) with `attr`.
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, exclusively borrowed #[repr(C)] struct laid out like the
    // matching member of `union bpf_attr`, and we pass its exact size; the kernel reads at
    // most that many bytes and writes only inside it. Pointers stored in it (instructions,
    // log buffer, id arrays) are kept alive by the callers for the duration of the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Takes ownership of a descriptor returned by bpf(2).
fn owned(fd: libc::c_long) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful bpf(2) call that creates a new
    // descriptor, so it is open and owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdByIdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct InfoByFdAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// The leading part of `struct bpf_prog_info`, up to and including `name`.
#[repr(C)]
#[derive(Default)]
struct ProgInfo {
    typ: u32,
    id: u32,
    tag: [u8; 8],
    jited_prog_len: u32,
    xlated_prog_len: u32,
    jited_prog_insns: u64,
    xlated_prog_insns: u64,
    load_time: u64,
    created_by_uid: u32,
    nr_map_ids: u32,
    map_ids: u64,
    name: [u8; 16],
}

fn load(insns: &[Insn], dir: &Path) -> Result<OwnedFd, Error> {
    let license = c"Apache-2.0";
    let mut name = [0u8; 16];
    name[..PROG_NAME.len()].copy_from_slice(PROG_NAME.as_bytes());
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        ..Default::default()
    };
    match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => Ok(owned(fd)),
        Err(first) => {
            // Load again with the verifier log on, only to explain the failure.
            let mut log = vec![0u8; 64 * 1024];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            if let Ok(fd) = bpf(BPF_PROG_LOAD, &mut attr) {
                return Ok(owned(fd));
            }
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            Err(Error::Bpf {
                op: "PROG_LOAD",
                path: dir.to_owned(),
                source: first,
                log: String::from_utf8_lossy(&log[..end]).trim().to_owned(),
            })
        }
    }
}

fn query(cg: &OwnedFd, dir: &Path) -> Result<Vec<u32>, Error> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: cg.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr).map_err(|e| bpf_err("PROG_QUERY", dir, e))?;
    ids.truncate((attr.prog_cnt as usize).min(64));
    Ok(ids)
}

/// Descriptors of the programs named [`PROG_NAME`] attached directly to the cgroup.
fn our_programs(cg: &OwnedFd, dir: &Path) -> Result<Vec<OwnedFd>, Error> {
    let mut out = Vec::new();
    for id in query(cg, dir)? {
        let mut a = GetFdByIdAttr {
            prog_id: id,
            ..Default::default()
        };
        let fd = match bpf(BPF_PROG_GET_FD_BY_ID, &mut a) {
            Ok(fd) => owned(fd),
            // Detached meanwhile.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(bpf_err("PROG_GET_FD_BY_ID", dir, e)),
        };
        let mut info = ProgInfo::default();
        let mut ia = InfoByFdAttr {
            bpf_fd: fd.as_raw_fd() as u32,
            info_len: std::mem::size_of::<ProgInfo>() as u32,
            info: &mut info as *mut ProgInfo as u64,
        };
        bpf(BPF_OBJ_GET_INFO_BY_FD, &mut ia).map_err(|e| bpf_err("OBJ_GET_INFO_BY_FD", dir, e))?;
        let end = info.name.iter().position(|b| *b == 0).unwrap_or(16);
        if &info.name[..end] == PROG_NAME.as_bytes() {
            out.push(fd);
        }
    }
    Ok(out)
}
