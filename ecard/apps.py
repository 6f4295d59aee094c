from django.apps import AppConfig


class EcardConfig(AppConfig):
    name = "ecard"
    verbose_name = "社保卡 / Cards"

    def ready(self):
        from accounts.signals import holder_changed

        from .audit import record_holder_change

        holder_changed.connect(record_holder_change, dispatch_uid="ecard.audit.holder_changed")

        from plumbing.observability import readiness_note

        from .services import calendar_warning

        readiness_note("calendar", calendar_warning)
