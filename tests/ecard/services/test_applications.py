"""Card applications online: apply, follow, replace; a photo is checked as an image."""

import datetime
import io

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image, UnidentifiedImageError

from ecard import services
from ecard.audit import Actor
from ecard.models import AuditEvent, Card, CardApplication, CardState, ECard, Notice
from ecard.photos import photo_open
from plumbing.errors import DomainError
from tests.support import Holder_, make_id_number, register_and_sign_in, years_ago

pytestmark = [pytest.mark.django_db, pytest.mark.dates]


def photo(size=(413, 531), fmt="JPEG", name="photo.jpg", exif=False):
    buffer = io.BytesIO()
    image = Image.new("RGB", size, (200, 180, 160))
    extra = {}
    if exif:
        data = Image.Exif()
        data[0x010F] = "PhoneMaker"  # Make
        extra["exif"] = data
    image.save(buffer, format=fmt, **extra)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/jpeg")


class Account(Holder_):
    """Signed in, nothing bound yet."""

    def __init__(self, phone):
        from rest_framework.test import APIClient

        self.api = APIClient()
        self.tokens = register_and_sign_in(self.api, phone)
        self.auth = {"HTTP_AUTHORIZATION": f"Bearer {self.tokens['access']}"}

    def apply(self, query="", **fields):
        return self.api.post(f"/api/v1/card-applications{query}", fields, format="multipart", **self.auth)


def new_card_fields(**override):
    return {
        "kind": "new",
        "identity_token": settings.IDENTITY_DEV_TOKEN,
        "name": "赵敏",
        "id_type": "resident_id",
        "id_number": make_id_number(datetime.date(1990, 5, 1)),
        "region": "11",
        "phone": "13900004444",
        "delivery": "outlet",
        "outlet": "东城区社保卡服务网点",
        "photo": photo(),
        **override,
    }


def staff_move(application_id, to, clerk, **params):
    application = CardApplication.objects.get(public_id=application_id)
    return services.application_advance(application=application, to=to, by=Actor.staff(clerk), **params)


