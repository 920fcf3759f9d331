"""``.ci/run`` waits for another apt instead of failing on its lock (issue 11, item 10).

The real script is never run here (it installs packages as root); its functions are sourced
with a fake ``apt-get`` first on PATH.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

CI_RUN = Path(__file__).resolve().parents[2] / ".ci" / "run"
LOCKED = (
    "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)\n"
    "E: Unable to lock directory /var/lib/apt/lists/"
)

# Answers like apt-get held off by a lock for the first $LOCKED_CALLS calls, then succeeds (or
# fails with $OTHER_ERROR); logs each call's arguments.
FAKE_APT_GET = """#!/usr/bin/env bash
printf '%s\\n' "$*" >>"$CALLS"
n=$(wc -l <"$CALLS")
if ((n <= LOCKED_CALLS)); then printf '%s\\n' "$LOCKED" >&2; exit 100; fi
if [[ -n ${OTHER_ERROR:-} ]]; then printf 'E: %s\\n' "$OTHER_ERROR" >&2; exit 100; fi
echo "Reading package lists..."
"""


def test_the_script_parses_and_every_apt_get_waits_for_the_dpkg_lock() -> None:
    subprocess.run(["bash", "-n", str(CI_RUN)], check=True)
    text = CI_RUN.read_text()
    wait = r"^APT_LOCK_WAIT=\(-o \"DPkg::Lock::Timeout=\$APT_LOCK_SECONDS\"\)$"
    assert re.search(wait, text, re.M)
    assert re.search(r"^APT_LOCK_SECONDS=\"\$\{APT_LOCK_SECONDS:-600\}\"$", text, re.M)
    calls = [
        line
        for line in text.splitlines()
        if re.search(r"(^|[\s(])apt-get\s", line) and not line.lstrip().startswith(("#", "log"))
    ]
    assert len(calls) >= 3, calls
    for line in calls:
        assert re.search(r'apt-get "\$\{APT_LOCK_WAIT\[@\]\}" (update|install)', line), line
    # Update goes through the retrying function only.
    assert text.count('apt-get "${APT_LOCK_WAIT[@]}" update') == 1


def run_apt_update(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Source .ci/run (its main does not run) and call apt_update against the fake apt-get."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "apt-get"
    fake.write_text(FAKE_APT_GET)
    fake.chmod(0o755)
    calls = tmp_path / "calls"
    calls.touch()
    environ = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "CALLS": str(calls),
        "LOCKED": LOCKED,
        "APT_LOCK_POLL": "0",
        "LOCKED_CALLS": "0",
        **env,
    }
    done = subprocess.run(
        ["bash", "-c", 'source "$1" && apt_update', "test_ci_apt_lock", str(CI_RUN)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done, calls.read_text().splitlines()


def test_apt_update_tries_again_while_another_apt_holds_the_lists_lock(
    tmp_path: Path, record
) -> None:
    done, calls = run_apt_update(tmp_path, LOCKED_CALLS="3")
    assert done.returncode == 0, done.stderr
    assert "Reading package lists" in done.stdout
    assert calls == ["-o DPkg::Lock::Timeout=600 update -q"] * 4
    assert done.stdout.count("another apt holds a lock") == 3
    record(
        "service fault",
        "another apt holding the lists lock during .ci/run's apt-get update",
        "survived",
        times=3,
    )


@pytest.mark.parametrize(
    ("env", "tries"),
    [
        ({"OTHER_ERROR": "The repository does not have a Release file."}, 1),
        ({"LOCKED_CALLS": "1000", "APT_LOCK_SECONDS": "0"}, 1),
    ],
    ids=["another error fails at once", "the lock outlasts the wait"],
)
def test_apt_update_fails_on_other_errors_and_after_the_wait(
    tmp_path: Path, env: dict[str, str], tries: int
) -> None:
    done, calls = run_apt_update(tmp_path, **env)
    assert done.returncode == 1
    assert len(calls) == tries
    assert "E: " in done.stderr
