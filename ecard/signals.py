"""What the card domain announces, for the apps built on it to act on.

The card domain imports none of its listeners: ``codes`` (codes, scanners) connects its
receivers in ``TokensConfig.ready()``, so dependencies point one way, ``accounts`` ←
``ecard`` ← ``codes``, as pretix's core sends signals that its plugins receive.

``card_changed`` and ``ecard_changed`` are sent synchronously inside the transaction of the
change. A receiver's own rows (a revocation entry) therefore commit or roll back with the
change — a loss report that commits without its revocation would leave offline scanners
accepting the lost card's codes. Anything a receiver does outside the database (evicting a
cached card state, telling other processes) it defers with ``transaction.on_commit``, so
nobody outside ever sees a change that did not commit.

card_changed(card, before, after)
    A physical card changed. ``before`` and ``after`` are its states; they are equal when
    something other than the state changed (the PIN lock, the e-card moving to a
    replacement card).
ecard_changed(ecard, revoke_reason)
    An e-card's password or its holder authorisations changed. ``revoke_reason``, a dotted
    code such as ``ecard.password_changed``, says that codes issued before now must no
    longer be accepted; ``None`` says only what the e-card may do changed.
family_changed(link, ecard, ended)
    A family link (亲情账户) was consented to or ended; ``ecard`` is its member's. When
    ``ended``, the codes its presenter was shown must no longer be accepted; the member's own
    codes stay good.
housekeeping(now)
    The daily purge. Each receiver deletes what it owns that has expired and returns
    ``{name: count}``; ``run_job housekeeping`` prints the merged counts.
staff_dashboard(start_of_day, now)
    The staff dashboard is drawn. Each receiver returns a dict added to the page's context.
"""

from django.dispatch import Signal

card_changed = Signal()
ecard_changed = Signal()
family_changed = Signal()
housekeeping = Signal()
staff_dashboard = Signal()
