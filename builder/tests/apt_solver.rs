//! The apt closure against the real apt (the host's `apt-get`, 2.6 on bookworm): small
//! worlds written as flat repositories (`Packages` and `Release`, no `.deb`s: apt decides
//! from the indexes), read by apt with a private configuration, state and status file
//! (`APT_CONFIG`), and the set `apt-get install --print-uris` would fetch compared with the
//! closure's. First the cases that need more than a greedy walk (an alternative
//! that conflicts with something required, `Breaks`, a virtual package with two providers,
//! versioned provides, a conflict apt's own resolver gives up on), then random worlds
//! compared seed by seed, every disagreement printed with its seed.
//!
//! Where apt's resolver gives up on a world the closure resolves (apt keeps the first
//! alternative it marked and its problem resolver cannot undo it), the closure's set is
//! checked the way the node will see it: apt must install exactly that set from a
//! repository holding only that set. `PIGSTY_APT_SEEDS=N` runs N seeds (40 by default),
//! `PIGSTY_APT_SEED=S` only seed S, `PIGSTY_APT_DIR=D` keeps the worlds in D.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use sha2::Digest;

use pigsty_build::apt::closure::{resolve, unmet_depends, ClosureOptions, Repo, DEFAULT_PRIORITY};
use pigsty_build::apt::index::read_packages;
use pigsty_build::apt::Requested;

/// One package of a world: name, version, then `Field: value` lines.
#[derive(Debug, Clone)]
struct Pkg {
    name: String,
    version: String,
    fields: Vec<(String, String)>,
}

