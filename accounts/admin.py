from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from plumbing.errors import DomainError

from .actors import Actor
from .identity import normalise_phone, parse_masked_id
from .models import Holder, User
from .services import check_guardian, holder_change_phone, holder_set_guardian


def id_search_filter(term: str, prefix: str = "") -> Q | None:
    """A Q object for a full or masked ID number typed into the search box, else None."""
    masked = parse_masked_id(term)
    if masked:
        head, tail = masked
        return Q(**{f"{prefix}id_number__startswith": head, f"{prefix}id_number__endswith": tail})
    if len(term) >= 15 and term[:-1].isdigit():
        return Q(**{f"{prefix}id_number": term.upper()})
    return None


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
    search_fields = ["name"]
    autocomplete_fields = ["guardian"]
    show_full_result_count = False

    def get_search_results(self, request, queryset, search_term):
        id_filter = id_search_filter(search_term.strip())
        if id_filter is not None:
            return queryset.filter(id_filter), False
        return super().get_search_results(request, queryset, search_term)

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
    list_display = ["username", "phone", "is_staff", "is_active", "last_login"]
    fieldsets = UserAdmin.fieldsets + ((_("持卡人"), {"fields": ["phone", "holder"]}),)
    raw_id_fields = ["holder"]
