"""Demo data for `make run`: holders in every card state and staff logins, via the services."""

import datetime
import secrets

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from stdnum.cn import ric

from accounts.models import GuardianProof, Holder, User
from accounts.services import holder_get_or_create, holder_set_guardian
from ecard import services
from ecard.audit import Actor
from ecard.models import CancellationReason, Card, ECardChannel, ReplacementKind
from plumbing.errors import DomainError


def demo_id_number(born: datetime.date, sequence: int) -> str:
    body = f"110105{born:%Y%m%d}{sequence:03d}"
    return body + ric.calc_check_digit(body + "0")


# name, birth date, card number, what happens to the card
DEMO = [
    ("张伟", datetime.date(1985, 3, 14), "A10000001", "active_with_ecard"),
    ("王芳", datetime.date(1990, 7, 2), "A10000002", "sealed_not_received"),
    ("李娜", datetime.date(1978, 11, 23), "A10000003", "sealed_received"),
    ("刘洋", datetime.date(1969, 1, 30), "A10000004", "temporarily_lost"),
    ("陈静", datetime.date(1995, 5, 5), "A10000005", "lost_replacement_pending"),
    ("杨磊", datetime.date(1950, 9, 9), "A10000006", "cancelled"),
    ("赵敏", datetime.date(1988, 12, 1), "A10000007", "pin_locked"),
    ("黄强", datetime.date(1982, 4, 18), "A10000008", "expiring"),
    ("张小雨", datetime.date(2016, 6, 1), "A10000009", "minor"),
]


DEMO_PIN = "135802"


class Command(BaseCommand):
    help = "Create demo holders and cards in different states, and staff logins (credentials printed)."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="", help="where the service will listen, to print its pages")

    def handle(self, *args, **options):
        with transaction.atomic():
            if Card.objects.filter(number="A10000001").exists():
                self.stdout.write("demo cards already present")
            else:
                self._cards()
            self._staff()
            self._holder_logins()
        # After the commit, so the demo's notices (delivered on commit) print above, not below.
        if options["url"]:
            self._addresses(options["url"].rstrip("/"))

    def _addresses(self, url):
        self.stdout.write("")
        self.stdout.write(f"  holder's H5 page  {url}/          (sign in with a holder login above)")
        self.stdout.write(f"  outlet (admin)    {url}/admin/    (a staff login above)")
        self.stdout.write(f"  API docs          {url}/api/docs/ and {url}/api/redoc/")
        if settings.SCANNER_DEMO:
            self.stdout.write(f"  scanner demo      {url}/scanner-demo (paste or upload a code)")
        self.stdout.write("")

    def _cards(self):
        by = Actor.importer("seed_demo")
        today = timezone.localdate()
        received = timezone.now() - datetime.timedelta(days=30)
        holders = {}
        for seq, (name, born, number, scenario) in enumerate(DEMO, start=1):
            holder, _ = holder_get_or_create(
                name=name,
                id_type="resident_id",
                id_number=demo_id_number(born, seq),
                phone=f"1380000{seq:04d}",
                by=by,
            )
            holders[scenario] = holder
            issued = today - datetime.timedelta(days=365 * 10 - 40) if scenario == "expiring" else today
            card = services.card_create(
                holder=holder,
                region="11",
                number=number,
                issued_on=issued,
                received_at=None if scenario == "sealed_not_received" else received,
                state="sealed" if scenario.startswith("sealed") else "active",
                by=by,
            )
            if scenario in ("active_with_ecard", "temporarily_lost", "minor", "expiring"):
                # Cards in use: the initial PIN, which cannot pay, was changed long ago. 赵敏's
                # locked card and the sealed ones keep theirs.
                services.card_change_pin(card=card, old_pin="123456", new_pin=DEMO_PIN, by=by)
            if scenario == "minor":
                holder_set_guardian(
                    holder=holder,
                    guardian=holders["active_with_ecard"],
                    proof=GuardianProof.BIRTH_CERTIFICATE,
                    by=by,
                )
            if scenario in ("active_with_ecard", "temporarily_lost", "minor"):
                services.ecard_issue(card=card, channel=ECardChannel.NATIONAL_APP, password="258013", by=by)
            if scenario == "temporarily_lost":
                services.card_report_temporary_loss(card=card, by=by)
            if scenario == "lost_replacement_pending":
                services.card_report_formal_loss(card=card, by=by)
                services.card_apply_replacement(card=card, kind=ReplacementKind.LOSS, by=by)
            if scenario == "cancelled":
                services.card_cancel(card=card, reason=CancellationReason.DECEASED, by=by)
            if scenario == "pin_locked":
                for _ in range(6):
                    try:
                        services.card_check_pin(card=card, pin="000000", by=by)
                    except DomainError:
                        pass
        self.stdout.write(f"{len(DEMO)} demo holders and cards created")
        self.stdout.write(
            "demo e-card password for 张伟, 刘洋 and 张小雨's cards: 258013; "
            f"card PINs: {DEMO_PIN} (赵敏, 王芳 and 李娜: the initial 123456)"
        )

    def _holder_logins(self):
        """App accounts: two bound to their holders, one fresh to try binding with."""
        lines = []
        for phone, card_number in [
            ("13800000001", "A10000001"),  # 张伟: active card with its e-card; guardian of 张小雨
            ("13800000004", "A10000004"),  # 刘洋: card temporarily lost, to try lifting it
            ("13900000003", None),  # nobody yet: bind 李娜's card A10000003 with it
        ]:
            password = secrets.token_urlsafe(9)
            user = User.objects.filter(phone_index=phone).first() or User(
                username=User.app_username(), phone=phone
            )
            if card_number:
                user.holder = Card.objects.get(number=card_number).holder
            user.set_password(password)
            user.save()
            lines.append(f"  {phone}  {password}")
        card = Card.objects.select_related("holder").get(number="A10000003")
        self.stdout.write(
            "holder logins for the H5 page and the app API, phone and password (new passwords on every run):"
        )
        self.stdout.write("\n".join(lines))
        self.stdout.write(
            "to bind an e-card, sign in as 13900000003 and POST /api/v1/ecard/apply/challenge with "
            f"name {card.holder.name}, id_number {card.holder.id_number}, card_number {card.number}; the "
            f"SMS code is printed on this console; then POST /api/v1/ecard/apply with challenge_id, "
            f"sms_code, identity_token {settings.IDENTITY_DEV_TOKEN} and a new 6-digit password "
            "(README: binding an e-card)"
        )

    def _staff(self):
        lines = []
        for username, group, superuser in [
            ("admin", None, True),
            ("clerk", "clerk", False),
            ("supervisor", "supervisor", False),
            ("auditor", "auditor", False),
        ]:
            password = secrets.token_urlsafe(9)
            user, _ = User.objects.get_or_create(username=username)
            user.is_staff = True
            user.is_superuser = superuser
            user.set_password(password)
            user.save()
            if group:
                user.groups.set([Group.objects.get(name=group)])
            lines.append(f"  {username:<11} {password}")
        self.stdout.write("staff logins for /admin/ (new passwords on every run):")
        self.stdout.write("\n".join(lines))
        self.stdout.write(f"holders: {Holder.objects.count()}, cards: {Card.objects.count()}")
