"""The VM catalogue's task graph: the same pipeline as the container catalogue (calvin_tasks.tasks)."""
from calvin_tasks.tasks import *  # noqa: F401,F403
