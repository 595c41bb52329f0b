#!/usr/bin/env python3
"""DALI for the lent GPU machine, carried there in parts: prepared here, received and installed there.

The GPU machine has Python 3.12, torch 2.11 (CUDA 13) and the project's other run-time packages, but no DALI and no
network; code and data reach it only as the repository's working tree, at most 64 MiB per command. So the wheels
DALI adds there travel as parts of at most ~60 MiB, one part per command while the machine stays warm:

  here:   python scripts/gpu_parts.py prepare --out gpu_parts           (make gpu-parts)
  there:  python3 scripts/gpu_parts.py receive 1 --parts-dir gpu_parts --stash /tmp/interhand_gpu_parts
          ...  (carry gpu_parts/manifest.json and gpu_parts/part-K.bin with command K)
          python3 scripts/gpu_parts.py receive N ... && python3 scripts/gpu_parts.py install --stash ... --target ...

`prepare` downloads the pinned wheel set (WHEELS), rewrites each wheel uncompressed (ZIP_STORED) without the
extension modules of other Pythons, tars them and compresses the tar with xz: the libraries' bytes compress far
better than the wheels' deflate did, so fewer parts travel. `install` joins the parts, checks the SHA-256, unpacks
the stored wheels and installs them with `pip install --no-index --no-deps --target`: real wheels, so pip writes
the .dist-info, the .data scripts and the console entry points exactly as it would from PyPI. It then imports
nvidia.dali from the target in a subprocess and runs a small CPU pipeline.

`receive K` checks that parts 1..K-1 are already in the stash (a machine that went cold lost /tmp): if not it
prints one line and exits with COLD (3), and the sequence starts again from part 1.

The device side uses the standard library only (and pip, and the machine's own Pillow/numpy for the check).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import lzma
import math
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

# Exit codes: each failure prints one line first.
USAGE, COLD, CORRUPT, BROKEN = 2, 3, 4, 5
MANIFEST = "manifest.json"
MIB = 2**20
# What `pip install nvidia-dali-cuda130==2.4.0` adds to the GPU machine: DALI's Requires-Dist, followed
# recursively (`derive` re-computes it), less what torch 2.11 (CUDA 13), numpy, matplotlib, pyyaml and pytest
# already brought there: numpy, packaging, pyyaml (libcst's), typing-extensions (optree's). Left out as well:
# `wheel`, which astunparse's metadata names but nothing imports (the check lists every module loaded from
# outside the target). nvidia-nvjpeg: torch's cuda-toolkit extras leave it out, nvimgcodec[all] asks for it
# unpinned (this is the release pip picks). six: astunparse imports it; python-dateutil 4 no longer brings it.
WHEELS = (
    ("nvidia-dali-cuda130", "2.4.0"),
    ("nvidia-nvimgcodec-cu13", "0.9.0.20"),
    ("nvidia-libnvcomp-cu13", "5.3.0.16"),
    ("nvidia-nvjpeg", "13.3.2.43"),
    ("nvidia-nvjpeg2k-cu13", "0.11.0.51"),
    ("nvidia-nvtiff-cu13", "0.8.0.82"),
    ("libcst", "1.9.0"),
    ("nvtx", "0.2.17"),
    ("optree", "0.20.0"),
    ("astunparse", "1.6.3"),
    ("gast", "0.7.0"),
    ("makefun", "1.16.0"),
    ("six", "1.17.0"),
)
# The GPU machine's own packages (what `derive` subtracts): torch's CUDA 13 build and the project's run-time set.
GPU_MACHINE = ("torch==2.11.0", "numpy", "pyarrow", "opencv-python-headless", "pillow", "click", "tqdm",
               "matplotlib", "pyyaml", "pytest")
DALI = "nvidia-dali-cuda130==2.4.0"
# manylinux tags the GPU machine accepts (glibc >= 2.28, as DALI's own wheel needs): pip takes --platform literally.
PLATFORMS = ([f"manylinux_2_{minor}_x86_64" for minor in range(5, 29)]
             + ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64", "linux_x86_64"])
# xz: LZMA2 behind the x86 branch filter (the libraries are x86 code); chunks compressed in parallel, one xz stream
# each (lzma.open reads concatenated streams as one).
XZ_PRESET = 6
XZ_CHUNK = 64 * MIB
EXTENSION = re.compile(r"\.cpython-(\d+)(t?)-[^/]*\.so$")


def fail(code: int, line: str):
    """Print the one line that says what went wrong (and what to do), then exit with `code`."""
    print(f"gpu_parts: {line}", flush=True)
    sys.exit(code)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(4 * MIB):
            digest.update(block)
    return digest.hexdigest()


def platform_args(python_version: str) -> list[str]:
    """pip's options for wheels that install on the GPU machine: manylinux x86_64, CPython `python_version`."""
    args = ["--only-binary=:all:", "--python-version", python_version, "--implementation", "cp"]
    for platform in PLATFORMS:
        args += ["--platform", platform]
    return args