impl Pkg {
    fn new(name: &str, version: &str, fields: &[(&str, &str)]) -> Pkg {
        Pkg {
            name: name.into(),
            version: version.into(),
            fields: fields
                .iter()
                .map(|(f, v)| (f.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn paragraph(&self) -> String {
        let mut s = format!(
            "Package: {}\nVersion: {}\nArchitecture: amd64\n",
            self.name, self.version
        );
        for (f, v) in &self.fields {
            let _ = writeln!(s, "{f}: {v}");
        }
        let file = format!("pool/{}_{}_amd64.deb", self.name, self.version);
        let sha = hex::encode(sha2::Sha256::digest(file.as_bytes()));
        let _ = write!(s, "Filename: {file}\nSize: 1000\nSHA256: {sha}\n");
        s
    }
}

/// A world: repositories (name, priority as [`Repo::priority`], packages) in order.
type World = Vec<(String, u32, Vec<Pkg>)>;

fn packages_text(pkgs: &[Pkg]) -> String {
    pkgs.iter().map(|p| p.paragraph() + "\n").collect()
}

/// What apt answers: `name=version` of every package it would install, or its error.
type Answer = Result<BTreeSet<String>, String>;

/// apt's answer, and whether it did what the closure does not: its marking replaced a
/// package it had marked by a later one that conflicts with it (`MarkKeep` while marking),
/// or its problem resolver had to repair what the marking left broken (`Starting
/// pkgProblemResolver with broken count: N`, N > 0).
struct AptRun {
    answer: Answer,
    repaired: bool,
}

/// `apt-get install --print-uris` of `request` over `world`, in `dir`, with apt's
/// configuration, state and (empty) status file there and nothing of the host's.
fn apt_install(dir: &Path, world: &World, request: &[String], recommends: bool) -> AptRun {
    apt_install_with(dir, world, request, recommends, None)
}

/// [`apt_install`], the one repository's `Packages` given as `text` if some.
fn apt_install_with(
    dir: &Path,
    world: &World,
    request: &[String],
    recommends: bool,
    text: Option<&[u8]>,
) -> AptRun {
    let _ = std::fs::remove_dir_all(dir);
    for d in ["state/lists/partial", "cache/archives/partial", "etc/parts"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let mut sources = String::new();
    let mut prefs = String::new();
    for (name, prio, pkgs) in world {
        let r = dir.join(name);
        std::fs::create_dir_all(&r).unwrap();
        let text = text.map_or_else(|| packages_text(pkgs).into_bytes(), <[u8]>::to_vec);
        std::fs::write(r.join("Packages"), &text).unwrap();
        let sha = hex::encode(sha2::Sha256::digest(&text));
        std::fs::write(
            r.join("Release"),
            format!(
                "Origin: {name}\nLabel: {name}\nSuite: {name}\nSHA256:\n {sha} {} Packages\n",
                text.len()
            ),
        )
        .unwrap();
        let _ = writeln!(sources, "deb [trusted=yes] file:{} ./", r.display());
        // Lower wins in the closure; higher wins in apt: 500 is apt's default either way.
        let _ = write!(
            prefs,
            "Package: *\nPin: release l={name}\nPin-Priority: {}\n\n",
            1000 - prio
        );
    }
    let d = dir.display();
    std::fs::write(dir.join("etc/sources.list"), sources).unwrap();
    std::fs::write(dir.join("etc/preferences"), prefs).unwrap();
    std::fs::write(dir.join("status"), "").unwrap();
    let conf = format!(
        "Dir::Etc::Parts \"{d}/etc/parts\";\nDir::Etc::main \"{d}/etc/none\";\n\
         Dir::Etc::SourceList \"{d}/etc/sources.list\";\nDir::Etc::SourceParts \"{d}/etc/parts\";\n\
         Dir::Etc::Preferences \"{d}/etc/preferences\";\nDir::Etc::PreferencesParts \"{d}/etc/parts\";\n\
         Dir::State \"{d}/state\";\nDir::State::Lists \"{d}/state/lists\";\n\
         Dir::State::status \"{d}/status\";\nDir::Cache \"{d}/cache\";\n\
         Dir::Cache::pkgcache \"\";\nDir::Cache::srcpkgcache \"\";\n\
         APT::Architecture \"amd64\";\nAPT::Architectures {{ \"amd64\"; }};\n\
         APT::Install-Recommends \"{recommends}\";\nAPT::Get::List-Cleanup \"false\";\n\
         Debug::NoLocking \"true\";\n"
    );
    std::fs::write(dir.join("apt.conf"), conf).unwrap();
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .env("APT_CONFIG", dir.join("apt.conf"))
            .env("LC_ALL", "C")
            .args(args)
            .output()
            .expect("apt-get (Debian's apt)")
    };
    let up = apt(&["update", "-qq"]);
    assert!(
        up.status.success(),
        "apt-get update: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    // `--print-uris` stops after the resolver: `-s` would go on to order the installation,
    // which can fail on its own (a `Pre-Depends` loop) for a set the resolver found.
    let mut args = vec![
        "install",
        "--print-uris",
        "-qq",
        "-o",
        "Debug::pkgProblemResolver=true",
        "-o",
        "Debug::pkgDepCache::Marker=true",
    ];
    args.extend(request.iter().map(String::as_str));
    let out = apt(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let marking = stderr
        .lines()
        .take_while(|l| !l.starts_with("Starting pkgProblemResolver"));
    let replaced = marking
        .map(str::trim_start)
        .any(|l| l.starts_with("MarkKeep "));
    let repaired = replaced
        || stderr.lines().any(|l| {
            l.strip_prefix("Starting pkgProblemResolver with broken count: ")
                .is_some_and(|n| n.trim() != "0")
        });
    if !out.status.success() {
        let err: Vec<&str> = stderr.lines().filter(|l| l.starts_with("E: ")).collect();
        return AptRun {
            answer: Err(format!("{} {}", stdout.trim(), err.join(" "))),
            repaired,
        };
    }
    // `'URI' NAME_VERSION_ARCH.deb SIZE HASH`, the epoch's colon as `%3a`.
    let answer = Ok(stdout
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter_map(|f| {
            let stem = f.strip_suffix(".deb")?.rsplit_once('_')?.0;
            let (name, version) = stem.split_once('_')?;
            Some(format!("{name}={}", version.replace("%3a", ":")))
        })
        .collect());
    AptRun { answer, repaired }
}

/// The closure's answer over the same world.
fn closure(world: &World, request: &[String], recommends: bool) -> Answer {
    let repos: Vec<Repo> = world
        .iter()
        .map(|(name, prio, pkgs)| Repo {
            name: name.clone(),
            packages: read_packages(std::io::Cursor::new(packages_text(pkgs))).unwrap(),
            priority: *prio,
        })
        .collect();
    let requested: Vec<Requested> = request
        .iter()
        .map(|n| Requested::new(n.as_str(), format!("test {n}")))
        .collect();
    let opts = ClosureOptions {
        with_recommends: recommends,
        ..Default::default()
    };
    resolve(&repos, "amd64", &requested, &opts)
        .map(|c| {
            let unmet = unmet_depends(&c.packages, "amd64", None);
            assert!(unmet.is_empty(), "the closure is not closed: {unmet:?}");
            c.packages
                .iter()
                .map(|p| format!("{}={}", p.name, p.version))
                .collect()
        })
        .map_err(|e| e.to_string())
}

/// How the closure and apt compare on one world.
#[derive(Debug, PartialEq)]
enum Verdict {
    /// The same set.
    Same,
    /// Both refuse.
    BothRefuse,
    /// apt's marking broke packages and its problem resolver repaired them (or gave up,
    /// `gave_up`) some other way than the closure's backtracking; the node's apt, from a
    /// repository of only the closure's set (as the bundle's), installs that set (`exactly`)
    /// or part of it (the rest unused: apt on the node breaks ties among providers by the
    /// bundle's index, not the upstream's).
    Repaired { gave_up: bool, exactly: bool },
    /// Anything else, said how.
    Differ(String),
}

fn show(a: &Answer) -> String {
    match a {
        Ok(v) => format!(
            "{} packages: {}",
            v.len(),
            v.iter().cloned().collect::<Vec<_>>().join(" ")
        ),
        Err(e) => format!("error: {e}"),
    }
}

/// Compares the closure with apt on `world`, working in `dir`.
fn compare(dir: &Path, world: &World, request: &[String], recommends: bool) -> Verdict {
    let ours = closure(world, request, recommends);
    let apt = apt_install(&dir.join("apt"), world, request, recommends);
    match (&ours, &apt.answer) {
        (Ok(a), Ok(b)) if a == b => return Verdict::Same,
        (Err(_), Err(_)) => return Verdict::BothRefuse,
        _ => {}
    }
    let diff = match (&ours, &apt.answer) {
        (Ok(a), Ok(b)) => format!(
            "\n    only ours: {:?}\n    only apt's: {:?}",
            a.difference(b).collect::<Vec<_>>(),
            b.difference(a).collect::<Vec<_>>()
        ),
        _ => String::new(),
    };
    let how = format!(
        "\n    ours: {}\n    apt:  {}{diff}",
        show(&ours),
        show(&apt.answer)
    );
    let Ok(a) = &ours else {
        return Verdict::Differ(how);
    };
    if !apt.repaired {
        return Verdict::Differ(how);
    }
    // The node's view: a repository holding only the closure's set, in the bundle's order.
    let mut only: Vec<Pkg> = world
        .iter()
        .flat_map(|(_, _, p)| p)
        .filter(|p| a.contains(&format!("{}={}", p.name, p.version)))
        .cloned()
        .collect();
    only.sort_by(|x, y| x.name.cmp(&y.name));
    let node = vec![("bundle".to_string(), DEFAULT_PRIORITY, only)];
    let on_node = apt_install(&dir.join("node"), &node, request, recommends).answer;
    match &on_node {
        Ok(n) if n.is_subset(a) => Verdict::Repaired {
            gave_up: apt.answer.is_err(),
            exactly: n == a,
        },
        _ => Verdict::Differ(format!("{how}\n    apt from ours only: {}", show(&on_node))),
    }
}

fn one_repo(pkgs: Vec<Pkg>) -> World {
    vec![("r1".to_string(), DEFAULT_PRIORITY, pkgs)]
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The closure's set on `world`, asserted equal to apt's; returned as `name=version`.
fn same_as_apt(world: &World, request: &[&str]) -> BTreeSet<String> {
    let tmp = tempfile::tempdir().unwrap();
    let request = names(request);
    let verdict = compare(tmp.path(), world, &request, false);
    assert_eq!(verdict, Verdict::Same, "{world:#?}");
    closure(world, &request, false).unwrap()
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn an_alternative_that_conflicts_with_a_requirement_gives_way() {
    // app needs a | b and c; c conflicts with a: apt takes b.
    let world = one_repo(vec![
        Pkg::new("app", "1", &[("Depends", "a | b, c")]),
        Pkg::new("a", "1", &[]),
        Pkg::new("b", "1", &[]),
        Pkg::new("c", "1", &[("Conflicts", "a")]),
    ]);
    assert_eq!(same_as_apt(&world, &["app"]), set(&["app=1", "b=1", "c=1"]));
    // Deeper: the conflict comes two levels down the first alternative's own dependencies.
    let world = one_repo(vec![
        Pkg::new("app", "1", &[("Depends", "x | y, c")]),
        Pkg::new("x", "1", &[("Depends", "x2")]),
        Pkg::new("x2", "1", &[("Depends", "x3")]),
        Pkg::new("x3", "1", &[]),
        Pkg::new("y", "1", &[]),
        Pkg::new("c", "1", &[("Conflicts", "x3")]),
    ]);
    assert_eq!(same_as_apt(&world, &["app"]), set(&["app=1", "c=1", "y=1"]));
}

#[test]
fn breaks_holds_as_a_conflict() {
    // z breaks x before 2: the x 1 alternative gives way to y; a later x would do.
    let world = one_repo(vec![
        Pkg::new("app", "1", &[("Depends", "x | y, z")]),
        Pkg::new("x", "1", &[]),
        Pkg::new("y", "1", &[]),
        Pkg::new("z", "1", &[("Breaks", "x (<< 2)")]),
    ]);
    assert_eq!(same_as_apt(&world, &["app"]), set(&["app=1", "y=1", "z=1"]));
    let mut world = world;
    world[0].2[1].version = "2".into();
    assert_eq!(same_as_apt(&world, &["app"]), set(&["app=1", "x=2", "z=1"]));
}

#[test]
fn a_virtual_package_with_two_providers() {
    // Equal providers: apt takes the one whose name its cache met last.
    let providers = |first: &str, second: &str, extra: &[(&str, &str)]| {
        one_repo(vec![
            Pkg::new("app", "1", &[("Depends", "awk")]),
            Pkg::new(first, "1", &[("Provides", "awk")]),
            Pkg::new(second, "1", &[&[("Provides", "awk")], extra].concat()),
        ])
    };
    assert_eq!(
        same_as_apt(&providers("mawk", "gawk", &[]), &["app"]),
        set(&["app=1", "gawk=1"])
    );
    assert_eq!(
        same_as_apt(&providers("gawk", "mawk", &[]), &["app"]),
        set(&["app=1", "mawk=1"])
    );
    // A better Priority wins over that order; one without any sorts first.
    let mut w = providers("mawk", "gawk", &[("Priority", "optional")]);
    w[0].2[1]
        .fields
        .push(("Priority".into(), "required".into()));
    assert_eq!(same_as_apt(&w, &["app"]), set(&["app=1", "mawk=1"]));
    let w = providers("mawk", "gawk", &[("Priority", "optional")]);
    assert_eq!(same_as_apt(&w, &["app"]), set(&["app=1", "mawk=1"]));
    // A provider another package asks for is already there.
    let mut w = providers("mawk", "gawk", &[]);
    w[0].2.push(Pkg::new("tool", "1", &[("Depends", "mawk")]));
    assert_eq!(
        same_as_apt(&w, &["tool", "app"]),
        set(&["app=1", "mawk=1", "tool=1"])
    );
}

#[test]
fn versioned_provides() {
    let world = one_repo(vec![
        Pkg::new(
            "app",
            "1",
            &[("Depends", "libjpeg-dev (>= 2), foo (>= 2) | bar")],
        ),
        Pkg::new("libjpeg8-dev", "8", &[("Provides", "libjpeg-dev")]),
        Pkg::new(
            "libjpeg62-turbo-dev",
            "1:2.1",
            &[("Provides", "libjpeg-dev (= 1:2.1)")],
        ),
        Pkg::new("foo-impl", "1", &[("Provides", "foo")]),
        Pkg::new("bar", "1", &[]),
        Pkg::new("user", "1", &[("Depends", "libjpeg-dev")]),
    ]);
    // The versioned provide meets the versioned dependency, the unversioned one cannot.
    assert_eq!(
        same_as_apt(&world, &["app"]),
        set(&["app=1", "bar=1", "libjpeg62-turbo-dev=1:2.1"])
    );
    // Both meet an unversioned one: the provider met last.
    assert_eq!(
        same_as_apt(&world, &["user"]),
        set(&["libjpeg62-turbo-dev=1:2.1", "user=1"])
    );
}

#[test]
fn where_apt_gives_up_the_node_installs_the_closure() {
    // a, the first alternative, conflicts with c, which app needs. Debian 12's apt (2.6)
    // marks a, then c, and its problem resolver gives up; from a repository of only the
    // closure's app, b and c, it installs exactly those. Debian 13's apt (3.0) solves it
    // itself, to the closure's set.
    let world = one_repo(vec![
        Pkg::new("app", "1", &[("Depends", "a | b, c")]),
        Pkg::new("a", "1", &[("Conflicts", "c")]),
        Pkg::new("b", "1", &[]),
        Pkg::new("c", "1", &[]),
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let request = names(&["app"]);
    let apt = apt_install(tmp.path(), &world, &request, false);
    let want = if apt.answer.is_err() {
        assert!(apt.repaired);
        Verdict::Repaired {
            gave_up: true,
            exactly: true,
        }
    } else {
        Verdict::Same
    };
    assert_eq!(compare(tmp.path(), &world, &request, false), want);
    assert_eq!(
        closure(&world, &request, false).unwrap(),
        set(&["app=1", "b=1", "c=1"])
    );
}

/// A small deterministic generator (splitmix64), so that a seed is a world.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// A random world: names `p0..`, one to three versions spread over two repositories (the
/// second sometimes pinned), `Depends` groups of one to three alternatives (names or virtual
/// `capN`, some versioned), some `Pre-Depends`, `Recommends`, `Conflicts`, `Breaks` and
/// `Priority`; `capN` provided by two to four packages, versioned or not. Returns the world,
/// the request and whether `Recommends` are followed.
fn random_world(seed: u64) -> (World, Vec<String>, bool) {
    let mut rng = Rng(seed);
    let names = 20 + rng.below(60);
    let caps = 2 + rng.below(8);
    let versions = ["1.0", "1.2", "2.0"];
    let mut repos: [Vec<Pkg>; 2] = [Vec::new(), Vec::new()];
    // Mostly later names (so that requests reach deep), sometimes any (cycles).
    let target = |rng: &mut Rng, from: usize| {
        if from + 1 < names && rng.chance(90) {
            from + 1 + rng.below(names - from - 1)
        } else {
            rng.below(names)
        }
    };
    let mut pkgs: Vec<(usize, Pkg)> = Vec::new();
    for i in 0..names {
        let n_versions = 1 + usize::from(rng.chance(25)) + usize::from(rng.chance(10));
        for version in versions.iter().take(n_versions) {
            let mut p = Pkg::new(&format!("p{i}"), version, &[]);
            let dep = |rng: &mut Rng| {
                let alts = 1 + usize::from(rng.chance(35)) + usize::from(rng.chance(15));
                let mut out = Vec::new();
                for _ in 0..alts {
                    let alt = if rng.chance(75) {
                        let t = format!("p{}", target(rng, i));
                        match rng.below(10) {
                            0 => format!("{t} (>= 1.2)"),
                            1 => format!("{t} (<< 2.0)"),
                            _ => t,
                        }
                    } else {
                        let c = format!("cap{}", rng.below(caps));
                        if rng.chance(20) {
                            format!("{c} (>= 2)")
                        } else {
                            c
                        }
                    };
                    if !out.contains(&alt) {
                        out.push(alt);
                    }
                }
                out.join(" | ")
            };
            let groups: Vec<String> = (0..rng.below(4)).map(|_| dep(&mut rng)).collect();
            if rng.chance(5) {
                let g = dep(&mut rng);
                p.fields.push(("Pre-Depends".into(), g));
            }
            if !groups.is_empty() {
                p.fields.push(("Depends".into(), groups.join(", ")));
            }
            if rng.chance(10) {
                let g = dep(&mut rng);
                p.fields.push(("Recommends".into(), g));
            }
            for field in ["Conflicts", "Breaks"] {
                if rng.chance(6) {
                    let t = if rng.chance(70) {
                        format!("p{}", rng.below(names))
                    } else {
                        format!("cap{}", rng.below(caps))
                    };
                    if t != p.name {
                        let rel = if rng.chance(40) {
                            format!("{t} (<< 1.2)")
                        } else {
                            t
                        };
                        p.fields.push((field.into(), rel));
                    }
                }
            }
            if rng.chance(20) {
                let prio = ["required", "important", "standard", "optional", "extra"];
                p.fields
                    .push(("Priority".into(), prio[rng.below(prio.len())].into()));
            }
            pkgs.push((usize::from(rng.chance(20)), p));
        }
    }
    provide_caps(&mut rng, caps, &mut pkgs);
    for (r, p) in pkgs {
        repos[r].push(p);
    }
    let [r1, r2] = repos;
    let pinned = rng.chance(40);
    let world = vec![
        ("r1".to_string(), DEFAULT_PRIORITY, r1),
        (
            "r2".to_string(),
            if pinned { 100 } else { DEFAULT_PRIORITY },
            r2,
        ),
    ];
    let request: BTreeSet<String> = (0..1 + rng.below(4))
        .map(|_| format!("p{}", rng.below(names / 3 + 1)))
        .collect();
    (world, request.into_iter().collect(), rng.chance(30))
}

/// `capN` provided by two to four packages each, versioned (`= 1` to `= 3`) or not.
fn provide_caps(rng: &mut Rng, caps: usize, pkgs: &mut [(usize, Pkg)]) {
    for c in 0..caps {
        for _ in 0..2 + rng.below(3) {
            let k = rng.below(pkgs.len());
            let cap = format!("cap{c}");
            let e = if rng.chance(50) {
                format!("{cap} (= {})", 1 + rng.below(3))
            } else {
                cap
            };
            let p = &mut pkgs[k].1;
            match p.fields.iter_mut().find(|(f, _)| f == "Provides") {
                Some((_, v)) if !v.split(", ").any(|x| x == e) => {
                    v.push_str(", ");
                    v.push_str(&e);
                }
                Some(_) => {}
                None => p.fields.push(("Provides".into(), e)),
            }
        }
    }
}

#[test]
fn random_worlds_resolve_as_apt() {
    let seeds: Vec<u64> = match std::env::var("PIGSTY_APT_SEED") {
        Ok(s) => vec![s.parse().unwrap()],
        Err(_) => {
            let n: u64 = std::env::var("PIGSTY_APT_SEEDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(40);
            (1..=n).collect()
        }
    };
    let tmp = tempfile::tempdir().unwrap();
    let keep = std::env::var_os("PIGSTY_APT_DIR").map(std::path::PathBuf::from);
    let dir = keep.as_deref().unwrap_or(tmp.path());
    let (mut same, mut refused, mut packages) = (0, 0, 0);
    // Worlds apt's problem resolver repaired: [apt gave up?][the node installs exactly?]
    let mut repaired = [[0; 2]; 2];
    let mut disagree = Vec::new();
    for &seed in &seeds {
        let (world, request, recommends) = random_world(seed);
        packages += world.iter().map(|r| r.2.len()).sum::<usize>();
        let prios: Vec<u32> = world.iter().map(|r| r.1).collect();
        let here = dir.join(seed.to_string());
        let verdict = compare(&here, &world, &request, recommends);
        if keep.is_none() {
            let _ = std::fs::remove_dir_all(&here);
        }
        match verdict {
            Verdict::Same => same += 1,
            Verdict::BothRefuse => refused += 1,
            Verdict::Repaired { gave_up, exactly } => {
                repaired[usize::from(gave_up)][usize::from(exactly)] += 1;
                if std::env::var_os("PIGSTY_APT_SHOW").is_some() {
                    eprintln!("seed {seed}: apt repaired (gave up: {gave_up}), node installs exactly: {exactly}");
                }
            }
            Verdict::Differ(how) => disagree.push(format!(
                "seed {seed} (request {request:?}, priorities {prios:?}, recommends {recommends}):{how}"
            )),
        }
    }
    eprintln!(
        "{} seeds, {packages} packages: {same} as apt, {refused} refused by both; apt's problem resolver repaired its \
         marking otherwise in {} (the node installs the closure's set exactly from it: {}, \
         part of it: {}), gave up in {} (exactly: {}, part: {}); {} disagreements",
        seeds.len(),
        repaired[0][0] + repaired[0][1],
        repaired[0][1],
        repaired[0][0],
        repaired[1][0] + repaired[1][1],
        repaired[1][1],
        repaired[1][0],
        disagree.len()
    );
    assert!(
        disagree.is_empty(),
        "{} of {} seeds disagree with apt:\n{}",
        disagree.len(),
        seeds.len(),
        disagree.join("\n")
    );
}

/// The first `URIs:` of the host's deb822 sources that lists `bookworm`.
fn host_mirror() -> Option<String> {
    let text = std::fs::read_to_string("/etc/apt/sources.list.d/debian.sources").ok()?;
    for para in text.split("\n\n") {
        let field = |name: &str| {
            para.lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
        };
        let (Some(uris), Some(suites)) = (field("URIs:"), field("Suites:")) else {
            continue;
        };
        if suites.split_whitespace().any(|s| s == "bookworm") {
            return uris.split_whitespace().next().map(str::to_string);
        }
    }
    None
}

/// The real bookworm `main` index for amd64, as `builder/tests/apt_bookworm.rs` caches it
/// (downloaded once with `curl` from the host's mirror into `~/.cache/pigsty-build-test/`).
fn bookworm_index() -> Option<std::path::PathBuf> {
    let dir = std::path::PathBuf::from(std::env::var_os("HOME")?).join(".cache/pigsty-build-test");
    let path = dir.join("bookworm-main-amd64-Packages.xz");
    if path.exists() {
        return Some(path);
    }
    let Some(mirror) = host_mirror() else {
        eprintln!("no bookworm mirror in the host's apt sources; skipping");
        return None;
    };
    std::fs::create_dir_all(&dir).ok()?;
    let tmp = dir.join(format!(
        "bookworm-main-amd64-Packages.xz.{}",
        std::process::id()
    ));
    let url = format!(
        "{}/dists/bookworm/main/binary-amd64/Packages.xz",
        mirror.trim_end_matches('/')
    );
    let ok = Command::new("curl")
        .args(["-sfL", "-o"])
        .arg(&tmp)
        .arg(&url)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("could not download {url}; skipping");
        return None;
    }
    std::fs::rename(&tmp, &path).ok()?;
    Some(path)
}

/// On the real bookworm archive (about 63,000 packages), the closure of PostgreSQL 15 with
/// PostGIS and pg_cron, with and without `Recommends`, is exactly what `apt-get install`
/// fetches from the same `Packages` file.
#[test]
fn the_real_bookworm_archive_resolves_as_apt() {
    let Some(path) = bookworm_index() else { return };
    let mut text = Vec::new();
    std::io::copy(
        &mut pigsty_build::apt::index::open_index(&path).unwrap(),
        &mut text,
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let repos = vec![Repo {
        name: "bookworm".into(),
        packages: read_packages(std::io::Cursor::new(&text)).unwrap(),
        priority: DEFAULT_PRIORITY,
    }];
    let request = names(&[
        "postgresql-15",
        "postgresql-15-postgis-3",
        "postgresql-15-cron",
    ]);
    let requested: Vec<Requested> = request
        .iter()
        .map(|n| Requested::new(n.as_str(), "test"))
        .collect();
    for recommends in [false, true] {
        let opts = ClosureOptions {
            with_recommends: recommends,
            ..Default::default()
        };
        let t = std::time::Instant::now();
        let closure = resolve(&repos, "amd64", &requested, &opts).unwrap_or_else(|e| panic!("{e}"));
        let took = t.elapsed();
        let ours: BTreeSet<String> = closure
            .packages
            .iter()
            .map(|p| format!("{}={}", p.name, p.version))
            .collect();
        let apt = apt_flat(
            &tmp.path().join("apt"),
            "bookworm",
            &text,
            &request,
            recommends,
        );
        let apt = apt.unwrap_or_else(|e| panic!("apt-get: {e}"));
        assert_eq!(
            ours,
            apt,
            "recommends {recommends}: only ours {:?}, only apt's {:?}",
            ours.difference(&apt).collect::<Vec<_>>(),
            apt.difference(&ours).collect::<Vec<_>>()
        );
        eprintln!(
            "recommends {recommends}: {} packages in {took:?}, as apt",
            ours.len()
        );
    }
}

/// apt over a `Packages` text as it is (no world to write): a flat repository `name` in
/// `dir` holding `text`.
fn apt_flat(dir: &Path, name: &str, text: &[u8], request: &[String], recommends: bool) -> Answer {
    // The same configuration as the worlds', with this index in place of theirs.
    let world: World = vec![(name.to_string(), DEFAULT_PRIORITY, Vec::new())];
    apt_install_with(dir, &world, request, recommends, Some(text)).answer
}
