"""The ``xops`` dispatcher."""

from __future__ import annotations

import os
import subprocess
import sys


class TestClosedPipe:
    def test_a_reader_that_stops_early_is_not_an_error(self, tmp_path):
        env = {**os.environ, "AIRFLOW_CONN_XOPS_STORE": f"sqlite:///{tmp_path / 'stories.db'}"}
        xops = os.path.join(os.path.dirname(sys.executable), "xops")
        # A reader that closes at once: the writer meets a closed pipe on its first line.
        done = subprocess.run(
            f"set -o pipefail; {xops} --help | true; {xops} stories list | true",
            shell=True,
            executable="/bin/bash",
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "BrokenPipeError" not in done.stderr
