from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from plumbing.errors import DomainError

from .actors import Actor
from .identity import mask_phone, normalise_phone, parse_masked_id
from .models import Holder, User
from .services import check_guardian, holder_change_phone, holder_set_guardian


def phone_search_filter(term: str, prefix: str = "") -> Q | None:
    """A Q object for a whole phone number typed into a search box, else None."""
    try:
        return Q(**{f"{prefix}phone_index": normalise_phone(term.strip())})
    except DomainError:
        return None


def holder_search_filter(term: str, prefix: str = "") -> Q | None:
    """A Q object for a full ID number or phone typed into the search box, else None.

    Both are sealed at rest, so only an exact value is found, through its blind index; an ID
    number masked as the admin shows it is found through the index of the masked form. A part
    of one, or a name, finds nothing.
    """
    term = term.strip()
    found = phone_search_filter(term, prefix)
    if found is None and parse_masked_id(term):
        found = Q(**{f"{prefix}id_number_masked_index": term.upper()})
    elif found is None and len(term) >= 8 and term[:-1].isalnum():
        found = Q(**{f"{prefix}id_number_index": term.upper()})
    return found


def as_validation_error(exc: DomainError) -> ValidationError:
    return ValidationError(str(exc), code=exc.code)


class HolderForm(forms.ModelForm):
    """Validates with the services' own checks, so the save that follows cannot be refused."""

    class Meta:
        model = Holder
        fields = ["phone", "guardian", "guardian_proof"]

    def clean_phone(self):
        phone = self.cleaned_data.get("phone", "")
        try:
            return normalise_phone(phone) if phone else ""
        except DomainError as exc:
            raise as_validation_error(exc) from None

    def clean(self):
        data = super().clean()
        if data.get("guardian"):
            try:
                check_guardian(
                    holder=self.instance,
                    guardian=data["guardian"],
                    proof=data.get("guardian_proof", ""),
                )
            except DomainError as exc:
                raise ValidationError({exc.field or "guardian": as_validation_error(exc)}) from None
        return data


@admin.register(Holder)
class HolderAdmin(admin.ModelAdmin):
    form = HolderForm
    list_display = [
        "name_masked",
        "id_type",
        "id_number_masked",
        "phone_masked",
        "guardian",
        "created_at",
    ]
    list_filter = ["id_type"]
    # Searched by full ID number or phone only (get_search_results): both are sealed.
    search_fields = ["id_number_index"]
    search_help_text = _("输入完整的证件号码或手机号")
    autocomplete_fields = ["guardian"]
    show_full_result_count = False

    def get_search_results(self, request, queryset, search_term):
        found = holder_search_filter(search_term)
        return (queryset.filter(found) if found is not None else queryset.none()), False

    def get_fields(self, request, obj=None):
        id_field = (
            "id_number" if request.user.has_perm("accounts.view_full_id_number") else "id_number_masked"
        )
        return ["name", "id_type", id_field, "date_of_birth", "phone", "guardian", "guardian_proof"]

    def get_readonly_fields(self, request, obj=None):
        return ["name", "id_type", "id_number", "id_number_masked", "date_of_birth"]

    def has_add_permission(self, request):
        # Holders come with their cards from the card centre's data (import_cards).
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        # Through the services, so each change is audited; never a plain obj.save().
        by = Actor.staff(request.user)
        if "phone" in form.changed_data:
            holder_change_phone(holder=obj, phone=form.cleaned_data["phone"], by=by)
        if {"guardian", "guardian_proof"} & set(form.changed_data) and obj.guardian_id:
            holder_set_guardian(holder=obj, guardian=obj.guardian, proof=obj.guardian_proof, by=by)


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    list_display = ["username", "phone_masked", "is_staff", "is_active", "last_login"]

    @admin.display(description=_("手机号"))
    def phone_masked(self, user):
        return mask_phone(user.phone or "")

    def get_search_results(self, request, queryset, search_term):
        # A login phone is sealed: an exact phone finds its account through the blind index.
        found = phone_search_filter(search_term)
        if found is not None:
            return queryset.filter(found), False
        return super().get_search_results(request, queryset, search_term)

    fieldsets = (*(UserAdmin.fieldsets or ()), (_("持卡人"), {"fields": ["phone", "holder"]}))
    raw_id_fields = ["holder"]
