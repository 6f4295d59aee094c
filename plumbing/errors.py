"""The one domain error type: a stable machine-readable code, its HTTP status and a message.

Services raise ``DomainError("card.loss_irrevocable")``; the catalogue below holds each code's
status and its message, written once in Chinese and translated through gettext
(``locale/en/LC_MESSAGES/django.po``), so every caller (API, admin, management commands)
shows the same words and tests assert the code, never the text.
"""

from __future__ import annotations

from typing import Any

from django.utils.functional import Promise
from django.utils.translation import get_language, override
from django.utils.translation import gettext_lazy as _

# code: (HTTP status, message). Messages may carry str.format() fields; a field's value may
# itself be a lazy translation, worded in whichever language the message is.
CATALOGUE: dict[str, tuple[int, Promise]] = {
    # Physical card lifecycle
    "card.not_found": (404, _("未找到该社保卡。")),
    "card.cancelled": (409, _("该社保卡已注销。")),
    "card.not_received": (
        409,
        _("社保卡尚未领取，请先到服务网点领卡。"),
    ),
    "card.already_received": (409, _("该社保卡已领取。")),
    "card.no_old_card": (400, _("这张社保卡不是补换的新卡，没有需交回的原卡。")),
    "card.hotline_initial_pin": (
        409,
        _("初始密码未修改的社保卡不能通过12333热线挂失，请在App中挂失或携带身份证件到服务网点办理。"),
    ),
    "card.in_person_only": (
        403,
        _("解除挂失和重置社保密码须由持卡人本人持身份证件办理，不能由他人代办。"),
    ),
    "card.agent_required": (
        403,
        _("因死亡或宣告失踪注销，须由代办人持双方证件到服务网点办理，并登记代办人证件。"),
    ),
    "card.certificate_required": (
        400,
        _("因死亡或宣告失踪注销，须登记死亡证明或法院判决书的编号及出具机关。"),
    ),
    "card.cancel_reason_outlet_only": (
        403,
        _("在线注销仅限社保关系转移省外或出国定居，其他原因请到服务网点办理。"),
    ),
    "card.in_production": (
        409,
        _("社保卡尚在制作中，乘车码须待领卡启用后使用。"),
    ),
    "card.financial_at_bank": (
        403,
        _("金融功能须由持卡人本人在合作银行网点激活。"),
    ),
    "card.financial_already_active": (409, _("金融功能已激活。")),
    "card.already_enabled": (409, _("社保卡已启用。")),
    "card.not_sealed": (
        409,
        _("只有封存状态的社保卡可以启用。"),
    ),
    "card.not_active": (
        409,
        _("社保卡当前状态（{state}）不能办理此业务。"),
    ),
    "card.already_temporarily_lost": (
        409,
        _("社保卡已临时挂失。"),
    ),
    "card.already_lost": (409, _("社保卡已正式挂失。")),
    "card.not_lost": (409, _("社保卡未挂失，无需解挂。")),
    "card.loss_irrevocable": (
        409,
        _("正式挂失后不能撤销挂失。"),
    ),
    "card.replacement_applied": (
        409,
        _("已申请补换新卡，原卡即使找回也不能解挂。"),
    ),
    "card.replacement_not_allowed": (
        409,
        _("社保卡当前状态（{state}）不能申请{kind}。"),
    ),
    "card.replacement_pending": (
        409,
        _("该卡已有进行中的补换卡申请。"),
    ),
    "card.renewal_not_open": (
        409,
        _("有效期截止日（{valid_until}）前{days}天起方可申请换领。"),
    ),
    "card.not_temporarily_lost": (
        409,
        _("社保卡不在临时挂失状态。"),
    ),
    "card.deadline_not_passed": (
        409,
        _("临时挂失尚未到期（{deadline}）。"),
    ),
    "card.already_cancelled": (409, _("社保卡已注销。")),
    "card.cancel_reason_invalid": (
        400,
        _("注销原因无效。"),
    ),
    "card.cancel_reason_reserved": (
        400,
        _("“换卡注销”由新卡启用时自动办理。"),
    ),
    "card.one_per_region": (
        409,
        _("同一参保人在同一省份只能持有一张有效社保卡。"),
    ),
    "card.number_taken": (409, _("卡号已被占用。")),
    "card.expired": (
        409,
        _("社保卡已过有效期，请申请换领。"),
    ),
    # PIN
    "card.pin_wrong": (
        403,
        _("社保密码错误，还可尝试{remaining}次。"),
    ),
    "card.pin_locked": (
        403,
        _("社保密码连续错误次数过多，社保应用已锁定，请持身份证件到服务网点解锁。"),
    ),
    "card.initial_pin": (
        409,
        _("社保卡仍是初始密码，不能用于支付，请先修改社保密码。"),
    ),
    "card.pin_invalid": (400, _("社保密码须为6位数字。")),
    "card.pin_weak": (
        422,
        _("新密码过于简单（不能为初始密码、重复或连续数字）。"),
    ),
    "card.pin_unchanged": (
        422,
        _("新密码不能与原密码相同。"),
    ),
    # E-card
    "ecard.already_issued": (409, _("该社保卡已签发电子社保卡。")),
    "ecard.not_found": (404, _("未找到电子社保卡。")),
    "ecard.password_invalid": (
        400,
        _("电子社保卡密码须为6位数字。"),
    ),
    "ecard.password_weak": (
        422,
        _("电子社保卡密码过于简单（不能为初始密码、重复或连续数字）。"),
    ),
    "ecard.password_unchanged": (
        422,
        _("新密码不能与原密码相同。"),
    ),
    # Holders
    "holder.id_number_invalid": (
        400,
        _("证件号码无效：{reason}"),
    ),
    "holder.id_type_invalid": (400, _("证件类型无效。")),
    "holder.name_mismatch": (
        409,
        _("证件号码已登记在其他姓名下。"),
    ),
    "holder.correction_staff_only": (
        403,
        _("姓名、证件号码的变更须持证件到服务网点办理。"),
    ),
    "holder.nothing_to_correct": (400, _("姓名和证件号码与登记的相同，无需变更。")),
    "holder.person_exists": (
        409,
        _("该证件号码已登记为另一位持卡人，请核实。"),
    ),
    "holder.guardian_required": (
        400,
        _("未满{age}周岁须由监护人办理，并提供关系证明。"),
    ),
    "holder.guardian_invalid": (
        400,
        _("监护人不能是本人，且须已成年。"),
    ),
    "holder.not_minor": (
        400,
        _("被监护人须未满{age}周岁。"),
    ),
    "holder.guardian_staff_only": (
        403,
        _("监护关系须由监护人携带身份证件和关系证明到社保卡服务网点登记。"),
    ),
    "holder.phone_invalid": (400, _("手机号码无效。")),
    # Accounts and client tokens
    "auth.not_authenticated": (401, _("请先登录。")),
    "auth.invalid_credentials": (401, _("手机号或密码错误。")),
    "auth.unavailable": (503, _("登录服务暂时不可用，请稍后再试。")),
    "auth.challenge_required": (
        429,
        _("该网络登录失败次数较多，请先完成安全验证（/api/v1/auth/challenge）再试。"),
    ),
    "auth.token_invalid": (401, _("登录凭证无效。")),
    "auth.token_expired": (
        401,
        _("登录已过期，请重新登录。"),
    ),
    "auth.token_revoked": (
        401,
        _("登录已失效，请重新登录。"),
    ),
    "auth.token_reused": (
        401,
        _("检测到登录凭证被重复使用，已退出该会话，请重新登录。"),
    ),
    "account.phone_taken": (409, _("该手机号已注册。")),
    "account.password_invalid": (422, _("{reason}")),
    "account.already_bound": (
        409,
        _("该账号已绑定其他持卡人。"),
    ),
    "ecard.identity_mismatch": (
        403,
        _("姓名、证件号码与社保卡号不一致。"),
    ),
    "ecard.password_wrong": (403, _("电子社保卡密码错误。")),
    # Identity proofing for binding an e-card and for lifting a loss in the app
    "identity.verification_required": (
        403,
        _("请先完成短信验证码和实人认证（人脸识别）。"),
    ),
    "identity.code_invalid": (403, _("短信验证码错误。")),
    "identity.code_expired": (
        403,
        _("短信验证码已失效（已过期、已使用或错误次数过多），请重新获取。"),
    ),
    "identity.challenge_limit": (
        429,
        _("今日获取验证码次数已达上限（{limit}次），请明天再试或到社保卡服务网点办理。"),
    ),
    "identity.no_phone_on_file": (
        409,
        _("该社保卡未登记手机号，无法在线绑定。请携带身份证件到社保卡服务网点登记手机号或办理。"),
    ),
    "identity.sms_unavailable": (
        503,
        _("短信暂时无法发送，请稍后再试。"),
    ),
    "identity.not_verified": (
        403,
        _("实人认证未通过或已超时，请重新进行人脸识别。如多次失败，请到服务网点更新社保卡照片。"),
    ),
    "identity.unavailable": (
        503,
        _("实人认证服务暂时不可用，请稍后再试。"),
    ),
    "authorisation.not_needed": (
        409,
        _("社保卡状态正常，无需本人授权。"),
    ),
    "authorisation.purpose_invalid": (
        400,
        _("授权用途无效：{purpose}"),
    ),
    "authorisation.duration_invalid": (
        400,
        _("授权时长须为1至{maximum}分钟。"),
    ),
    "authorisation.not_found": (404, _("未找到该授权。")),
    "authorisation.ended": (409, _("该授权已结束。")),
    "notice.not_found": (404, _("未找到该通知。")),
    # What the service matrix refuses (also the reasons a scan is rejected)
    "card.not_enabled": (
        409,
        _("社保卡尚未启用，请先启用（修改初始密码或到服务网点办理）。"),
    ),
    "card.temporarily_lost": (
        409,
        _("社保卡已临时挂失，需本人授权后方可使用电子社保卡。"),
    ),
    "card.lost": (
        409,
        _("社保卡已正式挂失，需本人授权后方可使用电子社保卡。"),
    ),
    "transit.no_payment_method": (
        409,
        _("乘车码需先绑定支付方式。"),
    ),
    "authorisation.required": (
        409,
        _("社保卡挂失期间，“{purpose}”需本人授权。"),
    ),
    # Family accounts (亲情账户)
    "family.member_is_ward": (
        409,
        _("未满{age}周岁的持卡人由监护人代办，不能加入亲情账户。"),
    ),
    "family.presenter_not_found": (
        404,
        _("未找到该代为出示人的电子社保卡：代为出示人须已申领电子社保卡。"),
    ),
    "family.member_not_found": (
        404,
        _("未找到该亲属的电子社保卡：请核对姓名和证件号码，亲属须已申领电子社保卡。"),
    ),
    "family.oneself": (400, _("不能邀请本人为亲情成员。")),
    "family.limit_reached": (409, _("亲情成员（含待同意的邀请）最多{maximum}人。")),
    "family.already_linked": (409, _("已邀请或已添加该亲属。")),
    "family.not_found": (404, _("未找到该亲情账户。")),
    "family.invitation_not_pending": (409, _("该邀请已处理。")),
    "family.invitation_expired": (409, _("该邀请已过期，请对方重新邀请。")),
    "family.ended": (409, _("该亲情账户已结束。")),
    "family.purpose_not_allowed": (403, _("亲情账户不能代为出示“{purpose}”二维码：一人一码乘车。")),
    "family.consent_ended": (409, _("亲情成员已解除代为出示，该二维码已失效。")),
    # Device certificates and device-signed codes
    "device.public_key_invalid": (422, _("设备公钥无效（须为 P-256 公钥的 base64）。")),
    "device.purpose_invalid": (400, _("设备证书用途无效：仅限乘车码、文化场馆和身份核验。")),
    "device.certificate_not_found": (404, _("未找到该设备证书。")),
    "device.certificate_revoked": (409, _("该设备证书已吊销。")),
    # Codes, scanners and scan mode
    "code.not_found": (404, _("未找到该二维码。")),
    "scanner.unauthenticated": (401, _("扫码设备未认证。")),
    "scanner.token_invalid": (401, _("扫码设备凭证无效。")),
    "scanner.token_expired": (401, _("扫码设备凭证已过期。")),
    "scanner.disabled": (403, _("该扫码设备已停用。")),
    "scanner.purpose_not_allowed": (
        403,
        _("该设备未登记此用途。"),
    ),
    "scanner.public_key_invalid": (
        400,
        _("设备公钥无效（需 Ed25519 或 SM2 公钥，PEM 或 base64 格式）。"),
    ),
    "scanner.kind_invalid": (400, _("设备类型无效。")),
    "scanner.purposes_invalid": (400, _("设备用途无效。")),
    "scanner.organisation_required": (400, _("请填写所属机构。")),
    "provider.unauthenticated": (401, _("支付机构未认证。")),
    "provider.token_invalid": (401, _("支付机构凭证无效。")),
    "provider.token_expired": (401, _("支付机构凭证已过期。")),
    "provider.disabled": (403, _("该支付机构已停用。")),
    "provider.public_key_invalid": (
        400,
        _("公钥无效（须为 Ed25519 或 SM2 公钥，PEM 或 base64 格式）。"),
    ),
    "provider.name_required": (400, _("请填写机构名称。")),
    "agreement.holder_mismatch": (
        422,
        _("卡号与证件号码不对应，或该卡当前不能签约乘车码。"),
    ),
    "agreement.id_reused": (
        409,
        _("该协议编号已用于另一张卡。"),
    ),
    "agreement.financial_inactive": (
        409,
        _("社保卡金融功能尚未激活，请持卡人先到合作银行网点激活。"),
    ),
    "agreement.lapsed": (
        409,
        _("该支付协议未在规定时间内确认，已失效，请在合作银行或支付机构重新签约。"),
    ),
    "provider.token_replayed": (401, _("该调用凭证已使用过。")),
    "agreement.ended": (409, _("该支付协议已解除。")),
    "agreement.not_found": (404, _("未找到该支付协议。")),
    "card.exists_in_region": (
        409,
        _("该参保人在本省已有社保卡，如需新卡请申请补领或换领。"),
    ),
    "application.open_exists": (
        409,
        _("该参保人在本省已有一份办理中的申请。"),
    ),
    "application.proof_number_required": (
        400,
        _("为未成年人申领须填写关系证明（出生医学证明或户口簿）编号。"),
    ),
    "application.not_found": (404, _("未找到该申请。")),
    "application.outlet_required": (400, _("请选择领卡网点。")),
    "application.address_required": (400, _("请填写邮寄地址。")),
    "application.step_invalid": (
        409,
        _("申请当前为“{state}”，不能改为“{to}”。"),
    ),
    "application.proof_unchecked": (
        409,
        _("该申请的监护关系证明须由服务网点工作人员核验后受理。"),
    ),
    "application.reason_required": (400, _("请填写未通过的原因。")),
    "application.tracking_required": (
        400,
        _("邮寄须填写快递单号。"),
    ),
    "application.not_withdrawable": (
        409,
        _("申请当前为“{state}”，已不能撤回。"),
    ),
    "certificate.not_available": (
        409,
        _("仅办理中的补换卡申请有领卡证明（新卡领取后即失效）。"),
    ),
    "certificate.font_missing": (
        503,
        _("领卡证明暂时无法生成（服务器缺少中文字体），请到服务网点打印。"),
    ),
    "photo.required": (400, _("请上传证件照片。")),
    "photo.invalid": (
        400,
        _("照片须为JPEG或PNG格式的图片。"),
    ),
    "photo.too_large": (413, _("照片不能超过{limit_mb}MB。")),
    "photo.too_many_pixels": (
        413,
        _("照片像素过多，请上传不超过{megapixels}百万像素的照片。"),
    ),
    "photo.too_small": (
        422,
        _("照片至少须为{width}×{height}像素（证件照尺寸）。"),
    ),
    "store.unavailable": (
        503,
        _("核销服务暂时不可用，请稍后重新上传。"),
    ),
    "revocations.cursor_ahead": (
        400,
        _("since 超出了当前的吊销列表游标，请从头（since=0）重新同步。"),
    ),
    "scanner.upload_invalid": (
        400,
        _("上传的扫码记录无效：{reason}"),
    ),
    "session.not_found": (404, _("未找到该扫码会话。")),
    "session.already_confirmed": (
        409,
        _("该扫码会话已确认。"),
    ),
    "session.expired": (
        409,
        _("该扫码会话已过期，请重新扫码。"),
    ),
    # Requests
    "request.invalid": (400, _("请求参数有误：{detail}")),
    "request.unknown_field": (400, _("不支持的字段：{name}")),
    "request.malformed": (400, _("请求体不是有效的JSON。")),
    "request.too_large": (413, _("请求体过大。")),
    "request.unsupported_media_type": (
        415,
        _("仅支持 application/json。"),
    ),
    "request.method_not_allowed": (405, _("不支持该请求方法。")),
    "request.not_found": (404, _("未找到。")),
    "request.forbidden": (403, _("无权访问。")),
    "request.unavailable": (503, _("服务暂时不可用，请稍后再试。")),
    "request.failed": (500, _("服务出错了，请稍后再试。")),
    "scanner.too_late": (503, _("核验未能及时完成，本次未使用该码，请重新扫码。")),
    "request.throttled": (
        429,
        _("尝试过于频繁，请{wait}秒后再试。"),
    ),
    "idempotency.key_reused": (
        422,
        _("该 Idempotency-Key 已用于另一个请求。"),
    ),
    "idempotency.in_progress": (
        409,
        _("相同 Idempotency-Key 的请求正在处理中。"),
    ),
}


