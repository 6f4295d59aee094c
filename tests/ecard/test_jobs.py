"""Scheduled jobs and notices: milestones, deadlines, pick-up, state changes; once and only once."""

import datetime
import re
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from ecard import jobs, notices, services, tasks
from ecard.audit import Actor
from ecard.models import Card, Notice, NoticeDelivery
from tests.support import NOTICE_PARAMS, Holder_

pytestmark = [pytest.mark.django_db, pytest.mark.dates]
SHANGHAI = ZoneInfo("Asia/Shanghai")
LINK = re.compile(r"https?://|www\.|://|\.(com|cn|net|org)\b|\b[a-z0-9-]+\.[a-z]{2,}/", re.I)


def run_job(name, *args):
    out = StringIO()
    call_command("run_job", name, *args, stdout=out)
    return out.getvalue()


class TestNoLinks:
    def test_no_rendered_notice_of_any_kind_contains_a_link(self):
        params = NOTICE_PARAMS
        for kind in notices.TEMPLATES:
            for text in notices.render(kind, params):
                assert not LINK.search(text), (kind, text)
            assert "12333" in "".join(notices.render(kind, params))

    def test_the_link_detector_catches_links(self):
        for text in ("请访问 https://x.cn/a", "登录www.example.com", "点击 t.cn/abc"):
            assert LINK.search(text)


