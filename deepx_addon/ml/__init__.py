"""torch side: learned model, detector adapter, CLI.

Importing it keeps Ultralytics offline and its and matplotlib's files out of the home folder
(core/offline.py): both are imported only by modules of this package."""
from ..core.offline import keep_offline
from ..runtime.threads import passive_wait

keep_offline(blender=False)   # the CLI adds Blender's folder; inside Blender it is the user's own
passive_wait()   # before this package imports torch: its threads must not spin (runtime/threads.py)
