"""The one domain error type: a stable machine-readable code and a message in Chinese and English.

Services raise ``DomainError("card.loss_irrevocable")``; the catalogue below holds the
texts so that every caller (API, admin, management commands) shows the same words and
tests can assert the code, never the text.
"""

from __future__ import annotations

# code: (HTTP status, 中文, English). Messages may carry str.format() fields.
CATALOGUE: dict[str, tuple[int, str, str]] = {
    # Physical card lifecycle
    "card.not_found": (404, "未找到该社保卡。", "Card not found."),
    "card.cancelled": (409, "该社保卡已注销。", "The card has been cancelled."),
    "card.not_received": (
        409,
        "社保卡尚未领取，请先到服务网点领卡。",
        "The card has not been collected yet; collect it at a service outlet first.",
    ),
    "card.already_received": (409, "该社保卡已领取。", "The card has already been collected."),
    "card.agent_required": (
        403,
        "因死亡或宣告失踪注销，须由代办人持双方证件到服务网点办理，并登记代办人证件。",
        "Cancelling for death or a declaration of missing is done at an outlet by an agent, whose ID "
        "document staff record.",
    ),
    "card.cancel_reason_outlet_only": (
        403,
        "在线注销仅限社保关系转移省外或出国定居，其他原因请到服务网点办理。",
        "Online cancellation is for moving out of the province or settling abroad; for other "
        "reasons visit an outlet.",
    ),
    "card.in_production": (
        409,
        "社保卡尚在制作中，乘车码须待领卡启用后使用。",
        "The card is still being made; the transit code works once it is collected and enabled.",
    ),
    "card.financial_at_bank": (
        403,
        "金融功能须由持卡人本人在合作银行网点激活。",
        "The financial function is activated by the holder in person at a partner bank.",
    ),
    "card.financial_already_active": (409, "金融功能已激活。", "The financial function is already active."),
    "card.already_enabled": (409, "社保卡已启用。", "The card is already enabled."),
    "card.not_sealed": (
        409,
        "只有封存状态的社保卡可以启用。",
        "Only a sealed card can be enabled.",
    ),
    "card.not_active": (
        409,
        "社保卡当前状态（{state}）不能办理此业务。",
        "The card's current state ({state}) does not allow this operation.",
    ),
    "card.already_temporarily_lost": (
        409,
        "社保卡已临时挂失。",
        "The card is already temporarily reported lost.",
    ),
    "card.already_lost": (409, "社保卡已正式挂失。", "The card is already formally reported lost."),
    "card.not_lost": (409, "社保卡未挂失，无需解挂。", "The card is not reported lost."),
    "card.loss_irrevocable": (
        409,
        "正式挂失后不能撤销挂失。",
        "A formal loss report cannot be undone.",
    ),
    "card.replacement_applied": (
        409,
        "已申请补换新卡，原卡即使找回也不能解挂。",
        "A replacement has been applied for; the old card can no longer be reinstated.",
    ),
    "card.replacement_not_allowed": (
        409,
        "社保卡当前状态（{state}）不能申请{kind}。",
        "The card's current state ({state}) does not allow a {kind} application.",
    ),
    "card.replacement_pending": (
        409,
        "该卡已有进行中的补换卡申请。",
        "A replacement for this card is already in progress.",
    ),
    "card.renewal_not_open": (
        409,
        "有效期截止日（{valid_until}）前{days}天起方可申请换领。",
        "Renewal opens {days} days before the card expires on {valid_until}.",
    ),
    "card.not_temporarily_lost": (
        409,
        "社保卡不在临时挂失状态。",
        "The card is not temporarily reported lost.",
    ),
    "card.deadline_not_passed": (
        409,
        "临时挂失尚未到期（{deadline}）。",
        "The temporary loss has not reached its deadline ({deadline}).",
    ),
    "card.already_cancelled": (409, "社保卡已注销。", "The card is already cancelled."),
    "card.cancel_reason_invalid": (
        400,
        "注销原因无效。",
        "Invalid cancellation reason.",
    ),
    "card.cancel_reason_reserved": (
        400,
        "“换卡注销”由新卡启用时自动办理。",
        "Cancellation as 'replaced' happens automatically when the new card is enabled.",
    ),
    "card.one_per_region": (
        409,
        "同一参保人在同一省份只能持有一张有效社保卡。",
        "A holder may hold only one non-cancelled card per province.",
    ),
    "card.number_taken": (409, "卡号已被占用。", "That card number is already in use."),
    "card.expired": (
        409,
        "社保卡已过有效期，请申请换领。",
        "The card has expired; apply for a renewal.",
    ),
    # PIN
    "card.pin_wrong": (
        403,
        "社保密码错误，还可尝试{remaining}次。",
        "Wrong PIN; {remaining} attempt(s) left.",
    ),
    "card.pin_locked": (
        403,
        "社保密码连续错误次数过多，社保应用已锁定，请持身份证件到服务网点解锁。",
        "Too many wrong PINs: the card is locked. Unlock it at a service outlet with your ID.",
    ),
    "card.pin_invalid": (400, "社保密码须为6位数字。", "The PIN must be 6 digits."),
    "card.pin_weak": (
        422,
        "新密码过于简单（不能为初始密码、重复或连续数字）。",
        "The new PIN is too simple (not the initial PIN, repeated or consecutive digits).",
    ),
    "card.pin_unchanged": (
        422,
        "新密码不能与原密码相同。",
        "The new PIN must differ from the old one.",
    ),
    # E-card
    "ecard.already_issued": (409, "该社保卡已签发电子社保卡。", "This card already has an e-card."),
    "ecard.not_found": (404, "未找到电子社保卡。", "E-card not found."),
    "ecard.password_invalid": (
        400,
        "电子社保卡密码须为6位数字。",
        "The e-card password must be 6 digits.",
    ),
    "ecard.password_weak": (
        422,
        "电子社保卡密码过于简单（不能为初始密码、重复或连续数字）。",
        "The e-card password is too simple (not the initial PIN, repeated or consecutive digits).",
    ),
    "ecard.password_unchanged": (
        422,
        "新密码不能与原密码相同。",
        "The new password must differ from the old one.",
    ),
    # Holders
    "holder.id_number_invalid": (
        400,
        "证件号码无效：{reason}",
        "Invalid ID number: {reason}",
    ),
    "holder.id_type_invalid": (400, "证件类型无效。", "Invalid ID document type."),
    "holder.name_mismatch": (
        409,
        "证件号码已登记在其他姓名下。",
        "That ID number is registered under another name.",
    ),
    "holder.guardian_required": (
        400,
        "未满{age}周岁须由监护人办理，并提供关系证明。",
        "A holder under {age} acts through a guardian with proof of relationship.",
    ),
    "holder.guardian_invalid": (
        400,
        "监护人不能是本人，且须已成年。",
        "The guardian must be another, adult holder.",
    ),
    "holder.not_minor": (
        400,
        "被监护人须未满{age}周岁。",
        "A ward must be under {age}.",
    ),
    "holder.phone_invalid": (400, "手机号码无效。", "Invalid mobile phone number."),
    # Accounts and client tokens
    "auth.not_authenticated": (401, "请先登录。", "Sign in first."),
    "auth.invalid_credentials": (401, "手机号或密码错误。", "Wrong phone number or password."),
    "auth.token_invalid": (401, "登录凭证无效。", "The token is not valid."),
    "auth.token_expired": (
        401,
        "登录已过期，请重新登录。",
        "The token has expired; sign in again.",
    ),
    "auth.token_revoked": (
        401,
        "登录已失效，请重新登录。",
        "This session has ended; sign in again.",
    ),
    "auth.token_reused": (
        401,
        "检测到登录凭证被重复使用，已退出该会话，请重新登录。",
        "A used refresh token was presented again; the session is closed. Sign in again.",
    ),
    "account.phone_taken": (409, "该手机号已注册。", "That phone number is already registered."),
    "account.password_invalid": (422, "{reason}", "{reason}"),
    "account.already_bound": (
        409,
        "该账号已绑定其他持卡人。",
        "This account is already bound to another holder.",
    ),
    "ecard.identity_mismatch": (
        403,
        "姓名、证件号码与社保卡号不一致。",
        "The name, ID number and card number do not match.",
    ),
    "ecard.password_wrong": (403, "电子社保卡密码错误。", "Wrong e-card password."),
    # Identity proofing for binding an e-card and for lifting a loss in the app
    "identity.verification_required": (
        403,
        "请先完成短信验证码和实人认证（人脸识别）。",
        "Complete the SMS code and the real-person check (face match) first.",
    ),
    "identity.code_invalid": (403, "短信验证码错误。", "Wrong SMS code."),
    "identity.code_expired": (
        403,
        "短信验证码已失效（已过期、已使用或错误次数过多），请重新获取。",
        "The SMS code no longer works (expired, used, or too many wrong tries); request a new one.",
    ),
    "identity.challenge_limit": (
        429,
        "今日获取验证码次数已达上限（{limit}次），请明天再试或到社保卡服务网点办理。",
        "Today's limit of {limit} SMS codes is reached; try tomorrow or visit a card service outlet.",
    ),
    "identity.no_phone_on_file": (
        409,
        "该社保卡未登记手机号，无法在线绑定。请携带身份证件到社保卡服务网点登记手机号或办理。",
        "No phone number is on file for this card, so it cannot be bound online. Visit a card "
        "service outlet with your ID to register a phone number.",
    ),
    "identity.sms_unavailable": (
        503,
        "短信暂时无法发送，请稍后再试。",
        "The SMS could not be sent just now; try again later.",
    ),
    "identity.not_verified": (
        403,
        "实人认证未通过或已超时，请重新进行人脸识别。如多次失败，请到服务网点更新社保卡照片。",
        "The real-person check failed or is too old; do the face match again. If it keeps "
        "failing, renew the card photo at a service outlet.",
    ),
    "identity.unavailable": (
        503,
        "实人认证服务暂时不可用，请稍后再试。",
        "The real-person check service is unavailable; try again later.",
    ),
    "authorisation.not_needed": (
        409,
        "社保卡状态正常，无需本人授权。",
        "The card is not lost; no authorisation is needed.",
    ),
    "authorisation.purpose_invalid": (
        400,
        "授权用途无效：{purpose}",
        "Invalid purpose for an authorisation: {purpose}",
    ),
    "authorisation.duration_invalid": (
        400,
        "授权时长须为1至{maximum}分钟。",
        "The duration must be 1 to {maximum} minutes.",
    ),
    "authorisation.not_found": (404, "未找到该授权。", "Authorisation not found."),
    "authorisation.ended": (409, "该授权已结束。", "The authorisation has already ended."),
    "notice.not_found": (404, "未找到该通知。", "Notice not found."),
    # What the service matrix refuses (also the reasons a scan is rejected)
    "card.not_enabled": (
        409,
        "社保卡尚未启用，请先启用（修改初始密码或到服务网点办理）。",
        "The card is not enabled yet; enable it first (change the initial PIN or visit an outlet).",
    ),
    "card.temporarily_lost": (
        409,
        "社保卡已临时挂失，需本人授权后方可使用电子社保卡。",
        "The card is temporarily reported lost; the e-card works only under your authorisation.",
    ),
    "card.lost": (
        409,
        "社保卡已正式挂失，需本人授权后方可使用电子社保卡。",
        "The card is reported lost; the e-card works only under your authorisation.",
    ),
    "transit.no_payment_method": (
        409,
        "乘车码需先绑定支付方式。",
        "Link a payment method before using the transit code.",
    ),
    "authorisation.required": (
        409,
        "社保卡挂失期间，“{purpose}”需本人授权。",
        "While the card is lost, '{purpose}' needs your authorisation.",
    ),
    # Codes, scanners and scan mode
    "code.not_found": (404, "未找到该二维码。", "Code not found."),
    "scanner.unauthenticated": (401, "扫码设备未认证。", "The scanner is not authenticated."),
    "scanner.token_invalid": (401, "扫码设备凭证无效。", "The scanner's token is not valid."),
    "scanner.token_expired": (401, "扫码设备凭证已过期。", "The scanner's token has expired."),
    "scanner.disabled": (403, "该扫码设备已停用。", "This scanner is disabled."),
    "scanner.purpose_not_allowed": (
        403,
        "该设备未登记此用途。",
        "This scanner is not registered for that purpose.",
    ),
    "scanner.public_key_invalid": (
        400,
        "设备公钥无效（需 Ed25519 的 PEM 或 32 字节 base64）。",
        "Invalid device public key (Ed25519 PEM or 32 bytes in base64).",
    ),
    "scanner.kind_invalid": (400, "设备类型无效。", "Invalid scanner kind."),
    "scanner.purposes_invalid": (400, "设备用途无效。", "Invalid scanner purposes."),
    "scanner.organisation_required": (400, "请填写所属机构。", "The organisation is required."),
    "provider.unauthenticated": (401, "支付机构未认证。", "The payment provider is not authenticated."),
    "provider.token_invalid": (401, "支付机构凭证无效。", "The payment provider's token is not valid."),
    "provider.token_expired": (401, "支付机构凭证已过期。", "The payment provider's token has expired."),
    "provider.disabled": (403, "该支付机构已停用。", "This payment provider is disabled."),
    "provider.public_key_invalid": (
        400,
        "公钥无效（须为Ed25519公钥，PEM或base64格式）。",
        "Invalid public key (an Ed25519 key, PEM or base64).",
    ),
    "provider.name_required": (400, "请填写机构名称。", "The provider's name is required."),
    "agreement.holder_mismatch": (
        422,
        "卡号与证件号码不对应，或该卡已注销。",
        "The card number and ID number do not match, or the card is cancelled.",
    ),
    "agreement.no_ecard": (
        409,
        "该卡尚未申领电子社保卡，无法签约乘车码。",
        "The card has no e-card yet, so no transit agreement can be made.",
    ),
    "agreement.id_reused": (
        409,
        "该协议编号已用于另一张卡。",
        "This agreement id was already used for another card.",
    ),
    "agreement.financial_inactive": (
        409,
        "社保卡金融功能尚未激活，请持卡人先到合作银行网点激活。",
        "The card's financial function is not active yet; the holder activates it at a partner bank first.",
    ),
    "agreement.ended": (409, "该支付协议已解除。", "This payment agreement has ended."),
    "agreement.not_found": (404, "未找到该支付协议。", "Payment agreement not found."),
    "card.exists_in_region": (
        409,
        "该参保人在本省已有社保卡，如需新卡请申请补领或换领。",
        "This person already has a card in this province; apply for a replacement or renewal instead.",
    ),
    "application.open_exists": (
        409,
        "该参保人在本省已有一份办理中的申请。",
        "This person already has an application in progress in this province.",
    ),
    "application.proof_number_required": (
        400,
        "为未成年人申领须填写关系证明（出生医学证明或户口簿）编号。",
        "A child's application needs the number of the proof of relationship (birth certificate "
        "or household register).",
    ),
    "application.not_found": (404, "未找到该申请。", "Application not found."),
    "application.outlet_required": (400, "请选择领卡网点。", "Choose the outlet to collect the card at."),
    "application.address_required": (400, "请填写邮寄地址。", "Give the postal address."),
    "application.step_invalid": (
        409,
        "申请当前为“{state}”，不能改为“{to}”。",
        "The application is {state}; it cannot become {to}.",
    ),
    "application.reason_required": (400, "请填写未通过的原因。", "Give the reason for the rejection."),
    "application.tracking_required": (
        400,
        "邮寄须填写快递单号。",
        "A posted card needs its tracking number.",
    ),
    "application.not_withdrawable": (
        409,
        "申请当前为“{state}”，已不能撤回。",
        "The application is {state}; it can no longer be withdrawn.",
    ),
    "certificate.not_available": (
        409,
        "仅办理中的补换卡申请有领卡证明（新卡领取后即失效）。",
        "Only a replacement in progress has a collection certificate; it lapses once the new card "
        "is collected.",
    ),
    "certificate.font_missing": (
        503,
        "领卡证明暂时无法生成（服务器缺少中文字体），请到服务网点打印。",
        "The certificate cannot be made just now (the server lacks its CJK font); get it printed "
        "at an outlet.",
    ),
    "photo.required": (400, "请上传证件照片。", "Upload an ID photo."),
    "photo.invalid": (
        400,
        "照片须为JPEG或PNG格式的图片。",
        "The photo must be a JPEG or PNG image.",
    ),
    "photo.too_large": (413, "照片不能超过{limit_mb}MB。", "The photo may be at most {limit_mb} MB."),
    "photo.too_small": (
        422,
        "照片至少须为{width}×{height}像素（证件照尺寸）。",
        "The photo must be at least {width}×{height} pixels (the ID-photo size).",
    ),
    "store.unavailable": (
        503,
        "核销服务暂时不可用，请稍后重新上传。",
        "The single-use store is unavailable; upload again later.",
    ),
    "revocations.cursor_ahead": (
        400,
        "since 超出了当前的吊销列表游标，请从头（since=0）重新同步。",
        "since is beyond the current revocation cursor; sync again from since=0.",
    ),
    "scanner.upload_invalid": (
        400,
        "上传的扫码记录无效：{reason}",
        "Invalid uploaded scan: {reason}",
    ),
    "session.not_found": (404, "未找到该扫码会话。", "Scan session not found."),
    "session.already_confirmed": (
        409,
        "该扫码会话已确认。",
        "This scan session is already confirmed.",
    ),
    "session.expired": (
        409,
        "该扫码会话已过期，请重新扫码。",
        "This scan session has expired; scan again.",
    ),
    # Requests
    "request.invalid": (400, "请求参数有误：{detail}", "Invalid request: {detail}"),
    "request.unknown_field": (400, "不支持的字段：{name}", "Unknown field: {name}"),
    "request.malformed": (400, "请求体不是有效的JSON。", "The request body is not valid JSON."),
    "request.too_large": (413, "请求体过大。", "The request body is too large."),
    "request.unsupported_media_type": (
        415,
        "仅支持 application/json。",
        "Only application/json is accepted.",
    ),
    "request.method_not_allowed": (405, "不支持该请求方法。", "Method not allowed."),
    "request.not_found": (404, "未找到。", "Not found."),
    "request.forbidden": (403, "无权访问。", "Forbidden."),
    "request.throttled": (
        429,
        "尝试过于频繁，请{wait}秒后再试。",
        "Too many attempts; try again in {wait} s.",
    ),
    "idempotency.key_reused": (
        422,
        "该 Idempotency-Key 已用于另一个请求。",
        "This Idempotency-Key was used for a different request.",
    ),
    "idempotency.in_progress": (
        409,
        "相同 Idempotency-Key 的请求正在处理中。",
        "A request with this Idempotency-Key is still being processed.",
    ),
}


class DomainError(Exception):
    """A business rule refused the operation. Nothing was changed by the refused step."""

    def __init__(self, code: str, *, field: str | None = None, **params):
        if code not in CATALOGUE:
            raise KeyError(f"unknown domain error code {code!r}")
        self.code = code
        self.field = field
        self.params = params
        status, zh, en = CATALOGUE[code]
        self.status = status
        self.message = zh.format(**params)
        # A parameter ``x_en`` is ``x`` as worded in English (a validator's own message).
        english = {name[:-3]: value for name, value in params.items() if name.endswith("_en")}
        self.message_en = en.format(**{**params, **english})
        super().__init__(f"{code}: {self.message_en}")

    def as_dict(self) -> dict:
        body = {"code": self.code, "message": self.message, "message_en": self.message_en}
        if self.field:
            body["field"] = self.field
        return body

    def __str__(self) -> str:
        return f"{self.message} / {self.message_en}"
