"""The adcompare asv suite. Thin classes over `adcompare.grid` (what to run) and
`adcompare.measure` (how to measure); see `adcompare run --help`.

Importing the suite fixes thread counts (one thread, one core) before any framework loads. In
asv's forkserver (`adcompare run` uses it) the server also imports the frameworks once, so each
forked benchmark process starts with them loaded; spawned processes import them lazily.
"""

import sys

from adcompare import measure

measure.pin_threads()
if sys.argv[1:2] == ["run_server"]:   # asv's forkserver: `benchmark.py run_server DIR SOCKET`
    measure.preimport_frameworks()