class TestApplyForACard:
    def test_apply_then_accepted_in_production_ready_collected_and_enabled(
        self, clerk, django_capture_on_commit_callbacks
    ):
        account = Account("13900004444")
        response = account.apply(**new_card_fields())
        assert response.status_code == 201, response.json()
        application = response.json()
        assert (application["kind"], application["state"]) == ("new", "submitted")
        for step in ("accepted", "in_production", "ready", "collected"):
            staff_move(application["id"], step, clerk)
            [listed] = account.get("/api/v1/card-applications").json()
            assert listed["state"] == step
        assert listed["new_card_number_masked"]
        card = CardApplication.objects.get(public_id=application["id"]).new_card
        assert card.is_received and card.state == CardState.SEALED
        assert services.card_enable(card=card, by=Actor.staff(clerk)).state == CardState.ACTIVE
        kinds = list(Notice.objects.filter(holder=card.holder).order_by("id").values_list("kind", flat=True))
        assert kinds[:5] == [
            f"application.{s}" for s in ("submitted", "accepted", "in_production", "ready", "collected")
        ]
        ready = Notice.objects.get(holder=card.holder, kind="application.ready")
        application_now = CardApplication.objects.get(public_id=application["id"])
        assert "东城区社保卡服务网点" in ready.body and application_now.collect_by.isoformat() in ready.body

    @pytest.mark.parametrize("reached", ["in_production", "ready"])
    def test_a_card_handed_over_on_the_card_page_collects_its_application(self, clerk, staff_client, reached):
        from django.urls import reverse

        account = Account("13900004444")
        application = account.apply(**new_card_fields()).json()
        for step in ("accepted", "in_production", "ready")[: 2 if reached == "in_production" else 3]:
            staff_move(application["id"], step, clerk)
        card = CardApplication.objects.get(public_id=application["id"]).new_card
        # The clerk uses the card page's 领卡 and 启用, not the application's steps.
        client = staff_client(clerk)
        client.post(reverse("admin:ecard_card_operate", args=[card.pk, "receive"]), {})
        client.post(reverse("admin:ecard_card_operate", args=[card.pk, "enable"]), {})
        assert Card.objects.get(pk=card.pk).state == CardState.ACTIVE
        [listed] = account.get("/api/v1/card-applications").json()
        assert listed["state"] == "collected"  # nothing left open behind the card in their hands
        collected = Notice.objects.filter(holder=card.holder, kind="application.collected")
        assert collected.count() == 1

    def test_the_collected_step_after_the_card_was_handed_over_elsewhere_is_no_error(self, clerk, system):
        account = Account("13900004444")
        application = account.apply(**new_card_fields()).json()
        for step in ("accepted", "in_production", "ready"):
            staff_move(application["id"], step, clerk)
        card = CardApplication.objects.get(public_id=application["id"]).new_card
        from django.utils import timezone

        Card.objects.filter(pk=card.pk).update(received_at=timezone.now())  # recorded elsewhere
        staff_move(application["id"], "collected", clerk)
        assert CardApplication.objects.get(public_id=application["id"]).state == "collected"

    def test_the_photo_is_stored_sealed_and_without_its_exif(self):
        import io

        from django.core.files.storage import storages

        account = Account("13900004444")
        account.apply(**new_card_fields(photo=photo(exif=True)))
        stored = CardApplication.objects.get().photo
        with storages["default"].open(stored) as handle:
            raw = handle.read()
        with pytest.raises(UnidentifiedImageError):
            Image.open(io.BytesIO(raw))  # the file at rest is no image: it is sealed
        with Image.open(io.BytesIO(photo_open(stored))) as image:
            assert image.size == (413, 531) and not image.getexif()

    def test_a_guardian_applies_for_a_child_and_the_link_is_made_when_staff_accept_the_proof(
        self, make_card, clerk
    ):
        guardian = Holder_(__import__("rest_framework.test").test.APIClient(), make_card(), "13800000001")
        child = new_card_fields(
            name="张小雨",
            id_number=make_id_number(years_ago(6)),
            guardian_proof="birth_certificate",
            guardian_proof_number="Q110123456",
        )
        response = guardian.api.post("/api/v1/card-applications", child, format="multipart", **guardian.auth)
        assert response.status_code == 201, response.json()
        application = CardApplication.objects.get()
        assert application.holder.guardian_id is None  # the application's say-so links nobody
        assert guardian.get("/api/v1/wards").json() == []
        [listed] = guardian.get("/api/v1/card-applications").json()
        assert listed["state"] == "submitted"
        staff_move(listed["id"], "accepted", clerk)
        ward = CardApplication.objects.get().holder
        assert ward.guardian_id == guardian.card.holder_id and ward.guardian_proof == "birth_certificate"
        assert [w["id"] for w in guardian.get("/api/v1/wards").json()] == [str(ward.public_id)]

    def test_after_the_wards_16th_birthday_the_former_guardian_neither_lists_nor_withdraws_it(
        self, make_card, clerk
    ):
        from io import StringIO

        from django.core.management import call_command

        guardian = Holder_(__import__("rest_framework.test").test.APIClient(), make_card(), "13800000001")
        child = new_card_fields(
            name="张小雨",
            id_number=make_id_number(years_ago(6)),
            guardian_proof="birth_certificate",
            guardian_proof_number="Q110123456",
        )
        assert (
            guardian.api.post(
                "/api/v1/card-applications", child, format="multipart", **guardian.auth
            ).status_code
            == 201
        )
        [listed] = guardian.get("/api/v1/card-applications").json()
        staff_move(listed["id"], "accepted", clerk)
        ward = CardApplication.objects.get().holder
        # Ten years on: the ward turns 16 today, and the night's job has run.
        type(ward).objects.filter(pk=ward.pk).update(date_of_birth=years_ago(16))
        call_command("run_job", "guardian_links", stdout=StringIO())
        assert guardian.get("/api/v1/card-applications").json() == []
        withdrawn = guardian.post(f"/api/v1/card-applications/{listed['id']}/withdraw")
        assert withdrawn.status_code == 404
        assert CardApplication.objects.get().state == "accepted"

    def test_a_person_with_a_live_card_in_the_region_is_refused(self, card):
        fields = new_card_fields(name=card.holder.name, id_number=card.holder.id_number)
        response = Account("13900004444").apply(**fields)
        assert response.status_code == 409 and response.json()["code"] == "card.exists_in_region"


