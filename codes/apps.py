from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CodesConfig(AppConfig):
    """QR codes and the scanners that read them (signing keys, the code formats, issuing,
    verifying, revocations, devices and scan records).

    The app was called ``tokens`` before; its label stays ``tokens`` so that no table
    (``tokens_scanrecord`` …), migration, permission (``tokens.add_signingkey``), content type,
    admin URL (``admin:tokens_…``) or Celery task name (``tokens.scan_records_flush``) moves."""

    name = "codes"
    label = "tokens"
    verbose_name = _("二维码与扫码")

    def ready(self):
        from . import receivers  # noqa: F401  (connects the receivers of ecard.signals)
