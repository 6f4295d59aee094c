"""What accounts announce. ``accounts`` imports no other app of ours; those that keep a
record of holders' changes (``ecard``'s audit trail) connect here in their ``ready()``.

holder_changed(holder, action, by, data)
    A holder was created or changed (``holder.created``, ``holder.guardian_set``,
    ``holder.phone_changed``). Sent synchronously inside the transaction of the change, so
    the audit row commits or rolls back with it. ``by`` is an ``accounts.actors.Actor``;
    ``data`` holds no personal data; a correction (``holder.corrected``) also sends
    ``previous``, the (name, ID number) on file before, which the audit trail keeps sealed.
"""

from django.dispatch import Signal

holder_changed = Signal()