class TestBadInputWritesNothing:
    @pytest.mark.parametrize(
        ("upload", "status", "code"),
        [
            (photo(fmt="GIF", name="photo.jpg"), 400, "photo.invalid"),
            (
                SimpleUploadedFile("photo.jpg", b"\xff\xd8\xff\xe0" + b"0" * 2000, "image/jpeg"),
                400,
                "photo.invalid",
            ),
            (photo(size=(100, 100)), 422, "photo.too_small"),
            (
                SimpleUploadedFile("photo.jpg", b"\xff" * (3 * 1024 * 1024), "image/jpeg"),
                413,
                "photo.too_large",
            ),
        ],
        ids=["gif-named-jpg", "not-an-image", "100x100", "3MB"],
    )
    def test_a_bad_photo(self, upload, status, code):
        response = Account("13900004444").apply(**new_card_fields(photo=upload))
        assert response.status_code == status and response.json()["code"] == code
        assert not CardApplication.objects.exists() and not Card.objects.exists()

    def test_a_small_file_declaring_forty_two_megapixels_is_refused_before_it_is_decoded(self):
        buffer = io.BytesIO()
        Image.new("1", (7000, 6000)).save(buffer, format="PNG", optimize=True)
        assert len(buffer.getvalue()) < 100 * 1024  # small on the wire, ≈ 126 MB once decoded
        bomb = SimpleUploadedFile("photo.png", buffer.getvalue(), content_type="image/png")
        response = Account("13900004444").apply(**new_card_fields(photo=bomb))
        assert response.status_code == 413 and response.json()["code"] == "photo.too_many_pixels"
        assert not CardApplication.objects.exists()

    @pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
    def test_no_comment_or_colour_profile_survives_into_the_stored_photo(self, fmt):
        from PIL import ImageCms

        buffer = io.BytesIO()
        profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
        extra = {"icc_profile": profile, **({"comment": b"taken at 31.2N 121.5E"} if fmt == "JPEG" else {})}
        Image.new("RGB", (413, 531), (200, 180, 160)).save(buffer, format=fmt, **extra)
        upload = SimpleUploadedFile(f"photo.{fmt.lower()}", buffer.getvalue(), content_type="image/jpeg")
        account = Account("13900004444")
        assert account.apply(**new_card_fields(photo=upload)).status_code == 201
        with Image.open(io.BytesIO(photo_open(CardApplication.objects.get().photo))) as stored:
            assert "icc_profile" not in stored.info and "comment" not in stored.info
            assert stored.size == (413, 531)

    def test_a_second_open_application(self):
        account = Account("13900004444")
        fields = new_card_fields()
        assert account.apply(**fields).status_code == 201
        again = account.apply(**{**fields, "photo": photo()})
        assert again.status_code == 409 and again.json()["code"] == "application.open_exists"
        assert CardApplication.objects.count() == 1

    def test_a_withdrawn_application_cannot_be_moved_by_staff(self, clerk):
        account = Account("13900004444")
        application = account.apply(**new_card_fields()).json()
        withdrawn = account.post(f"/api/v1/card-applications/{application['id']}/withdraw")
        assert withdrawn.status_code == 200 and withdrawn.json()["state"] == "withdrawn"
        from plumbing.errors import DomainError

        with pytest.raises(DomainError) as refused:
            staff_move(application["id"], "accepted", clerk)
        assert refused.value.code == "application.step_invalid"
        assert CardApplication.objects.get().state == "withdrawn"

    def test_without_a_real_person_check_nothing_is_written(self):
        response = Account("13900004444").apply(**new_card_fields(identity_token="not-my-face"))
        assert response.status_code == 403 and response.json()["code"] == "identity.not_verified"
        assert not CardApplication.objects.exists()


