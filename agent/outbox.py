"""Former home of the outbox, now :mod:`agent.storage.outbox`.

Only :mod:`agent.link` still imports it from here (it is being moved by other work);
new code imports :mod:`agent.storage.outbox`.
"""

from agent.storage.outbox import Outbox as Outbox
from agent.storage.outbox import OutboxRow as OutboxRow
from agent.storage.outbox import counter_origin as counter_origin
