"""Two workers share one study through a REAL PostgreSQL server (Debian's postgresql package).

The server runs from a fresh initdb in a temporary folder, as the ``postgres`` user when the tests
run as root (PostgreSQL refuses to run as root), on 127.0.0.1 at a free port; it is stopped at the
end. Skipped only when the PostgreSQL binaries are absent (install: apt-get install -y postgresql).
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile

import optuna
import pytest
import yaml

from babysitter.search.study import search
from tests.search.test_search_study import SPACE, SPEC

BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
pytestmark = pytest.mark.skipif(not BIN, reason="PostgreSQL binaries absent (apt-get install -y postgresql)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_url():
    bindir = os.path.dirname(BIN[-1])
    folder = tempfile.mkdtemp(prefix="babysit-pg-")  # under /tmp: pytest's tmp_path is private to root
    # runuser is in /usr/sbin, which a minimal PATH may leave out
    runuser = shutil.which("runuser") or shutil.which("runuser", path="/usr/sbin:/sbin")
    as_user = [runuser, "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(folder, "postgres", "postgres")
    data, port = os.path.join(folder, "data"), _free_port()

    def pg(*cmd):
        return subprocess.run([*as_user, os.path.join(bindir, cmd[0]), *cmd[1:]], check=True,
                              capture_output=True, text=True, timeout=120)

    pg("initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync")
    pg("pg_ctl", "-D", data, "-l", os.path.join(folder, "log"), "-w", "-o",
       f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    try:
        pg("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "babysit")
        yield f"postgresql://postgres@127.0.0.1:{port}/babysit"
    finally:
        pg("pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def test_two_workers_share_a_study_on_postgresql(postgres_url, tmp_path, write_spec):
    spec = write_spec({**SPEC, "train": {**SPEC["train"], "batch_size": 32}})
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(SPACE))
    result = search(spec, space, trials=6, epochs=1, workers=2, storage=postgres_url, study="pg",
                    out=tmp_path / "plots")
    assert result["storage"] == postgres_url and len(result["trials"]) == 6
    assert {t["state"] for t in result["trials"]} == {"complete"}
    # read back from the server, independently of the CLI: 6 trials from two processes, with heartbeats
    study = optuna.load_study(study_name="pg", storage=postgres_url)
    assert sorted(t.number for t in study.trials) == list(range(6))
    assert len({t.user_attrs["worker"] for t in study.trials}) == 2
    assert max(t.value for t in study.trials) == result["best"]["val_acc"]
    assert (tmp_path / "plots" / "optim_lr.png").is_file()
