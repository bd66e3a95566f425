#!/usr/bin/python3
"""Keeps deploy/Dockerfile in sync with scripts/packages.txt (it cannot be
built in the development environment, so it is checked statically).

Usage:
  check_dockerfile.py [--self-test] [--binary PATH]... DOCKERFILE PACKAGES_TXT

Checks:
  * the build stage is debian:bookworm, COPYs scripts/packages.txt and
    installs the output of a sed/grep filter of it; running that very filter
    on PACKAGES_TXT yields exactly the "# -- build" section (so the image
    builds with what scripts/setup installs, and nothing is hard-coded);
  * the runtime stage is debian:bookworm-slim and installs only packages
    that are direct dependencies of a -dev package of the build section
    (plus ca-certificates), and every -dev package that ships a shared
    library has its library package there (dpkg metadata of the installed
    -dev packages; scripts/setup installs them);
  * each --binary (the built raceway, raceway-ingest, raceway-query): every
    shared library it loads belongs to a runtime package, its dependencies,
    or the base image's libc/libstdc++;
  * a Release configure that switches on every RACEWAY_WITH_* CMake option
    of the source tree (e.g. the SQL backends, OFF by default);
  * a non-root numeric USER 10001, and the three binaries are copied in.
--self-test: the real files must pass, and known mutations must fail.
"""

import argparse
import functools
import os
import re
import shlex
import subprocess
import sys

BUILD_SECTION = "# -- build"
EXTRA_RUNTIME = {"ca-certificates"}
NON_LIBRARY_DEPS = re.compile(r"(-dev|-dev-bin|^pkg-?config|^pkgconf|^civetweb|^libc-dev)$")
BINARIES = ("raceway", "raceway-ingest", "raceway-query")


def build_section(packages_txt):
    """Packages under '# -- build' up to the next '# --' heading."""
    out, inside = [], False
    for line in packages_txt.splitlines():
        s = line.strip()
        if s.startswith("# --"):
            inside = s == BUILD_SECTION
            continue
        if inside and s and not s.startswith("#"):
            out.append(s)
    return out


def cmake_feature_options(root):
    """Names of option(RACEWAY_WITH_...) declared in the source tree."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(("build", "."))]
        for f in filenames:
            if f == "CMakeLists.txt" or f.endswith(".cmake"):
                text = open(os.path.join(dirpath, f), encoding="utf-8", errors="replace").read()
                found |= set(re.findall(r"option\(\s*(RACEWAY_WITH_\w+)", text))
    return found


def stages(dockerfile):
    """[(from-line, text)] per stage; continuation lines joined."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    result = []
    for line in joined.splitlines():
        if re.match(r"^\s*FROM\s", line, re.I):
            result.append([line.strip(), ""])
        elif result:
            result[-1][1] += line + "\n"
    return result


@functools.lru_cache(maxsize=None)
def dpkg_depends(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Depends}", pkg],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None
    deps = set()
    for alt in r.stdout.split(","):
        for dep in alt.split("|"):
            name = dep.strip().split(" ")[0].split(":")[0]
            if name:
                deps.add(name)
    return deps


def base_image_packages():
    """Approximates debian:bookworm-slim: the Essential and Priority-required
    packages plus apt, with their dependencies."""
    r = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Essential} ${Priority}\n"],
                       capture_output=True, text=True)
    base = {"apt", "libc6", "libgcc-s1", "libstdc++6"}
    for line in r.stdout.splitlines():
        f = line.split()
        if len(f) >= 2 and ("yes" in f[1:] or "required" in f[1:]):
            base.add(f[0])
    return closure(base)


def closure(pkgs):
    seen, todo = set(), list(pkgs)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        todo.extend(dpkg_depends(p) or ())
    return seen