# ---- prepare (here) ---------------------------------------------------------------------------------------------

def download(dest: Path, python_version: str) -> list[Path]:
    """`pip download --no-deps` of WHEELS into `dest` (reused when already there); the wheel files, in WHEELS order."""
    dest.mkdir(parents=True, exist_ok=True)
    pins = [f"{name}=={version}" for name, version in WHEELS]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(dest),
               *platform_args(python_version), *pins]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        fail(BROKEN, f"pip download failed: {result.stderr.strip().splitlines()[-1:]}")
    return [wheel_file(dest, name, version, python_version) for name, version in WHEELS]


def wheel_file(folder: Path, name: str, version: str, python_version: str) -> Path:
    """The one wheel of `name`==`version` in `folder` that fits `python_version` (py3 or its cpXY tag)."""
    stem = re.sub(r"[-_.]+", "_", name).lower()
    tag = "cp" + python_version.replace(".", "")
    found = [path for path in folder.glob("*.whl")
             if path.name.lower().startswith(f"{stem}-{version}-")
             and (f"-{tag}-" in path.name or "-py3-" in path.name or "-py2.py3-" in path.name)]
    if len(found) != 1:
        fail(BROKEN, f"expected one wheel of {name}=={version} for Python {python_version} in {folder}, found "
                     f"{[path.name for path in found]}")
    return found[0]


def foreign_extension(member: str, python_version: str) -> bool:
    """True for an extension module built for another CPython (or a free-threaded one): this interpreter can
    never import it (importlib.machinery.EXTENSION_SUFFIXES names only its own tag, abi3 and plain .so)."""
    match = EXTENSION.search(member)
    return bool(match) and (match.group(1) != python_version.replace(".", "") or match.group(2) == "t")


def stored_wheel(src: Path, dest: Path, python_version: str | None) -> list[str]:
    """Rewrite wheel `src` as `dest` with every member stored uncompressed (so xz sees the raw bytes), leaving out
    other Pythons' extension modules when `python_version` is given (and their lines in RECORD). Members keep
    their names, dates, bytes and permissions. Returns the members left out."""
    with zipfile.ZipFile(src) as wheel_in:
        left_out = [info.filename for info in wheel_in.infolist()
                    if python_version and foreign_extension(info.filename, python_version)]
        with zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as wheel_out:
            for info in wheel_in.infolist():
                if info.filename in left_out:
                    continue
                copy = zipfile.ZipInfo(info.filename, info.date_time)
                copy.external_attr, copy.create_system = info.external_attr, info.create_system
                data = wheel_in.read(info)
                if left_out and info.filename.endswith(".dist-info/RECORD"):
                    data = record_without(data, set(left_out))
                wheel_out.writestr(copy, data)
    return left_out


def record_without(record: bytes, left_out: set[str]) -> bytes:
    """A wheel's RECORD less the lines of the members left out (pip installs what RECORD and the zip agree on)."""
    rows = [row for row in csv.reader(io.StringIO(record.decode())) if row and row[0] not in left_out]
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    return text.getvalue().encode()


