"""Imported once by the campaign's fork server: the thread policy and the frameworks' imports.

Every measurement process is forked from that server, so it starts with torch, jax and autograd
(and their lazily loaded AD modules) already imported and the one-thread, one-core policy in
place, and pays only for its own preparation. No device is touched here (no CUDA context, no XLA
client), so forking stays safe.
"""

import gc

from adcompare import measure

LOADED = measure.preimport_frameworks()
gc.collect()
gc.freeze()    # the imports are never garbage: collections in the measurement processes skip them