class TestExpiry:
    def test_a_holder_hears_at_60_30_and_7_days_and_on_the_day_once_each(self, make_card):
        start = datetime.date(2026, 1, 1)
        card = make_card(
            issued_on=start - datetime.timedelta(days=3000), valid_until=start + datetime.timedelta(days=70)
        )
        seen = []
        for offset in range(0, 72):
            day = start + datetime.timedelta(days=offset)
            run_job("expiry_notices", "--date", day.isoformat())
            for notice in Notice.objects.filter(kind="card.expiring").exclude(
                milestone__in=[m for _, m in seen]
            ):
                seen.append((day, notice.milestone))
        expiry = card.valid_until
        assert seen == [
            (expiry - datetime.timedelta(days=60), "60d"),
            (expiry - datetime.timedelta(days=30), "30d"),
            (expiry - datetime.timedelta(days=7), "7d"),
            (expiry, "0d"),
        ]
        body = Notice.objects.get(milestone="7d").body
        assert card.number[-4:] in body and expiry.isoformat() in body

    def test_the_day_after_the_last_valid_day_the_holder_is_told_once_that_the_card_expired(self, make_card):
        expiry = datetime.date(2026, 6, 30)
        card = make_card(issued_on=expiry - datetime.timedelta(days=3650), valid_until=expiry)
        told = []
        for offset in range(0, 5):
            run_job("expiry_notices", "--date", (expiry + datetime.timedelta(days=offset)).isoformat())
            told.append(Notice.objects.filter(kind="card.expired").count())
        assert told == [0, 1, 1, 1, 1]  # valid on its last day; told the next, and only once
        notice = Notice.objects.get(kind="card.expired")
        assert notice.milestone == "expired"
        assert card.number[-4:] in notice.body and expiry.isoformat() in notice.body
        assert "12333" in notice.body and "换领" in notice.body
        # The day itself was the "today" notice; nothing more after the first expired one.
        assert list(Notice.objects.filter(kind="card.expiring").values_list("milestone", flat=True)) == ["0d"]

    def test_a_card_expired_long_before_the_job_first_ran_is_not_told_again_and_again(self, make_card):
        today = datetime.date(2026, 6, 30)
        make_card(
            issued_on=today - datetime.timedelta(days=4000), valid_until=today - datetime.timedelta(days=90)
        )
        run_job("expiry_notices", "--date", today.isoformat())
        assert not Notice.objects.filter(kind="card.expired").exists()

    def test_no_holder_is_told_to_renew_what_renewal_would_refuse(self, make_card, system, settings):
        # The notice says "请在App“社保卡-换领”中申请换领": a card reported lost is replaced,
        # not renewed, and a milestone before the renewal window opens would be refused too.
        today = datetime.date(2026, 3, 1)
        lost = make_card(
            issued_on=today - datetime.timedelta(days=3000), valid_until=today + datetime.timedelta(days=6)
        )
        services.card_report_temporary_loss(card=lost, by=system)
        settings.CARD_RENEWAL_WINDOW_DAYS = 30
        make_card(
            issued_on=today - datetime.timedelta(days=3000), valid_until=today + datetime.timedelta(days=45)
        )
        run_job("expiry_notices", "--date", today.isoformat())
        assert not Notice.objects.exists()
        run_job("expiry_notices", "--date", (today + datetime.timedelta(days=15)).isoformat())
        assert list(Notice.objects.values_list("milestone", flat=True)) == ["30d"]

    def test_a_missed_day_still_sends_the_milestone_owed(self, make_card):
        today = datetime.date(2026, 3, 1)
        make_card(
            issued_on=today - datetime.timedelta(days=3000), valid_until=today + datetime.timedelta(days=25)
        )
        run_job("expiry_notices", "--date", today.isoformat())
        assert list(Notice.objects.values_list("milestone", flat=True)) == ["30d"]

    def test_running_the_expiry_job_twice_gives_one_notice(self, make_card):
        today = timezone.localdate()
        make_card(
            issued_on=today - datetime.timedelta(days=3000), valid_until=today + datetime.timedelta(days=50)
        )
        assert "1 notices written" in run_job("expiry_notices")
        assert "0 notices written" in run_job("expiry_notices")
        tasks.expiry_notices.delay()
        assert Notice.objects.count() == 1

    def test_cancelled_and_already_renewing_cards_are_left_alone(self, make_card, make_holder, system):
        today = timezone.localdate()
        soon = {
            "issued_on": today - datetime.timedelta(days=3000),
            "valid_until": today + datetime.timedelta(days=50),
        }
        services.card_cancel(card=make_card(**soon), reason="emigrated", by=system)
        renewing = make_card(holder=make_holder(name="李四"), **soon)
        services.card_apply_renewal(card=renewing, by=system)
        run_job("expiry_notices")
        assert not Notice.objects.filter(kind="card.expiring").exists()

    def test_the_job_works_in_primary_key_chunks(self, make_card, make_holder, settings):
        settings.NOTICE_CHUNK_SIZE = 2
        today = timezone.localdate()
        for i in range(5):
            make_card(
                holder=make_holder(name=f"持卡人{i}"),
                issued_on=today - datetime.timedelta(days=3000),
                valid_until=today + datetime.timedelta(days=10 + i),
            )
        chunks = jobs.expiry_chunks()
        assert len(chunks) == 3 and all(high - low <= 2 for low, high in chunks)
        assert tasks.expiry_notices.delay().get() == 3
        assert Notice.objects.count() == 5

    def test_a_chunk_reports_what_it_wrote_when_a_racing_run_wrote_them_first(
        self, make_card, make_holder, monkeypatch
    ):
        today = timezone.localdate()
        for i in range(3):
            make_card(
                holder=make_holder(name=f"持卡人{i}"),
                issued_on=today - datetime.timedelta(days=3000),
                valid_until=today + datetime.timedelta(days=5),
            )
        [(low, high)] = jobs.expiry_chunks()
        real_bulk_create = Notice.objects.bulk_create

        def another_run_got_there_first(objects, **kwargs):
            racing = [
                Notice(**{f: getattr(n, f) for f in ("holder_id", "kind", "subject", "milestone")})
                for n in objects
            ]
            real_bulk_create(racing, **kwargs)
            return real_bulk_create(objects, **kwargs)

        monkeypatch.setattr(Notice.objects, "bulk_create", another_run_got_there_first)
        assert jobs.expiry_notices_chunk(low=low, high=high, today=today) == 0
        assert Notice.objects.count() == 3

    def test_a_chunk_killed_half_way_and_run_again_leaves_no_duplicates_and_no_gaps(
        self, make_card, make_holder, monkeypatch
    ):
        today = timezone.localdate()
        for i in range(6):
            make_card(
                holder=make_holder(name=f"持卡人{i}"),
                issued_on=today - datetime.timedelta(days=3000),
                valid_until=today + datetime.timedelta(days=5),
            )
        [(low, high)] = jobs.expiry_chunks()
        real_bulk_create = Notice.objects.bulk_create

        def die_half_way(objects, **kwargs):
            real_bulk_create(objects[:3], **kwargs)
            raise SystemExit("worker killed")

        monkeypatch.setattr(Notice.objects, "bulk_create", die_half_way)
        with pytest.raises(SystemExit):
            jobs.expiry_notices_chunk(low=low, high=high, today=today)
        assert Notice.objects.count() == 0  # the chunk is one transaction
        monkeypatch.setattr(Notice.objects, "bulk_create", real_bulk_create)
        jobs.expiry_notices_chunk(low=low, high=high, today=today)
        jobs.expiry_notices_chunk(low=low, high=high, today=today)
        assert Notice.objects.count() == 6
        assert len(set(Notice.objects.values_list("subject", flat=True))) == 6


