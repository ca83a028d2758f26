"""Former home of the agent database handle, now :mod:`agent.storage.localdb`.

Only :mod:`agent.link` still imports it from here (it is being moved by other work);
new code imports :mod:`agent.storage.localdb`.
"""

from agent.storage.localdb import LocalDb as LocalDb
