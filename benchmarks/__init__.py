"""The adcompare asv suite: classes generated from the measurement families (`suite.py`); see
`adcompare run --help`.

Importing the suite fixes thread counts (one thread, one core) before any framework loads. In
asv's forkserver the server also imports the frameworks once, so each forked benchmark process
starts with them loaded; spawned processes import them lazily.
"""

import sys

from adcompare.measure import frameworks, threads

threads.pin_threads()
if sys.argv[1:2] == ["run_server"]:   # asv's forkserver: `benchmark.py run_server DIR SOCKET`
    frameworks.preload_frameworks()