def tar_files(paths: list[Path], dest: Path):
    """An uncompressed tar of `paths` by name, with fixed owners and dates (the same wheels give the same tar)."""
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in paths:
            info = tar.gettarinfo(str(path), arcname=path.name)
            info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode = 0, 0, 0, "", "", 0o644
            with open(path, "rb") as stream:
                tar.addfile(info, stream)


def _compress_chunk(job: tuple[str, int, int, int]) -> bytes:
    """One xz stream of `length` bytes of `path` from `offset` (a worker process's share of compress_xz)."""
    path, offset, length, preset = job
    with open(path, "rb") as stream:
        stream.seek(offset)
        data = stream.read(length)
    filters = [{"id": lzma.FILTER_X86}, {"id": lzma.FILTER_LZMA2, "preset": preset}]
    return lzma.compress(data, format=lzma.FORMAT_XZ, filters=filters)


def compress_xz(src: Path, dest: Path, preset: int, jobs: int):
    """xz-compress `src` into `dest` as concatenated streams of XZ_CHUNK bytes each, `jobs` at a time."""
    size = src.stat().st_size
    chunks = [(str(src), offset, min(XZ_CHUNK, size - offset), preset) for offset in range(0, size, XZ_CHUNK)]
    with open(dest, "wb") as out:
        if jobs <= 1:
            out.writelines(map(_compress_chunk, chunks))
            return
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            out.writelines(pool.map(_compress_chunk, chunks))


def split(archive: Path, out: Path, max_part: int) -> list[dict]:
    """Cut `archive` into the fewest parts of at most `max_part` bytes, of near-equal size: out/part-K.bin."""
    size = archive.stat().st_size
    count = max(1, math.ceil(size / max_part))
    part_size = math.ceil(size / count)
    parts = []
    with open(archive, "rb") as stream:
        for number in range(1, count + 1):
            path = out / f"part-{number}.bin"
            path.write_bytes(stream.read(part_size))
            parts.append({"name": path.name, "size": path.stat().st_size, "sha256": sha256_of(path)})
    return parts


def pack(wheels: list[Path], build: Path, how: str, python_version: str, preset: int, jobs: int) -> tuple[Path, dict]:
    """The archive that travels: `wheels` tarred as they are, or stored, pruned, tarred and xz-compressed.
    Returns it and, by wheel file name, the members left out."""
    if how == "wheels":
        archive = build / "payload.tar"
        tar_files(wheels, archive)
        return archive, {}
    stored_dir = build / "stored"
    shutil.rmtree(stored_dir, ignore_errors=True)
    stored_dir.mkdir(parents=True)
    left_out = {wheel.name: stored_wheel(wheel, stored_dir / wheel.name, python_version) for wheel in wheels}
    tar_path, archive = build / "payload-stored.tar", build / "payload.tar.xz"
    tar_files(sorted(stored_dir.glob("*.whl"), key=lambda path: [w.name for w in wheels].index(path.name)), tar_path)
    compress_xz(tar_path, archive, preset, jobs)
    tar_path.unlink()
    shutil.rmtree(stored_dir)
    return archive, {name: members for name, members in left_out.items() if members}


def prepare(args) -> dict:
    """Download WHEELS, then make the parts and the manifest (make_parts); print what to carry."""
    out = Path(args.out)
    start = time.perf_counter()
    wheels = download(Path(args.wheels_dir) if args.wheels_dir else out / "wheels", args.python_version)
    download_s = round(time.perf_counter() - start, 1)
    manifest = make_parts(wheels, WHEELS, out, args.pack, args.python_version, args.xz_preset, args.jobs,
                          int(args.max_part_mb * MIB), {"download_s": download_s})
    print_plan(manifest, out)
    return manifest