class TestLossDeadlines:
    def report_loss_on_national_day_eve(self, card, system):
        with time_machine.travel(datetime.datetime(2025, 9, 30, 10, 0, tzinfo=SHANGHAI), tick=False):
            return services.card_report_temporary_loss(card=card, by=Actor.holder(None))

    def test_reminded_on_the_last_working_day_and_lapsed_after_it_across_the_holiday(
        self, card, system, django_capture_on_commit_callbacks
    ):
        self.report_loss_on_national_day_eve(card, system)  # deadline 12 Oct 00:00
        with time_machine.travel(datetime.datetime(2025, 10, 9, 12, 0, tzinfo=SHANGHAI), tick=False):
            assert "0 reminded, 0 lapsed" in run_job("loss_deadlines")
        with time_machine.travel(datetime.datetime(2025, 10, 11, 9, 0, tzinfo=SHANGHAI), tick=False):
            assert "1 reminded, 0 lapsed" in run_job("loss_deadlines")  # Sat 11 Oct: a make-up workday
            assert "0 reminded, 0 lapsed" in run_job("loss_deadlines")
        assert Card.objects.get(pk=card.pk).state == "temporarily_lost"
        with time_machine.travel(datetime.datetime(2025, 10, 12, 0, 5, tzinfo=SHANGHAI), tick=False):
            with django_capture_on_commit_callbacks(execute=True):
                assert "0 reminded, 1 lapsed" in run_job("loss_deadlines")
            assert "0 lapsed" in run_job("loss_deadlines")
        card = Card.objects.get(pk=card.pk)
        assert card.state == "active"
        assert card.audit_events.get(action="card.loss_lapsed").actor_label == "system:loss_deadlines"
        kinds = sorted(Notice.objects.values_list("kind", flat=True))
        assert kinds == ["card.loss_lapsed", "loss.deadline_reminder"]

    def test_a_loss_lifted_before_the_job_runs_is_left_alone(self, card, system):
        card = self.report_loss_on_national_day_eve(card, system)
        services.card_lift_loss(card=card, by=Actor.staff(User.objects.create(username="clerk")))
        with time_machine.travel(datetime.datetime(2025, 10, 12, 0, 5, tzinfo=SHANGHAI), tick=False):
            assert "0 lapsed" in run_job("loss_deadlines")
        assert not card.audit_events.filter(action="card.loss_lapsed").exists()


