"""Find, verify and download the DM21 model checkpoints.

The checkpoints are the published parameters of DM21, DM21m, DM21mc and DM21mu from
J. Kirkpatrick et al., "Pushing the frontiers of density functionals by solving the fractional
electron problem", Science 374, 1385 (2021), doi:10.1126/science.abj6511, licensed under
CC BY 4.0. They are never stored in this repository: only their SHA-256 sums are
(``dm21_sha256sums.txt``), and every copy is checked against them before use.

A copy is looked for, in order, in ``$DM21_CHECKPOINTS``, in the user cache (``$DM21_CACHE_DIR``
or the platform cache folder) and in ``../shared/dm21/checkpoints`` beside the repository.
``python -m explorer weights download`` fills the user cache.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import os
import shutil
import stat
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from importlib.resources import files
from pathlib import Path

import platformdirs

from explorer import settings
from explorer.errors import WeightsError
from explorer.functionals import DM21_NAMES
from explorer.settings import CHECKPOINTS_ENV

OFFICIAL_COMMIT = "72c72d530f7de050451014895c1068b588f94733"
OFFICIAL_BASE_URL = (
    "https://raw.githubusercontent.com/google-deepmind/deepmind-research/"
    f"{OFFICIAL_COMMIT}/density_functional_approximation_dm21/density_functional_approximation_dm21"
)


DOWNLOAD_COMMAND = "python -m explorer weights download"

_SUMS_RESOURCE = "dm21_sha256sums.txt"
_CHUNK = 1 << 20

_verified: set[tuple] = set()
_verified_lock = threading.Lock()


def _fix_hint() -> str:
    """Return the one-clause fix suggestion that fits the current environment."""
    folders = ", ".join(f"{n}/" for n in DM21_NAMES)
    if settings.checkpoints_path():
        return (
            f"fix: point {CHECKPOINTS_ENV} at a folder holding intact {folders}, "
            f"or unset it and run `{DOWNLOAD_COMMAND}`"
        )
    return f"fix: run `{DOWNLOAD_COMMAND}` (or set {CHECKPOINTS_ENV} to a folder holding {folders})"


def _check_name(name: object) -> str:
    """Return ``name`` if it is one of DM21_NAMES, else raise WeightsError."""
    if not isinstance(name, str) or name not in DM21_NAMES:
        raise WeightsError(f"unknown DM21 checkpoint {name!r}; valid names: {', '.join(DM21_NAMES)}")
    return name


@functools.cache
def _load_sums() -> dict[str, str]:
    """Parse the packaged SHA-256 list into {relative path: hex digest}."""
    text = files("explorer.engine").joinpath(_SUMS_RESOURCE).read_text(encoding="utf-8")
    sums: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        digest, _, rel = line.partition("  ")
        sums[rel.strip()] = digest.strip().lower()
    return sums


def expected_sums() -> dict[str, str]:
    """Return {"checkpoints/NAME/file": sha256 hex digest} for every published checkpoint file.

    Read once from the packaged ``dm21_sha256sums.txt``; the caller gets its own copy.
    """
    return dict(_load_sums())


def _checkpoint_files(name: str) -> dict[str, str]:
    """Return {path inside the checkpoint folder: sha256} for the checkpoint ``name``."""
    prefix = f"checkpoints/{name}/"
    return {rel[len(prefix) :]: digest for rel, digest in expected_sums().items() if rel.startswith(prefix)}


def cache_dir() -> Path:
    """Return the folder that downloads go to and that is searched after $DM21_CHECKPOINTS.

    ``$DM21_CACHE_DIR/checkpoints`` if that variable is set, else ``checkpoints`` in the
    platform's user cache folder for "dm21-explorer".
    """
    override = settings.cache_path()
    if override:
        return override / "checkpoints"
    return Path(platformdirs.user_cache_dir("dm21-explorer")) / "checkpoints"


def network_cache_dir() -> Path:
    """Return the folder of the parameter cache of explorer.engine.network: ``networks`` beside
    cache_dir() (in $DM21_CACHE_DIR or the platform's user cache folder for "dm21-explorer")."""
    return cache_dir().parent / "networks"


def _shared_root() -> Path:
    """Return ``<repo>/../shared/dm21/checkpoints``, where <repo> holds the explorer package."""
    repo = Path(__file__).resolve().parents[2]
    return repo.parent / "shared" / "dm21" / "checkpoints"


def candidate_roots() -> list[tuple[str, Path]]:
    """Return the (label, folder) pairs searched for checkpoints, in search order.

    Each folder holds DM21/, DM21m/, ... directly. The list is $DM21_CHECKPOINTS (only if set),
    the cache folder, then the shared folder beside the repository.
    """
    roots: list[tuple[str, Path]] = []
    override = settings.checkpoints_path()
    if override:
        roots.append((CHECKPOINTS_ENV, override))
    roots.append(("cache", cache_dir()))
    roots.append(("shared", _shared_root()))
    return roots


def _sha256(path: Path) -> str:
    """Return the hex SHA-256 of the file at ``path``, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def verify_checkpoint(root: Path, name: str) -> None:
    """Check that every published file of checkpoint ``name`` under ``root/name`` is intact.

    Raises WeightsError naming the first missing file or checksum mismatch. A successful check
    is remembered for this process as long as the files keep their inode, size and mtime.
    """
    _check_name(name)
    folder = Path(root) / name
    if not folder.is_dir():
        raise WeightsError(f"DM21 checkpoint folder {folder} is missing; {_fix_hint()}")

    wanted = _checkpoint_files(name)
    fingerprint = []
    for rel in wanted:
        path = folder / rel
        try:
            st = path.stat()
        except OSError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode):
            raise WeightsError(f"DM21 checkpoint file {path} is missing; {_fix_hint()}")
        fingerprint.append((rel, st.st_ino, st.st_size, st.st_mtime_ns))
    key = (str(folder.resolve()), name, tuple(fingerprint))

    with _verified_lock:
        if key in _verified:
            return

    # Hash outside the lock: two threads may both hash the same copy, which is harmless.
    for rel, digest in wanted.items():
        path = folder / rel
        try:
            actual = _sha256(path)
        except OSError as exc:
            raise WeightsError(
                f"DM21 checkpoint file {path} cannot be read ({exc.strerror or exc}); {_fix_hint()}"
            ) from exc
        if actual != digest:
            raise WeightsError(
                f"DM21 checkpoint file {path}: checksum mismatch (expected sha256 {digest[:12]}..., "
                f"got {actual[:12]}...); {_fix_hint()}"
            )

    with _verified_lock:
        _verified.add(key)


def _locate(name: str) -> tuple[Path | None, list[str]]:
    """Return (first existing ``<root>/<name>`` or None, descriptions of the places looked in).

    When $DM21_CHECKPOINTS is set it is the only place looked in, so a wrong setting is reported
    instead of being hidden by another copy.
    """
    roots = candidate_roots()
    if settings.checkpoints_path():
        roots = roots[:1]
    looked = []
    for label, root in roots:
        folder = root / name
        looked.append(f"{label} {folder}")
        if folder.exists():
            return folder, looked
    return None, looked


def find_checkpoint(name: str) -> Path:
    """Return the verified folder of checkpoint ``name`` (DM21, DM21m, DM21mc or DM21mu).

    Uses the first candidate root that has a ``<root>/<name>`` folder; if $DM21_CHECKPOINTS is
    set, only that root. Raises WeightsError if the name is unknown, if no copy exists, or if
    the copy found is incomplete or fails its checksums (no fallback to another copy).
    """
    _check_name(name)
    folder, looked = _locate(name)
    if folder is None:
        raise WeightsError(
            f"DM21 checkpoint {name} not found (looked in: {'; '.join(looked)}); {_fix_hint()}"
        )
    verify_checkpoint(folder.parent, name)
    return folder


def status() -> list[dict]:
    """Report every checkpoint as {"name", "path", "ok", "error"}.

    ``path`` is the copy that would be used (None if there is none); ``error`` is the
    WeightsError message when ``ok`` is False.
    """
    report = []
    for name in DM21_NAMES:
        folder, _ = _locate(name)
        try:
            find_checkpoint(name)
        except WeightsError as exc:
            entry = {"name": name, "ok": False, "error": str(exc)}
        else:
            entry = {"name": name, "ok": True, "error": None}
        entry["path"] = str(folder) if folder is not None else None
        report.append({k: entry[k] for k in ("name", "path", "ok", "error")})
    return report


def _make_writable(path: Path) -> None:
    """Give the owner full access to folder ``path`` and every folder under it (best effort)."""

    def allow(p: str) -> None:
        try:
            os.chmod(p, os.stat(p).st_mode | stat.S_IRWXU)
        except OSError:
            pass

    allow(str(path))
    # Top-down walk: each folder is opened up before os.walk lists it.
    for top, dirs, _ in os.walk(path):
        for d in dirs:
            allow(os.path.join(top, d))


def _remove_tree(path: Path) -> None:
    """Delete ``path`` recursively, even if it holds read-only folders."""
    if not path.exists() and not path.is_symlink():
        return
    if path.is_dir() and not path.is_symlink():
        _make_writable(path)
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _fetch(url: str, target: Path, digest: str, timeout: float) -> None:
    """Download ``url`` to ``target`` and check its SHA-256; raise WeightsError on any failure."""
    h = hashlib.sha256()
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(target, "wb") as out:
            while chunk := response.read(_CHUNK):
                h.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise WeightsError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise WeightsError(f"download of {url} failed: {exc.reason}") from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise WeightsError(f"download of {url} failed: {str(exc) or type(exc).__name__}") from exc
    actual = h.hexdigest()
    if actual != digest:
        raise WeightsError(
            f"download of {url} failed: checksum mismatch (expected sha256 {digest[:12]}..., "
            f"got {actual[:12]}...)"
        )


def download(
    dest: Path | None = None,
    base_url: str | None = None,
    names: Iterable[str] = DM21_NAMES,
    timeout: float = 60,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Download and verify the given checkpoints into ``dest`` and return ``dest``.

    ``dest`` defaults to cache_dir(); ``base_url`` to $DM21_WEIGHTS_URL or OFFICIAL_BASE_URL (each
    file is fetched from ``base_url + "/checkpoints/NAME/file"``). Everything is fetched into a
    temporary folder inside ``dest`` and checked against the published SHA-256 sums first; only
    then is each ``dest/NAME`` replaced. On failure nothing is installed, no temporary files are
    left, and WeightsError names the URL and the problem. ``progress`` receives status messages.
    """
    if isinstance(names, str):
        names = (names,)
    names = list(dict.fromkeys(_check_name(n) for n in names))
    dest = Path(dest).expanduser() if dest is not None else cache_dir()
    base_url = (base_url or settings.weights_url() or OFFICIAL_BASE_URL).rstrip("/")
    say = progress or (lambda message: None)
    created = not dest.exists()
    try:
        dest.mkdir(parents=True, exist_ok=True)
        # The staging folder sits inside dest so the final renames stay on one filesystem.
        staging = Path(tempfile.mkdtemp(prefix=".dm21-download-", dir=dest))
    except OSError as exc:
        raise WeightsError(f"cannot create the checkpoint folder {dest}: {exc}") from exc

    try:
        for name in names:
            for rel, digest in _checkpoint_files(name).items():
                url = f"{base_url}/checkpoints/{name}/{rel}"
                say(f"downloading {url}")
                _fetch(url, staging / "checkpoints" / name / rel, digest, timeout)
            say(f"{name}: all files match their checksums")

        for name in names:
            new, target = staging / "checkpoints" / name, dest / name
            old = None
            try:
                if target.exists() or target.is_symlink():
                    old = staging / f"replaced-{name}"
                    if target.is_dir() and not target.is_symlink():
                        # Moving a folder to another parent needs write access to the folder.
                        _make_writable(target)
                    target.rename(old)
                new.rename(target)
            except OSError as exc:
                if old is not None and not target.exists():
                    old.rename(target)
                raise WeightsError(f"cannot install checkpoint {name} into {target}: {exc}") from exc
            say(f"{name}: installed in {target}")
    except BaseException:
        _remove_tree(staging)
        if created:
            try:
                dest.rmdir()
            except OSError:
                pass
        raise
    _remove_tree(staging)
    return dest
