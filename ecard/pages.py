"""The holder's H5 page (what provinces embed in their apps and mini-programs).

One page, drawn by the browser from the holders' API: the page itself holds no personal data
and no state; the bearer token lives in the page's memory only (not localStorage), so a
reload signs out. Everything it loads is served by this app, and its Content-Security-Policy
says so to the browser as well.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from accounts.realperson import DevelopmentVerifier

from .matrix import Purpose, Verdict
from .models import ApplicationKind, ApplicationState, FamilyLinkState, FamilyRelationship
from .services.family import FAMILY_PURPOSES

# Nothing from outside the app; the code image is a blob: URL made from the server's SVG.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'self'"
)


# The API docs: Swagger UI and ReDoc run an inline start-up script and inject their styles;
# ReDoc's footer would fetch its vendor's logo from a CDN, which this policy stops the browser
# from even asking for.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'"
)


def docs(view):
    """An API docs view served with DOCS_CONTENT_SECURITY_POLICY."""

    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY
        return response

    return wrapped


def texts() -> dict[str, object]:
    """The words the page's script shows, in the request's language."""
    return {
        "purposes": {value: str(label) for value, label in Purpose.choices},
        "verdicts": {value: str(label) for value, label in Verdict.choices},
        "refreshIn": _("{seconds} 秒后自动刷新"),
        "refreshing": _("正在刷新…"),
        "codeUnavailable": _("当前不能出示此用途的二维码"),
        "signInFailed": _("登录失败"),
        "noECard": _("该账号尚未绑定电子社保卡，请在下方申领。"),
        "lossReported": _("已临时挂失。"),
        "cardIn": _("卡号 {number}（地区代码 {region}）"),
        "inProduction": _("制卡中"),
        "currentCard": _("电子社保卡及二维码在此卡上"),
        "deadline": _("请于 {deadline} 前到服务网点办理正式挂失，否则挂失自动解除。"),
        "authorised": _("已授权：{purposes}"),
        "separator": _("、"),
        "until": _("至 {time}"),
        "noNotices": _("暂无消息"),
        "noScans": _("暂无扫码记录"),
        "accepted": _("通过"),
        "rejected": _("拒绝"),
        "networkError": _("网络异常，请稍后再试"),
        "agreementStates": {
            "pending": _("待您确认"),
            "live": _("生效中"),
            "lapsed": _("已过期"),
            "ended": _("已终止"),
        },
        "agreementAsked": _("{provider}（{account}）申请为您开通乘车扣款，请确认是否为本人办理。"),
        "offline": _("离线码（本机签名），{seconds} 秒后刷新"),
        "lifetimes": settings.QR_LIFETIMES,
        "enableWhat": _("卡号 {number} 的新卡已领取，尚未启用。"),
        "faceNeeded": _("需先通过人脸识别"),
        "applicationKinds": {value: str(label) for value, label in ApplicationKind.choices},
        "applicationStates": {value: str(label) for value, label in ApplicationState.choices},
        "certificate": _("领卡证明"),
        "certificateFile": _("领卡证明.pdf"),
        "withdraw": _("撤回"),
        "posted": _("已邮寄，快递单号 {number}"),
        "collectAt": _("请于 {date} 前到 {outlet} 领取"),
        "pinChanged": _("社保卡密码已修改"),
        "passwordChanged": _("电子社保卡密码已修改"),
        "endAgreement": _("解除"),
        "noAgreements": _("暂无乘车支付协议，可在合作银行或支付机构的App中签约。"),
        "relationships": {value: str(label) for value, label in FamilyRelationship.choices},
        "linkStates": {
            **{value: str(label) for value, label in FamilyLinkState.choices},
            "expired": _("已过期"),
        },
        "showMemberCode": _("出示二维码"),
        "showingMember": _("正在代 {name} 出示"),
        "endLink": _("解除"),
        "noMembers": _("暂无亲情成员"),
        "noInvitations": _("暂无邀请"),
        "noPresenters": _("暂无"),
        "acceptAsked": _("{presenter} 邀请您加入亲情账户，同意后对方可代您出示二维码，您可随时解除。"),
        "familyPurposes": sorted(FAMILY_PURPOSES),
        "deviceUntil": _("本机密钥有效期至 {time}"),
        "goTo": _("前往办理"),
        "codeSent": _("验证码已发送至 {phone}，5分钟内有效。"),
        # Only while the development provider answers real-person checks (never in production,
        # whose settings refuse it): the token it accepts, so the page's face step can pass.
        "devIdentityToken": (
            settings.IDENTITY_DEV_TOKEN
            if import_string(settings.IDENTITY_VERIFIER) is DevelopmentVerifier
            else None
        ),
    }


@require_GET
def h5(request: HttpRequest) -> HttpResponse:
    response = render(
        request,
        "ecard/h5.html",
        {
            "texts": texts(),
            "purposes": Purpose.choices,
            "minutes": [30, 60, 120, 240],
            "relationships": FamilyRelationship.choices,
        },
    )
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response["Cache-Control"] = "no-store"
    # Never a referrer to anywhere else; same-origin keeps the Origin header a form POST needs.
    response["Referrer-Policy"] = "same-origin"
    return response
