#!/usr/bin/env python3
"""Checks deploy/container/Containerfile without a container engine (none
runs here; hadolint is not available):

- structure: a Debian 12 build stage, a Debian 12 runtime stage, a non-root
  USER, VOLUME /var/lib/prodopsd, EXPOSE 9464, a HEALTHCHECK on /readyz, the
  ENTRYPOINT /usr/bin/prodopsd;
- every package it installs exists in Debian 12 (apt-cache, this machine is
  Debian 12);
- the build stage installs every development package of scripts/setup and
  builds with scripts/build, target prodopsd; the binary it copies is where
  scripts/build puts it;
- the build context its COPY lines create is enough to configure the
  project (cmake, -DPRODOPS_BUILD_TESTS=OFF, in a scratch directory);
- the runtime stage installs the package of every shared library that the
  built prodopsd (PRODOPSD_BINARY) links, except those of the base image.
"""

import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CONTAINERFILE = os.environ.get("PRODOPS_CONTAINERFILE") or os.path.join(
    ROOT, "deploy", "container", "Containerfile")
BASE_IMAGE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g-base"}
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print("FAIL: " + message)


def instructions(path):
    """[(INSTRUCTION, arguments)] with continuations joined, comments dropped."""
    out, current = [], ""
    with open(path) as f:
        for line in f:
            stripped = line.strip()
            if not current and (not stripped or stripped.startswith("#")):
                continue
            if stripped.endswith("\\"):
                current += stripped[:-1] + " "
                continue
            current += stripped
            word, _, rest = current.partition(" ")
            out.append((word.upper(), rest.strip()))
            current = ""
    return out


def stages(instrs):
    result = []
    for word, rest in instrs:
        if word == "FROM":
            result.append({"from": rest, "instrs": []})
        else:
            result[-1]["instrs"].append((word, rest))
    return result


def apt_packages(stage):
    packages = []
    for word, rest in stage["instrs"]:
        if word != "RUN":
            continue
        for command in re.split(r"&&|;", rest):
            tokens = shlex.split(command)
            if "apt-get" in tokens and "install" in tokens:
                after = tokens[tokens.index("install") + 1:]
                packages += [t for t in after if not t.startswith("-")]
    return packages


def setup_packages():
    with open(os.path.join(ROOT, "scripts", "setup")) as f:
        text = f.read()
    body = re.search(r"packages=\((.*?)\)", text, re.S).group(1)
    return [t for line in body.splitlines() for t in line.split("#")[0].split()]


def ensure_apt_lists():
    if glob.glob("/var/lib/apt/lists/*Packages*"):
        return
    print("no apt lists: apt-get update")
    subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=300)


def known_to_apt(packages):
    """The packages of the list that apt knows (one apt-cache call)."""
    result = subprocess.run(["apt-cache", "policy"] + packages, capture_output=True, text=True)
    known, current = set(), None
    for line in result.stdout.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            current = line[:-1]
        elif current and line.strip().startswith("Candidate:") and "(none)" not in line:
            known.add(current)
    return known


def linked_packages(binary):
    result = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True)
    packages = set()
    for line in result.stdout.splitlines():
        m = re.match(r"\s*(\S+) => (\S+)", line)
        if not m:
            continue
        path = os.path.realpath(m.group(2))
        candidates = [path, path[4:] if path.startswith("/usr/") else "/usr" + path]
        for candidate in candidates:  # merged /usr: dpkg knows one of the two
            owner = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
            if owner.returncode == 0:
                break
        if owner.returncode != 0:
            check(False, "no Debian package owns %s (linked by %s)" % (m.group(1), binary))
            continue
        packages.add(owner.stdout.split(":")[0].split(",")[0].strip())
    return packages


def configure_build_context(build_stage):
    """Lays out the build context of the COPY lines and configures it."""
    with tempfile.TemporaryDirectory(prefix="prodopsd-container-") as tmp:
        src = os.path.join(tmp, "src")
        os.makedirs(src)
        for word, rest in build_stage["instrs"]:
            if word != "COPY" or rest.startswith("--from"):
                continue
            *sources, dest = shlex.split(rest)
            for source in sources:
                target = os.path.join(src, dest if dest not in ("./", ".") else "")
                from_path = os.path.join(ROOT, source)
                if os.path.isdir(from_path):
                    shutil.copytree(from_path, os.path.join(src, dest.rstrip("/")),
                                    ignore=shutil.ignore_patterns("build*"))
                else:
                    shutil.copy(from_path, target)
        # The cache options the build stage passes to scripts/build after "--".
        build_runs = " ".join(rest for word, rest in build_stage["instrs"] if word == "RUN")
        options = re.findall(r"(?<!\S)-D\S+", build_runs.replace("\\\n", " "))
        result = subprocess.run(
            ["cmake", "-S", src, "-B", os.path.join(tmp, "build"), "-G", "Ninja",
             "-DCMAKE_BUILD_TYPE=Release"] + options,
            capture_output=True, text=True, timeout=300)
        check(result.returncode == 0,
              "cmake cannot configure the Containerfile's build context:\n"
              + result.stdout[-2000:] + result.stderr[-2000:])


