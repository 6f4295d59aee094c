from django.core.management.base import BaseCommand

from codes import verifier
from codes.keys import signing_key_rotate


class Command(BaseCommand):
    help = (
        "Make a new QR signing key. It is published now and signs after QR_KEY_PUBLISH_LEAD_SECONDS "
        "(at once when no key signs yet); the key it replaces verifies until its codes expired."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--algorithm",
            type=str.lower,
            choices=[name.lower() for name in verifier.ALGORITHMS],
            help="ed25519 or sm2 (SM2 with SM3); default: the one CRYPTO_PROFILE names",
        )

    def handle(self, *args, algorithm=None, **options):
        names = {name.lower(): name for name in verifier.ALGORITHMS}
        key = signing_key_rotate(algorithm=names[algorithm] if algorithm else None)
        self.stdout.write(f"{key.kid} ({key.algorithm}) published; signs from {key.activates_at.isoformat()}")