class TestReplacementReady:
    def test_the_holder_hears_once_when_the_new_card_can_be_collected(self, card, system):
        services.card_report_formal_loss(card=card, by=system)
        new = services.card_apply_replacement(card=card, kind="loss", by=system)
        with time_machine.travel(
            datetime.datetime.combine(new.ready_on, datetime.time(8), SHANGHAI) - datetime.timedelta(days=1)
        ):
            assert "0 holders told" in run_job("replacement_ready")
        with time_machine.travel(datetime.datetime.combine(new.ready_on, datetime.time(9), SHANGHAI)):
            assert "1 holders told" in run_job("replacement_ready")
            assert "0 holders told" in run_job("replacement_ready")
        notice = Notice.objects.get(kind="replacement.ready")
        assert new.number[-4:] in notice.body and "12333" in notice.body

    def test_a_replacement_applied_for_online_is_told_by_its_application_not_by_a_date(
        self, app_holder, clerk
    ):
        from ecard.models import CardApplication
        from tests.ecard.services.test_applications import staff_move

        lost = app_holder.post("/api/v1/card/loss-report")
        assert lost.status_code == 200
        applied = app_holder.api.post(
            "/api/v1/card-applications",
            {
                "kind": "replacement_loss",
                "identity_token": "dev-real-person-ok",
                "delivery": "post",
                "postal_address": "北京市东城区东四十条1号",
            },
            format="multipart",
            **app_holder.auth,
        )
        assert applied.status_code == 201, applied.json()
        new = CardApplication.objects.get().new_card
        # Still submitted when the computed pick-up date comes: nobody is told to collect it.
        with time_machine.travel(datetime.datetime.combine(new.ready_on, datetime.time(9), SHANGHAI)):
            assert "0 holders told" in run_job("replacement_ready")
        assert not Notice.objects.filter(kind="replacement.ready").exists()
        for step in ("accepted", "in_production", "ready"):
            staff_move(applied.json()["id"], step, clerk, tracking_number="SF1234567890")
        ready = Notice.objects.get(kind="application.ready")
        assert "SF1234567890" in ready.body and "领卡证明" not in ready.body


