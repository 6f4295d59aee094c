from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TokensConfig(AppConfig):
    name = "tokens"
    verbose_name = _("二维码与扫码")

    def ready(self):
        from . import receivers  # noqa: F401  (connects the receivers of ecard.signals)
