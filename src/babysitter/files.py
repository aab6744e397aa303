"""Files the user trusts us with: one classified path for reading and writing them, and the
rules for run dirs (git's rules for a work tree: recognise what is ours, one writer at a time).

Reading (:func:`read_text`, :func:`read_json`, :func:`read_jsonl`): a missing file, a directory
where a file is expected, bytes that are not UTF-8 text or not JSON are :class:`BadInput` (exit 2)
in one line that names the file. Writing (:func:`write_atomic`, :func:`write_json`,
:func:`writing`): an ``OSError`` (permissions, a full disk, a file size limit) is
:class:`CannotWrite` (exit 1) naming the file; an atomic write leaves the old file whole.
JSON holds only JSON: NaN and +-inf are written as ``null`` (:func:`json_safe`).

Run dirs: :func:`prepare_dir` creates or replaces one. ``--force`` replaces only a folder of
ours (:func:`is_ours`: the marker file :data:`MARKER`, or, for run dirs written before the
marker, ``spec.yaml`` + ``metrics.jsonl``) and never ``.``, the home folder, a parent of the cwd,
``/``, a file or a link (:func:`check_replaceable`). :func:`lock_dir` / :func:`ensure_locked` hold an advisory
``fcntl.flock`` on :data:`LOCK` inside the dir, so a second process on it stops at once with
"in use by pid N"; the kernel drops the lock with its holder, so a killed run leaves no blocker.
"""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path

from babysitter.errors import BadInput, CannotWrite

MARKER = ".babysitter"
LOCK = ".babysitter.lock"
OURS = (MARKER, LOCK)


def reason(e: BaseException) -> str:
    """The first line of an exception's message (an OSError's strerror), or its type's name."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[0] if lines else type(e).__name__


# ---------------------------------------------------------------- reading
def read_bytes(path: str | Path, what: str = "file") -> bytes:
    """The bytes of ``path``; BadInput naming it (``what``: e.g. "spec") if it is absent, a directory or unreadable."""
    path = Path(path)
    if path.is_dir():
        raise BadInput(f"{what} {path} is a directory, not a file")
    if not path.exists():
        raise BadInput(f"{what} file not found: {path}")
    try:
        return path.read_bytes()
    except OSError as e:
        raise BadInput(f"cannot read {what} {path}: {reason(e)}") from None


def read_text(path: str | Path, what: str = "file") -> str:
    """``path`` as UTF-8 text; BadInput (as :func:`read_bytes`, or "not UTF-8 text") otherwise."""
    raw = read_bytes(path, what)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadInput(f"{what} {path} is not UTF-8 text (byte {e.start}: {raw[e.start:e.start + 1]!r})") from None


_ABSENT = object()


def read_json(path: str | Path, what: str = "file", default=_ABSENT, kind: type | None = dict):
    """The JSON value in ``path`` (of type ``kind``, None: any); ``default`` if the file does not
    exist (and ``default`` is given); BadInput naming the file if it is broken."""
    path = Path(path)
    if default is not _ABSENT and not path.exists():
        return default
    text = read_text(path, what)
    try:
        value = json.loads(text)
    except ValueError as e:
        raise BadInput(f"{what} {path} is not valid JSON ({reason(e)}); it may be cut short or corrupted") from None
    if kind is not None and not isinstance(value, kind):
        raise BadInput(f"{what} {path}: expected a JSON {'object' if kind is dict else kind.__name__}, "
                       f"got {type(value).__name__}")
    return value


def read_jsonl(path: str | Path, what: str = "file") -> list[dict]:
    """One JSON object per line. A last line cut short (a run killed mid-write) is dropped; any
    other line that is not a JSON object is BadInput naming the file and the line."""
    path = Path(path)
    lines = read_text(path, what).splitlines()
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as e:
            if n == len(lines) and not line.rstrip().endswith("}"):
                break  # cut short by a kill: the rows before it are whole
            raise BadInput(f"{what} {path} line {n} is not valid JSON ({reason(e)}); the file is corrupted") from None
        if not isinstance(row, dict):
            raise BadInput(f"{what} {path} line {n}: expected a JSON object, got {type(row).__name__}")
        rows.append(row)
    return rows


# ---------------------------------------------------------------- writing
def json_safe(obj):
    """``obj`` with every non-finite float (NaN, +-inf) replaced by None, so it is valid JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def dumps(obj, **kwargs) -> str:
    """json.dumps of :func:`json_safe` ``(obj)``: never writes NaN/Infinity."""
    return json.dumps(json_safe(obj), allow_nan=False, **kwargs)


