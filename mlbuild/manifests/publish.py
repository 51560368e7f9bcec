"""The build's staging folder `<out>/.partial` and the crash-safe publish of its files into `<out>`.

Parts are written into the stage and are the unit of resume: a stage is kept by a rerun only
when its `fingerprint.json` matches the new run's (config and every input's content: files by
size and mtime, folders by their recursive listing). Publishing is a journaled sequence of
steps that a rerun completes wherever a kill stopped it:

1. `publish.json` is written into the stage: the build record, the files to publish and the
   files the previous build published (from its `build.json`). Nothing has moved yet.
2. `build.json` is removed: from here until step 5 the folder holds no complete build.
3. The previous build's files that the new build does not have are removed (only those).
4. Each staged file is moved into place (`os.replace`).
5. `build.json` is written, listing the published files.
6. The stage is removed: `fingerprint.json` first (a stage without it is never resumed), then
   `publish.json`, then the rest.

A stage holding `publish.json` is finished before anything else happens, so parts are never
believed done after they moved, and `build.json` exists only beside a complete manifest set.
For the crash tests, `MLBUILD_KILL_AFTER_STEP=k` makes the process exit after its k-th step.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mlbuild._util.atomic import write_atomic
from mlbuild.errors import OutputError

KILL_AFTER_STEP = "MLBUILD_KILL_AFTER_STEP"
KILLED_EXIT = 86  # exit status of a process stopped by KILL_AFTER_STEP
STAGE = ".partial"
SIDE_FOLDERS = ("counts", "pairs", "cooc")  # staged per-part bookkeeping, never published


class Stage:
    """`<out>/.partial`: finished parts of an interrupted or running build, then its publish."""

    def __init__(self, out: Path, fingerprint: str) -> None:
        self.out, self.path, self.fingerprint = Path(out), Path(out) / STAGE, fingerprint
        self._steps = _Steps()

    @property
    def plan_path(self) -> Path:
        return self.path / "publish.json"

    def open(self, resume: bool) -> dict[str, Any] | None:
        """Prepare the stage; returns the build record when this exact build was already being
        published (the publish is completed, nothing is left to do), else None.

        A publish interrupted by a kill is completed first, whatever the new run's settings.
        Finished parts are kept when `resume` and the fingerprint matches.
        """
        plan = self._read_plan()
        if plan is not None:
            self._complete(plan)
            if resume and plan["fingerprint"] == self.fingerprint:
                return plan["record"]
        marker = self.path / "fingerprint.json"
        if resume and marker.is_file() and marker.read_text(encoding="utf-8") == self.fingerprint:
            return None
        self._remove()
        write_atomic(marker, self.fingerprint)
        return None

    def publish(self, record: dict[str, Any]) -> None:
        """Move the staged manifests into place and write build.json last (steps 1-6 above)."""
        new = sorted(str(p.relative_to(self.path)) for p in self.path.rglob("*.parquet")
                     if p.relative_to(self.path).parts[0] not in SIDE_FOLDERS)
        old = _published(self.out)
        for rel in new:
            if (self.out / rel).exists() and rel not in old:
                raise OutputError(self.out / rel, "exists and was not written by this folder's last build; "
                                                  "mlbuild does not overwrite it (move it away and rerun)")
        plan = {"fingerprint": self.fingerprint, "record": record, "files": new, "old": sorted(old)}
        write_atomic(self.plan_path, json.dumps(plan, sort_keys=True))
        self._steps()
        self._complete(plan)

    def _complete(self, plan: dict) -> None:
        """Steps 2-6 of the publish `plan`; safe to repeat after a kill at any point."""
        new = plan["files"]
        (self.out / "build.json").unlink(missing_ok=True)
        self._steps()
        for rel in sorted(set(plan["old"]) - set(new)):
            (self.out / rel).unlink(missing_ok=True)
            _remove_empty_parents(self.out / rel, self.out)
            self._steps()
        for rel in new:
            staged, target = self.path / rel, self.out / rel
            if staged.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged, target)
                self._steps()
            elif not target.is_file():
                raise OutputError(target, f"missing: neither published nor in {self.path}; the interrupted "
                                          "build cannot be completed (remove the folder and build again)")
        record = dict(plan["record"], files=new)
        write_atomic(self.out / "build.json", json.dumps(record, indent=2, sort_keys=True) + "\n")
        self._steps()
        self._remove()

    def _remove(self) -> None:
        """Remove the stage: fingerprint first, then the publish plan, then the rest."""
        for name in ("fingerprint.json", "publish.json"):
            if (self.path / name).exists():
                (self.path / name).unlink()
                self._steps()
        if self.path.exists():
            shutil.rmtree(self.path)
            self._steps()

    def _read_plan(self) -> dict | None:
        try:
            return json.loads(self.plan_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            raise OutputError(self.plan_path, f"unreadable publish plan ({err}); remove the folder and "
                                              "build again") from err


def fingerprint(settings: dict[str, Any], inputs: Iterable[Path]) -> str:
    """The resume key: the build's settings and every input's content (folders recursively)."""
    return json.dumps({"config": settings, "inputs": [_input_state(Path(p)) for p in inputs]}, sort_keys=True)


def _input_state(path: Path) -> list[str | int]:
    """[path, size, mtime_ns] of a file; [path, "folder", digest of its listing] of a folder."""
    if path.is_dir():
        return [str(path), "folder", _listing_digest(path)]
    if path.is_file():
        st = path.stat()
        return [str(path), st.st_size, st.st_mtime_ns]
    return [str(path), "missing"]


def _listing_digest(root: Path) -> str:
    """sha256 over every file under root: relative path, size, mtime (in sorted order)."""
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            st = os.stat(path)
            digest.update(f"{os.path.relpath(path, root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode(
                "utf-8", "surrogateescape"))
    return digest.hexdigest()


def _published(out: Path) -> set[str]:
    """The files the folder's complete build lists in its build.json (none if there is none)."""
    try:
        record = json.loads((out / "build.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return set()
    except (OSError, ValueError) as err:
        raise OutputError(out / "build.json", f"unreadable ({err}); remove it and rerun") from err
    return set(record.get("files", []))


def _remove_empty_parents(path: Path, top: Path) -> None:
    """Remove the folders between path and top that are left empty (a dropped split's folder)."""
    for folder in path.parents:
        if folder == top or top not in folder.parents:
            return
        try:
            folder.rmdir()
        except OSError:
            return


class _Steps:
    """Counts publish steps; exits the process after step MLBUILD_KILL_AFTER_STEP (crash tests)."""

    def __init__(self) -> None:
        self.limit, self.done = int(os.environ.get(KILL_AFTER_STEP) or 0), 0

    def __call__(self) -> None:
        self.done += 1
        if self.done == self.limit:
            os._exit(KILLED_EXIT)