class TestStateChangeNotices:
    def test_a_staff_formal_loss_is_told_to_the_holder_after_commit(
        self, card, clerk, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            services.card_report_formal_loss(card=card, by=Actor.staff(clerk))
            assert not Notice.objects.exists()  # nothing before the commit
        for callback in callbacks:
            callback()
        notice = Notice.objects.get(holder=card.holder)
        assert notice.kind == "card.loss_formalised" and "不可撤销" in notice.body

    def test_a_rolled_back_change_sends_nothing(self, card, clerk, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            with pytest.raises(RuntimeError), transaction.atomic():
                services.card_cancel(card=card, reason="emigrated", by=Actor.staff(clerk))
                raise RuntimeError("the outlet's printer jammed")
        assert not Notice.objects.exists() and Card.objects.get(pk=card.pk).state == "active"

    def test_what_the_holder_did_themselves_is_not_told_back(
        self, api, make_card, django_capture_on_commit_callbacks
    ):
        holder = Holder_(api, make_card(), "13900000007")
        with django_capture_on_commit_callbacks(execute=True):
            holder.post("/api/v1/card/loss-report")
            holder.post("/api/v1/card/loss-lift")
        assert not Notice.objects.exists()

    @pytest.mark.parametrize(
        ("operation", "kind"),
        [
            (
                lambda c, by: services.card_cancel(card=c, reason="moved_out_of_province", by=by),
                "card.cancelled",
            ),
            (lambda c, by: services.card_unlock_pin(card=c, by=by), "card.pin_unlocked"),
            (lambda c, by: services.card_reset_pin(card=c, by=by), "card.pin_reset"),
        ],
    )
    def test_staff_operations_are_told(
        self, card, clerk, operation, kind, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            operation(card, Actor.staff(clerk))
        assert list(Notice.objects.values_list("kind", flat=True)) == [kind]

    def test_activating_a_new_card_tells_of_the_activation_and_the_old_cards_cancellation(
        self, card, clerk, django_capture_on_commit_callbacks
    ):
        by = Actor.staff(clerk)
        services.card_report_formal_loss(card=card, by=by)
        new = services.card_apply_replacement(card=card, kind="loss", by=by)
        services.card_mark_received(card=new, by=by)
        with django_capture_on_commit_callbacks(execute=True):
            services.card_enable(card=new, by=by)
        assert sorted(Notice.objects.values_list("kind", flat=True)) == ["card.cancelled", "card.enabled"]


class FlakyChannel:
    name = "sms"
    calls = 0

    def send(self, notice):
        FlakyChannel.calls += 1
        if FlakyChannel.calls == 1:
            raise notices.TransientDeliveryError("gateway busy")


class TestDelivery:
    def test_a_transient_channel_failure_is_logged_and_retried_until_delivered(self, holder, settings):
        settings.NOTICE_CHANNELS = ["ecard.notices.LoggingChannel", "tests.ecard.test_jobs.FlakyChannel"]
        FlakyChannel.calls = 0
        notices.notice_send(
            holder=holder, kind="replacement.ready", subject="1", params={"card_tail": "1234"}
        )
        with pytest.raises(notices.TransientDeliveryError):
            notices.notices_deliver()
        assert Notice.objects.get().delivered_at is None
        assert NoticeDelivery.objects.filter(ok=False, channel="sms").count() == 1
        assert notices.notices_deliver() == 1
        assert Notice.objects.get().delivered_at is not None
        assert notices.notices_deliver() == 0  # delivered once

    def test_a_notice_another_deliverer_claimed_is_not_handed_over_again_until_its_claim_is_stale(
        self, holder, settings
    ):
        notice = notices.notice_send(
            holder=holder, kind="replacement.ready", subject="1", params={"card_tail": "1234"}
        )
        notices.outbox.clear()
        for channel in ("log", "outbox"):  # a deliverer at work on it, or one that died just now
            NoticeDelivery.objects.create(notice=notice, channel=channel, ok=None, claim="another")
        assert notices.notices_deliver() == 0 and notices.outbox == []
        with time_machine.travel(
            timezone.now() + datetime.timedelta(seconds=settings.NOTICE_CLAIM_STALE_SECONDS + 1)
        ):
            assert notices.notices_deliver() == 1
        assert [m["notice"] for m in notices.outbox] == [notice.public_id]  # once, under its own id
        assert notices.notices_deliver() == 0 and len(notices.outbox) == 1

    def test_a_notice_is_stored_once_per_milestone(self, holder):
        first = notices.notice_send(
            holder=holder, kind="replacement.ready", subject="9", params={"card_tail": "1"}
        )
        again = notices.notice_send(
            holder=holder, kind="replacement.ready", subject="9", params={"card_tail": "1"}
        )
        assert first is not None and again is None and Notice.objects.count() == 1


class TestHousekeeping:
    def test_expired_idempotency_keys_and_tokens_are_purged(self, app_holder):
        from accounts.models import IdempotencyRecord

        app_holder.post("/api/v1/card/loss-report", HTTP_IDEMPOTENCY_KEY="k")
        assert "0 idempotency_keys" in run_job("housekeeping")
        with time_machine.travel(timezone.now() + datetime.timedelta(days=31)):
            output = run_job("housekeeping")
        assert "1 idempotency_keys" in output and "refresh_tokens" in output
        assert not IdempotencyRecord.objects.exists()

    def test_card_changes_older_than_a_day_are_purged(self, app_holder):
        from codes.models import SnapshotChange

        app_holder.post("/api/v1/card/loss-report")  # a change the verify path must hear of
        assert SnapshotChange.objects.count() == 1
        assert "0 snapshot_changes" in run_job("housekeeping")
        with time_machine.travel(timezone.now() + datetime.timedelta(days=1, minutes=1)):
            assert "1 snapshot_changes" in run_job("housekeeping")
        assert not SnapshotChange.objects.exists()


def test_staff_browse_notices_and_the_delivery_log_without_seeing_names(client, auditor, holder):
    from django.urls import reverse

    notices.notice_send(holder=holder, kind="replacement.ready", subject="1", params={"card_tail": "1234"})
    notices.notices_deliver()
    client.force_login(auditor)
    page = client.get(reverse("admin:ecard_notice_changelist")).content.decode()
    assert "replacement.ready" in page and holder.name_masked in page and holder.name not in page
    log = client.get(reverse("admin:ecard_noticedelivery_changelist")).content.decode()
    assert "log" in log
