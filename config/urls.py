from django.contrib import admin
from django.urls import include, path, re_path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from accounts import apis as account_apis
from codes import admin as code_admin
from codes import apis as code_apis
from codes import pages as code_pages
from ecard import apis, dashboard, pages
from plumbing import observability

admin.site.site_header = _("电子社保卡服务网点")
admin.site.site_title = _("电子社保卡")
admin.site.index_template = "admin/ecard/index.html"  # the index with a link to the dashboard

api_v1 = [
    # First: Django tries the routes in order, and this one takes the traffic.
    path("scanner/verify", code_apis.VerifyApi.as_view()),
    path("auth/register", account_apis.RegisterApi.as_view()),
    path("auth/token", account_apis.TokenApi.as_view()),
    path("auth/token/refresh", account_apis.TokenRefreshApi.as_view()),
    path("auth/challenge", account_apis.ChallengeApi.as_view()),
    path("auth/logout", account_apis.LogoutApi.as_view()),
    path("ecard", apis.ECardApi.as_view()),
    path("ecard/apply", apis.ECardApplyApi.as_view()),
    path("ecard/apply/challenge", apis.ECardApplyChallengeApi.as_view()),
    path("ecard/password", apis.ECardPasswordApi.as_view()),
    path("ecard/authorisations", apis.AuthorisationListApi.as_view()),
    path("ecard/authorisations/<str:authorisation_id>", apis.AuthorisationDetailApi.as_view()),
    path("ecard/payment-agreements", apis.PaymentAgreementListApi.as_view()),
    path("ecard/payment-agreements/<str:agreement_id>", apis.PaymentAgreementDetailApi.as_view()),
    path("ecard/payment-agreements/<str:agreement_id>/confirm", apis.PaymentAgreementConfirmApi.as_view()),
    path("providers/payment-agreements", apis.ProviderAgreementApi.as_view()),
    path("card/loss-report", apis.CardLossReportApi.as_view()),
    path("card/loss-lift", apis.CardLossLiftApi.as_view()),
    path("card/enable", apis.CardEnableApi.as_view()),
    path("card/pin", apis.CardPinApi.as_view()),
    path("card/renewal", apis.CardRenewalApi.as_view()),
    path("card/cancel", apis.CardCancelApi.as_view()),
    path("card-applications", apis.CardApplicationListApi.as_view()),
    path("card-applications/<str:application_id>/withdraw", apis.CardApplicationWithdrawApi.as_view()),
    path("card-applications/<str:application_id>/certificate.pdf", code_apis.CertificateApi.as_view()),
    path("wards", apis.WardListApi.as_view()),
    path("family", apis.FamilyListApi.as_view()),
    path("family/invitations", apis.FamilyInvitationListApi.as_view()),
    path("family/invitations/<str:link_id>/accept", apis.FamilyInvitationAcceptApi.as_view()),
    path("family/presenters", apis.FamilyPresenterListApi.as_view()),
    path("family/presenters/<str:link_id>", apis.FamilyPresenterDetailApi.as_view()),
    path("family/<str:link_id>", apis.FamilyDetailApi.as_view()),
    path("notices", apis.NoticeListApi.as_view()),
    path("notices/<str:notice_id>/read", apis.NoticeReadApi.as_view()),
    path("codes", code_apis.CodeIssueApi.as_view()),
    path("device-certificates", code_apis.DeviceCertificateListApi.as_view()),
    path("device-certificates/<str:serial>", code_apis.DeviceCertificateDetailApi.as_view()),
    # base45 text may hold "/" and ".": the whole rest of the path up to the extension.
    re_path(r"^codes/(?P<text>.+)\.(?P<fmt>png|svg)$", code_apis.CodeImageApi.as_view()),
    path("ecard/usage", code_apis.UsageApi.as_view()),
    path("scan-sessions/confirm", code_apis.ScanSessionConfirmApi.as_view()),
    path("scanner/keys", code_apis.KeysApi.as_view()),
    path("scanner/config", code_apis.ScannerConfigApi.as_view()),
    path("scanner/scans", code_apis.ScansUploadApi.as_view()),
    path("scanner/revocations", code_apis.RevocationsApi.as_view()),
    path("scanner/sessions", code_apis.ScanSessionCreateApi.as_view()),
    path("scanner/sessions/<str:session_id>", code_apis.ScanSessionStatusApi.as_view()),
]


urlpatterns = [
    path("", pages.h5, name="h5"),
    path("scanner-demo", code_pages.scanner_demo, name="scanner-demo"),
    path("api/v1/", include(api_v1)),
    path("admin/dashboard/", dashboard.dashboard, name="ecard-dashboard"),
    path(
        "admin/certificates/<str:application_id>.pdf",
        admin.site.admin_view(code_admin.staff_certificate),
        name="staff-certificate",
    ),
    path("admin/", admin.site.urls),
    path("healthz", observability.healthz),
    path("readyz", observability.readyz),
    path("metrics", observability.metrics_view),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", pages.docs(SpectacularSwaggerView.as_view(url_name="schema")), name="swagger-ui"),
    path("api/redoc/", pages.docs(SpectacularRedocView.as_view(url_name="schema")), name="redoc"),
]

handler404 = "plumbing.api.api_not_found"
handler400 = "plumbing.api.api_bad_request"
handler500 = "plumbing.api.api_server_error"