class TestReplacementOnline:
    def test_after_a_loss_from_the_app_the_new_card_takes_the_e_card_when_enabled(self, app_holder, clerk):
        app_holder.post("/api/v1/card/loss-report")
        response = app_holder.api.post(
            "/api/v1/card-applications",
            {
                "kind": "replacement_loss",
                "identity_token": settings.IDENTITY_DEV_TOKEN,
                "delivery": "post",
                "postal_address": "北京市东城区某街1号",
            },
            format="multipart",
            **app_holder.auth,
        )
        assert response.status_code == 201, response.json()
        old = Card.objects.get(pk=app_holder.card.pk)
        assert old.state == CardState.LOST  # the temporary loss became formal in the same step
        application = response.json()
        staff_move(application["id"], "accepted", clerk)
        staff_move(application["id"], "in_production", clerk)
        staff_move(application["id"], "ready", clerk, tracking_number="SF1234567890")
        staff_move(application["id"], "collected", clerk)
        new = CardApplication.objects.get(public_id=application["id"]).new_card
        services.card_enable(card=new, by=Actor.staff(clerk))
        assert ECard.objects.get(card=new) and Card.objects.get(pk=old.pk).state == CardState.CANCELLED

    def test_a_withdrawn_replacement_frees_the_old_card(self, app_holder):
        response = app_holder.api.post(
            "/api/v1/card-applications",
            {
                "kind": "replacement_damage",
                "identity_token": settings.IDENTITY_DEV_TOKEN,
                "delivery": "outlet",
                "outlet": "东城区社保卡服务网点",
            },
            format="multipart",
            **app_holder.auth,
        )
        application = response.json()
        app_holder.post(f"/api/v1/card-applications/{application['id']}/withdraw")
        new = CardApplication.objects.get(public_id=application["id"]).new_card
        assert new.state == CardState.CANCELLED and new.cancellation_reason == "application_ended"
        assert Card.objects.get(pk=app_holder.card.pk).replacement_applied_at is None

    def test_someone_elses_application_is_not_found(self, app_holder, other_app_holder):
        application = app_holder.api.post(
            "/api/v1/card-applications",
            {
                "kind": "replacement_damage",
                "identity_token": settings.IDENTITY_DEV_TOKEN,
                "delivery": "outlet",
                "outlet": "网点",
            },
            format="multipart",
            **app_holder.auth,
        ).json()
        response = other_app_holder.post(f"/api/v1/card-applications/{application['id']}/withdraw")
        assert response.status_code == 404 and response.json()["code"] == "application.not_found"


class TestStaffMoveABatch:
    def test_a_batch_is_accepted_in_the_admin_and_a_rejection_needs_a_reason(self, staff_client, clerk):
        ids = [
            Account(f"1390000{n:04d}").apply(**new_card_fields(phone=f"1390000{n:04d}")).json()["id"]
            for n in range(2)
        ]
        pks = [CardApplication.objects.get(public_id=i).pk for i in ids]
        url = reverse("admin:ecard_cardapplication_changelist")
        client = staff_client(clerk)
        client.post(url, {"action": "accept", "_selected_action": pks})
        assert set(CardApplication.objects.values_list("state", flat=True)) == {"accepted"}
        page = client.post(url, {"action": "reject", "_selected_action": pks[:1]})
        assert "reason" in page.content.decode()
        client.post(url, {"action": "reject", "_selected_action": pks[:1], "reason": "照片不符合要求"})
        rejected = CardApplication.objects.get(pk=pks[0])
        assert rejected.state == "rejected" and rejected.reject_reason == "照片不符合要求"
        assert AuditEvent.objects.filter(action="application.rejected", actor=clerk).exists()


