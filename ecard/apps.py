from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EcardConfig(AppConfig):
    name = "ecard"
    verbose_name = _("社保卡")

    def ready(self):
        from accounts.signals import holder_changed

        from .audit import record_holder_change

        holder_changed.connect(record_holder_change, dispatch_uid="ecard.audit.holder_changed")

        from plumbing.observability import readiness_note

        from .services import calendar_warning

        readiness_note("calendar", calendar_warning)
