"""scripts/gpu_parts.py: DALI carried to the GPU machine in parts — split here, received and installed there.

The fast tests run the whole mechanism on a tiny wheel made here (pack, split, receive part by part, join, pip
install --target), a machine that went cold and a corrupted part. The real wheel set for this interpreter's Python
goes through the same mechanism in the GPU check's dry run (tests/test_gpu_check.py), which then uses that install.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_parts.py"
PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
FOREIGN = "tinypkg/_speedups.cpython-39-x86_64-linux-gnu.so"


def _load_script():
    spec = importlib.util.spec_from_file_location("gpu_parts", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_parts"] = module  # its xz workers' function is pickled by module name
    spec.loader.exec_module(module)
    return module


gpu_parts = _load_script()


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def make_wheel(folder: Path, payload: bytes) -> Path:
    """tinypkg 1.0 as a minimal valid wheel: a module, a data file of `payload`, and an extension module for
    Python 3.9 (which prepare leaves out for any other Python)."""
    files = {
        "tinypkg/__init__.py": b"from pathlib import Path\nDATA = (Path(__file__).parent / 'blob.bin').read_bytes()\n",
        "tinypkg/blob.bin": payload,
        FOREIGN: b"\x7fELF not really",
        "tinypkg-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n",
        "tinypkg-1.0.dist-info/WHEEL": (b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                        b"Tag: py3-none-any\n"),
    }
    record = "\n".join(_record_line(name, data) for name, data in files.items())
    files["tinypkg-1.0.dist-info/RECORD"] = (record + "\ntinypkg-1.0.dist-info/RECORD,,\n").encode()
    wheel = folder / "tinypkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


@pytest.fixture
def tiny_parts(tmp_path, request):
    """Parts of the tiny wheel (packed as `request.param`, default xz) in tmp_path/parts, at most 96 KiB each."""
    payload = os.urandom(300_000) + bytes(200_000)  # some incompressible, some not: several parts either way
    wheel = make_wheel(tmp_path, payload)
    how = getattr(request, "param", "xz")
    manifest = gpu_parts.make_parts([wheel], (("tinypkg", "1.0"),), tmp_path / "parts", how, PYTHON_VERSION,
                                    preset=1, jobs=1, max_part=96 * 1024, timings={})
    return tmp_path, manifest, payload


def run(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=cwd, capture_output=True, text=True)


def receive(number: int, tmp_path: Path) -> subprocess.CompletedProcess:
    return run("receive", number, "--parts-dir", tmp_path / "parts", "--stash", tmp_path / "stash", cwd=tmp_path)


def test_only_other_pythons_extension_modules_are_left_out():
    assert gpu_parts.foreign_extension("nvidia/dali/backend_impl.cpython-311-x86_64-linux-gnu.so", "3.12")
    assert gpu_parts.foreign_extension("nvidia/dali/backend_impl.cpython-312t-x86_64-linux-gnu.so", "3.12")
    assert not gpu_parts.foreign_extension("nvidia/dali/backend_impl.cpython-312-x86_64-linux-gnu.so", "3.12")
    assert not gpu_parts.foreign_extension("nvidia/dali/libdali.so", "3.12")
    assert not gpu_parts.foreign_extension("cv2/cv2.abi3.so", "3.12")


@pytest.mark.parametrize("tiny_parts", ["xz", "wheels"], indirect=True)
def test_parts_received_one_by_one_join_and_install_the_wheel(tiny_parts):
    tmp_path, manifest, payload = tiny_parts
    assert len(manifest["parts"]) >= 3
    assert all(part["size"] <= 96 * 1024 for part in manifest["parts"])
    for number in range(1, len(manifest["parts"]) + 1):
        result = receive(number, tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert len(result.stdout.splitlines()) == 1 and f"part {number} of" in result.stdout
    target = tmp_path / "target"
    result = run("install", "--stash", tmp_path / "stash", "--target", target, "--no-check", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    timings = json.loads(result.stdout.splitlines()[-1])
    assert {"join_s", "unpack_s", "pip_s"} <= set(timings) and timings["wheels"] == ["tinypkg==1.0"]
    imported = subprocess.run([sys.executable, "-c", "import tinypkg, sys; sys.stdout.buffer.write(tinypkg.DATA)"],
                              env=dict(os.environ, PYTHONPATH=str(target)), capture_output=True, cwd=tmp_path)
    assert imported.returncode == 0 and imported.stdout == payload
    record = (target / "tinypkg-1.0.dist-info" / "RECORD").read_text()
    pruned = manifest["pack"] == "xz"
    assert (target / FOREIGN).exists() is not pruned and (FOREIGN in record) is not pruned
    assert manifest["left_out"] == ({"tinypkg-1.0-py3-none-any.whl": [FOREIGN]} if pruned else {})


def test_a_machine_gone_cold_is_noticed_at_the_next_part_in_one_line(tiny_parts):
    tmp_path, _, _ = tiny_parts
    result = receive(2, tmp_path)
    assert result.returncode == gpu_parts.COLD
    assert result.stdout.splitlines() == [result.stdout.strip()] and "restart from part 1" in result.stdout
    assert receive(1, tmp_path).returncode == 0
    (tmp_path / "stash" / "part-1.bin").unlink()  # /tmp emptied under a live stash folder
    result = receive(2, tmp_path)
    assert result.returncode == gpu_parts.COLD and "part 1 of" in result.stdout and "went cold" in result.stdout


def test_a_corrupted_part_is_refused_in_one_line(tiny_parts):
    tmp_path, manifest, _ = tiny_parts
    assert receive(1, tmp_path).returncode == 0
    carried = tmp_path / "parts" / "part-2.bin"
    data = bytearray(carried.read_bytes())
    data[100] ^= 0xFF
    carried.write_bytes(bytes(data))
    result = receive(2, tmp_path)
    assert result.returncode == gpu_parts.CORRUPT
    assert result.stdout.splitlines() == [result.stdout.strip()] and "SHA-256" in result.stdout
    assert not (tmp_path / "stash" / "part-2.bin").exists()


def test_install_refuses_a_stash_part_changed_after_it_arrived(tiny_parts):
    tmp_path, manifest, _ = tiny_parts
    for number in range(1, len(manifest["parts"]) + 1):
        assert receive(number, tmp_path).returncode == 0
    (tmp_path / "stash" / "part-1.bin").write_bytes(b"truncated")
    result = run("install", "--stash", tmp_path / "stash", "--target", tmp_path / "target", "--no-check",
                 cwd=tmp_path)
    assert result.returncode == gpu_parts.CORRUPT and len(result.stdout.splitlines()) == 1


def test_install_refuses_parts_made_for_another_python(tiny_parts):
    tmp_path, manifest, _ = tiny_parts
    for number in range(1, len(manifest["parts"]) + 1):
        assert receive(number, tmp_path).returncode == 0
    kept = tmp_path / "stash" / "manifest.json"
    kept.write_text(json.dumps({**json.loads(kept.read_text()), "python_version": "2.7"}))
    result = run("install", "--stash", tmp_path / "stash", "--target", tmp_path / "target", cwd=tmp_path)
    assert result.returncode == gpu_parts.USAGE and "prepare --python-version" in result.stdout
    assert len(result.stdout.splitlines()) == 1


def test_device_commands_receive_each_part_and_install_after_the_last():
    manifest = {"parts": [{}, {}, {}]}
    lines = gpu_parts.device_commands(manifest)
    assert [line.split()[3] for line in lines] == ["1", "2", "3"]
    assert "install" in lines[-1] and not any("install" in line for line in lines[:-1])
    assert all(len(line) < 2000 for line in lines)
