"""The adcompare asv suite: thin classes over `adcompare.grid` (which figures) and
`adcompare.worker` / `adcompare.figures` (how they are measured); see `adcompare run --help`.

Importing the suite fixes thread counts (one thread, one core) before any framework loads. In
asv's forkserver the server also imports the frameworks once, so each forked benchmark process
starts with them loaded; spawned processes import them lazily.
"""

import sys

from adcompare import measure

measure.pin_threads()
if sys.argv[1:2] == ["run_server"]:   # asv's forkserver: `benchmark.py run_server DIR SOCKET`
    measure.preimport_frameworks()
