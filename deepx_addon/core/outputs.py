"""Where a command may write, checked before any work (numpy-free, no bpy).

One rule for every command: an output never resolves to an input (also through symlinks and hard
links), a command never writes inside a folder it reads from, and an output folder never holds the
inputs (its files could be replaced). ``check_outputs`` enforces it; ``check_writable`` proves a
file or folder can be written before hours of work (read-only, a folder where a file goes, a full
disk); ``folder_lock`` refuses a second run writing into the same folder; ``path_text`` turns any
file name (also undecodable bytes) into printable text for messages and JSON.
"""
from __future__ import annotations

import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path

PROBE_BYTES = 64 * 1024     # written and removed by check_writable: a full disk fails here, not at the end
LOCK_NAME = ".deepx.lock"


class OutputError(OSError):
    """An output that cannot or must not be written. The message names the path and why."""


def path_text(p) -> str:
    """A path as printable text: bytes that are not UTF-8 appear as \\xNN instead of raising later
    in print() or json.dumps (os.fsdecode keeps them as lone surrogates)."""
    s = os.fsdecode(p) if isinstance(p, bytes) else str(p)
    return s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _real(p) -> str:
    return os.path.realpath(os.path.abspath(os.fspath(p)))


def _inside(child: str, folder: str) -> bool:
    return child == folder or child.startswith(folder.rstrip(os.sep) + os.sep)


def _same_file(a, b) -> bool:
    try:
        return os.path.samefile(a, b)      # hard links and bind mounts too
    except OSError:
        return False


def check_outputs(inputs=(), outputs=(), out_dirs=()) -> None:
    """Raise OutputError when an output file is an input (realpath or same inode), an output file or
    folder lies inside an input folder, or an input lies inside an output folder.

    inputs: files and folders the command reads; outputs: files it writes; out_dirs: folders it
    writes into (anything inside may be created or replaced)."""
    ins = [(os.fspath(p), _real(p), os.path.isdir(p)) for p in inputs if p is not None]
    for o in (o for o in outputs if o is not None):
        ro = _real(o)
        for raw, ri, is_dir in ins:
            if ro == ri or _same_file(o, raw):
                raise OutputError(f"output {path_text(o)} is the input {path_text(raw)}: it would be overwritten; "
                                  "choose another output path")
            if is_dir and _inside(ro, ri):
                raise OutputError(f"output {path_text(o)} is inside the input folder {path_text(raw)}; "
                                  "write it outside the folders the command reads")
    for d in (d for d in out_dirs if d is not None):
        rd = _real(d)
        for raw, ri, is_dir in ins:
            if _inside(ri, rd):
                raise OutputError(f"input {path_text(raw)} is inside the output folder {path_text(d)}: its files "
                                  "could be overwritten; choose an output folder that holds no input")
            if is_dir and _inside(rd, ri):
                raise OutputError(f"output folder {path_text(d)} is inside the input folder {path_text(raw)}; "
                                  "choose an output folder outside the folders the command reads")


def missing_folders(folder) -> list[Path]:
    """The folders a mkdir -p of ``folder`` would create, innermost first."""
    out, p = [], Path(os.path.abspath(folder))
    while not p.exists() and p != p.parent:
        out.append(p)
        p = p.parent
    return out


def remove_empty(folders) -> None:
    """Remove ``folders`` in order (innermost first) while they are empty; a folder that holds
    anything (another run's file, a probe of a concurrent run) stays, and so do those above it."""
    for f in folders:
        try:
            f.rmdir()
        except OSError:
            return


def _probe(folder: Path) -> None:
    """Create, fill, fsync and remove a temp file in folder (proves permission and free space).
    Folders it had to create are removed again: a command refused or failing later leaves no empty
    folder behind; commands create their folders when they write their first file."""
    created = missing_folders(folder)
    try:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".deepx-probe.", dir=folder)
        except OSError as e:
            raise OutputError(f"cannot write in {path_text(folder)}: {e.strerror or e}") from None
        try:
            os.write(fd, b"\0" * PROBE_BYTES)
            os.fsync(fd)
        except OSError as e:
            raise OutputError(f"cannot write in {path_text(folder)}: {e.strerror or e}") from None
        finally:
            os.close(fd)
            os.unlink(tmp)
    finally:
        remove_empty(created)


