from django.apps import AppConfig


class TokensConfig(AppConfig):
    name = "tokens"
    verbose_name = "二维码与扫码 / Codes and scanners"

    def ready(self):
        from . import receivers  # noqa: F401  (connects the receivers of ecard.signals)