class DomainError(Exception):
    """A business rule refused the operation. Nothing was changed by the refused step."""

    def __init__(self, code: str, *, field: str | None = None, **params: Any) -> None:
        if code not in CATALOGUE:
            raise KeyError(f"unknown domain error code {code!r}")
        self.code = code
        self.field = field
        self.params = params
        self.status = CATALOGUE[code][0]
        super().__init__(code)

    def render(self, language: str | None = None) -> str:
        """The message in ``language``, or in the active one (the request's)."""
        if language is not None:
            with override(language):
                return self.render()
        english = (get_language() or "").startswith("en")
        values = {}
        for name, value in self.params.items():
            # A parameter ``x_en`` is ``x`` as worded in English (a validator's own message).
            if name.endswith("_en"):
                continue
            if english and f"{name}_en" in self.params:
                value = self.params[f"{name}_en"]
            values[name] = str(value) if isinstance(value, Promise) else value
        return str(CATALOGUE[self.code][1]).format(**values)

    @property
    def message(self) -> str:
        return self.render()

    @property
    def message_en(self) -> str:
        return self.render("en")

    def as_dict(self) -> dict:
        body = {"code": self.code, "message": self.message, "message_en": self.message_en}
        if self.field:
            body["field"] = self.field
        return body

    def __str__(self) -> str:
        return self.message
