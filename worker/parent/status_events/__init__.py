"""Status events for the user's application: what they say (document), where they go (targets, webhook)
and how they are sent without ever holding up the worker (sender)."""

from worker.parent.status_events.document import announce, status_event
from worker.parent.status_events.sender import StatusEvents

__all__ = ["StatusEvents", "announce", "status_event"]