def regular_target(path) -> Path:
    """The file a write to ``path`` lands in: a symlink is followed (its target is replaced, the
    link stays); a folder, device, FIFO or socket is refused (replacing /dev/full with a file, or a
    folder with a file, is never what the user meant)."""
    p = Path(path)
    real = Path(_real(p)) if p.is_symlink() else p
    try:
        st = os.stat(real)
    except FileNotFoundError:
        return real
    except OSError as e:
        raise OutputError(f"cannot write {path_text(path)}: {e.strerror or e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise OutputError(f"cannot write {path_text(path)}: it is a folder; give a file name")
    if not stat.S_ISREG(st.st_mode):
        raise OutputError(f"refusing to write {path_text(path)}: not a regular file (a device, pipe or socket)")
    return real


def check_writable(path, folder: bool = False) -> None:
    """Before the work: ``path`` (a file, or a folder with folder=True) can be written."""
    if folder:
        p = Path(path)
        if p.exists() and not p.is_dir():
            raise OutputError(f"output folder {path_text(path)} exists and is not a folder")
        _probe(p)
        return
    target = regular_target(path)
    if target.exists() and not os.access(target, os.W_OK):
        raise OutputError(f"cannot write {path_text(path)}: permission denied")
    _probe(target.parent)


def lock_folder(folder, what: str = "deepx", key: str | None = None):
    """Take a lock on ``folder`` and return its handle (give it to unlock_folder); a second process
    asking for a conflicting one gets OutputError at once instead of mixing its files into this
    run's. ``key`` None: the whole folder, exclusively. A key (a shard 'shard1of4', a Ray driver):
    the folder shared plus that key exclusively, so the shards of one run write side by side while
    the same shard twice, or a whole-folder run, is refused. POSIX: flock on the folder itself and,
    for a key, on '.deepx.lock-KEY' (removed on release; locks die with the process); Windows: a
    lock file in the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:
        fcntl = None
    fds = []
    try:
        if fcntl:
            fds.append(os.open(folder, os.O_RDONLY))
            fcntl.flock(fds[-1], (fcntl.LOCK_SH if key else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        path = folder / (f"{LOCK_NAME}-{key}" if key else LOCK_NAME)
        if key or not fcntl:
            fds.append(os.open(path, os.O_RDWR | os.O_CREAT, 0o644))
            if fcntl:
                fcntl.flock(fds[-1], fcntl.LOCK_EX | fcntl.LOCK_NB)
                if os.fstat(fds[-1]).st_ino != os.stat(path).st_ino:   # removed by its last holder meanwhile
                    raise OSError("lock file replaced")
            else:
                import msvcrt
                msvcrt.locking(fds[-1], msvcrt.LK_NBLCK, 1)
    except OSError:
        for fd in fds:
            os.close(fd)
        raise OutputError(f"{path_text(folder)} is in use by another {what} run; wait for it to finish "
                          "or use another output folder") from None
    return (fds, path if key and fcntl else None)


def unlock_folder(lock) -> None:
    if lock is not None:
        fds, path = lock
        if path is not None:
            try:
                os.unlink(path)         # while still holding it: no one can hold a removed file's lock
            except OSError:
                pass
        for fd in reversed(fds):
            os.close(fd)    # closing releases the lock


@contextmanager
def folder_lock(folder, what: str = "deepx", key: str | None = None):
    """lock_folder for the duration of a with-block."""
    lock = lock_folder(folder, what, key)
    try:
        yield Path(folder)
    finally:
        unlock_folder(lock)

def prepare_outputs(inputs=(), outputs=(), out_dirs=()) -> None:
    """What every command calls before its work: check_outputs, then check_writable on each output
    file and folder (None entries are skipped)."""
    outputs = [o for o in outputs if o is not None]
    out_dirs = [d for d in out_dirs if d is not None]
    check_outputs(inputs, outputs, out_dirs)
    for d in out_dirs:
        check_writable(d, folder=True)
    for o in outputs:
        check_writable(o)