@contextmanager
def writing(path: str | Path):
    """Turn an OSError raised while writing ``path`` into CannotWrite("could not write PATH: why")."""
    try:
        yield
    except OSError as e:
        raise CannotWrite(f"could not write {e.filename or path}: {reason(e)}") from None


@contextmanager
def atomic_file(path: str | Path):
    """A binary file to write ``path`` through: a temp file ``.NAME.XXXX.tmp`` beside it, fsync'd
    and renamed over ``path`` when the block ends, so readers see the old file or the new one,
    never half of one. A failure removes the temp file and leaves the old file as it was
    (an OSError is CannotWrite naming ``path``). A new file gets the umask's mode, as open() would;
    a replaced file keeps its own mode."""
    path = Path(path)
    if path.is_dir():
        raise BadInput(f"{path} is a directory; babysitter writes a file there: move the directory away")
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            os.fchmod(fd, new_file_mode(path))  # mkstemp makes 0600; the user's other files follow the umask
            with os.fdopen(fd, "wb") as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def new_file_mode(path: str | Path) -> int:
    """The mode a write of ``path`` should leave: the existing file's (a replacement keeps it),
    else 0666 less the umask (what open() gives a new file)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """``data`` (str: UTF-8) written to ``path`` through :func:`atomic_file`."""
    with atomic_file(path) as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)


def write_json(path: str | Path, obj) -> None:
    """``obj`` as indented JSON (NaN -> null), written atomically."""
    write_atomic(path, dumps(obj, indent=2) + "\n")


def clean_stray_tmp(folder: str | Path) -> list[Path]:
    """Remove the ``.*.tmp`` files an atomic write killed mid-way left in ``folder`` and its
    ``checkpoints/`` (and ensemble members'); call it only while holding the dir's lock."""
    folder = Path(folder)
    found = [p for sub in (folder, folder / "checkpoints", *folder.glob("members/*"), *folder.glob("members/*/checkpoints"))
             if sub.is_dir() for p in sub.glob(".*.tmp") if p.is_file()]
    for p in found:
        p.unlink(missing_ok=True)
    return found


# ---------------------------------------------------------------- run dirs
def is_ours(path: str | Path) -> bool:
    """A folder babysitter wrote: it holds the marker, or (a run dir from before the marker)
    both spec.yaml and metrics.jsonl."""
    path = Path(path)
    return path.is_dir() and ((path / MARKER).is_file() or ((path / "spec.yaml").is_file() and (path / "metrics.jsonl").is_file()))


def contents(path: str | Path) -> list[Path]:
    """What a folder holds besides the marker and the lock file (empty for a missing folder)."""
    path = Path(path)
    return sorted(p for p in path.iterdir() if p.name not in OURS) if path.is_dir() else []


def _protected(path: Path) -> str | None:
    """Why ``path`` may never be replaced (the cwd, a parent of it, home, /), or None."""
    here, target = Path.cwd().resolve(), path.resolve()
    if target == here:
        return "it is the current directory"
    if target in here.parents:
        return "it is a parent of the current directory"
    if target == Path.home().resolve():
        return "it is the home directory"
    if target == Path(target.anchor):
        return "it is the root of the file system"
    return None


def check_replaceable(path: str | Path) -> None:
    """BadInput unless ``--force`` may replace ``path``: missing, empty, or a folder of ours that
    is none of cwd / a parent of it / home / ``/`` (those never, like ``rm -rf``'s rails)."""
    path = Path(path)
    if path.is_symlink():
        raise BadInput(f"--force will not replace {path}: it is a symbolic link")
    if not path.exists():
        return
    if not path.is_dir():
        raise BadInput(f"--force will not replace {path}: it is a file, not a run dir; choose another --out")
    why = _protected(path)
    if why is not None:
        raise BadInput(f"--force will not replace {path}: {why}; give --out a new folder")
    held = contents(path)
    if held and not is_ours(path):
        raise BadInput(f"--force will not replace {path}: it is not a babysitter folder (it holds {held[0].name}"
                       f"{f' and {len(held) - 1} more' if len(held) > 1 else ''}); move those files or choose another --out")


def child_dir(root: str | Path, name: str, what: str = "name") -> Path:
    """``root/name`` for a ``name`` that stays inside ``root``: no '/', '\\', '..' or leading '.'."""
    name = str(name)
    if not name or name in (".", "..") or any(c in name for c in "/\\\0") or name.startswith("."):
        raise BadInput(f"{what} '{name}' cannot be a folder name under {root}: use letters, digits, '-', '_' "
                       f"(no '/', '..' or leading '.')")
    return Path(root) / name


def mark(path: str | Path, kind: str = "run") -> None:
    """Write the marker that makes ``path`` recognisably ours (``{"babysitter": kind}``)."""
    with writing(Path(path) / MARKER):
        (Path(path) / MARKER).write_text(dumps({"babysitter": kind}) + "\n")


def clear(path: Path) -> None:
    """Remove everything in ``path`` but its lock file (the lock stays held on the same inode)."""
    for p in path.iterdir():
        if p.name == LOCK:
            continue
        with writing(p):
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()


# One entry per locked dir of this process: [fd or None, users]. flock conflicts even between two
# fds of one process, so every lock of one dir in this process shares the entry's one fd.
_HELD: dict[Path, list] = {}


def _key(path: str | Path) -> Path:
    return Path(os.path.abspath(path))


def _take(path: str | Path) -> int:
    """An fd holding the flock of ``path/LOCK`` (pid written in it); BadInput "in use by pid N"."""
    try:
        fd = os.open(Path(path) / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise BadInput(f"cannot use {path}: {reason(e)}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        os.close(fd)
        if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise BadInput(f"cannot lock {path}: {reason(e)}") from None
        raise BadInput(f"{path} is in use by {f'pid {pid}' if pid.isdigit() else 'another process'} "
                       f"(another babysit run); wait for it to end or use another folder") from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError:
        pass  # the pid is only for the message; the flock is what keeps others out
    return fd


def ensure_locked(path: str | Path) -> bool:
    """Hold the lock of the existing folder ``path``: inside a :func:`lock_dir` block, until it
    ends; otherwise until this process ends (or :func:`release`; True is returned then)."""
    entry = _HELD.setdefault(_key(path), [None, 0])
    bare = entry[1] == 0
    if entry[0] is None:
        try:
            entry[0] = _take(path)
        except BadInput:
            if entry[1] == 0:
                del _HELD[_key(path)]
            raise
    entry[1] = max(entry[1], 1)
    return bare


def release(path: str | Path) -> None:
    """Undo one :func:`lock_dir` (or the :func:`ensure_locked` of a bare call); the last drops the lock."""
    key = _key(path)
    entry = _HELD.get(key)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] <= 0:
        if entry[0] is not None:
            os.close(entry[0])  # closing the fd drops the flock
        del _HELD[key]


@contextmanager
def lock_dir(path: str | Path):
    """Hold ``path``'s lock for the block (BadInput "in use by pid N" at once if another process
    holds it). A folder that does not exist yet is locked when :func:`prepare_dir` creates it
    inside the block, and kept until the block ends."""
    key = _key(path)
    entry = _HELD.setdefault(key, [None, 0])
    entry[1] += 1
    try:
        if entry[0] is None and Path(path).is_dir():
            entry[0] = _take(path)
        yield
    finally:
        release(path)


def prepare_dir(out: str | Path, force: bool = False, kind: str = "run", taken: str | None = None,
                lock: bool = True) -> Path:
    """Create (or, with ``force``, replace) the folder ``out``, marked ours and locked by this
    process (until :func:`release` or the process ends). ``taken``: the BadInput message (may use
    ``{out}``) for a folder that holds something and no ``force``. Stray temp files are removed."""
    out = Path(out)
    if force:
        check_replaceable(out)
    if out.exists() and not out.is_dir():
        raise BadInput(f"{out} is a file, not a folder; choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BadInput(f"cannot create {out}: {reason(e)}") from None
    bare = ensure_locked(out) if lock else False
    try:
        held = contents(out)
        if held and not force:  # checked again under the lock: another process may have filled it
            raise BadInput((taken or "{out} already exists; use --force to replace it").format(out=out))
        if held:
            clear(out)
        else:
            clean_stray_tmp(out)
        mark(out, kind)
    except BaseException:
        if bare:
            release(out)
        raise
    return out