def main():
    all_stages = stages(instructions(CONTAINERFILE))
    check(len(all_stages) == 2, "expected two stages (build, runtime)")
    build, runtime = all_stages[0], all_stages[-1]
    check(re.match(r"(docker\.io/library/)?debian:12(\s+AS\s+build)?$", build["from"], re.I),
          "build stage must be FROM debian:12 AS build, got %r" % build["from"])
    check(re.match(r"(docker\.io/library/)?debian:12-slim$", runtime["from"]),
          "runtime stage must be FROM debian:12-slim, got %r" % runtime["from"])

    rt = {}
    for word, rest in runtime["instrs"]:
        rt.setdefault(word, []).append(rest)
    user = rt.get("USER", ["root"])[-1].split(":")[0]
    check(user not in ("root", "0"), "runtime USER must not be root")
    check(any("/var/lib/prodopsd" in v for v in rt.get("VOLUME", [])), "VOLUME /var/lib/prodopsd")
    check("9464" in " ".join(rt.get("EXPOSE", [])), "EXPOSE 9464")
    check(any("/readyz" in h for h in rt.get("HEALTHCHECK", [])), "HEALTHCHECK on /readyz")
    check(rt.get("ENTRYPOINT", [""])[-1].startswith('["/usr/bin/prodopsd"'),
          "ENTRYPOINT [\"/usr/bin/prodopsd\"]")
    check(any(c.startswith("--from=build /build/prodopsd /usr/bin/prodopsd")
              for c in rt.get("COPY", [])), "COPY --from=build /build/prodopsd /usr/bin/prodopsd")

    build_runs = " ".join(rest for word, rest in build["instrs"] if word == "RUN")
    m = re.search(r"\./scripts/build\s+(\S+)\s+(\S+)\s+prodopsd\b", build_runs)
    check(m is not None, "the build stage must run ./scripts/build TYPE DIR prodopsd")
    if m:
        check(m.group(2) == "/build", "scripts/build's dir must be /build (COPY --from uses it)")
    with open(os.path.join(ROOT, "scripts", "build")) as f:
        script = f.read()
    check('dir="${2:-build}"' in script and "--target" in script,
          "scripts/build no longer takes [TYPE] [DIR] [TARGET...]: update the Containerfile")
    with open(os.path.join(ROOT, "daemon", "app", "CMakeLists.txt")) as f:
        check("RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}" in f.read(),
              "prodopsd is no longer built at the top of the build dir")

    build_packages, runtime_packages = apt_packages(build), apt_packages(runtime)
    # Development packages of scripts/setup, less those only tests or
    # sanitizer builds use.
    dev = [p for p in setup_packages() if p.endswith("-dev")
           and p != "libbenchmark-dev" and not p.startswith("libclang-rt-")]
    tools = ["build-essential", "cmake", "ninja-build", "pkg-config", "protobuf-compiler"]
    for p in dev + tools:
        check(p in build_packages, "build stage lacks %s (in scripts/setup)" % p)
    ensure_apt_lists()
    named = sorted(set(build_packages + runtime_packages))
    known = known_to_apt(named)
    for p in named:
        check(p in known, "package %s does not exist in Debian 12" % p)

    binary = os.environ.get("PRODOPSD_BINARY")
    if binary and os.path.exists(binary):
        for p in sorted(linked_packages(binary) - BASE_IMAGE_PACKAGES):
            check(p in runtime_packages, "runtime stage lacks %s (linked by prodopsd)" % p)
    else:
        check(False, "PRODOPSD_BINARY is not set to a built prodopsd")

    configure_build_context(build)
    if failures:
        sys.exit("%d problem(s)" % len(failures))
    print("check_container: ok")


if __name__ == "__main__":
    main()
