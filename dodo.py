"""Calvin's task graph: every task creator lives in calvin_tasks.tasks."""
from calvin_tasks.tasks import *  # noqa: F401,F403
