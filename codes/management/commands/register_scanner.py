from django.core.management.base import BaseCommand, CommandError

from codes.models import ScannerKind
from codes.services import scanner_register
from ecard.audit import Actor
from plumbing.assertions import read_key_file
from plumbing.errors import DomainError


class Command(BaseCommand):
    help = "Register a scanner device with its Ed25519 or SM2 public key; prints the new device id."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="organisation (the operator, for transit)")
        parser.add_argument("--kind", required=True, choices=ScannerKind.values)
        parser.add_argument(
            "--purposes", required=True, help="comma-separated: payment,transit,culture,identity"
        )
        parser.add_argument("--public-key", required=True, help="file with the PEM or raw base64 public key")

    def handle(self, *args, org, kind, purposes, public_key, **options):
        try:
            key_text = read_key_file(public_key)
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read the public key file {public_key}: {exc}") from None
        try:
            device = scanner_register(
                organisation=org,
                kind=kind,
                purposes=[p.strip() for p in purposes.split(",") if p.strip()],
                public_key=key_text,
                by=Actor.system("register_scanner"),
            )
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(device.device_id)
