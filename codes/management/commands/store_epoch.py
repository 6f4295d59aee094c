from django.core.management.base import BaseCommand

from codes.store import get_store


class Command(BaseCommand):
    help = (
        "Declare the single-use store whole from the beginning, so codes issued before it took "
        "over are not refused with store.recovering. Only for a store put in service when no code "
        "could have been claimed elsewhere (a first deployment, a planned move after the old store "
        "was drained); never after a crash or a failover, when refusing those codes is the point."
    )

    def handle(self, *args, **options):
        get_store().epoch_declare(0)
        self.stdout.write("the single-use store is declared whole: no code is held back")
