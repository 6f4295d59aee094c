from django.core.management.base import BaseCommand, CommandError

from ecard import services
from ecard.audit import Actor
from plumbing.assertions import read_key_file
from plumbing.errors import DomainError


class Command(BaseCommand):
    help = (
        "Register a bank or payment app that confirms transit payment agreements, with its "
        "Ed25519 public key; prints the provider id (the JWT's iss) as its last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--public-key", required=True, help="file with the PEM or raw base64 public key")

    def handle(self, *args, name, public_key, **options):
        try:
            key_text = read_key_file(public_key)
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read the public key file {public_key}: {exc}") from None
        try:
            provider = services.provider_register(
                name=name, public_key=key_text, by=Actor.system("register_provider")
            )
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(provider.provider_id)