def check(dockerfile, packages_path, binaries):
    errors = []
    packages_txt = open(packages_path, encoding="utf-8").read()
    wanted = build_section(packages_txt)
    st = stages(dockerfile)
    if len(st) < 2:
        return [f"expected a build and a runtime stage, found {len(st)}"]
    (build_from, build), (run_from, runtime) = st[0], st[-1]

    # ---- build stage mirrors scripts/packages.txt
    if not re.match(r"FROM\s+debian:bookworm(\s|$)", build_from):
        errors.append(f"build stage must be FROM debian:bookworm (Debian 12), not {build_from!r}")
    copy = re.search(r"^\s*COPY\s+scripts/packages\.txt\s+(\S+)", build, re.M)
    if not copy:
        errors.append("build stage does not COPY scripts/packages.txt")
    m = re.search(r"(\w+)=\$\(([^)]*packages\.txt[^)]*)\)", build)
    if not m:
        errors.append("build stage does not compute its package list with a sed/grep filter "
                      "of packages.txt")
    else:
        var, pipeline = m.group(1), m.group(2)
        if copy:
            pipeline = pipeline.replace(copy.group(1), shlex.quote(os.path.abspath(packages_path)))
        r = subprocess.run(["bash", "-c", "set -o pipefail; " + pipeline],
                           capture_output=True, text=True)
        got = r.stdout.split()
        if r.returncode != 0 or got != wanted:
            errors.append(f"the Dockerfile's package filter yields {got} (rc {r.returncode}), "
                          f"not the {BUILD_SECTION!r} section of packages.txt {wanted}")
        if not re.search(r"apt-get install[^;&\n]*\$\{?" + var + r"\b", build):
            errors.append(f"build stage does not apt-get install ${var}")
    install_lines = re.findall(r"apt-get install([^;&\n]*)", build)
    for line in install_lines:
        literal = [t for t in line.split() if not t.startswith(("-", "$"))]
        if literal:
            errors.append(f"build stage hard-codes packages {literal}: list them in "
                          "scripts/packages.txt instead")

    # ---- CMake: Release, every optional backend compiled in
    if "-DCMAKE_BUILD_TYPE=Release" not in build:
        errors.append("build stage does not configure -DCMAKE_BUILD_TYPE=Release")
    root = os.path.dirname(os.path.dirname(os.path.abspath(packages_path)))
    for option in sorted(cmake_feature_options(root)):
        if f"-D{option}=ON" not in build:
            errors.append(f"build stage does not configure -D{option}=ON (CMake option of the "
                          "source tree, needed by the Kubernetes deployment)")

    # ---- runtime stage: the libraries behind the -dev packages
    if not re.match(r"FROM\s+debian:bookworm-slim(\s|$)", run_from):
        errors.append(f"runtime stage must be FROM debian:bookworm-slim, not {run_from!r}")
    runtime_pkgs = []
    for line in re.findall(r"apt-get install([^;&\n]*)", runtime):
        runtime_pkgs += [t for t in line.split() if not t.startswith("-")]
    if not runtime_pkgs:
        errors.append("runtime stage installs no packages")
    dev = [p for p in wanted if p.endswith("-dev")]
    provided = {}
    for d in dev:
        deps = dpkg_depends(d)
        if deps is None:
            errors.append(f"{d} is not installed here: run scripts/setup")
            continue
        libs = {x for x in deps if not NON_LIBRARY_DEPS.search(x)}
        for x in libs:
            provided.setdefault(x, []).append(d)
        if libs and not libs & set(runtime_pkgs):
            errors.append(f"{d} ships {sorted(libs)} but the runtime stage installs none of them")
    for p in runtime_pkgs:
        if p not in provided and p not in EXTRA_RUNTIME:
            errors.append(f"runtime package {p} is not the library of any -dev package of "
                          f"the build section (known: {sorted(provided)})")

    # ---- user and binaries
    if not re.search(r"^\s*USER\s+10001(:10001)?\s*$", runtime, re.M):
        errors.append("runtime stage must end as USER 10001 (numeric, non-root)")
    if "--uid 10001" not in runtime:
        errors.append("runtime stage does not create uid 10001")
    copies = " ".join(re.findall(r"^\s*COPY\s+--from=\S+\s+(.*)$", runtime, re.M))
    for b in BINARIES:
        if not re.search(rf"/bin/{b}(\s|$)", copies):
            errors.append(f"runtime stage does not copy {b}")
    if copies and not copies.split()[-1].startswith("/usr/local/bin"):
        errors.append("binaries must go to /usr/local/bin")

    # ---- the built binaries' shared libraries
    if binaries:
        have = closure(set(runtime_pkgs)) | base_image_packages()
        for b in binaries:
            r = subprocess.run(["ldd", b], capture_output=True, text=True)
            if r.returncode != 0:
                errors.append(f"ldd {b} failed: {r.stderr.strip() or r.stdout.strip()}")
                continue
            for line in r.stdout.splitlines():
                lm = re.search(r"=>\s+(/\S+)", line)
                if not lm:
                    continue
                path = os.path.realpath(lm.group(1))
                owner = None
                for candidate in (lm.group(1), path):
                    s = subprocess.run(["dpkg-query", "-S", candidate], capture_output=True,
                                       text=True)
                    if s.returncode == 0:
                        owner = s.stdout.split(":")[0].strip()
                        break
                if owner is None:
                    errors.append(f"{os.path.basename(b)} loads {lm.group(1)}, which no Debian "
                                  "package owns")
                elif owner not in have:
                    errors.append(f"{os.path.basename(b)} loads {lm.group(1)} from {owner}, "
                                  "which the runtime stage does not install")
    return errors