def make_parts(wheels: list[Path], pins: tuple, out: Path, how: str, python_version: str, preset: int, jobs: int,
               max_part: int, timings: dict) -> dict:
    """Pack `wheels` (pinned as `pins`), split the archive into out/part-K.bin, write out/manifest.json."""
    build = out / "build"
    build.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("part-*.bin"):
        stale.unlink()
    start = time.perf_counter()
    archive, left_out = pack(wheels, build, how, python_version, preset, jobs)
    timings["pack_s"], start = round(time.perf_counter() - start, 1), time.perf_counter()
    parts = split(archive, out, max_part)
    timings["split_s"] = round(time.perf_counter() - start, 1)
    archive_entry = {"name": archive.name, "size": archive.stat().st_size, "sha256": sha256_of(archive)}
    archive.unlink()  # the parts are its copy
    wheel_bytes = sum(wheel.stat().st_size for wheel in wheels)
    manifest = {
        "python_version": python_version, "pack": how, "xz_preset": preset if how == "xz" else None,
        "max_part_bytes": max_part,
        "archive": archive_entry, "parts": parts,
        "wheels": [{"file": wheel.name, "name": name, "version": version, "size": wheel.stat().st_size}
                   for wheel, (name, version) in zip(wheels, pins)],
        "left_out": left_out, "wheel_bytes": wheel_bytes,
        "parts_if_wheels_as_they_are": math.ceil(wheel_bytes / max_part), "timings": timings,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def print_plan(manifest: dict, out: Path):
    """What prepare made, and each device command with its carry paths."""
    archive = manifest["archive"]
    print(f"{len(manifest['wheels'])} wheels, {manifest['wheel_bytes'] / 1e6:.1f} MB as downloaded "
          f"(as they are: {manifest['parts_if_wheels_as_they_are']} parts); packed '{manifest['pack']}': "
          f"{archive['size'] / 1e6:.1f} MB in {len(manifest['parts'])} parts; {manifest['timings']}")
    for number, command in enumerate(device_commands(manifest, parts_dir=str(out)), 1):
        carry = [str(out / MANIFEST), str(out / f"part-{number}.bin")]
        print(f"command {number}: carry {json.dumps(carry)}\n  {command}")


def device_commands(manifest: dict, parts_dir: str = "gpu_parts", stash: str = "/tmp/interhand_gpu_parts",
                    target: str = "/tmp/interhand_dali") -> list[str]:
    """The command line of each device call: receive part K; the last one also installs and checks."""
    count = len(manifest["parts"])
    lines = [f"python3 scripts/gpu_parts.py receive {number} --parts-dir {parts_dir} --stash {stash}"
             for number in range(1, count + 1)]
    lines[-1] += f" && python3 scripts/gpu_parts.py install --stash {stash} --target {target}"
    return lines


def derive(args):
    """Print what `pip install nvidia-dali-cuda130` adds to the GPU machine's set (pip's resolver on the
    registry's metadata, nothing downloaded but that metadata): the source of WHEELS."""
    def resolve(requirements: tuple[str, ...]) -> dict[str, str]:
        with tempfile.TemporaryDirectory() as scratch:
            report = Path(scratch) / "report.json"
            command = [sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed",
                       "--report", str(report), "--target", str(Path(scratch) / "t"),
                       *platform_args(args.python_version), *requirements]
            subprocess.run(command, check=True, capture_output=True)
            return {item["metadata"]["name"].lower(): item["metadata"]["version"]
                    for item in json.loads(report.read_text())["install"]}
    machine, with_dali = resolve(GPU_MACHINE), resolve(GPU_MACHINE + (DALI,))
    for name, version in sorted(with_dali.items()):
        if machine.get(name) != version:
            print(f"{name}=={version}" + (f"  (the machine's own: {machine[name]})" if name in machine else ""))


# ---- receive and install (there) --------------------------------------------------------------------------------

def load_manifest(path: Path, missing_line: str, code: int) -> dict:
    if not path.is_file():
        fail(code, missing_line)
    return json.loads(path.read_text())


def check_stash(manifest: dict, stash: Path, upto: int):
    """Parts 1..`upto` must be in `stash` with their SHA-256: a missing one means the machine went cold."""
    count = len(manifest["parts"])
    for number, part in enumerate(manifest["parts"][:upto], 1):
        path = stash / part["name"]
        if not path.is_file():
            fail(COLD, f"part {number} of {count} is not in {stash}: the machine went cold; "
                       f"restart from part 1")
        if path.stat().st_size != part["size"] or sha256_of(path) != part["sha256"]:
            fail(CORRUPT, f"part {number} of {count} in {stash} does not match its SHA-256; restart from part 1")


def receive(args):
    """Copy part K (carried in the tree) into the stash after checking the parts before it arrived."""
    parts_dir, stash, number = Path(args.parts_dir), Path(args.stash), args.part
    manifest = load_manifest(parts_dir / MANIFEST, f"{parts_dir / MANIFEST} was not carried (carry it with every "
                                                   f"part)", USAGE)
    count = len(manifest["parts"])
    if not 1 <= number <= count:
        fail(USAGE, f"part {number} is not one of 1..{count}")
    if number == 1:
        shutil.rmtree(stash, ignore_errors=True)
        stash.mkdir(parents=True)
        shutil.copyfile(parts_dir / MANIFEST, stash / MANIFEST)
    else:
        kept = load_manifest(stash / MANIFEST, f"{stash} is empty: the machine went cold; restart from part 1",
                             COLD)
        if kept["archive"]["sha256"] != manifest["archive"]["sha256"]:
            fail(COLD, f"{stash} holds the parts of another archive (prepared again since part 1); "
                       f"restart from part 1")
    check_stash(manifest, stash, number - 1)
    part = manifest["parts"][number - 1]
    carried = parts_dir / part["name"]
    if not carried.is_file() or sha256_of(carried) != part["sha256"]:
        fail(CORRUPT, f"part {number} of {count} as carried ({carried}) is missing or does not match its SHA-256 "
                      f"in the manifest; carry it again")
    shutil.copyfile(carried, stash / (part["name"] + ".partial"))
    os.replace(stash / (part["name"] + ".partial"), stash / part["name"])
    then = f"next: part {number + 1}" if number < count else "all parts here: run install"
    print(f"gpu_parts: part {number} of {count} received, parts 1..{number} verified in {stash}; {then}", flush=True)


def join(manifest: dict, stash: Path) -> Path:
    """Concatenate the parts into the archive and check its SHA-256."""
    archive = stash / manifest["archive"]["name"]
    digest = hashlib.sha256()
    with open(archive, "wb") as out:
        for part in manifest["parts"]:
            data = (stash / part["name"]).read_bytes()
            digest.update(data)
            out.write(data)
    if digest.hexdigest() != manifest["archive"]["sha256"]:
        fail(CORRUPT, f"the joined archive {archive} does not match its SHA-256; restart from part 1")
    return archive


def unpack(archive: Path, dest: Path) -> list[Path]:
    """The wheels out of the archive (tar, or tar.xz of concatenated streams: lzma reads them as one, tarfile's
    own xz stream would stop after the first), read once front to back: listing the members first would
    decompress the whole archive twice."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    opener = lzma.open if archive.name.endswith(".xz") else open
    with opener(archive, "rb") as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            if not member.isfile() or "/" in member.name or not member.name.endswith(".whl"):
                fail(CORRUPT, f"{archive} holds {member.name!r}, not a wheel")
            with tar.extractfile(member) as source, open(dest / member.name, "wb") as out:
                shutil.copyfileobj(source, out, 4 * MIB)
    return sorted(dest.glob("*.whl"))


def pip_install(wheels: list[Path], target: Path):
    """`pip install --no-index --no-deps --target` of exactly these wheels, into a fresh target."""
    if target.exists():
        if not (target / ".gpu_parts").is_file() and any(target.iterdir()):
            fail(USAGE, f"{target} exists and was not made by gpu_parts: name another --target")
        shutil.rmtree(target)
    target.mkdir(parents=True)
    (target / ".gpu_parts").write_text("installed by scripts/gpu_parts.py install\n")
    # --no-compile: byte-compiling all of DALI's modules costs more than compiling the few that import
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-compile",
               "--disable-pip-version-check", "--target", str(target), *map(str, wheels)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:]
        fail(BROKEN, f"pip install --target {target} failed (exit {result.returncode}): {tail}")


def run_check(target: Path) -> dict:
    """`check` in a subprocess whose PYTHONPATH is the target alone: its last line is its JSON report."""
    env = dict(os.environ, PYTHONPATH=str(target))
    result = subprocess.run([sys.executable, str(Path(__file__).resolve()), "check", "--target", str(target)],
                            capture_output=True, text=True, env=env)
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        tail = (lines[-1:] or result.stderr.strip().splitlines()[-1:])
        fail(BROKEN, f"the DALI check from {target} failed (exit {result.returncode}): {tail}")
    return json.loads(lines[-1])


def install(args):
    """Join, verify, unpack, pip-install into the target, check DALI there; one JSON line with the timings."""
    stash, target = Path(args.stash), Path(args.target)
    manifest = load_manifest(stash / MANIFEST, f"{stash} is empty: the machine went cold; restart from part 1", COLD)
    check_stash(manifest, stash, len(manifest["parts"]))
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if running != manifest["python_version"]:
        fail(USAGE, f"the parts were prepared for Python {manifest['python_version']}, this is {running}: "
                    f"prepare --python-version {running}")
    timings = {}
    start = time.perf_counter()
    archive = join(manifest, stash)
    timings["join_s"], start = round(time.perf_counter() - start, 2), time.perf_counter()
    wheels = unpack(archive, stash / "wheels")
    archive.unlink()
    timings["unpack_s"], start = round(time.perf_counter() - start, 2), time.perf_counter()
    pip_install(wheels, target)
    timings["pip_s"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    report = run_check(target) if args.check else {}
    timings["check_s"] = round(time.perf_counter() - start, 2)
    print(json.dumps({**report, **timings, "target": str(target),
                      "wheels": [f"{w['name']}=={w['version']}" for w in manifest["wheels"]]}), flush=True)


# ---- the check (a subprocess of install, PYTHONPATH = the target) -----------------------------------------------

def check(args):
    """Import nvidia.dali from the target, decode four small JPEGs in a CPU pipeline (and, where a GPU is seen, in a
    `mixed` one: nvJPEG from the target), list what was loaded from outside the target; print one JSON line. Only
    the import and the CPU pipeline can fail it: the rest is reported, so a command that goes on after install
    (the GPU check) still runs."""
    target = Path(args.target).resolve()
    start = time.perf_counter()
    import nvidia.dali
    import nvidia.dali.backend
    import_s = round(time.perf_counter() - start, 2)
    if not Path(nvidia.dali.__file__).resolve().is_relative_to(target):
        fail(BROKEN, f"nvidia.dali came from {nvidia.dali.__file__}, not from {target}")
    devices = nvidia.dali.backend.GetCUDADeviceCount()
    start = time.perf_counter()
    try:
        shapes = decode_jpegs("cpu")
    except Exception as error:  # one line, whatever DALI raised
        fail(BROKEN, f"the CPU pipeline failed: {first_line(error)}")
    pipeline_s = round(time.perf_counter() - start, 2)
    mixed = "no GPU seen"
    if devices:
        try:
            decode_jpegs("mixed")
            mixed = "ok"
        except Exception as error:
            mixed = f"failed: {first_line(error)}"
    print(json.dumps({"dali": nvidia.dali.__version__, "cuda_devices": devices, "import_s": import_s,
                      "pipeline_s": pipeline_s, "decoded_shapes": shapes, "mixed_decode": mixed,
                      "nvidia_outside": nvidia_outside(target), "host_modules": host_modules(target)}))


def first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]


def decode_jpegs(device: str) -> list[list[int]]:
    """fn.readers.file → fn.decoders.image on `device` ("cpu", or "mixed": GPU 0) over four generated 64×48 JPEGs of
    known grey levels; the decoded shapes, each image checked against its level."""
    import numpy as np
    from nvidia.dali import fn, pipeline_def
    from PIL import Image

    with tempfile.TemporaryDirectory() as scratch:
        files = []
        for index in range(4):
            files.append(str(Path(scratch) / f"{index}.jpg"))
            Image.fromarray(np.full((48, 64, 3), 40 * index + 20, np.uint8)).save(files[-1], quality=95)

        @pipeline_def(batch_size=2, num_threads=1, device_id=0 if device == "mixed" else None)
        def pipeline():
            jpegs, labels = fn.readers.file(files=files, labels=list(range(4)), random_shuffle=False)
            return fn.decoders.image(jpegs, device=device), labels

        pipe = pipeline()
        pipe.build()
        shapes = []
        for _ in range(2):
            images, labels = pipe.run()
            images = images.as_cpu() if device == "mixed" else images
            for i in range(len(images)):
                image, label = np.asarray(images.at(i)), int(np.asarray(labels.at(i)).item())
                if image.shape != (48, 64, 3) or abs(float(image.mean()) - (40 * label + 20)) > 3:
                    raise ValueError(f"{device}: image {label} decoded as {image.shape}, mean {image.mean():.1f}")
                shapes.append(list(image.shape))
        return shapes


def nvidia_outside(target: Path) -> list[str]:
    """NVIDIA Python modules and shared libraries this process loaded from anywhere but `target`."""
    found = [getattr(module, "__file__", None) or "" for name, module in list(sys.modules.items())
             if name == "nvidia" or name.startswith("nvidia.")]
    maps = Path("/proc/self/maps")
    if maps.is_file():  # fields: address perms offset dev inode path
        found += [fields[5] for fields in map(str.split, maps.read_text().splitlines())
                  if len(fields) >= 6 and ".so" in fields[5].rsplit("/", 1)[-1]]
    paths = {path for path in found if "/nvidia/" in path}
    return sorted(path for path in paths if not Path(path).resolve().is_relative_to(target))


def host_modules(target: Path) -> list[str]:
    """Top-level packages loaded from neither the target nor the standard library: what the GPU machine must have."""
    names = set()
    for name, module in list(sys.modules.items()):
        file, top = getattr(module, "__file__", None), name.split(".")[0]
        if file and top not in sys.stdlib_module_names and not Path(file).resolve().is_relative_to(target):
            names.add(top)
    return sorted(names - {"__main__", "__mp_main__"})


# ---- command line -----------------------------------------------------------------------------------------------

def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare", help="download, pack and split DALI's wheels (here)")
    prep.add_argument("--out", default="gpu_parts")
    prep.add_argument("--python-version", default="3.12", help="the GPU machine's Python")
    prep.add_argument("--max-part-mb", type=float, default=60.0, help="MiB per part (a command carries <= 64 MiB)")
    prep.add_argument("--pack", choices=("xz", "wheels"), default="xz",
                      help="xz: stored, pruned wheels in a tar.xz; wheels: the wheels as they are, in a tar")
    prep.add_argument("--xz-preset", type=int, default=XZ_PRESET)
    prep.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="xz compressions at a time")
    prep.add_argument("--wheels-dir", help="download into (or reuse) this folder instead of OUT/wheels")
    der = commands.add_parser("derive", help="print what DALI adds to the GPU machine's packages (pip metadata)")
    der.add_argument("--python-version", default="3.12")
    rec = commands.add_parser("receive", help="put part K in the stash after checking parts 1..K-1 (there)")
    rec.add_argument("part", type=int)
    rec.add_argument("--parts-dir", default="gpu_parts")
    rec.add_argument("--stash", default="/tmp/interhand_gpu_parts")
    ins = commands.add_parser("install", help="join, verify, pip install --target, check DALI (there)")
    ins.add_argument("--stash", default="/tmp/interhand_gpu_parts")
    ins.add_argument("--target", default="/tmp/interhand_dali")
    ins.add_argument("--no-check", dest="check", action="store_false", help="install only (the tests' tiny wheels)")
    chk = commands.add_parser("check", help="import DALI and run a CPU pipeline (PYTHONPATH = the target)")
    chk.add_argument("--target", required=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None):
    args = parse(argv)
    {"prepare": prepare, "derive": derive, "receive": receive, "install": install, "check": check}[args.command](args)


if __name__ == "__main__":
    main()
