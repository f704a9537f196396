"""Builds the m365sync wheel: the ctypes package with the C libraries inside it.

setuptools-rust runs cargo for the engine's library (libm365sync) and the
simulator's (libm365sync_sim) and puts both in the package directory, where
`m365sync._lib` looks first, so `import m365sync` needs no environment variable.
The metadata is in pyproject.toml; this file holds what cannot be declared there.

The Cargo workspace is the repository, two levels up. An sdist carries a copy of
it under `rust/`, so a wheel built from the sdist (in a temporary directory, away
from the repository) compiles the same sources with the same Cargo.lock.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import List, Tuple

from setuptools import setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.sdist import sdist
from setuptools_rust import Binding, RustExtension, Strip
from setuptools_rust.build import build_rust

HERE = Path(__file__).resolve().parent
PACKAGE = "m365sync"
#: Where an sdist keeps its copy of the workspace, relative to this directory.
VENDORED = "rust"
#: What of the workspace an sdist copies: the manifests, the lock file and every crate.
WORKSPACE_FILES = ["Cargo.toml", "Cargo.lock", "LICENSE", "README.md", "crates"]


def workspace() -> Path:
    """The Cargo workspace: an sdist's copy, else the repository this directory is in."""
    for candidate in (HERE / VENDORED, HERE.parent.parent):
        if (candidate / "Cargo.lock").is_file() and (candidate / "crates" / "engine").is_dir():
            return candidate
    raise SystemExit(
        f"no Cargo workspace for {HERE}: build from the m365sync repository"
        " (pip install ./bindings/python) or from an sdist made there"
    )


def library_names() -> Tuple[str, str]:
    """The file names of the engine's and the simulator's libraries on this platform,
    as `m365sync._lib` (loaded by path: the package itself imports more) defines them."""
    spec = importlib.util.spec_from_file_location("_m365sync_lib", HERE / PACKAGE / "_lib.py")
    assert spec is not None and spec.loader is not None
    names = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(names)
    return names.LIBRARY_NAME, names.SIM_LIBRARY_NAME


LIBRARY_NAME, SIM_LIBRARY_NAME = library_names()


class build_cdylibs(build_rust):
    """setuptools-rust's build, with each library under its own file name
    (`libm365sync.so`) instead of a Python extension module's
    (`libm365sync.cpython-311-x86_64-linux-gnu.so`): these are plain C libraries,
    loaded by ctypes, importable by no interpreter."""

    def get_dylib_ext_path(self, ext: RustExtension, target_fname: str) -> str:
        module_path = Path(super().get_dylib_ext_path(ext, target_fname))
        return str(module_path.with_name(FILE_NAMES[target_fname]))


class bdist_wheel_any_python(bdist_wheel):
    """Tags the wheel `py3-none-<platform>`: the libraries do not link against
    Python, so one wheel serves every Python 3 on the platform."""

    def get_tag(self) -> Tuple[str, str, str]:
        _, _, platform = super().get_tag()
        return "py3", "none", platform


class sdist_with_workspace(sdist):
    """An sdist that carries the Cargo workspace under `rust/`."""

    def make_release_tree(self, base_dir: str, files: List[str]) -> None:
        super().make_release_tree(base_dir, files)
        source = workspace()
        target = Path(base_dir) / VENDORED
        for name in WORKSPACE_FILES:
            if (source / name).is_dir():
                shutil.copytree(
                    source / name,
                    target / name,
                    ignore=shutil.ignore_patterns("target", "__pycache__"),
                    dirs_exist_ok=True,
                )
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source / name, target / name)


def extension(target: str, crate: str) -> RustExtension:
    """The cdylib of the workspace's `crates/{crate}` as the package's `target`."""
    return RustExtension(
        target,
        path=str(workspace() / "crates" / crate / "Cargo.toml"),
        binding=Binding.NoBinding,
        # The committed Cargo.lock, never a fresh resolution.
        cargo_manifest_args=["--locked"],
        strip=Strip.Debug,
    )


ENGINE, SIMULATOR = f"{PACKAGE}._engine_library", f"{PACKAGE}._simulator_library"
FILE_NAMES = {ENGINE: LIBRARY_NAME, SIMULATOR: SIM_LIBRARY_NAME}

setup(
    rust_extensions=[extension(ENGINE, "engine"), extension(SIMULATOR, "sim")],
    cmdclass={"build_rust": build_cdylibs, "bdist_wheel": bdist_wheel_any_python, "sdist": sdist_with_workspace},
    zip_safe=False,
)
