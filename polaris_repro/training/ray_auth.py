"""The Ray cluster's authentication token: where Ray finds it, and creating one where none exists.

Ray 2.60 turns on token authentication for ``ray start --head``, but ``ray start`` only *checks* for a
token; it aborts ("Token authentication is enabled but no authentication token was found") on a
machine whose home never ran Ray. Ray reads the token from ``RAY_AUTH_TOKEN`` (the value), else the
file named by ``RAY_AUTH_TOKEN_PATH``, else ``~/.ray/auth_token``; every node, driver and ``ray job
submit`` of one cluster must present the same token.

The launch scripts (``polaris_slurm.sbatch``, ``tools/rehearse.sh``) therefore create the token
themselves on the head before ``ray start``, in a file of the run folder (shared storage, read by
every node and by the ``ray job submit`` script; mode 0600), and export ``RAY_AUTH_TOKEN_PATH`` to
every process: no shared home directory needed, and a home's stale token never takes part. A token
given by the user (``RAY_AUTH_TOKEN``, or ``RAY_AUTH_TOKEN_PATH`` naming a file) is used as it is.

    python -m polaris_repro.training.ray_auth ensure FILE     create FILE with a new token unless
                                                              it holds one; print its path
    python -m polaris_repro.training.ray_auth where           where Ray would find a token now
"""
from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Mapping

TOKEN_FILE = "ray_auth_token"


def default_token_path(home: str | os.PathLike | None = None) -> Path:
    return Path(home if home is not None else Path.home()) / ".ray" / "auth_token"


def token_source(env: Mapping[str, str] | None = None, home: str | os.PathLike | None = None) -> tuple[str, str] | None:
    """Where Ray would read its token, in Ray's order: ``("RAY_AUTH_TOKEN", "the environment")``,
    ``("RAY_AUTH_TOKEN_PATH", path)``, ``("default", "~/.ray/auth_token")``; None when there is none
    (``ray start --head`` in token mode would abort). The token itself is never returned."""
    env = os.environ if env is None else env
    if env.get("RAY_AUTH_TOKEN", "").strip():
        return "RAY_AUTH_TOKEN", "the environment"
    path = env.get("RAY_AUTH_TOKEN_PATH")
    if path:
        return ("RAY_AUTH_TOKEN_PATH", path) if _holds_token(Path(path)) else None
    p = default_token_path(home if home is not None else env.get("HOME"))
    return ("default", str(p)) if _holds_token(p) else None


def _holds_token(path: Path) -> bool:
    try:
        return bool(path.read_text().strip())
    except OSError:
        return False


def ensure_token(path: str | os.PathLike) -> tuple[Path, bool]:
    """Create ``path`` holding a new random token (mode 0600) unless it already holds one.
    Returns ``(path, created)``. Written under a temporary name and renamed: a reader never sees
    a half-written token, and an existing token is never replaced."""
    path = Path(path).expanduser().resolve()
    if _holds_token(path):
        return path, False
    if path.exists() and path.is_dir():
        raise ValueError(f"Ray token file {path} is a directory; expected a file path")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_hex(32).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    if _holds_token(path):          # another process made one meanwhile: keep it
        tmp.unlink()
        return path, False
    os.replace(tmp, path)
    return path, True


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 2 and argv[0] == "ensure":
        try:
            path, created = ensure_token(argv[1])
        except (OSError, ValueError) as e:
            print(f"error: cannot create the Ray token file {argv[1]}: {e}", file=sys.stderr)
            return 2
        print(f"Ray auth token: {'created' if created else 'using'} {path}", file=sys.stderr)
        print(path)
        return 0
    if argv == ["where"]:
        src = token_source()
        print("none: `ray start --head` in token mode would abort" if src is None else f"{src[0]}: {src[1]}")
        return 0 if src else 1
    print("usage: python -m polaris_repro.training.ray_auth ensure FILE | where", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