def self_test(dockerfile, packages_path):
    if check(dockerfile, packages_path, []):
        print("FAIL self-test: the real Dockerfile does not pass")
        return False
    mutations = [
        ("build list hard-coded",
         lambda t: re.sub(r"pkgs=\$\(sed[^)]*\)", "pkgs=\"cmake g++\"", t), "filter"),
        ("filter takes every section",
         lambda t: t.replace("sed -n '/^# -- build$/,/^# --/p' /tmp/packages.txt |",
                             "cat /tmp/packages.txt |"), "package filter yields"),
        ("extra build package",
         lambda t: t.replace("--no-install-recommends $pkgs", "--no-install-recommends $pkgs git"),
         "hard-codes"),
        ("runtime library missing",
         lambda t: t.replace("      libpqxx-6.4 \\\n", ""), "libpqxx-dev"),
        ("unrelated runtime package",
         lambda t: t.replace("      ca-certificates;", "      ca-certificates curl;"),
         "runtime package curl"),
        ("runs as root", lambda t: t.replace("USER 10001:10001", "USER root"), "USER 10001"),
        ("SQL backends not compiled in",
         lambda t: t.replace("-DRACEWAY_WITH_SQL_BACKENDS=ON", ""), "RACEWAY_WITH_SQL_BACKENDS"),
        ("binary not copied",
         lambda t: t.replace(" /stage/usr/local/bin/raceway-query", ""), "copy raceway-query"),
        ("not Debian 12", lambda t: t.replace("FROM debian:bookworm AS", "FROM debian:trixie AS"),
         "bookworm"),
    ]
    ok = True
    for title, mutate, expect in mutations:
        text = mutate(dockerfile)
        if text == dockerfile:
            print(f"FAIL self-test: mutation {title!r} does not apply")
            ok = False
            continue
        errors = check(text, packages_path, [])
        if not any(expect in e for e in errors):
            print(f"FAIL self-test: mutation {title!r} not caught (got {errors})")
            ok = False
    print(f"self-test Dockerfile: {len(mutations)} injected violations, "
          f"{'all caught' if ok else 'NOT all caught'}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--binary", action="append", default=[])
    ap.add_argument("dockerfile")
    ap.add_argument("packages")
    args = ap.parse_args()
    text = open(args.dockerfile, encoding="utf-8").read()
    if args.self_test:
        return 0 if self_test(text, args.packages) else 1
    errors = check(text, args.packages, args.binary)
    for e in errors:
        print(f"FAIL Dockerfile: {e}")
    what = f"; linked libraries of {len(args.binary)} built binaries" if args.binary else \
        "; built binaries not found, library check skipped"
    print(f"Dockerfile: build stage = '{BUILD_SECTION}' of packages.txt, runtime libraries "
          f"match the -dev packages{what}: {len(errors)} violation(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