class TestTheFactorysProgressFile:
    def run(self, tmp_path, *lines):
        from io import StringIO

        from django.core.management import call_command

        path = tmp_path / "progress.csv"
        path.write_text("\n".join(["reference,state,date,tracking_number", *lines]) + "\n", encoding="utf-8")
        out, err = StringIO(), StringIO()
        call_command("import_card_progress", str(path), stdout=out, stderr=err)
        return out.getvalue(), err.getvalue()

    def test_a_file_moves_applications_through_every_step_up_to_the_one_named(self, tmp_path, app_holder):
        posted = (
            Account("13900004444")
            .apply(**new_card_fields(delivery="post", postal_address="北京市东城区1号"))
            .json()
        )
        replacement = app_holder.api.post(
            "/api/v1/card-applications",
            {
                "kind": "replacement_damage",
                "identity_token": settings.IDENTITY_DEV_TOKEN,
                "delivery": "outlet",
                "outlet": "网点",
            },
            format="multipart",
            **app_holder.auth,
        ).json()
        number = CardApplication.objects.get(public_id=replacement["id"]).new_card.number
        out, _ = self.run(
            tmp_path, f"{posted['id']},ready,2026-12-01,SF1234567890", f"{number},in_production,2026-12-01,"
        )
        assert "2 moved on" in out
        posted_now = CardApplication.objects.get(public_id=posted["id"])
        assert posted_now.state == "ready" and posted_now.tracking_number == "SF1234567890"
        assert CardApplication.objects.get(public_id=replacement["id"]).state == "in_production"
        steps = Notice.objects.filter(holder=posted_now.holder, kind__startswith="application.").count()
        assert steps == 4  # submitted, accepted, in production, ready
        out, _ = self.run(tmp_path, f"{posted['id']},ready,2026-12-01,SF1234567890")
        assert "0 moved on, 1 already there" in out

    def test_any_bad_line_and_nothing_is_written(self, tmp_path):
        from django.core.management import CommandError

        good = Account("13900004444").apply(**new_card_fields()).json()
        with pytest.raises(CommandError, match="nothing written"):
            self.run(
                tmp_path,
                f"{good['id']},accepted,2026-12-01,",
                "Z99999999,ready,2026-12-01,",
                f"{good['id']},lost,x,",
            )
        assert CardApplication.objects.get(public_id=good["id"]).state == "submitted"

    def test_bad_lines_are_named(self, tmp_path):
        from io import StringIO

        from django.core.management import CommandError, call_command

        good = Account("13900004444").apply(**new_card_fields()).json()
        path = tmp_path / "progress.csv"
        lines = [
            "Z99999999,ready,2026-12-01,",
            f"{good['id']},accepted,01/12/2026,",
            "=cmd,accepted,2026-12-01,",
        ]
        path.write_text("\n".join(["reference,state,date,tracking_number", *lines]) + "\n", encoding="utf-8")
        err = StringIO()
        with pytest.raises(CommandError):
            call_command("import_card_progress", str(path), stdout=StringIO(), stderr=err)
        assert "line 2: reference: no application" in err.getvalue()
        assert "line 3: date: not an ISO date" in err.getvalue()
        assert "line 4: reference: starts with '='" in err.getvalue()


class TestCancellationOnline:
    def test_a_holder_cancels_for_a_transfer_after_a_real_person_check_and_the_e_card_ends(self, app_holder):
        missing = app_holder.post("/api/v1/card/cancel", {"reason": "moved_out_of_province"})
        assert missing.status_code == 403 and missing.json()["code"] == "identity.verification_required"
        assert Card.objects.get(pk=app_holder.card.pk).state == CardState.ACTIVE
        response = app_holder.post(
            "/api/v1/card/cancel",
            {"reason": "moved_out_of_province", "identity_token": settings.IDENTITY_DEV_TOKEN},
        )
        assert response.status_code == 200 and response.json()["card"]["state"] == "cancelled"
        assert {v["verdict"] for v in response.json()["services"].values()} == {"denied"}
        code = app_holder.post("/api/v1/codes", {"purpose": "identity"})
        assert code.status_code == 409 and code.json()["code"] == "card.cancelled"

    def test_death_is_not_cancelled_in_the_app(self, app_holder):
        response = app_holder.post(
            "/api/v1/card/cancel", {"reason": "deceased", "identity_token": settings.IDENTITY_DEV_TOKEN}
        )
        assert response.status_code == 400 and response.json()["field"] == "reason"
        from plumbing.errors import DomainError

        with pytest.raises(DomainError) as refused:
            services.card_cancel(card=app_holder.card, reason="deceased", by=Actor.holder(None))
        assert refused.value.code == "card.cancel_reason_outlet_only"
        assert Card.objects.get(pk=app_holder.card.pk).state == CardState.ACTIVE


class TestThirdGeneration:
    def test_the_e_card_comes_with_the_application_and_shows_an_identity_code_on_day_one(
        self, make_scanner, staff_client, supervisor
    ):
        from ecard.models import RegionSetting

        client = staff_client(supervisor)
        response = client.post(
            reverse("admin:ecard_regionsetting_add"), {"region": "44", "third_generation": "on"}
        )
        assert response.status_code == 302 and RegionSetting.objects.get(region="44").third_generation
        account = Account("13900004444")
        missing = account.apply(**new_card_fields(region="44"))
        assert missing.status_code == 400 and missing.json()["field"] == "ecard_password"
        applied = account.apply(**new_card_fields(region="44", ecard_password="730519"))
        assert applied.status_code == 201, applied.json()
        ecard = account.get("/api/v1/ecard").json()
        assert ecard["card"]["state"] == "sealed" and ecard["card"]["received"] is False
        assert {p: v["verdict"] for p, v in ecard["services"].items()} == {
            "identity": "allowed",
            "culture": "allowed",
            "payment": "allowed",
            "transit": "denied",
        }
        code = account.post("/api/v1/codes", {"purpose": "identity"})
        assert code.status_code == 201
        assert make_scanner(organisation="人社局").verdict(code.json()["code"])["result"] == "accepted"
        transit = account.post("/api/v1/codes", {"purpose": "transit"})
        assert transit.status_code == 409 and transit.json()["code"] == "card.in_production"

    def test_elsewhere_the_e_card_waits_for_the_card(self):
        account = Account("13900004444")
        assert account.apply(**new_card_fields(region="11")).status_code == 201
        assert account.get("/api/v1/ecard").status_code == 404


