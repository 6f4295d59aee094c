"""Who acts (a holder, staff, the system) and through which channel: what every audit row names."""

from __future__ import annotations

import dataclasses

from django.db import models
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    """Where an operation came from."""

    APP = "app", "App"
    MINI_PROGRAM = "mini_program", _("小程序")
    HOTLINE = "hotline", _("12333热线")
    OUTLET = "outlet", _("服务网点")
    BANK = "bank", _("合作银行")
    SYSTEM = "system", _("系统")
    IMPORT = "import", _("制卡数据导入")


class ActorKind(models.TextChoices):
    HOLDER = "holder", _("持卡人")
    STAFF = "staff", _("工作人员")
    SYSTEM = "system", _("系统")


@dataclasses.dataclass(frozen=True)
class Agent:
    """Someone acting at an outlet for the holder (代办人 / 委托人), as staff saw their ID."""

    name: str
    id_type: str
    id_number: str


@dataclasses.dataclass(frozen=True)
class Actor:
    kind: str
    channel: str
    user: object | None = None
    label: str = ""
    agent: Agent | None = None

    @classmethod
    def system(cls, task: str = "") -> Actor:
        return cls(ActorKind.SYSTEM, Channel.SYSTEM, None, f"system:{task}" if task else "system")

    @classmethod
    def staff(cls, user, channel: str = Channel.OUTLET, agent: Agent | None = None) -> Actor:
        return cls(ActorKind.STAFF, channel, user, user.get_username(), agent)

    @classmethod
    def holder(cls, user=None, channel: str = Channel.APP) -> Actor:
        return cls(ActorKind.HOLDER, channel, user, user.get_username() if user else "holder")

    @classmethod
    def importer(cls, label: str = "import_cards") -> Actor:
        return cls(ActorKind.SYSTEM, Channel.IMPORT, None, label)
