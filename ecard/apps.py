from django.apps import AppConfig


class EcardConfig(AppConfig):
    name = "ecard"
    verbose_name = "社保卡 / Cards"