class TestMovingProvince:
    """A holder with a card in Beijing (11) applies for one in a new province; until the new
    card is collected and enabled, the old one is the one in their pocket."""

    def holder_in_beijing(self, make_card):
        from rest_framework.test import APIClient

        return Holder_(APIClient(), make_card(region="11"), "13800000001")

    def apply_elsewhere(self, holder, region, **extra):
        person = holder.card.holder
        fields = new_card_fields(
            name=person.name, id_number=person.id_number, region=region, phone=person.phone, **extra
        )
        response = holder.api.post("/api/v1/card-applications", fields, format="multipart", **holder.auth)
        assert response.status_code == 201, response.json()
        return response.json()

    def test_in_a_third_generation_province_the_card_in_the_pocket_stays_the_one_shown_and_reported(
        self, make_card, staff_client, supervisor
    ):
        from ecard.models import RegionSetting

        RegionSetting.objects.create(region="44", third_generation=True)
        holder = self.holder_in_beijing(make_card)
        self.apply_elsewhere(holder, "44", ecard_password="730519")
        shown = holder.get("/api/v1/ecard").json()
        assert (shown["card"]["number_masked"], shown["card"]["state"]) == (
            holder.card.number_masked,
            "active",
        )
        assert sorted((c["region"], c["state"]) for c in shown["cards"]) == [
            ("11", "active"),
            ("44", "sealed"),
        ]
        reported = holder.post("/api/v1/card/loss-report")
        assert reported.status_code == 200, reported.json()
        assert Card.objects.get(pk=holder.card.pk).state == CardState.TEMPORARILY_LOST

    def test_elsewhere_the_collected_card_is_the_one_enabled_and_the_e_card_follows_it(
        self, make_card, clerk
    ):
        holder = self.holder_in_beijing(make_card)
        application = self.apply_elsewhere(holder, "31")
        for step in ("accepted", "in_production", "ready", "collected"):
            staff_move(application["id"], step, clerk)
        told = Notice.objects.get(kind="application.collected", holder=holder.card.holder)
        assert "启用" in told.body  # the notice sends the holder to enable it in the app
        assert holder.get("/api/v1/ecard").json()["card"]["state"] == "active"  # Beijing's, still
        enabled = holder.post("/api/v1/card/enable")
        assert enabled.status_code == 200, enabled.json()
        assert (enabled.json()["card"]["region"], enabled.json()["card"]["state"]) == ("31", "active")
        assert Card.objects.get(pk=holder.card.pk).cancellation_reason == "transferred"

    def test_a_collected_replacement_not_enabled_yet_is_the_card_a_loss_report_applies_to(
        self, make_card, clerk
    ):
        holder = self.holder_in_beijing(make_card)
        staff = Actor.staff(clerk)
        services.card_report_formal_loss(card=holder.card, by=staff)
        new = services.card_apply_replacement(card=holder.card, kind="loss", by=staff)
        services.card_mark_received(card=new, by=staff)  # handed over, not enabled yet
        reported = holder.post("/api/v1/card/loss-report")
        assert reported.status_code == 200, reported.json()
        assert Card.objects.get(pk=new.pk).state == CardState.TEMPORARILY_LOST

    def test_a_card_cancelled_at_the_counter_ends_the_application_that_was_making_it(self, make_card, clerk):
        holder = self.holder_in_beijing(make_card)
        application = self.apply_elsewhere(holder, "31")
        for step in ("accepted", "in_production"):
            staff_move(application["id"], step, clerk)
        made = CardApplication.objects.get(public_id=application["id"]).new_card
        services.card_cancel(card=made, reason="emigrated", by=Actor.staff(clerk))
        [listed] = holder.get("/api/v1/card-applications").json()
        assert listed["state"] == "rejected" and "出国定居" in listed["reject_reason"]
        told = Notice.objects.get(kind="application.rejected", holder=holder.card.holder)
        assert "已注销" in told.body

    def test_enabling_a_card_where_the_holder_was_leaves_the_card_being_made_where_they_go(
        self, make_card, clerk
    ):
        # Found by the card-life model: a Beijing renewal enabled while a Shanghai application
        # was in production retired the Shanghai card and left its application open for good.
        holder = self.holder_in_beijing(make_card)
        staff = Actor.staff(clerk)
        application = self.apply_elsewhere(holder, "31")
        for step in ("accepted", "in_production"):
            staff_move(application["id"], step, clerk)
        renewal = services.card_apply_replacement(card=holder.card, kind="damage", by=staff)
        services.card_mark_received(card=renewal, by=staff)
        assert holder.post("/api/v1/card/enable").status_code == 200
        [listed] = holder.get("/api/v1/card-applications").json()
        assert listed["state"] == "in_production"
        made = CardApplication.objects.get(public_id=application["id"]).new_card
        assert Card.objects.get(pk=made.pk).state == CardState.SEALED
        # The new province's card, collected and enabled, retires Beijing's in turn.
        for step in ("ready", "collected"):
            staff_move(application["id"], step, clerk)
        assert holder.post("/api/v1/card/enable").json()["card"]["region"] == "31"
        assert Card.objects.get(pk=renewal.pk).cancellation_reason == "transferred"

    def test_whatever_cancels_a_card_being_made_ends_its_application(self, make_card, clerk):
        holder = self.holder_in_beijing(make_card)
        staff = Actor.staff(clerk)
        services.card_report_formal_loss(card=holder.card, by=staff)
        response = holder.api.post(
            "/api/v1/card-applications",
            {
                "kind": "replacement_loss",
                "identity_token": settings.IDENTITY_DEV_TOKEN,
                "delivery": "outlet",
                "outlet": "东城区社保卡服务网点",
            },
            format="multipart",
            **holder.auth,
        )
        assert response.status_code == 201, response.json()
        # The old card cancelled at the counter takes the replacement being made with it.
        services.card_cancel(card=holder.card, reason="emigrated", by=staff)
        [listed] = holder.get("/api/v1/card-applications").json()
        assert listed["state"] == "rejected", listed

    def test_the_pin_changed_in_the_app_is_the_one_of_the_card_in_the_holders_hands(self, make_card, clerk):
        # Found by the card-life model: the counter reset the PIN of a collected replacement and
        # told the holder to change it in the app, which acted on the lost card and refused.
        holder = self.holder_in_beijing(make_card)
        staff = Actor.staff(clerk)
        services.card_report_formal_loss(card=holder.card, by=staff)
        new = services.card_apply_replacement(card=holder.card, kind="loss", by=staff)
        services.card_mark_received(card=new, by=staff)
        services.card_reset_pin(card=new, by=staff)
        changed = holder.post("/api/v1/card/pin", {"old_pin": "123456", "new_pin": "740286"})
        assert changed.status_code == 200, changed.json()
        # Its first change enabled it, and the e-card moved to it.
        assert (changed.json()["card"]["number_masked"], changed.json()["card"]["state"]) == (
            new.number_masked,
            "active",
        )

    def test_of_two_cards_in_hand_the_pin_changed_in_the_app_is_the_one_reset_at_the_counter(
        self, make_card, clerk, system
    ):
        # Found by the card-life model: a renewal handed over, the old card locked at a card
        # reader, the new one's PIN reset; the app's change must reach the reset one.
        holder = self.holder_in_beijing(make_card)
        staff = Actor.staff(clerk)
        renewal = services.card_apply_replacement(card=holder.card, kind="damage", by=staff)
        services.card_mark_received(card=renewal, by=staff)
        for _ in range(6):
            try:
                services.card_check_pin(card=holder.card, pin="000000", by=system)
            except DomainError:
                pass
        services.card_reset_pin(card=renewal, by=staff)
        changed = holder.post("/api/v1/card/pin", {"old_pin": "123456", "new_pin": "740286"})
        assert changed.status_code == 200, changed.json()
        assert Card.objects.get(pk=renewal.pk).state == CardState.ACTIVE
