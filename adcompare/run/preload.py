"""Imported once by the campaign's fork server: the thread policy and the frameworks' imports.

Every measurement process is forked from that server, so it starts with torch, jax and autograd
(and their lazily loaded AD modules) already imported and the one-thread, one-core policy in
place, and pays only for its own preparation. adcompare's own modules (the job's classes, the
worker, the command line that the child's `__main__` re-imports) are loaded here too: loading
them in every child took 0.2 s a job, a tenth of a main-grid pass. No device is touched here (no
CUDA context, no XLA client), so forking stays safe.
"""

import gc

from adcompare import cli  # noqa: F401  (what every child unpickles and imports)
from adcompare.measure.frameworks import preload_frameworks
from adcompare.run import campaign, processes  # noqa: F401

processes.redirect_output()   # the frameworks' import-time warnings go to the run's log
LOADED = preload_frameworks()
gc.collect()
gc.freeze()    # the imports are never garbage: collections in the measurement processes skip them
