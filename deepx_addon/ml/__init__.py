"""torch side: learned model, detector adapter, CLI."""
from ..runtime.threads import passive_wait

passive_wait()   # before this package imports torch (see runtime/threads.py)
