import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ecard.photos import photos_reseal
from plumbing import pii


class Command(BaseCommand):
    help = (
        "Re-seal personal data (names, ID numbers, phones, addresses, photos) under the newest data "
        "key, in batches, while the service runs. Resumable: run it again after an interruption and "
        "it picks up the rows still under an older key. --new-key first makes a new key."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--new-key",
            action="store_true",
            help="make a new data key in PII_KEYS_DIR first; it seals from now on",
        )
        parser.add_argument(
            "--print-key",
            action="store_true",
            help="only print a new key line for PII_DATA_KEYS (a secret store), change nothing",
        )
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument(
            "--max-batches", type=int, default=None, help="stop after this many (then run again)"
        )
        parser.add_argument(
            "--pause", type=float, default=0.0, help="seconds between batches, to spare the database"
        )

    def handle(self, *args, new_key, print_key, batch_size, max_batches, pause, **options):
        if print_key:
            cipher = pii.PROFILE_CIPHERS[settings.CRYPTO_PROFILE]
            self.stdout.write(f"{pii.new_key_id()}:{pii.new_key_text(cipher)}")
            return
        if new_key:
            try:
                kid = pii.data_key_new()
            except OSError as exc:
                raise CommandError(
                    f"cannot write the new key ({exc}); use --print-key and PII_DATA_KEYS"
                ) from None
            self.stdout.write(f"new data key {kid}")
        current = pii.keys(reload=True).current
        self.stdout.write(f"re-sealing under {current}")
        batches = left = 0
        for model in pii.sealed_models():
            done = 0
            while max_batches is None or batches < max_batches:
                count = pii.reseal_batch(model, batch_size=batch_size)
                if not count:
                    break
                batches += 1
                done += count
                if pause:
                    time.sleep(pause)
            stale = pii.stale_rows(model)
            left += stale
            self.stdout.write(f"{model._meta.label}: {done} rows re-sealed, {stale} left")
        photos = photos_reseal(
            batch_size=batch_size, batches=None if max_batches is None else max(0, max_batches - batches)
        )
        self.stdout.write(f"photos: {photos} re-sealed")
        if left:
            self.stdout.write(f"stopped with {left} rows left: run the command again to finish")
        else:
            self.stdout.write("every row is under the current key")
