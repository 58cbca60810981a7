"""Check what the built sdist and wheel hold (run by .ci/run).

    python .ci/check_wheel.py DIST_DIR

The wheel must hold the package ``sklm`` and every file git tracks under
``sklm/`` (its subpackages included), its metadata, and nothing else: no tests,
benchmarks, examples or documentation. The sdist must hold the sources, the
README, the LICENSE and pyproject.toml. Prints one line per archive; exits 1 with
the reasons otherwise.
"""

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path


def tracked_package_files(root):
    out = subprocess.run(["git", "ls-files", "sklm"], cwd=root, capture_output=True,
                         text=True, check=True).stdout
    return {line for line in out.splitlines() if line}


def check_wheel(path, expected):
    names = set(zipfile.ZipFile(path).namelist())
    problems = []
    tops = {name.split("/", 1)[0] for name in names}
    info = [t for t in tops if t.endswith(".dist-info")]
    if len(info) != 1 or tops - {"sklm", *info}:
        problems.append(f"top-level entries other than sklm/ and one .dist-info/: "
                        f"{sorted(tops - {'sklm'})}")
    missing = sorted(expected - names)
    if missing:
        problems.append(f"tracked package files missing from the wheel: {missing}")
    stray = sorted(n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pyo")))
    if stray:
        problems.append(f"compiled files in the wheel: {stray[:5]}")
    packages = sorted({str(Path(n).parent) for n in names if n.endswith("/__init__.py")})
    return problems, (f"{path.name}: {len(names)} files, packages {', '.join(packages)}; "
                      f"all {len(expected)} tracked files of sklm/")


def check_sdist(path, expected):
    with tarfile.open(path) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    needed = expected | {"README.md", "LICENSE", "pyproject.toml"}
    missing = sorted(needed - names)
    problems = [f"missing from the sdist: {missing}"] if missing else []
    return problems, f"{path.name}: {len(names)} entries, sources, README, LICENSE"


def main(dist):
    root = Path(__file__).resolve().parents[1]
    expected = tracked_package_files(root)
    wheels, sdists = sorted(Path(dist).glob("*.whl")), sorted(Path(dist).glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        print(f"expected one wheel and one sdist in {dist}, found {wheels + sdists}")
        return 1
    failed = False
    for check, path in ((check_wheel, wheels[0]), (check_sdist, sdists[0])):
        problems, summary = check(path, expected)
        print("\n".join(f"{path.name}: {p}" for p in problems) or summary)
        failed |= bool(problems)
    return int(failed)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
