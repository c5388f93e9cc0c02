//! Small EL worlds where resolving is not a walk down the requirements: each holds one case
//! where a closure must decide as dnf's solver (libsolv) decides, or build a set dnf cannot
//! install. [`write_repo`] turns one into a real repository (rpms, `createrepo_c` metadata).
//!
//! What real dnf 4 (Debian's, with `install_weak_deps=False`) installs for each, found by
//! running it, is in [`SolverWorld::dnf_installs`]; the tests check both that the closure
//! picks the same and that dnf's own resolver still does.

use std::path::Path;

use anyhow::Result;

use crate::{createrepo, Pkg};

/// One world: its packages, what is asked for, what dnf installs.
#[derive(Debug, Clone)]
pub struct SolverWorld {
    pub name: &'static str,
    /// What the case is about.
    pub about: &'static str,
    pub packages: Vec<Pkg>,
    pub request: Vec<&'static str>,
    /// Package names dnf installs, sorted.
    pub dnf_installs: Vec<&'static str>,
}

/// The worlds, for `arch`.
pub fn solver_worlds(arch: &str) -> Vec<SolverWorld> {
    let p = |name: &str, v: &str| {
        Pkg::new(name, v, "1.el9", arch).file(&format!("/usr/share/{name}/README"))
    };
    vec![
        SolverWorld {
            name: "obsoletes-between-providers",
            about: "libx.so.6 >= 7 is provided by xlib (6.2.1, too old), libx7 and libxc; \
                    libx7 obsoletes xlib <= 6.2.1, which every provider of ufront requires. \
                    Taking libx7 (first by name) then xlib is a set dnf refuses; dnf backtracks \
                    to libxc",
            packages: vec![
                p("app", "1")
                    .requires("libx.so.6()(64bit) >= 7")
                    .requires("ufront"),
                p("xlib", "6.2.1").provides("libx.so.6()(64bit) = 6.2.1"),
                p("libx7", "7")
                    .provides("libx.so.6()(64bit) = 7")
                    .obsoletes("xlib <= 6.2.1"),
                p("libxc", "7").provides("libx.so.6()(64bit) = 7"),
                p("u1", "1").provides("ufront").requires("xlib"),
                p("u2", "1").provides("ufront").requires("xlib"),
            ],
            request: vec!["app"],
            dnf_installs: vec!["app", "libxc", "u1", "xlib"],
        },
        SolverWorld {
            name: "obsoleted-request",
            about: "pgtool is obsoleted by pgtool-ng: asking for pgtool installs pgtool-ng",
            packages: vec![
                p("pgtool", "1"),
                p("pgtool-ng", "2")
                    .obsoletes("pgtool < 2")
                    .requires("pgtool-ng-libs"),
                p("pgtool-ng-libs", "2"),
            ],
            request: vec!["pgtool"],
            dnf_installs: vec!["pgtool-ng", "pgtool-ng-libs"],
        },
        SolverWorld {
            name: "unless-else-conflict",
            about: "plugin Conflicts: (liblite unless litefix else litebad); app needs liblite \
                    and plugin: dnf adds litefix to escape the conflict",
            packages: vec![
                p("app", "1").requires("liblite").requires("plugin"),
                p("liblite", "1"),
                p("plugin", "1").conflicts("(liblite unless litefix else litebad)"),
                p("litefix", "1"),
                p("litebad", "1"),
            ],
            request: vec!["app"],
            dnf_installs: vec!["app", "liblite", "litefix", "plugin"],
        },
        SolverWorld {
            name: "conditional-rich",
            about: "ext requires (g-jit if h-llvm else i-interp): libsolv reads it as \
                    (g-jit | -h-llvm) & (h-llvm | i-interp) and takes h-llvm, then g-jit; \
                    util requires (tiny unless big else bigext): big and bigext",
            packages: vec![
                p("ext", "1").requires("(g-jit if h-llvm else i-interp)"),
                p("g-jit", "1"),
                p("h-llvm", "1"),
                p("i-interp", "1"),
                p("util", "1").requires("(tiny unless big else bigext)"),
                p("tiny", "1"),
                p("big", "1"),
                p("bigext", "1"),
            ],
            request: vec!["ext", "util"],
            dnf_installs: vec!["big", "bigext", "ext", "g-jit", "h-llvm", "util"],
        },
        SolverWorld {
            name: "backtracking-conflict",
            about: "libx.so.6 is provided by xlib, libx7 (obsoleting xlib) and libxc; ufront's \
                    providers both need xlib. libx7, taken first, is undone: xlib meets both",
            packages: vec![
                p("app", "1")
                    .requires("libx.so.6()(64bit)")
                    .requires("ufront"),
                p("xlib", "6.2.1").provides("libx.so.6()(64bit)"),
                p("libx7", "7")
                    .provides("libx.so.6()(64bit)")
                    .obsoletes("xlib <= 6.2.1"),
                p("libxc", "1").provides("libx.so.6()(64bit)"),
                p("u1", "1").provides("ufront").requires("xlib"),
                p("u2", "1").provides("ufront").requires("xlib"),
            ],
            request: vec!["app"],
            dnf_installs: vec!["app", "u1", "xlib"],
        },
    ]
}

/// Writes the world's rpms into `dir/Packages` and its `createrepo_c` metadata (gz).
pub fn write_repo(dir: &Path, world: &SolverWorld) -> Result<()> {
    let packages = dir.join("Packages");
    for p in &world.packages {
        p.write(&packages)?;
    }
    createrepo(dir, "gz")
}
