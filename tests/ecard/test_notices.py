"""Every notice's instruction leads somewhere that exists: a screen of the holder's H5 page it
names as App“…”, or an operation the outlet's admin offers where it sends the holder to a counter.
"""

from __future__ import annotations

import re

import pytest

from ecard import admin as ecard_admin
from ecard import notices
from tests.support import NOTICE_PARAMS

SCREEN = re.compile(r"App“([^”]+)”")
# An instruction to do something in the app that does not say where.
UNNAMED_SCREEN = re.compile(r"App中(?!签约)")
# An instruction to go to a counter (not a report of what a counter did).
TO_THE_COUNTER = re.compile(r"(到|在)[^。，；]*网点(办理|申请|领取)")

# Where each notice that sends the holder to a counter sends them: the outlet's operations, as
# "card:<operation on the card page>" or "<model>:<admin action, or change>".
COUNTER = {
    "card.expiring": ["card:replace"],
    "card.expired": ["card:replace"],
    "loss.deadline_reminder": ["card:formal_loss"],
    "card.loss_formalised": ["card:replace"],
    "card.loss_lapsed": ["card:formal_loss"],
    "replacement.ready": ["card:receive"],
    "application.ready": ["cardapplication:mark_collected", "card:receive"],
    "application.rejected": ["cardapplication:accept", "card:replace"],
    "ecard.rebound": ["card:temporary_loss", "card:formal_loss"],
    "guardian.replaced": ["holder:change"],
    "family.invited": ["familylink:record_consent"],
}


def h5_page(client) -> str:
    return client.get("/").content.decode()


def bodies():
    for kind in notices.TEMPLATES:
        yield kind, notices.render(kind, NOTICE_PARAMS)[1]


def offered(site, operation: str) -> bool:
    model, name = operation.split(":")
    if model == "card":
        return name in ecard_admin.OPERATIONS
    [model_admin] = [a for m, a in site._registry.items() if m._meta.model_name == model]
    if name == "change":
        return type(model_admin).has_change_permission is not ecard_admin.ReadOnlyAdmin.has_change_permission
    return name in (model_admin.actions or [])


@pytest.mark.parametrize("kind", sorted(notices.TEMPLATES))
def test_every_screen_a_notice_names_is_on_the_h5_page(client, kind):
    body = notices.render(kind, NOTICE_PARAMS)[1]
    page = h5_page(client)
    for screen in SCREEN.findall(body):
        assert f'data-screen="{screen}"' in page, (kind, screen)
    assert not UNNAMED_SCREEN.search(body), f"{kind}: say which screen of the app"


def test_every_notice_that_sends_the_holder_to_a_counter_names_operations_the_outlet_has():
    from django.contrib import admin

    sending = {kind for kind, body in bodies() if TO_THE_COUNTER.search(body)}
    assert sending == set(COUNTER), "a notice sends holders to a counter: say which operation"
    for kind, operations in COUNTER.items():
        for operation in operations:
            assert offered(admin.site, operation), (kind, operation)


def test_the_checks_catch_a_screen_that_is_not_there_and_an_instruction_without_one(client):
    page = h5_page(client)
    assert 'data-screen="社保卡-不存在"' not in page and 'data-screen="社保卡-换领"' in page
    assert UNNAMED_SCREEN.search("请在App中修改") and not UNNAMED_SCREEN.search("请在App“亲情账户”中同意")
    assert TO_THE_COUNTER.search("携带身份证件到社保卡服务网点办理") and not TO_THE_COUNTER.search(
        "已在服务网点重置为初始密码"
    )
