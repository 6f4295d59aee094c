from django.core.management.base import BaseCommand

from tokens.keys import signing_key_rotate


class Command(BaseCommand):
    help = (
        "Make a new QR signing key. It is published now and signs after QR_KEY_PUBLISH_LEAD_SECONDS "
        "(at once when no key signs yet); the key it replaces verifies until its codes expired."
    )

    def handle(self, *args, **options):
        key = signing_key_rotate()
        self.stdout.write(f"{key.kid} published; signs from {key.activates_at.isoformat()}")
